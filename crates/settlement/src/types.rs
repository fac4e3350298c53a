//! The values the settlement layer exchanges: batch headers, submissions, settled batches,
//! receipts, inbox messages and L1 blocks.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// A field-element digest (a state root or a batch commitment), as canonical `u64`s.
pub type Root = [u64; 4];

/// A 32-byte SHA-256 digest (L1 block hashes, proof digests).
pub type Hash = [u8; 32];

/// A position in one namespace's finalized transaction sequence: the `index`-th transaction
/// of that namespace in Weft block `height`. Ordered by `(height, index)`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Cursor {
    /// Weft block height.
    pub height: u64,
    /// Index among the namespace's transactions in that block.
    pub index: u32,
}

impl Cursor {
    /// The cursor at `index` within block `height`.
    pub const fn new(height: u64, index: u32) -> Self {
        Self { height, index }
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.height, self.index)
    }
}

/// What a batch covers: rollup `rollup`'s namespace transactions from `start` (inclusive) to
/// `end` (exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchHeader {
    /// Rollup id (its Weft namespace).
    pub rollup: u64,
    /// Position of the batch in the rollup's settled sequence, from 0.
    pub batch_index: u64,
    /// First transaction covered.
    pub start: Cursor,
    /// First transaction not covered.
    pub end: Cursor,
}

impl BatchHeader {
    /// The Weft height of the first transaction covered.
    pub fn first_height(&self) -> u64 {
        self.start.height
    }

    /// The Weft height of the end cursor (the last block the batch may read from).
    pub fn last_height(&self) -> u64 {
        self.end.height
    }
}

/// What became of a bundle whose legs a batch holds (rule 5b of the contract).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BundleOutcome {
    /// The bundle id.
    pub bundle: Hash,
    /// Whether it executed (its legs are records of the batch) or reverted (they are not).
    pub executed: bool,
}

/// One finalized transaction of a namespace, as the contract reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceItem {
    /// Its payload.
    pub payload: Vec<u8>,
    /// For a bundle leg, its bundle id.
    pub bundle: Option<Hash>,
}

/// A batch offered for settlement: the state transition `old_root -> new_root` over the
/// data bound by `commitment`, and a proof of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    /// What the batch covers.
    pub header: BatchHeader,
    /// State root before the batch (the last settled root).
    pub old_root: Root,
    /// State root after the batch.
    pub new_root: Root,
    /// The program's commitment to the batch's Weft data.
    pub commitment: Root,
    /// The proof, in the program's format.
    pub proof: Vec<u8>,
    /// The outcome of every bundle with a leg in the batch, sorted by bundle (rule 5b).
    #[serde(default)]
    pub bundle_outcomes: Vec<BundleOutcome>,
    /// The registered submitter's signature over all of the above ([`Submission::sign`],
    /// auth rule A2).
    #[serde(default, with = "crate::auth::hex_bytes")]
    pub signature: Vec<u8>,
}

/// A batch the settlement contract accepted. Final: never replaced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettledBatch {
    /// What the batch covers.
    pub header: BatchHeader,
    /// State root before the batch.
    pub old_root: Root,
    /// State root after the batch: the rollup's settled root from then on.
    pub new_root: Root,
    /// The commitment to the batch's Weft data.
    pub commitment: Root,
    /// Size of the verified proof, in bytes.
    pub proof_bytes: u64,
    /// L1 block that settled it.
    pub l1_block: u64,
    /// That block's timestamp, ms since the Unix epoch.
    pub settled_at_ms: u64,
}

/// A registered rollup as the settlement contract sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollupStatus {
    /// Rollup id.
    pub rollup: u64,
    /// Id of the proof program registered for it.
    pub program: String,
    /// The key that signs its submissions (auth rule A2).
    #[serde(with = "crate::auth::hex32")]
    pub submitter: [u8; 32],
    /// State root before any batch.
    pub genesis_root: Root,
    /// Number of settled batches (also the next expected batch index).
    pub settled_batches: u64,
    /// The latest settled batch, if any.
    pub last_batch: Option<SettledBatch>,
    /// Current settled root.
    pub root: Root,
    /// Where the next batch must start.
    pub next_start: Cursor,
    /// Number of inbox messages sent to the rollup.
    pub inbox_messages: u64,
}

/// A message sent to a rollup through the L1 inbox (for forced inclusion).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxMessage {
    /// Position in the rollup's inbox, from 0.
    pub index: u64,
    /// Rollup id.
    pub rollup: u64,
    /// L1 block that included it.
    pub l1_block: u64,
    /// Opaque payload.
    pub payload: Vec<u8>,
}

/// Why the settlement contract refused a submission. Each rule of
/// [the contract](crate::contract) has its own variants; [`Reject::code`] is stable.
#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reject {
    /// Rule 1: the rollup is not registered, or no program is configured for it.
    #[error("rollup {rollup} is not registered or has no program")]
    UnknownRollup {
        /// Rollup id.
        rollup: u64,
    },
    /// Rule 1: the configured program is not the one the rollup registered with.
    #[error("rollup {rollup} registered program {registered:?}, but {configured:?} is configured")]
    ProgramMismatch {
        /// Rollup id.
        rollup: u64,
        /// Program id recorded at registration.
        registered: String,
        /// Program id configured now.
        configured: String,
    },
    /// Rule 2: a batch with this index is already settled.
    #[error("rollup {rollup} batch {batch_index} is already settled")]
    AlreadySettled {
        /// Rollup id.
        rollup: u64,
        /// Batch index.
        batch_index: u64,
    },
    /// Rule 2: the batch index is beyond the next expected one.
    #[error("batch index out of order: expected {expected}, got {got}")]
    OutOfOrder {
        /// Next expected index.
        expected: u64,
        /// Index offered.
        got: u64,
    },
    /// Rule 3: the batch does not start where the previous one ended.
    #[error("non-contiguous batch: expected start {expected}, got {got}")]
    NonContiguous {
        /// Where the batch must start.
        expected: Cursor,
        /// Where it starts.
        got: Cursor,
    },
    /// Rule 3: the batch covers nothing (`end <= start`).
    #[error("empty batch: end {end} is not after start {start}")]
    EmptyBatch {
        /// Start cursor.
        start: Cursor,
        /// End cursor.
        end: Cursor,
    },
    /// Rule 3: the batch spans more Weft heights than allowed.
    #[error("batch spans {heights} heights, more than {heights_max}")]
    TooLarge {
        /// `end.height - start.height`.
        heights: u64,
        /// The bound.
        heights_max: u64,
    },
    /// Rule 3: the proof is larger than allowed.
    #[error("proof is {bytes} bytes, more than {bytes_max}")]
    ProofTooLarge {
        /// Proof size, in bytes.
        bytes: u64,
        /// The bound, in bytes.
        bytes_max: u64,
    },
    /// Rule 4: the old root is not the rollup's settled root.
    #[error("old root mismatch: expected {expected:?}, got {got:?}")]
    OldRootMismatch {
        /// Settled root.
        expected: Root,
        /// Root offered.
        got: Root,
    },
    /// Rule 5: the batch ends beyond finalized Weft data.
    #[error("batch end {end} is beyond finalized Weft data (finalized head {head:?})")]
    NotFinalized {
        /// End cursor.
        end: Cursor,
        /// Finalized Weft height, if any.
        head: Option<u64>,
    },
    /// Rule 5: the program could not derive a commitment from the batch's data.
    #[error("commitment could not be derived: {reason}")]
    CommitmentFailed {
        /// The program's reason.
        reason: String,
    },
    /// Rule 5: the commitment is not the one derived from finalized Weft data.
    #[error("commitment mismatch: derived {expected:?}, got {got:?}")]
    CommitmentMismatch {
        /// Commitment derived from the data.
        expected: Root,
        /// Commitment offered.
        got: Root,
    },
    /// Rule 5b: a bundle leg in the batch has no outcome in the submission, or an outcome
    /// names a bundle with no leg in it, or the outcomes are not sorted and unique.
    #[error("bundle outcomes do not match the batch's legs: {reason}")]
    BundleOutcomesMismatch {
        /// What is wrong.
        reason: String,
    },
    /// Rule 5b: the batch's outcome for a bundle contradicts the one another rollup's
    /// settled batch already gave.
    #[error("bundle {bundle:?} executed = {claimed} here, but rollup {rollup} settled it as executed = {settled}")]
    BundleOutcomeConflict {
        /// The bundle.
        bundle: Hash,
        /// This batch's claim.
        claimed: bool,
        /// The rollup that settled it first.
        rollup: u64,
        /// Its settled outcome.
        settled: bool,
    },
    /// Rule 6: the proof does not verify.
    #[error("invalid proof: {reason}")]
    InvalidProof {
        /// The program's reason.
        reason: String,
    },
}

impl Reject {
    /// A stable numeric code for the rejection; codes are never reused.
    pub fn code(&self) -> u32 {
        match self {
            Reject::UnknownRollup { .. } => 1,
            Reject::ProgramMismatch { .. } => 2,
            Reject::AlreadySettled { .. } => 3,
            Reject::OutOfOrder { .. } => 4,
            Reject::NonContiguous { .. } => 5,
            Reject::EmptyBatch { .. } => 6,
            Reject::TooLarge { .. } => 7,
            Reject::ProofTooLarge { .. } => 8,
            Reject::OldRootMismatch { .. } => 9,
            Reject::NotFinalized { .. } => 10,
            Reject::CommitmentFailed { .. } => 11,
            Reject::CommitmentMismatch { .. } => 12,
            Reject::InvalidProof { .. } => 13,
            Reject::BundleOutcomesMismatch { .. } => 14,
            Reject::BundleOutcomeConflict { .. } => 15,
        }
    }
}

/// What the settlement contract did with a submission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The batch settled.
    Settled {
        /// The batch as recorded.
        batch: SettledBatch,
    },
    /// The contract refused it (like a reverted transaction: recorded, no state change).
    Rejected {
        /// Why.
        reject: Reject,
    },
}

/// The L1's answer to a submission: where it was included and what it did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// L1 block that included the submission.
    pub l1_block: u64,
    /// That block's hash.
    pub l1_block_hash: Hash,
    /// Position of the submission among the block's transactions.
    pub tx_index: u32,
    /// What the contract did.
    pub outcome: Outcome,
}

impl Receipt {
    /// The settled batch, if the submission settled.
    pub fn settled(&self) -> Option<&SettledBatch> {
        match &self.outcome {
            Outcome::Settled { batch } => Some(batch),
            Outcome::Rejected { .. } => None,
        }
    }

    /// The rejection, if the contract refused the submission.
    pub fn rejected(&self) -> Option<&Reject> {
        match &self.outcome {
            Outcome::Settled { .. } => None,
            Outcome::Rejected { reject } => Some(reject),
        }
    }
}

/// A submission as an L1 block records it: the proof is kept as its size and digest, since
/// the embedded L1 is never re-executed and proofs run to megabytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitCall {
    /// What the batch covers.
    pub header: BatchHeader,
    /// State root before the batch.
    pub old_root: Root,
    /// State root after the batch.
    pub new_root: Root,
    /// The commitment to the batch's Weft data.
    pub commitment: Root,
    /// Proof size, in bytes.
    pub proof_bytes: u64,
    /// SHA-256 of the proof.
    pub proof_sha256: Hash,
}

/// One transaction in an L1 block, with its effect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "tx", rename_all = "snake_case")]
pub enum L1Tx {
    /// A rollup was registered.
    RegisterRollup {
        /// Rollup id.
        rollup: u64,
        /// Its proof program's id.
        program: String,
        /// State root before any batch.
        genesis_root: Root,
        /// Where its first batch must start.
        start: Cursor,
        /// The key that signs its submissions.
        #[serde(with = "crate::auth::hex32")]
        submitter: [u8; 32],
    },
    /// A batch was submitted.
    Submit {
        /// The call.
        call: Box<SubmitCall>,
        /// What the contract did.
        outcome: Outcome,
    },
    /// A message was appended to a rollup's inbox.
    InboxSend {
        /// The message.
        message: InboxMessage,
    },
    /// An account was funded at genesis.
    Fund {
        /// The account.
        #[serde(with = "crate::auth::hex32")]
        account: [u8; 32],
        /// Its balance.
        balance: u64,
    },
    /// A staking call was executed ([`crate::staking`]).
    Stake {
        /// The call.
        call: crate::staking::StakeCall,
    },
    /// A validator was slashed on evidence ([`crate::staking`] rules S7, S8).
    Slash {
        /// The offender.
        #[serde(with = "crate::auth::hex32")]
        validator: [u8; 32],
        /// Its offence.
        kind: crate::staking::OffenceKind,
        /// The offence's id.
        #[serde(with = "crate::auth::hex32")]
        offence: [u8; 32],
        /// Amount taken.
        slashed: u64,
        /// Paid to the reporter.
        reward: u64,
        /// Who reported it.
        #[serde(with = "crate::auth::hex32")]
        reporter: [u8; 32],
    },
}

/// A block of the embedded L1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct L1Block {
    /// Block number; the genesis block is 0.
    pub number: u64,
    /// Hash of block `number - 1` (zeros for genesis).
    pub parent_hash: Hash,
    /// Ms since the Unix epoch; never below the parent's.
    pub timestamp_ms: u64,
    /// Transactions, in execution order.
    pub txs: Vec<L1Tx>,
    /// [`L1Block::compute_hash`] of the fields above.
    pub hash: Hash,
}

impl L1Block {
    /// SHA-256 over a domain tag, the number, parent hash, timestamp and the transactions'
    /// JSON encoding (deterministic: fixed field order, no maps).
    pub fn compute_hash(&self) -> Hash {
        use sha2::{Digest, Sha256};
        let txs = serde_json::to_vec(&self.txs).expect("L1 transactions serialize");
        let mut h = Sha256::new();
        h.update(b"weft-l1-block-v1");
        h.update(self.number.to_le_bytes());
        h.update(self.parent_hash);
        h.update(self.timestamp_ms.to_le_bytes());
        h.update((txs.len() as u64).to_le_bytes());
        h.update(&txs);
        h.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_rejects() -> Vec<Reject> {
        let c = Cursor::default();
        vec![
            Reject::UnknownRollup { rollup: 0 },
            Reject::ProgramMismatch {
                rollup: 0,
                registered: String::new(),
                configured: String::new(),
            },
            Reject::AlreadySettled {
                rollup: 0,
                batch_index: 0,
            },
            Reject::OutOfOrder {
                expected: 0,
                got: 0,
            },
            Reject::NonContiguous {
                expected: c,
                got: c,
            },
            Reject::EmptyBatch { start: c, end: c },
            Reject::TooLarge {
                heights: 0,
                heights_max: 0,
            },
            Reject::ProofTooLarge {
                bytes: 0,
                bytes_max: 0,
            },
            Reject::OldRootMismatch {
                expected: [0; 4],
                got: [0; 4],
            },
            Reject::NotFinalized { end: c, head: None },
            Reject::CommitmentFailed {
                reason: String::new(),
            },
            Reject::CommitmentMismatch {
                expected: [0; 4],
                got: [0; 4],
            },
            Reject::InvalidProof {
                reason: String::new(),
            },
        ]
    }

    #[test]
    fn reject_codes_are_stable_and_distinct() {
        let codes: Vec<u32> = all_rejects().iter().map(Reject::code).collect();
        assert_eq!(codes, (1..=13).collect::<Vec<u32>>());
    }

    #[test]
    fn rejects_round_trip_through_json() {
        for r in all_rejects() {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<Reject>(&json).unwrap(), r);
        }
    }

    #[test]
    fn cursors_order_by_height_then_index() {
        assert!(Cursor::new(1, 9) < Cursor::new(2, 0));
        assert!(Cursor::new(2, 0) < Cursor::new(2, 1));
        assert_eq!(Cursor::new(3, 4).to_string(), "3.4");
    }

    #[test]
    fn block_hash_covers_every_field() {
        let block = L1Block {
            number: 1,
            parent_hash: [1; 32],
            timestamp_ms: 5,
            txs: vec![],
            hash: [0; 32],
        };
        let base = block.compute_hash();
        let mut other = block.clone();
        other.number = 2;
        assert_ne!(other.compute_hash(), base);
        let mut other = block.clone();
        other.parent_hash = [2; 32];
        assert_ne!(other.compute_hash(), base);
        let mut other = block.clone();
        other.timestamp_ms = 6;
        assert_ne!(other.compute_hash(), base);
        let mut other = block;
        other.txs.push(L1Tx::InboxSend {
            message: InboxMessage {
                index: 0,
                rollup: 0,
                l1_block: 1,
                payload: vec![],
            },
        });
        assert_ne!(other.compute_hash(), base);
    }
}
