//! A validator that cannot do its job stops with a non-zero exit and says why, instead of
//! running on half-alive (defect: a network or RPC start failure made `run` return `Ok`).

mod common;

use common::weft;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Writes a one-validator network into `dir` and returns node 0's config path.
fn network(dir: &std::path::Path, p2p_port: u16) -> std::path::PathBuf {
    let status = Command::new(weft())
        .args(["genesis", "--local", "--hosts"])
        .arg(format!("127.0.0.1:{p2p_port}"))
        .arg("--out")
        .arg(dir)
        .status()
        .expect("run weft genesis");
    assert!(status.success());
    dir.join("node-0/config.toml")
}

/// Runs `weft node` and waits (bounded) for it to exit; returns its status and output.
fn run_node(config: &std::path::Path, rpc: &str) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(weft())
        .args(["node", "--config"])
        .arg(config)
        .args(["--node.rpc-listen", rpc, "--log-level", "info"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weft node");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return (status, text);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the node kept running although it could not start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_taken_rpc_port_stops_the_node_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = network(dir.path(), 28_500);
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let rpc = taken.local_addr().unwrap().to_string();
    let (status, out) = run_node(&config, &rpc);
    assert!(!status.success(), "exit status {status}; output:\n{out}");
    assert!(out.contains("rpc"), "the reason is not named:\n{out}");
}

#[test]
fn a_taken_p2p_port_stops_the_node_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = network(dir.path(), port);
    let (status, out) = run_node(&config, "127.0.0.1:0");
    assert!(!status.success(), "exit status {status}; output:\n{out}");
}
