//! The seams: the [`L1`] that settles batches, the rollup [`Program`] that checks them, and
//! the [`WeftData`] they are checked against.

use crate::{
    BatchHeader, Cursor, DataError, InboxMessage, Receipt, RollupStatus, Root, SettledBatch,
    SettlementError, SignedRegistration, Submission,
};

/// A rollup's proof program: derives the batch commitment from the Weft data and verifies
/// proofs. Both must be deterministic: the contract's verdict depends on them.
pub trait Program: Send + Sync {
    /// A stable identifier, recorded at registration (e.g. `"winterfell-0.13.1/token-v1"`).
    fn id(&self) -> &str;

    /// The commitment to a batch whose namespace transactions are `items`, in order (legs
    /// of reverted bundles already left out, contract rule 5b).
    fn commitment(
        &self,
        header: &BatchHeader,
        items: &[crate::NamespaceItem],
    ) -> Result<Root, String>;

    /// Checks that `proof` proves `old_root -> new_root` over the data bound by `commitment`.
    fn verify(
        &self,
        header: &BatchHeader,
        old_root: &Root,
        new_root: &Root,
        commitment: &Root,
        proof: &[u8],
    ) -> Result<(), String>;
}

/// Finalized Weft data, as the L1 sees it (in production a Weft light client; the embedded
/// L1 is handed a verified fetch).
pub trait WeftData: Send + Sync {
    /// `namespace`'s finalized transactions in `[start, end)`, in order: payloads, and
    /// which are bundle legs. `Err(DataError::NotFinalized { head })` if `end` is beyond
    /// finalized data.
    fn namespace_payloads(
        &self,
        namespace: u64,
        start: Cursor,
        end: Cursor,
    ) -> Result<Vec<crate::NamespaceItem>, DataError>;
}

/// Weft data for an L1 that settles no rollup (a staking-only deployment, or a test that
/// only stakes and slashes): every read is unavailable.
pub struct NoWeftData;

impl WeftData for NoWeftData {
    fn namespace_payloads(
        &self,
        _namespace: u64,
        _start: Cursor,
        _end: Cursor,
    ) -> Result<Vec<crate::NamespaceItem>, DataError> {
        Err(DataError::Unavailable("no rollups settle here".into()))
    }
}

/// What settles rollup batches: the embedded L1 now, a real chain's adapter later.
pub trait L1: Send + Sync {
    /// Registers a rollup with its genesis root, the cursor its first batch starts at and
    /// its submitter, if its owner signed the registration (auth rule A1). Registering
    /// again with identical parameters does nothing; different ones are an error.
    fn register_rollup(&self, registration: SignedRegistration) -> Result<(), SettlementError>;

    /// Submits a batch. `Err` for infrastructure failures and for a submission not signed
    /// by the rollup's submitter (auth rule A2), neither recorded: a batch the contract
    /// refuses is an `Ok` receipt with a rejected outcome, recorded on the chain.
    fn submit(&self, submission: Submission) -> Result<Receipt, SettlementError>;

    /// Every registered rollup, by id.
    fn status(&self) -> Result<Vec<RollupStatus>, SettlementError>;

    /// A settled batch, if `rollup` has settled `batch_index`.
    fn batch(&self, rollup: u64, batch_index: u64)
        -> Result<Option<SettledBatch>, SettlementError>;

    /// Appends a message to `rollup`'s inbox.
    fn inbox_send(&self, rollup: u64, payload: Vec<u8>) -> Result<InboxMessage, SettlementError>;

    /// Up to `limit` of `rollup`'s inbox messages from index `from` on (the L1 may cap
    /// `limit`).
    fn inbox(
        &self,
        rollup: u64,
        from: u64,
        limit: usize,
    ) -> Result<Vec<InboxMessage>, SettlementError>;

    /// The latest L1 block number.
    fn head(&self) -> Result<u64, SettlementError>;
}
