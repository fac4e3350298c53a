//! Settlement errors.
//!
//! These are infrastructure and caller errors. A submission the contract refuses is not an
//! error: it is a [`Reject`](crate::Reject) inside an `Ok` receipt, recorded on the chain.

use crate::Cursor;
use thiserror::Error;

/// Why an [`L1`](crate::L1) call failed.
#[derive(Debug, Error)]
pub enum SettlementError {
    /// The database reported an error (I/O, corruption, ...).
    #[error("database: {0}")]
    Database(#[from] redb::Error),
    /// Stored bytes failed to decode: the store is corrupt or from an incompatible version.
    #[error("corrupt {what} at {key}: {reason}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// Its key.
        key: String,
        /// Decoder's reason.
        reason: String,
    },
    /// The configuration is invalid.
    #[error("invalid settlement config: {0}")]
    Config(String),
    /// No proof program is configured for the rollup.
    #[error("no proof program is configured for rollup {rollup}")]
    NoProgram {
        /// Rollup id.
        rollup: u64,
    },
    /// The rollup is already registered with different parameters.
    #[error("rollup {rollup} is already registered with a different {field}")]
    RegistrationConflict {
        /// Rollup id.
        rollup: u64,
        /// The parameter that differs (`"program"`, `"genesis_root"`, `"start"` or
        /// `"submitter"`).
        field: &'static str,
    },
    /// The call is not signed by the key allowed to make it (auth rules A1, A2); nothing
    /// was recorded.
    #[error("rollup {rollup}: {reason}")]
    Unauthorized {
        /// Rollup id.
        rollup: u64,
        /// Which key was expected.
        reason: String,
    },
    /// This signed submission was recorded before (a replay); nothing was done again.
    #[error("this submission was recorded in L1 block {l1_block} already")]
    Duplicate {
        /// The block that recorded it.
        l1_block: u64,
    },
    /// A registration names another proof program than the one the L1 runs for the rollup,
    /// or a submitter that is not an ed25519 key.
    #[error("rollup {rollup}: {reason}")]
    BadRegistration {
        /// Rollup id.
        rollup: u64,
        /// What is wrong.
        reason: String,
    },
    /// A staking call or slash was refused ([`crate::staking`] rules); nothing recorded.
    #[error(transparent)]
    Stake(#[from] crate::staking::StakeError),
    /// Too many calls of this kind in the current second; nothing was recorded.
    #[error(
        "the L1 takes at most {per_second_max} {what} per second; retry in {retry_after_ms} ms"
    )]
    Busy {
        /// The kind of call.
        what: &'static str,
        /// The bound.
        per_second_max: u32,
        /// When the next second starts, in milliseconds.
        retry_after_ms: u64,
    },
    /// The rollup is not registered.
    #[error("rollup {rollup} is not registered")]
    UnknownRollup {
        /// Rollup id.
        rollup: u64,
    },
    /// An inbox payload is larger than allowed.
    #[error("inbox payload is {bytes} bytes, more than {bytes_max}")]
    PayloadTooLarge {
        /// Payload size, in bytes.
        bytes: usize,
        /// The bound, in bytes.
        bytes_max: usize,
    },
    /// The Weft data source failed (not a verdict on the batch; nothing was recorded).
    #[error("weft data for rollup {rollup} up to {end}: {source}")]
    Data {
        /// Rollup id.
        rollup: u64,
        /// End cursor requested.
        end: Cursor,
        /// The source's error.
        source: DataError,
    },
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for SettlementError {
            fn from(e: $t) -> Self { SettlementError::Database(e.into()) }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Why a [`WeftData`](crate::WeftData) fetch failed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DataError {
    /// The range ends beyond finalized Weft data. A verdict: the contract rejects the batch.
    #[error("range ends beyond finalized data (finalized head {head:?})")]
    NotFinalized {
        /// Finalized Weft height, if any block is finalized.
        head: Option<u64>,
    },
    /// The data could not be fetched (I/O, a light client behind, ...). Not a verdict on the
    /// batch: the submission fails without being recorded and may be retried.
    #[error("weft data unavailable: {0}")]
    Unavailable(String),
}
