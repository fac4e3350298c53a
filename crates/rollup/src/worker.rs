//! A prover worker: pulls proof tasks from a rollup's coordinator over RPC, proves them,
//! and submits the proofs. Several may run at once; the coordinator never hands two of them
//! the same task, and a worker that dies simply misses its deadline.

use crate::pipeline::{PulledTask, SubmitJson};
use jsonrpsee::core::client::ClientT as _;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use std::time::{Duration, Instant};
use tracing::{info, warn};
use weft_prover::{token::TokenBackend, ProofBackend as _};

/// How long an idle worker waits before asking again, in milliseconds.
pub const IDLE_POLL_MS: u64 = 500;

/// Runs the worker loop until the process ends, idling on `clock`.
pub async fn run(
    coordinator: &str,
    prover: &str,
    clock: crate::clock::SharedClock,
) -> Result<(), String> {
    let http: HttpClient = HttpClientBuilder::default()
        .max_request_size(crate::l1::L1_REQUEST_BYTES_MAX)
        .max_response_size(64 << 20)
        .request_timeout(Duration::from_secs(120))
        .build(coordinator)
        .map_err(|e| e.to_string())?;
    info!(target: "weft::prover", coordinator, prover, "prover worker started");
    loop {
        let task: Option<PulledTask> = match http.request("prover_pull", rpc_params![prover]).await
        {
            Ok(t) => t,
            Err(e) => {
                warn!(target: "weft::prover", %e, "pull failed");
                None
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
                continue;
            }
        };
        let proving_ms = started.elapsed().as_millis() as u64;
        let answer: Result<SubmitJson, _> = http
            .request(
                "prover_submit",
                rpc_params![prover, task.task, hex::encode(&proof)],
            )
            .await;
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
