//! Storage errors.

use thiserror::Error;

/// Why a storage operation failed.
#[derive(Debug, Error)]
pub enum StorageError {
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
    /// An acknowledgement journal could not be read or written (see `journal`).
    #[error("acknowledgement journal of the {lane:?} lane: {source}")]
    Journal {
        /// The lane.
        lane: crate::AckLane,
        /// What failed.
        source: std::io::Error,
    },
    /// A block was committed out of order.
    #[error("non-contiguous commit: head is {head:?}, block height is {height}")]
    NonContiguous {
        /// Current head height.
        head: Option<u64>,
        /// Height offered.
        height: u64,
    },
    /// The block at this height differs from the one already stored: a safety violation.
    #[error("conflicting block at height {height}: stored {stored}, offered {offered}")]
    Conflict {
        /// Height.
        height: u64,
        /// Digest already stored.
        stored: String,
        /// Digest offered.
        offered: String,
    },
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StorageError {
            fn from(e: $t) -> Self { StorageError::Database(e.into()) }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);
