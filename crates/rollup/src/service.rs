//! The token rollup as a running component: follows its namespace on a Weft validator
//! (WebSocket subscription from height 0, resuming without gaps or duplicates), executes
//! every payload in order, and serves its state over JSON-RPC:
//! `token_account(public_key_hex)`, `token_stateRoot()`, `token_status()` and
//! `token_skipped(from_height)`.
//!
//! The state is a deterministic function of the namespace's finalized data and the genesis
//! allocation, so a restarted service rebuilds it by replaying from height 0.

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
use weft_rollup_token::{Skip, TokenState, Word};

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
    inner: Mutex<Inner>,
}

struct Inner {
    state: TokenState,
    next_height: u64,
    applied: u64,
    skipped: u64,
    skipped_records: std::collections::VecDeque<SkippedJson>,
}

impl Rollup {
    /// A rollup at genesis.
    pub fn new(namespace: u64, state: TokenState) -> Arc<Self> {
        Arc::new(Self {
            namespace,
            inner: Mutex::new(Inner {
                state,
                next_height: 0,
                applied: 0,
                skipped: 0,
                skipped_records: Default::default(),
            }),
        })
    }

    /// Executes one finalized block's transactions of the namespace.
    pub fn apply_block(&self, block: &weft_client::types::NamespaceBlockJson) {
        let mut inner = self.inner.lock().expect("rollup lock");
        assert!(
            block.height >= inner.next_height,
            "blocks arrive in order, once"
        );
        for tx in &block.transactions {
            let payload = hex::decode(tx.tx.payload.trim_start_matches("0x")).unwrap_or_default();
            match inner.state.apply_payload(&payload) {
                Ok(_) => inner.applied += 1,
                Err(reason) => inner.record_skip(block.height, &tx.tx.hash, &reason),
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

fn err(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObject::owned(-32602, message.into(), None::<()>)
}

/// Serves the rollup's JSON-RPC on `addr`.
pub async fn serve(
    rollup: Arc<Rollup>,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let server = Server::builder().build(addr).await?;
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
    info!(target: "weft::rollup::token", %bound, "token rollup rpc listening");
    Ok((bound, server.start(module)))
}
