//! Signed transactions.
//!
//! A transaction carries an opaque payload for one namespace, signed by its sender. Weft
//! does not execute payloads; it checks the signature, bounds the size, and orders it.
//!
//! Encoding (big-endian):
//! `namespace (8) | sender (32) | nonce (8) | payload_len (varint) | payload | signature (64)`.
//! The transaction hash is SHA-256 over everything but the signature, so a signature cannot
//! be mutated into a second transaction with the same content; the signature covers the hash.

use crate::{sha256, DecodeError, Digest, Limits, NamespaceId, TxError};
use bytes::{BufMut, Bytes};
use commonware_codec::{
    Decode, DecodeExt as _, EncodeSize, Error, FixedSize, Read, ReadExt, Write,
};
use commonware_cryptography::{ed25519, BatchEntry, BatchVerifier, Signer as _, Verifier as _};
use rand_core::SeedableRng as _;
use std::{fmt, sync::OnceLock};

/// An ed25519 signing key (a transaction sender's or a validator's).
pub type SigningKey = ed25519::PrivateKey;
/// An ed25519 public key.
pub type VerifyingKey = ed25519::PublicKey;

/// Domain separator for transaction signatures.
pub const TX_SIGNING_NAMESPACE: &[u8] = b"weft/tx/v1";

/// Bytes of a transaction that are not payload: fixed fields, signature and the widest
/// length prefix.
pub const TX_OVERHEAD_BYTES: usize = 8 + 32 + 8 + 5 + 64;

/// A transaction's id: SHA-256 of its unsigned encoding.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxHash(pub Digest);

impl TxHash {
    /// Raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0 .0
    }
    /// Parses `0x`-prefixed (or bare) hex.
    pub fn from_hex(s: &str) -> Result<Self, String> {
        Ok(Self(Digest::from(crate::from_hex_fixed::<32>(s)?)))
    }
}

impl fmt::Display for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::to_hex(self.as_bytes()))
    }
}
impl fmt::Debug for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxHash({self})")
    }
}

/// A signed transaction.
///
/// The sender's key is kept as its 32 wire bytes and decompressed to a curve point only when a
/// signature is verified (at most once per instance): decompression costs as much as a batched
/// signature check, and most decodes (gossip receipt, block broadcast, reads) never verify.
#[derive(Clone)]
pub struct Transaction {
    namespace: NamespaceId,
    sender: [u8; 32],
    sender_key: OnceLock<Option<VerifyingKey>>,
    nonce: u64,
    payload: Bytes,
    signature: ed25519::Signature,
    /// Cached: computed once at construction or decode.
    hash: TxHash,
}

impl PartialEq for Transaction {
    fn eq(&self, other: &Self) -> bool {
        // The hash covers every field but the signature; the key cache is not content.
        self.hash == other.hash && self.signature == other.signature
    }
}
impl Eq for Transaction {}

impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("hash", &self.hash)
            .field("namespace", &self.namespace)
            .field("nonce", &self.nonce)
            .field("payload_bytes", &self.payload.len())
            .finish()
    }
}

fn unsigned_hash(namespace: NamespaceId, sender: &[u8; 32], nonce: u64, payload: &[u8]) -> TxHash {
    let mut len = Vec::with_capacity(5);
    commonware_codec::varint::UInt(payload.len() as u32).write(&mut len);
    TxHash(sha256(&[
        &namespace.0.to_be_bytes(),
        sender.as_ref(),
        &nonce.to_be_bytes(),
        &len,
        payload,
    ]))
}

impl Transaction {
    /// Builds and signs a transaction.
    pub fn sign(key: &SigningKey, namespace: NamespaceId, nonce: u64, payload: Bytes) -> Self {
        let public = key.public_key();
        let sender: [u8; 32] = public.as_ref().try_into().expect("ed25519 key is 32 bytes");
        let hash = unsigned_hash(namespace, &sender, nonce, &payload);
        let signature = key.sign(TX_SIGNING_NAMESPACE, hash.as_bytes());
        Self {
            namespace,
            sender,
            sender_key: OnceLock::from(Some(public)),
            nonce,
            payload,
            signature,
            hash,
        }
    }

    /// Assembles a transaction from parts without checking the signature.
    pub fn from_parts(
        namespace: NamespaceId,
        sender: [u8; 32],
        nonce: u64,
        payload: Bytes,
        signature: ed25519::Signature,
    ) -> Self {
        let hash = unsigned_hash(namespace, &sender, nonce, &payload);
        Self {
            namespace,
            sender,
            sender_key: OnceLock::new(),
            nonce,
            payload,
            signature,
            hash,
        }
    }

    /// The namespace (rollup) this transaction is for.
    pub fn namespace(&self) -> NamespaceId {
        self.namespace
    }
    /// The sender's public key, as its 32 wire bytes.
    pub fn sender(&self) -> &[u8; 32] {
        &self.sender
    }

    /// The sender's public key as a curve point; `None` if the bytes are not a valid key.
    /// Decompressed on first use and cached.
    pub fn sender_key(&self) -> Option<&VerifyingKey> {
        self.sender_key
            .get_or_init(|| VerifyingKey::decode(self.sender.as_slice().to_vec()).ok())
            .as_ref()
    }
    /// The sender's nonce: strictly increasing per sender across the chain.
    pub fn nonce(&self) -> u64 {
        self.nonce
    }
    /// The opaque payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }
    /// The sender's signature over the hash.
    pub fn signature(&self) -> &ed25519::Signature {
        &self.signature
    }
    /// The transaction id.
    pub fn hash(&self) -> TxHash {
        self.hash
    }

    /// Decodes untrusted bytes, enforcing `limits` and naming the one broken.
    pub fn decode_untrusted(bytes: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        if bytes.len() > limits.tx_bytes_max {
            return Err(DecodeError::TooLarge {
                what: "transaction",
                size: bytes.len(),
                limit: "tx_bytes_max",
                max: limits.tx_bytes_max,
            });
        }
        // The total is already bounded by tx_bytes_max: decode the payload up to that, so an
        // oversize payload is reported as such rather than as malformed bytes.
        let relaxed = Limits {
            payload_bytes_max: limits.tx_bytes_max,
            ..*limits
        };
        let tx = Self::decode_cfg(commonware_codec::Copying(bytes), &relaxed).map_err(|e| {
            DecodeError::Malformed {
                what: "transaction",
                reason: e.to_string(),
            }
        })?;
        if tx.payload.len() > limits.payload_bytes_max {
            return Err(DecodeError::TooLarge {
                what: "transaction payload",
                size: tx.payload.len(),
                limit: "payload_bytes_max",
                max: limits.payload_bytes_max,
            });
        }
        Ok(tx)
    }

    /// Stateless checks: size and signature.
    pub fn check(&self, limits: &Limits) -> Result<(), TxError> {
        self.check_size(limits)?;
        let key = self.sender_key().ok_or(TxError::BadSender)?;
        if !key.verify(TX_SIGNING_NAMESPACE, self.hash.as_bytes(), &self.signature) {
            return Err(TxError::BadSignature {
                sender: crate::to_hex(self.sender.as_ref()),
            });
        }
        Ok(())
    }

    /// Size checks only.
    pub fn check_size(&self, limits: &Limits) -> Result<(), TxError> {
        if self.payload.len() > limits.payload_bytes_max {
            return Err(TxError::PayloadTooLarge {
                size: self.payload.len(),
                max: limits.payload_bytes_max,
            });
        }
        Ok(())
    }

    /// Verifies many signatures at once. Returns one flag per transaction.
    ///
    /// Uses ed25519 batch verification (about twice as fast per signature as one by one) and
    /// falls back to individual checks only when the batch fails, to find the culprits. The
    /// batch coefficients are derived from the batch's own contents so the result is a
    /// deterministic function of the input (needed under the deterministic simulator).
    pub fn verify_signatures(txs: &[&Transaction]) -> Vec<bool> {
        if txs.is_empty() {
            return Vec::new();
        }
        // A sender that is not a valid key fails on its own; the rest are batched.
        let keyed: Vec<(usize, &Transaction, &VerifyingKey)> = txs
            .iter()
            .enumerate()
            .filter_map(|(i, tx)| tx.sender_key().map(|k| (i, *tx, k)))
            .collect();
        let mut flags = vec![false; txs.len()];
        if keyed.is_empty() {
            return flags;
        }
        let mut seed_input = Vec::with_capacity(keyed.len() * 96);
        for (_, tx, _) in &keyed {
            seed_input.extend_from_slice(tx.hash.as_bytes());
            seed_input.extend_from_slice(tx.signature.as_ref());
        }
        let seed = sha256(&[b"weft/tx-batch-seed", &seed_input]);
        let mut rng = rand_chacha::ChaCha20Rng::from_seed(seed.0);
        let ok = VerifyingKey::verify_batch(
            &mut rng,
            &keyed,
            |_, (_, tx, key)| BatchEntry {
                namespace: TX_SIGNING_NAMESPACE,
                message: tx.hash.as_bytes(),
                public_key: key,
                signature: &tx.signature,
            },
            &commonware_parallel::Sequential,
        );
        for (i, tx, key) in keyed {
            flags[i] = ok || key.verify(TX_SIGNING_NAMESPACE, tx.hash.as_bytes(), &tx.signature);
        }
        flags
    }
}

impl Write for Transaction {
    fn write(&self, buf: &mut impl BufMut) {
        self.namespace.write(buf);
        buf.put_slice(&self.sender);
        buf.put_u64(self.nonce);
        self.payload.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for Transaction {
    fn encode_size(&self) -> usize {
        NamespaceId::SIZE
            + VerifyingKey::SIZE
            + 8
            + self.payload.encode_size()
            + ed25519::Signature::SIZE
    }
}

impl Read for Transaction {
    type Cfg = Limits;
    fn read_cfg(buf: &mut impl commonware_codec::Buf, limits: &Limits) -> Result<Self, Error> {
        let namespace = NamespaceId::read(buf)?;
        let sender = <[u8; 32]>::read(buf)?;
        let nonce = u64::read(buf)?;
        let payload =
            Bytes::read_cfg(buf, &(0..=limits.payload_bytes_max).into()).map_err(|e| match e {
                Error::InvalidLength(_) => {
                    Error::Invalid("transaction", "payload longer than payload_bytes_max")
                }
                e => e,
            })?;
        let signature = ed25519::Signature::read(buf)?;
        Ok(Self::from_parts(
            namespace, sender, nonce, payload, signature,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::Encode;
    use commonware_math::algebra::Random as _;

    fn key(seed: u64) -> SigningKey {
        SigningKey::random(rand_chacha::ChaCha20Rng::seed_from_u64(seed))
    }

    #[test]
    fn roundtrip_and_verify() {
        let tx = Transaction::sign(&key(1), NamespaceId(7), 3, Bytes::from_static(b"hello"));
        let bytes = tx.encode();
        assert_eq!(bytes.len(), tx.encode_size());
        let back = Transaction::decode_untrusted(&bytes, &Limits::default()).unwrap();
        assert_eq!(back, tx);
        assert_eq!(back.hash(), tx.hash());
        back.check(&Limits::default()).unwrap();
    }

    #[test]
    fn tampered_payload_fails_signature() {
        let tx = Transaction::sign(&key(1), NamespaceId(7), 3, Bytes::from_static(b"hello"));
        let forged = Transaction::from_parts(
            tx.namespace(),
            *tx.sender(),
            tx.nonce(),
            Bytes::from_static(b"hellp"),
            tx.signature().clone(),
        );
        assert!(matches!(
            forged.check(&Limits::default()),
            Err(TxError::BadSignature { .. })
        ));
        let flags = Transaction::verify_signatures(&[&tx, &forged, &tx]);
        assert_eq!(flags, vec![true, false, true]);
    }

    #[test]
    fn oversize_is_rejected_with_the_limit_named() {
        let limits = Limits {
            payload_bytes_max: 4,
            tx_bytes_max: 4 + TX_OVERHEAD_BYTES,
            ..Limits::default()
        };
        let tx = Transaction::sign(&key(2), NamespaceId(1), 0, Bytes::from_static(b"12345"));
        let bytes = tx.encode();
        let err = Transaction::decode_untrusted(
            &bytes,
            &Limits {
                tx_bytes_max: 10,
                ..limits
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("tx_bytes_max"), "{err}");
        let err = Transaction::decode_untrusted(&bytes, &limits).unwrap_err();
        assert!(err.to_string().contains("payload_bytes_max"), "{err}");
    }

    #[test]
    fn truncated_and_garbage_bytes_never_panic() {
        let tx = Transaction::sign(&key(3), NamespaceId(1), 0, Bytes::from_static(b"abc"));
        let bytes = tx.encode();
        for cut in 0..bytes.len() {
            assert!(Transaction::decode_untrusted(&bytes[..cut], &Limits::default()).is_err());
        }
        let mut extra = bytes.to_vec();
        extra.push(0);
        assert!(Transaction::decode_untrusted(&extra, &Limits::default()).is_err());
    }

    #[test]
    fn invalid_sender_key_is_caught_at_verification() {
        use commonware_codec::DecodeExt as _;
        let good = Transaction::sign(&key(4), NamespaceId(1), 0, Bytes::from_static(b"p"));
        // Bytes that are not a curve point: the transaction decodes (keys are checked lazily)
        // but never verifies. About half of all y coordinates have no point; find one.
        let not_a_point = (2u8..=255)
            .map(|b| [b; 32])
            .find(|bytes| VerifyingKey::decode(bytes.to_vec()).is_err())
            .expect("some byte pattern is not a point");
        let bad = Transaction::from_parts(
            NamespaceId(1),
            not_a_point,
            0,
            Bytes::from_static(b"p"),
            good.signature().clone(),
        );
        let back = Transaction::decode_untrusted(&bad.encode(), &Limits::default()).unwrap();
        assert!(back.sender_key().is_none());
        assert_eq!(back.check(&Limits::default()), Err(TxError::BadSender));
        assert_eq!(
            Transaction::verify_signatures(&[&good, &back, &good]),
            vec![true, false, true]
        );
    }
}
