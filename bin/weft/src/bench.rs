//! `weft bench`: drive load against a devnet and measure finalized throughput and
//! submit-to-finality latency.
//!
//! Transactions are signed before the clock starts (the client's signing cost is not the
//! network's). Each worker owns a set of senders and submits their transactions, in nonce order, to one
//! validator (workers are spread over validators); a follower reads every
//! new finalized block from one validator and stamps each of our transactions when it sees
//! it. Latency is submit time -> the validator's `finalized_at_ms` stamp of the block (same
//! machine clock; no polling delay). A WebSocket subscriber measures finality -> client
//! delivery of namespace 1.

use crate::devnet;
use anyhow::{bail, Result};
use bytes::Bytes;
use clap::Parser;
use commonware_codec::Encode as _;
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use weft_client::{types::SubmitResult, Client};
use weft_types::{NamespaceId, Transaction};

/// Follower poll interval.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

#[derive(Parser, Clone)]
pub struct Args {
    /// Validator RPC URLs (comma-separated). Without it, a devnet is started in a temporary
    /// directory for the run.
    #[arg(long, value_delimiter = ',')]
    pub rpc: Vec<String>,
    /// Transactions to submit.
    #[arg(long, default_value_t = 50_000)]
    pub txs: usize,
    /// Transactions per `weft_sendTransactions` call.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Concurrent submitting clients.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Distinct senders.
    #[arg(long, default_value_t = 256)]
    pub senders: usize,
    /// Namespaces the load is spread over.
    #[arg(long, default_value_t = 4)]
    pub namespaces: u64,
    /// Payload size, in bytes.
    #[arg(long, default_value_t = 100)]
    pub payload_bytes: usize,
    /// Target submission rate in tx/s (0 = as fast as possible).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Validators of the temporary devnet (when --rpc is not given).
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// First port of the temporary devnet.
    #[arg(long, default_value_t = 19000)]
    pub base_port: u16,
    /// Seconds to wait for stragglers after the last submission.
    #[arg(long, default_value_t = 60)]
    pub drain_secs: u64,
    /// Read-flood clients hammering validator 0 during the run: half loop on
    /// `weft_getNamespaceTransactions(--read-namespace, 0, --read-heights - 1)`, half
    /// subscribe to that namespace from height 0 (0 = no read load).
    #[arg(long, default_value_t = 0)]
    pub read_clients: usize,
    /// Namespace the read flood reads.
    #[arg(long, default_value_t = 99)]
    pub read_namespace: u64,
    /// Heights each range read spans (from 0).
    #[arg(long, default_value_t = 1_000)]
    pub read_heights: u64,
    /// Share of the transactions sent as legs of 2-leg atomic bundles (`weft_sendBundle`,
    /// legs in namespaces 1 and 2 from two senders), from 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    pub bundle_share: f64,
    /// Lone submissions per second, alongside the load: one transaction per
    /// `weft_sendTransaction` call with its receipt inline, from senders of their own, round
    /// robin over the validators. Their submit->receipt latency is what a market maker sending
    /// one order sees on a loaded network (0 = no probe).
    #[arg(long, default_value_t = 20)]
    pub probe_rate: u64,
}

/// Most probe submissions in one run (each is signed just before it is sent).
const PROBE_TXS_MAX: usize = 100_000;

mod weft_mempool_free {
    /// The mempool's default bound on a bundle's validity, in heights (the bench stays
    /// within half of it).
    pub const BUNDLE_VALID_HEIGHTS: u64 = 1_024;
}

/// Most sender pairs the bundle load uses.
const BUNDLE_PAIRS_MAX: usize = 64;

/// Counts of what the read flood got.
#[derive(Default)]
struct ReadCounts {
    ranges_served: u64,
    ranges_busy: u64,
    ranges_failed: u64,
    subscription_blocks: u64,
}

/// Starts the read flood against `client`; returns the tasks and their counters.
fn start_read_flood(
    client: &Client,
    args: &Args,
) -> (Vec<tokio::task::JoinHandle<()>>, Arc<Mutex<ReadCounts>>) {
    let counts = Arc::new(Mutex::new(ReadCounts::default()));
    let mut tasks = Vec::new();
    for i in 0..args.read_clients {
        let (client, counts) = (client.clone(), counts.clone());
        let (ns, to) = (args.read_namespace, args.read_heights.saturating_sub(1));
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                loop {
                    let r = client.namespace_transactions(ns, 0, to).await;
                    let mut c = counts.lock().expect("lock");
                    match r {
                        Ok(_) => c.ranges_served += 1,
                        Err(e) if e.code() == Some(weft_rpc::codes::BUSY) => c.ranges_busy += 1,
                        Err(_) => c.ranges_failed += 1,
                    }
                }
            } else {
                loop {
                    let mut stream = client.subscribe_namespace(ns, 0);
                    while stream.next().await.is_ok() {
                        counts.lock().expect("lock").subscription_blocks += 1;
                    }
                }
            }
        }));
    }
    (tasks, counts)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

pub fn run(args: Args) -> Result<()> {
    if args.batch == 0 || args.concurrency == 0 || args.senders == 0 || args.namespaces == 0 {
        bail!("--batch, --concurrency, --senders and --namespaces must be > 0");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (_dir, _validators, urls) = if args.rpc.is_empty() {
        let dir = tempfile::tempdir()?;
        let dargs = devnet::Args {
            validators: args.validators,
            base_port: args.base_port,
            data_dir: dir.path().to_path_buf(),
            log_level: "warn".into(),
            no_rollup: true,
            provers: 0,
        };
        let urls = devnet::prepare(&dargs)?;
        let v = devnet::Validators::spawn(&dargs, urls.len())?;
        rt.block_on(devnet::wait_ready(&urls, Duration::from_secs(120)))?;
        eprintln!(
            "started a {}-validator devnet in {}",
            urls.len(),
            dir.path().display()
        );
        (Some(dir), Some(v), urls)
    } else {
        (None, None, args.rpc.clone())
    };
    rt.block_on(drive(args, urls))
}

async fn drive(args: Args, urls: Vec<String>) -> Result<()> {
    let chain = Client::new(&urls[0])?.chain_id().await?;
    eprintln!("signing {} transactions for chain {chain}...", args.txs);
    let keys: Vec<_> = (0..args.senders)
        .map(|_| weft_node::generate_key())
        .collect();
    let payload = Bytes::from(vec![0xabu8; args.payload_bytes]);
    // Worker w owns senders s with s % concurrency == w and submits each sender's
    // transactions in nonce order to one validator, as a real client would (a transaction
    // waits in the mempool until its sender's previous nonce is ordered).
    let concurrency = args.concurrency.min(args.senders);
    if !(0.0..=1.0).contains(&args.bundle_share) {
        anyhow::bail!("--bundle-share must be within 0..=1");
    }
    let bundles = ((args.txs as f64 * args.bundle_share) / 2.0).round() as usize;
    let plain_txs = args.txs - 2 * bundles;
    // Bundle load: pair p's keys sign bundle j = p + k * pairs at nonce k each.
    let pairs = bundles.clamp(usize::from(bundles > 0), BUNDLE_PAIRS_MAX);
    let pair_keys: Vec<(weft_types::SigningKey, weft_types::SigningKey)> = (0..pairs)
        .map(|_| (weft_node::generate_key(), weft_node::generate_key()))
        .collect();
    let bundle_workers = concurrency.min(pairs);
    let mut per_bundle_worker: Vec<Vec<Vec<weft_types::Transaction>>> =
        vec![Vec::new(); bundle_workers];
    let mut bundle_legs: HashSet<String> = HashSet::new();
    // Valid for as long as the mempool allows (mempool.bundle_valid_heights_max).
    let valid_until = Client::new(&urls[0])?.head().await?.map_or(0, |h| h.height)
        + weft_mempool_free::BUNDLE_VALID_HEIGHTS / 2;
    for j in 0..bundles {
        let (p, k) = (j % pairs, (j / pairs) as u64);
        let (a, b) = &pair_keys[p];
        let spec = |ns: u64| weft_types::LegSpec {
            namespace: NamespaceId(ns),
            nonce: k,
            payload: payload.clone(),
        };
        let legs = Transaction::sign_bundle(&chain, valid_until, &[(a, spec(1)), (b, spec(2))])
            .expect("two legs");
        for l in &legs {
            bundle_legs.insert(l.hash().to_string());
        }
        per_bundle_worker[p % bundle_workers].push(legs);
    }
    let mut per_worker: Vec<Vec<(String, String)>> = vec![Vec::new(); concurrency];
    for i in 0..plain_txs {
        let sender = i % args.senders;
        let key = &keys[sender];
        let nonce = (i / args.senders) as u64; // fresh keys: nonces from 0
        let tx = Transaction::sign(
            key,
            &chain,
            NamespaceId(1 + (i as u64 % args.namespaces)),
            nonce,
            payload.clone(),
        );
        per_worker[sender % concurrency]
            .push((tx.hash().to_string(), weft_types::to_hex(&tx.encode())));
    }
    let clients: Vec<Client> = urls
        .iter()
        .map(|u| Client::new(u))
        .collect::<Result<_, _>>()?;
    let start_height = clients[0].head().await?.map_or(0, |h| h.height);
    // Submit instant (for elapsed times) and wall-clock ms (to compare with the validator's
    // `finalized_at_ms`, taken on the same machine's clock).
    let submitted: Arc<Mutex<HashMap<String, (Instant, u64)>>> =
        Arc::new(Mutex::new(HashMap::with_capacity(args.txs)));
    // A WebSocket subscriber on validator 0 measures finality -> client delivery.
    let deliveries = Arc::new(Mutex::new(Vec::<u64>::new()));
    let subscriber = {
        let mut stream = clients[0].subscribe_namespace(1, start_height + 1);
        let deliveries = deliveries.clone();
        tokio::spawn(async move {
            while let Ok(block) = stream.next().await {
                if let Some(at) = block.finalized_at_ms {
                    deliveries
                        .lock()
                        .expect("lock")
                        .push(now_ms().saturating_sub(at));
                }
            }
        })
    };
    let (flood, read_counts) = start_read_flood(&clients[0], &args);
    let rejected = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
    // Submit -> acknowledgement (with the signed receipt) per accepted transaction, and how
    // many acknowledgements carried a receipt.
    let acks = Arc::new(Mutex::new((Vec::<Duration>::new(), 0usize)));
    // Per bundle: its submit-to-acknowledgement time, and how many bundles came with every
    // leg's receipt.
    let bundle_acks = Arc::new(Mutex::new((Vec::<Duration>::new(), 0usize)));
    let started = Instant::now();
    let per_batch = (args.rate > 0).then(|| {
        Duration::from_secs_f64(
            args.batch as f64 / (args.rate as f64 * (1.0 - args.bundle_share)).max(1e-9)
                * concurrency as f64,
        )
    });

    let mut workers = Vec::new();
    // Bundle workers: one `weft_sendBundle` per bundle, each pair's bundles in order.
    let per_bundle = (args.rate > 0 && bundles > 0).then(|| {
        Duration::from_secs_f64(
            bundle_workers as f64 / (args.rate as f64 * args.bundle_share / 2.0).max(1e-9),
        )
    });
    for (w, list) in per_bundle_worker.into_iter().enumerate() {
        let client = clients[w % clients.len()].clone();
        let (submitted, rejected, acks) = (submitted.clone(), rejected.clone(), acks.clone());
        let bundle_acks = bundle_acks.clone();
        workers.push(tokio::spawn(async move {
            for legs in list {
                let t0 = Instant::now();
                let wall = now_ms();
                {
                    let mut s = submitted.lock().expect("lock");
                    for l in &legs {
                        s.insert(l.hash().to_string(), (t0, wall));
                    }
                }
                match client.send_bundle(&legs).await {
                    Ok(accepted) => {
                        let ack = t0.elapsed();
                        let mut a = acks.lock().expect("lock");
                        for leg in &accepted.legs {
                            a.0.push(ack);
                            a.1 += usize::from(leg.receipt.is_some());
                        }
                        let mut b = bundle_acks.lock().expect("lock");
                        b.0.push(ack);
                        b.1 += usize::from(accepted.legs.iter().all(|l| l.receipt.is_some()));
                    }
                    Err(e) => {
                        let mut s = submitted.lock().expect("lock");
                        for l in &legs {
                            s.remove(&l.hash().to_string());
                        }
                        let reason = format!("bundle: {}", reason_class(&e.to_string()));
                        *rejected.lock().expect("lock").entry(reason).or_default() += legs.len();
                    }
                }
                if let Some(p) = per_bundle {
                    if let Some(rest) = p.checked_sub(t0.elapsed()) {
                        tokio::time::sleep(rest).await;
                    }
                }
            }
        }));
    }
    for (w, txs) in per_worker.into_iter().enumerate() {
        let client = clients[w % clients.len()].clone();
        let (submitted, rejected, acks) = (submitted.clone(), rejected.clone(), acks.clone());
        let batch_size = args.batch;
        workers.push(tokio::spawn(async move {
            for batch in txs.chunks(batch_size) {
                let t0 = Instant::now();
                let wall = now_ms();
                let hexes: Vec<String> = batch.iter().map(|(_, h)| h.clone()).collect();
                {
                    let mut s = submitted.lock().expect("lock");
                    for (hash, _) in batch {
                        s.insert(hash.clone(), (t0, wall));
                    }
                }
                match client.send_transactions_with_receipts(&hexes).await {
                    Ok(results) => {
                        let ack = t0.elapsed();
                        let mut s = submitted.lock().expect("lock");
                        let mut r = rejected.lock().expect("lock");
                        let mut a = acks.lock().expect("lock");
                        for ((hash, _), res) in batch.iter().zip(results) {
                            if let SubmitResult::Accepted { receipt, .. } = &res {
                                a.0.push(ack);
                                a.1 += usize::from(matches!(receipt, Some(Some(_))));
                            }
                            if let SubmitResult::Error { error } = res {
                                s.remove(hash);
                                *r.entry(format!(
                                    "{}: {}",
                                    error.code,
                                    reason_class(&error.message)
                                ))
                                .or_default() += 1;
                            }
                        }
                    }
                    Err(e) => {
                        let mut s = submitted.lock().expect("lock");
                        for (hash, _) in batch {
                            s.remove(hash);
                        }
                        *rejected
                            .lock()
                            .expect("lock")
                            .entry(format!("rpc error: {e}"))
                            .or_default() += batch.len();
                    }
                }
                if let Some(p) = per_batch {
                    if let Some(rest) = p.checked_sub(t0.elapsed()) {
                        tokio::time::sleep(rest).await;
                    }
                }
            }
        }));
    }

    // The lone-submission probe: its own senders, one transaction per call, in nonce order
    // per sender, round robin over the validators; it stops when the load is submitted. It
    // runs on a thread and runtime of its own: a market maker's client does not share a
    // runtime with a load generator building and parsing 500-transaction batches, and here
    // it would queue behind that work and measure the bench, not the validators.
    let probe_latencies = Arc::new(Mutex::new((Vec::<Duration>::new(), 0usize, 0usize)));
    let probe_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let probe = (args.probe_rate > 0).then(|| {
        let (urls, chain, payload) = (urls.clone(), chain, payload.clone());
        let (latencies, stop) = (probe_latencies.clone(), probe_stop.clone());
        let interval = Duration::from_secs_f64(1.0 / args.probe_rate as f64);
        std::thread::Builder::new()
            .name("bench-probe".into())
            .spawn(move || -> Result<()> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(run_probe(urls, chain, payload, interval, latencies, stop))
            })
            .map_err(anyhow::Error::from)
    });
    let probe = probe.transpose()?;
    // Follow finalized blocks on validator 0.
    let follower = clients[0].clone();
    let mut latencies = Vec::with_capacity(args.txs);
    let mut leg_latencies = Vec::new();
    let mut next_height = start_height + 1;
    let mut last_final = started;
    let mut submit_done_at: Option<Instant> = None;
    let mut blocks = 0u64;
    loop {
        let all_submitted = workers.iter().all(|w| w.is_finished());
        if all_submitted && submit_done_at.is_none() {
            submit_done_at = Some(Instant::now());
            probe_stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let outstanding = { submitted.lock().expect("lock").len() };
        if all_submitted && outstanding == 0 {
            break;
        }
        if submit_done_at.is_some_and(|t| t.elapsed() > Duration::from_secs(args.drain_secs)) {
            eprintln!(
                "giving up on {outstanding} transactions not finalized within {} s",
                args.drain_secs
            );
            break;
        }
        let head = follower.head().await?.map_or(0, |h| h.height);
        while next_height <= head {
            let Some(block) = follower.block(next_height, false).await? else {
                break;
            };
            let now = Instant::now();
            let mut s = submitted.lock().expect("lock");
            for hash in &block.tx_hashes {
                if let Some((t0, wall)) = s.remove(hash) {
                    // Prefer the validator's own finality stamp: no polling delay in it.
                    let latency = match block.finalized_at_ms {
                        Some(at) => Duration::from_millis(at.saturating_sub(wall)),
                        None => now - t0,
                    };
                    latencies.push(latency);
                    if bundle_legs.contains(hash) {
                        leg_latencies.push(latency);
                    }
                    last_final = now;
                }
            }
            blocks += 1;
            next_height += 1;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    let submit_secs = submit_done_at
        .unwrap_or_else(Instant::now)
        .duration_since(started)
        .as_secs_f64();
    let final_secs = last_final.duration_since(started).as_secs_f64().max(1e-9);
    latencies.sort();
    let rejected = rejected.lock().expect("lock").clone();
    println!("weft bench");
    println!("  validators: {}  rpc: {}", urls.len(), urls.join(","));
    println!(
        "  parameters: txs={} batch={} concurrency={} senders={} namespaces={} payload_bytes={} rate={}",
        args.txs, args.batch, args.concurrency, args.senders, args.namespaces, args.payload_bytes,
        if args.rate == 0 { "max".to_string() } else { args.rate.to_string() }
    );
    println!(
        "  submitted: {} in {:.2} s ({:.0} tx/s accepted)",
        args.txs,
        submit_secs,
        (args.txs - rejected.values().sum::<usize>()) as f64 / submit_secs.max(1e-9)
    );
    for (reason, count) in &rejected {
        println!("  rejected: {count} x {reason}");
    }
    println!(
        "  finalized: {} txs in {} blocks over {:.2} s -> {:.0} tx/s",
        latencies.len(),
        blocks,
        final_secs,
        latencies.len() as f64 / final_secs
    );
    println!(
        "  submit-to-finality latency: p50 {:.0} ms  p90 {:.0} ms  p99 {:.0} ms  max {:.0} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.90).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    if bundles > 0 {
        leg_latencies.sort();
        println!(
            "  bundles: {bundles} of 2 legs ({} legs finalized); leg submit-to-finality p50 {:.0} ms  p99 {:.0} ms",
            leg_latencies.len(),
            percentile(&leg_latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&leg_latencies, 0.99).as_secs_f64() * 1e3,
        );
        let (mut bundle_ack, preconfirmed) = bundle_acks.lock().expect("lock").clone();
        bundle_ack.sort();
        println!(
            "  bundle submit-to-receipt (every leg pre-confirmed: {preconfirmed} of {} accepted): p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms",
            bundle_ack.len(),
            percentile(&bundle_ack, 0.50).as_secs_f64() * 1e3,
            percentile(&bundle_ack, 0.90).as_secs_f64() * 1e3,
            percentile(&bundle_ack, 0.99).as_secs_f64() * 1e3,
        );
    }
    let (mut ack_latencies, receipts) = acks.lock().expect("lock").clone();
    ack_latencies.sort();
    println!(
        "  submit-to-receipt latency (acknowledged with a signed pre-confirmation: {receipts} of {}): p50 {:.0} ms  p90 {:.0} ms  p99 {:.0} ms",
        ack_latencies.len(),
        percentile(&ack_latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&ack_latencies, 0.90).as_secs_f64() * 1e3,
        percentile(&ack_latencies, 0.99).as_secs_f64() * 1e3,
    );
    if let Some(probe) = probe {
        probe_stop.store(true, std::sync::atomic::Ordering::Relaxed);
        match probe.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("the lone-submission probe failed: {e:#}"),
            Err(_) => eprintln!("the lone-submission probe panicked"),
        }
        let (mut lone, failed, unreceipted) = probe_latencies.lock().expect("lock").clone();
        lone.sort();
        println!(
            "  lone submission submit-to-receipt (probe, {} /s, one tx per call, during the load): {} receipts, {unreceipted} accepted without one, {failed} failed; p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            args.probe_rate,
            lone.len(),
            percentile(&lone, 0.50).as_secs_f64() * 1e3,
            percentile(&lone, 0.90).as_secs_f64() * 1e3,
            percentile(&lone, 0.99).as_secs_f64() * 1e3,
            lone.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        );
    }
    for task in &flood {
        task.abort();
    }
    if args.read_clients > 0 {
        let c = read_counts.lock().expect("lock");
        println!(
            "  read flood ({} clients, namespace {}, heights 0..{}): {} range reads served ({:.0}/s), {} busy, {} failed; {} subscription blocks",
            args.read_clients,
            args.read_namespace,
            args.read_heights,
            c.ranges_served,
            c.ranges_served as f64 / final_secs,
            c.ranges_busy,
            c.ranges_failed,
            c.subscription_blocks
        );
    }
    // Give the subscriber a moment to receive the last blocks.
    tokio::time::sleep(Duration::from_millis(500)).await;
    subscriber.abort();
    let mut deliveries = deliveries.lock().expect("lock").clone();
    deliveries.sort_unstable();
    let pick = |p: f64| {
        deliveries
            .get(((deliveries.len().max(1) - 1) as f64 * p).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "  subscription delivery (finality on validator 0 -> WebSocket client, namespace 1): {} blocks, p50 {} ms  p99 {} ms  max {} ms",
        deliveries.len(),
        pick(0.50),
        pick(0.99),
        deliveries.last().copied().unwrap_or(0),
    );
    Ok(())
}

/// Probe results: submit-to-receipt latencies, failures, and submissions accepted without a
/// receipt.
type ProbeLatencies = Arc<Mutex<(Vec<Duration>, usize, usize)>>;

/// The lone-submission probe's loop (see `--probe-rate`): one signed transaction per call,
/// every `interval`, until `stop` is set or [`PROBE_TXS_MAX`] were sent.
async fn run_probe(
    urls: Vec<String>,
    chain: weft_types::ChainId,
    payload: Bytes,
    interval: Duration,
    latencies: ProbeLatencies,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Result<()> {
    let clients: Vec<Client> = urls
        .iter()
        .map(|u| Client::new(u))
        .collect::<Result<_, _>>()?;
    let probe_keys: Vec<_> = (0..clients.len().max(1))
        .map(|_| weft_node::generate_key())
        .collect();
    let mut nonces = vec![0u64; probe_keys.len()];
    for i in 0..PROBE_TXS_MAX {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let tick = Instant::now();
        let k = i % probe_keys.len();
        let tx = Transaction::sign(
            &probe_keys[k],
            &chain,
            NamespaceId(1),
            nonces[k],
            payload.clone(),
        );
        let hex = weft_types::to_hex(&tx.encode());
        let t0 = Instant::now();
        let result = clients[k].send_transaction_with_receipt(&hex).await;
        let elapsed = t0.elapsed();
        {
            let mut l = latencies.lock().expect("lock");
            match result {
                Ok(a) if a.receipt.is_some() => {
                    l.0.push(elapsed);
                    nonces[k] += 1;
                }
                Ok(_) => {
                    l.2 += 1;
                    nonces[k] += 1;
                }
                Err(_) => l.1 += 1,
            }
        }
        if let Some(rest) = interval.checked_sub(tick.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A rejection's message with what varies per transaction taken out (numbers and hashes
/// become `N`, the advice after `;` is cut), so rejections group by cause.
fn reason_class(message: &str) -> String {
    let head = message.split(';').next().unwrap_or(message);
    let mut out = String::with_capacity(head.len());
    let mut in_number = false;
    for word in head.split(' ') {
        if !out.is_empty() {
            out.push(' ');
        }
        // Hex hashes (with or without 0x) and decimal numbers, keeping their punctuation.
        let core = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        let hexy = core.len() >= 16
            && core
                .trim_start_matches("0x")
                .chars()
                .all(|c| c.is_ascii_hexdigit());
        if hexy {
            out.push_str(&word.replace(core, "N"));
            continue;
        }
        for c in word.chars() {
            if c.is_ascii_digit() {
                if !in_number {
                    out.push('N');
                }
                in_number = true;
            } else {
                in_number = false;
                out.push(c);
            }
        }
        in_number = false;
    }
    out
}

#[cfg(test)]
mod reason_tests {
    use super::reason_class;

    #[test]
    fn rejections_group_by_cause_not_by_their_numbers() {
        assert_eq!(
            reason_class("cannot pre-confirm: this validator is catching up (finalized head 12, chain tip at least 30, more than 16 behind); submit to another validator"),
            "cannot pre-confirm: this validator is catching up (finalized head N, chain tip at least N, more than N behind)"
        );
        assert_eq!(
            reason_class("transaction 0x00ff00ff00ff00ff00ff is held back"),
            "transaction N is held back"
        );
    }
}
