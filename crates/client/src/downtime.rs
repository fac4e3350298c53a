//! Downtime evidence: a window of consecutive finalized blocks, each with its own
//! finalization certificate, in which a validator signed fewer certificates than the rule
//! asks. Checkable from certificates alone, against the validator set.
//!
//! Rules (numbered as their errors say):
//! 1. the window holds exactly `window` blocks, from `first_height`, a multiple of `window`
//!    (windows are aligned, so one validator has one offence per window);
//! 2. each block's header decodes, is at its height, and names the previous block as its
//!    parent;
//! 3. each block's certificate verifies against the validator set of its epoch and
//!    finalizes that very header;
//! 4. the validator is in the set of every block's epoch and signed fewer than
//!    `ceil(min_signed * window)` of the certificates.
//!
//! A certificate carries a quorum of signatures, not every vote: a live validator that votes
//! late is sometimes left out. `min_signed` (x/slashing's 0.5 by default) leaves room for
//! that; a validator that is down signs none.

use crate::VerifyError;
use commonware_codec::DecodeExt as _;
use serde::{Deserialize, Serialize};
use weft_types::{ChainId, Header, VerifyingKey};

/// Longest window evidence may cover (bounds the verifier's work: one certificate check per
/// block).
pub const DOWNTIME_WINDOW_MAX: u64 = 10_000;

/// One block of the window: its header and its own finalization certificate (hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertifiedBlock {
    /// The encoded header (hex).
    pub header: String,
    /// The encoded finalization certificate of this block (hex).
    pub certificate: String,
}

/// Evidence that `validator` was down over a window (module docs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DowntimeEvidence {
    /// The validator's key (hex).
    pub validator: String,
    /// The window's first height (a multiple of the window).
    pub first_height: u64,
    /// The window's blocks, in height order.
    pub blocks: Vec<CertifiedBlock>,
}

fn fault(rule: u8, reason: impl std::fmt::Display) -> VerifyError {
    VerifyError::Header(format!("downtime rule {rule}: {reason}"))
}

fn unhex(what: &'static str, s: &str) -> Result<Vec<u8>, VerifyError> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s)).map_err(|e| VerifyError::Malformed {
        what,
        reason: e.to_string(),
    })
}

/// Checks `evidence` (rules 1 to 4) for a `window` and `min_signed_ppm` (parts per million)
/// rule. Returns the validator, how many of the window's certificates it signed, and each
/// certificate's signers with its set's size (what the L1 checks against the stake still
/// slashable there, staking rule S11).
pub fn verify_downtime(
    evidence: &DowntimeEvidence,
    sets: &(impl weft_finality::Sets + ?Sized),
    chain: &ChainId,
    window: u64,
    min_signed_ppm: u32,
) -> Result<(VerifyingKey, u64, Vec<crate::verify::Attested>), VerifyError> {
    // Rule 1.
    if window == 0 || window > DOWNTIME_WINDOW_MAX {
        return Err(fault(
            1,
            format!("window {window}, not 1 to {DOWNTIME_WINDOW_MAX}"),
        ));
    }
    if evidence.blocks.len() as u64 != window || !evidence.first_height.is_multiple_of(window) {
        return Err(fault(
            1,
            format!(
                "{} blocks from height {}; the rule takes {window} from a multiple of {window}",
                evidence.blocks.len(),
                evidence.first_height
            ),
        ));
    }
    let key_bytes = weft_types::from_hex_fixed::<32>(&evidence.validator).map_err(|reason| {
        VerifyError::Malformed {
            what: "validator",
            reason,
        }
    })?;
    let first_epoch = sets.epoch_of(evidence.first_height).unwrap_or(0);
    let Some(validator) = sets
        .set_of(first_epoch)
        .ok_or(weft_finality::CertificateError::UnknownEpoch(first_epoch))?
        .iter()
        .find(|k| k.as_ref() == key_bytes.as_slice())
        .cloned()
    else {
        return Err(fault(
            4,
            format!("{} is not in the validator set", evidence.validator),
        ));
    };
    let mut signed = 0u64;
    let mut parent = None;
    let mut attested = Vec::with_capacity(evidence.blocks.len());
    for (i, block) in evidence.blocks.iter().enumerate() {
        let height = evidence.first_height + i as u64;
        // Rule 2.
        let header = Header::decode(unhex("header", &block.header)?).map_err(|e| {
            VerifyError::Malformed {
                what: "header",
                reason: e.to_string(),
            }
        })?;
        if header.height != height || parent.is_some_and(|p| header.parent != p) {
            return Err(fault(
                2,
                format!("the block at height {height} does not extend the window"),
            ));
        }
        let digest = header.digest();
        parent = Some(digest);
        // Rule 3.
        let (finality, signers) = weft_finality::certified_signers(
            &unhex("certificate", &block.certificate)?,
            sets,
            chain,
        )?;
        if finality.block != digest {
            return Err(fault(
                3,
                format!("the certificate at height {height} finalizes another block"),
            ));
        }
        // Rule 3: the header and its certificate are of the epoch the height lies in.
        if header.epoch != finality.epoch {
            return Err(fault(
                3,
                format!(
                    "the block at height {height} is of epoch {}, its certificate of {}",
                    header.epoch, finality.epoch
                ),
            ));
        }
        weft_finality::check_epoch(sets, height, finality.epoch)?;
        // Rule 4: a validator is answerable only for epochs it was a validator of.
        if !sets
            .set_of(finality.epoch)
            .is_some_and(|set| set.contains(&validator))
        {
            return Err(fault(
                4,
                format!(
                    "{} is not in the validator set of epoch {} (height {height})",
                    evidence.validator, finality.epoch
                ),
            ));
        }
        if signers.contains(&validator) {
            signed += 1;
        }
        let size = sets.set_of(finality.epoch).map_or(0, <[_]>::len);
        attested.push((signers, size));
    }
    // Rule 4.
    let needed = (u128::from(window) * u128::from(min_signed_ppm)).div_ceil(1_000_000) as u64;
    if signed >= needed {
        return Err(fault(
            4,
            format!(
                "{} signed {signed} of {window} certificates, the rule asks {needed}",
                evidence.validator
            ),
        ));
    }
    Ok((validator, signed, attested))
}
