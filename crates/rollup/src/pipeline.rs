//! From cut batches to settled ones: persist each cut, create its proof task, let provers
//! pull tasks over RPC, sweep missed deadlines, and submit proven batches to the L1 in
//! order.

use crate::batcher::{Batch, Cut};
use crate::clock::SharedClock;
use crate::l1::{L1Client, SubmissionJson};
use crate::service::Rollup;
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned};
use jsonrpsee::RpcModule;
use redb::{Database, ReadableDatabase, TableDefinition};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, path::Path, sync::Arc};
use tracing::{info, warn};
use weft_prover::token::{PublicInputs, TokenBackend, BACKEND_ID};
use weft_prover::{Coordinator, SubmitOutcome, TaskState};
use weft_rollup_token::word_from_u64;
use weft_settlement::{Cursor, Outcome, Reject};

const BATCHES: TableDefinition<u64, &[u8]> = TableDefinition::new("batches");

/// Most batches one `rollup_batches` call returns.
pub const ROLLUP_BATCHES_MAX: usize = 1000;
/// How often cuts are collected and deadlines swept, in milliseconds.
pub const PIPELINE_TICK_MS: u64 = 100;
/// Pause between settlement attempts, in milliseconds.
pub const SETTLE_POLL_MS: u64 = 300;
/// Longest pause between settlement attempts after failures (doubling from
/// [`SETTLE_POLL_MS`]), in milliseconds.
pub const SETTLE_BACKOFF_MAX_MS: u64 = 30_000;

/// What the pipeline settles with: the L1, and the keys the rollup's L1 deployment expects
/// (`weft_settlement::auth`).
pub struct Settler {
    /// The L1's RPC.
    pub client: L1Client,
    /// The Weft chain the L1 settles (named by the signing domains).
    pub chain: weft_types::ChainId,
    /// Signs batch submissions (auth rule A2).
    pub submitter: weft_types::SigningKey,
    /// The rollup's owner, if this node holds it: it then registers the rollup, naming
    /// `submitter` (rule A1). Without it the owner must have registered the rollup.
    pub owner: Option<weft_types::SigningKey>,
}

/// What one settlement attempt came to.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// A batch settled, or nothing is ready yet: poll again soon.
    Progress,
    /// A transient refusal (the L1's view of Weft is behind) or failure: back off.
    Retry,
    /// The L1 refused the batch for good: resubmitting it cannot settle it.
    Refused(String),
}

/// The persisted batches (index → [`Batch`]), written before their task exists.
pub struct BatchStore {
    db: Database,
}

impl BatchStore {
    /// Opens (or creates) the store.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, String> {
        let db = Database::create(path.as_ref()).map_err(|e| e.to_string())?;
        let txn = db.begin_write().map_err(|e| e.to_string())?;
        txn.open_table(BATCHES).map_err(|e| e.to_string())?;
        txn.commit().map_err(|e| e.to_string())?;
        Ok(Self { db })
    }

    /// Every batch, by index.
    pub fn all(&self) -> Result<BTreeMap<u64, Batch>, String> {
        self.range(0, usize::MAX)
    }

    /// Up to `limit` batches from index `from`.
    pub fn range(&self, from: u64, limit: usize) -> Result<BTreeMap<u64, Batch>, String> {
        let txn = self.db.begin_read().map_err(|e| e.to_string())?;
        let t = txn.open_table(BATCHES).map_err(|e| e.to_string())?;
        let mut out = BTreeMap::new();
        for e in t.range(from..).map_err(|e| e.to_string())?.take(limit) {
            let (k, v) = e.map_err(|e| e.to_string())?;
            let batch: Batch = serde_json::from_slice(v.value())
                .map_err(|e| format!("batch {}: {e}", k.value()))?;
            out.insert(k.value(), batch);
        }
        Ok(out)
    }

    /// The persisted cuts, for the batcher to replay.
    pub fn planned(&self) -> Result<BTreeMap<u64, Cursor>, String> {
        Ok(self
            .all()?
            .into_iter()
            .map(|(i, b)| (i, b.header.end))
            .collect())
    }

    /// A batch.
    pub fn get(&self, index: u64) -> Result<Option<Batch>, String> {
        let txn = self.db.begin_read().map_err(|e| e.to_string())?;
        let t = txn.open_table(BATCHES).map_err(|e| e.to_string())?;
        t.get(index)
            .map_err(|e| e.to_string())?
            .map(|v| serde_json::from_slice(v.value()).map_err(|e| e.to_string()))
            .transpose()
    }

    /// Persists a batch (fsync). A batch index is written once: a replayed cut must equal
    /// the stored one.
    pub fn put(&self, batch: &Batch) -> Result<(), String> {
        let index = batch.header.batch_index;
        if let Some(stored) = self.get(index)? {
            assert_eq!(
                &stored, batch,
                "a replayed cut differs from the persisted batch {index}"
            );
            return Ok(());
        }
        let txn = self.db.begin_write().map_err(|e| e.to_string())?;
        {
            let mut t = txn.open_table(BATCHES).map_err(|e| e.to_string())?;
            let bytes = serde_json::to_vec(batch).expect("batches serialize");
            t.insert(index, bytes.as_slice())
                .map_err(|e| e.to_string())?;
        }
        txn.commit().map_err(|e| e.to_string())
    }
}

/// The rollup's proving and settlement pipeline.
pub struct Pipeline {
    rollup: Arc<Rollup>,
    batches: BatchStore,
    coordinator: Coordinator,
    genesis_root: [u64; 4],
    l1: Option<Settler>,
    clock: SharedClock,
    /// The Weft chain provers sign their requests for.
    chain: weft_types::ChainId,
}

/// A task handed to a prover by `prover_pull`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PulledTask {
    /// Task id.
    pub task: u64,
    /// Rollup.
    pub rollup: u64,
    /// Batch index.
    pub batch_index: u64,
    /// Backend expected.
    pub backend: String,
    /// Deadline, ms since the Unix epoch.
    pub deadline_ms: u64,
    /// The witness (hex).
    pub input: String,
}

/// `prover_info`'s answer: what a prover signs for and proves.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProverInfo {
    /// The Weft chain requests are signed for (hex).
    pub chain: String,
    /// The coordinator instance requests name (hex).
    pub instance: String,
    /// The rollup whose tasks the coordinator hands out.
    pub rollup: u64,
    /// The proof backend expected.
    pub backend: String,
}

/// One registered prover in `prover_provers`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProverJson {
    /// Its public key (hex).
    pub prover: String,
    /// Its strikes and history.
    #[serde(flatten)]
    pub record: weft_prover::ProverRecord,
}

/// `prover_submit`'s answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SubmitJson {
    /// Whether the proof verified.
    pub accepted: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One batch as `rollup_batches` reports it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BatchStatusJson {
    /// The batch.
    pub batch: Batch,
    /// Its proof task's state.
    pub task: Option<TaskState>,
    /// Attempts used.
    pub attempts: u32,
}

fn rpc_err(code: i32, message: impl ToString) -> ErrorObjectOwned {
    ErrorObject::owned(code, message.to_string(), None::<()>)
}

impl Pipeline {
    /// Assembles the pipeline.
    pub fn new(
        rollup: Arc<Rollup>,
        batches: BatchStore,
        coordinator: Coordinator,
        genesis_root: [u64; 4],
        l1: Option<Settler>,
        clock: SharedClock,
        chain: weft_types::ChainId,
    ) -> Arc<Self> {
        Arc::new(Self {
            rollup,
            batches,
            coordinator,
            genesis_root,
            l1,
            clock,
            chain,
        })
    }

    fn handle_cut(&self, cut: Cut) -> Result<(), String> {
        let b = &cut.batch;
        self.batches.put(b)?;
        let statement = PublicInputs {
            header: cut.witness.header,
            old_root: word_from_u64(&b.old_root)?,
            new_root: word_from_u64(&b.new_root)?,
            commitment: word_from_u64(&b.commitment)?,
        };
        let id = self
            .coordinator
            .create(
                b.header.rollup,
                b.header.batch_index,
                &cut.witness.encode(),
                statement.encode(),
            )
            .map_err(|e| e.to_string())?;
        info!(target: "weft::rollup::batcher", batch = b.header.batch_index, start = %b.header.start, end = %b.header.end, txs = b.txs, records = b.records, task = id, "batch cut");
        Ok(())
    }

    /// Collects cuts and sweeps deadlines until the process ends.
    pub async fn run_batches(self: Arc<Self>) {
        // Deadlines that passed while the coordinator was down are nobody's fault.
        match self.coordinator.resume(self.clock.now_ms()) {
            Ok(0) => {}
            Ok(n) => {
                info!(target: "weft::prover", tasks = n, "deadlines that passed while stopped renewed")
            }
            Err(e) => warn!(target: "weft::prover", %e, "renewing deadlines failed"),
        }
        loop {
            for cut in self.rollup.take_cuts(self.clock.now_ms()) {
                if let Err(e) = self.handle_cut(cut) {
                    // Losing a cut would leave a gap in the batch sequence: stop here.
                    panic!("persisting a batch failed: {e}");
                }
            }
            match self.coordinator.sweep(self.clock.now_ms()) {
                Ok(swept) if !swept.is_empty() => {
                    warn!(target: "weft::prover", ?swept, "deadlines missed; tasks returned")
                }
                Ok(_) => {}
                Err(e) => warn!(target: "weft::prover", %e, "sweep failed"),
            }
            self.clock.sleep(PIPELINE_TICK_MS).await;
        }
    }

    /// Submits proven batches to the L1 in order, until the process ends or the L1 refuses
    /// a batch for good. Failures back off, doubling up to [`SETTLE_BACKOFF_MAX_MS`].
    pub async fn run_settlement(self: Arc<Self>) {
        let Some(settler) = self.l1.as_ref() else {
            return;
        };
        let ns = self.rollup.namespace();
        let mut registered = false;
        let mut pause = SETTLE_POLL_MS;
        loop {
            self.clock.sleep(pause).await;
            let step = if registered {
                self.settle_next(settler, ns).await
            } else {
                match self.register_on_l1(settler, ns).await {
                    Ok(()) => {
                        registered = true;
                        Ok(Step::Progress)
                    }
                    Err(e) if e.refused => Ok(Step::Refused(format!("registering: {e}"))),
                    Err(e) => Err(format!("registering with the L1: {e}")),
                }
            };
            match step {
                Ok(Step::Progress) => pause = SETTLE_POLL_MS,
                Ok(Step::Retry) => pause = (pause * 2).min(SETTLE_BACKOFF_MAX_MS),
                Ok(Step::Refused(reject)) => {
                    // Every further attempt would be refused the same way (and recorded):
                    // stop, and leave it to an operator.
                    tracing::error!(target: "weft::rollup::settle", %reject, "the L1 refused a batch for good; settlement stopped");
                    return;
                }
                Err(e) => {
                    warn!(target: "weft::rollup::settle", %e, retry_ms = pause, "settlement attempt failed");
                    pause = (pause * 2).min(SETTLE_BACKOFF_MAX_MS);
                }
            }
        }
    }

    /// Registers the rollup if this node holds its owner key; otherwise checks that the
    /// owner registered it as this node would (its genesis, its start, this submitter).
    async fn register_on_l1(
        &self,
        settler: &Settler,
        ns: u64,
    ) -> Result<(), crate::l1::L1CallError> {
        let submitter = weft_settlement::auth::public_key(&settler.submitter);
        let start = Cursor::new(0, 0);
        if let Some(owner) = &settler.owner {
            let registration = weft_settlement::Registration {
                rollup: ns,
                program: BACKEND_ID.into(),
                genesis_root: self.genesis_root,
                start,
                submitter,
            };
            return settler
                .client
                .register(&registration.sign(owner, &settler.chain))
                .await;
        }
        let transient = |message: String| crate::l1::L1CallError {
            refused: false,
            duplicate: false,
            message,
        };
        let refused = |message: String| crate::l1::L1CallError {
            refused: true,
            ..transient(message)
        };
        let status = settler.client.status().await.map_err(transient)?;
        match status.iter().find(|s| s.rollup == ns) {
            Some(s) if s.submitter != submitter => Err(refused(format!(
                "rollup {ns} is registered with submitter {}, not this node's {}",
                weft_types::to_hex(&s.submitter),
                weft_types::to_hex(&submitter)
            ))),
            // Before its first batch, the next start is the registered one.
            Some(s)
                if s.genesis_root != self.genesis_root
                    || (s.settled_batches == 0 && s.next_start != start) =>
            {
                Err(refused(format!(
                    "rollup {ns} is registered with genesis root {:?} (next batch from {}), this node's is {:?} from {start}",
                    s.genesis_root, s.next_start, self.genesis_root
                )))
            }
            Some(_) => Ok(()),
            // The owner may register it later.
            None => Err(transient(format!(
                "rollup {ns} is not registered, and this node has no owner key to register it"
            ))),
        }
    }

    async fn settle_next(&self, settler: &Settler, ns: u64) -> Result<Step, String> {
        let l1 = &settler.client;
        let status = l1.status().await?;
        let next = status
            .iter()
            .find(|s| s.rollup == ns)
            .map_or(0, |s| s.settled_batches);
        let Some(batch) = self.batches.get(next)? else {
            return Ok(Step::Progress);
        };
        let Some(task) = self
            .coordinator
            .task_of(ns, next)
            .map_err(|e| e.to_string())?
        else {
            return Ok(Step::Progress);
        };
        if !matches!(task.state, TaskState::Proven { .. }) {
            return Ok(Step::Progress);
        }
        let proof = self
            .coordinator
            .proof(task.id)
            .map_err(|e| e.to_string())?
            .ok_or("proven task without a proof")?;
        let mut submission = weft_settlement::Submission {
            header: batch.header,
            old_root: batch.old_root,
            new_root: batch.new_root,
            commitment: batch.commitment,
            proof,
            bundle_outcomes: batch.bundle_outcomes.clone(),
            signature: Vec::new(),
        };
        submission.sign(&settler.submitter, &settler.chain);
        let receipt = match l1.submit(&SubmissionJson::of(&submission)).await {
            Ok(receipt) => receipt,
            // An earlier attempt of this very submission was recorded (its answer lost): the
            // next status says what it came to.
            Err(e) if e.duplicate => return Ok(Step::Progress),
            Err(e) if e.refused => return Ok(Step::Refused(format!("batch {next}: {e}"))),
            Err(e) => return Err(e.to_string()),
        };
        Ok(match receipt.outcome {
            Outcome::Settled { .. } => {
                info!(target: "weft::rollup::settle", batch = next, l1_block = receipt.l1_block, "batch settled");
                Step::Progress
            }
            // Only this node submits the rollup's batches (auth rule A2): an index settled
            // meanwhile is an earlier attempt of its own whose answer was lost.
            Outcome::Rejected {
                reject: Reject::AlreadySettled { .. },
            } => Step::Progress,
            Outcome::Rejected {
                reject: reject @ Reject::NotFinalized { .. },
            } => {
                info!(target: "weft::rollup::settle", batch = next, %reject, "the L1 has not seen the batch's data finalized yet");
                Step::Retry
            }
            Outcome::Rejected { reject } => {
                warn!(target: "weft::rollup::settle", batch = next, %reject, "the L1 refused the batch");
                Step::Refused(format!("batch {next}: {reject}"))
            }
        })
    }

    /// Registers `prover_info`, `prover_provers`, `prover_pull`, `prover_submit` and
    /// `rollup_batches`.
    pub fn register(self: &Arc<Self>, module: &mut RpcModule<Arc<Rollup>>) -> Result<(), String> {
        let me = self.clone();
        module
            .register_blocking_method("prover_info", move |_, _, _| {
                Ok::<_, ErrorObjectOwned>(ProverInfo {
                    chain: me.chain.to_string(),
                    instance: weft_types::to_hex(&me.coordinator.instance()),
                    rollup: me.rollup.namespace(),
                    backend: BACKEND_ID.into(),
                })
            })
            .map_err(|e| e.to_string())?;
        let me = self.clone();
        module
            .register_blocking_method("prover_provers", move |_, _, _| {
                let provers = me.coordinator.provers().map_err(|e| rpc_err(-32000, e))?;
                Ok::<_, ErrorObjectOwned>(
                    provers
                        .into_iter()
                        .map(|(prover, record)| ProverJson { prover, record })
                        .collect::<Vec<_>>(),
                )
            })
            .map_err(|e| e.to_string())?;
        let me = self.clone();
        module
            .register_blocking_method("prover_pull", move |p, _, _| {
                let (request,): (weft_prover::auth::PullRequest,) = p.parse()?;
                let Some(task) = me
                    .coordinator
                    .pull(&request, me.clock.now_ms())
                    .map_err(|e| rpc_err(-32000, e))?
                else {
                    return Ok(None);
                };
                let input = me
                    .coordinator
                    .input(task.id)
                    .map_err(|e| rpc_err(-32000, e))?
                    .ok_or_else(|| rpc_err(-32000, "task without a witness"))?;
                let TaskState::Assigned { deadline_ms, .. } = task.state else {
                    return Err(rpc_err(-32000, "pulled task is not assigned"));
                };
                Ok(Some(PulledTask {
                    task: task.id,
                    rollup: task.rollup,
                    batch_index: task.batch_index,
                    backend: BACKEND_ID.into(),
                    deadline_ms,
                    input: hex::encode(input),
                }))
            })
            .map_err(|e| e.to_string())?;
        let me = self.clone();
        module
            .register_blocking_method("prover_submit", move |p, _, _| {
                let (request,): (weft_prover::auth::SubmitRequest,) = p.parse()?;
                match me.coordinator.submit(&request, &TokenBackend) {
                    Ok(SubmitOutcome::Accepted) => {
                        info!(target: "weft::prover", task = request.task, prover = request.prover, "proof verified");
                        Ok(SubmitJson {
                            accepted: true,
                            reason: None,
                        })
                    }
                    Ok(SubmitOutcome::Rejected { reason }) => Ok(SubmitJson {
                        accepted: false,
                        reason: Some(reason),
                    }),
                    Err(e) => Err(rpc_err(-32000, e)),
                }
            })
            .map_err(|e| e.to_string())?;
        let me = self.clone();
        module
            .register_blocking_method("rollup_batches", move |p, _, _| {
                let (from, limit): (Option<u64>, Option<usize>) = p.parse()?;
                let limit = limit.unwrap_or(100).min(ROLLUP_BATCHES_MAX);
                let batches = me
                    .batches
                    .range(from.unwrap_or(0), limit)
                    .map_err(|e| rpc_err(-32000, e))?;
                let mut out = Vec::new();
                for (i, batch) in &batches {
                    let task = me
                        .coordinator
                        .task_of(batch.header.rollup, *i)
                        .map_err(|e| rpc_err(-32000, e))?;
                    out.push(BatchStatusJson {
                        batch: batch.clone(),
                        attempts: task.as_ref().map_or(0, |t| t.attempts),
                        task: task.map(|t| t.state),
                    });
                }
                Ok::<_, ErrorObjectOwned>(out)
            })
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}
