//! The rollup settlement contract: the rules a batch must pass to settle.
//!
//! # Rules
//! A [`Submission`] for rollup `r` settles only if, checked in this order (the cheap checks
//! come before the data fetch and the proof verification):
//! 1. `r` is registered and a [`Program`] is configured for it (`UnknownRollup`), with the id
//!    `r` registered with (`ProgramMismatch`).
//! 2. `batch_index` is the next expected index, the number of batches settled so far. A
//!    lower index is `AlreadySettled`: a settled batch is never replaced. A higher one is
//!    `OutOfOrder`.
//! 3. `start` is the previous batch's `end`, or the registered start cursor for the first
//!    batch (`NonContiguous`); `end > start` (`EmptyBatch`); `end.height - start.height <=
//!    batch_heights_max` (`TooLarge`); the proof is at most `proof_bytes_max` bytes
//!    (`ProofTooLarge`).
//! 4. `old_root` is the rollup's settled root: the last batch's `new_root`, or the genesis
//!    root (`OldRootMismatch`).
//! 5. The batch matches finalized Weft data: the payloads of namespace `r` in
//!    `[start, end)` are finalized (`NotFinalized`) and the program's commitment to them is
//!    `commitment` (`CommitmentFailed`, `CommitmentMismatch`).
//!
//!    Rule 5b, bundles: `bundle_outcomes` lists, sorted and once each, exactly the bundles
//!    with a leg among those transactions (`BundleOutcomesMismatch`); none contradicts the
//!    outcome another rollup's settled batch gave the same bundle (`BundleOutcomeConflict`:
//!    one rollup cannot execute a bundle another reverted). A leg of a reverted bundle is
//!    left out of the data the commitment is derived from (it changed nothing); a leg of an
//!    executed one stays in. The outcomes are the submitter's claim, checked only against
//!    other rollups' settled claims: no proof covers another rollup's execution yet
//!    (`docs/bundles.md`, gaps).
//! 6. The program verifies the proof of `old_root -> new_root` over `commitment`
//!    (`InvalidProof`).
//! 7. Then the batch is recorded, the settled root becomes `new_root` and the next start
//!    `end`: all in one write transaction together with the L1 block that includes it (see
//!    [`EmbeddedL1`](crate::EmbeddedL1)). A refused submission is recorded in its block too,
//!    but changes no contract state.
//!
//! Before any of these, the submission must be signed by the rollup's registered submitter
//! ([auth](crate::auth) rule A2): an unsigned one is answered with an error and not recorded.
//! Rules 5 and 6 (the expensive ones) run outside the L1's write lock; rules 1 to 4 and the
//! cross-rollup part of 5b are checked again under it, against the state the batch would
//! settle on.

use crate::{Config, Cursor, DataError, Hash, Program, Reject, Root, Submission, WeftData};
use serde::{Deserialize, Serialize};

/// A registered rollup's contract storage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RollupState {
    pub rollup: u64,
    pub program: String,
    pub submitter: crate::auth::PublicKey,
    pub genesis_root: Root,
    pub start: Cursor,
    pub settled_batches: u64,
    pub root: Root,
    pub next_start: Cursor,
    pub inbox_messages: u64,
}

impl RollupState {
    pub fn new(
        rollup: u64,
        program: String,
        submitter: crate::auth::PublicKey,
        genesis_root: Root,
        start: Cursor,
    ) -> Self {
        Self {
            rollup,
            program,
            submitter,
            genesis_root,
            start,
            settled_batches: 0,
            root: genesis_root,
            next_start: start,
            inbox_messages: 0,
        }
    }

    /// Rule 7: the state after settling `sub`, which passed [`check`].
    pub fn settle(&mut self, sub: &Submission) {
        // Re-asserted here, in release builds too: settling anything but the next contiguous
        // batch on the settled root would fork the rollup's history.
        assert_eq!(
            sub.header.rollup, self.rollup,
            "settling another rollup's batch"
        );
        assert_eq!(
            sub.header.batch_index, self.settled_batches,
            "settling batch out of order"
        );
        assert_eq!(
            sub.header.start, self.next_start,
            "settling non-contiguous batch"
        );
        assert_eq!(sub.old_root, self.root, "settling on a stale root");
        assert!(sub.header.end > sub.header.start, "settling empty batch");
        self.settled_batches += 1;
        self.root = sub.new_root;
        self.next_start = sub.header.end;
    }
}

/// Why [`check`] did not pass a submission.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The contract's verdict: recorded on the chain.
    Contract(Reject),
    /// The data source failed: no verdict, nothing recorded.
    Unavailable(DataError),
}

impl From<Reject> for Refused {
    fn from(r: Reject) -> Self {
        Refused::Contract(r)
    }
}

/// What the contract remembers of a settled bundle: the rollup that settled it first and
/// whether it executed.
pub(crate) type SettledOutcome<'a> = &'a dyn Fn(&Hash) -> Option<(u64, bool)>;

/// Rules 1 to 4: everything decided from the submission and the contract's state alone.
pub(crate) fn check_cheap<'a>(
    cfg: &Config,
    state: Option<&'a RollupState>,
    program: Option<&'a dyn Program>,
    sub: &Submission,
) -> Result<(&'a RollupState, &'a dyn Program), Reject> {
    let header = &sub.header;
    // Rule 1.
    let (Some(state), Some(program)) = (state, program) else {
        return Err(Reject::UnknownRollup {
            rollup: header.rollup,
        });
    };
    if program.id() != state.program {
        return Err(Reject::ProgramMismatch {
            rollup: header.rollup,
            registered: state.program.clone(),
            configured: program.id().to_string(),
        });
    }
    // Rule 2.
    if header.batch_index < state.settled_batches {
        return Err(Reject::AlreadySettled {
            rollup: header.rollup,
            batch_index: header.batch_index,
        });
    }
    if header.batch_index > state.settled_batches {
        return Err(Reject::OutOfOrder {
            expected: state.settled_batches,
            got: header.batch_index,
        });
    }
    // Rule 3.
    if header.start != state.next_start {
        return Err(Reject::NonContiguous {
            expected: state.next_start,
            got: header.start,
        });
    }
    if header.end <= header.start {
        return Err(Reject::EmptyBatch {
            start: header.start,
            end: header.end,
        });
    }
    // `end > start` implies `end.height >= start.height`: no underflow.
    let heights = header.end.height - header.start.height;
    if heights > cfg.batch_heights_max {
        return Err(Reject::TooLarge {
            heights,
            heights_max: cfg.batch_heights_max,
        });
    }
    if sub.proof.len() > cfg.proof_bytes_max {
        return Err(Reject::ProofTooLarge {
            bytes: sub.proof.len() as u64,
            bytes_max: cfg.proof_bytes_max as u64,
        });
    }
    // Rule 4.
    if sub.old_root != state.root {
        return Err(Reject::OldRootMismatch {
            expected: state.root,
            got: sub.old_root,
        });
    }
    Ok((state, program))
}

/// Rules 5, 5b (but the cross-rollup part, [`check_conflicts`]) and 6: the data fetch and
/// the proof verification. Depends on the rollup's id and program, not on its settled
/// state, so the L1 runs it before taking its write lock.
pub(crate) fn check_data(
    state: &RollupState,
    program: &dyn Program,
    weft: &dyn WeftData,
    sub: &Submission,
) -> Result<(), Refused> {
    let header = &sub.header;
    // Rule 5.
    let items = match weft.namespace_payloads(state.rollup, header.start, header.end) {
        Ok(items) => items,
        Err(DataError::NotFinalized { head }) => {
            return Err(Reject::NotFinalized {
                end: header.end,
                head,
            }
            .into())
        }
        Err(e @ DataError::Unavailable(_)) => return Err(Refused::Unavailable(e)),
    };
    // Rule 5b.
    let outcomes = &sub.bundle_outcomes;
    let mismatch = |reason: String| Reject::BundleOutcomesMismatch { reason };
    if outcomes.windows(2).any(|w| w[0].bundle >= w[1].bundle) {
        return Err(mismatch("outcomes are not sorted by bundle, once each".into()).into());
    }
    let mut legs: Vec<Hash> = items.iter().filter_map(|i| i.bundle).collect();
    legs.sort_unstable();
    legs.dedup();
    let listed: Vec<Hash> = outcomes.iter().map(|o| o.bundle).collect();
    if legs != listed {
        return Err(mismatch(format!(
            "the batch holds legs of {} bundles, the submission gives {} outcomes",
            legs.len(),
            listed.len()
        ))
        .into());
    }
    let executed = |b: &Hash| {
        outcomes
            .binary_search_by(|o| o.bundle.cmp(b))
            .map(|i| outcomes[i].executed)
            .unwrap_or(false)
    };
    let payloads: Vec<crate::NamespaceItem> = items
        .into_iter()
        .filter(|i| i.bundle.as_ref().is_none_or(executed))
        .collect();
    let expected = isolated(|| program.commitment(header, &payloads))
        .map_err(|reason| Reject::CommitmentFailed { reason })?;
    if expected != sub.commitment {
        return Err(Reject::CommitmentMismatch {
            expected,
            got: sub.commitment,
        }
        .into());
    }
    // Rule 6.
    isolated(|| {
        program.verify(
            header,
            &sub.old_root,
            &sub.new_root,
            &sub.commitment,
            &sub.proof,
        )
    })
    .map_err(|reason| Reject::InvalidProof { reason })?;
    Ok(())
}

/// Runs a [`Program`] call so that a panic in it (a proof library asserting on bytes it did
/// not validate) is a refusal of the submission, not a crash of the L1. No lock is held
/// while programs run, so nothing is left poisoned.
fn isolated<T>(call: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(format!("the program panicked on this submission: {what}"))
    })
}

/// Rule 5b, across rollups: no outcome in `sub` contradicts the one another rollup's settled
/// batch gave the same bundle. Checked under the L1's write lock, against the outcomes
/// settled by then.
pub(crate) fn check_conflicts(
    rollup: u64,
    settled: SettledOutcome<'_>,
    sub: &Submission,
) -> Result<(), Reject> {
    for o in &sub.bundle_outcomes {
        if let Some((other, executed)) = settled(&o.bundle) {
            if other != rollup && executed != o.executed {
                return Err(Reject::BundleOutcomeConflict {
                    bundle: o.bundle,
                    claimed: o.executed,
                    rollup: other,
                    settled: executed,
                });
            }
        }
    }
    Ok(())
}
