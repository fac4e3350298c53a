//! The prover coordinator: persisted proof tasks and their state machine.
//!
//! # Rules
//! 1. A task is created once per `(rollup, batch_index)`; creating it again returns the same id.
//! 2. `pull` is answered for a registered prover only (signed and fresh: [auth](crate::auth)
//!    rule K1), not suspended (rule 6). A prover holds one task at a time: if it holds one,
//!    the pull returns that task again (so a lost answer costs it nothing); otherwise it is
//!    assigned the oldest `unassigned` task of the rollup asked for that it has not failed,
//!    with a deadline `now + assignment_timeout_ms`. Assignment is one write transaction, so
//!    two provers never hold the same task.
//! 3. `submit` is accepted only from the task's current assignee, signed by it (rule K2). A
//!    proof that verifies makes the task `proven` (final). One that does not is a strike
//!    against the prover, which is never given that task again, and the task returns to
//!    `unassigned`. The proof is verified outside the write transaction.
//! 4. `sweep(now)` returns every `assigned` task whose deadline passed to `unassigned`, a
//!    strike against the prover that held it. `resume(now)`, once at start, first gives
//!    every task whose deadline passed while the coordinator was down a new one: nobody
//!    could hand in a proof then.
//! 5. A task never fails: what a prover does wrong counts against the prover (rules 3, 4, 6),
//!    never against the task's eventual settlement. `attempts` only counts its returns.
//! 6. A prover's strikes are its invalid proofs and missed deadlines since its last valid
//!    proof; at `strikes_max` it is suspended: its pulls are refused (the operator clears
//!    its record, `Coordinator::pardon`, once it is fixed).
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
/// Default strikes (invalid proofs plus missed deadlines) that suspend a prover (rule 6).
pub const DEFAULT_STRIKES_MAX: u32 = 3;
/// Most provers one coordinator registers.
pub const PROVERS_MAX: usize = 1_024;

const TASKS: TableDefinition<u64, &[u8]> = TableDefinition::new("tasks");
const BY_BATCH: TableDefinition<(u64, u64), u64> = TableDefinition::new("task_by_batch");
/// Ids of tasks not yet final (unassigned or assigned): what `pull` and `sweep` look at, so
/// their cost follows the outstanding work, not the history.
const OPEN: TableDefinition<u64, ()> = TableDefinition::new("open_tasks");
/// Witnesses, by task id (kept apart: they are large and read once per assignment).
const INPUTS: TableDefinition<u64, &[u8]> = TableDefinition::new("task_inputs");
/// Verified proofs, by task id.
const PROOFS: TableDefinition<u64, &[u8]> = TableDefinition::new("task_proofs");
/// Prover id -> JSON [`ProverRecord`].
const PROVERS: TableDefinition<&str, &[u8]> = TableDefinition::new("provers");
/// [`SCHEMA`] and [`INSTANCE`].
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Meta key of the store's layout version.
const SCHEMA: &str = "schema";
/// 2: provers are registered keys, tasks never fail, the store has an instance id.
const SCHEMA_VERSION: u64 = 2;
/// Meta key of the instance id provers sign for ([auth](crate::auth)).
const INSTANCE: &str = "instance";

/// Coordinator configuration (`[prover]` in a config file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Time a prover has to return a proof, in milliseconds.
    pub assignment_timeout_ms: u64,
    /// Strikes (invalid proofs plus missed deadlines since the prover's last valid proof)
    /// that suspend a prover (rule 6).
    pub strikes_max: u32,
    /// The registered provers: their ed25519 public keys, hex (at most [`PROVERS_MAX`]).
    pub provers: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            assignment_timeout_ms: DEFAULT_ASSIGNMENT_TIMEOUT_MS,
            strikes_max: DEFAULT_STRIKES_MAX,
            provers: Vec::new(),
        }
    }
}

impl Config {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), String> {
        if self.assignment_timeout_ms == 0 || self.strikes_max == 0 {
            return Err("prover.assignment_timeout_ms and prover.strikes_max must be > 0".into());
        }
        if self.provers.len() > PROVERS_MAX {
            return Err(format!(
                "prover.provers names {} keys, more than {PROVERS_MAX}",
                self.provers.len()
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &self.provers {
            let id = normalize(p).map_err(|e| format!("prover.provers: {p}: {e}"))?;
            if !seen.insert(id) {
                return Err(format!("prover.provers names {p} twice"));
            }
        }
        Ok(())
    }
}

/// A prover id in its one canonical form (`0x` and lowercase hex of 32 bytes).
fn normalize(prover: &str) -> Result<String, String> {
    weft_types::from_hex_fixed::<32>(prover).map(|k| weft_types::to_hex(&k))
}

/// What the coordinator remembers of a registered prover.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProverRecord {
    /// Invalid proofs plus missed deadlines since its last valid proof (rule 6).
    pub strikes: u32,
    /// Invalid proofs handed in.
    pub invalid_proofs: u32,
    /// Deadlines missed.
    pub missed_deadlines: u32,
    /// Tasks proven.
    pub proven: u64,
    /// The latest pull accepted, ms since the Unix epoch ([auth](crate::auth) rule K1).
    pub last_pull_ms: u64,
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
    /// Did not verify: a strike against the prover; the task is retried by another.
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
    /// The request is not signed by the prover it names, or is malformed.
    #[error("unauthenticated prover request: {0}")]
    Unauthenticated(String),
    /// The key is not a registered prover.
    #[error("{0} is not a registered prover")]
    NotRegistered(String),
    /// The prover is suspended (rule 6).
    #[error("prover {prover} is suspended after {strikes} strikes (invalid proofs and missed deadlines)")]
    Suspended {
        /// Prover.
        prover: String,
        /// Its strikes.
        strikes: u32,
    },
    /// A pull's timestamp is too far from the coordinator's clock (rule K1).
    #[error(
        "pull at {at_ms} ms is more than {skew_ms} ms from the coordinator's clock ({now_ms} ms)"
    )]
    StalePull {
        /// The pull's timestamp.
        at_ms: u64,
        /// The coordinator's clock.
        now_ms: u64,
        /// The bound.
        skew_ms: u64,
    },
    /// A pull's timestamp is not above the prover's last accepted one: a replay (rule K1).
    #[error("pull at {at_ms} ms is not after this prover's last accepted pull at {last_ms} ms")]
    ReplayedPull {
        /// The pull's timestamp.
        at_ms: u64,
        /// The last accepted one.
        last_ms: u64,
    },
    /// The configuration or the store's layout is not usable.
    #[error("{0}")]
    Config(String),
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
    /// The Weft chain the provers' requests are signed for.
    chain: weft_types::ChainId,
    /// The registered provers' ids, canonical.
    registered: std::collections::BTreeSet<String>,
    /// This store's instance id, named by every prover request.
    instance: crate::auth::Instance,
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
    /// Whether the task is proven (rule 5: nothing else is final).
    pub fn is_final(&self) -> bool {
        matches!(self.state, TaskState::Proven { .. })
    }
}

fn load_prover(
    provers: &impl ReadableTable<&'static str, &'static [u8]>,
    prover: &str,
) -> Result<ProverRecord, CoordinatorError> {
    match provers.get(prover)? {
        Some(v) => serde_json::from_slice(v.value())
            .map_err(|e| CoordinatorError::Corrupt(0, format!("prover {prover}: {e}"))),
        None => Ok(ProverRecord::default()),
    }
}

fn store_prover(
    provers: &mut redb::Table<'_, &'static str, &'static [u8]>,
    prover: &str,
    record: &ProverRecord,
) -> Result<(), CoordinatorError> {
    let bytes = serde_json::to_vec(record).expect("prover records serialize");
    provers.insert(prover, bytes.as_slice())?;
    Ok(())
}

/// A strike against `prover` (rules 3, 4, 6).
fn strike(
    provers: &mut redb::Table<'_, &'static str, &'static [u8]>,
    prover: &str,
    invalid_proof: bool,
) -> Result<ProverRecord, CoordinatorError> {
    let mut record = load_prover(provers, prover)?;
    record.strikes = record.strikes.saturating_add(1);
    if invalid_proof {
        record.invalid_proofs = record.invalid_proofs.saturating_add(1);
    } else {
        record.missed_deadlines = record.missed_deadlines.saturating_add(1);
    }
    store_prover(provers, prover, &record)?;
    Ok(record)
}

fn encode(task: &Task) -> Vec<u8> {
    serde_json::to_vec(task).expect("tasks serialize")
}

impl Coordinator {
    /// Opens (or creates) the task store, for provers signing for `chain`. `cfg` must
    /// validate.
    pub fn open(
        path: impl AsRef<Path>,
        cfg: Config,
        chain: weft_types::ChainId,
    ) -> Result<Self, CoordinatorError> {
        cfg.validate().map_err(CoordinatorError::Config)?;
        let registered = cfg
            .provers
            .iter()
            .map(|p| normalize(p).expect("validated"))
            .collect();
        let db = Database::create(path.as_ref())?;
        let txn = db.begin_write()?;
        txn.open_table(TASKS)?;
        txn.open_table(BY_BATCH)?;
        txn.open_table(OPEN)?;
        txn.open_table(INPUTS)?;
        txn.open_table(PROOFS)?;
        txn.open_table(PROVERS)?;
        let instance = {
            let mut meta = txn.open_table(META)?;
            let schema = meta.get(SCHEMA)?.map(|v| v.value().to_vec());
            match schema {
                Some(v) if v == SCHEMA_VERSION.to_be_bytes() => {}
                Some(v) => {
                    return Err(CoordinatorError::Config(format!(
                        "task store layout {v:?}, this build reads {SCHEMA_VERSION}"
                    )))
                }
                None if !txn.open_table(TASKS)?.is_empty()? => {
                    return Err(CoordinatorError::Config(format!(
                        "{}: a task store from before registered provers (layout 1); remove it and the batch store beside it to start the rollup's proving again",
                        path.as_ref().display()
                    )))
                }
                None => {
                    meta.insert(SCHEMA, SCHEMA_VERSION.to_be_bytes().as_slice())?;
                    // Unique, not secret: the clock, the process and the path.
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos());
                    let seed = weft_types::sha256(&[
                        &now.to_be_bytes(),
                        &std::process::id().to_be_bytes(),
                        path.as_ref().as_os_str().as_encoded_bytes(),
                    ]);
                    meta.insert(INSTANCE, seed.as_ref())?;
                }
            }
            let id = meta.get(INSTANCE)?.map(|v| v.value().to_vec());
            id.and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
                .ok_or_else(|| CoordinatorError::Corrupt(0, "instance id".into()))?
        };
        txn.commit()?;
        Ok(Self {
            db,
            cfg,
            chain,
            registered,
            instance,
        })
    }

    /// The instance id provers sign their requests for.
    pub fn instance(&self) -> crate::auth::Instance {
        self.instance
    }

    /// Clears a prover's strikes (rule 6): an operator's decision, once the prover is fixed.
    pub fn pardon(&self, prover: &str) -> Result<(), CoordinatorError> {
        let prover = self.registered(prover)?;
        let txn = self.db.begin_write()?;
        {
            let mut provers = txn.open_table(PROVERS)?;
            let mut record = load_prover(&provers, &prover)?;
            record.strikes = 0;
            store_prover(&mut provers, &prover, &record)?;
        }
        txn.commit()?;
        info!(target: "weft::prover", prover, "pardoned");
        Ok(())
    }

    /// Gives every task whose deadline passed while the coordinator was down a new deadline
    /// from `now_ms` (rule 4): call once at start, before the first sweep.
    pub fn resume(&self, now_ms: u64) -> Result<usize, CoordinatorError> {
        let txn = self.db.begin_write()?;
        let mut extended = 0;
        {
            let mut tasks = txn.open_table(TASKS)?;
            let open = txn.open_table(OPEN)?;
            let mut lapsed = Vec::new();
            for entry in open.iter()? {
                let task = load(&tasks, entry?.0.value())?;
                if matches!(task.state, TaskState::Assigned { deadline_ms, .. } if deadline_ms <= now_ms)
                {
                    lapsed.push(task);
                }
            }
            for mut task in lapsed {
                if let TaskState::Assigned { deadline_ms, .. } = &mut task.state {
                    *deadline_ms = now_ms + self.cfg.assignment_timeout_ms;
                }
                tasks.insert(task.id, encode(&task).as_slice())?;
                extended += 1;
            }
        }
        txn.commit()?;
        Ok(extended)
    }

    /// Every registered prover and what the coordinator remembers of it.
    pub fn provers(&self) -> Result<Vec<(String, ProverRecord)>, CoordinatorError> {
        let txn = self.db.begin_read()?;
        let provers = txn.open_table(PROVERS)?;
        self.registered
            .iter()
            .map(|p| Ok((p.clone(), load_prover(&provers, p)?)))
            .collect()
    }

    /// The registered prover a request names, canonical.
    fn registered(&self, prover: &str) -> Result<String, CoordinatorError> {
        let id = normalize(prover).map_err(CoordinatorError::Unauthenticated)?;
        if !self.registered.contains(&id) {
            return Err(CoordinatorError::NotRegistered(id));
        }
        Ok(id)
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

    /// Number of tasks not yet proven.
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

    /// Answers a pull by the prover that signed `request`: the task it holds, or the
    /// oldest eligible task of the rollup asked for (rules 2, 6, K1).
    pub fn pull(
        &self,
        request: &crate::auth::PullRequest,
        now_ms: u64,
    ) -> Result<Option<Task>, CoordinatorError> {
        let prover = self.registered(&request.prover)?;
        request
            .verify(&self.chain, &self.instance)
            .map_err(CoordinatorError::Unauthenticated)?;
        if request.at_ms.abs_diff(now_ms) > crate::auth::PULL_SKEW_MS {
            return Err(CoordinatorError::StalePull {
                at_ms: request.at_ms,
                now_ms,
                skew_ms: crate::auth::PULL_SKEW_MS,
            });
        }
        let mut txn = self.db.begin_write()?;
        let (answer, assigned) = {
            let mut provers = txn.open_table(PROVERS)?;
            let mut record = load_prover(&provers, &prover)?;
            if record.strikes >= self.cfg.strikes_max {
                return Err(CoordinatorError::Suspended {
                    prover,
                    strikes: record.strikes,
                });
            }
            if request.at_ms <= record.last_pull_ms {
                return Err(CoordinatorError::ReplayedPull {
                    at_ms: request.at_ms,
                    last_ms: record.last_pull_ms,
                });
            }
            // The request is used up, whatever the answer.
            record.last_pull_ms = request.at_ms;
            store_prover(&mut provers, &prover, &record)?;
            let mut tasks = txn.open_table(TASKS)?;
            let open = txn.open_table(OPEN)?;
            let (mut held, mut eligible) = (None, None);
            for entry in open.iter()? {
                let task = load(&tasks, entry?.0.value())?;
                match &task.state {
                    TaskState::Assigned { prover: p, .. } if *p == prover => {
                        held = Some(task);
                        break;
                    }
                    TaskState::Unassigned
                        if eligible.is_none()
                            && task.rollup == request.rollup
                            && !task.bad_provers.contains(&prover) =>
                    {
                        eligible = Some(task)
                    }
                    _ => {}
                }
            }
            match (held, eligible) {
                (Some(task), _) => (Some(task), false),
                (None, Some(mut task)) => {
                    task.state = TaskState::Assigned {
                        prover: prover.clone(),
                        deadline_ms: now_ms + self.cfg.assignment_timeout_ms,
                    };
                    tasks.insert(task.id, encode(&task).as_slice())?;
                    (Some(task), true)
                }
                (None, None) => (None, false),
            }
        };
        if !assigned {
            // Only the replay guard changed: not worth an fsync on every idle poll (after a
            // crash, a pull from the last moments could be replayed to ask again).
            txn.set_durability(redb::Durability::None)
                .map_err(|e| CoordinatorError::Database(redb::Error::from(e)))?;
        }
        txn.commit()?;
        if let (Some(t), true) = (&answer, assigned) {
            info!(target: "weft::prover", task = t.id, rollup = t.rollup, batch = t.batch_index, prover, "assigned");
        }
        Ok(answer)
    }

    /// Accepts a proof from the task's assignee, signed by it, verifying it with `backend`
    /// (rules 3, K2).
    pub fn submit(
        &self,
        request: &crate::auth::SubmitRequest,
        backend: &dyn ProofBackend,
    ) -> Result<SubmitOutcome, CoordinatorError> {
        let prover = self.registered(&request.prover)?;
        let proof = request
            .verified_proof(&self.chain, &self.instance)
            .map_err(CoordinatorError::Unauthenticated)?;
        let id = request.task;
        let assignee = |task: &Task| matches!(&task.state, TaskState::Assigned { prover: p, .. } if *p == prover);
        // Verified outside the write transaction (rule 3): pulls and sweeps do not wait
        // behind a STARK.
        let statement = {
            let task = self.get(id)?.ok_or(CoordinatorError::UnknownTask(id))?;
            if !assignee(&task) {
                return Err(CoordinatorError::NotAssignee {
                    task: id,
                    prover: prover.clone(),
                });
            }
            task.statement
        };
        let verdict = backend.verify(&statement, &proof);
        let txn = self.db.begin_write()?;
        let outcome = {
            let mut tasks = txn.open_table(TASKS)?;
            let mut task = match tasks.get(id)? {
                Some(v) => decode(id, v.value())?,
                None => return Err(CoordinatorError::UnknownTask(id)),
            };
            // Swept meanwhile: too late, whatever the verdict.
            if !assignee(&task) {
                return Err(CoordinatorError::NotAssignee { task: id, prover });
            }
            let mut provers = txn.open_table(PROVERS)?;
            let outcome = match verdict {
                Ok(()) => {
                    task.state = TaskState::Proven {
                        prover: prover.clone(),
                        backend: backend.id().to_string(),
                    };
                    task.proof_bytes = Some(proof.len() as u64);
                    txn.open_table(PROOFS)?.insert(id, proof.as_slice())?;
                    let mut record = load_prover(&provers, &prover)?;
                    record.proven += 1;
                    record.strikes = 0;
                    store_prover(&mut provers, &prover, &record)?;
                    SubmitOutcome::Accepted
                }
                Err(reason) => {
                    let record = strike(&mut provers, &prover, true)?;
                    warn!(target: "weft::prover", task = id, prover, strikes = record.strikes, %reason, "invalid proof");
                    task.bad_provers.push(prover.clone());
                    task.attempts += 1;
                    task.state = TaskState::Unassigned;
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

    /// Returns tasks whose deadline passed to `unassigned`, a strike against each holder
    /// (rules 4, 6). Returns their ids.
    pub fn sweep(&self, now_ms: u64) -> Result<Vec<TaskId>, CoordinatorError> {
        let txn = self.db.begin_write()?;
        let swept = {
            let mut tasks = txn.open_table(TASKS)?;
            let open = txn.open_table(OPEN)?;
            let mut expired = Vec::new();
            for entry in open.iter()? {
                let task = load(&tasks, entry?.0.value())?;
                if matches!(task.state, TaskState::Assigned { deadline_ms, .. } if deadline_ms <= now_ms)
                {
                    expired.push(task);
                }
            }
            let mut provers = txn.open_table(PROVERS)?;
            for task in &mut expired {
                let TaskState::Assigned { prover, .. } = task.state.clone() else {
                    unreachable!("filtered")
                };
                let record = strike(&mut provers, &prover, false)?;
                warn!(target: "weft::prover", task = task.id, prover, strikes = record.strikes, "deadline missed");
                task.attempts += 1;
                task.state = TaskState::Unassigned;
                tasks.insert(task.id, encode(task).as_slice())?;
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
    use std::collections::BTreeMap;

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

    use crate::auth::{prover_id, PullRequest, SubmitRequest};
    use commonware_cryptography::Signer as _;
    use weft_types::{ChainId, SigningKey};

    fn chain() -> ChainId {
        ChainId(weft_types::sha256(&[b"coordinator tests"]))
    }

    /// Registered provers are seeds 1 to 4.
    fn prover(seed: u64) -> SigningKey {
        SigningKey::from_seed(seed)
    }

    fn open_with(dir: &tempfile::TempDir, cfg: Config) -> Coordinator {
        let cfg = Config {
            provers: (1..=4).map(|s| prover_id(&prover(s))).collect(),
            ..cfg
        };
        Coordinator::open(dir.path().join("tasks.redb"), cfg, chain()).unwrap()
    }

    fn open(dir: &tempfile::TempDir) -> Coordinator {
        open_with(
            dir,
            Config {
                assignment_timeout_ms: 1_000,
                strikes_max: 3,
                ..Config::default()
            },
        )
    }

    /// Pulls as `key` for rollup 7 at `now_ms` (the request timestamped `now_ms`).
    fn pull(
        c: &Coordinator,
        key: &SigningKey,
        now_ms: u64,
    ) -> Result<Option<Task>, CoordinatorError> {
        c.pull(
            &PullRequest::sign(key, &chain(), &c.instance(), 7, now_ms),
            now_ms,
        )
    }

    fn submit(
        c: &Coordinator,
        key: &SigningKey,
        task: TaskId,
        proof: &[u8],
    ) -> Result<SubmitOutcome, CoordinatorError> {
        c.submit(
            &SubmitRequest::sign(key, &chain(), &c.instance(), task, proof),
            &Reverse,
        )
    }

    fn id(seed: u64) -> String {
        prover_id(&prover(seed))
    }

    #[test]
    fn two_provers_never_share_a_task_and_valid_proofs_are_final() {
        let dir = tempfile::tempdir().unwrap();
        let c = open(&dir);
        let a = c.create(7, 0, b"batch-0", b"batch-0".to_vec()).unwrap();
        let b = c.create(7, 1, b"batch-1", b"batch-1".to_vec()).unwrap();
        assert_eq!(
            c.create(7, 0, b"again", b"again".to_vec()).unwrap(),
            a,
            "one task per batch"
        );
        let t1 = pull(&c, &prover(1), 1).unwrap().unwrap();
        let t2 = pull(&c, &prover(2), 1).unwrap().unwrap();
        assert_eq!((t1.id, t2.id), (a, b), "oldest first, never the same task");
        assert!(pull(&c, &prover(3), 1).unwrap().is_none());
        // Only the assignee may submit.
        assert!(matches!(
            submit(&c, &prover(2), a, b"0-hctab"),
            Err(CoordinatorError::NotAssignee { .. })
        ));
        assert_eq!(
            submit(&c, &prover(1), a, b"0-hctab").unwrap(),
            SubmitOutcome::Accepted
        );
        let done = c.get(a).unwrap().unwrap();
        assert!(matches!(done.state, TaskState::Proven { ref prover, .. } if *prover == id(1)));
        assert_eq!(c.proof(a).unwrap().as_deref(), Some(&b"0-hctab"[..]));
        assert_eq!(c.input(a).unwrap().as_deref(), Some(&b"batch-0"[..]));
        assert!(
            submit(&c, &prover(1), a, b"0-hctab").is_err(),
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
        let c = open(&dir);
        let id1 = c.create(7, 0, b"x", b"x".to_vec()).unwrap();
        pull(&c, &prover(1), 1).unwrap().unwrap();
        assert!(
            c.sweep(1_000).unwrap().is_empty(),
            "not before the deadline"
        );
        assert_eq!(c.sweep(1_001).unwrap(), vec![id1]);
        let task = c.get(id1).unwrap().unwrap();
        assert_eq!(
            (task.state.clone(), task.attempts),
            (TaskState::Unassigned, 1)
        );
        assert!(
            matches!(
                submit(&c, &prover(1), id1, b"x"),
                Err(CoordinatorError::NotAssignee { .. })
            ),
            "too late"
        );
        pull(&c, &prover(2), 1_001).unwrap().unwrap();
        assert_eq!(
            submit(&c, &prover(2), id1, b"x").unwrap(),
            SubmitOutcome::Accepted
        );
        let provers: BTreeMap<String, ProverRecord> = c.provers().unwrap().into_iter().collect();
        assert_eq!(
            (provers[&id(1)].strikes, provers[&id(1)].missed_deadlines),
            (1, 1),
            "the missed deadline counts against the prover"
        );
        assert_eq!(provers[&id(2)].proven, 1);
    }

    /// Rules 2 and K1: made-up ids, unregistered keys, requests in another prover's name and
    /// replayed pulls get nothing, and use up nothing of a task.
    #[test]
    fn only_registered_provers_pull_and_only_as_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let c = open(&dir);
        let task = c.create(7, 0, b"x", b"x".to_vec()).unwrap();
        let now = 100_000;
        // An unregistered key, however many.
        for seed in 100..110 {
            assert!(matches!(
                pull(&c, &prover(seed), now),
                Err(CoordinatorError::NotRegistered(_))
            ));
        }
        // A made-up id.
        let mut made_up = PullRequest::sign(&prover(100), &chain(), &c.instance(), 7, now);
        made_up.prover = "prover-1".into();
        assert!(matches!(
            c.pull(&made_up, now),
            Err(CoordinatorError::Unauthenticated(_))
        ));
        // A registered prover's name on someone else's signature.
        let mut forged = PullRequest::sign(&prover(100), &chain(), &c.instance(), 7, now);
        forged.prover = id(1);
        assert!(matches!(
            c.pull(&forged, now),
            Err(CoordinatorError::Unauthenticated(_))
        ));
        // Signed for another network.
        let elsewhere = ChainId(weft_types::sha256(&[b"another network"]));
        assert!(matches!(
            c.pull(
                &PullRequest::sign(&prover(1), &elsewhere, &c.instance(), 7, now),
                now
            ),
            Err(CoordinatorError::Unauthenticated(_))
        ));
        // Stale, or from the future.
        for at in [
            now - crate::auth::PULL_SKEW_MS - 1,
            now + crate::auth::PULL_SKEW_MS + 1,
        ] {
            assert!(matches!(
                c.pull(
                    &PullRequest::sign(&prover(1), &chain(), &c.instance(), 7, at),
                    now
                ),
                Err(CoordinatorError::StalePull { .. })
            ));
        }
        let task_state = c.get(task).unwrap().unwrap();
        assert_eq!(
            (task_state.state, task_state.attempts),
            (TaskState::Unassigned, 0)
        );
        // Prover 1 pulls the task; its request replayed (by anyone) gets nothing more.
        let request = PullRequest::sign(&prover(1), &chain(), &c.instance(), 7, now);
        assert_eq!(c.pull(&request, now).unwrap().unwrap().id, task);
        c.create(7, 1, b"y", b"y".to_vec()).unwrap();
        assert!(matches!(
            c.pull(&request, now + 1),
            Err(CoordinatorError::ReplayedPull { .. })
        ));
        // Nor can prover 1 hoard: while it holds a task, a pull returns that task (so an
        // answer lost on the way costs it nothing either).
        let again = pull(&c, &prover(1), now + 2).unwrap().unwrap();
        assert_eq!(again.id, task);
        assert!(
            matches!(again.state, TaskState::Assigned { deadline_ms, .. } if deadline_ms == now + 1_000)
        );
        // A submission in prover 1's name, signed by another, is refused.
        let mut stolen = SubmitRequest::sign(&prover(2), &chain(), &c.instance(), task, b"x");
        stolen.prover = id(1);
        assert!(matches!(
            c.submit(&stolen, &Reverse),
            Err(CoordinatorError::Unauthenticated(_))
        ));
    }

    /// Rules 3, 5 and 6: a cheating prover hands in invalid proofs; each is a strike against
    /// it, it is suspended at `strikes_max`, and the task is never failed: an honest prover
    /// proves it however many invalid proofs came first.
    #[test]
    fn invalid_proofs_suspend_the_prover_and_never_fail_the_task() {
        let dir = tempfile::tempdir().unwrap();
        let c = open(&dir);
        let tasks: Vec<TaskId> = (0..3)
            .map(|i| c.create(7, i, b"ab", b"ab".to_vec()).unwrap())
            .collect();
        let cheater = prover(3);
        let mut now = 1;
        for &t in &tasks {
            now += 1;
            assert_eq!(pull(&c, &cheater, now).unwrap().unwrap().id, t);
            assert!(matches!(
                submit(&c, &cheater, t, b"ab").unwrap(),
                SubmitOutcome::Rejected { .. }
            ));
            let task = c.get(t).unwrap().unwrap();
            assert_eq!(task.bad_provers, vec![id(3)]);
            assert_eq!(task.state, TaskState::Unassigned);
        }
        now += 1;
        assert!(matches!(
            pull(&c, &cheater, now),
            Err(CoordinatorError::Suspended { strikes: 3, .. })
        ));
        // Two more cheaters burn their strikes on the first task: it stays open.
        for seed in [1, 2] {
            for _ in 0..3 {
                now += 1;
                let Ok(Some(t)) = pull(&c, &prover(seed), now) else {
                    break;
                };
                submit(&c, &prover(seed), t.id, b"zz").unwrap();
            }
        }
        assert_eq!(c.open_count().unwrap(), 3, "no task failed");
        // The honest prover proves every one of them.
        let honest = prover(4);
        for _ in 0..3 {
            now += 1;
            let t = pull(&c, &honest, now).unwrap().unwrap();
            assert_eq!(
                submit(&c, &honest, t.id, b"ba").unwrap(),
                SubmitOutcome::Accepted
            );
        }
        assert_eq!(c.open_count().unwrap(), 0);
        assert!(c.tasks().unwrap().iter().all(|t| t.is_final()));
    }

    #[test]
    fn state_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let id9 = {
            let c = open(&dir);
            let id = c.create(9, 4, b"in", b"in".to_vec()).unwrap();
            c.pull(
                &PullRequest::sign(&prover(1), &chain(), &c.instance(), 9, 5),
                5,
            )
            .unwrap()
            .unwrap();
            id
        };
        let c = open(&dir);
        let task = c.get(id9).unwrap().unwrap();
        assert_eq!(
            task.state,
            TaskState::Assigned {
                prover: id(1),
                deadline_ms: 1_005
            }
        );
        assert_eq!(
            (task.rollup, task.batch_index, task.statement.as_slice()),
            (9, 4, &b"in"[..])
        );
        assert_eq!(c.create(9, 4, b"", vec![]).unwrap(), id9);
        // The replay guard survives too.
        assert!(matches!(
            c.pull(
                &PullRequest::sign(&prover(1), &chain(), &c.instance(), 9, 5),
                5
            ),
            Err(CoordinatorError::ReplayedPull { .. })
        ));
        assert_eq!(c.sweep(2_000).unwrap(), vec![id9]);
        assert_eq!(c.tasks().unwrap().len(), 1);
    }

    #[test]
    fn bad_prover_lists_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tasks.redb");
        for (provers, why) in [
            (vec!["prover-1".to_string()], "expected 64 hex"),
            (vec![id(1), id(1).to_uppercase().replace("0X", "")], "twice"),
        ] {
            let cfg = Config {
                provers,
                ..Config::default()
            };
            let err = Coordinator::open(&path, cfg, chain()).err().unwrap();
            assert!(err.to_string().contains(why), "{err}");
        }
    }

    /// Rules 4 and 6: a coordinator that was down does not strike provers for deadlines that
    /// passed meanwhile; a valid proof clears a prover's strikes, and an operator can pardon
    /// a suspended one.
    #[test]
    fn downtime_is_not_a_strike_and_strikes_clear() {
        let dir = tempfile::tempdir().unwrap();
        let task = {
            let c = open(&dir);
            let task = c.create(7, 0, b"x", b"x".to_vec()).unwrap();
            pull(&c, &prover(1), 10).unwrap().unwrap();
            task
        };
        // Back 10 s later, well past the 1 s deadline.
        let c = open(&dir);
        assert_eq!(c.resume(10_000).unwrap(), 1);
        assert!(
            c.sweep(10_000).unwrap().is_empty(),
            "no strike for downtime"
        );
        assert_eq!(
            submit(&c, &prover(1), task, b"x").unwrap(),
            SubmitOutcome::Accepted
        );

        // Two misses, then a valid proof: the strikes are gone.
        let mut now = 20_000;
        for i in 1..=2 {
            c.create(7, i, b"y", b"y".to_vec()).unwrap();
            pull(&c, &prover(2), now).unwrap().unwrap();
            now += 1_001;
            c.sweep(now).unwrap();
        }
        let record = |c: &Coordinator, seed| {
            c.provers()
                .unwrap()
                .into_iter()
                .find(|(p, _)| *p == id(seed))
                .unwrap()
                .1
        };
        assert_eq!(record(&c, 2).strikes, 2);
        now += 1;
        let t = pull(&c, &prover(2), now).unwrap().unwrap();
        submit(&c, &prover(2), t.id, b"y").unwrap();
        assert_eq!(
            (record(&c, 2).strikes, record(&c, 2).missed_deadlines),
            (0, 2)
        );

        // A third prover misses three deadlines and is suspended, until pardoned.
        for _ in 0..3 {
            now += 1;
            pull(&c, &prover(3), now).unwrap().unwrap();
            now += 1_001;
            c.sweep(now).unwrap();
        }
        now += 1;
        assert!(matches!(
            pull(&c, &prover(3), now),
            Err(CoordinatorError::Suspended { strikes: 3, .. })
        ));
        c.pardon(&id(3)).unwrap();
        now += 1;
        assert!(pull(&c, &prover(3), now).unwrap().is_some());
    }

    /// Rules K1, K2: a request signed for another coordinator (task ids restart with each
    /// store) does not count here; and a store from before registered provers is refused.
    #[test]
    fn requests_for_another_coordinator_and_old_stores_are_refused() {
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, b) = (open(&dir_a), open(&dir_b));
        assert_ne!(a.instance(), b.instance());
        let task = a.create(7, 0, b"x", b"x".to_vec()).unwrap();
        assert_eq!(b.create(7, 0, b"x", b"x".to_vec()).unwrap(), task);
        pull(&a, &prover(1), 10).unwrap().unwrap();
        pull(&b, &prover(1), 10).unwrap().unwrap();
        // Prover 1's valid submission to A, replayed to B, is refused there (no strike).
        let to_a = SubmitRequest::sign(&prover(1), &chain(), &a.instance(), task, b"zz");
        assert!(matches!(
            b.submit(&to_a, &Reverse),
            Err(CoordinatorError::Unauthenticated(_))
        ));
        let pull_a = PullRequest::sign(&prover(2), &chain(), &a.instance(), 7, 20);
        assert!(matches!(
            b.pull(&pull_a, 20),
            Err(CoordinatorError::Unauthenticated(_))
        ));
        assert_eq!(
            b.provers()
                .unwrap()
                .iter()
                .map(|(_, r)| r.strikes)
                .sum::<u32>(),
            0
        );

        // A layout-1 store: tasks but no schema.
        let old = tempfile::tempdir().unwrap();
        let path = old.path().join("tasks.redb");
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(TASKS)
                .unwrap()
                .insert(0, b"{}".as_slice())
                .unwrap();
            txn.commit().unwrap();
        }
        let cfg = Config {
            provers: vec![id(1)],
            ..Config::default()
        };
        let err = Coordinator::open(&path, cfg, chain()).err().unwrap();
        assert!(err.to_string().contains("layout 1"), "{err}");
    }
}
