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
