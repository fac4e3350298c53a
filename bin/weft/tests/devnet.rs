//! The devnet binds loopback only: every socket its validators, L1 and rollup listen on is
//! on 127.0.0.1 (read from /proc/net/tcp, so no external tool is needed).

mod common;

use common::weft;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BASE_PORT: u16 = 29_000;

/// Listening TCP sockets (address, port) from /proc/net/tcp and /proc/net/tcp6.
fn listening() -> Vec<(String, u16)> {
    let mut out = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 4 || fields[3] != "0A" {
                continue; // not LISTEN
            }
            let (addr, port) = fields[1].split_once(':').expect("addr:port");
            out.push((
                addr.to_string(),
                u16::from_str_radix(port, 16).expect("hex port"),
            ));
        }
    }
    out
}

/// Whether a /proc/net address (little-endian hex) is a loopback address.
fn is_loopback(hex: &str) -> bool {
    match hex.len() {
        8 => hex.ends_with("7F"),                        // 127.x.x.x
        32 => hex == "00000000000000000000000001000000", // ::1
        _ => false,
    }
}

#[test]
fn the_devnet_listens_on_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut devnet = Command::new(weft())
        .args([
            "devnet",
            "--base-port",
            &BASE_PORT.to_string(),
            "--data-dir",
        ])
        .arg(dir.path().join("devnet"))
        .args(["--log-level", "warn"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn weft devnet");
    let ours = |sockets: &[(String, u16)]| -> Vec<(String, u16)> {
        sockets
            .iter()
            .filter(|(_, p)| (BASE_PORT..BASE_PORT + 300).contains(p))
            .cloned()
            .collect()
    };
    // Four validators (p2p, RPC, metrics each), the L1 and the rollup.
    let deadline = Instant::now() + Duration::from_secs(120);
    let sockets = loop {
        let now = ours(&listening());
        if now.len() >= 14 || Instant::now() > deadline {
            break now;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = Command::new("kill")
        .args(["-INT", &devnet.id().to_string()])
        .status();
    let _ = devnet.wait();
    assert!(
        sockets.len() >= 14,
        "expected at least 14 listening sockets, saw {sockets:?}"
    );
    let exposed: Vec<_> = sockets.iter().filter(|(a, _)| !is_loopback(a)).collect();
    assert!(
        exposed.is_empty(),
        "devnet sockets not on loopback: {exposed:?}"
    );
}

/// The README's risk-reversal walk-through (docs/bundles.md), run against `weft devnet` with
/// the CLI exactly as a user would: deposits, a price, quotes, then a risk reversal that
/// executes on both rollups, and after a re-quote one that reverts on both.
#[test]
fn the_risk_reversal_demo_runs_on_the_devnet() {
    const BASE: u16 = 29_500;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("devnet");
    let devnet = Command::new(weft())
        .args(["devnet", "--base-port", &BASE.to_string(), "--data-dir"])
        .arg(&data)
        .args(["--log-level", "warn"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn weft devnet");
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = Command::new("kill")
                .args(["-INT", &self.0.id().to_string()])
                .status();
            let _ = self.0.wait();
        }
    }
    let _stop = Stop(devnet);
    let rpc = format!("http://127.0.0.1:{}", BASE + 1);
    let rollup = format!("http://127.0.0.1:{}", BASE + 100);
    let token = data.join("token");
    let key = |name: &str| token.join(format!("{name}.key")).display().to_string();
    let cli = |args: &[&str]| -> (bool, String) {
        let out = Command::new(weft())
            .args(args)
            .args(["--rpc", &rpc, "--rollup-rpc", &rollup])
            .output()
            .expect("run weft");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let retry = |what: &str, args: &[&str], want: &str| -> String {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let (ok, text) = cli(args);
            if ok && text.contains(want) {
                return text;
            }
            assert!(Instant::now() < deadline, "{what}: {text}");
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    retry(
        "the options rollup to run",
        &["rollup", "options", "status"],
        "state_root",
    );
    let genesis = std::fs::read_to_string(token.join("options.toml")).unwrap();
    let escrow = genesis
        .lines()
        .find_map(|l| l.strip_prefix("escrow = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("escrow in options.toml")
        .to_string();
    let bob = {
        let alloc = std::fs::read_to_string(token.join("alloc.toml")).unwrap();
        alloc
            .lines()
            .filter_map(|l| l.strip_prefix("public_key = \""))
            .nth(1)
            .and_then(|l| l.strip_suffix('"'))
            .expect("bob in alloc.toml")
            .to_string()
    };
    let (oracle, alice, bobk) = (key("oracle"), key("alice"), key("bob"));
    for k in [&bobk, &alice] {
        let deposit = [
            "rollup",
            "options",
            "deposit",
            "--key",
            k.as_str(),
            "--escrow",
            escrow.as_str(),
            "--amount",
            "500",
        ];
        retry("a deposit", &deposit, "EXECUTED");
    }
    let (ok, text) = cli(&[
        "rollup",
        "options",
        "price",
        "--key",
        oracle.as_str(),
        "--price",
        "100",
    ]);
    assert!(ok, "{text}");
    let quote = |kind: &str, strike: &str, bid: &str, ask: &str| {
        let args = [
            "rollup",
            "options",
            "quote",
            "--key",
            bobk.as_str(),
            "--kind",
            kind,
            "--strike",
            strike,
            "--expiry",
            "100000",
            "--bid",
            bid,
            "--ask",
            ask,
            "--size",
            "10",
        ];
        let (ok, text) = cli(&args);
        assert!(ok, "{text}");
    };
    quote("call", "110", "4", "5");
    quote("put", "90", "3", "4");
    let trade = [
        "trade",
        "risk-reversal",
        "--key",
        alice.as_str(),
        "--maker",
        bob.as_str(),
        "--call-strike",
        "110",
        "--put-strike",
        "90",
        "--expiry",
        "100000",
        "--premium-max",
        "3",
    ];
    let executed = retry("the risk reversal", &trade, "EXECUTED on every rollup");
    assert!(executed.contains("net premium 2"), "{executed}");
    assert!(
        executed.contains("\"locked\":90"),
        "the taker's short put is collateralized: {executed}"
    );
    quote("call", "110", "6", "7");
    let reverted = retry(
        "the reverted risk reversal",
        &trade,
        "REVERTED on every rollup",
    );
    assert!(reverted.contains("above the taker's limit 3"), "{reverted}");

    // The quick start's L1 and prover are wired: the token rollup's batches, the executed
    // bundle's legs and the reverted one's, settle on the L1 with verified proofs (its
    // submitter and provers authenticated) until the settled root is the rollup's own.
    use jsonrpsee::core::client::ClientT as _;
    let l1 = format!("http://127.0.0.1:{}", BASE + 200);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (root, status) = runtime.block_on(async {
            let client = |url: &str| {
                jsonrpsee::http_client::HttpClientBuilder::default()
                    .build(url)
                    .unwrap()
            };
            let root: Option<String> = client(&rollup)
                .request("token_stateRoot", jsonrpsee::rpc_params![])
                .await
                .ok();
            let status: Option<Vec<weft_settlement::RollupStatus>> = client(&l1)
                .request("l1_status", jsonrpsee::rpc_params![])
                .await
                .ok();
            (root, status)
        });
        let settled = status
            .iter()
            .flatten()
            .find(|s| s.rollup == 7 && s.settled_batches >= 1)
            .map(|s| {
                weft_rollup::service::root_hex(&weft_rollup_token::word_from_u64(&s.root).unwrap())
            });
        if root.is_some() && settled == root {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the token rollup's root {root:?} never settled on the L1 (settled: {settled:?})"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // Collateral: the L1's genesis funded each validator's key; validator 0 bonds and is in
    // the set the staking program offers Weft.
    let stake = |args: &[&str]| {
        let out = Command::new(weft())
            .arg("stake")
            .args(args)
            .args(["--l1", &l1])
            .output()
            .expect("run weft stake");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "weft stake {args:?}: {text}");
        text
    };
    let validator0 = data.join("node-0/validator.key").display().to_string();
    let bonded = stake(&[
        "bond",
        "--key",
        &validator0,
        "--amount",
        "5000000",
        "--rpc",
        &rpc,
    ]);
    assert!(bonded.contains("\"bonded\": 5000000"), "{bonded}");
    let status: serde_json::Value = serde_json::from_str(&stake(&["status"])).unwrap();
    assert_eq!(status["set"].as_array().map(Vec::len), Some(1), "{status}");
    assert_eq!(status["set"][0]["bonded"], 5_000_000);
}
