//! Who may change a rollup's settlement state, and the signed messages that prove it.
//!
//! # Rules (numbered where [`EmbeddedL1`](crate::EmbeddedL1) enforces them)
//! - A1. A rollup is registered only by its owner: the key its deployment names (the
//!   rollup's genesis, [`Deployment`]). The owner signs a [`Registration`] that fixes the
//!   genesis root, the first batch's start and the one key allowed to submit batches.
//!   Without it, the first caller would fix a rollup's genesis root forever.
//! - A2. A batch is submitted only by the registered submitter, which signs the whole
//!   submission (proof included, by hash). Without it, anyone holding a valid proof of a
//!   differently cut batch could settle it first and leave the rollup's own next batch
//!   `NonContiguous` for good; and every free rejection would cost the L1 a durable block.
//! - A3. Both checks run before the L1's write lock and before any data fetch or proof
//!   verification, and a refused call is answered with an error, not recorded in a block:
//!   an unauthorized caller costs one signature check.
//!
//! Both domains name the Weft chain the L1 settles, so a registration or submission signed
//! for one network is not valid on another.

use crate::{BatchHeader, Cursor, Program, Root, Submission};
use commonware_codec::DecodeExt as _;
use commonware_cryptography::{ed25519, Signer as _, Verifier as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::sync::Arc;
use weft_types::{ChainId, SigningKey};

/// Base of the registration signing domain (rule A1), bound to the chain.
pub const REGISTER_SIGNING_NAMESPACE: &[u8] = b"weft/l1/register/v1";
/// Base of the submission signing domain (rule A2), bound to the chain.
pub const SUBMIT_SIGNING_NAMESPACE: &[u8] = b"weft/l1/submit/v1";

/// An ed25519 public key, as stored on the L1.
pub type PublicKey = [u8; 32];
/// An ed25519 signature, hex on the wire.
pub type Signature = Vec<u8>;

/// A rollup as the L1 is deployed with it: its proof program and its owner (rule A1).
#[derive(Clone)]
pub struct Deployment {
    /// Checks its batches.
    pub program: Arc<dyn Program>,
    /// The only key that may register it.
    pub owner: PublicKey,
}

/// Longest proof program id a registration names, in bytes.
pub const PROGRAM_ID_BYTES_MAX: usize = 128;

/// What a rollup's owner signs to register it (rule A1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// Rollup id (its Weft namespace).
    pub rollup: u64,
    /// The proof program the owner registers it with: it must be the one the L1 runs for
    /// the rollup (at most [`PROGRAM_ID_BYTES_MAX`] bytes).
    pub program: String,
    /// State root before any batch.
    pub genesis_root: Root,
    /// Where its first batch starts.
    pub start: Cursor,
    /// The key that signs its batch submissions (rule A2).
    #[serde(with = "hex32")]
    pub submitter: PublicKey,
}

impl Registration {
    fn message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(8 + 8 + self.program.len() + 32 + 12 + 32);
        m.extend_from_slice(&self.rollup.to_be_bytes());
        m.extend_from_slice(&(self.program.len() as u64).to_be_bytes());
        m.extend_from_slice(self.program.as_bytes());
        for w in self.genesis_root {
            m.extend_from_slice(&w.to_be_bytes());
        }
        put_cursor(&mut m, &self.start);
        m.extend_from_slice(&self.submitter);
        m
    }

    /// Signs the registration with the owner's key, for `chain`.
    pub fn sign(self, owner: &SigningKey, chain: &ChainId) -> SignedRegistration {
        let signature = owner
            .sign(&chain.domain(REGISTER_SIGNING_NAMESPACE), &self.message())
            .as_ref()
            .to_vec();
        SignedRegistration {
            registration: self,
            signature,
        }
    }
}

/// A [`Registration`] and the owner's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRegistration {
    /// What is registered.
    pub registration: Registration,
    /// The owner's signature (hex).
    #[serde(with = "hex_bytes")]
    pub signature: Signature,
}

impl SignedRegistration {
    /// Whether `owner` signed it for `chain`.
    pub fn signed_by(&self, owner: &PublicKey, chain: &ChainId) -> bool {
        verify_signature(
            owner,
            &chain.domain(REGISTER_SIGNING_NAMESPACE),
            &self.registration.message(),
            &self.signature,
        )
    }
}

/// The bytes a submitter signs: every field of the submission but the signature, the proof
/// by its SHA-256.
fn submission_message(s: &Submission) -> Vec<u8> {
    let mut m = Vec::with_capacity(256 + 33 * s.bundle_outcomes.len());
    put_header(&mut m, &s.header);
    for root in [&s.old_root, &s.new_root, &s.commitment] {
        for w in root {
            m.extend_from_slice(&w.to_be_bytes());
        }
    }
    m.extend_from_slice(&Sha256::digest(&s.proof));
    m.extend_from_slice(&(s.bundle_outcomes.len() as u64).to_be_bytes());
    for o in &s.bundle_outcomes {
        m.extend_from_slice(&o.bundle);
        m.push(o.executed as u8);
    }
    m
}

impl Submission {
    /// What identifies this signed submission: the SHA-256 of what was signed and the
    /// signature. The L1 answers a second copy of a recorded one without doing it again.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(submission_message(self));
        h.update(&self.signature);
        h.finalize().into()
    }

    /// Signs the submission with the submitter's key, for `chain` (rule A2).
    pub fn sign(&mut self, submitter: &SigningKey, chain: &ChainId) {
        self.signature = submitter
            .sign(
                &chain.domain(SUBMIT_SIGNING_NAMESPACE),
                &submission_message(self),
            )
            .as_ref()
            .to_vec();
    }

    /// Whether `submitter` signed it for `chain`.
    pub fn signed_by(&self, submitter: &PublicKey, chain: &ChainId) -> bool {
        verify_signature(
            submitter,
            &chain.domain(SUBMIT_SIGNING_NAMESPACE),
            &submission_message(self),
            &self.signature,
        )
    }
}

/// Whether `key` is a valid ed25519 public key.
pub fn is_public_key(key: &PublicKey) -> bool {
    ed25519::PublicKey::decode(key.to_vec()).is_ok()
}

/// The 32 bytes of `key`'s public key.
pub fn public_key(key: &SigningKey) -> PublicKey {
    key.public_key()
        .as_ref()
        .try_into()
        .expect("an ed25519 public key is 32 bytes")
}

/// Whether `signature` is `key`'s over `message` in `domain`.
pub(crate) fn verify_signature(
    key: &PublicKey,
    domain: &[u8],
    message: &[u8],
    signature: &[u8],
) -> bool {
    let Ok(key) = ed25519::PublicKey::decode(key.to_vec()) else {
        return false;
    };
    let Ok(signature) = ed25519::Signature::decode(signature.to_vec()) else {
        return false;
    };
    key.verify(domain, message, &signature)
}

fn put_cursor(m: &mut Vec<u8>, c: &Cursor) {
    m.extend_from_slice(&c.height.to_be_bytes());
    m.extend_from_slice(&c.index.to_be_bytes());
}

fn put_header(m: &mut Vec<u8>, h: &BatchHeader) {
    m.extend_from_slice(&h.rollup.to_be_bytes());
    m.extend_from_slice(&h.batch_index.to_be_bytes());
    put_cursor(m, &h.start);
    put_cursor(m, &h.end);
}

/// Serde for a 32-byte key as hex.
pub(crate) mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&weft_types::to_hex(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        weft_types::from_hex_fixed::<32>(&text).map_err(serde::de::Error::custom)
    }
}

/// Serde for bytes as hex, at most [`HEX_BYTES_MAX`](hex_bytes::HEX_BYTES_MAX) of them.
pub(crate) mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Longest byte string accepted here (a signature is 64).
    pub const HEX_BYTES_MAX: usize = 128;

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&weft_types::to_hex(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        let text = text.strip_prefix("0x").unwrap_or(&text);
        if text.len() > 2 * HEX_BYTES_MAX {
            return Err(serde::de::Error::custom(format!(
                "{} hex characters, more than {}",
                text.len(),
                2 * HEX_BYTES_MAX
            )));
        }
        hex::decode(text).map_err(|e| serde::de::Error::custom(format!("invalid hex: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(tag: &[u8]) -> ChainId {
        ChainId(weft_types::sha256(&[tag]))
    }

    #[test]
    fn a_registration_verifies_only_for_its_owner_chain_and_fields() {
        let (owner, other) = (SigningKey::from_seed(1), SigningKey::from_seed(2));
        let c = chain(b"a");
        let r = Registration {
            rollup: 7,
            program: "test/program".into(),
            genesis_root: [1, 2, 3, 4],
            start: Cursor::new(0, 0),
            submitter: public_key(&other),
        };
        let signed = r.clone().sign(&owner, &c);
        assert!(signed.signed_by(&public_key(&owner), &c));
        assert!(!signed.signed_by(&public_key(&other), &c), "another key");
        assert!(
            !signed.signed_by(&public_key(&owner), &chain(b"b")),
            "another chain"
        );
        let mut program = signed.clone();
        program.registration.program = "test/other".into();
        assert!(
            !program.signed_by(&public_key(&owner), &c),
            "another program"
        );
        let mut changed = signed.clone();
        changed.registration.genesis_root[0] = 9;
        assert!(
            !changed.signed_by(&public_key(&owner), &c),
            "a changed root"
        );
        let mut garbage = signed;
        garbage.signature = vec![0; 3];
        assert!(
            !garbage.signed_by(&public_key(&owner), &c),
            "a malformed signature"
        );
        // Round trip on the wire.
        let json = serde_json::to_string(&changed).unwrap();
        assert_eq!(
            serde_json::from_str::<SignedRegistration>(&json).unwrap(),
            changed
        );
    }

    #[test]
    fn a_submission_signature_covers_the_proof_and_the_outcomes() {
        let key = SigningKey::from_seed(3);
        let c = chain(b"a");
        let mut s = Submission {
            header: BatchHeader {
                rollup: 7,
                batch_index: 0,
                start: Cursor::new(1, 0),
                end: Cursor::new(3, 0),
            },
            old_root: [1; 4],
            new_root: [2; 4],
            commitment: [3; 4],
            proof: vec![1, 2, 3],
            bundle_outcomes: vec![crate::BundleOutcome {
                bundle: [5; 32],
                executed: true,
            }],
            signature: Vec::new(),
        };
        assert!(!s.signed_by(&public_key(&key), &c), "unsigned");
        s.sign(&key, &c);
        assert!(s.signed_by(&public_key(&key), &c));
        let mut proof = s.clone();
        proof.proof.push(0);
        assert!(!proof.signed_by(&public_key(&key), &c), "another proof");
        let mut outcome = s.clone();
        outcome.bundle_outcomes[0].executed = false;
        assert!(!outcome.signed_by(&public_key(&key), &c), "another outcome");
        let mut cut = s;
        cut.header.end = Cursor::new(4, 0);
        assert!(!cut.signed_by(&public_key(&key), &c), "another cut");
    }
}
