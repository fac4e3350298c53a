//! The token rollup as a running component: follows its namespace on a Weft validator
//! (WebSocket subscription from height 0, resuming without gaps or duplicates), executes
//! every payload in order, and serves its state over JSON-RPC:
//! `token_account(public_key_hex)`, `token_stateRoot()`, `token_status()` and
//! `token_skipped(from_height)`.
//!
//! The state is a deterministic function of the namespace's finalized data and the genesis
//! allocation, so a restarted service rebuilds it by replaying from height 0.

use crate::batcher::{self, Batcher, Cut};
use jsonrpsee::server::{Server, ServerHandle};
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned};
use jsonrpsee::RpcModule;
use serde::{Deserialize, Serialize};
use std::{
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
};
use tracing::{info, warn};
use weft_rollup_token::{Record, Skip, TokenState, TransferDomain, Word};
use weft_types::{ChainId, NamespaceId};

/// Default namespace of the token rollup.
pub const DEFAULT_TOKEN_NAMESPACE: u64 = 7;
/// Most skipped-transfer records kept for `token_skipped`.
pub const SKIPPED_RECORDS_MAX: usize = 10_000;

/// One genesis account.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allocation {
    /// ed25519 public key (hex).
    pub public_key: String,
    /// Initial balance.
    pub balance: u64,
}

/// The genesis allocation file (TOML: `[[accounts]]`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// Accounts.
    #[serde(default)]
    pub accounts: Vec<Allocation>,
}

impl Genesis {
    /// Reads an allocation file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The initial state.
    pub fn state(&self) -> Result<TokenState, String> {
        let mut allocations = Vec::new();
        for (i, a) in self.accounts.iter().enumerate() {
            let key = weft_types::from_hex_fixed::<32>(&a.public_key)
                .map_err(|e| format!("accounts[{i}].public_key: {e}"))?;
            allocations.push((key, a.balance));
        }
        Ok(TokenState::genesis(&allocations))
    }
}

/// A skipped transfer, as reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedJson {
    /// Height of the Weft block.
    pub height: u64,
    /// Weft transaction hash.
    pub tx_hash: String,
    /// Why it was skipped.
    pub reason: String,
}

/// `token_status` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusJson {
    /// Namespace followed.
    pub namespace: u64,
    /// Next Weft height to execute (everything below is applied).
    pub next_height: u64,
    /// State root (hex of the four field elements, little-endian u64 each).
    pub state_root: String,
    /// Transfers applied.
    pub applied: u64,
    /// Transfers skipped.
    pub skipped: u64,
}

/// `token_account` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountJson {
    /// Balance.
    pub balance: u64,
    /// Next nonce.
    pub nonce: u32,
}

/// Hex of a state root.
pub fn root_hex(root: &Word) -> String {
    let mut bytes = Vec::with_capacity(32);
    for e in root {
        bytes.extend_from_slice(&e.as_int().to_le_bytes());
    }
    weft_types::to_hex(&bytes)
}

/// The service's state.
pub struct Rollup {
    namespace: u64,
    /// Where its transfers are valid: this rollup on this Weft chain.
    domain: TransferDomain,
    inner: Mutex<Inner>,
}

struct Inner {
    state: TokenState,
    next_height: u64,
    applied: u64,
    skipped: u64,
    skipped_records: std::collections::VecDeque<SkippedJson>,
    batcher: Option<Batcher>,
    /// Cuts not yet handed to the pipeline (bounded by the batcher: one per batch).
    cuts: Vec<Cut>,
}

impl Rollup {
    /// A rollup at genesis, on `namespace` of the Weft chain `chain`.
    pub fn new(chain: ChainId, namespace: u64, state: TokenState) -> Arc<Self> {
        Arc::new(Self {
            namespace,
            domain: TransferDomain {
                chain,
                rollup: NamespaceId(namespace),
            },
            inner: Mutex::new(Inner {
                state,
                next_height: 0,
                applied: 0,
                skipped: 0,
                skipped_records: Default::default(),
                batcher: None,
                cuts: Vec::new(),
            }),
        })
    }

    /// A rollup at genesis that also cuts batches (replaying the persisted cuts `planned`).
    pub fn with_batcher(
        chain: ChainId,
        namespace: u64,
        state: TokenState,
        cfg: batcher::Config,
        planned: std::collections::BTreeMap<u64, weft_settlement::Cursor>,
    ) -> Arc<Self> {
        let root = state.root();
        let rollup = Self::new(chain, namespace, state);
        rollup.inner.lock().expect("rollup lock").batcher =
            Some(Batcher::new(cfg, namespace, root, planned));
        rollup
    }

    /// The namespace.
    pub fn namespace(&self) -> u64 {
        self.namespace
    }

    /// The state root.
    pub fn root(&self) -> Word {
        self.inner.lock().expect("rollup lock").state.root()
    }

    /// Closes the open batch if it is due, and takes every closed batch.
    pub fn take_cuts(&self, now_ms: u64) -> Vec<Cut> {
        let mut guard = self.inner.lock().expect("rollup lock");
        let inner = &mut *guard;
        if let Some(b) = inner.batcher.as_mut() {
            if let Some(cut) = b.tick(now_ms, &inner.state) {
                inner.cuts.push(cut);
            }
        }
        std::mem::take(&mut inner.cuts)
    }

    /// Executes one finalized block's transactions of the namespace.
    pub fn apply_block(&self, block: &weft_client::types::NamespaceBlockJson) {
        let mut inner = self.inner.lock().expect("rollup lock");
        assert!(
            block.height >= inner.next_height,
            "blocks arrive in order, once"
        );
        let inner = &mut *inner;
        let now_ms = now_ms();
        for (j, tx) in block.transactions.iter().enumerate() {
            let payload = hex::decode(tx.tx.payload.trim_start_matches("0x")).unwrap_or_default();
            let at = weft_settlement::Cursor::new(block.height, j as u32);
            if let Some(b) = inner.batcher.as_mut() {
                if let Some(cut) = b.before_tx(at, payload.len(), &inner.state) {
                    inner.cuts.push(cut);
                }
            }
            let (outcome, step) = match Record::from_payload(&payload, &self.domain) {
                // Witnesses are only collected when batches are cut.
                Ok(record) if inner.batcher.is_some() => {
                    let (step, outcome) = inner.state.step(&record);
                    (outcome, Some((record, step)))
                }
                Ok(record) => (inner.state.apply_record(&record), None),
                Err(skip) => (Err(skip), None),
            };
            if let Some(b) = inner.batcher.as_mut() {
                b.push(at, payload.len(), step, now_ms);
            }
            match outcome {
                Ok(()) => inner.applied += 1,
                Err(reason) => inner.record_skip(block.height, &tx.tx.hash, &reason),
            }
        }
        if let Some(b) = inner.batcher.as_mut() {
            let count = block.transactions.len() as u32;
            if let Some(cut) = b.after_block(block.height, count, &inner.state) {
                inner.cuts.push(cut);
            }
        }
        inner.next_height = block.height + 1;
    }

    /// Status.
    pub fn status(&self) -> StatusJson {
        let inner = self.inner.lock().expect("rollup lock");
        StatusJson {
            namespace: self.namespace,
            next_height: inner.next_height,
            state_root: root_hex(&inner.state.root()),
            applied: inner.applied,
            skipped: inner.skipped,
        }
    }

    /// An account.
    pub fn account(&self, public_key: &[u8; 32]) -> Option<AccountJson> {
        let inner = self.inner.lock().expect("rollup lock");
        inner.state.account(public_key).map(|a| AccountJson {
            balance: a.balance,
            nonce: a.nonce,
        })
    }

    /// Skipped transfers at or above `from_height`.
    pub fn skipped(&self, from_height: u64) -> Vec<SkippedJson> {
        let inner = self.inner.lock().expect("rollup lock");
        inner
            .skipped_records
            .iter()
            .filter(|s| s.height >= from_height)
            .cloned()
            .collect()
    }
}

impl Inner {
    fn record_skip(&mut self, height: u64, tx_hash: &str, reason: &Skip) {
        warn!(target: "weft::rollup::token", height, tx_hash, %reason, "skipped transfer");
        self.skipped += 1;
        self.skipped_records.push_back(SkippedJson {
            height,
            tx_hash: tx_hash.to_string(),
            reason: reason.to_string(),
        });
        while self.skipped_records.len() > SKIPPED_RECORDS_MAX {
            self.skipped_records.pop_front();
        }
    }
}

/// Follows the namespace on `client` until the stream fails for good.
pub async fn follow(
    rollup: Arc<Rollup>,
    client: weft_client::Client,
) -> Result<(), weft_client::ClientError> {
    let mut stream = client.subscribe_namespace(rollup.namespace, 0);
    loop {
        let block = stream.next().await?;
        rollup.apply_block(&block);
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn err(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObject::owned(-32602, message.into(), None::<()>)
}

/// Serves the rollup's JSON-RPC on `addr`.
pub async fn serve(
    rollup: Arc<Rollup>,
    addr: SocketAddr,
    pipeline: Option<Arc<crate::pipeline::Pipeline>>,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    // Witnesses (prover_pull) and proofs (prover_submit) are megabytes of hex.
    let cfg = jsonrpsee::server::ServerConfig::builder()
        .max_request_body_size(crate::l1::L1_REQUEST_BYTES_MAX)
        .max_response_body_size(64 << 20)
        .build();
    let server = Server::builder().set_config(cfg).build(addr).await?;
    let bound = server.local_addr()?;
    let mut module = RpcModule::new(rollup);
    module
        .register_method("token_status", |_p, r, _| {
            Ok::<StatusJson, ErrorObjectOwned>(r.status())
        })
        .map_err(std::io::Error::other)?;
    module
        .register_method("token_stateRoot", |_p, r, _| {
            Ok::<String, ErrorObjectOwned>(r.status().state_root)
        })
        .map_err(std::io::Error::other)?;
    module
        .register_method("token_account", |p, r, _| {
            let (key,): (String,) = p.parse()?;
            let key = weft_types::from_hex_fixed::<32>(&key)
                .map_err(|e| err(format!("public_key: {e}")))?;
            Ok::<Option<AccountJson>, ErrorObjectOwned>(r.account(&key))
        })
        .map_err(std::io::Error::other)?;
    module
        .register_method("token_skipped", |p, r, _| {
            let (from,): (Option<u64>,) = p.parse()?;
            Ok::<Vec<SkippedJson>, ErrorObjectOwned>(r.skipped(from.unwrap_or(0)))
        })
        .map_err(std::io::Error::other)?;
    if let Some(p) = pipeline {
        p.register(&mut module).map_err(std::io::Error::other)?;
    }
    info!(target: "weft::rollup::token", %bound, "token rollup rpc listening");
    Ok((bound, server.start(module)))
}
