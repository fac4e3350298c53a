//! The prover coordinator: persisted proof tasks and their state machine.
//!
//! # Rules
//! 1. A task is created once per `(rollup, batch_index)`; creating it again returns the same id.
//! 2. `pull(prover)` assigns the oldest `unassigned` task this prover has not failed, with a
//!    deadline `now + assignment_timeout_ms`. Assignment is one write transaction, so two
//!    provers never hold the same task.
//! 3. `submit(prover, task, proof)` is accepted only from the task's current assignee. A proof
//!    that verifies makes the task `proven` (final). One that does not is recorded against the
//!    prover, which is never given that task again, and the task returns to `unassigned`.
//! 4. `sweep(now)` returns every `assigned` task whose deadline passed to `unassigned`.
//! 5. Each return to `unassigned` (bad proof or missed deadline) counts an attempt; at
//!    `attempts_max` the task becomes `failed` (final) and needs an operator.
//!
//! Every transition is written (fsync) before it is reported.

use crate::ProofBackend;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use std::path::Path;
use thiserror::Error;
use tracing::{info, warn};

/// Default time a prover has to return a proof, in milliseconds.
pub const DEFAULT_ASSIGNMENT_TIMEOUT_MS: u64 = 10 * 60 * 1000;
/// Default attempts before a task fails.
pub const DEFAULT_ATTEMPTS_MAX: u32 = 5;

const TASKS: TableDefinition<u64, &[u8]> = TableDefinition::new("tasks");
const BY_BATCH: TableDefinition<(u64, u64), u64> = TableDefinition::new("task_by_batch");
/// Ids of tasks not yet final (unassigned or assigned): what `pull` and `sweep` look at, so
/// their cost follows the outstanding work, not the history.
const OPEN: TableDefinition<u64, ()> = TableDefinition::new("open_tasks");
/// Witnesses, by task id (kept apart: they are large and read once per assignment).
const INPUTS: TableDefinition<u64, &[u8]> = TableDefinition::new("task_inputs");
/// Verified proofs, by task id.
const PROOFS: TableDefinition<u64, &[u8]> = TableDefinition::new("task_proofs");

/// Coordinator configuration (`[prover]` in a config file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Time a prover has to return a proof, in milliseconds.
    pub assignment_timeout_ms: u64,
    /// Attempts (missed deadlines plus invalid proofs) before a task fails.
    pub attempts_max: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            assignment_timeout_ms: DEFAULT_ASSIGNMENT_TIMEOUT_MS,
            attempts_max: DEFAULT_ATTEMPTS_MAX,
        }
    }
}

impl Config {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), String> {
        if self.assignment_timeout_ms == 0 || self.attempts_max == 0 {
            return Err("prover.assignment_timeout_ms and prover.attempts_max must be > 0".into());
        }
        Ok(())
    }
}

/// A task's id.
pub type TaskId = u64;

/// Where a task is in its life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for a prover.
    Unassigned,
    /// Held by a prover until the deadline.
    Assigned {
        /// Prover id.
        prover: String,
        /// Deadline, ms since the Unix epoch.
        deadline_ms: u64,
    },
    /// Proven and verified (final).
    Proven {
        /// Prover id.
        prover: String,
        /// Backend that verified the proof.
        backend: String,
    },
    /// Gave up after `attempts_max` attempts (final).
    Failed {
        /// The last reason.
        reason: String,
    },
}

/// A proof task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Id.
    pub id: TaskId,
    /// Rollup (namespace).
    pub rollup: u64,
    /// Batch index within the rollup.
    pub batch_index: u64,
    /// The statement the proof is checked against (the backend's public inputs); the
    /// witness is stored apart ([`Coordinator::input`]).
    pub statement: Vec<u8>,
    /// Size of the witness, in bytes.
    pub input_bytes: u64,
    /// State.
    pub state: TaskState,
    /// Attempts used.
    pub attempts: u32,
    /// Provers that returned an invalid proof for this task.
    pub bad_provers: Vec<String>,
    /// Size of the verified proof once proven, in bytes ([`Coordinator::proof`]).
    pub proof_bytes: Option<u64>,
}

/// Result of a submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Verified: the task is proven.
    Accepted,
    /// Did not verify: recorded against the prover; the task will be retried (or failed).
    Rejected {
        /// Why.
        reason: String,
    },
}

/// Why a coordinator call failed.
#[derive(Debug, Error)]
pub enum CoordinatorError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] redb::Error),
    /// Stored bytes are corrupt.
    #[error("corrupt task {0}: {1}")]
    Corrupt(TaskId, String),
    /// No such task.
    #[error("unknown task {0}")]
    UnknownTask(TaskId),
    /// The prover does not hold the task (late after a sweep, or never assigned).
    #[error("task {task} is not assigned to prover {prover}")]
    NotAssignee {
        /// Task.
        task: TaskId,
        /// Prover.
        prover: String,
    },
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for CoordinatorError {
            fn from(e: $t) -> Self { CoordinatorError::Database(e.into()) }
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

/// The coordinator.
pub struct Coordinator {
    db: Database,
    cfg: Config,
}

fn decode(id: TaskId, bytes: &[u8]) -> Result<Task, CoordinatorError> {
    serde_json::from_slice(bytes).map_err(|e| CoordinatorError::Corrupt(id, e.to_string()))
}

fn load(
    tasks: &impl ReadableTable<u64, &'static [u8]>,
    id: TaskId,
) -> Result<Task, CoordinatorError> {
    match tasks.get(id)? {
        Some(v) => decode(id, v.value()),
        None => Err(CoordinatorError::Corrupt(
            id,
            "open task missing from the task table".into(),
        )),
    }
}

impl Task {
    /// Whether the task is proven or failed.
    pub fn is_final(&self) -> bool {
        matches!(
            self.state,
            TaskState::Proven { .. } | TaskState::Failed { .. }
        )
    }
}

fn encode(task: &Task) -> Vec<u8> {
    serde_json::to_vec(task).expect("tasks serialize")
}

impl Coordinator {
    /// Opens (or creates) the task store.
    pub fn open(path: impl AsRef<Path>, cfg: Config) -> Result<Self, CoordinatorError> {
        let db = Database::create(path.as_ref())?;
        let txn = db.begin_write()?;
        txn.open_table(TASKS)?;
        txn.open_table(BY_BATCH)?;
        txn.open_table(OPEN)?;
        txn.open_table(INPUTS)?;
        txn.open_table(PROOFS)?;
        txn.commit()?;
        Ok(Self { db, cfg })
    }

    /// Creates the task of a batch (rule 1).
    pub fn create(
        &self,
        rollup: u64,
        batch_index: u64,
        input: &[u8],
        statement: Vec<u8>,
    ) -> Result<TaskId, CoordinatorError> {
        let txn = self.db.begin_write()?;
        let id = {
            let mut by_batch = txn.open_table(BY_BATCH)?;
            if let Some(id) = by_batch.get((rollup, batch_index))?.map(|v| v.value()) {
                return Ok(id);
            }
            let mut tasks = txn.open_table(TASKS)?;
            let id = tasks.last()?.map_or(0, |(k, _)| k.value() + 1);
            let task = Task {
                id,
                rollup,
                batch_index,
                statement,
                input_bytes: input.len() as u64,
                state: TaskState::Unassigned,
                attempts: 0,
                bad_provers: Vec::new(),
                proof_bytes: None,
            };
            tasks.insert(id, encode(&task).as_slice())?;
            txn.open_table(INPUTS)?.insert(id, input)?;
            by_batch.insert((rollup, batch_index), id)?;
            txn.open_table(OPEN)?.insert(id, ())?;
            id
        };
        txn.commit()?;
        Ok(id)
    }

    /// A task.
    pub fn get(&self, id: TaskId) -> Result<Option<Task>, CoordinatorError> {
        let txn = self.db.begin_read()?;
        let tasks = txn.open_table(TASKS)?;
        tasks.get(id)?.map(|v| decode(id, v.value())).transpose()
    }

    /// The task of a batch.
    pub fn task_of(&self, rollup: u64, batch_index: u64) -> Result<Option<Task>, CoordinatorError> {
        let txn = self.db.begin_read()?;
        let Some(id) = txn
            .open_table(BY_BATCH)?
            .get((rollup, batch_index))?
            .map(|v| v.value())
        else {
            return Ok(None);
        };
        let tasks = txn.open_table(TASKS)?;
        tasks.get(id)?.map(|v| decode(id, v.value())).transpose()
    }

    /// A task's witness.
    pub fn input(&self, id: TaskId) -> Result<Option<Vec<u8>>, CoordinatorError> {
        let txn = self.db.begin_read()?;
        let inputs = txn.open_table(INPUTS)?;
        Ok(inputs.get(id)?.map(|v| v.value().to_vec()))
    }

    /// A proven task's proof.
    pub fn proof(&self, id: TaskId) -> Result<Option<Vec<u8>>, CoordinatorError> {
        let txn = self.db.begin_read()?;
        let proofs = txn.open_table(PROOFS)?;
        Ok(proofs.get(id)?.map(|v| v.value().to_vec()))
    }

    /// Number of tasks not yet proven or failed.
    pub fn open_count(&self) -> Result<u64, CoordinatorError> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(OPEN)?.len()?)
    }

    /// Every task, oldest first.
    pub fn tasks(&self) -> Result<Vec<Task>, CoordinatorError> {
        let txn = self.db.begin_read()?;
        let tasks = txn.open_table(TASKS)?;
        let mut out = Vec::new();
        for entry in tasks.iter()? {
            let (k, v) = entry?;
            out.push(decode(k.value(), v.value())?);
        }
        Ok(out)
    }

    /// Assigns the oldest eligible task to `prover` (rule 2).
    pub fn pull(&self, prover: &str, now_ms: u64) -> Result<Option<Task>, CoordinatorError> {
        let txn = self.db.begin_write()?;
        let assigned = {
            let mut tasks = txn.open_table(TASKS)?;
            let open = txn.open_table(OPEN)?;
            let mut chosen = None;
            for entry in open.iter()? {
                let task = load(&tasks, entry?.0.value())?;
                if task.state == TaskState::Unassigned
                    && !task.bad_provers.iter().any(|p| p == prover)
                {
                    chosen = Some(task);
                    break;
                }
            }
            match chosen {
                Some(mut task) => {
                    task.state = TaskState::Assigned {
                        prover: prover.to_string(),
                        deadline_ms: now_ms + self.cfg.assignment_timeout_ms,
                    };
                    tasks.insert(task.id, encode(&task).as_slice())?;
                    Some(task)
                }
                None => None,
            }
        };
        txn.commit()?;
        if let Some(t) = &assigned {
            info!(target: "weft::prover", task = t.id, rollup = t.rollup, batch = t.batch_index, prover, "assigned");
        }
        Ok(assigned)
    }

    fn retry_or_fail(&self, task: &mut Task, reason: String) {
        task.attempts += 1;
        task.state = if task.attempts >= self.cfg.attempts_max {
            warn!(target: "weft::prover", task = task.id, attempts = task.attempts, %reason, "task failed");
            TaskState::Failed { reason }
        } else {
            TaskState::Unassigned
        };
    }

    /// Accepts a proof from the task's assignee, verifying it with `backend` (rule 3).
    pub fn submit(
        &self,
        prover: &str,
        id: TaskId,
        proof: Vec<u8>,
        backend: &dyn ProofBackend,
    ) -> Result<SubmitOutcome, CoordinatorError> {
        let txn = self.db.begin_write()?;
        let outcome = {
            let mut tasks = txn.open_table(TASKS)?;
            let mut task = match tasks.get(id)? {
                Some(v) => decode(id, v.value())?,
                None => return Err(CoordinatorError::UnknownTask(id)),
            };
            if !matches!(&task.state, TaskState::Assigned { prover: p, .. } if p == prover) {
                return Err(CoordinatorError::NotAssignee {
                    task: id,
                    prover: prover.to_string(),
                });
            }
            let outcome = match backend.verify(&task.statement, &proof) {
                Ok(()) => {
                    task.state = TaskState::Proven {
                        prover: prover.to_string(),
                        backend: backend.id().to_string(),
                    };
                    task.proof_bytes = Some(proof.len() as u64);
                    txn.open_table(PROOFS)?.insert(id, proof.as_slice())?;
                    SubmitOutcome::Accepted
                }
                Err(reason) => {
                    warn!(target: "weft::prover", task = id, prover, %reason, "invalid proof");
                    task.bad_provers.push(prover.to_string());
                    self.retry_or_fail(&mut task, format!("invalid proof from {prover}: {reason}"));
                    SubmitOutcome::Rejected { reason }
                }
            };
            tasks.insert(id, encode(&task).as_slice())?;
            if task.is_final() {
                txn.open_table(OPEN)?.remove(id)?;
            }
            outcome
        };
        txn.commit()?;
        Ok(outcome)
    }

    /// Returns tasks whose deadline passed to `unassigned` (rules 4, 5). Returns their ids.
    pub fn sweep(&self, now_ms: u64) -> Result<Vec<TaskId>, CoordinatorError> {
        let txn = self.db.begin_write()?;
        let swept = {
            let mut tasks = txn.open_table(TASKS)?;
            let mut open = txn.open_table(OPEN)?;
            let mut expired = Vec::new();
            for entry in open.iter()? {
                let task = load(&tasks, entry?.0.value())?;
                if matches!(task.state, TaskState::Assigned { deadline_ms, .. } if deadline_ms <= now_ms)
                {
                    expired.push(task);
                }
            }
            for task in &mut expired {
                let TaskState::Assigned { prover, .. } = task.state.clone() else {
                    unreachable!("filtered")
                };
                self.retry_or_fail(task, format!("prover {prover} missed its deadline"));
                tasks.insert(task.id, encode(task).as_slice())?;
                if task.is_final() {
                    open.remove(task.id)?;
                }
            }
            expired.into_iter().map(|t| t.id).collect::<Vec<_>>()
        };
        txn.commit()?;
        Ok(swept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend for the state machine's tests: a proof is valid iff it equals the input
    /// reversed. (Real proofs are tested with the real backend.)
    struct Reverse;
    impl ProofBackend for Reverse {
        fn id(&self) -> &'static str {
            "test-reverse"
        }
        fn prove(&self, input: &[u8]) -> Result<Vec<u8>, String> {
            Ok(input.iter().rev().copied().collect())
        }
        fn verify(&self, input: &[u8], proof: &[u8]) -> Result<(), String> {
            (self.prove(input)? == proof)
                .then_some(())
                .ok_or_else(|| "proof does not match".into())
        }
    }

    fn open(dir: &tempfile::TempDir, attempts_max: u32) -> Coordinator {
        Coordinator::open(
            dir.path().join("tasks.redb"),
            Config {
                assignment_timeout_ms: 1_000,
                attempts_max,
            },
        )
        .unwrap()
    }

    #[test]
    fn two_provers_never_share_a_task_and_valid_proofs_are_final() {
        let dir = tempfile::tempdir().unwrap();
        let c = open(&dir, 3);
        let a = c.create(7, 0, b"batch-0", b"batch-0".to_vec()).unwrap();
        let b = c.create(7, 1, b"batch-1", b"batch-1".to_vec()).unwrap();
        assert_eq!(
            c.create(7, 0, b"again", b"again".to_vec()).unwrap(),
            a,
            "one task per batch"
        );
        let t1 = c.pull("p1", 0).unwrap().unwrap();
        let t2 = c.pull("p2", 0).unwrap().unwrap();
        assert_eq!((t1.id, t2.id), (a, b), "oldest first, never the same task");
        assert!(c.pull("p3", 0).unwrap().is_none());
        // Only the assignee may submit.
        assert!(matches!(
            c.submit("p2", a, vec![], &Reverse),
            Err(CoordinatorError::NotAssignee { .. })
        ));
        assert_eq!(
            c.submit("p1", a, b"0-hctab".to_vec(), &Reverse).unwrap(),
            SubmitOutcome::Accepted
        );
        let done = c.get(a).unwrap().unwrap();
        assert!(matches!(done.state, TaskState::Proven { ref prover, .. } if prover == "p1"));
        assert_eq!(c.proof(a).unwrap().as_deref(), Some(&b"0-hctab"[..]));
        assert_eq!(c.input(a).unwrap().as_deref(), Some(&b"batch-0"[..]));
        assert!(
            c.submit("p1", a, b"0-hctab".to_vec(), &Reverse).is_err(),
            "a proven task is final"
        );
        assert_eq!(
            c.open_count().unwrap(),
            1,
            "a proven task leaves the open index"
        );
    }

    #[test]
    fn a_missed_deadline_returns_the_task_and_another_prover_finishes_it() {
        let dir = tempfile::tempdir().unwrap();
        let c = open(&dir, 3);
        let id = c.create(7, 0, b"x", b"x".to_vec()).unwrap();
        c.pull("dead", 0).unwrap().unwrap();
        assert!(c.sweep(999).unwrap().is_empty(), "not before the deadline");
        assert_eq!(c.sweep(1_000).unwrap(), vec![id]);
        let task = c.get(id).unwrap().unwrap();
        assert_eq!(
            (task.state.clone(), task.attempts),
            (TaskState::Unassigned, 1)
        );
        assert!(
            matches!(
                c.submit("dead", id, b"x".to_vec(), &Reverse),
                Err(CoordinatorError::NotAssignee { .. })
            ),
            "too late"
        );
        c.pull("alive", 1_000).unwrap().unwrap();
        assert_eq!(
            c.submit("alive", id, b"x".to_vec(), &Reverse).unwrap(),
            SubmitOutcome::Accepted
        );
    }

    #[test]
    fn an_invalid_proof_is_recorded_and_retried_elsewhere_until_attempts_run_out() {
        let dir = tempfile::tempdir().unwrap();
        let c = open(&dir, 2);
        let id = c.create(7, 0, b"ab", b"ab".to_vec()).unwrap();
        c.pull("liar", 0).unwrap().unwrap();
        assert!(matches!(
            c.submit("liar", id, b"ab".to_vec(), &Reverse).unwrap(),
            SubmitOutcome::Rejected { .. }
        ));
        let task = c.get(id).unwrap().unwrap();
        assert_eq!(task.bad_provers, vec!["liar".to_string()]);
        assert!(
            c.pull("liar", 0).unwrap().is_none(),
            "never given the same task again"
        );
        c.pull("other", 0).unwrap().unwrap();
        assert!(matches!(
            c.submit("other", id, b"zz".to_vec(), &Reverse).unwrap(),
            SubmitOutcome::Rejected { .. }
        ));
        assert!(
            matches!(c.get(id).unwrap().unwrap().state, TaskState::Failed { .. }),
            "attempts_max = 2 reached"
        );
        assert_eq!(
            c.open_count().unwrap(),
            0,
            "a failed task leaves the open index"
        );
        assert!(
            c.pull("third", 0).unwrap().is_none(),
            "a failed task is final"
        );
    }

    #[test]
    fn state_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let id = {
            let c = open(&dir, 3);
            let id = c.create(9, 4, b"in", b"in".to_vec()).unwrap();
            c.pull("p", 5).unwrap().unwrap();
            id
        };
        let c = open(&dir, 3);
        let task = c.get(id).unwrap().unwrap();
        assert_eq!(
            task.state,
            TaskState::Assigned {
                prover: "p".into(),
                deadline_ms: 1_005
            }
        );
        assert_eq!(
            (task.rollup, task.batch_index, task.statement.as_slice()),
            (9, 4, &b"in"[..])
        );
        assert_eq!(c.create(9, 4, b"", vec![]).unwrap(), id);
        assert_eq!(c.sweep(2_000).unwrap(), vec![id]);
        assert_eq!(c.tasks().unwrap().len(), 1);
    }
}
