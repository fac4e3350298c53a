//! Shared harness of the process-level tests: real `weft node` processes on loopback.
#![allow(dead_code)] // each test binary uses a different part

use bytes::Bytes;
use commonware_codec::Encode as _;
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use weft_client::{types::TxStatus, Client};
use weft_types::{NamespaceId, SigningKey, Transaction};

/// Validators per test network.
pub const VALIDATORS: usize = 4;
/// First port of this test process's network (each test binary runs in its own process).
static BASE_PORT: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
/// This test process's network's chain id (from its genesis file).
static CHAIN: std::sync::OnceLock<weft_types::ChainId> = std::sync::OnceLock::new();

/// The chain every transaction of this test process is signed for.
pub fn chain() -> weft_types::ChainId {
    *CHAIN.get().expect("Net::create sets the chain")
}
const WAIT: Duration = Duration::from_secs(120);

pub fn weft() -> &'static str {
    env!("CARGO_BIN_EXE_weft")
}

fn base_port() -> u16 {
    *BASE_PORT.get().expect("Net::create sets the base port")
}

pub fn rpc_port(i: usize) -> u16 {
    base_port() + 10 * i as u16 + 1
}

pub struct Net {
    /// Extra arguments for every `weft node`.
    pub node_args: Vec<String>,
    pub dir: PathBuf,
    children: Vec<Option<Child>>,
}

impl Net {
    pub fn create(dir: &Path, base_port: u16) -> Self {
        Self::create_with(dir, base_port, &[])
    }

    /// As [`Net::create`], passing `node_args` to every validator.
    pub fn create_with(dir: &Path, base_port: u16, node_args: &[&str]) -> Self {
        BASE_PORT
            .set(base_port)
            .expect("one network per test process");
        let hosts: Vec<String> = (0..VALIDATORS)
            .map(|i| format!("127.0.0.1:{}", base_port + 10 * i as u16))
            .collect();
        let status = Command::new(weft())
            // Short epochs: every process test crosses epoch boundaries.
            .args(["genesis", "--local", "--epoch-length-blocks", "64"])
            .args(["--hosts", &hosts.join(","), "--out"])
            .arg(dir)
            .status()
            .expect("run weft genesis");
        assert!(status.success(), "weft genesis failed");
        let genesis = weft_node::Genesis::load(&dir.join("genesis.toml")).expect("genesis");
        CHAIN
            .set(weft_types::ChainId::of_genesis(
                &genesis.block().expect("genesis block"),
            ))
            .expect("one network per test process");
        let mut net = Self {
            node_args: node_args.iter().map(|a| a.to_string()).collect(),
            dir: dir.to_path_buf(),
            children: (0..VALIDATORS).map(|_| None).collect(),
        };
        for i in 0..VALIDATORS {
            net.start(i);
        }
        net
    }

    /// A stake-driven network (`validator_sets = "stake"`): validators 0-3 in genesis and a
    /// fifth, validator 4, with keys and a config but outside genesis; every one reads the
    /// L1 at `l1_rpc`. Starts 0-3 (start 4 with [`Net::start`]).
    pub fn create_stake_driven(dir: &Path, base_port: u16, l1_rpc: &str) -> Self {
        BASE_PORT
            .set(base_port)
            .expect("one network per test process");
        let hosts: Vec<String> = (0..=VALIDATORS)
            .map(|i| format!("127.0.0.1:{}", base_port + 10 * i as u16))
            .collect();
        let status = Command::new(weft())
            .args(["genesis", "--local", "--epoch-length-blocks", "64"])
            .args([
                "--validator-sets",
                "stake",
                "--hosts",
                &hosts.join(","),
                "--out",
            ])
            .arg(dir)
            .status()
            .expect("run weft genesis");
        assert!(status.success(), "weft genesis failed");
        let path = dir.join("genesis.toml");
        let mut genesis = weft_node::Genesis::load(&path).expect("genesis");
        genesis.validators.truncate(VALIDATORS);
        genesis.save(&path).expect("genesis");
        for i in 0..=VALIDATORS {
            let cfg_path = dir.join(format!("node-{i}/config.toml"));
            let mut cfg = weft_node::Config::load(&cfg_path).expect("config");
            cfg.slashing.l1_rpc = Some(l1_rpc.to_string());
            cfg.save(&cfg_path).expect("config");
        }
        CHAIN
            .set(weft_types::ChainId::of_genesis(
                &genesis.block().expect("genesis block"),
            ))
            .expect("one network per test process");
        let mut net = Self {
            node_args: Vec::new(),
            dir: dir.to_path_buf(),
            children: (0..=VALIDATORS).map(|_| None).collect(),
        };
        for i in 0..VALIDATORS {
            net.start(i);
        }
        net
    }

    pub fn start(&mut self, i: usize) {
        let node_dir = self.dir.join(format!("node-{i}"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node_dir.join("node.log"))
            .expect("log file");
        let child = Command::new(weft())
            .arg("node")
            .arg("--config")
            .arg(node_dir.join("config.toml"))
            .arg("--node.rpc-listen")
            .arg(format!("127.0.0.1:{}", rpc_port(i)))
            .args(["--log-level", "warn"])
            .args(&self.node_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn weft node");
        self.children[i] = Some(child);
    }

    pub fn kill(&mut self, i: usize) {
        let mut child = self.children[i].take().expect("running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for child in self.children.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            for i in 0..VALIDATORS {
                let log = std::fs::read_to_string(self.dir.join(format!("node-{i}/node.log")))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                eprintln!(
                    "--- node-{i}.log (last lines, newest first) ---\n{}",
                    tail.join("\n")
                );
            }
        }
    }
}

pub fn client(i: usize) -> Client {
    Client::new(&format!("http://127.0.0.1:{}", rpc_port(i))).expect("client")
}

pub async fn wait_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// As [`wait_until`], and on timeout panics with what `explain` says of the state then.
pub async fn wait_until_explained<F, Fut, G, Gut>(what: &str, mut f: F, explain: G)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
    G: FnOnce() -> Gut,
    Gut: std::future::Future<Output = String>,
{
    let deadline = Instant::now() + WAIT;
    while !f().await {
        if Instant::now() >= deadline {
            let state = explain().await;
            panic!("timed out waiting for {what}; {state}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each validator's finalized head and each hash's status there, for a timeout's message.
pub async fn explain_statuses(validators: &[usize], hashes: &[String]) -> String {
    let mut out = String::new();
    for &v in validators {
        let head = client(v).head().await.ok().flatten().map(|h| h.height);
        out.push_str(&format!("\nvalidator {v}: head {head:?}"));
        for h in hashes {
            out.push_str(&format!("\n  {h}: {:?}", status(v, h).await));
        }
    }
    out
}

/// Waits until every validator answers RPC and has finalized a block above genesis
/// (consensus runs, so each can pre-confirm what it accepts).
pub async fn wait_all_started() {
    wait_until("every validator to start", || async {
        for i in 0..VALIDATORS {
            if !matches!(client(i).head().await, Ok(Some(h)) if h.height >= 1) {
                return false;
            }
        }
        true
    })
    .await;
}

pub fn key(seed: u64) -> SigningKey {
    use commonware_math::algebra::Random as _;
    use rand_core::SeedableRng as _;
    SigningKey::random(rand_chacha::ChaCha20Rng::seed_from_u64(seed))
}

pub fn tx(k: &SigningKey, ns: u64, nonce: u64, payload: &[u8]) -> Transaction {
    Transaction::sign(
        k,
        &chain(),
        NamespaceId(ns),
        nonce,
        Bytes::copy_from_slice(payload),
    )
}

pub fn hex_of(tx: &Transaction) -> String {
    weft_types::to_hex(&tx.encode())
}

/// Submits `count` transactions of `sender` starting at `nonce` to validator `to`.
pub async fn submit(
    to: usize,
    sender: &SigningKey,
    ns: u64,
    nonce: u64,
    count: u64,
) -> Vec<String> {
    let c = client(to);
    let mut hashes = Vec::new();
    for n in nonce..nonce + count {
        let t = tx(sender, ns, n, format!("payload {n}").as_bytes());
        let hash = c.send_transaction(&hex_of(&t)).await.expect("accepted");
        assert_eq!(hash, t.hash().to_string());
        hashes.push(hash);
    }
    hashes
}

pub async fn status(i: usize, hash: &str) -> Option<TxStatus> {
    client(i).transaction_status(hash).await.ok()
}

pub async fn all_finalized(validators: &[usize], hashes: &[String]) -> bool {
    for &v in validators {
        for h in hashes {
            if !matches!(status(v, h).await, Some(TxStatus::Finalized { .. })) {
                return false;
            }
        }
    }
    true
}

/// Every validator in `validators` reports the same location for every hash and the same
/// block hash at every height up to the lowest head.
pub async fn assert_same_order(validators: &[usize], hashes: &[String]) {
    for h in hashes {
        let first = status(validators[0], h).await;
        for &v in &validators[1..] {
            assert_eq!(status(v, h).await, first, "validator {v} disagrees on {h}");
        }
    }
    let mut min_head = u64::MAX;
    for &v in validators {
        min_head = min_head.min(client(v).head().await.unwrap().unwrap().height);
    }
    for height in 0..=min_head {
        let first = client(validators[0])
            .block(height, false)
            .await
            .unwrap()
            .unwrap()
            .header
            .hash;
        for &v in &validators[1..] {
            let other = client(v)
                .block(height, false)
                .await
                .unwrap()
                .unwrap()
                .header
                .hash;
            assert_eq!(
                other, first,
                "validator {v} has a different block at height {height}"
            );
        }
    }
}

pub fn call_code(r: Result<impl std::fmt::Debug, weft_client::ClientError>) -> i32 {
    match r {
        Err(e) => e
            .code()
            .unwrap_or_else(|| panic!("expected an RPC error, got {e:?}")),
        Ok(v) => panic!("expected an RPC error, got {v:?}"),
    }
}

pub fn jsonrpsee_params(items: &[&str]) -> jsonrpsee::core::params::ArrayParams {
    let mut p = jsonrpsee::core::params::ArrayParams::new();
    for i in items {
        p.insert(i).expect("param");
    }
    p
}
