//! Cuts the rollup's finalized namespace data into batches.
//!
//! A batch is the namespace's transactions from one [`Cursor`] (inclusive) to the next
//! (exclusive); batches tile the namespace with no gap. A batch closes before a transaction
//! that would make it exceed `txs_max` transactions or `bytes_max` payload bytes, or, between
//! blocks, once its first transaction has waited `interval_ms`. Every cut is persisted
//! before anything is derived from it, and a restarted rollup replays the persisted cuts
//! exactly, so batch `i` never changes once cut (the size policy only applies past them).
//!
//! Each cut yields the batch's header, roots, commitment and the prover's witness; the
//! commitment is a deterministic function of the header and the namespace data
//! (`weft_rollup_token::commitment`).

use std::collections::BTreeMap;
use weft_prover::token::{Witness, WITNESS_RECORDS_MAX};
use weft_rollup_token::{commitment, word_to_u64, Record, Step, TokenState, Word};
use weft_settlement::{BatchHeader, Cursor};

/// Default most transactions per batch (a power of two: the proof pads to one).
pub const DEFAULT_BATCH_TXS_MAX: usize = 256;
/// Default most payload bytes per batch.
pub const DEFAULT_BATCH_BYTES_MAX: usize = 256 * 1024;
/// Default longest a transaction waits for its batch to close, in milliseconds.
pub const DEFAULT_BATCH_INTERVAL_MS: u64 = 2_000;

/// Batching policy (`[batcher]`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Most transactions (valid or not) in a batch.
    pub txs_max: usize,
    /// Most payload bytes in a batch.
    pub bytes_max: usize,
    /// Longest the first transaction of an open batch waits before the batch closes, in
    /// milliseconds.
    pub interval_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            txs_max: DEFAULT_BATCH_TXS_MAX,
            bytes_max: DEFAULT_BATCH_BYTES_MAX,
            interval_ms: DEFAULT_BATCH_INTERVAL_MS,
        }
    }
}

impl Config {
    /// Checks the policy.
    pub fn validate(&self) -> Result<(), String> {
        if self.txs_max == 0 || self.txs_max > WITNESS_RECORDS_MAX {
            return Err(format!(
                "batcher.txs_max must be in 1..={WITNESS_RECORDS_MAX} (the prover's bound), got {}",
                self.txs_max
            ));
        }
        if self.bytes_max == 0 || self.interval_ms == 0 {
            return Err("batcher.bytes_max and batcher.interval_ms must be > 0".into());
        }
        Ok(())
    }
}

/// A closed batch.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Batch {
    /// Rollup, index and namespace range.
    pub header: BatchHeader,
    /// State root before.
    pub old_root: [u64; 4],
    /// State root after.
    pub new_root: [u64; 4],
    /// Commitment to the batch's records.
    pub commitment: [u64; 4],
    /// Transactions in the range.
    pub txs: u32,
    /// Of which records (passed the stateless rules, and for a bundle leg executed).
    pub records: u32,
    /// Outcome of each bundle with a leg in the range, sorted by bundle (contract rule 5b).
    #[serde(default)]
    pub bundle_outcomes: Vec<weft_settlement::BundleOutcome>,
}

/// A cut: the batch and its witness.
pub struct Cut {
    /// The batch.
    pub batch: Batch,
    /// The prover's input.
    pub witness: Witness,
}

/// The header digest the proof binds (its sponge starts from it).
pub fn header_digest(h: &BatchHeader) -> Word {
    commitment::header_digest(
        h.rollup,
        h.batch_index,
        (h.start.height, h.start.index),
        (h.end.height, h.end.index),
    )
}

/// The batcher (see the module docs).
pub struct Batcher {
    cfg: Config,
    rollup: u64,
    next_index: u64,
    start: Cursor,
    /// Just after the last transaction seen.
    position: Cursor,
    records: Vec<Record>,
    steps: Vec<Step>,
    txs: usize,
    bytes: usize,
    /// Outcomes of the open batch's bundles.
    outcomes: BTreeMap<[u8; 32], bool>,
    old_root: Word,
    opened_at_ms: Option<u64>,
    planned: BTreeMap<u64, Cursor>,
}

impl Batcher {
    /// A batcher at the namespace's beginning; `planned` are the persisted cuts (batch index
    /// → end) to replay.
    pub fn new(
        cfg: Config,
        rollup: u64,
        genesis_root: Word,
        planned: BTreeMap<u64, Cursor>,
    ) -> Self {
        Self {
            cfg,
            rollup,
            next_index: 0,
            start: Cursor::new(0, 0),
            position: Cursor::new(0, 0),
            records: Vec::new(),
            steps: Vec::new(),
            txs: 0,
            bytes: 0,
            outcomes: BTreeMap::new(),
            old_root: genesis_root,
            opened_at_ms: None,
            planned,
        }
    }

    /// Index of the open batch.
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    fn replaying(&self) -> Option<Cursor> {
        self.planned.get(&self.next_index).copied()
    }

    /// Called before the transaction at `at` (with `payload_bytes`) is executed: closes the
    /// open batch first if it must end there.
    pub fn before_tx(
        &mut self,
        at: Cursor,
        payload_bytes: usize,
        state: &TokenState,
    ) -> Option<Cut> {
        self.before_group(at, 1, payload_bytes, state)
    }

    /// [`Batcher::before_tx`] for `txs` transactions that must share a batch (a bundle's
    /// legs: the batch is never cut between them), `payload_bytes` in all.
    pub fn before_group(
        &mut self,
        at: Cursor,
        txs: usize,
        payload_bytes: usize,
        state: &TokenState,
    ) -> Option<Cut> {
        let close = match self.replaying() {
            Some(end) => end == at,
            None => {
                self.txs > 0
                    && (self.txs + txs > self.cfg.txs_max
                        || self.bytes + payload_bytes > self.cfg.bytes_max)
            }
        };
        close.then(|| self.cut(at, state))
    }

    /// Adds the transaction at `at`: its record and witness step if it passed the stateless
    /// rules (and for a bundle leg, executed), and for a leg its bundle's outcome.
    pub fn push(
        &mut self,
        at: Cursor,
        payload_bytes: usize,
        record: Option<(Record, Step)>,
        bundle: Option<([u8; 32], bool)>,
        now_ms: u64,
    ) {
        if let Some((id, executed)) = bundle {
            self.outcomes.insert(id, executed);
        }
        if let Some((r, s)) = record {
            self.records.push(r);
            self.steps.push(s);
        }
        self.txs += 1;
        self.bytes += payload_bytes;
        self.opened_at_ms.get_or_insert(now_ms);
        self.position = Cursor::new(at.height, at.index + 1);
    }

    /// Called after a block's namespace transactions (`count` of them at `height`).
    pub fn after_block(&mut self, height: u64, count: u32, state: &TokenState) -> Option<Cut> {
        self.position = Cursor::new(height, count);
        (self.replaying() == Some(self.position)).then(|| self.cut(self.position, state))
    }

    /// Closes the open batch if its first transaction has waited `interval_ms` (never while
    /// replaying persisted cuts).
    pub fn tick(&mut self, now_ms: u64, state: &TokenState) -> Option<Cut> {
        let due = self.replaying().is_none()
            && self
                .opened_at_ms
                .is_some_and(|t| now_ms.saturating_sub(t) >= self.cfg.interval_ms);
        due.then(|| self.cut(self.position, state))
    }

    fn cut(&mut self, end: Cursor, state: &TokenState) -> Cut {
        assert!(end > self.start, "a batch covers at least one position");
        let header = BatchHeader {
            rollup: self.rollup,
            batch_index: self.next_index,
            start: self.start,
            end,
        };
        let digest = header_digest(&header);
        let records = std::mem::take(&mut self.records);
        let steps = std::mem::take(&mut self.steps);
        let new_root = state.root();
        let batch = Batch {
            header,
            old_root: word_to_u64(&self.old_root),
            new_root: word_to_u64(&new_root),
            commitment: word_to_u64(&commitment::commitment(&digest, &records)),
            txs: self.txs as u32,
            records: records.len() as u32,
            bundle_outcomes: std::mem::take(&mut self.outcomes)
                .into_iter()
                .map(|(bundle, executed)| weft_settlement::BundleOutcome { bundle, executed })
                .collect(),
        };
        let witness =
            Witness::from_steps(digest, self.old_root, &records, steps, state.padding_step());
        self.planned.remove(&self.next_index);
        self.next_index += 1;
        self.start = end;
        self.old_root = new_root;
        self.txs = 0;
        self.bytes = 0;
        self.opened_at_ms = None;
        Cut { batch, witness }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_rollup_token::{Address, Record};

    fn addr(i: u32) -> Address {
        Address {
            index: i,
            tag: 1000 + i as u64,
        }
    }

    /// Feeds `blocks` (txs per block) of records `0 -> 1` through a batcher; returns the cuts.
    fn run(
        cfg: &Config,
        planned: BTreeMap<u64, Cursor>,
        blocks: &[u32],
        tick_after: Option<usize>,
    ) -> Vec<Batch> {
        let mut state = TokenState::default();
        let mut b = Batcher::new(cfg.clone(), 7, state.root(), planned);
        let mut cuts = Vec::new();
        let mut nonce = 0;
        for (h, count) in blocks.iter().enumerate() {
            let height = 10 + h as u64;
            for j in 0..*count {
                let at = Cursor::new(height, j);
                cuts.extend(b.before_tx(at, 140, &state));
                let r = Record {
                    from: addr(1),
                    to: addr(2),
                    amount: 1,
                    nonce,
                };
                nonce += 1;
                let (step, _) = state.step(&r);
                b.push(at, 140, Some((r, step)), None, 0);
            }
            cuts.extend(b.after_block(height, *count, &state));
            if tick_after == Some(h) {
                cuts.extend(b.tick(u64::MAX, &state));
            }
        }
        cuts.into_iter().map(|c| c.batch).collect()
    }

    #[test]
    fn batches_tile_the_namespace_and_replay_exactly() {
        let cfg = Config {
            txs_max: 4,
            ..Config::default()
        };
        let blocks = [3, 3, 0, 5, 1];
        let cuts = run(&cfg, BTreeMap::new(), &blocks, Some(3));
        // Count cuts before the 5th and 9th txs, then a time cut after block 13 (index 3).
        let ranges: Vec<(Cursor, Cursor, u32)> = cuts
            .iter()
            .map(|b| (b.header.start, b.header.end, b.txs))
            .collect();
        assert_eq!(
            ranges,
            vec![
                (Cursor::new(0, 0), Cursor::new(11, 1), 4),
                (Cursor::new(11, 1), Cursor::new(13, 2), 4),
                (Cursor::new(13, 2), Cursor::new(13, 5), 3),
            ]
        );
        for w in cuts.windows(2) {
            assert_eq!(w[0].header.end, w[1].header.start, "no gap, no overlap");
            assert_eq!(w[0].new_root, w[1].old_root, "roots chain");
        }
        // A restart replays the persisted cuts, whatever the policy says now.
        let planned = cuts
            .iter()
            .map(|b| (b.header.batch_index, b.header.end))
            .collect();
        let other = Config {
            txs_max: 1024,
            interval_ms: 1,
            ..Config::default()
        };
        let replayed = run(&other, planned, &blocks, None);
        assert_eq!(replayed, cuts);
    }
}
