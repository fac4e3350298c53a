//! A prover worker: pulls proof tasks from a rollup's coordinator over RPC, proves them,
//! and submits the proofs, every request signed with its registered key
//! (`weft_prover::auth`). Several may run at once; the coordinator never hands two of them
//! the same task, and a worker that dies simply misses its deadline (a strike against its
//! key).

use crate::pipeline::{ProverInfo, PulledTask, SubmitJson};
use jsonrpsee::core::client::ClientT as _;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use std::time::{Duration, Instant};
use tracing::{info, warn};
use weft_prover::{token::TokenBackend, ProofBackend as _};

/// How long an idle worker waits before asking again, in milliseconds.
pub const IDLE_POLL_MS: u64 = 500;
/// How long a worker whose pull was refused (suspended, not registered, ...), or that could
/// not prove its task, waits before asking again, in milliseconds.
pub const REFUSED_POLL_MS: u64 = 10_000;

/// Runs the worker loop until the process ends, idling on `clock`, signing with `key`.
pub async fn run(
    coordinator: &str,
    key: &weft_types::SigningKey,
    clock: crate::clock::SharedClock,
) -> Result<(), String> {
    let http: HttpClient = HttpClientBuilder::default()
        .max_request_size(crate::l1::L1_REQUEST_BYTES_MAX)
        .max_response_size(64 << 20)
        .request_timeout(Duration::from_secs(120))
        .build(coordinator)
        .map_err(|e| e.to_string())?;
    // The coordinator may start after its workers: ask until it answers.
    let info: ProverInfo = loop {
        match http.request("prover_info", rpc_params![]).await {
            Ok(info) => break info,
            Err(e) => {
                warn!(target: "weft::prover", coordinator, %e, "asking the coordinator what it proves");
                clock.sleep(IDLE_POLL_MS).await;
            }
        }
    };
    let chain = weft_types::ChainId(
        weft_types::from_hex_fixed::<32>(&info.chain)
            .map_err(|e| format!("the coordinator's chain id: {e}"))?
            .into(),
    );
    let instance = weft_types::from_hex_fixed::<32>(&info.instance)
        .map_err(|e| format!("the coordinator's instance id: {e}"))?;
    let prover = weft_prover::auth::prover_id(key);
    info!(target: "weft::prover", coordinator, prover, rollup = info.rollup, "prover worker started");
    // Each pull's timestamp is above the last one (rule K1), even within a millisecond.
    let mut last_at_ms = 0u64;
    loop {
        let at_ms = clock.now_ms().max(last_at_ms + 1);
        last_at_ms = at_ms;
        let request =
            weft_prover::auth::PullRequest::sign(key, &chain, &instance, info.rollup, at_ms);
        let task: Option<PulledTask> = match http.request("prover_pull", rpc_params![request]).await
        {
            Ok(t) => t,
            Err(e) => {
                warn!(target: "weft::prover", %e, "pull refused");
                clock.sleep(REFUSED_POLL_MS).await;
                continue;
            }
        };
        let Some(task) = task else {
            clock.sleep(IDLE_POLL_MS).await;
            continue;
        };
        let input = match hex::decode(&task.input) {
            Ok(i) => i,
            Err(e) => {
                warn!(target: "weft::prover", task = task.task, %e, "witness is not hex; leaving the task to its deadline");
                // The next pull hands the same task back: do not spin on it.
                clock.sleep(REFUSED_POLL_MS).await;
                continue;
            }
        };
        let started = Instant::now();
        let proof = tokio::task::spawn_blocking(move || TokenBackend.prove(&input))
            .await
            .map_err(|e| e.to_string())?;
        let proof = match proof {
            Ok(p) => p,
            Err(e) => {
                // Leave the task to its deadline: another prover (or this one) retries it.
                warn!(target: "weft::prover", task = task.task, %e, "proving failed");
                clock.sleep(REFUSED_POLL_MS).await;
                continue;
            }
        };
        let proving_ms = started.elapsed().as_millis() as u64;
        let request =
            weft_prover::auth::SubmitRequest::sign(key, &chain, &instance, task.task, &proof);
        // A lost answer or a restarting coordinator is retried until the deadline: a proof
        // not handed in is a strike against this key.
        let answer: Result<SubmitJson, _> = loop {
            match http
                .request("prover_submit", rpc_params![request.clone()])
                .await
            {
                Err(jsonrpsee::core::ClientError::Call(e)) => break Err(e.to_string()),
                Err(e) if clock.now_ms() + IDLE_POLL_MS < task.deadline_ms => {
                    warn!(target: "weft::prover", task = task.task, %e, "submit failed; retrying");
                    clock.sleep(IDLE_POLL_MS).await;
                }
                Err(e) => break Err(e.to_string()),
                Ok(a) => break Ok(a),
            }
        };
        match answer {
            Ok(a) if a.accepted => {
                info!(target: "weft::prover", task = task.task, batch = task.batch_index, proving_ms, proof_bytes = proof.len(), "proof accepted")
            }
            Ok(a) => {
                warn!(target: "weft::prover", task = task.task, reason = ?a.reason, "proof refused")
            }
            Err(e) => warn!(target: "weft::prover", task = task.task, %e, "submit failed"),
        }
    }
}
