//! Prover requests, signed by the prover's registered key.
//!
//! A prover is known by its ed25519 public key, registered with the coordinator
//! ([`Config::provers`](crate::Config::provers)); what a prover does wrong (an invalid
//! proof, a missed deadline) is a strike against that key, never against the task. Without
//! keys, anyone could pull tasks under made-up ids and let them lapse, or in another prover's
//! name, and exhaust a task for good.
//!
//! # Rules (numbered where the coordinator enforces them)
//! - K1. A pull is signed over the coordinator, the rollup and a timestamp `at_ms`; it is
//!   accepted only within [`PULL_SKEW_MS`] of the coordinator's clock and only if `at_ms` is
//!   above the last one accepted from that prover, so a pull cannot be replayed to load an
//!   honest prover with tasks it never asked for.
//! - K2. A submission is signed over the coordinator, the task and the proof's SHA-256: only
//!   the key that holds the task can hand in a proof for it.
//!
//! Both domains name the Weft chain, and both messages the coordinator instance (a random
//! id fixed when its task store is created, `prover_info`): task ids restart with each
//! store, so a request signed for one coordinator must not count at another.

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

/// A coordinator instance's id.
pub type Instance = [u8; 32];

/// `prover_pull`'s request (rule K1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// The prover's public key (hex).
    pub prover: String,
    /// The coordinator instance it asks (hex).
    pub instance: String,
    /// The rollup whose tasks it asks for.
    pub rollup: u64,
    /// When it asked, ms since the Unix epoch: fresh and increasing per prover.
    pub at_ms: u64,
    /// Its signature (hex).
    pub signature: String,
}

fn pull_message(instance: &Instance, rollup: u64, at_ms: u64) -> [u8; 48] {
    let mut m = [0u8; 48];
    m[..32].copy_from_slice(instance);
    m[32..40].copy_from_slice(&rollup.to_be_bytes());
    m[40..].copy_from_slice(&at_ms.to_be_bytes());
    m
}

/// Checks that a request names this coordinator `instance`.
fn check_instance(named: &str, instance: &Instance) -> Result<(), String> {
    let parsed = weft_types::from_hex_fixed::<32>(named)
        .map_err(|e| format!("coordinator instance: {e}"))?;
    if parsed != *instance {
        return Err(format!(
            "the request is for coordinator {named}, this is {}",
            weft_types::to_hex(instance)
        ));
    }
    Ok(())
}

impl PullRequest {
    /// A pull by `key` for `rollup`'s tasks at coordinator `instance`, at `at_ms`.
    pub fn sign(
        key: &SigningKey,
        chain: &ChainId,
        instance: &Instance,
        rollup: u64,
        at_ms: u64,
    ) -> Self {
        use commonware_cryptography::Signer as _;
        let signature = key.sign(
            &chain.domain(PULL_SIGNING_NAMESPACE),
            &pull_message(instance, rollup, at_ms),
        );
        Self {
            prover: prover_id(key),
            instance: weft_types::to_hex(instance),
            rollup,
            at_ms,
            signature: weft_types::to_hex(signature.as_ref()),
        }
    }

    /// Whether `prover` signed it for `chain` and coordinator `instance`.
    pub(crate) fn verify(&self, chain: &ChainId, instance: &Instance) -> Result<(), String> {
        check_instance(&self.instance, instance)?;
        verify(
            &self.prover,
            &chain.domain(PULL_SIGNING_NAMESPACE),
            &pull_message(instance, self.rollup, self.at_ms),
            &self.signature,
        )
    }
}

/// `prover_submit`'s request (rule K2); the proof travels beside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitRequest {
    /// The prover's public key (hex).
    pub prover: String,
    /// The coordinator instance (hex).
    pub instance: String,
    /// The task.
    pub task: u64,
    /// The proof (hex).
    pub proof: String,
    /// Its signature over the task and the proof's SHA-256 (hex).
    pub signature: String,
}

fn submit_message(instance: &Instance, task: u64, proof: &[u8]) -> Vec<u8> {
    let digest = weft_types::sha256(&[proof]);
    [&instance[..], &task.to_be_bytes()[..], digest.as_ref()].concat()
}

impl SubmitRequest {
    /// `key`'s proof of `task` at coordinator `instance`.
    pub fn sign(
        key: &SigningKey,
        chain: &ChainId,
        instance: &Instance,
        task: u64,
        proof: &[u8],
    ) -> Self {
        use commonware_cryptography::Signer as _;
        let signature = key.sign(
            &chain.domain(SUBMIT_SIGNING_NAMESPACE),
            &submit_message(instance, task, proof),
        );
        Self {
            prover: prover_id(key),
            instance: weft_types::to_hex(instance),
            task,
            proof: hex::encode(proof),
            signature: weft_types::to_hex(signature.as_ref()),
        }
    }

    /// The proof, if `prover` signed it for `chain` and coordinator `instance` and the hex
    /// decodes.
    pub(crate) fn verified_proof(
        &self,
        chain: &ChainId,
        instance: &Instance,
    ) -> Result<Vec<u8>, String> {
        check_instance(&self.instance, instance)?;
        let proof =
            hex::decode(self.proof.trim_start_matches("0x")).map_err(|e| format!("proof: {e}"))?;
        verify(
            &self.prover,
            &chain.domain(SUBMIT_SIGNING_NAMESPACE),
            &submit_message(instance, self.task, &proof),
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
        let (at, elsewhere) = ([1u8; 32], [2u8; 32]);
        let (key, thief) = (SigningKey::from_seed(1), SigningKey::from_seed(2));
        let pull = PullRequest::sign(&key, &chain, &at, 7, 1_000);
        pull.verify(&chain, &at).unwrap();
        assert!(pull.verify(&other, &at).is_err(), "another chain");
        assert!(
            pull.verify(&chain, &elsewhere).is_err(),
            "another coordinator"
        );
        let mut moved = pull.clone();
        moved.instance = weft_types::to_hex(&elsewhere);
        assert!(
            moved.verify(&chain, &elsewhere).is_err(),
            "relabelled for another coordinator"
        );
        let mut later = pull.clone();
        later.at_ms += 1;
        assert!(later.verify(&chain, &at).is_err(), "another time");
        let mut claimed = PullRequest::sign(&thief, &chain, &at, 7, 1_000);
        claimed.prover = prover_id(&key);
        assert!(
            claimed.verify(&chain, &at).is_err(),
            "in another prover's name"
        );

        let submit = SubmitRequest::sign(&key, &chain, &at, 3, b"proof");
        assert_eq!(submit.verified_proof(&chain, &at).unwrap(), b"proof");
        assert!(submit.verified_proof(&chain, &elsewhere).is_err());
        let mut swapped = submit.clone();
        swapped.proof = hex::encode(b"other proof");
        assert!(
            swapped.verified_proof(&chain, &at).is_err(),
            "another proof"
        );
        let mut task = submit;
        task.task = 4;
        assert!(task.verified_proof(&chain, &at).is_err(), "another task");
        let mut garbage = PullRequest::sign(&key, &chain, &at, 7, 1);
        garbage.signature = "0x00".into();
        assert!(garbage
            .verify(&chain, &at)
            .unwrap_err()
            .contains("signature"));
    }
}
