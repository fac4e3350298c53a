//! Offline verification of Weft finalization certificates: the light-client check that
//! clients, rollups and the L1 run without trusting any node.
//!
//! A finalization certificate is a quorum (more than two thirds) of validator signatures over
//! the finalize vote for one block. Anyone holding the validator set can check it without
//! trusting the node that served it; the block's header then follows from the certified
//! digest, and its ancestors from the header hash chain.

pub mod history;

pub use history::{HistoryError, SetHistory};

use commonware_codec::{Copying, Decode as _};
use commonware_consensus::simplex::{
    scheme::ed25519,
    types::{Activity, Finalization},
};
use commonware_cryptography::certificate::Verifier as _;
use commonware_utils::ordered::Set;
use rand_core::SeedableRng as _;
use thiserror::Error;
use weft_types::{sha256, BlockDigest, ChainId, Digest, VerifyingKey, VALIDATOR_SET_MAX};

/// Which validator set certifies each epoch: what every check here verifies against. A
/// certificate or vote carries its epoch and is checked against that epoch's set only.
///
/// A plain list of keys is a fixed set, the same in every epoch (a network whose genesis set
/// never changes: `validator_sets = "genesis"`); a [`SetHistory`] is each epoch's set as a
/// light client learned it from genesis.
pub trait Sets {
    /// The validators of `epoch`, or `None` while it is not known.
    fn set_of(&self, epoch: u64) -> Option<&[VerifyingKey]>;
    /// The epoch holding `height`; `None` for a fixed set, whose one set signs every epoch.
    fn epoch_of(&self, height: u64) -> Option<u64>;
}

impl Sets for [VerifyingKey] {
    fn set_of(&self, _epoch: u64) -> Option<&[VerifyingKey]> {
        Some(self)
    }
    fn epoch_of(&self, _height: u64) -> Option<u64> {
        None
    }
}

impl Sets for Vec<VerifyingKey> {
    fn set_of(&self, _epoch: u64) -> Option<&[VerifyingKey]> {
        Some(self)
    }
    fn epoch_of(&self, _height: u64) -> Option<u64> {
        None
    }
}

impl Sets for SetHistory {
    fn set_of(&self, epoch: u64) -> Option<&[VerifyingKey]> {
        self.set(epoch)
    }
    fn epoch_of(&self, height: u64) -> Option<u64> {
        Some(self.epoch_of_height(height))
    }
}

/// Checks that a certificate (or header) of epoch `epoch` is for a block at `height` that
/// lies in that epoch. Without it, a quorum of an old set (genesis's, say, long unbonded)
/// could sign a certificate labelled with its own epoch over a made-up block at a height of
/// a later epoch, and it would verify against the set it names. A fixed set has nothing to
/// check.
pub fn check_epoch(
    sets: &(impl Sets + ?Sized),
    height: u64,
    epoch: u64,
) -> Result<(), CertificateError> {
    match sets.epoch_of(height) {
        Some(expected) if expected != epoch => Err(CertificateError::WrongEpoch {
            height,
            epoch,
            expected,
        }),
        _ => Ok(()),
    }
}

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
    /// The certificate's epoch has a set this verifier does not know (yet).
    #[error("the validator set of epoch {0} is not known (yet)")]
    UnknownEpoch(u64),
    /// A certificate or header names another epoch than the one its height lies in.
    #[error("a block at height {height} is of epoch {expected}, not {epoch}")]
    WrongEpoch {
        /// The block's height.
        height: u64,
        /// The epoch named.
        epoch: u64,
        /// The epoch of that height.
        expected: u64,
    },
}

/// Verifies an encoded finalization certificate of `chain` against the set of its epoch. A
/// certificate of another chain never verifies, even with the same validator keys.
pub fn verify_finalization(
    bytes: &[u8],
    sets: &(impl Sets + ?Sized),
    chain: &ChainId,
) -> Result<Finality, CertificateError> {
    certified_signers(bytes, sets, chain).map(|(finality, _)| finality)
}

/// The validators of the epoch a certificate or vote names, peeked from `bytes` decoded with
/// the widest set a network may have (the strict decode follows, against that set).
fn set_for<'a, T, S: Sets + ?Sized>(
    sets: &'a S,
    bytes: &[u8],
    epoch: impl Fn(&T) -> u64,
) -> Result<&'a [VerifyingKey], CertificateError>
where
    T: commonware_codec::Read<Cfg = usize>,
{
    let peeked = T::decode_cfg(Copying(bytes), &VALIDATOR_SET_MAX)
        .map_err(|e| CertificateError::Malformed(e.to_string()))?;
    let epoch = epoch(&peeked);
    sets.set_of(epoch)
        .ok_or(CertificateError::UnknownEpoch(epoch))
}

/// [`verify_finalization`], and the validators whose signatures the certificate carries:
/// participation measured from certificates alone (downtime, the risk model).
pub fn certified_signers(
    bytes: &[u8],
    sets: &(impl Sets + ?Sized),
    chain: &ChainId,
) -> Result<(Finality, Vec<VerifyingKey>), CertificateError> {
    let validators = set_for(sets, bytes, |f: &Finalization<ed25519::Scheme, Digest>| {
        f.proposal.round.epoch().get()
    })?;
    let (set, scheme) = verifier(validators, chain)?;
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
    let signers = finalization
        .certificate
        .signers
        .iter()
        .map(|p| {
            set.get(usize::from(p))
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

/// The ordered validator set (signer indices are positions in it) and the verifying scheme
/// of `chain` over it.
fn verifier(
    validators: &[VerifyingKey],
    chain: &ChainId,
) -> Result<(Set<VerifyingKey>, ed25519::Scheme), CertificateError> {
    if validators.is_empty() {
        return Err(CertificateError::ValidatorSet("no validators".into()));
    }
    let set: Set<VerifyingKey> = validators
        .to_vec()
        .try_into()
        .map_err(|_| CertificateError::ValidatorSet("a key is listed twice".into()))?;
    let scheme = ed25519::Scheme::verifier(&consensus_namespace(chain), set.clone());
    Ok((set, scheme))
}

/// What verified double-signing evidence proves: `signer` signed two conflicting votes in one
/// round (two notarizes or two finalizes of different blocks, or a nullify and a finalize).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DoubleSign {
    /// The validator that signed both.
    pub signer: VerifyingKey,
    /// The round's epoch.
    pub epoch: u64,
    /// The round's view.
    pub view: u64,
}

/// Is `activity` a conflict (evidence that its signer double-signed)? Returns its encoding.
pub fn conflict_evidence(activity: &Activity<ed25519::Scheme, Digest>) -> Option<Vec<u8>> {
    use commonware_codec::Encode as _;
    matches!(
        activity,
        Activity::ConflictingNotarize(_)
            | Activity::ConflictingFinalize(_)
            | Activity::NullifyFinalize(_)
    )
    .then(|| activity.encode().to_vec())
}

/// Verifies encoded double-signing evidence (a conflict activity, [`conflict_evidence`])
/// against the set of its epoch on `chain`: both votes decode, are signed by the same
/// validator of that set for the same round, and conflict.
pub fn verify_double_sign(
    bytes: &[u8],
    sets: &(impl Sets + ?Sized),
    chain: &ChainId,
) -> Result<DoubleSign, CertificateError> {
    use commonware_consensus::simplex::types::Attributable as _;
    use commonware_consensus::{Epochable as _, Viewable as _};
    let validators = set_for(sets, bytes, |a: &Activity<ed25519::Scheme, Digest>| {
        a.epoch().get()
    })?;
    let (set, scheme) = verifier(validators, chain)?;
    let activity = Activity::<ed25519::Scheme, Digest>::decode_cfg(
        Copying(bytes),
        &scheme.certificate_codec_config(),
    )
    .map_err(|e| CertificateError::Malformed(e.to_string()))?;
    let signer = match &activity {
        Activity::ConflictingNotarize(c) => c.signer(),
        Activity::ConflictingFinalize(c) => c.signer(),
        Activity::NullifyFinalize(c) => c.signer(),
        _ => {
            return Err(CertificateError::Malformed(
                "not evidence of conflicting votes".into(),
            ))
        }
    };
    let mut rng =
        rand_chacha::ChaCha20Rng::from_seed(sha256(&[b"weft/double-sign-check", bytes]).0);
    if !activity.verify(&mut rng, &scheme, &commonware_parallel::Sequential) {
        return Err(CertificateError::BadSignatures);
    }
    let signer = set
        .get(usize::from(signer))
        .cloned()
        .ok_or_else(|| CertificateError::Malformed("signer out of range".into()))?;
    Ok(DoubleSign {
        signer,
        epoch: activity.epoch().get(),
        view: activity.view().get(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::Encode as _;
    use commonware_consensus::simplex::types::{
        ConflictingFinalize, Finalize, Nullify, NullifyFinalize, Proposal,
    };
    use commonware_consensus::types::{Epoch, Round, View};
    use commonware_cryptography::Signer as _;
    use weft_types::SigningKey;

    fn chain() -> ChainId {
        ChainId(sha256(&[b"weft-finality tests"]))
    }

    fn keys() -> Vec<SigningKey> {
        (0..4).map(SigningKey::from_seed).collect()
    }

    fn validators(keys: &[SigningKey]) -> Vec<VerifyingKey> {
        keys.iter().map(|k| k.public_key()).collect()
    }

    fn signer(key: &SigningKey, chain: &ChainId) -> ed25519::Scheme {
        let set: Set<VerifyingKey> = validators(&keys()).try_into().unwrap();
        ed25519::Scheme::signer(&consensus_namespace(chain), set, key.clone()).unwrap()
    }

    fn proposal(view: u64, payload: u8) -> Proposal<Digest> {
        Proposal::new(
            Round::new(Epoch::new(0), View::new(view)),
            View::new(view - 1),
            sha256(&[&[payload]]),
        )
    }

    #[test]
    fn conflicting_votes_name_their_signer_and_nothing_else_verifies() {
        let keys = keys();
        let set = validators(&keys);
        let byz = signer(&keys[2], &chain());
        let (a, b) = (
            Finalize::sign(&byz, proposal(7, 1)).unwrap(),
            Finalize::sign(&byz, proposal(7, 2)).unwrap(),
        );
        let evidence = conflict_evidence(&Activity::ConflictingFinalize(ConflictingFinalize::new(
            a.clone(),
            b,
        )))
        .unwrap();
        let fault = verify_double_sign(&evidence, &set, &chain()).unwrap();
        assert_eq!(
            fault,
            DoubleSign {
                signer: keys[2].public_key(),
                epoch: 0,
                view: 7
            }
        );
        // A nullify and a finalize in one view conflict too.
        let n = Nullify::sign::<Digest>(&byz, Round::new(Epoch::new(0), View::new(7))).unwrap();
        let mixed = conflict_evidence(&Activity::NullifyFinalize(NullifyFinalize::new(
            n,
            a.clone(),
        )))
        .unwrap();
        assert_eq!(verify_double_sign(&mixed, &set, &chain()).unwrap().view, 7);
        // Another network, another validator set, a single honest vote, flipped bits: none.
        let other = ChainId(sha256(&[b"another network"]));
        assert!(verify_double_sign(&evidence, &set, &other).is_err());
        let strangers: Vec<VerifyingKey> = (10..14)
            .map(|s| SigningKey::from_seed(s).public_key())
            .collect();
        assert!(verify_double_sign(&evidence, &strangers, &chain()).is_err());
        let single = Activity::Finalize(a).encode().to_vec();
        assert!(matches!(
            verify_double_sign(&single, &set, &chain()),
            Err(CertificateError::Malformed(_))
        ));
        let mut flipped = evidence.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(verify_double_sign(&flipped, &set, &chain()).is_err());
        assert!(verify_double_sign(&evidence[..10], &set, &chain()).is_err());
    }

    /// Each epoch's certificate verifies against that epoch's set only: a set that changed
    /// (keys 4..8 run epoch 2) is needed for its certificates, the genesis set refuses them,
    /// and an epoch the verifier has not learned is said to be unknown, not forged.
    #[test]
    fn a_certificate_is_checked_against_its_own_epochs_set() {
        struct Two(Vec<VerifyingKey>, Vec<VerifyingKey>);
        impl Sets for Two {
            fn set_of(&self, epoch: u64) -> Option<&[VerifyingKey]> {
                match epoch {
                    0 | 1 => Some(&self.0),
                    2 => Some(&self.1),
                    _ => None,
                }
            }
            fn epoch_of(&self, height: u64) -> Option<u64> {
                Some(height / 10)
            }
        }
        let old: Vec<SigningKey> = (0..4).map(SigningKey::from_seed).collect();
        let new: Vec<SigningKey> = (4..8).map(SigningKey::from_seed).collect();
        let certificate = |keys: &[SigningKey], epoch: u64| {
            let mut sorted = validators(keys);
            sorted.sort();
            let set: Set<VerifyingKey> = sorted.try_into().unwrap();
            let proposal = Proposal::new(
                Round::new(Epoch::new(epoch), View::new(3)),
                View::new(2),
                sha256(&[b"block"]),
            );
            let votes: Vec<_> = keys[..3]
                .iter()
                .map(|k| {
                    let scheme = ed25519::Scheme::signer(
                        &consensus_namespace(&chain()),
                        set.clone(),
                        k.clone(),
                    )
                    .unwrap();
                    Finalize::sign(&scheme, proposal.clone()).unwrap()
                })
                .collect();
            let verifier = ed25519::Scheme::verifier(&consensus_namespace(&chain()), set);
            Finalization::from_finalizes(
                &verifier,
                commonware_utils::non_empty![@&votes],
                &commonware_parallel::Sequential,
            )
            .unwrap()
            .encode()
            .to_vec()
        };
        let sorted = |keys: &[SigningKey]| {
            let mut v = validators(keys);
            v.sort();
            v
        };
        let sets = Two(sorted(&old), sorted(&new));
        let of_new = certificate(&new, 2);
        let finality = verify_finalization(&of_new, &sets, &chain()).unwrap();
        assert_eq!((finality.epoch, finality.view), (2, 3));
        let (_, signers) = certified_signers(&of_new, &sets, &chain()).unwrap();
        assert!(signers.iter().all(|k| sets.1.contains(k)));
        assert!(
            verify_finalization(&of_new, &sets.0, &chain()).is_err(),
            "the old set verified the new set's certificate"
        );
        // The old set's certificate for epoch 2 is refused: not that epoch's set.
        assert!(verify_finalization(&certificate(&old, 2), &sets, &chain()).is_err());
        assert_eq!(
            verify_finalization(&certificate(&new, 3), &sets, &chain()),
            Err(CertificateError::UnknownEpoch(3))
        );
        // The old set's own epoch, over a block at a height of epoch 2: refused by the
        // height binding every caller applies.
        let old_label = verify_finalization(&certificate(&old, 0), &sets, &chain()).unwrap();
        assert_eq!(old_label.epoch, 0);
        assert_eq!(
            check_epoch(&sets, 25, old_label.epoch),
            Err(CertificateError::WrongEpoch {
                height: 25,
                epoch: 0,
                expected: 2
            })
        );
        assert_eq!(check_epoch(&sets, 25, 2), Ok(()));
        assert_eq!(
            check_epoch(&sets.0, 25, 0),
            Ok(()),
            "a fixed set signs every epoch"
        );
    }
}
