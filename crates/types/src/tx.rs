//! Signed transactions.
//!
//! A transaction carries an opaque payload for one namespace, authenticated by its sender.
//! Weft does not execute payloads; it checks authentication, bounds the size, and orders it.
//! Two kinds of authentication exist:
//! - **ed25519** (Weft-native): the sender signs the transaction hash.
//! - **Ethereum**: the payload is a signed Ethereum transaction (EIP-2718), its chain id is
//!   the namespace and its recovered signer the sender (see [`crate::eth`]).
//!
//! - **Bundle leg** (ed25519): a native transaction that is one leg of an atomic bundle; its
//!   signed hash commits to the whole bundle (see [`crate::bundle`]).
//!
//! Encoding (big-endian), after a kind byte (0 ed25519, 1 Ethereum, 2 bundle leg):
//! `namespace (8) | sender (32) | nonce (8) | payload_len (varint) | payload`, then for a leg
//! `valid_until (8) | index (1) | count (1) | content hashes (32 each)`, then for ed25519 and
//! legs the `signature (64)`. A leg's hash is `SHA-256(2 || bundle id || index)`. The ed25519 hash is SHA-256 over everything but the signature (a
//! signature cannot be mutated into a second transaction with the same content); the Ethereum
//! hash is keccak-256 of the raw Ethereum transaction, as wallets compute it.

use crate::bundle::{leg_content_hash, Leg, LegSpec, LEG_EXTRA_BYTES_MAX};
use crate::{eth, sha256, ChainId, DecodeError, Digest, Limits, NamespaceId, TxError};
use bytes::{Buf as _, BufMut, Bytes};
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

/// Base of the transaction signing domain, bound to the chain (`ChainId::domain`): a
/// transaction signed for one network is not valid on another.
pub const TX_SIGNING_NAMESPACE: &[u8] = b"weft/tx/v1";

/// Most bytes of a transaction that are not payload: kind, fixed fields, signature, the
/// widest length prefix and the widest bundle-leg fields.
pub const TX_OVERHEAD_BYTES: usize = 1 + 8 + 32 + 8 + 5 + 64 + LEG_EXTRA_BYTES_MAX;

const KIND_ED25519: u8 = 0;
const KIND_ETHEREUM: u8 = 1;
pub(crate) const KIND_LEG: u8 = 2;

/// A transaction's id: SHA-256 of its unsigned encoding (ed25519) or its Ethereum hash.
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

/// How a transaction is authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// The sender's ed25519 signature over the hash.
    Ed25519(ed25519::Signature),
    /// The payload is a signed Ethereum transaction; its signature authenticates.
    Ethereum,
}

/// A signed transaction.
///
/// Verification is lazy and cached per instance: an ed25519 sender key is decompressed to a
/// curve point, and an Ethereum signer recovered, only when authentication is checked. Most
/// decodes (gossip receipt, block broadcast, reads) never check, and the check costs as much
/// as everything else about a transaction.
#[derive(Clone)]
pub struct Transaction {
    auth: Auth,
    namespace: NamespaceId,
    sender: [u8; 32],
    nonce: u64,
    payload: Bytes,
    /// Set for a bundle leg (always ed25519-signed).
    leg: Option<Box<Leg>>,
    /// Cached: computed once at construction or decode.
    hash: TxHash,
    /// ed25519: the decompressed sender key (`None` if not a curve point).
    sender_key: OnceLock<Option<VerifyingKey>>,
    /// Ethereum: whether the raw transaction matches the claimed fields and its signer.
    eth_checked: OnceLock<Result<(), TxError>>,
}

impl PartialEq for Transaction {
    fn eq(&self, other: &Self) -> bool {
        // Content equality. An ed25519 hash covers every field but the signature; an Ethereum
        // hash covers only the raw transaction, so the claimed fields are compared too (a
        // wrapper that lies about them is a different, invalid transaction). Caches are not
        // content.
        self.hash == other.hash
            && self.auth == other.auth
            && self.namespace == other.namespace
            && self.sender == other.sender
            && self.nonce == other.nonce
    }
}
impl Eq for Transaction {}

impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("hash", &self.hash)
            .field("ethereum", &matches!(self.auth, Auth::Ethereum))
            .field("namespace", &self.namespace)
            .field("nonce", &self.nonce)
            .field("bundle", &self.leg.as_ref().map(|l| (l.bundle(), l.index)))
            .field("payload_bytes", &self.payload.len())
            .finish()
    }
}

fn unsigned_hash(namespace: NamespaceId, sender: &[u8; 32], nonce: u64, payload: &[u8]) -> TxHash {
    let mut len = Vec::with_capacity(5);
    commonware_codec::varint::UInt(payload.len() as u32).write(&mut len);
    TxHash(sha256(&[
        &[KIND_ED25519],
        &namespace.0.to_be_bytes(),
        sender,
        &nonce.to_be_bytes(),
        &len,
        payload,
    ]))
}

impl Transaction {
    /// Builds and signs a native transaction for `chain`.
    pub fn sign(
        key: &SigningKey,
        chain: &ChainId,
        namespace: NamespaceId,
        nonce: u64,
        payload: Bytes,
    ) -> Self {
        let public = key.public_key();
        let sender: [u8; 32] = public.as_ref().try_into().expect("ed25519 key is 32 bytes");
        let hash = unsigned_hash(namespace, &sender, nonce, &payload);
        let signature = key.sign(&chain.domain(TX_SIGNING_NAMESPACE), hash.as_bytes());
        let tx = Self::assemble(
            Auth::Ed25519(signature),
            namespace,
            sender,
            nonce,
            payload,
            hash,
        );
        let _ = tx.sender_key.set(Some(public)); // the signer's own key needs no decompression
        tx
    }

    /// Builds and signs every leg of a bundle for `chain`: leg `i` is `legs[i]`, signed by
    /// its own key. In a real trade each sender signs its own leg ([`Transaction::sign_leg`])
    /// after agreeing the specs; this is the one-party convenience.
    pub fn sign_bundle(
        chain: &ChainId,
        valid_until: u64,
        legs: &[(&SigningKey, LegSpec)],
    ) -> Option<Vec<Self>> {
        let senders: Vec<[u8; 32]> = legs
            .iter()
            .map(|(k, _)| k.public_key().as_ref().try_into().expect("32 bytes"))
            .collect();
        let contents: Vec<Digest> = senders
            .iter()
            .zip(legs)
            .map(|(s, (_, spec))| leg_content_hash(spec.namespace, s, spec.nonce, &spec.payload))
            .collect();
        legs.iter()
            .enumerate()
            .map(|(i, (key, spec))| {
                let leg = Leg::new(valid_until, i as u8, contents.clone())?;
                Some(Self::sign_leg(key, chain, spec.clone(), leg))
            })
            .collect()
    }

    /// Signs one leg of a bundle whose fields (`leg`) the senders agreed. The leg's content
    /// must be `leg.contents[leg.index]`; panics otherwise (a caller bug, not input).
    pub fn sign_leg(key: &SigningKey, chain: &ChainId, spec: LegSpec, leg: Leg) -> Self {
        let public = key.public_key();
        let sender: [u8; 32] = public.as_ref().try_into().expect("ed25519 key is 32 bytes");
        assert_eq!(
            leg_content_hash(spec.namespace, &sender, spec.nonce, &spec.payload),
            leg.contents[leg.index as usize],
            "the leg's content is not the one its bundle commits to"
        );
        let hash = leg.bundle().leg_hash(leg.index);
        let signature = key.sign(&chain.domain(TX_SIGNING_NAMESPACE), hash.as_bytes());
        let mut tx = Self::assemble(
            Auth::Ed25519(signature),
            spec.namespace,
            sender,
            spec.nonce,
            spec.payload,
            hash,
        );
        tx.leg = Some(Box::new(leg));
        let _ = tx.sender_key.set(Some(public));
        tx
    }

    /// Assembles a native transaction from parts without checking the signature.
    pub fn from_parts(
        namespace: NamespaceId,
        sender: [u8; 32],
        nonce: u64,
        payload: Bytes,
        signature: ed25519::Signature,
    ) -> Self {
        let hash = unsigned_hash(namespace, &sender, nonce, &payload);
        Self::assemble(
            Auth::Ed25519(signature),
            namespace,
            sender,
            nonce,
            payload,
            hash,
        )
    }

    fn assemble(
        auth: Auth,
        namespace: NamespaceId,
        sender: [u8; 32],
        nonce: u64,
        payload: Bytes,
        hash: TxHash,
    ) -> Self {
        Self {
            auth,
            namespace,
            sender,
            nonce,
            payload,
            leg: None,
            hash,
            sender_key: OnceLock::new(),
            eth_checked: OnceLock::new(),
        }
    }

    /// Wraps a signed Ethereum transaction (raw EIP-2718 bytes): decodes it and recovers its
    /// signer. The namespace is its chain id.
    pub fn ethereum(raw: Bytes) -> Result<Self, TxError> {
        let decoded = eth::decode(&raw).map_err(TxError::from)?;
        let tx = Self::ethereum_unchecked(
            NamespaceId(decoded.chain_id),
            eth::sender_id(decoded.chain_id, &decoded.from),
            decoded.nonce,
            raw,
        );
        let _ = tx.eth_checked.set(Ok(()));
        Ok(tx)
    }

    fn ethereum_unchecked(
        namespace: NamespaceId,
        sender: [u8; 32],
        nonce: u64,
        payload: Bytes,
    ) -> Self {
        let hash = TxHash(Digest::from(eth::keccak(&payload)));
        Self::assemble(Auth::Ethereum, namespace, sender, nonce, payload, hash)
    }

    /// The namespace (rollup) this transaction is for.
    pub fn namespace(&self) -> NamespaceId {
        self.namespace
    }
    /// The sender id: an ed25519 public key, or `0xEEEEEEEE || chain id || address` for an
    /// Ethereum account. Nonces count per sender id.
    pub fn sender(&self) -> &[u8; 32] {
        &self.sender
    }
    /// How the transaction is authenticated.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }
    /// The ed25519 sender key as a curve point; `None` for an Ethereum transaction or if the
    /// bytes are not a valid key. Decompressed on first use and cached.
    pub fn sender_key(&self) -> Option<&VerifyingKey> {
        if !matches!(self.auth, Auth::Ed25519(_)) {
            return None;
        }
        self.sender_key
            .get_or_init(|| VerifyingKey::decode(self.sender.as_slice().to_vec()).ok())
            .as_ref()
    }
    /// Whether the sender key was already decompressed (or found not to be a key).
    pub(crate) fn sender_key_known(&self) -> bool {
        self.sender_key.get().is_some()
    }
    /// Sets the decompressed sender key from a cache keyed by this sender's bytes
    /// ([`crate::SignatureCache`] rule 3); a no-op if already known.
    pub(crate) fn set_sender_key(&self, key: VerifyingKey) {
        assert_eq!(
            key.as_ref(),
            self.sender.as_slice(),
            "a cached key for another sender"
        );
        let _ = self.sender_key.set(Some(key));
    }
    /// The sender's nonce: consecutive per sender from 0.
    pub fn nonce(&self) -> u64 {
        self.nonce
    }
    /// The payload (for Ethereum transactions: the raw signed transaction).
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }
    /// The ed25519 signature, if natively signed.
    pub fn signature(&self) -> Option<&ed25519::Signature> {
        match &self.auth {
            Auth::Ed25519(signature) => Some(signature),
            Auth::Ethereum => None,
        }
    }
    /// The transaction id.
    pub fn hash(&self) -> TxHash {
        self.hash
    }
    /// Encoded size in bytes (without encoding).
    pub fn encoded_len(&self) -> usize {
        self.encode_size()
    }
    /// The bundle fields, if this transaction is a bundle leg.
    pub fn leg(&self) -> Option<&Leg> {
        self.leg.as_deref()
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

    /// Stateless checks on `chain`: size and authentication.
    pub fn check(&self, limits: &Limits, chain: &ChainId) -> Result<(), TxError> {
        self.check_size(limits)?;
        self.check_auth(chain)
    }

    /// Authentication only (Ethereum checks cached).
    fn check_auth(&self, chain: &ChainId) -> Result<(), TxError> {
        match &self.auth {
            Auth::Ed25519(signature) => {
                let key = self.sender_key().ok_or(TxError::BadSender)?;
                let domain = chain.domain(TX_SIGNING_NAMESPACE);
                if key.verify(&domain, self.hash.as_bytes(), signature) {
                    Ok(())
                } else {
                    Err(TxError::BadSignature {
                        sender: crate::to_hex(&self.sender),
                    })
                }
            }
            Auth::Ethereum => self
                .eth_checked
                .get_or_init(|| self.check_ethereum())
                .clone(),
        }
    }

    /// The raw Ethereum transaction must carry exactly the claimed namespace, nonce and sender.
    fn check_ethereum(&self) -> Result<(), TxError> {
        let decoded = eth::decode(&self.payload).map_err(TxError::from)?;
        let sender = eth::sender_id(decoded.chain_id, &decoded.from);
        if decoded.chain_id != self.namespace.0
            || decoded.nonce != self.nonce
            || sender != self.sender
        {
            return Err(TxError::EthMismatch);
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

    /// Checks the authentication of many transactions at once. Returns one flag per transaction.
    ///
    /// ed25519 signatures use batch verification (about twice as fast per signature as one by
    /// one) and fall back to individual checks only when the batch fails, to find the culprits.
    /// The batch coefficients are derived from the batch's own contents so the result is a
    /// deterministic function of the input (needed under the deterministic simulator).
    /// Ethereum transactions are checked one by one (signer recovery); their chain binding is
    /// EIP-155's chain id (the namespace), not the Weft chain.
    pub fn verify_signatures(txs: &[&Transaction], chain: &ChainId) -> Vec<bool> {
        let domain = chain.domain(TX_SIGNING_NAMESPACE);
        let mut flags = vec![false; txs.len()];
        let mut keyed: Vec<(usize, &Transaction, &VerifyingKey, &ed25519::Signature)> = Vec::new();
        for (i, tx) in txs.iter().enumerate() {
            match &tx.auth {
                Auth::Ed25519(signature) => {
                    if let Some(key) = tx.sender_key() {
                        keyed.push((i, tx, key, signature));
                    }
                }
                Auth::Ethereum => flags[i] = tx.check_auth(chain).is_ok(),
            }
        }
        if keyed.is_empty() {
            return flags;
        }
        let mut seed_input = Vec::with_capacity(keyed.len() * 96);
        for (_, tx, _, signature) in &keyed {
            seed_input.extend_from_slice(tx.hash.as_bytes());
            seed_input.extend_from_slice(signature.as_ref());
        }
        let seed = sha256(&[b"weft/tx-batch-seed", &seed_input]);
        let mut rng = rand_chacha::ChaCha20Rng::from_seed(seed.0);
        let ok = VerifyingKey::verify_batch(
            &mut rng,
            &keyed,
            |_, (_, tx, key, signature)| BatchEntry {
                namespace: &domain,
                message: tx.hash.as_bytes(),
                public_key: key,
                signature,
            },
            &commonware_parallel::Sequential,
        );
        for (i, tx, key, signature) in keyed {
            flags[i] = ok || key.verify(&domain, tx.hash.as_bytes(), signature);
        }
        flags
    }
}

impl Write for Transaction {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u8(match (&self.auth, &self.leg) {
            (Auth::Ed25519(_), None) => KIND_ED25519,
            (Auth::Ed25519(_), Some(_)) => KIND_LEG,
            (Auth::Ethereum, _) => KIND_ETHEREUM,
        });
        self.namespace.write(buf);
        buf.put_slice(&self.sender);
        buf.put_u64(self.nonce);
        self.payload.write(buf);
        if let Some(leg) = &self.leg {
            leg.write(buf);
        }
        if let Auth::Ed25519(signature) = &self.auth {
            signature.write(buf);
        }
    }
}

impl EncodeSize for Transaction {
    fn encode_size(&self) -> usize {
        let signature = match self.auth {
            Auth::Ed25519(_) => ed25519::Signature::SIZE,
            Auth::Ethereum => 0,
        };
        let leg = self.leg.as_ref().map_or(0, |l| l.encoded_len());
        1 + NamespaceId::SIZE + 32 + 8 + self.payload.encode_size() + leg + signature
    }
}

impl Read for Transaction {
    type Cfg = Limits;
    fn read_cfg(buf: &mut impl commonware_codec::Buf, limits: &Limits) -> Result<Self, Error> {
        if !buf.has_remaining() {
            return Err(Error::EndOfBuffer);
        }
        let kind = buf.get_u8();
        if kind != KIND_ED25519 && kind != KIND_ETHEREUM && kind != KIND_LEG {
            return Err(Error::InvalidEnum(kind));
        }
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
        if kind == KIND_ETHEREUM {
            return Ok(Self::ethereum_unchecked(namespace, sender, nonce, payload));
        }
        if kind == KIND_LEG {
            let leg = Leg::read(buf)?;
            // The leg must be the one its bundle commits to, or its hash (over the bundle
            // id and index) would stand for other content.
            if leg_content_hash(namespace, &sender, nonce, &payload)
                != leg.contents[leg.index as usize]
            {
                return Err(Error::Invalid(
                    "transaction",
                    "bundle leg content does not match its bundle's commitment",
                ));
            }
            let signature = ed25519::Signature::read(buf)?;
            let hash = leg.bundle().leg_hash(leg.index);
            let mut tx = Self::assemble(
                Auth::Ed25519(signature),
                namespace,
                sender,
                nonce,
                payload,
                hash,
            );
            tx.leg = Some(Box::new(leg));
            return Ok(tx);
        }
        let signature = ed25519::Signature::read(buf)?;
        Ok(Self::from_parts(
            namespace, sender, nonce, payload, signature,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::test_chain;
    use commonware_codec::Encode;
    use commonware_math::algebra::Random as _;

    fn key(seed: u64) -> SigningKey {
        SigningKey::random(rand_chacha::ChaCha20Rng::seed_from_u64(seed))
    }

    #[test]
    fn roundtrip_and_verify() {
        let tx = Transaction::sign(
            &key(1),
            &test_chain(),
            NamespaceId(7),
            3,
            Bytes::from_static(b"hello"),
        );
        let bytes = tx.encode();
        assert_eq!(bytes.len(), tx.encode_size());
        let back = Transaction::decode_untrusted(&bytes, &Limits::default()).unwrap();
        assert_eq!(back, tx);
        assert_eq!(back.hash(), tx.hash());
        back.check(&Limits::default(), &test_chain()).unwrap();
    }

    #[test]
    fn tampered_payload_fails_signature() {
        let tx = Transaction::sign(
            &key(1),
            &test_chain(),
            NamespaceId(7),
            3,
            Bytes::from_static(b"hello"),
        );
        let forged = Transaction::from_parts(
            tx.namespace(),
            *tx.sender(),
            tx.nonce(),
            Bytes::from_static(b"hellp"),
            tx.signature().unwrap().clone(),
        );
        assert!(matches!(
            forged.check(&Limits::default(), &test_chain()),
            Err(TxError::BadSignature { .. })
        ));
        let flags = Transaction::verify_signatures(&[&tx, &forged, &tx], &test_chain());
        assert_eq!(flags, vec![true, false, true]);
    }

    #[test]
    fn oversize_is_rejected_with_the_limit_named() {
        let limits = Limits {
            payload_bytes_max: 4,
            tx_bytes_max: 4 + TX_OVERHEAD_BYTES,
            ..Limits::default()
        };
        let tx = Transaction::sign(
            &key(2),
            &test_chain(),
            NamespaceId(1),
            0,
            Bytes::from_static(b"12345"),
        );
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
        let tx = Transaction::sign(
            &key(3),
            &test_chain(),
            NamespaceId(1),
            0,
            Bytes::from_static(b"abc"),
        );
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
        let good = Transaction::sign(
            &key(4),
            &test_chain(),
            NamespaceId(1),
            0,
            Bytes::from_static(b"p"),
        );
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
            good.signature().unwrap().clone(),
        );
        let back = Transaction::decode_untrusted(&bad.encode(), &Limits::default()).unwrap();
        assert!(back.sender_key().is_none());
        assert_eq!(
            back.check(&Limits::default(), &test_chain()),
            Err(TxError::BadSender)
        );
        assert_eq!(
            Transaction::verify_signatures(&[&good, &back, &good], &test_chain()),
            vec![true, false, true]
        );
    }

    /// Defect: the transaction signing domain was a fixed string, so a transaction signed for
    /// one Weft network was valid on every other. It now names the chain.
    #[test]
    fn a_signature_for_one_chain_does_not_verify_on_another() {
        let tx = Transaction::sign(
            &key(8),
            &test_chain(),
            NamespaceId(7),
            0,
            Bytes::from_static(b"pay"),
        );
        tx.check(&Limits::default(), &test_chain()).unwrap();
        let elsewhere = ChainId(sha256(&[b"another network"]));
        assert!(matches!(
            tx.check(&Limits::default(), &elsewhere),
            Err(TxError::BadSignature { .. })
        ));
        assert_eq!(
            Transaction::verify_signatures(&[&tx, &tx], &elsewhere),
            vec![false, false]
        );
    }
}
