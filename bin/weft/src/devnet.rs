//! `weft devnet` (local validators as child processes) and `weft genesis` (multi-host setup).

use anyhow::{bail, Context as _, Result};
use clap::Parser;
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use weft_node::{Config, Genesis, GenesisValidator, NodeSection};

/// Default number of devnet validators.
pub const DEFAULT_VALIDATORS: usize = 4;
/// Default first port: validator i uses base + 10 i (p2p), +1 (RPC), +2 (metrics).
pub const DEFAULT_BASE_PORT: u16 = 9000;
/// How long stopping validators get before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(15);

#[derive(Parser, Clone)]
pub struct Args {
    /// Number of validators (ignored when resuming an existing data dir).
    #[arg(long, default_value_t = DEFAULT_VALIDATORS)]
    pub validators: usize,
    /// First port; validator i listens on base+10i (p2p), base+10i+1 (RPC), base+10i+2 (metrics).
    #[arg(long, default_value_t = DEFAULT_BASE_PORT)]
    pub base_port: u16,
    /// Data directory; re-running on an existing one resumes the chain.
    #[arg(long, default_value = "devnet-data")]
    pub data_dir: PathBuf,
    /// Validators' log level.
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Validators only: no embedded L1, token rollup or prover.
    #[arg(long)]
    pub no_rollup: bool,
    /// Prover workers to start.
    #[arg(long, default_value_t = 1)]
    pub provers: usize,
}

#[derive(Parser)]
pub struct GenesisArgs {
    /// Validators' advertised p2p addresses, comma-separated (`host:port,...`), one per validator.
    #[arg(long, value_delimiter = ',', required = true)]
    pub hosts: Vec<SocketAddr>,
    /// Output directory: genesis.toml plus node-<i>/{validator.key,config.toml}.
    #[arg(long)]
    pub out: PathBuf,
    /// RPC port of every validator (listening on 0.0.0.0).
    #[arg(long, default_value_t = 9001)]
    pub rpc_port: u16,
    /// Network name.
    #[arg(long, default_value = "weft-testnet")]
    pub chain_id: String,
    /// A single-host network: the devnet p2p profile (loopback peers allowed, fast
    /// reconnects) and every listener on 127.0.0.1. Never for a real deployment.
    #[arg(long)]
    pub local: bool,
    /// Blocks per consensus epoch: validator-set changes take effect at epoch boundaries.
    #[arg(long, default_value_t = weft_node::DEFAULT_EPOCH_LENGTH_BLOCKS)]
    pub epoch_length_blocks: u64,
    /// Who runs epochs 2 onwards: `genesis` (the listed validators, always) or `stake` (the
    /// set the L1's staking program holds; every validator then needs `[slashing] l1_rpc`).
    #[arg(long, value_enum, default_value = "genesis")]
    pub validator_sets: SetsArg,
}

/// `--validator-sets`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum SetsArg {
    /// The genesis validators run every epoch.
    Genesis,
    /// The L1 stake table's set, announced a whole epoch ahead.
    Stake,
}

/// Blocks per epoch on the devnet: about a minute at its idle pace, so a set change (or the
/// boundary's pause, `weft bench --epochs`) is seen without waiting an hour.
pub const DEVNET_EPOCH_LENGTH_BLOCKS: u64 = 600;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// Writes keys, genesis and per-validator configs. `listen(i)` gives (p2p_listen, rpc_listen, metrics).
/// Threads per validator for each of its pools (consensus runtime, RPC runtime, bulk work)
/// when `validators` share this machine: its cores split between them, at least one.
/// Measured on two cores with four validators under `weft bench --rate 10000`: one thread
/// per pool instead of two finalized at 476 vs 684 ms p50 and gave lone receipts at 3.5 vs
/// 5.1 ms p50; more runnable threads than cores only lengthen every thread's wait for one.
fn threads_per_validator(validators: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / validators.max(1)).max(1)
}

/// Writes the genesis file and every validator's directory. `threads`: threads per pool of
/// each validator (`None` for the defaults of a validator on a machine of its own).
/// `l1_rpc`: the L1 each validator reports the double-signing it sees to.
#[allow(clippy::too_many_arguments)] // one call site each for the devnet and `weft genesis`
fn write_network(
    dir: &Path,
    chain_id: &str,
    advertised: &[SocketAddr],
    listen: impl Fn(usize) -> (SocketAddr, SocketAddr, Option<SocketAddr>),
    network: weft_network::Config,
    threads: Option<usize>,
    l1_rpc: Option<String>,
    epoch_length_blocks: u64,
    validator_sets: weft_node::ValidatorSets,
) -> Result<()> {
    use commonware_cryptography::Signer as _;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut validators = Vec::new();
    for (i, addr) in advertised.iter().enumerate() {
        let node_dir = dir.join(format!("node-{i}"));
        std::fs::create_dir_all(&node_dir)?;
        let key = weft_node::generate_key();
        weft_node::write_key(&node_dir.join("validator.key"), &key)?;
        validators.push(GenesisValidator {
            public_key: weft_types::to_hex(key.public_key().as_ref()),
            p2p_address: *addr,
        });
        let (p2p_listen, rpc_listen, metrics_listen) = listen(i);
        let cfg = Config {
            node: NodeSection {
                data_dir: "data".into(),
                key_file: "validator.key".into(),
                genesis_file: "../genesis.toml".into(),
                p2p_listen,
                rpc_listen,
                metrics_listen,
                worker_threads: threads.unwrap_or(weft_node::DEFAULT_WORKER_THREADS),
                receipt_retention_heights: weft_storage::DEFAULT_RECEIPT_RETENTION_HEIGHTS,
                bulk_threads: threads.unwrap_or(weft_node::DEFAULT_BULK_THREADS),
                bulk_nice: weft_node::DEFAULT_BULK_NICE,
            },
            mempool: Default::default(),
            consensus: Default::default(),
            network: network.clone(),
            rpc: weft_rpc::Config {
                worker_threads: threads.unwrap_or(weft_rpc::DEFAULT_WORKER_THREADS),
                ..Default::default()
            },
            slashing: weft_node::slashing::Config {
                l1_rpc: l1_rpc.clone(),
                ..Default::default()
            },
        };
        cfg.save(&node_dir.join("config.toml"))?;
    }
    let genesis = Genesis {
        chain_id: chain_id.into(),
        genesis_time_ms: now_ms(),
        limits: Default::default(),
        validators,
        epoch_length_blocks,
        validator_sets,
    };
    genesis.validate().map_err(|e| anyhow::anyhow!(e))?;
    genesis.save(&dir.join("genesis.toml"))?;
    Ok(())
}

/// `weft genesis`: files for a multi-host network.
pub fn genesis(args: GenesisArgs) -> Result<()> {
    if args.out.join("genesis.toml").exists() {
        bail!(
            "{} already holds a genesis.toml; refusing to overwrite keys",
            args.out.display()
        );
    }
    let ip = if args.local {
        [127, 0, 0, 1]
    } else {
        [0, 0, 0, 0]
    };
    let bind = |port: u16| SocketAddr::from((ip, port));
    let network = if args.local {
        weft_network::Config::devnet()
    } else {
        weft_network::Config::default()
    };
    write_network(
        &args.out,
        &args.chain_id,
        &args.hosts,
        |i| (bind(args.hosts[i].port()), bind(args.rpc_port), None),
        network,
        args.local.then(|| threads_per_validator(args.hosts.len())),
        None,
        args.epoch_length_blocks,
        match args.validator_sets {
            SetsArg::Genesis => weft_node::ValidatorSets::Genesis,
            SetsArg::Stake => weft_node::ValidatorSets::Stake,
        },
    )?;
    println!(
        "wrote {}/genesis.toml and node-0..{} (copy node-<i>/ and genesis.toml to host i)",
        args.out.display(),
        args.hosts.len() - 1
    );
    Ok(())
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Creates (or reuses) a devnet directory; returns the validators' RPC URLs.
pub fn prepare(args: &Args) -> Result<Vec<String>> {
    let genesis_path = args.data_dir.join("genesis.toml");
    if !genesis_path.exists() {
        if args.validators == 0 {
            bail!("--validators must be at least 1");
        }
        let p2p: Vec<SocketAddr> = (0..args.validators)
            .map(|i| loopback(args.base_port + 10 * i as u16))
            .collect();
        let base = args.base_port;
        write_network(
            &args.data_dir,
            "weft-devnet",
            &p2p,
            |i| {
                let p = base + 10 * i as u16;
                (loopback(p), loopback(p + 1), Some(loopback(p + 2)))
            },
            weft_network::Config::devnet(),
            Some(threads_per_validator(args.validators)),
            (!args.no_rollup).then(|| format!("http://{}", loopback(base + 200))),
            DEVNET_EPOCH_LENGTH_BLOCKS,
            weft_node::ValidatorSets::Genesis,
        )?;
        eprintln!(
            "created devnet with {} validators in {}",
            args.validators,
            args.data_dir.display()
        );
    } else {
        eprintln!("resuming devnet in {}", args.data_dir.display());
    }
    let genesis = Genesis::load(&genesis_path)?;
    (0..genesis.validators.len())
        .map(|i| {
            let cfg = Config::load(&args.data_dir.join(format!("node-{i}/config.toml")))?;
            Ok(format!("http://{}", cfg.node.rpc_listen))
        })
        .collect()
}

/// Child validator processes; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Validators {
    children: Vec<Child>,
}

impl Validators {
    /// Starts one `weft node` process per validator directory.
    pub fn spawn(args: &Args, count: usize) -> Result<Self> {
        let mut me = Self {
            children: Vec::new(),
        };
        for i in 0..count {
            let node_dir = args.data_dir.join(format!("node-{i}"));
            let config = node_dir.join("config.toml");
            me.spawn_child(
                &format!("validator {i}"),
                &[
                    "node".into(),
                    "--config".into(),
                    config.into_os_string(),
                    "--log-level".into(),
                    args.log_level.clone().into(),
                ],
                &node_dir.join("node.log"),
            )?;
        }
        Ok(me)
    }

    /// Starts `weft <args>` as a child that dies with the devnet, logging to `log`.
    pub fn spawn_child(
        &mut self,
        what: &str,
        args: &[std::ffi::OsString],
        log: &Path,
    ) -> Result<()> {
        let exe = std::env::current_exe().context("locating the weft binary")?;
        {
            let log = std::fs::File::create(log)?;
            let mut command = Command::new(&exe);
            #[cfg(target_os = "linux")]
            {
                use std::os::unix::process::CommandExt as _;
                // A validator must not outlive its devnet, even if the devnet is SIGKILLed.
                // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
                unsafe {
                    command.pre_exec(|| {
                        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
            }
            let child = command
                .args(args)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .with_context(|| format!("starting {what}"))?;
            self.children.push(child);
        }
        Ok(())
    }

    /// Reports validators that exited.
    pub fn exited(&mut self) -> Vec<(usize, std::process::ExitStatus)> {
        self.children
            .iter_mut()
            .enumerate()
            .filter_map(|(i, c)| c.try_wait().ok().flatten().map(|s| (i, s)))
            .collect()
    }

    /// Stops every validator: SIGTERM, then SIGKILL after a grace period.
    pub fn stop(&mut self) {
        for c in &self.children {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
        }
        let deadline = Instant::now() + STOP_GRACE;
        for c in &mut self.children {
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        self.children.clear();
    }
}

impl Drop for Validators {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until every RPC URL answers `weft_chainHead` with a block above genesis: consensus
/// is running, so the validator can pre-confirm (it has seen a recent proposal).
pub async fn wait_ready(urls: &[String], timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    for url in urls {
        let client = weft_client::Client::new(url)?;
        loop {
            if matches!(client.head().await, Ok(Some(h)) if h.height >= 1) {
                break;
            }
            if Instant::now() > deadline {
                bail!("validator at {url} not ready after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Starts the embedded L1, the rollup world (the token rollup with its batcher and prover
/// coordinator, and the options rollup on namespace 8) and the prover workers beside the
/// validators. The token genesis funds `token/alice.key` and `token/bob.key`; the options
/// genesis names `token/oracle.key` its oracle and `token/escrow.key`'s account its escrow.
/// Each devnet validator's staking balance at the L1's genesis.
const DEVNET_OPERATOR_BALANCE: u64 = 100_000_000;
/// The devnet L1's unbonding delay (production: 21 days).
const DEVNET_UNBONDING_MS: u64 = 120_000;

fn start_rollup(args: &Args, weft_rpc: &str, procs: &mut Validators) -> Result<()> {
    use commonware_cryptography::Signer as _;
    let dir = args.data_dir.join("token");
    std::fs::create_dir_all(&dir)?;
    let alloc = dir.join("alloc.toml");
    let (alice, bob) = (dir.join("alice.key"), dir.join("bob.key"));
    let (oracle, escrow) = (dir.join("oracle.key"), dir.join("escrow.key"));
    // The token rollup's owner (named by the L1's deployment of it) and its batch
    // submitter (named by the owner's registration).
    let (owner, submitter) = (dir.join("owner.key"), dir.join("submitter.key"));
    // Each prover's key, registered with the coordinator through the world's config.
    let prover_keys: Vec<std::path::PathBuf> = (0..args.provers)
        .map(|i| dir.join(format!("prover-{i}.key")))
        .collect();
    for k in [&owner, &submitter].into_iter().chain(&prover_keys) {
        if !k.exists() {
            weft_node::write_key(k, &weft_node::generate_key())?;
        }
    }
    let options_genesis = dir.join("options.toml");
    let pk_of = |k: &std::path::Path| -> Result<String> {
        Ok(weft_types::to_hex(
            weft_node::read_key(k)?.public_key().as_ref(),
        ))
    };
    if !alloc.exists() {
        for k in [&alice, &bob] {
            weft_node::write_key(k, &weft_node::generate_key())?;
        }
        let mut text = String::new();
        for k in [&alice, &bob] {
            text += &format!(
                "[[accounts]]\npublic_key = \"{}\"\nbalance = 1000000000\n",
                pk_of(k)?
            );
        }
        std::fs::write(&alloc, text)?;
    }
    if !options_genesis.exists() {
        for k in [&oracle, &escrow] {
            weft_node::write_key(k, &weft_node::generate_key())?;
        }
        std::fs::write(
            &options_genesis,
            format!(
                "namespace = 8\noracle = \"{}\"\nescrow = \"{}\"\n",
                pk_of(&oracle)?,
                pk_of(&escrow)?
            ),
        )?;
    }
    let bob_pk = pk_of(&bob)?;
    let l1_addr = loopback(args.base_port + 200).to_string();
    let token_addr = loopback(args.base_port + 100).to_string();
    let (l1_url, token_url) = (format!("http://{l1_addr}"), format!("http://{token_addr}"));
    let l1_dir = args.data_dir.join("l1");
    std::fs::create_dir_all(&l1_dir)?;
    // The L1's genesis funds each validator's own key as its staking operator account.
    let stake_alloc = l1_dir.join("alloc.toml");
    if !stake_alloc.exists() {
        let mut text = String::new();
        let genesis = Genesis::load(&args.data_dir.join("genesis.toml"))?;
        for v in &genesis.validators {
            text += &format!(
                "[[accounts]]\npublic_key = \"{}\"\nbalance = {DEVNET_OPERATOR_BALANCE}\n",
                v.public_key
            );
        }
        std::fs::write(&stake_alloc, text)?;
    }
    let os = |s: &str| std::ffi::OsString::from(s);
    let l1_args = [
        os("l1"),
        os("run"),
        os("--data-dir"),
        l1_dir.clone().into_os_string(),
        os("--listen"),
        os(&l1_addr),
        os("--weft-rpc"),
        os(weft_rpc),
        os("--token-owner"),
        os(&pk_of(&owner)?),
        os("--genesis"),
        args.data_dir.join("genesis.toml").into_os_string(),
        os("--stake-alloc"),
        stake_alloc.into_os_string(),
        os("--unbonding-ms"),
        os(&DEVNET_UNBONDING_MS.to_string()),
    ];
    procs.spawn_child("the embedded L1", &l1_args, &l1_dir.join("l1.log"))?;
    // The world's config: ports follow this run's base port; the genesis parts (allocation,
    // options genesis) are the files written once above.
    let options_text = std::fs::read_to_string(&options_genesis)?;
    let world = dir.join("world.toml");
    let toml_str = |p: &std::path::Path| format!("{:?}", p.display().to_string());
    std::fs::write(
        &world,
        format!(
            "rpc = {:?}\nlisten = {:?}\ndata_dir = {}\nl1 = {:?}\nsubmitter_key = {}\nowner_key = {}\nprovers = {:?}\n\n[token]\nnamespace = 7\nalloc = {}\n\n[options]\n{options_text}",
            weft_rpc,
            token_addr,
            toml_str(&dir),
            l1_url,
            toml_str(&submitter),
            toml_str(&owner),
            prover_keys
                .iter()
                .map(|k| pk_of(k))
                .collect::<Result<Vec<_>>>()?,
            toml_str(&alloc),
        ),
    )?;
    let token_args = [
        os("rollup"),
        os("run"),
        os("--config"),
        world.clone().into_os_string(),
    ];
    procs.spawn_child("the token rollup", &token_args, &dir.join("rollup.log"))?;
    for (i, prover_key) in prover_keys.iter().enumerate() {
        let prover_args = [
            os("prover"),
            os("--coordinator"),
            os(&token_url),
            os("--key"),
            prover_key.clone().into_os_string(),
        ];
        procs.spawn_child(
            &format!("prover {i}"),
            &prover_args,
            &dir.join(format!("prover-{i}.log")),
        )?;
    }
    println!("embedded L1: {l1_url}  (weft l1 status --l1 {l1_url})");
    println!(
        "token rollup (namespace 7) and prover coordinator: {token_url}; {} prover(s); logs in {}",
        args.provers,
        dir.display()
    );
    println!(
        "try: weft rollup token transfer --rpc {weft_rpc} --token-rpc {token_url} --key {} --to {bob_pk} --amount 10",
        alice.display()
    );
    println!("     weft rollup token balance --token-rpc {token_url} {bob_pk}; weft l1 status --l1 {l1_url}");
    println!(
        "options rollup (namespace 8) in the same world (oracle {}, escrow in {}); the risk-reversal demo is in docs/bundles.md",
        oracle.display(),
        dir.join("options.toml").display()
    );
    Ok(())
}

pub fn run(args: Args) -> Result<()> {
    let urls = prepare(&args)?;
    let mut validators = Validators::spawn(&args, urls.len())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        for (i, url) in urls.iter().enumerate() {
            println!("validator {i}: rpc {url}  log {}", args.data_dir.join(format!("node-{i}/node.log")).display());
        }
        match wait_ready(&urls, Duration::from_secs(60)).await {
            Ok(()) => println!("devnet is up: try `weft tx send --rpc {} --namespace 1 --data hello --wait`; Ctrl-C stops it", urls[0]),
            Err(e) => eprintln!("warning: {e}"),
        }
        if !args.no_rollup {
            start_rollup(&args, &urls[0], &mut validators)?;
        }
        let mut interval = tokio::time::interval(Duration::from_secs(1));
        let mut reported = std::collections::HashSet::new();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
                _ = interval.tick() => {
                    for (i, status) in validators.exited() {
                        if reported.insert(i) {
                            eprintln!("devnet process {i} exited ({status}); see its log");
                        }
                    }
                }
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    println!("stopping validators...");
    validators.stop();
    println!("stopped; re-run the same command to resume the chain");
    Ok(())
}
