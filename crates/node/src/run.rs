//! Starting and stopping a validator.

use crate::{api::Api, persister::Persister, Config, Genesis, NodeError};
use commonware_cryptography::Signer as _;
use commonware_runtime::{tokio as cw_tokio, Runner as _, Spawner as _, Supervisor as _};
use std::{sync::Arc, time::Duration};
use tracing::{error, info, warn};
use weft_consensus::{ChainState, Channels, Identity, Shared, CHANNELS};
use weft_mempool::Mempool;
use weft_storage::Store;

/// How long a stopping validator waits for its tasks.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs a validator until SIGINT or SIGTERM.
pub fn run(cfg: Config, log_level: tracing::Level) -> Result<(), NodeError> {
    crate::fatal::install();
    let genesis = Genesis::load(&cfg.node.genesis_file)?;
    cfg.consensus
        .validate_with(&genesis.limits)
        .map_err(|e| NodeError::config(&cfg.node.genesis_file, e))?;
    cfg.mempool
        .validate_with(&genesis.limits)
        .map_err(|e| NodeError::config(&cfg.node.genesis_file, e))?;
    let key = crate::read_key(&cfg.node.key_file)?;
    let me = key.public_key();
    let keys = genesis
        .validator_keys()
        .map_err(|e| NodeError::config(&cfg.node.genesis_file, e))?;
    let stake_driven = genesis.validator_sets == crate::ValidatorSets::Stake;
    // A validator outside genesis joins a stake-driven network once the stake table adds it.
    if !keys.contains(&me) && !stake_driven {
        return Err(NodeError::config(
            &cfg.node.key_file,
            format!("key {me} is not a genesis validator"),
        ));
    }
    if stake_driven && cfg.slashing.l1_rpc.is_none() {
        return Err(NodeError::config(
            &cfg.node.genesis_file,
            "validator_sets = \"stake\" needs [slashing] l1_rpc: the L1 holds the stake table",
        ));
    }
    // The L1's stake table is read for the set (stake-driven networks) and for this
    // validator's bond (the receipt cap, stake rule 4).
    let bond_capped = cfg.slashing.preconf_value_max > 0;
    let l1_reads = (stake_driven || bond_capped).then(|| Arc::new(crate::stake::L1Sets::default()));
    let l1_sets = if stake_driven { l1_reads.clone() } else { None };
    let genesis_block = genesis
        .block()
        .map_err(|e| NodeError::config(&cfg.node.genesis_file, e))?;
    let chain = weft_types::ChainId::of_genesis(&genesis_block);
    std::fs::create_dir_all(&cfg.node.data_dir)
        .map_err(|e| NodeError::io(&cfg.node.data_dir, e))?;
    let store = Arc::new(
        Store::open(cfg.node.data_dir.join("chain.redb"), genesis.limits)?
            .retaining_receipts(cfg.node.receipt_retention_heights),
    );
    let limits = genesis.limits;

    // Refill the mempool with what was acknowledged but not finalized before the last stop.
    let mut mempool = Mempool::new(cfg.mempool.clone(), limits);
    let mut pending = store.pending()?;
    // Each sender's transactions in nonce order: admitted out of order, a long run would be
    // held back as queued and overflow the queued bounds, dropping acknowledged submissions.
    pending.sort_by_key(|tx| (*tx.sender(), tx.nonce()));
    let mut stale = Vec::new();
    let restored = pending.len();
    for tx in pending {
        let hash = tx.hash();
        if mempool.admit(tx, &ChainState(&store), true).is_err() {
            stale.push(hash);
        }
    }
    store.drop_pending(&stale)?;
    // Promises outlive restarts: what this validator signed and is still due goes first again.
    let owed = restore_promises(&mut mempool, &store)?;
    if bond_capped {
        // Stake rule 4: no new receipt before the bond is read. Set after the restore: what
        // was already signed is owed whatever the cap, and must go first again.
        mempool.set_bond_cap(Some((
            0,
            "this validator's bond on the L1 is not read yet".into(),
        )));
    }

    let shared = Arc::new(Shared::new(
        mempool,
        store.clone(),
        limits,
        chain,
        cfg.consensus.clone(),
    ));
    // Bulk work yields the CPU to the receipt path (see `bulk`).
    let bulk_nice = cfg.node.bulk_nice;
    let bulk_threads = match cfg.node.bulk_threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let bulk = crate::bulk::BulkPool::start(bulk_threads, bulk_nice);
    let offload: Arc<dyn weft_consensus::Offload> = Arc::new(bulk.clone());
    let _ = shared.bulk.set(offload);
    let peers: Vec<_> = keys
        .iter()
        .cloned()
        .zip(genesis.validators.iter().map(|v| v.p2p_address))
        .collect();
    let genesis_peers = peers.clone();
    let validators: commonware_utils::ordered::Set<_> = keys
        .to_vec()
        .try_into()
        .map_err(|_| NodeError::config(&cfg.node.genesis_file, "duplicate validator keys"))?;
    let max_message = weft_consensus::max_message_size(keys.len(), &limits);
    let partition_prefix = format!("weft-{}", hex::encode(&me.as_ref()[..8]));

    let runtime_cfg = cw_tokio::Config::new()
        .with_storage_directory(cfg.node.data_dir.join("consensus"))
        .with_worker_threads(cfg.node.worker_threads)
        .with_catch_panics(false);
    let rpc_runtime = weft_rpc::runtime(&cfg.rpc).map_err(|e| NodeError::Rpc {
        addr: cfg.node.rpc_listen.to_string(),
        reason: format!("building the RPC runtime failed: {e}"),
    })?;
    let rpc_spawner = rpc_runtime.handle().clone();
    let runner = cw_tokio::Runner::new(runtime_cfg);
    let result = runner.start(|context| async move {
        let result: Result<(), NodeError> = async {
        cw_tokio::telemetry::init(
            context.child("telemetry"),
            cw_tokio::telemetry::Logs { level: log_level, json: false },
            cfg.node.metrics_listen,
            None,
        );
        info!(target: "weft::node", validator = %me, restored, owed, dropped = stale.len(), "starting");
        let started = match weft_network::start(context.child("network"), &cfg.network, key.clone(), cfg.node.p2p_listen, peers, max_message, &CHANNELS, &chain.domain(weft_network::P2P_NAMESPACE)) {
            Ok(s) => s,
            Err(e) => {
                error!(target: "weft::node", error = %e, "network failed to start");
                return Err(NodeError::Network(e.to_string()));
            }
        };
        let identity = Identity {
            signer: key.clone(),
            validators,
            genesis: genesis_block,
            partition_prefix,
            epoch_length_blocks: genesis.epoch_length(),
            set_source: l1_sets
                .clone()
                .map(|s| s as Arc<dyn weft_consensus::epochs::SetSource>),
        };
        let channels = Channels::from_pairs(started.channels);
        let oracle = started.oracle;
        if let Some(sets) = &l1_sets {
            let genesis_addresses = genesis_peers.iter().cloned().collect();
            context.child("track_peers").spawn({
                let (shared, oracle, sets) = (shared.clone(), oracle.clone(), sets.clone());
                move |_| crate::stake::track_peers(shared, oracle, genesis_addresses, Some(sets))
            });
        }
        let engine = weft_consensus::start(context.child("consensus"), shared.clone(), identity, channels, oracle.clone(), oracle).await;
        let metrics = crate::metrics::Metrics::default();
        let handles = metrics.register(&context.child("weft_node"));
        shared.registered.lock().expect("metrics lock").extend(handles);
        let api = Arc::new(Api { shared: shared.clone(), bulk: bulk.clone(), persister: Persister::start(store, key, bulk.clone(), metrics.clone()), metrics, validators: keys, chain, me: me.clone(), preconfirmed: tokio::sync::broadcast::channel(crate::api::PRECONFIRMED_BATCHES_MAX).0 });
        // RPC runs on its own runtime: its work (submission signature checks, reads) must
        // never take the consensus runtime's threads.
        let rpc_listen = cfg.node.rpc_listen;
        let rpc_cfg = cfg.rpc.clone();
        let started = rpc_spawner.spawn(async move { weft_rpc::start(rpc_listen, rpc_cfg, api).await });
        // Double-signing this validator's consensus records goes to the L1, rewarding this
        // validator's own key (`slashing`); on the RPC runtime, away from consensus.
        if let (Some(sets), Some(l1_rpc)) = (&l1_reads, cfg.slashing.l1_rpc.clone()) {
            let every = std::time::Duration::from_millis(crate::stake::DEFAULT_SET_POLL_MS);
            rpc_spawner.spawn(crate::stake::poll(sets.clone(), l1_rpc, every));
            if bond_capped {
                rpc_spawner.spawn(crate::stake::cap_receipts(shared.clone(), sets.clone(), me.clone(), cfg.slashing.clone(), every));
            }
        }
        if let Some(l1_rpc) = cfg.slashing.l1_rpc.clone() {
            let reporter: [u8; 32] = me.as_ref().try_into().expect("a 32-byte key");
            let poll = std::time::Duration::from_millis(cfg.slashing.poll_ms);
            rpc_spawner.spawn(crate::slashing::run(shared.store.clone(), l1_rpc, reporter, poll));
        }
        let started = match started.await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
        let rpc = match started {
            Ok((addr, handle)) => {
                info!(target: "weft::node", %addr, "rpc listening");
                handle
            }
            Err(e) => {
                error!(target: "weft::node", error = %e, addr = %cfg.node.rpc_listen, "rpc failed to start");
                return Err(NodeError::Rpc { addr: cfg.node.rpc_listen.to_string(), reason: e.to_string() });
            }
        };
        // A critical part that ends (without the panic that would have stopped the process)
        // leaves a zombie: stop the validator with an error instead.
        tokio::select! {
            _ = wait_for_signal() => {}
            stopped = engine.first_stopped() => {
                let _ = rpc.stop();
                let reason = match stopped.result {
                    Ok(()) => "it returned".to_string(),
                    Err(e) => e.to_string(),
                };
                error!(target: "weft::node", part = stopped.part, %reason, "fatal: a critical part stopped");
                return Err(NodeError::Stopped { part: stopped.part, reason });
            }
        }
        info!(target: "weft::node", "stopping");
        let _ = rpc.stop();
        Ok(())
        }
        .await;
        if let Err(e) = context.child("stop").stop(0, Some(STOP_TIMEOUT)).await {
            warn!(target: "weft::node", error = ?e, "tasks did not stop in time");
        }
        result
    });
    // The RPC runtime's tasks end with it; nothing on it holds unacknowledged state.
    rpc_runtime.shutdown_timeout(STOP_TIMEOUT);
    result
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler failed");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}

/// Marks again what this validator promised and is still due, from its stored receipts:
/// plain transactions one by one, a bundle's legs together as they were signed (mempool
/// P4). Returns how many transactions are promised.
fn restore_promises(mempool: &mut Mempool, store: &Store) -> Result<usize, NodeError> {
    let head = store.head_height().unwrap_or(0);
    let mut owed = 0usize;
    let mut bundles: std::collections::BTreeMap<(u64, weft_types::BundleId), Vec<_>> =
        Default::default();
    for tx in store.pending()? {
        if let Some(receipt) = store.receipt(&tx.hash())? {
            let deadline = receipt.promise.deadline_height;
            if deadline < head {
                continue;
            }
            match tx.leg() {
                Some(leg) => bundles
                    .entry((deadline, leg.bundle()))
                    .or_default()
                    .push(tx.hash()),
                None => owed += usize::from(mempool.promise(&tx.hash(), deadline).is_ok()),
            }
        }
    }
    for ((deadline, _), legs) in bundles {
        if mempool.promise_bundle(&legs, deadline).is_ok() {
            owed += legs.len();
        }
    }
    Ok(owed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use weft_types::{LegSpec, Limits, NamespaceId, Promise, SigningKey, Transaction};

    /// A restarted issuer owes what it signed: its plain receipt and its bundle's leg
    /// receipts are promised again, the bundle whole with a leg's pending predecessor, so
    /// they count against the liability bound and go first as before the restart.
    #[test]
    fn promises_survive_a_restart_bundles_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("chain.redb");
        let limits = Limits::default();
        let chain = weft_types::ChainId(weft_types::sha256(&[b"restart test"]));
        let issuer = SigningKey::from_seed(1);
        let (a, b, c) = (
            SigningKey::from_seed(2),
            SigningKey::from_seed(3),
            SigningKey::from_seed(4),
        );
        let plain = |k: &SigningKey, nonce: u64, p: &'static [u8]| {
            Transaction::sign(k, &chain, NamespaceId(7), nonce, Bytes::from_static(p))
        };
        let spec = |ns: u64, nonce: u64| LegSpec {
            namespace: NamespaceId(ns),
            nonce,
            payload: Bytes::from_static(b"leg"),
        };
        let before = plain(&b, 0, b"b's earlier transfer");
        let legs = Transaction::sign_bundle(&chain, 500, &[(&a, spec(8, 0)), (&b, spec(7, 1))])
            .expect("a bundle");
        let lone = plain(&c, 0, b"a lone promise");
        let sign =
            |t: &Transaction| Promise::for_tx(chain, t, 0, 64, issuer.public_key()).sign(&issuer);
        {
            let store = Store::open(&path, limits).expect("store");
            let txs = vec![
                before.clone(),
                legs[0].clone(),
                legs[1].clone(),
                lone.clone(),
            ];
            // `before` was promised with the bundle (a predecessor), under no receipt of its own.
            let receipts = vec![sign(&legs[0]), sign(&legs[1]), sign(&lone)];
            store
                .persist_pending_with_receipts(weft_storage::AckLane::Express, &txs, &receipts)
                .expect("persisted");
        }
        let store = Store::open(&path, limits).expect("store reopened");
        let mut mempool = Mempool::new(weft_mempool::Config::default(), limits);
        let mut pending = store.pending().expect("pending log");
        pending.sort_by_key(|tx| (*tx.sender(), tx.nonce()));
        for tx in pending {
            mempool
                .admit(tx, &ChainState(&store), true)
                .expect("admitted again");
        }
        assert_eq!(restore_promises(&mut mempool, &store).expect("restored"), 3);
        assert_eq!(
            mempool.promised_len(),
            4,
            "both legs, b's predecessor, the lone one"
        );
        for t in [&legs[0], &legs[1], &before, &lone] {
            assert_eq!(mempool.promised_deadline(&t.hash()), Some(64));
        }
    }
}
