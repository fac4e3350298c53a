//! Launches a rollup world from its [`Config`]: the state from genesis, the world's RPC, the
//! token rollup's batcher, prover coordinator and settlement when configured, and the
//! follower, until `shutdown` resolves or following fails for good.

use crate::config::Config;
use crate::pipeline::{BatchStore, Pipeline};
use crate::service::{self, Rollup};
use std::future::Future;
use tracing::info;

/// Runs the world on the system clock until `shutdown` resolves (`Ok`) or following Weft
/// fails for good.
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()>) -> Result<(), String> {
    run_with(cfg, crate::clock::system(), shutdown).await
}

/// [`run`] on `clock`.
pub async fn run_with(
    cfg: Config,
    clock: crate::clock::SharedClock,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    cfg.validate()?;
    let genesis = match &cfg.token.alloc {
        Some(path) => service::Genesis::load(path)?,
        None => service::Genesis::default(),
    };
    let state = genesis.state()?;
    let client = weft_client::Client::new(&cfg.rpc).map_err(|e| e.to_string())?;
    // Transfers are signed for this rollup on this Weft chain.
    let chain = client.chain_id().await.map_err(|e| {
        format!(
            "asking the Weft validator {} for its chain id: {e}",
            cfg.rpc
        )
    })?;
    let genesis_root = weft_rollup_token::word_to_u64(&state.root());
    let (rollup, pipeline) = match &cfg.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let batches = BatchStore::open(dir.join("batches.redb"))?;
            let planned = batches.planned()?;
            let rollup = Rollup::world(
                chain,
                cfg.token.namespace,
                state,
                cfg.options.as_ref(),
                Some((cfg.batcher.clone(), planned)),
            )?;
            let prover_cfg = weft_prover::Config {
                assignment_timeout_ms: cfg.prover_timeout_ms,
                provers: cfg.provers.clone(),
                ..Default::default()
            };
            let coordinator =
                weft_prover::Coordinator::open(dir.join("tasks.redb"), prover_cfg, chain)
                    .map_err(|e| e.to_string())?;
            let l1 = match &cfg.l1 {
                None => None,
                Some(url) => {
                    let key = |path: &std::path::Path| weft_types::keyfile::read_key(path);
                    let submitter = key(cfg
                        .submitter_key
                        .as_deref()
                        .ok_or("l1 needs submitter_key")?)?;
                    let owner = cfg.owner_key.as_deref().map(key).transpose()?;
                    Some(crate::pipeline::Settler {
                        client: crate::l1::L1Client::new(url)?,
                        chain,
                        submitter,
                        owner,
                    })
                }
            };
            let pipeline = Pipeline::new(
                rollup.clone(),
                batches,
                coordinator,
                genesis_root,
                l1,
                clock.clone(),
                chain,
            );
            (rollup, Some(pipeline))
        }
        None => (
            Rollup::world(
                chain,
                cfg.token.namespace,
                state,
                cfg.options.as_ref(),
                None,
            )?,
            None,
        ),
    };
    let (addr, _server) = service::serve(rollup.clone(), cfg.listen, pipeline.clone())
        .await
        .map_err(|e| format!("serving on {}: {e}", cfg.listen))?;
    let namespaces: Vec<u64> = rollup.namespaces().iter().map(|n| n.0).collect();
    info!(target: "weft::rollup", %addr, ?namespaces, rpc = %cfg.rpc, "rollup world running");
    println!(
        "rollup world (namespaces {namespaces:?}) following {}; rpc http://{addr}",
        cfg.rpc
    );
    if let Some(p) = pipeline {
        tokio::spawn(p.clone().run_batches());
        tokio::spawn(p.run_settlement());
    }
    tokio::select! {
        r = service::follow(rollup, client, clock) => r.map_err(|e| format!("following Weft: {e}")),
        _ = shutdown => Ok(()),
    }
}
