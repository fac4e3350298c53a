//! Weft's finalized-chain store.
//!
//! Embedded ACID databases (redb, copy-on-write B-trees, fsync on every commit) hold, per
//! validator (see [`Store`] for why the acknowledgements have databases of their own):
//! - finalized blocks by height, their finalization certificates, and digest -> height;
//! - the transaction index: tx hash -> (height, index in block);
//! - the namespace index: (namespace, height) -> count, first index and byte span of the
//!   namespace's transactions in that block, so a namespace read decodes only its own bytes;
//! - the highest finalized nonce of every sender (replay protection);
//! - the durable pending log: transactions acknowledged to a client but not yet finalized;
//! - the pre-confirmation receipts this validator signed, written with the pending log in
//!   one transaction before any of them is released;
//! - per acknowledgement lane, a journal that makes each group of acknowledgements durable
//!   with one sequential write and one sync (see `journal`).
//!
//! A finalized block and all its index entries are written in one transaction, and the
//! consensus layer acknowledges a block to marshal only after that commit returns, so the
//! store is never behind what consensus considers processed. Commits are idempotent by
//! height: marshal may deliver a block twice after a restart.
//!
//! Production opens the store on a file. The simulator opens it on a runtime blob
//! ([`RuntimeBackend`]), so its storage fault injection (failed and torn writes, failed
//! syncs, unsynced data lost in a crash) reaches this store as it reaches the journals.
//!
//! Consensus' own state (votes, notarizations, marshal's archives) lives in Commonware's
//! journals, not here.

mod backend;
mod error;
mod journal;
mod store;

pub use backend::RuntimeBackend;
pub use error::StorageError;
pub use journal::{FileJournal, JOURNAL_CHECKPOINT_BYTES};
pub use store::{
    acks_journal_paths, acks_paths, AckLane, AdmissionFacts, NamespaceChunk, Store, TxLocation,
    ACK_CLEANUP_KEYS_MAX, ACK_LANES, DEFAULT_RECEIPT_RETENTION_HEIGHTS,
};
