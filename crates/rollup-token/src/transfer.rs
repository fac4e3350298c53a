//! The transfer payload.
//!
//! Fixed 140-byte encoding: `from (32) | to (32) | amount u64 | nonce u32 | signature (64)`,
//! big-endian; the ed25519 signature covers the first 76 bytes in the transfer's
//! [`TransferDomain`]: `weft/token/transfer/v1/<rollup namespace>@<Weft chain id>`, so a
//! transfer signed for one rollup or one Weft network is not valid on another.

use commonware_codec::DecodeExt as _;
use commonware_cryptography::{ed25519, Signer as _, Verifier as _};
use thiserror::Error;
use weft_types::{ChainId, NamespaceId, SigningKey};

/// Encoded size of a transfer.
pub const TRANSFER_BYTES: usize = 32 + 32 + 8 + 4 + 64;
/// Base of the transfer signing domain (see [`TransferDomain`]).
pub const TRANSFER_SIGNING_NAMESPACE: &[u8] = b"weft/token/transfer/v1";
/// Base of the signing domain of a transfer that is a bundle leg: a leg's transfer is never
/// valid as a plain one, nor a plain one as a leg, so a payment cannot be lifted out of its
/// bundle (or slipped into someone else's) by copying its payload.
pub const LEG_TRANSFER_SIGNING_NAMESPACE: &[u8] = b"weft/token/transfer-leg/v1";

/// Where a transfer is valid: one rollup (its namespace) on one Weft chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferDomain {
    /// The Weft chain the rollup's data is ordered on.
    pub chain: ChainId,
    /// The rollup's namespace.
    pub rollup: NamespaceId,
}

impl TransferDomain {
    /// The signing domain's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.with_base(TRANSFER_SIGNING_NAMESPACE)
    }

    /// The signing domain of bundle-leg transfers.
    pub fn leg_bytes(&self) -> Vec<u8> {
        self.with_base(LEG_TRANSFER_SIGNING_NAMESPACE)
    }

    fn with_base(&self, base: &[u8]) -> Vec<u8> {
        let base = [base, b"/", self.rollup.0.to_string().as_bytes()].concat();
        self.chain.domain(&base)
    }
}

/// A signed transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Sender's ed25519 public key.
    pub from: [u8; 32],
    /// Recipient's ed25519 public key.
    pub to: [u8; 32],
    /// Amount.
    pub amount: u64,
    /// Sender's account nonce (consecutive from 0).
    pub nonce: u32,
    /// Sender's signature.
    pub signature: [u8; 64],
}

/// Why bytes are not a transfer.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TransferError {
    /// Wrong length.
    #[error("a transfer is {expected} bytes, got {got}")]
    Length {
        /// Expected length.
        expected: usize,
        /// Received length.
        got: usize,
    },
}

impl Transfer {
    /// Signs a transfer valid in `domain` only.
    pub fn sign(
        key: &SigningKey,
        domain: &TransferDomain,
        to: [u8; 32],
        amount: u64,
        nonce: u32,
    ) -> Self {
        Self::sign_in(key, &domain.bytes(), to, amount, nonce)
    }

    /// Signs a transfer that is a bundle leg of the rollup `domain` names (see
    /// [`LEG_TRANSFER_SIGNING_NAMESPACE`]).
    pub fn sign_leg(
        key: &SigningKey,
        domain: &TransferDomain,
        to: [u8; 32],
        amount: u64,
        nonce: u32,
    ) -> Self {
        Self::sign_in(key, &domain.leg_bytes(), to, amount, nonce)
    }

    fn sign_in(key: &SigningKey, domain: &[u8], to: [u8; 32], amount: u64, nonce: u32) -> Self {
        let from: [u8; 32] = key.public_key().as_ref().try_into().expect("32-byte key");
        let mut t = Self {
            from,
            to,
            amount,
            nonce,
            signature: [0; 64],
        };
        let sig = key.sign(domain, &t.signed_bytes());
        t.signature = sig.as_ref().try_into().expect("64-byte signature");
        t
    }

    fn signed_bytes(&self) -> [u8; 76] {
        let mut b = [0u8; 76];
        b[..32].copy_from_slice(&self.from);
        b[32..64].copy_from_slice(&self.to);
        b[64..72].copy_from_slice(&self.amount.to_be_bytes());
        b[72..76].copy_from_slice(&self.nonce.to_be_bytes());
        b
    }

    /// The 140-byte encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = self.signed_bytes().to_vec();
        b.extend_from_slice(&self.signature);
        b
    }

    /// Decodes a payload.
    pub fn decode(bytes: &[u8]) -> Result<Self, TransferError> {
        if bytes.len() != TRANSFER_BYTES {
            return Err(TransferError::Length {
                expected: TRANSFER_BYTES,
                got: bytes.len(),
            });
        }
        let take = |r: std::ops::Range<usize>| bytes[r].to_vec();
        Ok(Self {
            from: take(0..32).try_into().expect("32"),
            to: take(32..64).try_into().expect("32"),
            amount: u64::from_be_bytes(take(64..72).try_into().expect("8")),
            nonce: u32::from_be_bytes(take(72..76).try_into().expect("4")),
            signature: take(76..140).try_into().expect("64"),
        })
    }

    /// Whether the signature is the sender's over this transfer, in `domain`.
    pub fn signature_valid(&self, domain: &TransferDomain) -> bool {
        self.signature_valid_in(&domain.bytes())
    }

    /// Whether the signature is the sender's over this transfer as a bundle leg.
    pub fn leg_signature_valid(&self, domain: &TransferDomain) -> bool {
        self.signature_valid_in(&domain.leg_bytes())
    }

    fn signature_valid_in(&self, domain: &[u8]) -> bool {
        let Ok(key) = ed25519::PublicKey::decode(self.from.to_vec()) else {
            return false;
        };
        let Ok(sig) = ed25519::Signature::decode(self.signature.to_vec()) else {
            return false;
        };
        key.verify(domain, &self.signed_bytes(), &sig)
    }
}
