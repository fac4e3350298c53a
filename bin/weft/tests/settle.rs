//! Submission to settlement, all real processes: four validators, the embedded L1, the token
//! rollup (batcher and prover coordinator) and prover workers. The first prover is SIGKILLed
//! while it holds a task; the task is reassigned after its deadline and every batch settles
//! with a verified proof, the settled root equal to the rollup's own state root.

mod common;

use bytes::Bytes;
use common::*;
use commonware_cryptography::Signer as _;
use std::process::{Child, Command, Stdio};
use weft_rollup::pipeline::BatchStatusJson;
use weft_rollup_token::Transfer;
use weft_settlement::RollupStatus;
use weft_types::{NamespaceId, SigningKey, Transaction};

const NS: u64 = 7;
const TRANSFERS: u64 = 64;

fn pk(k: &SigningKey) -> [u8; 32] {
    k.public_key().as_ref().try_into().unwrap()
}

struct Procs(Vec<(String, Child)>, std::path::PathBuf);

impl Procs {
    fn spawn(&mut self, name: &str, args: &[String]) {
        let log = std::fs::File::create(self.1.join(format!("{name}.log"))).unwrap();
        let child = Command::new(weft())
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.0.push((name.to_string(), child));
    }
    fn kill(&mut self, name: &str) {
        let (_, c) = self.0.iter_mut().find(|(n, _)| n == name).unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for (name, c) in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
            if std::thread::panicking() {
                let log =
                    std::fs::read_to_string(self.1.join(format!("{name}.log"))).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                eprintln!("--- {name}.log (newest first) ---\n{}", tail.join("\n"));
            }
        }
    }
}

async fn call<T: serde::de::DeserializeOwned>(
    url: &str,
    method: &str,
    params: jsonrpsee::core::params::ArrayParams,
) -> Option<T> {
    use jsonrpsee::core::client::ClientT as _;
    let c = jsonrpsee::http_client::HttpClientBuilder::default()
        .build(url)
        .ok()?;
    c.request(method, params).await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_settle_with_verified_proofs_despite_a_killed_prover() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _net = Net::create(dir.path(), 27_000);
    wait_all_started().await;
    let weft_rpc = format!("http://127.0.0.1:{}", rpc_port(0));
    let (alice, bob) = (key(800), key(801));
    let alloc = dir.path().join("alloc.toml");
    std::fs::write(
        &alloc,
        format!(
            "[[accounts]]\npublic_key = \"{}\"\nbalance = 1000000\n",
            weft_types::to_hex(&pk(&alice))
        ),
    )
    .unwrap();
    let (l1_url, token_url) = ("http://127.0.0.1:27300", "http://127.0.0.1:27301");
    // The rollup's owner (named by the L1's deployment) and the submitter it registers.
    let (owner, submitter) = (key(802), key(803));
    let key_file = |name: &str, k: &SigningKey| {
        let path = dir.path().join(name);
        weft_node::write_key(&path, k).unwrap();
        path.display().to_string()
    };
    let (owner_file, submitter_file) = (
        key_file("owner.key", &owner),
        key_file("submitter.key", &submitter),
    );
    // Two registered provers; the first is killed mid-task.
    let (doomed, survivor) = (key(805), key(806));
    let (doomed_file, survivor_file) = (
        key_file("doomed.key", &doomed),
        key_file("survivor.key", &survivor),
    );
    let (doomed_id, survivor_id) = (
        weft_prover::auth::prover_id(&doomed),
        weft_prover::auth::prover_id(&survivor),
    );
    let mut procs = Procs(Vec::new(), dir.path().to_path_buf());
    let s = |x: &str| x.to_string();
    procs.spawn(
        "l1",
        &[
            s("l1"),
            s("run"),
            s("--data-dir"),
            dir.path().join("l1").display().to_string(),
            s("--listen"),
            s("127.0.0.1:27300"),
            s("--weft-rpc"),
            weft_rpc.clone(),
            s("--token-owner"),
            weft_types::to_hex(&pk(&owner)),
            s("--genesis"),
            dir.path().join("genesis.toml").display().to_string(),
        ],
    );
    procs.spawn(
        "rollup",
        &[
            s("rollup"),
            s("token"),
            s("run"),
            s("--rpc"),
            weft_rpc.clone(),
            s("--alloc"),
            alloc.display().to_string(),
            s("--listen"),
            s("127.0.0.1:27301"),
            s("--data-dir"),
            dir.path().join("token").display().to_string(),
            s("--l1"),
            s(l1_url),
            s("--owner-key"),
            owner_file,
            s("--submitter-key"),
            submitter_file,
            s("--batch-interval-ms"),
            s("1000"),
            s("--prover-timeout-ms"),
            s("10000"),
            s("--provers"),
            format!("{doomed_id},{survivor_id}"),
        ],
    );

    // 64 transfers alice -> bob, amounts 1..=64, submitted at once.
    let txs: Vec<String> = (0..TRANSFERS)
        .map(|n| {
            let payload = Transfer::sign(
                &alice,
                &weft_rollup_token::TransferDomain {
                    chain: chain(),
                    rollup: NamespaceId(NS),
                },
                pk(&bob),
                n + 1,
                n as u32,
            )
            .encode();
            hex_of(&Transaction::sign(
                &alice,
                &chain(),
                NamespaceId(NS),
                n,
                Bytes::from(payload),
            ))
        })
        .collect();
    let results = client(0)
        .send_transactions(&txs)
        .await
        .expect("accepted by Weft");
    for r in &results {
        assert!(
            matches!(r, weft_client::types::SubmitResult::Accepted { .. }),
            "a transfer was refused: {r:?}"
        );
    }

    // A prover takes a task and is killed while proving it.
    procs.spawn(
        "doomed",
        &[
            s("prover"),
            s("--coordinator"),
            s(token_url),
            s("--key"),
            doomed_file,
        ],
    );
    wait_until("the doomed prover holds a task", || async {
        let batches: Vec<BatchStatusJson> = call(token_url, "rollup_batches", jsonrpsee::rpc_params![0u64, 100usize]).await.unwrap_or_default();
        batches.iter().any(|b| matches!(&b.task, Some(weft_prover::TaskState::Assigned { prover, .. }) if *prover == doomed_id))
    })
    .await;
    procs.kill("doomed");
    procs.spawn(
        "survivor",
        &[
            s("prover"),
            s("--coordinator"),
            s(token_url),
            s("--key"),
            survivor_file,
        ],
    );

    // Every transfer executes and every batch up to it settles.
    let bob_hex = weft_types::to_hex(&pk(&bob));
    wait_until("bob has all 64 transfers", || async {
        let a: Option<weft_rollup::service::AccountJson> = call(
            token_url,
            "token_account",
            jsonrpsee::rpc_params![bob_hex.clone()],
        )
        .await
        .flatten();
        a.is_some_and(|a| a.balance == TRANSFERS * (TRANSFERS + 1) / 2)
    })
    .await;
    let root: String = call(token_url, "token_stateRoot", jsonrpsee::rpc_params![])
        .await
        .unwrap();
    wait_until("the rollup's root settles on the L1", || async {
        let status: Vec<RollupStatus> = call(l1_url, "l1_status", jsonrpsee::rpc_params![])
            .await
            .unwrap_or_default();
        status
            .iter()
            .any(|r| r.rollup == NS && root_hex(&r.root) == root)
    })
    .await;

    let batches: Vec<BatchStatusJson> = call(
        token_url,
        "rollup_batches",
        jsonrpsee::rpc_params![0u64, 100usize],
    )
    .await
    .unwrap();
    assert!(!batches.is_empty());
    assert!(
        batches.iter().any(|b| b.attempts >= 1 && matches!(&b.task, Some(weft_prover::TaskState::Proven { prover, .. }) if *prover == survivor_id)),
        "the killed prover's task was reassigned after its deadline and proven by the survivor: {batches:?}"
    );
    let status: Vec<RollupStatus> = call(l1_url, "l1_status", jsonrpsee::rpc_params![])
        .await
        .unwrap();
    let token = status.iter().find(|r| r.rollup == NS).unwrap();
    assert!(token.settled_batches >= 1);
    let last = token.last_batch.as_ref().unwrap();
    assert!(
        last.proof_bytes > 10_000,
        "a real STARK was verified on the L1"
    );
    for b in &batches[..token.settled_batches as usize] {
        let settled: Option<weft_settlement::SettledBatch> = call(
            l1_url,
            "l1_batch",
            jsonrpsee::rpc_params![NS, b.batch.header.batch_index],
        )
        .await
        .unwrap();
        let settled = settled.expect("settled in order");
        assert_eq!(
            (settled.old_root, settled.new_root, settled.commitment),
            (b.batch.old_root, b.batch.new_root, b.batch.commitment)
        );
    }

    // The killed prover's missed deadline is a strike against its key; a key nobody
    // registered gets no task, however it names itself.
    let provers: Vec<weft_rollup::pipeline::ProverJson> =
        call(token_url, "prover_provers", jsonrpsee::rpc_params![])
            .await
            .unwrap();
    let record = |id: &str| &provers.iter().find(|p| p.prover == id).unwrap().record;
    assert!(record(&doomed_id).missed_deadlines >= 1, "{provers:?}");
    assert!(record(&survivor_id).proven >= 1, "{provers:?}");
    let stranger = key(807);
    let info: weft_rollup::pipeline::ProverInfo =
        call(token_url, "prover_info", jsonrpsee::rpc_params![])
            .await
            .unwrap();
    let instance = weft_types::from_hex_fixed::<32>(&info.instance).unwrap();
    let pull = weft_prover::auth::PullRequest::sign(&stranger, &chain(), &instance, NS, now_ms());
    let coordinator = jsonrpsee::http_client::HttpClientBuilder::default()
        .build(token_url)
        .unwrap();
    use jsonrpsee::core::client::ClientT as _;
    let err = coordinator
        .request::<Option<weft_rollup::pipeline::PulledTask>, _>(
            "prover_pull",
            jsonrpsee::rpc_params![pull],
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a registered prover"), "{err}");

    // The L1 takes the rollup's registration only from its owner and its batches only from
    // the submitter the owner named; an attacker's calls are refused and seal nothing.
    assert_eq!(token.submitter, pk(&submitter));
    let l1 = jsonrpsee::http_client::HttpClientBuilder::default()
        .build(l1_url)
        .unwrap();
    let head: u64 = l1
        .request("l1_head", jsonrpsee::rpc_params![])
        .await
        .unwrap();
    let attacker = key(804);
    let hijack = weft_settlement::Registration {
        rollup: NS,
        program: weft_prover::token::BACKEND_ID.into(),
        genesis_root: [0; 4],
        start: weft_settlement::Cursor::new(0, 0),
        submitter: pk(&attacker),
    }
    .sign(&attacker, &chain());
    let err = l1
        .request::<(), _>("l1_registerRollup", jsonrpsee::rpc_params![hijack])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not signed by the rollup's owner"),
        "{err}"
    );
    let mut forged = weft_settlement::Submission {
        header: weft_settlement::BatchHeader {
            rollup: NS,
            batch_index: token.settled_batches,
            start: token.next_start,
            end: weft_settlement::Cursor::new(token.next_start.height + 1, 0),
        },
        old_root: token.root,
        new_root: [7; 4],
        commitment: [7; 4],
        proof: vec![1; 64],
        bundle_outcomes: Vec::new(),
        signature: Vec::new(),
    };
    forged.sign(&attacker, &chain());
    let err = l1
        .request::<weft_settlement::Receipt, _>(
            "l1_submit",
            jsonrpsee::rpc_params![weft_rollup::l1::SubmissionJson::of(&forged)],
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("not signed by the registered submitter"),
        "{err}"
    );
    let after: u64 = l1
        .request("l1_head", jsonrpsee::rpc_params![])
        .await
        .unwrap();
    assert_eq!(after, head, "refused calls seal no L1 block");

    // The L1 reads Weft through proofs and certificates checked against genesis: a lying
    // validator RPC that answers for namespace 7 with another namespace's proof (valid, and
    // empty) is caught, where the honest one's data is the batch's.
    let genesis = weft_node::Genesis::load(&dir.path().join("genesis.toml")).unwrap();
    let trust = weft_rollup::l1::WeftTrust {
        sets: weft_rollup::l1::TrustedSets::Fixed(genesis.validator_keys().unwrap()),
        chain: chain(),
        limits: genesis.limits,
    };
    let liar = lying_rpc(weft_rpc.clone()).await;
    let reader = |url: &str| {
        weft_rollup::l1::WeftRpcData::new(
            weft_client::Client::new(url).unwrap(),
            trust.clone(),
            tokio::runtime::Handle::current(),
        )
    };
    let (honest, lying) = (reader(&weft_rpc), reader(&liar));
    let header = batches[0].batch.header;
    let (told, lied) = tokio::task::spawn_blocking(move || {
        use weft_settlement::WeftData as _;
        (
            honest.namespace_payloads(NS, header.start, header.end),
            lying.namespace_payloads(NS, header.start, header.end),
        )
    })
    .await
    .unwrap();
    assert!(!told.unwrap().is_empty(), "the first batch holds transfers");
    assert!(
        matches!(&lied, Err(weft_settlement::DataError::Unavailable(m)) if m.contains("served namespace 99")),
        "{lied:?}"
    );
}

/// A Byzantine validator RPC: forwards to `upstream`, but answers every namespace proof with
/// namespace 99's proof at the same height. Returns its URL.
async fn lying_rpc(upstream: String) -> String {
    use jsonrpsee::core::client::ClientT as _;
    use jsonrpsee::types::{ErrorObject, ErrorObjectOwned};
    let mut module = jsonrpsee::RpcModule::new(upstream);
    for method in [
        "weft_chainHead",
        "weft_getFinality",
        "weft_getNamespaceProof",
    ] {
        module
            .register_async_method(method, move |params, up, _| async move {
                let mut args: Vec<serde_json::Value> = params.parse().unwrap_or_default();
                if method == "weft_getNamespaceProof" && !args.is_empty() {
                    args[0] = serde_json::json!(99u64);
                }
                let mut forwarded = jsonrpsee::core::params::ArrayParams::new();
                for a in args {
                    forwarded.insert(a).unwrap();
                }
                let client = jsonrpsee::http_client::HttpClientBuilder::default()
                    .build(up.as_str())
                    .unwrap();
                client
                    .request::<serde_json::Value, _>(method, forwarded)
                    .await
                    .map_err(|e| -> ErrorObjectOwned {
                        ErrorObject::owned(-32000, e.to_string(), None::<()>)
                    })
            })
            .unwrap();
    }
    let server = jsonrpsee::server::Server::builder()
        .build("127.0.0.1:0")
        .await
        .unwrap();
    let url = format!("http://{}", server.local_addr().unwrap());
    // Serves until the test process ends.
    std::mem::forget(server.start(module));
    url
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn root_hex(root: &[u64; 4]) -> String {
    weft_rollup::service::root_hex(&weft_rollup_token::word_from_u64(root).unwrap())
}
