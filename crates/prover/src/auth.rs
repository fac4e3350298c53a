//! Prover requests, signed by the prover's registered key.
//!
//! A prover is known by its ed25519 public key, registered with the coordinator
//! ([`Config::provers`](crate::Config::provers)); what a prover does wrong (an invalid
//! proof, a missed deadline) is a strike against that key, never against the task. Without
//! keys, anyone could pull tasks under made-up ids and let them lapse, or in another prover's
//! name, and exhaust a task for good.
//!
//! # Rules (numbered where the coordinator enforces them)
//! - K1. A pull is signed over the rollup and a timestamp `at_ms`; it is accepted only within
//!   [`PULL_SKEW_MS`] of the coordinator's clock and only if `at_ms` is above the last one
//!   accepted from that prover (persisted), so a pull cannot be replayed to load an honest
//!   prover with tasks it never asked for.
//! - K2. A submission is signed over the task and the proof's SHA-256: only the key that
//!   holds the task can hand in a proof for it.
//!
//! Both domains name the Weft chain.

use serde::{Deserialize, Serialize};
use weft_types::{ChainId, SigningKey};

/// Base of the pull signing domain (rule K1), bound to the chain.
pub const PULL_SIGNING_NAMESPACE: &[u8] = b"weft/prover/pull/v1";
/// Base of the submission signing domain (rule K2), bound to the chain.
pub const SUBMIT_SIGNING_NAMESPACE: &[u8] = b"weft/prover/submit/v1";
/// How far a pull's timestamp may be from the coordinator's clock (rule K1), in ms.
pub const PULL_SKEW_MS: u64 = 60_000;

/// A prover's id: its public key as `0x`-prefixed hex.
pub fn prover_id(key: &SigningKey) -> String {
    use commonware_cryptography::Signer as _;
    weft_types::to_hex(key.public_key().as_ref())
}

/// `prover_pull`'s request (rule K1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// The prover's public key (hex).
    pub prover: String,
    /// The rollup whose tasks it asks for.
    pub rollup: u64,
    /// When it asked, ms since the Unix epoch: fresh and increasing per prover.
    pub at_ms: u64,
    /// Its signature (hex).
    pub signature: String,
}

fn pull_message(rollup: u64, at_ms: u64) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[..8].copy_from_slice(&rollup.to_be_bytes());
    m[8..].copy_from_slice(&at_ms.to_be_bytes());
    m
}

impl PullRequest {
    /// A pull by `key` for `rollup`'s tasks at `at_ms`.
    pub fn sign(key: &SigningKey, chain: &ChainId, rollup: u64, at_ms: u64) -> Self {
        use commonware_cryptography::Signer as _;
        let signature = key.sign(
            &chain.domain(PULL_SIGNING_NAMESPACE),
            &pull_message(rollup, at_ms),
        );
        Self {
            prover: prover_id(key),
            rollup,
            at_ms,
            signature: weft_types::to_hex(signature.as_ref()),
        }
    }

    /// Whether `prover` signed it for `chain`.
    pub(crate) fn verify(&self, chain: &ChainId) -> Result<(), String> {
        verify(
            &self.prover,
            &chain.domain(PULL_SIGNING_NAMESPACE),
            &pull_message(self.rollup, self.at_ms),
            &self.signature,
        )
    }
}

/// `prover_submit`'s request (rule K2); the proof travels beside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitRequest {
    /// The prover's public key (hex).
    pub prover: String,
    /// The task.
    pub task: u64,
    /// The proof (hex).
    pub proof: String,
    /// Its signature over the task and the proof's SHA-256 (hex).
    pub signature: String,
}

fn submit_message(task: u64, proof: &[u8]) -> Vec<u8> {
    let digest = weft_types::sha256(&[proof]);
    [&task.to_be_bytes()[..], digest.as_ref()].concat()
}

impl SubmitRequest {
    /// `key`'s proof of `task`.
    pub fn sign(key: &SigningKey, chain: &ChainId, task: u64, proof: &[u8]) -> Self {
        use commonware_cryptography::Signer as _;
        let signature = key.sign(
            &chain.domain(SUBMIT_SIGNING_NAMESPACE),
            &submit_message(task, proof),
        );
        Self {
            prover: prover_id(key),
            task,
            proof: hex::encode(proof),
            signature: weft_types::to_hex(signature.as_ref()),
        }
    }

    /// The proof, if `prover` signed it for `chain` and the hex decodes.
    pub(crate) fn verified_proof(&self, chain: &ChainId) -> Result<Vec<u8>, String> {
        let proof =
            hex::decode(self.proof.trim_start_matches("0x")).map_err(|e| format!("proof: {e}"))?;
        verify(
            &self.prover,
            &chain.domain(SUBMIT_SIGNING_NAMESPACE),
            &submit_message(self.task, &proof),
            &self.signature,
        )?;
        Ok(proof)
    }
}

/// Checks `signature` (hex) by `prover` (hex public key) over `message` in `domain`.
fn verify(prover: &str, domain: &[u8], message: &[u8], signature: &str) -> Result<(), String> {
    use commonware_codec::DecodeExt as _;
    use commonware_cryptography::{ed25519, Verifier as _};
    let key = weft_types::from_hex_fixed::<32>(prover).map_err(|e| format!("prover key: {e}"))?;
    let key = ed25519::PublicKey::decode(key.to_vec())
        .map_err(|e| format!("prover key is not an ed25519 public key: {e}"))?;
    let signature =
        weft_types::from_hex_fixed::<64>(signature).map_err(|e| format!("signature: {e}"))?;
    let signature = ed25519::Signature::decode(signature.to_vec())
        .map_err(|e| format!("signature is malformed: {e}"))?;
    if key.verify(domain, message, &signature) {
        Ok(())
    } else {
        Err("the signature is not the prover's over this request".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer as _;

    #[test]
    fn requests_verify_only_as_signed() {
        let chain = ChainId(weft_types::sha256(&[b"prover auth tests"]));
        let other = ChainId(weft_types::sha256(&[b"another network"]));
        let (key, thief) = (SigningKey::from_seed(1), SigningKey::from_seed(2));
        let pull = PullRequest::sign(&key, &chain, 7, 1_000);
        pull.verify(&chain).unwrap();
        assert!(pull.verify(&other).is_err(), "another chain");
        let mut later = pull.clone();
        later.at_ms += 1;
        assert!(later.verify(&chain).is_err(), "another time");
        let mut claimed = PullRequest::sign(&thief, &chain, 7, 1_000);
        claimed.prover = prover_id(&key);
        assert!(claimed.verify(&chain).is_err(), "in another prover's name");

        let submit = SubmitRequest::sign(&key, &chain, 3, b"proof");
        assert_eq!(submit.verified_proof(&chain).unwrap(), b"proof");
        let mut swapped = submit.clone();
        swapped.proof = hex::encode(b"other proof");
        assert!(swapped.verified_proof(&chain).is_err(), "another proof");
        let mut moved = submit;
        moved.task = 4;
        assert!(moved.verified_proof(&chain).is_err(), "another task");
        let mut garbage = PullRequest::sign(&key, &chain, 7, 1);
        garbage.signature = "0x00".into();
        assert!(garbage.verify(&chain).unwrap_err().contains("signature"));
    }
}
