//! The redb-backed store.

use crate::journal::{FileJournal, Journal, JOURNAL_CHECKPOINT_BYTES};
use crate::{RuntimeBackend, StorageError};
use commonware_codec::Encode;
use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tracing::warn;
use weft_types::{
    Block, BlockDigest, Digest, Header, Limits, NamespaceId, Receipt, Transaction, TxHash,
};

const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const CERTIFICATES: TableDefinition<u64, &[u8]> = TableDefinition::new("certificates");
/// Conflicting votes consensus reported (double-signing evidence), in arrival order.
const CONFLICTS: TableDefinition<u64, &[u8]> = TableDefinition::new("conflicts");

/// Most conflicts kept: evidence of a few validators' faults, not a log to grow forever.
pub const CONFLICTS_MAX: u64 = 4_096;
/// Largest conflict evidence kept, in bytes (two votes).
pub const CONFLICT_BYTES_MAX: usize = 4_096;
const FINALIZED_AT: TableDefinition<u64, u64> = TableDefinition::new("finalized_at_ms");
const DIGESTS: TableDefinition<&[u8; 32], u64> = TableDefinition::new("digest_to_height");
const TXS: TableDefinition<&[u8; 32], (u64, u32)> = TableDefinition::new("tx_index");
/// (namespace, height) -> (count, first index in block order, byte start, byte end) of the
/// namespace's transaction list inside the stored block: a namespace read decodes only its
/// own bytes. (The v1 table held only the count; v2 is rebuilt from blocks on open.)
const NAMESPACES: TableDefinition<(u64, u64), (u32, u32, u32, u32)> =
    TableDefinition::new("namespace_index_v2");
const NONCES: TableDefinition<&[u8; 32], u64> = TableDefinition::new("sender_nonce");

// The acknowledgement database (its own file, so acknowledging never waits on a block's
// commit; see [`Store`]). The chain database held these tables before; they move at open.
/// tx hash -> an acknowledged, not yet finalized transaction (the durable pending log).
const PENDING: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("pending");
/// tx hash -> the pre-confirmation receipt this validator signed for it. Kept after
/// finalization: it is what the validator promised, and what it answers for; pruned once its
/// deadline is the retention behind the head.
const RECEIPTS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("receipts");
/// (deadline height, tx hash) of every stored receipt: receipts are pruned in deadline
/// order once their deadline is `receipt_retention_heights` behind the head.
const RECEIPT_DEADLINES: TableDefinition<(u64, &[u8; 32]), ()> =
    TableDefinition::new("receipt_deadlines");

/// Default heights a receipt is kept after its deadline (and so served by
/// `weft_getPreconfirmation`). Until its deadline a receipt is owed and never pruned.
pub const DEFAULT_RECEIPT_RETENTION_HEIGHTS: u64 = 100_000;

/// Most keys one cleanup transaction on the acknowledgement database removes (finalized or
/// evicted pending entries, pruned receipts): the group commit that acknowledges waits on
/// redb's write lock for at most one such transaction, never for a whole block's cleanup.
pub const ACK_CLEANUP_KEYS_MAX: usize = 1_024;

/// An acknowledgement database: each has its own file and its own writer, so a lone
/// submission's durable write never queues behind a bulk batch's (redb has one writer per
/// database).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckLane {
    /// Batches of submissions.
    Bulk = 0,
    /// Submissions of a few transactions (a market maker's single orders).
    Express = 1,
}

/// The acknowledgement lanes, in the order their databases are opened.
pub const ACK_LANES: [AckLane; 2] = [AckLane::Bulk, AckLane::Express];

/// The files of the acknowledgement databases for a chain database at `chain`, in
/// [`ACK_LANES`] order: beside it, `<stem>.acks.redb` and `<stem>.acks-express.redb`
/// (`chain.redb` -> `chain.acks.redb`, `chain.acks-express.redb`).
pub fn acks_paths(chain: &Path) -> [PathBuf; 2] {
    [
        chain.with_extension("acks.redb"),
        chain.with_extension("acks-express.redb"),
    ]
}

/// The journals of the acknowledgement databases for a chain database at `chain`, in
/// [`ACK_LANES`] order (`chain.redb` -> `chain.acks.journal`, `chain.acks-express.journal`;
/// see `journal`).
pub fn acks_journal_paths(chain: &Path) -> [PathBuf; 2] {
    [
        chain.with_extension("acks.journal"),
        chain.with_extension("acks-express.journal"),
    ]
}

/// The deadline height of an encoded receipt, read in place (`weft_types::receipt`'s fixed
/// layout), or `None` if the bytes are not a receipt's size.
fn receipt_deadline(bytes: &[u8]) -> Option<u64> {
    const AT: usize = weft_types::receipt::DEADLINE_OFFSET;
    if bytes.len() != weft_types::RECEIPT_BYTES {
        return None;
    }
    Some(u64::from_be_bytes(
        bytes[AT..AT + 8].try_into().expect("8 bytes"),
    ))
}

/// A key of the receipt deadline index: deadline height, then transaction hash.
pub type ReceiptKey = (u64, [u8; 32]);

/// The index key right after `(deadline, hash)`.
fn next_key(deadline: u64, hash: [u8; 32]) -> ReceiptKey {
    let mut next = hash;
    for byte in next.iter_mut().rev() {
        if *byte == u8::MAX {
            *byte = 0;
        } else {
            *byte += 1;
            return (deadline, next);
        }
    }
    (deadline.saturating_add(1), next)
}

/// Finalized-chain facts read ahead of admission, so no mempool lock is held across disk I/O.
#[derive(Clone, Debug, Default)]
pub struct AdmissionFacts {
    /// The store head when the facts were read; the facts are at least this fresh.
    pub head: Option<u64>,
    /// Finalized height of each hash asked for that is finalized.
    pub finalized: std::collections::HashMap<TxHash, u64>,
    /// Finalized nonce of each sender asked for that has one.
    pub nonces: std::collections::HashMap<[u8; 32], u64>,
}

/// One namespace's transactions in one finalized block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceChunk {
    /// Block height.
    pub height: u64,
    /// Block-order index of the first transaction.
    pub first_index: u32,
    /// The namespace's transactions, in block order.
    pub txs: Vec<Transaction>,
}

/// redb's page cache for a store on a runtime blob: simulated stores are in memory already,
/// and a simulation runs up to ten of them in one process.
const SIMULATED_CACHE_BYTES: usize = 16 << 20;

/// Sentinel for "no block stored yet" in the cached head.
const NO_HEAD: u64 = u64::MAX;

/// Where a finalized transaction sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxLocation {
    /// Block height.
    pub height: u64,
    /// Position in the block's transaction order.
    pub index: u32,
}

/// The finalized-chain store. Cheap to share behind an `Arc`; readers never block a writer.
///
/// Three redb databases, because redb has one writer at a time per database:
/// - the chain database: blocks, certificates and the indexes, written once per finalized
///   block (tens of thousands of entries in one fsynced commit);
/// - two acknowledgement databases, one per [`AckLane`]: the pending log and the receipts,
///   written by the group commits that acknowledge submissions, bulk and express.
///
/// An acknowledgement therefore never waits behind a block's commit, and a lone submission
/// never behind a bulk batch. An acknowledgement database is made durable by its lane's
/// journal, not by its own commits (see `journal`): a group is appended to the journal and
/// synced, then applied to the database in a commit that does not fsync; a checkpoint (a
/// durable commit) empties the journal, and at open whatever the journal holds is applied
/// again. Cleanup of the acknowledgement databases (finalized and
/// evicted pending entries, expired receipts) looks up what is there in a read transaction
/// and removes it
/// in transactions of at most [`ACK_CLEANUP_KEYS_MAX`] keys that do not fsync: losing one in
/// a crash loses nothing acknowledged. A pending entry that outlives its transaction's
/// finalization is dropped at the next start (the node re-admits the pending log, and a
/// finalized transaction is refused), and pruning resumes from the deadline index.
pub struct Store {
    db: Database,
    /// One per lane, in [`ACK_LANES`] order.
    acks: [Database; 2],
    /// Each lane's journal, in [`ACK_LANES`] order: its lock is held from a group's append
    /// to its apply, so the database takes groups in journal order.
    journals: [Mutex<Journal>; 2],
    limits: Limits,
    head: AtomicU64,
    /// Wakes readers (e.g. namespace subscriptions) when a block is committed. A tokio `watch`
    /// is runtime-agnostic: sending needs no runtime.
    head_watch: tokio::sync::watch::Sender<Option<u64>>,
    /// Heights a receipt is kept past its deadline.
    receipt_retention_heights: u64,
}

impl Drop for Store {
    /// A clean stop checkpoints both lanes, so the next open has no journal to replay.
    fn drop(&mut self) {
        for lane in ACK_LANES {
            if let Err(e) = self.checkpoint(lane) {
                warn!(target: "weft::storage", ?lane, error = %e, "checkpoint at close failed: the journal is applied at the next open");
            }
        }
    }
}

/// Inserts acknowledged transactions and their receipts into an acknowledgement database's
/// tables (idempotent: journal rule 3).
fn insert_acks(
    txn: &redb::WriteTransaction,
    txs: &[Transaction],
    receipts: &[Receipt],
) -> Result<(), StorageError> {
    let mut pending = txn.open_table(PENDING)?;
    for tx in txs {
        pending.insert(tx.hash().as_bytes(), tx.encode().as_ref())?;
    }
    let mut signed = txn.open_table(RECEIPTS)?;
    let mut deadlines = txn.open_table(RECEIPT_DEADLINES)?;
    for r in receipts {
        signed.insert(r.promise.tx.as_bytes(), r.encode().as_ref())?;
        deadlines.insert((r.promise.deadline_height, r.promise.tx.as_bytes()), ())?;
    }
    Ok(())
}

impl Store {
    /// Opens (or creates) the store at `path`, with its acknowledgement databases at
    /// [`acks_paths`]`(path)`.
    pub fn open(path: impl AsRef<Path>, limits: Limits) -> Result<Self, StorageError> {
        let path = path.as_ref();
        let [bulk, express] = acks_paths(path);
        let journals = acks_journal_paths(path);
        let journal = |lane: AckLane| -> Result<Box<dyn redb::StorageBackend>, StorageError> {
            let file = FileJournal::open(&journals[lane as usize])
                .map_err(|source| StorageError::Journal { lane, source })?;
            Ok(Box::new(file))
        };
        Self::with_databases(
            Database::create(path)?,
            [Database::create(bulk)?, Database::create(express)?],
            [journal(AckLane::Bulk)?, journal(AckLane::Express)?],
            limits,
        )
    }

    /// Opens (or creates) the store on runtime blobs (the chain's, then one per lane in
    /// [`ACK_LANES`] order, then each lane's journal in that order) with the lengths the
    /// runtime opened them at: the deterministic simulator's storage, with its fault
    /// injection (see [`RuntimeBackend`] for when this is sound).
    pub fn open_on<B: commonware_runtime::Blob>(
        chain: (B, u64),
        acks: [(B, u64); 2],
        journals: [(B, u64); 2],
        limits: Limits,
    ) -> Result<Self, StorageError> {
        Self::open_with_backend(
            RuntimeBackend::new(chain.0, chain.1),
            acks.map(|(blob, len)| RuntimeBackend::new(blob, len)),
            journals.map(|(blob, len)| RuntimeBackend::new(blob, len)),
            limits,
        )
    }

    /// Opens (or creates) the store on any redb storage backends: the chain database's, then
    /// one per lane in [`ACK_LANES`] order, then each lane's journal in that order (the
    /// simulator layers its per-validator disk faults over [`RuntimeBackend`]s this way).
    pub fn open_with_backend<
        C: redb::StorageBackend,
        A: redb::StorageBackend,
        J: redb::StorageBackend,
    >(
        chain: C,
        acks: [A; 2],
        journals: [J; 2],
        limits: Limits,
    ) -> Result<Self, StorageError> {
        fn open(backend: impl redb::StorageBackend) -> Result<Database, redb::DatabaseError> {
            redb::Builder::new()
                .set_cache_size(SIMULATED_CACHE_BYTES)
                .create_with_backend(backend)
        }
        let [bulk, express] = acks;
        let journals = journals.map(|j| Box::new(j) as Box<dyn redb::StorageBackend>);
        Self::with_databases(
            open(chain)?,
            [open(bulk)?, open(express)?],
            journals,
            limits,
        )
    }

    fn with_databases(
        db: Database,
        acks: [Database; 2],
        journals: [Box<dyn redb::StorageBackend>; 2],
        limits: Limits,
    ) -> Result<Self, StorageError> {
        // Create every table so readers never see "table does not exist".
        let txn = db.begin_write()?;
        {
            txn.open_table(BLOCKS)?;
            txn.open_table(CERTIFICATES)?;
            txn.open_table(CONFLICTS)?;
            txn.open_table(FINALIZED_AT)?;
            txn.open_table(DIGESTS)?;
            txn.open_table(TXS)?;
            txn.open_table(NAMESPACES)?;
            txn.open_table(NONCES)?;
        }
        txn.commit()?;
        for lane in &acks {
            let txn = lane.begin_write()?;
            {
                txn.open_table(PENDING)?;
                txn.open_table(RECEIPTS)?;
                txn.open_table(RECEIPT_DEADLINES)?;
            }
            txn.commit()?;
        }
        let head = {
            let txn = db.begin_read()?;
            let blocks = txn.open_table(BLOCKS)?;
            let last = blocks.last()?.map(|(k, _)| k.value());
            last.unwrap_or(NO_HEAD)
        };
        let initial = (head != NO_HEAD).then_some(head);
        let [bulk_journal, express_journal] = journals;
        let open_journal = |lane: AckLane, backend| {
            Journal::open(backend, &limits).map_err(|source| StorageError::Journal { lane, source })
        };
        let (bulk_journal, bulk_replay) = open_journal(AckLane::Bulk, bulk_journal)?;
        let (express_journal, express_replay) = open_journal(AckLane::Express, express_journal)?;
        let store = Self {
            db,
            acks,
            journals: [Mutex::new(bulk_journal), Mutex::new(express_journal)],
            limits,
            head: AtomicU64::new(head),
            head_watch: tokio::sync::watch::Sender::new(initial),
            receipt_retention_heights: DEFAULT_RECEIPT_RETENTION_HEIGHTS,
        };
        store.rebuild_namespace_index()?;
        store.move_acks_out_of_chain()?;
        store.rebuild_receipt_deadlines()?;
        store.replay_journal(AckLane::Bulk, bulk_replay)?;
        store.replay_journal(AckLane::Express, express_replay)?;
        Ok(store)
    }

    /// Applies what `lane`'s journal held at open to its database in one durable commit, then
    /// empties the journal (journal rules 2 and 3).
    fn replay_journal(
        &self,
        lane: AckLane,
        replay: crate::journal::Replay,
    ) -> Result<(), StorageError> {
        if replay.torn_bytes > 0 {
            warn!(target: "weft::storage", ?lane, bytes = replay.torn_bytes, "dropped a torn record at the end of the acknowledgement journal (written, never acknowledged)");
        }
        let mut journal = self.journals[lane as usize].lock().expect("journal lock");
        if journal.len() == 0 && replay.torn_bytes == 0 {
            return Ok(());
        }
        let txn = self.ack(lane).begin_write()?;
        for (txs, receipts) in &replay.groups {
            // A transaction finalized since it was logged stays out of the pending log (its
            // cleanup did not fsync); its receipt stays, as for any finalized transaction.
            let hashes: Vec<TxHash> = txs.iter().map(|t| t.hash()).collect();
            let finalized = self.finalized_among(&hashes)?;
            let pending: Vec<Transaction> = txs
                .iter()
                .zip(finalized)
                .filter(|(_, f)| !f)
                .map(|(t, _)| t.clone())
                .collect();
            insert_acks(&txn, &pending, receipts)?;
        }
        txn.commit()?;
        journal
            .reset()
            .map_err(|source| StorageError::Journal { lane, source })
    }

    /// Makes `lane`'s database durable and empties its journal (journal rule 4). Also run
    /// by tests and at a clean stop, so the next open has nothing to replay.
    pub fn checkpoint(&self, lane: AckLane) -> Result<(), StorageError> {
        let mut journal = self.journals[lane as usize].lock().expect("journal lock");
        self.checkpoint_locked(lane, &mut journal)
    }

    fn checkpoint_locked(&self, lane: AckLane, journal: &mut Journal) -> Result<(), StorageError> {
        // An empty commit at the default (immediate) durability makes every commit before it
        // durable.
        self.ack(lane).begin_write()?.commit()?;
        journal
            .reset()
            .map_err(|source| StorageError::Journal { lane, source })
    }

    /// Moves the pending log and receipts of a store written when they lived in the chain
    /// database into the acknowledgement database: copied there in one fsynced commit, then
    /// deleted from the chain database. A crash between the two copies them again (the
    /// inserts are idempotent), so nothing acknowledged is lost.
    fn move_acks_out_of_chain(&self) -> Result<(), StorageError> {
        let names = [PENDING.name(), RECEIPTS.name(), RECEIPT_DEADLINES.name()];
        let present: Vec<String> = {
            let txn = self.db.begin_read()?;
            let tables: Vec<String> = txn
                .list_tables()?
                .map(|t| t.name().to_string())
                .filter(|n| names.contains(&n.as_str()))
                .collect();
            tables
        };
        if present.is_empty() {
            return Ok(());
        }
        {
            let from = self.db.begin_read()?;
            let to = self.ack(AckLane::Bulk).begin_write()?;
            for (table, name) in [(PENDING, PENDING.name()), (RECEIPTS, RECEIPTS.name())] {
                if !present.iter().any(|n| n == name) {
                    continue;
                }
                let old = from.open_table(table)?;
                let mut new = to.open_table(table)?;
                for entry in old.iter()? {
                    let (k, v) = entry?;
                    new.insert(k.value(), v.value())?;
                }
            }
            if present.iter().any(|n| n == RECEIPT_DEADLINES.name()) {
                let old = from.open_table(RECEIPT_DEADLINES)?;
                let mut new = to.open_table(RECEIPT_DEADLINES)?;
                for entry in old.iter()? {
                    let (k, _) = entry?;
                    new.insert(k.value(), ())?;
                }
            }
            to.commit()?;
        }
        let txn = self.db.begin_write()?;
        txn.delete_table(PENDING)?;
        txn.delete_table(RECEIPTS)?;
        txn.delete_table(RECEIPT_DEADLINES)?;
        txn.commit()?;
        Ok(())
    }

    /// Keeps receipts `heights` past their deadline (default
    /// [`DEFAULT_RECEIPT_RETENTION_HEIGHTS`]); older ones are pruned as blocks commit.
    pub fn retaining_receipts(mut self, heights: u64) -> Self {
        self.receipt_retention_heights = heights;
        self
    }

    /// Indexes receipts by deadline if the index is empty while receipts exist (a store
    /// written before receipts were pruned).
    fn rebuild_receipt_deadlines(&self) -> Result<(), StorageError> {
        for lane in &self.acks {
            let txn = lane.begin_write()?;
            {
                let receipts = txn.open_table(RECEIPTS)?;
                let mut deadlines = txn.open_table(RECEIPT_DEADLINES)?;
                if receipts.is_empty()? || !deadlines.is_empty()? {
                    continue;
                }
                for entry in receipts.iter()? {
                    let (k, v) = entry?;
                    // A damaged entry is indexed at deadline 0 (pruned first), never fatal.
                    let deadline = receipt_deadline(v.value()).unwrap_or(0);
                    deadlines.insert((deadline, k.value()), ())?;
                }
            }
            txn.commit()?;
        }
        Ok(())
    }

    fn ack(&self, lane: AckLane) -> &Database {
        &self.acks[lane as usize]
    }

    /// Builds the namespace index from the stored blocks if it is empty while blocks exist
    /// (a store written before the index had byte spans).
    fn rebuild_namespace_index(&self) -> Result<(), StorageError> {
        let Some(head) = self.head_height() else {
            return Ok(());
        };
        {
            let txn = self.db.begin_read()?;
            if !txn.open_table(NAMESPACES)?.is_empty()? {
                return Ok(());
            }
        }
        let txn = self.db.begin_write()?;
        {
            let mut namespaces = txn.open_table(NAMESPACES)?;
            for height in 0..=head {
                let Some(block) = self.block(height)? else {
                    continue;
                };
                for span in block.namespace_spans() {
                    namespaces.insert(
                        (span.namespace.0, height),
                        (span.count, span.first_index, span.start, span.end),
                    )?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// The wire limits blocks were stored under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A receiver that sees every new finalized head height.
    pub fn subscribe_head(&self) -> tokio::sync::watch::Receiver<Option<u64>> {
        self.head_watch.subscribe()
    }

    /// Height of the highest finalized block stored, if any.
    pub fn head_height(&self) -> Option<u64> {
        match self.head.load(Ordering::Acquire) {
            NO_HEAD => None,
            h => Some(h),
        }
    }

    /// Persists a finalized block, its certificate, the local time it was finalized
    /// (`finalized_at_ms`, from the caller's clock) and all index entries in one fsynced
    /// transaction; then removes its transactions from the pending log and prunes expired
    /// receipts, in small cleanup transactions (see [`Store`]). Idempotent: a block already
    /// stored at its height is accepted again if identical. Returns `true` if the block was
    /// new.
    pub fn commit_finalized(
        &self,
        block: &Block,
        certificate: &[u8],
        finalized_at_ms: u64,
    ) -> Result<bool, StorageError> {
        let height = block.height();
        let head = self.head_height();
        if let Some(h) = head {
            if height <= h {
                let stored = self.header(height)?.map(|hd| hd.digest());
                return match stored {
                    Some(d) if d == block.digest() => Ok(false),
                    Some(d) => Err(StorageError::Conflict {
                        height,
                        stored: d.to_string(),
                        offered: block.digest().to_string(),
                    }),
                    None => Err(StorageError::NonContiguous { head, height }),
                };
            }
        }
        let expected = head.map_or(0, |h| h + 1);
        if height != expected {
            return Err(StorageError::NonContiguous { head, height });
        }
        let txn = self.db.begin_write()?;
        {
            let mut blocks = txn.open_table(BLOCKS)?;
            blocks.insert(height, block.encode().as_ref())?;
            let mut certs = txn.open_table(CERTIFICATES)?;
            certs.insert(height, certificate)?;
            txn.open_table(FINALIZED_AT)?
                .insert(height, finalized_at_ms)?;
            let mut digests = txn.open_table(DIGESTS)?;
            digests.insert(&block.digest().0 .0, height)?;
            let mut txs = txn.open_table(TXS)?;
            let mut nonces = txn.open_table(NONCES)?;
            for (index, tx) in block.body.txs().enumerate() {
                txs.insert(tx.hash().as_bytes(), (height, index as u32))?;
                let sender: [u8; 32] = tx
                    .sender()
                    .as_ref()
                    .try_into()
                    .expect("ed25519 key is 32 bytes");
                let prev = nonces.get(&sender)?.map(|v| v.value());
                if prev.is_none_or(|p| tx.nonce() > p) {
                    nonces.insert(&sender, tx.nonce())?;
                }
            }
            let mut namespaces = txn.open_table(NAMESPACES)?;
            for span in block.namespace_spans() {
                namespaces.insert(
                    (span.namespace.0, height),
                    (span.count, span.first_index, span.start, span.end),
                )?;
            }
        }
        txn.commit()?;
        // Invariant: heads only move forward, by one.
        let prev = self.head.swap(height, Ordering::AcqRel);
        assert!(
            prev == NO_HEAD && height == 0 || prev != NO_HEAD && prev + 1 == height,
            "store head moved from {prev} to {height}"
        );
        self.head_watch.send_replace(Some(height));
        let finalized: Vec<TxHash> = block.body.txs().map(|tx| tx.hash()).collect();
        self.drop_pending(&finalized)?;
        self.prune_receipts(height)?;
        Ok(true)
    }

    /// A write transaction on `lane`'s acknowledgement database that does not fsync: for cleanup
    /// only, whose loss in a crash loses nothing acknowledged (see [`Store`]). The next
    /// durable commit makes it durable too.
    fn cleanup_txn(&self, lane: AckLane) -> Result<redb::WriteTransaction, StorageError> {
        let mut txn = self.ack(lane).begin_write()?;
        txn.set_durability(redb::Durability::None)?;
        Ok(txn)
    }

    /// The finalized block at `height`.
    pub fn block(&self, height: u64) -> Result<Option<Block>, StorageError> {
        let txn = self.db.begin_read()?;
        let blocks = txn.open_table(BLOCKS)?;
        let Some(bytes) = blocks.get(height)? else {
            return Ok(None);
        };
        // Our own bytes, checked before they were written: no need to rehash the body.
        Block::decode_stored(bytes.value(), &self.limits)
            .map(Some)
            .map_err(|e| StorageError::Corrupt {
                what: "block",
                key: height.to_string(),
                reason: e.to_string(),
            })
    }

    /// The header of the finalized block at `height` (decodes only the header).
    pub fn header(&self, height: u64) -> Result<Option<Header>, StorageError> {
        use commonware_codec::{Copying, ReadExt};
        let txn = self.db.begin_read()?;
        let blocks = txn.open_table(BLOCKS)?;
        let Some(bytes) = blocks.get(height)? else {
            return Ok(None);
        };
        let mut buf = Copying(bytes.value());
        Header::read(&mut buf)
            .map(Some)
            .map_err(|e| StorageError::Corrupt {
                what: "header",
                key: height.to_string(),
                reason: e.to_string(),
            })
    }

    /// Height of the finalized block with this digest.
    pub fn height_of(&self, digest: &BlockDigest) -> Result<Option<u64>, StorageError> {
        let txn = self.db.begin_read()?;
        let digests = txn.open_table(DIGESTS)?;
        Ok(digests.get(&digest.0 .0)?.map(|v| v.value()))
    }

    /// The encoded finalization certificate of the block at `height`.
    pub fn certificate(&self, height: u64) -> Result<Option<Vec<u8>>, StorageError> {
        let txn = self.db.begin_read()?;
        let certs = txn.open_table(CERTIFICATES)?;
        Ok(certs.get(height)?.map(|v| v.value().to_vec()))
    }

    /// Records evidence of conflicting votes (durably: it is what slashes a double-signer).
    /// The same evidence twice, evidence over [`CONFLICT_BYTES_MAX`], or beyond
    /// [`CONFLICTS_MAX`] entries is not kept. Returns whether it was.
    pub fn put_conflict(&self, evidence: &[u8]) -> Result<bool, StorageError> {
        if evidence.len() > CONFLICT_BYTES_MAX {
            return Ok(false);
        }
        let txn = self.db.begin_write()?;
        let kept = {
            let mut table = txn.open_table(CONFLICTS)?;
            let next = table.last()?.map_or(0, |(k, _)| k.value() + 1);
            let seen = table
                .iter()?
                .any(|e| e.is_ok_and(|(_, v)| v.value() == evidence));
            if seen || next >= CONFLICTS_MAX {
                false
            } else {
                table.insert(next, evidence)?;
                true
            }
        };
        txn.commit()?;
        Ok(kept)
    }

    /// Up to `limit` recorded conflicts from index `from`: (index, evidence).
    pub fn conflicts(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StorageError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(CONFLICTS)?;
        let mut out = Vec::new();
        for entry in table.range(from..)?.take(limit) {
            let (k, v) = entry?;
            out.push((k.value(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// When this validator persisted the block at `height` (ms since the Unix epoch).
    pub fn finalized_at_ms(&self, height: u64) -> Result<Option<u64>, StorageError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(FINALIZED_AT)?;
        Ok(table.get(height)?.map(|v| v.value()))
    }

    /// Where a finalized transaction is.
    pub fn tx_location(&self, hash: &TxHash) -> Result<Option<TxLocation>, StorageError> {
        let txn = self.db.begin_read()?;
        let txs = txn.open_table(TXS)?;
        Ok(txs.get(hash.as_bytes())?.map(|v| {
            let (height, index) = v.value();
            TxLocation { height, index }
        }))
    }

    /// Which of `hashes` are finalized (one read transaction for all of them).
    pub fn finalized_among(&self, hashes: &[TxHash]) -> Result<Vec<bool>, StorageError> {
        let txn = self.db.begin_read()?;
        let txs = txn.open_table(TXS)?;
        hashes
            .iter()
            .map(|h| Ok(txs.get(h.as_bytes())?.is_some()))
            .collect()
    }

    /// Highest finalized nonce of `sender`.
    pub fn sender_nonce(&self, sender: &[u8; 32]) -> Result<Option<u64>, StorageError> {
        let txn = self.db.begin_read()?;
        let nonces = txn.open_table(NONCES)?;
        Ok(nonces.get(sender)?.map(|v| v.value()))
    }

    /// `namespace`'s transactions in `[from, to]`, one chunk per block that has any, at most
    /// `max` chunks. Decodes only the namespace's own bytes of each block.
    pub fn namespace_txs(
        &self,
        namespace: NamespaceId,
        from: u64,
        to: u64,
        max: usize,
    ) -> Result<Vec<NamespaceChunk>, StorageError> {
        let txn = self.db.begin_read()?;
        let index = txn.open_table(NAMESPACES)?;
        let blocks = txn.open_table(BLOCKS)?;
        let mut out = Vec::new();
        for entry in index
            .range((namespace.0, from)..=(namespace.0, to))?
            .take(max)
        {
            let (key, value) = entry?;
            let height = key.value().1;
            let (_, first_index, start, end) = value.value();
            let corrupt = |reason: String| StorageError::Corrupt {
                what: "namespace index",
                key: format!("({}, {height})", namespace.0),
                reason,
            };
            let bytes = blocks
                .get(height)?
                .ok_or_else(|| corrupt("indexed block missing".into()))?;
            let span = bytes
                .value()
                .get(start as usize..end as usize)
                .ok_or_else(|| corrupt("span outside the block".into()))?;
            let txs = Block::decode_namespace_span(span, &self.limits)
                .map_err(|e| corrupt(e.to_string()))?;
            out.push(NamespaceChunk {
                height,
                first_index,
                txs,
            });
        }
        Ok(out)
    }

    /// Facts admission needs, read in one transaction: the finalized height of each of
    /// `hashes` and the finalized nonce of each of `senders`, with the head they are at
    /// least as fresh as (read first).
    pub fn admission_facts(
        &self,
        hashes: &[TxHash],
        senders: &[[u8; 32]],
    ) -> Result<AdmissionFacts, StorageError> {
        let head = self.head_height();
        let txn = self.db.begin_read()?;
        let txs = txn.open_table(TXS)?;
        let nonces = txn.open_table(NONCES)?;
        let mut facts = AdmissionFacts {
            head,
            ..Default::default()
        };
        for h in hashes {
            if let Some(v) = txs.get(h.as_bytes())? {
                facts.finalized.insert(*h, v.value().0);
            }
        }
        for s in senders {
            if let Some(v) = nonces.get(s)? {
                facts.nonces.insert(*s, v.value());
            }
        }
        Ok(facts)
    }

    /// Durably records acknowledged-but-unfinalized transactions (one fsync for the batch).
    pub fn persist_pending(&self, txs: &[Transaction]) -> Result<(), StorageError> {
        self.persist_pending_with_receipts(AckLane::Bulk, txs, &[])
    }

    /// Durably records acknowledged transactions and the receipts signed for them, in one
    /// journal record (one fsync) on `lane`, then in `lane`'s database: a receipt never
    /// leaves the node before both are on disk, nor is it served before.
    pub fn persist_pending_with_receipts(
        &self,
        lane: AckLane,
        txs: &[Transaction],
        receipts: &[Receipt],
    ) -> Result<(), StorageError> {
        if txs.is_empty() && receipts.is_empty() {
            return Ok(());
        }
        let mut journal = self.journals[lane as usize].lock().expect("journal lock");
        // Journal rule 1: durable in the journal first, then visible in the database.
        journal
            .append(txs, receipts)
            .map_err(|source| StorageError::Journal { lane, source })?;
        let mut txn = self.ack(lane).begin_write()?;
        txn.set_durability(redb::Durability::None)?;
        insert_acks(&txn, txs, receipts)?;
        txn.commit()?;
        if journal.len() >= JOURNAL_CHECKPOINT_BYTES {
            self.checkpoint_locked(lane, &mut journal)?;
        }
        Ok(())
    }

    /// Drops receipts whose deadline is more than `receipt_retention_heights` below `height`,
    /// oldest first, at most `2 * block_txs_max` per block and lane (in cleanup transactions
    /// of at most [`ACK_CLEANUP_KEYS_MAX`]): no more receipts are issued per block than
    /// transactions are finalized, so pruning keeps up, and one block's pruning stays
    /// bounded. A receipt still owed (deadline not passed) is never dropped.
    fn prune_receipts(&self, height: u64) -> Result<(), StorageError> {
        let Some(below) = height.checked_sub(self.receipt_retention_heights) else {
            return Ok(());
        };
        for lane in ACK_LANES {
            self.prune_lane(lane, height, below)?;
        }
        Ok(())
    }

    fn prune_lane(&self, lane: AckLane, height: u64, below: u64) -> Result<(), StorageError> {
        // Most blocks have nothing to prune: look before taking the write lock.
        let due = {
            let txn = self.ack(lane).begin_read()?;
            let deadlines = txn.open_table(RECEIPT_DEADLINES)?;
            let first = deadlines.first()?.map(|(k, _)| k.value().0);
            first.is_some_and(|d| d < below)
        };
        let mut budget = 2 * self.limits.block_txs_max;
        while due && budget > 0 {
            let txn = self.cleanup_txn(lane)?;
            let pruned = {
                let mut deadlines = txn.open_table(RECEIPT_DEADLINES)?;
                let mut receipts = txn.open_table(RECEIPTS)?;
                let expired: Vec<(u64, [u8; 32])> = deadlines
                    .range(..(below, &[0u8; 32]))?
                    .take(budget.min(ACK_CLEANUP_KEYS_MAX))
                    .map(|e| e.map(|(k, _)| (k.value().0, *k.value().1)))
                    .collect::<Result<_, _>>()?;
                for &(deadline, hash) in &expired {
                    assert!(
                        deadline < height,
                        "pruning a receipt still owed: deadline {deadline}, head {height}"
                    );
                    deadlines.remove((deadline, &hash))?;
                    // Only the receipt this entry indexes (a re-signed one has its own entry).
                    // The deadline is read in place: decoding would check the issuer's key, for
                    // up to tens of thousands of receipts per block. Bytes that do not hold a
                    // receipt are dropped too: nothing could serve them.
                    let indexed = match receipts.get(&hash)? {
                        Some(v) => receipt_deadline(v.value()).is_none_or(|d| d == deadline),
                        None => false,
                    };
                    if indexed {
                        receipts.remove(&hash)?;
                    }
                }
                expired.len()
            };
            txn.commit()?;
            if pruned < budget.min(ACK_CLEANUP_KEYS_MAX) {
                break;
            }
            budget -= pruned;
        }
        Ok(())
    }

    /// A page of this validator's receipts in `namespace` with a deadline of at least
    /// `from.0` (starting at key `from`: deadline, then tx hash), both lanes' merged in
    /// deadline order, reading at most `scan_max` index entries per lane. Returns the page
    /// and the key to continue from, `None` once the index is exhausted. Bounded work per
    /// call, whatever the range holds: a caller walks a long range page by page.
    pub fn receipts_from(
        &self,
        namespace: NamespaceId,
        from: ReceiptKey,
        scan_max: usize,
    ) -> Result<(Vec<Receipt>, Option<ReceiptKey>), StorageError> {
        // Each lane's next `scan_max` keys; the merged page ends at the smallest last key
        // among lanes that had more, so no key below it is left unread in any lane.
        let mut keys: Vec<(u64, [u8; 32], AckLane)> = Vec::new();
        let mut end: Option<ReceiptKey> = None;
        for lane in ACK_LANES {
            let txn = self.ack(lane).begin_read()?;
            let deadlines = txn.open_table(RECEIPT_DEADLINES)?;
            let mut read = 0;
            for entry in deadlines.range((from.0, &from.1)..)? {
                let (k, _) = entry?;
                let (deadline, hash) = k.value();
                keys.push((deadline, *hash, lane));
                read += 1;
                if read == scan_max {
                    let last = (deadline, *hash);
                    end = Some(end.map_or(last, |e: (u64, [u8; 32])| e.min(last)));
                    break;
                }
            }
        }
        keys.sort_unstable_by_key(|(d, h, lane)| (*d, *h, *lane as u8));
        keys.dedup_by_key(|(d, h, _)| (*d, *h));
        let mut page = Vec::new();
        for (deadline, hash, lane) in keys {
            if end.is_some_and(|e| (deadline, hash) > e) {
                break;
            }
            let txn = self.ack(lane).begin_read()?;
            let table = txn.open_table(RECEIPTS)?;
            let Some(v) = table.get(&hash)? else {
                continue;
            };
            let receipt = Receipt::decode_bytes(v.value()).map_err(|e| StorageError::Corrupt {
                what: "receipt",
                key: weft_types::to_hex(&hash),
                reason: e.to_string(),
            })?;
            // Only the receipt this entry indexes (a re-signed one has its own entry).
            if receipt.promise.deadline_height == deadline && receipt.promise.namespace == namespace
            {
                page.push(receipt);
            }
        }
        let next = end.map(|(d, h)| next_key(d, h));
        Ok((page, next))
    }

    /// The receipt this validator signed for `hash`, if any (either lane's).
    pub fn receipt(&self, hash: &TxHash) -> Result<Option<Receipt>, StorageError> {
        for lane in [AckLane::Express, AckLane::Bulk] {
            let txn = self.ack(lane).begin_read()?;
            let table = txn.open_table(RECEIPTS)?;
            let Some(v) = table.get(hash.as_bytes())? else {
                continue;
            };
            return Receipt::decode_bytes(v.value())
                .map(Some)
                .map_err(|e| StorageError::Corrupt {
                    what: "receipt",
                    key: hash.to_string(),
                    reason: e.to_string(),
                });
        }
        Ok(None)
    }

    /// Removes transactions from the pending log (finalized, or evicted as invalid). Each
    /// lane's entries are looked up in a read transaction, and only those present are
    /// removed, in cleanup transactions of at most [`ACK_CLEANUP_KEYS_MAX`] keys that do not
    /// fsync: an entry a crash brings back is refused when the pending log is re-admitted at
    /// start.
    pub fn drop_pending(&self, hashes: &[TxHash]) -> Result<(), StorageError> {
        if hashes.is_empty() {
            return Ok(());
        }
        for lane in ACK_LANES {
            let present: Vec<&TxHash> = {
                let txn = self.ack(lane).begin_read()?;
                let pending = txn.open_table(PENDING)?;
                let mut present = Vec::new();
                for h in hashes {
                    if pending.get(h.as_bytes())?.is_some() {
                        present.push(h);
                    }
                }
                present
            };
            for chunk in present.chunks(ACK_CLEANUP_KEYS_MAX) {
                let txn = self.cleanup_txn(lane)?;
                {
                    let mut pending = txn.open_table(PENDING)?;
                    for h in chunk {
                        pending.remove(h.as_bytes())?;
                    }
                }
                txn.commit()?;
            }
        }
        Ok(())
    }

    /// Every transaction in the pending log, both lanes' (read at startup to refill the
    /// mempool).
    pub fn pending(&self) -> Result<Vec<Transaction>, StorageError> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for lane in ACK_LANES {
            let txn = self.ack(lane).begin_read()?;
            let pending = txn.open_table(PENDING)?;
            for entry in pending.iter()? {
                let (key, value) = entry?;
                if !seen.insert(*key.value()) {
                    continue;
                }
                let tx =
                    Transaction::decode_untrusted(value.value(), &self.limits).map_err(|e| {
                        StorageError::Corrupt {
                            what: "pending transaction",
                            key: weft_types::to_hex(key.value()),
                            reason: e.to_string(),
                        }
                    })?;
                out.push(tx);
            }
        }
        Ok(out)
    }

    /// Digest of the block at `height`, if stored.
    pub fn digest_at(&self, height: u64) -> Result<Option<Digest>, StorageError> {
        Ok(self.header(height)?.map(|h| h.digest().0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_chain() -> weft_types::ChainId {
        weft_types::ChainId(weft_types::sha256(&[b"unit tests"]))
    }
    use bytes::Bytes;
    use commonware_math::algebra::Random as _;
    use rand_core::SeedableRng as _;
    use weft_types::{Body, SigningKey};

    fn key(seed: u64) -> SigningKey {
        SigningKey::random(rand_chacha::ChaCha20Rng::seed_from_u64(seed))
    }

    fn child(parent: &Block, txs: Vec<Transaction>) -> Block {
        use commonware_cryptography::Signer as _;
        let (height, ts) = (parent.height() + 1, parent.header.timestamp_ms + 1);
        Block::child(
            parent,
            0,
            height,
            ts,
            key(0).public_key(),
            Body::from_txs(txs),
        )
    }

    /// Receipts stay while owed and for the retention after; then they go, oldest deadline
    /// first, a bounded number per block, and the index survives a reopen.
    #[test]
    fn receipts_are_pruned_after_their_retention_in_bounded_steps() {
        use commonware_cryptography::Signer as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        // Two transactions per block at most: at most four receipts pruned per commit.
        let limits = Limits {
            block_txs_max: 2,
            ..Limits::default()
        };
        let issuer = key(9);
        let receipt = |seed: u64, deadline: u64| {
            let tx = Transaction::sign(
                &key(100 + seed),
                &test_chain(),
                NamespaceId(5),
                0,
                Bytes::from_static(b"r"),
            );
            weft_types::Promise::for_tx(test_chain(), &tx, 0, deadline, issuer.public_key())
                .sign(&issuer)
        };
        // Six due at height 2, one due at 20.
        let early: Vec<Receipt> = (0..6).map(|i| receipt(i, 2)).collect();
        let late = receipt(6, 20);
        let mut blocks = vec![Block::genesis(
            Digest::from([7u8; 32]),
            key(0).public_key(),
            0,
        )];
        for _ in 0..12 {
            let next = child(blocks.last().unwrap(), vec![]);
            blocks.push(next);
        }
        let present = |store: &Store| {
            early
                .iter()
                .chain([&late])
                .filter(|r| store.receipt(&r.promise.tx).unwrap().is_some())
                .count()
        };
        {
            let store = Store::open(&path, limits).unwrap().retaining_receipts(5);
            store
                .persist_pending_with_receipts(
                    AckLane::Bulk,
                    &[],
                    &[early.clone(), vec![late.clone()]].concat(),
                )
                .unwrap();
            for b in &blocks[..=7] {
                store.commit_finalized(b, b"", 0).unwrap();
            }
            // Head 7: 7 - 5 = 2, and a deadline of 2 is not below it yet.
            assert_eq!(present(&store), 7);
        }
        // Reopened (pruning state is all on disk).
        let store = Store::open(&path, limits).unwrap().retaining_receipts(5);
        store.commit_finalized(&blocks[8], b"", 0).unwrap();
        assert_eq!(present(&store), 3, "four pruned at height 8");
        store.commit_finalized(&blocks[9], b"", 0).unwrap();
        assert_eq!(present(&store), 1, "the last two early ones at height 9");
        for b in &blocks[10..] {
            store.commit_finalized(b, b"", 0).unwrap();
        }
        assert_eq!(receipt_deadline(&late.encode()), Some(20));
        assert_eq!(receipt_deadline(b"not a receipt"), None);
        // The late receipt is owed until 20 and kept five heights after.
        assert_eq!(store.receipt(&late.promise.tx).unwrap(), Some(late));
    }

    /// Paging through receipts by deadline visits every receipt of the namespace from the
    /// first key on, in deadline order, once, whichever lane holds it, with bounded reads
    /// per page.
    #[test]
    fn receipts_page_by_deadline_across_lanes() {
        use commonware_cryptography::Signer as _;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("chain.redb"), Limits::default()).unwrap();
        let issuer = key(9);
        let receipt = |seed: u64, namespace: u64, deadline: u64| {
            let tx = Transaction::sign(
                &key(100 + seed),
                &test_chain(),
                NamespaceId(namespace),
                0,
                Bytes::from_static(b"r"),
            );
            weft_types::Promise::for_tx(test_chain(), &tx, 0, deadline, issuer.public_key())
                .sign(&issuer)
        };
        let all: Vec<Receipt> = (0..12).map(|i| receipt(i, 5 + i % 2, 10 + i / 3)).collect();
        for (i, r) in all.iter().enumerate() {
            store
                .persist_pending_with_receipts(ACK_LANES[i % 2], &[], std::slice::from_ref(r))
                .unwrap();
        }
        for from_deadline in [0, 11, 13, 20] {
            let mut expected: Vec<Receipt> = all
                .iter()
                .filter(|r| r.promise.namespace == NamespaceId(5))
                .filter(|r| r.promise.deadline_height >= from_deadline)
                .cloned()
                .collect();
            expected.sort_by_key(|r| (r.promise.deadline_height, r.promise.tx));
            let mut got = Vec::new();
            let mut from = Some((from_deadline, [0u8; 32]));
            let mut pages = 0;
            while let Some(key) = from {
                let (page, next) = store.receipts_from(NamespaceId(5), key, 2).unwrap();
                assert!(page.len() <= 4, "two index entries per lane at most");
                got.extend(page);
                from = next;
                pages += 1;
                assert!(pages < 20, "paging does not end");
            }
            assert_eq!(got, expected, "from deadline {from_deadline}");
        }
    }

    /// Acknowledging takes its lane's write lock only: an express write completes while a
    /// block's commit holds the chain database's writer and a bulk batch holds the bulk
    /// lane's (one shared database would block here until both ended). Both lanes' entries
    /// are served, refill the mempool, and leave the log when their block is finalized.
    #[test]
    fn acknowledging_waits_for_neither_the_chain_writer_nor_the_other_lane() {
        use commonware_cryptography::Signer as _;
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(
            Store::open(dir.path().join("chain.redb"), Limits::default()).unwrap(),
        );
        let genesis = Block::genesis(Digest::from([7u8; 32]), key(0).public_key(), 0);
        store.commit_finalized(&genesis, b"", 0).unwrap();
        let issuer = key(9);
        let tx = |seed: u64| {
            Transaction::sign(
                &key(seed),
                &test_chain(),
                NamespaceId(5),
                0,
                Bytes::from_static(b"ack"),
            )
        };
        let (lone, batched) = (tx(3), tx(4));
        let receipt = weft_types::Promise::for_tx(test_chain(), &lone, 0, 9, issuer.public_key())
            .sign(&issuer);
        let block_commit = store.db.begin_write().unwrap();
        let bulk_commit = store.ack(AckLane::Bulk).begin_write().unwrap();
        let (done, wait) = std::sync::mpsc::channel();
        let (acker, pending, signed) = (store.clone(), lone.clone(), receipt.clone());
        std::thread::spawn(move || {
            done.send(acker.persist_pending_with_receipts(AckLane::Express, &[pending], &[signed]))
                .unwrap();
        });
        // A deadlock detector, not a latency bound: with one database this never returns.
        let acked = wait.recv_timeout(std::time::Duration::from_secs(30));
        assert!(
            matches!(acked, Ok(Ok(()))),
            "an express acknowledgement waited on another writer: {acked:?}"
        );
        drop((block_commit, bulk_commit));
        store
            .persist_pending(std::slice::from_ref(&batched))
            .unwrap();
        assert_eq!(store.receipt(&lone.hash()).unwrap(), Some(receipt));
        let mut pending = store.pending().unwrap();
        pending.sort_by_key(|t| t.hash());
        let mut both = vec![lone.clone(), batched.clone()];
        both.sort_by_key(|t| t.hash());
        assert_eq!(pending, both);
        store
            .commit_finalized(&child(&genesis, vec![lone, batched]), b"", 0)
            .unwrap();
        assert!(
            store.pending().unwrap().is_empty(),
            "finalized entries stay logged"
        );
    }

    /// A store written when the pending log and receipts lived in the chain database keeps
    /// them: they move to the acknowledgement database at open, and leave the chain database.
    #[test]
    fn acknowledgements_in_an_old_chain_database_move_at_open() {
        use commonware_cryptography::Signer as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chain.redb");
        let issuer = key(9);
        let tx = Transaction::sign(
            &key(4),
            &test_chain(),
            NamespaceId(5),
            0,
            Bytes::from_static(b"old"),
        );
        let receipt =
            weft_types::Promise::for_tx(test_chain(), &tx, 1, 9, issuer.public_key()).sign(&issuer);
        {
            // The old layout, written as the old store wrote it.
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                txn.open_table(PENDING)
                    .unwrap()
                    .insert(tx.hash().as_bytes(), tx.encode().as_ref())
                    .unwrap();
                txn.open_table(RECEIPTS)
                    .unwrap()
                    .insert(tx.hash().as_bytes(), receipt.encode().as_ref())
                    .unwrap();
                txn.open_table(RECEIPT_DEADLINES)
                    .unwrap()
                    .insert((9, tx.hash().as_bytes()), ())
                    .unwrap();
            }
            txn.commit().unwrap();
        }
        for _reopen in 0..2 {
            let store = Store::open(&path, Limits::default()).unwrap();
            assert_eq!(store.pending().unwrap(), vec![tx.clone()]);
            assert_eq!(store.receipt(&tx.hash()).unwrap(), Some(receipt.clone()));
            let txn = store.db.begin_read().unwrap();
            let left: Vec<String> = txn
                .list_tables()
                .unwrap()
                .map(|t| t.name().to_string())
                .filter(|n| ["pending", "receipts", "receipt_deadlines"].contains(&n.as_str()))
                .collect();
            assert!(left.is_empty(), "left in the chain database: {left:?}");
        }
    }

    #[test]
    fn commit_index_and_reopen() {
        use commonware_cryptography::Signer as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let alice = key(1);
        let genesis = Block::genesis(Digest::from([7u8; 32]), key(0).public_key(), 0);
        let tx1 = Transaction::sign(
            &alice,
            &test_chain(),
            NamespaceId(5),
            1,
            Bytes::from_static(b"x"),
        );
        let tx2 = Transaction::sign(
            &alice,
            &test_chain(),
            NamespaceId(9),
            2,
            Bytes::from_static(b"y"),
        );
        let b1 = child(&genesis, vec![tx1.clone(), tx2.clone()]);
        {
            let store = Store::open(&path, Limits::default()).unwrap();
            store.persist_pending(&[tx1.clone(), tx2.clone()]).unwrap();
            assert_eq!(store.pending().unwrap().len(), 2);
            assert!(store.commit_finalized(&genesis, b"", 7).unwrap());
            assert!(store.commit_finalized(&b1, b"cert", 7).unwrap());
            // Redelivery is idempotent; a conflicting block is refused.
            assert!(!store.commit_finalized(&b1, b"cert", 7).unwrap());
            let other = child(&genesis, vec![tx1.clone()]);
            assert!(matches!(
                store.commit_finalized(&other, b"", 7),
                Err(StorageError::Conflict { .. })
            ));
            // A gap is refused.
            let b3 = child(&child(&b1, vec![]), vec![]);
            assert!(matches!(
                store.commit_finalized(&b3, b"", 7),
                Err(StorageError::NonContiguous { .. })
            ));
        }
        let store = Store::open(&path, Limits::default()).unwrap();
        assert_eq!(store.head_height(), Some(1));
        assert_eq!(store.block(1).unwrap().unwrap(), b1);
        assert_eq!(store.certificate(1).unwrap().unwrap(), b"cert");
        assert_eq!(store.finalized_at_ms(1).unwrap(), Some(7));
        assert_eq!(store.height_of(&b1.digest()).unwrap(), Some(1));
        // Namespace order: ns 5 first, then ns 9.
        assert_eq!(
            store.tx_location(&tx1.hash()).unwrap(),
            Some(TxLocation {
                height: 1,
                index: 0
            })
        );
        assert_eq!(
            store.tx_location(&tx2.hash()).unwrap(),
            Some(TxLocation {
                height: 1,
                index: 1
            })
        );
        let pk: [u8; 32] = alice.public_key().as_ref().try_into().unwrap();
        assert_eq!(store.sender_nonce(&pk).unwrap(), Some(2));
        let nine = store.namespace_txs(NamespaceId(9), 0, 10, 10).unwrap();
        assert_eq!(nine.len(), 1);
        assert_eq!((nine[0].height, nine[0].first_index), (1, 1));
        assert_eq!(nine[0].txs, vec![tx2.clone()]);
        assert!(store
            .namespace_txs(NamespaceId(7), 0, 10, 10)
            .unwrap()
            .is_empty());
        assert!(
            store.pending().unwrap().is_empty(),
            "finalized txs leave the pending log"
        );
    }
}
