//! Every epoch's validator set, as a light client learns it from genesis alone.
//!
//! Epochs 0 and 1 are run by the genesis set. The boundary block of epoch `e` (its last
//! block) commits in its header's `state_root` to the set of epoch `e + 2`, and that header
//! is finalized by a certificate of epoch `e`'s set. So each set is certified by the set two
//! epochs before it, back to genesis, and a client, a rollup or the L1 follows every change
//! without trusting the node that serves the boundaries.
//!
//! Rules, checked by [`SetHistory::learn`] before a set is recorded:
//! 1. Boundaries are learned in order: the set of `e + 2` only once the set of `e + 1` is
//!    known (the set of `e` is then known too).
//! 2. The header is the boundary of `e`: height `(e + 1)·L − 1` and epoch `e`.
//! 3. The announced keys are non-empty, strictly ascending, at most
//!    [`weft_types::VALIDATOR_SET_MAX`], and hash to the header's `state_root`.
//! 4. The certificate is a finalization of that header by a quorum of epoch `e`'s set.

use crate::{verify_finalization, CertificateError, Finality};
use commonware_codec::DecodeExt as _;
use std::collections::BTreeMap;
use thiserror::Error;
use weft_types::{ChainId, Header, VerifyingKey, VALIDATOR_SET_MAX};

/// Why a boundary was not learned, or a certificate not verified.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum HistoryError {
    /// The history's parameters are unusable.
    #[error("invalid history: {0}")]
    Invalid(String),
    /// Rule 1: the set this needs is not known yet.
    #[error("rule 1: the validator set of epoch {0} is not known yet")]
    Unknown(u64),
    /// Rule 2: not the boundary of the epoch it is offered for.
    #[error("rule 2: {0}")]
    NotBoundary(String),
    /// Rule 3: the announced set is malformed or not the one the header commits to.
    #[error("rule 3: {0}")]
    Announcement(String),
    /// Rule 4: the certificate does not finalize the header under the epoch's set.
    #[error("rule 4: {0}")]
    Certificate(#[from] CertificateError),
    /// Rule 4: a valid certificate, of another block or epoch.
    #[error("rule 4: the certificate finalizes block {block} of epoch {epoch}, not this header")]
    Mismatch {
        /// What it finalizes.
        block: String,
        /// Its epoch.
        epoch: u64,
    },
}

/// The validator set of each epoch known so far (see the module docs).
#[derive(Clone, Debug)]
pub struct SetHistory {
    chain: ChainId,
    epoch_length: u64,
    genesis: Vec<VerifyingKey>,
    /// The set of epoch `e + 2` for `e = 0, 1, …`, in order (rule 1).
    learned: BTreeMap<u64, Vec<VerifyingKey>>,
}

impl SetHistory {
    /// A history of `chain`, whose genesis names `genesis` and `epoch_length` blocks per epoch.
    pub fn new(
        chain: ChainId,
        epoch_length: u64,
        genesis: Vec<VerifyingKey>,
    ) -> Result<Self, HistoryError> {
        if epoch_length < 2 {
            return Err(HistoryError::Invalid(format!(
                "epoch length {epoch_length}: an epoch holds at least two blocks"
            )));
        }
        if genesis.is_empty() {
            return Err(HistoryError::Invalid("no genesis validators".into()));
        }
        Ok(Self {
            chain,
            epoch_length,
            genesis,
            learned: BTreeMap::new(),
        })
    }

    /// The set of `epoch`, if known.
    pub fn set(&self, epoch: u64) -> Option<&[VerifyingKey]> {
        match epoch {
            0 | 1 => Some(&self.genesis),
            e => self.learned.get(&e).map(Vec::as_slice),
        }
    }

    /// The epoch holding `height`.
    pub fn epoch_of_height(&self, height: u64) -> u64 {
        height / self.epoch_length
    }

    /// The chain this history follows.
    pub fn chain(&self) -> &ChainId {
        &self.chain
    }

    /// This history without the sets of epochs before `epoch` (genesis is kept): what a
    /// verifier of recent certificates needs, without copying every set ever learned.
    pub fn since(&self, epoch: u64) -> Self {
        Self {
            chain: self.chain,
            epoch_length: self.epoch_length,
            genesis: self.genesis.clone(),
            learned: self
                .learned
                .range(epoch..)
                .map(|(e, s)| (*e, s.clone()))
                .collect(),
        }
    }

    /// Takes the sets `newer` learned beyond this history's: `newer` must be this history
    /// (same chain, epoch length and genesis) grown by [`SetHistory::learn`] alone, from a
    /// copy of it, so every set it adds was checked by rules 1-4.
    pub fn merge(&mut self, newer: &SetHistory) -> Result<(), HistoryError> {
        if newer.chain != self.chain
            || newer.epoch_length != self.epoch_length
            || newer.genesis != self.genesis
        {
            return Err(HistoryError::Invalid(
                "merging the history of another network".into(),
            ));
        }
        for (epoch, set) in newer.learned.range(self.known_through() + 1..) {
            // Rule 1: in order, with no gap.
            if *epoch != self.known_through() + 1 {
                return Err(HistoryError::Unknown(self.known_through() + 1));
            }
            self.learned.insert(*epoch, set.clone());
        }
        Ok(())
    }

    /// The highest epoch whose set is known.
    pub fn known_through(&self) -> u64 {
        self.learned.keys().next_back().copied().unwrap_or(1)
    }

    /// The boundary height of `epoch` (its last block).
    pub fn boundary(&self, epoch: u64) -> u64 {
        (epoch + 1) * self.epoch_length - 1
    }

    /// The epoch whose boundary announces the next set to learn.
    pub fn next_to_learn(&self) -> u64 {
        self.known_through() - 1
    }

    /// Learns the set of `epoch + 2` from the boundary of `epoch`: its encoded header, its
    /// finalization certificate and the keys its body announces (rules 1-4).
    pub fn learn(
        &mut self,
        epoch: u64,
        header: &[u8],
        certificate: &[u8],
        announced: &[VerifyingKey],
    ) -> Result<(), HistoryError> {
        // Rule 1.
        if epoch < self.next_to_learn() {
            return Err(HistoryError::Invalid(format!(
                "the set announced at the boundary of epoch {epoch} is already known"
            )));
        }
        if epoch > self.next_to_learn() {
            return Err(HistoryError::Unknown(epoch + 1));
        }
        let set = self
            .set(epoch)
            .ok_or(HistoryError::Unknown(epoch))?
            .to_vec();
        // Rule 2.
        let header = Header::decode(commonware_codec::Copying(header))
            .map_err(|e| HistoryError::NotBoundary(format!("header does not decode: {e}")))?;
        if header.height != self.boundary(epoch) || header.epoch != epoch {
            return Err(HistoryError::NotBoundary(format!(
                "header of height {} in epoch {}, the boundary of epoch {epoch} is height {}",
                header.height,
                header.epoch,
                self.boundary(epoch)
            )));
        }
        // Rule 3.
        if announced.is_empty() || announced.len() > VALIDATOR_SET_MAX {
            return Err(HistoryError::Announcement(format!(
                "{} keys announced, 1 to {VALIDATOR_SET_MAX} expected",
                announced.len()
            )));
        }
        if announced.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err(HistoryError::Announcement(
                "keys not strictly ascending".into(),
            ));
        }
        if weft_types::validators_root(announced) != header.state_root {
            return Err(HistoryError::Announcement(
                "the keys are not the set the header commits to".into(),
            ));
        }
        // Rule 4.
        let finality = verify_finalization(certificate, &set, &self.chain)?;
        if finality.block != header.digest() || finality.epoch != epoch {
            return Err(HistoryError::Mismatch {
                block: finality.block.to_string(),
                epoch: finality.epoch,
            });
        }
        self.learned.insert(epoch + 2, announced.to_vec());
        Ok(())
    }

    /// Verifies a finalization certificate of the block whose encoded header is `header`,
    /// against the set of the header's epoch: what [`verify_finalization`] proves, with the
    /// set taken from the history.
    pub fn verify(&self, header: &[u8], certificate: &[u8]) -> Result<Finality, HistoryError> {
        let header = Header::decode(commonware_codec::Copying(header))
            .map_err(|e| HistoryError::NotBoundary(format!("header does not decode: {e}")))?;
        crate::check_epoch(self, header.height, header.epoch)?;
        let set = self
            .set(header.epoch)
            .ok_or(HistoryError::Unknown(header.epoch))?;
        let finality = verify_finalization(certificate, set, &self.chain)?;
        if finality.block != header.digest() || finality.epoch != header.epoch {
            return Err(HistoryError::Mismatch {
                block: finality.block.to_string(),
                epoch: finality.epoch,
            });
        }
        Ok(finality)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer as _;

    fn keys(n: u64) -> Vec<VerifyingKey> {
        let mut k: Vec<_> = (1..=n)
            .map(|i| weft_types::SigningKey::from_seed(i).public_key())
            .collect();
        k.sort();
        k
    }

    #[test]
    fn parameters_and_order_are_checked_before_any_signature() {
        let chain = ChainId(weft_types::sha256(&[b"history"]));
        assert!(SetHistory::new(chain, 1, keys(4)).is_err());
        assert!(SetHistory::new(chain, 10, Vec::new()).is_err());
        let mut h = SetHistory::new(chain, 10, keys(4)).unwrap();
        assert_eq!(h.set(0), Some(keys(4).as_slice()));
        assert_eq!(h.set(1), Some(keys(4).as_slice()));
        assert_eq!(h.set(2), None);
        assert_eq!(
            (h.known_through(), h.next_to_learn(), h.boundary(0)),
            (1, 0, 9)
        );
        // Rule 1: epoch 1's boundary before epoch 0's.
        assert!(matches!(
            h.learn(1, &[], &[], &keys(4)),
            Err(HistoryError::Unknown(2))
        ));
        // Rule 2: not a header.
        assert!(matches!(
            h.learn(0, &[1, 2, 3], &[], &keys(4)),
            Err(HistoryError::NotBoundary(_))
        ));
    }

    /// A merge takes only a grown copy of the same network's history; a pruned copy keeps
    /// genesis and the epoch of the height asked for.
    #[test]
    fn merging_and_pruning_keep_to_one_network() {
        let chain = ChainId(weft_types::sha256(&[b"history"]));
        let mut h = SetHistory::new(chain, 10, keys(4)).unwrap();
        let other = SetHistory::new(ChainId(weft_types::sha256(&[b"other"])), 10, keys(4)).unwrap();
        assert!(matches!(h.merge(&other), Err(HistoryError::Invalid(_))));
        let longer = SetHistory::new(chain, 20, keys(4)).unwrap();
        assert!(matches!(h.merge(&longer), Err(HistoryError::Invalid(_))));
        let same = h.clone();
        assert_eq!(h.merge(&same), Ok(()));
        assert_eq!(h.known_through(), 1);
        let pruned = h.since(h.epoch_of_height(95));
        assert_eq!(h.epoch_of_height(95), 9);
        assert_eq!(pruned.set(0), Some(keys(4).as_slice()));
        assert_eq!(pruned.set(9), None);
    }
}
