//! End-to-end: four real `weft node` processes on loopback.
//!
//! Transactions go in through RPC at different validators; every validator must report the
//! same finalized order. One validator is killed with SIGKILL while submissions continue; after
//! a restart it must catch up with nothing lost. Bad input gets specific errors and leaves the
//! node healthy.

use bytes::Bytes;
use commonware_codec::Encode as _;
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use weft_rpc::{client::Client, types::TxStatus};
use weft_types::{NamespaceId, SigningKey, Transaction};

const BASE_PORT: u16 = 23_000;
const VALIDATORS: usize = 4;
const WAIT: Duration = Duration::from_secs(120);

fn weft() -> &'static str {
    env!("CARGO_BIN_EXE_weft")
}

fn rpc_port(i: usize) -> u16 {
    BASE_PORT + 10 * i as u16 + 1
}

struct Net {
    dir: PathBuf,
    children: Vec<Option<Child>>,
}

impl Net {
    fn create(dir: &Path) -> Self {
        let hosts: Vec<String> = (0..VALIDATORS)
            .map(|i| format!("127.0.0.1:{}", BASE_PORT + 10 * i as u16))
            .collect();
        let status = Command::new(weft())
            .args(["genesis", "--hosts", &hosts.join(","), "--out"])
            .arg(dir)
            .status()
            .expect("run weft genesis");
        assert!(status.success(), "weft genesis failed");
        let mut net = Self {
            dir: dir.to_path_buf(),
            children: (0..VALIDATORS).map(|_| None).collect(),
        };
        for i in 0..VALIDATORS {
            net.start(i);
        }
        net
    }

    fn start(&mut self, i: usize) {
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
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn weft node");
        self.children[i] = Some(child);
    }

    fn kill(&mut self, i: usize) {
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

fn client(i: usize) -> Client {
    Client::new(&format!("http://127.0.0.1:{}", rpc_port(i))).expect("client")
}

async fn wait_until<F, Fut>(what: &str, mut f: F)
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

fn key(seed: u64) -> SigningKey {
    use commonware_math::algebra::Random as _;
    use rand_core::SeedableRng as _;
    SigningKey::random(rand_chacha::ChaCha20Rng::seed_from_u64(seed))
}

fn tx(k: &SigningKey, ns: u64, nonce: u64, payload: &[u8]) -> Transaction {
    Transaction::sign(k, NamespaceId(ns), nonce, Bytes::copy_from_slice(payload))
}

fn hex_of(tx: &Transaction) -> String {
    weft_types::to_hex(&tx.encode())
}

/// Submits `count` transactions of `sender` starting at `nonce` to validator `to`.
async fn submit(to: usize, sender: &SigningKey, ns: u64, nonce: u64, count: u64) -> Vec<String> {
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

async fn status(i: usize, hash: &str) -> Option<TxStatus> {
    client(i).transaction_status(hash).await.ok()
}

async fn all_finalized(validators: &[usize], hashes: &[String]) -> bool {
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
async fn assert_same_order(validators: &[usize], hashes: &[String]) {
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

fn call_code(r: Result<impl std::fmt::Debug, weft_rpc::client::Error>) -> i32 {
    match r {
        Err(weft_rpc::client::Error::Call(e)) => e.code(),
        other => panic!("expected an RPC error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_agree_survive_sigkill_and_reject_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut net = Net::create(dir.path());
    let everyone: Vec<usize> = (0..VALIDATORS).collect();
    wait_until("all validators to finalize genesis", || async {
        for i in 0..VALIDATORS {
            if !matches!(client(i).head().await, Ok(Some(_))) {
                return false;
            }
        }
        true
    })
    .await;

    // Phase 1: submissions to every validator, one sender each.
    let senders: Vec<SigningKey> = (0..VALIDATORS as u64).map(|i| key(100 + i)).collect();
    let mut hashes = Vec::new();
    for (v, sender) in senders.iter().enumerate() {
        hashes.extend(submit(v, sender, 1 + v as u64 % 2, 0, 10).await);
    }
    wait_until("phase 1 transactions final everywhere", || {
        all_finalized(&everyone, &hashes)
    })
    .await;
    assert_same_order(&everyone, &hashes).await;

    // Phase 2: kill validator 3 with SIGKILL, keep submitting to the others.
    let before_kill = client(3).head().await.unwrap().unwrap().height;
    net.kill(3);
    let survivors = [0, 1, 2];
    let mut more = Vec::new();
    for v in survivors {
        more.extend(submit(v, &senders[v], 1 + v as u64 % 2, 10, 10).await);
    }
    wait_until("phase 2 transactions final on survivors", || {
        all_finalized(&survivors, &more)
    })
    .await;

    // Phase 3: restart it; it catches up with nothing lost or changed.
    net.start(3);
    hashes.extend(more);
    wait_until("restarted validator to catch up", || {
        all_finalized(&everyone, &hashes)
    })
    .await;
    assert!(client(3).head().await.unwrap().unwrap().height > before_kill);
    assert_same_order(&everyone, &hashes).await;

    // Phase 4: bad input gets specific errors.
    let c = client(0);
    let limits = weft_types::Limits::default();
    assert_eq!(
        call_code(c.send_transaction("0xdeadbeef").await),
        weft_rpc::codes::MALFORMED_TX
    );
    assert_eq!(
        call_code(c.send_transaction("not hex at all").await),
        weft_rpc::codes::MALFORMED_TX
    );
    let huge = tx(
        &senders[0],
        1,
        1_000,
        &vec![7u8; limits.payload_bytes_max + 1],
    );
    assert_eq!(
        call_code(c.send_transaction(&hex_of(&huge)).await),
        weft_rpc::codes::TX_TOO_LARGE
    );
    let good = tx(&senders[0], 1, 2_000, b"x");
    let forged = Transaction::from_parts(
        good.namespace(),
        *good.sender(),
        good.nonce(),
        Bytes::from_static(b"y"),
        good.signature().clone(),
    );
    assert_eq!(
        call_code(c.send_transaction(&hex_of(&forged)).await),
        weft_rpc::codes::BAD_SIGNATURE
    );
    let replay = tx(&senders[0], 1, 5, b"replayed nonce");
    assert_eq!(
        call_code(c.send_transaction(&hex_of(&replay)).await),
        weft_rpc::codes::NONCE_TOO_LOW
    );
    let first = tx(&senders[0], 1, 0, b"payload 0");
    assert_eq!(
        call_code(c.send_transaction(&hex_of(&first)).await),
        weft_rpc::codes::ALREADY_FINALIZED
    );
    assert_eq!(
        call_code(c.raw("weft_noSuchMethod", Default::default()).await),
        -32601
    );
    assert_eq!(
        call_code(c.namespace_transactions(1, 0, 1_000_000).await),
        weft_rpc::codes::RANGE_TOO_LARGE
    );
    assert_eq!(
        call_code(
            c.raw("weft_getTransactionStatus", jsonrpsee_params(&["0x12"]))
                .await
        ),
        -32602
    );
    assert_eq!(
        call_code(
            c.raw("weft_getBlockByHeight", jsonrpsee_params(&["ten"]))
                .await
        ),
        -32602
    );
    let batch: Vec<String> = (0..5_000).map(|_| "0x00".to_string()).collect();
    assert_eq!(
        call_code(c.send_transactions(&batch).await),
        weft_rpc::codes::BATCH_TOO_LARGE
    );

    // A range past the head returns what exists and the head, at once.
    let Some(TxStatus::Finalized {
        height: first_height,
        ..
    }) = status(0, &hashes[0]).await
    else {
        panic!("finalized")
    };
    let to = first_height + weft_rpc::DEFAULT_NAMESPACE_RANGE_HEIGHTS_MAX - 1;
    let range = c.namespace_transactions(1, first_height, to).await.unwrap();
    let head = range.head.expect("head");
    assert_eq!(
        range.to,
        to.min(head),
        "a range past the head stops at the head"
    );
    assert!(range.transactions.iter().all(|t| t.tx.namespace == 1));
    assert!(range.transactions.iter().any(|t| t.tx.hash == hashes[0]));

    // The node still works: a fresh transaction is finalized.
    let gap = tx(&senders[0], 1, 1_000_000, b"too far ahead");
    assert_eq!(
        call_code(c.send_transaction(&hex_of(&gap)).await),
        weft_rpc::codes::NONCE_TOO_HIGH
    );
    let sender0 =
        weft_types::to_hex(commonware_cryptography::Signer::public_key(&senders[0]).as_ref());
    let next = c.next_nonce(&sender0).await.unwrap();
    assert_eq!((next.next, next.finalized_next), (20, 20));
    let after = submit(0, &senders[0], 1, next.next, 1).await;
    wait_until("post-bad-input transaction final", || {
        all_finalized(&[0], &after)
    })
    .await;
}

fn jsonrpsee_params(items: &[&str]) -> jsonrpsee::core::params::ArrayParams {
    let mut p = jsonrpsee::core::params::ArrayParams::new();
    for i in items {
        p.insert(i).expect("param");
    }
    p
}
