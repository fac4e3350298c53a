//! Offline verification of Weft finalization certificates: the light-client check that
//! clients, rollups and the L1 run without trusting any node.
//!
//! A finalization certificate is a quorum (more than two thirds) of validator signatures over
//! the finalize vote for one block. Anyone holding the validator set can check it without
//! trusting the node that served it; the block's header then follows from the certified
//! digest, and its ancestors from the header hash chain.

use commonware_codec::{Copying, Decode as _};
use commonware_consensus::simplex::{scheme::ed25519, types::Finalization};
use commonware_cryptography::certificate::Verifier as _;
use commonware_utils::ordered::Set;
use rand_core::SeedableRng as _;
use thiserror::Error;
use weft_types::{sha256, BlockDigest, ChainId, Digest, VerifyingKey};

/// Base of the consensus signing domain; part of every vote a validator signs, bound to the
/// chain by [`consensus_namespace`].
pub const CONSENSUS_NAMESPACE: &[u8] = b"weft/consensus/v1";

/// The consensus signing domain of `chain`: votes and certificates of one network never
/// verify on another, even with the same validator keys.
pub fn consensus_namespace(chain: &ChainId) -> Vec<u8> {
    chain.domain(CONSENSUS_NAMESPACE)
}

/// What a valid certificate proves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finality {
    /// The finalized block.
    pub block: BlockDigest,
    /// Consensus epoch of the finalization.
    pub epoch: u64,
    /// Consensus view of the finalization.
    pub view: u64,
}

/// Why a certificate was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CertificateError {
    /// The validator set is empty or lists a key twice.
    #[error("invalid validator set: {0}")]
    ValidatorSet(String),
    /// The bytes are not a finalization for this validator set's size.
    #[error("malformed finalization certificate: {0}")]
    Malformed(String),
    /// The signatures are not a valid quorum of this validator set.
    #[error("finalization certificate is not signed by a quorum of the validator set")]
    BadSignatures,
}

/// Verifies an encoded finalization certificate of `chain` against `validators`. A
/// certificate of another chain never verifies, even with the same validator keys.
pub fn verify_finalization(
    bytes: &[u8],
    validators: &[VerifyingKey],
    chain: &ChainId,
) -> Result<Finality, CertificateError> {
    certified_signers(bytes, validators, chain).map(|(finality, _)| finality)
}

/// [`verify_finalization`], and the validators whose signatures the certificate carries:
/// participation measured from certificates alone (downtime, the risk model).
pub fn certified_signers(
    bytes: &[u8],
    validators: &[VerifyingKey],
    chain: &ChainId,
) -> Result<(Finality, Vec<VerifyingKey>), CertificateError> {
    if validators.is_empty() {
        return Err(CertificateError::ValidatorSet("no validators".into()));
    }
    let set: Set<VerifyingKey> = validators
        .to_vec()
        .try_into()
        .map_err(|_| CertificateError::ValidatorSet("a key is listed twice".into()))?;
    let scheme = ed25519::Scheme::verifier(&consensus_namespace(chain), set);
    let finalization = Finalization::<ed25519::Scheme, Digest>::decode_cfg(
        Copying(bytes),
        &scheme.certificate_codec_config(),
    )
    .map_err(|e| CertificateError::Malformed(e.to_string()))?;
    // Batch-verification randomness derived from the certificate: deterministic, and fixed only
    // after the signatures are.
    let mut rng =
        rand_chacha::ChaCha20Rng::from_seed(sha256(&[b"weft/certificate-check", bytes]).0);
    if !finalization.verify(&mut rng, &scheme, &commonware_parallel::Sequential) {
        return Err(CertificateError::BadSignatures);
    }
    // Signer indices are positions in the ordered validator set the scheme was built from.
    let ordered: Set<VerifyingKey> = validators
        .to_vec()
        .try_into()
        .map_err(|_| CertificateError::ValidatorSet("a key is listed twice".into()))?;
    let signers = finalization
        .certificate
        .signers
        .iter()
        .map(|p| {
            ordered
                .get(usize::from(p))
                .cloned()
                .ok_or_else(|| CertificateError::Malformed(format!("signer {p:?} out of range")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        Finality {
            block: BlockDigest(finalization.proposal.payload),
            epoch: finalization.proposal.round.epoch().get(),
            view: finalization.proposal.round.view().get(),
        },
        signers,
    ))
}
