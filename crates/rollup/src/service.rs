//! The reference rollups as a running component: a world (`weft_rollup_kit`) of the token
//! rollup and, when configured, the options rollup, following their namespaces on a Weft
//! validator (range reads from height 0, block by block in height order), executing them
//! together under the bundle outcome rule, cutting the token rollup's batches, and serving
//! state over JSON-RPC: `token_account(public_key_hex)`, `token_stateRoot()`,
//! `token_status()`, `token_skipped(from_height)`, `options_status()`,
//! `options_account(public_key_hex)`, `options_quote(maker, kind, strike, expiry)` and
//! `rollup_bundle(bundle_id)`.
//!
//! The state is a deterministic function of the namespaces' finalized data and the genesis,
//! so a restarted service rebuilds it by replaying from height 0. The caller's clock is
//! passed in ([`Rollup::apply_block`], [`Rollup::take_cuts`]), never read inside.

use crate::batcher::{self, Batcher, Cut};
use jsonrpsee::server::{Server, ServerHandle};
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned};
use jsonrpsee::RpcModule;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::{
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
};
use tracing::{info, warn};
use weft_rollup_kit::{ExecTx, Hooks, Outcome, Program, World};
use weft_rollup_options::{Kind, OptionsState, Series};
use weft_rollup_token::{TokenProgram, TokenState, TransferDomain, Word};
use weft_types::{BundleId, ChainId, NamespaceId};

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

/// Options-rollup genesis as configured (TOML): see `weft_rollup_options::Genesis`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionsGenesis {
    /// The options rollup's namespace.
    #[serde(default = "default_options_namespace")]
    pub namespace: u64,
    /// The oracle's ed25519 public key (hex).
    pub oracle: String,
    /// The token-rollup account deposits are paid to (hex public key).
    pub escrow: String,
}

fn default_options_namespace() -> u64 {
    weft_rollup_options::DEFAULT_OPTIONS_NAMESPACE
}

impl OptionsGenesis {
    /// Reads an options genesis file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn state(&self, token_namespace: u64) -> Result<OptionsState, String> {
        let key = |what: &str, s: &str| {
            weft_types::from_hex_fixed::<32>(s).map_err(|e| format!("{what}: {e}"))
        };
        Ok(OptionsState::new(weft_rollup_options::Genesis {
            namespace: NamespaceId(self.namespace),
            token_namespace: NamespaceId(token_namespace),
            oracle: key("oracle", &self.oracle)?,
            escrow: key("escrow", &self.escrow)?,
        }))
    }
}

/// Most bundle outcomes kept for `rollup_bundle`.
pub const BUNDLE_RECORDS_MAX: usize = 10_000;

/// What became of a bundle, as this rollup node executed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleOutcomeJson {
    /// The bundle id.
    pub bundle_id: String,
    /// Weft height it was finalized at.
    pub height: u64,
    /// Whether it executed on every rollup of the world (or reverted on all).
    pub executed: bool,
    /// For a reverted bundle: the failing leg and why.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// Each rollup's state root after the block (hex), by namespace.
    pub roots: BTreeMap<u64, String>,
}

/// `options_account` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionsAccountJson {
    /// Collateral not locked.
    pub free: u64,
    /// Collateral locked against short positions.
    pub locked: u64,
    /// Positions: `(kind, strike, expiry, quantity)`, long > 0.
    pub positions: Vec<PositionJson>,
}

/// One position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionJson {
    /// `call` or `put`.
    pub kind: String,
    /// Strike.
    pub strike: u64,
    /// Expiry height.
    pub expiry: u64,
    /// Net quantity (long > 0, short < 0).
    pub quantity: i64,
}

/// `options_status` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionsStatusJson {
    /// Namespace.
    pub namespace: u64,
    /// Next Weft height to execute.
    pub next_height: u64,
    /// State root (hex).
    pub state_root: String,
    /// Last oracle price and the height it was posted at.
    pub price: Option<(u64, u64)>,
}

/// The service's state: a world of the token rollup and, when configured, the options
/// rollup, executed together (`weft_rollup_kit`), with the token rollup batched.
pub struct Rollup {
    namespace: u64,
    options: Option<u64>,
    inner: Mutex<Inner>,
}

struct Inner {
    token_ns: NamespaceId,
    world: World,
    next_height: u64,
    applied: u64,
    skipped: u64,
    skipped_records: std::collections::VecDeque<SkippedJson>,
    bundles: std::collections::VecDeque<BundleOutcomeJson>,
    /// The options root as of a next height (`options_status` computes it once per height,
    /// not once per request: it is a Merkle root over the whole options state).
    options_root_at: Option<(u64, String)>,
    batcher: Option<Batcher>,
    /// Cuts not yet handed to the pipeline (bounded by the batcher: one per batch).
    cuts: Vec<Cut>,
}

/// Drives the token batcher from the world's execution: cuts before a token transaction
/// (never inside a bundle: its legs are undone together), and pushes each transaction's
/// record and, for a leg, its bundle's outcome, once known.
struct Batching<'a> {
    batcher: &'a mut Batcher,
    cuts: &'a mut Vec<Cut>,
    token: NamespaceId,
    now_ms: u64,
    last_bundle: Option<BundleId>,
}

fn token_of(program: &dyn Program) -> &TokenProgram {
    program
        .as_any()
        .downcast_ref()
        .expect("the token namespace runs the token program")
}

impl Hooks for Batching<'_> {
    fn before(&mut self, height: u64, index: u32, tx: &ExecTx, program: &dyn Program) {
        if tx.namespace != self.token {
            return;
        }
        let bundle = tx.leg.map(|l| l.bundle);
        if bundle.is_some() && bundle == self.last_bundle {
            return;
        }
        self.last_bundle = bundle;
        let at = weft_settlement::Cursor::new(height, index);
        // A bundle's token legs stay in one batch: room for as many as it has legs.
        let group = tx.leg.map_or(1, |l| l.count as usize);
        if let Some(cut) = self.batcher.before_group(
            at,
            group,
            tx.payload.len() * group,
            &token_of(program).state,
        ) {
            self.cuts.push(cut);
        }
    }

    fn after(
        &mut self,
        height: u64,
        index: u32,
        tx: &ExecTx,
        outcome: &Outcome,
        program: &mut dyn Program,
    ) {
        if tx.namespace != self.token {
            return;
        }
        let token: &mut TokenProgram = program
            .as_any_mut()
            .downcast_mut()
            .expect("the token namespace runs the token program");
        let witness = token.take_witness(&tx.hash);
        let bundle = tx
            .leg
            .map(|l| (l.bundle.0 .0, matches!(outcome, Outcome::Executed(_))));
        let at = weft_settlement::Cursor::new(height, index);
        self.batcher
            .push(at, tx.payload.len(), witness, bundle, self.now_ms);
    }
}

impl Rollup {
    /// A token rollup at genesis, on `namespace` of the Weft chain `chain`, alone.
    pub fn new(chain: ChainId, namespace: u64, state: TokenState) -> Arc<Self> {
        Self::world(chain, namespace, state, None, None).expect("a token-only world")
    }

    /// A token rollup at genesis that also cuts batches (replaying the persisted cuts `planned`).
    pub fn with_batcher(
        chain: ChainId,
        namespace: u64,
        state: TokenState,
        cfg: batcher::Config,
        planned: std::collections::BTreeMap<u64, weft_settlement::Cursor>,
    ) -> Arc<Self> {
        Self::world(chain, namespace, state, None, Some((cfg, planned))).expect("a token world")
    }

    /// The token rollup and, with `options`, the options rollup, executed together; with
    /// `batching`, the token rollup cuts batches.
    pub fn world(
        chain: ChainId,
        namespace: u64,
        state: TokenState,
        options: Option<&OptionsGenesis>,
        batching: Option<(batcher::Config, BTreeMap<u64, weft_settlement::Cursor>)>,
    ) -> Result<Arc<Self>, String> {
        let domain = TransferDomain {
            chain,
            rollup: NamespaceId(namespace),
        };
        let root = state.root();
        let mut programs: Vec<Box<dyn Program>> = vec![Box::new(TokenProgram::new(
            state,
            domain,
            batching.is_some(),
        ))];
        let options_ns = match options {
            Some(g) => {
                if g.namespace == namespace {
                    return Err(format!(
                        "the options rollup cannot share the token rollup's namespace {namespace}"
                    ));
                }
                programs.push(Box::new(g.state(namespace)?));
                Some(g.namespace)
            }
            None => None,
        };
        Ok(Arc::new(Self {
            namespace,
            options: options_ns,
            inner: Mutex::new(Inner {
                token_ns: NamespaceId(namespace),
                world: World::new(programs),
                next_height: 0,
                applied: 0,
                skipped: 0,
                skipped_records: Default::default(),
                bundles: Default::default(),
                options_root_at: None,
                batcher: batching.map(|(cfg, planned)| Batcher::new(cfg, namespace, root, planned)),
                cuts: Vec::new(),
            }),
        }))
    }

    /// The token rollup's namespace.
    pub fn namespace(&self) -> u64 {
        self.namespace
    }

    /// Every namespace the world executes.
    pub fn namespaces(&self) -> Vec<NamespaceId> {
        self.inner.lock().expect("rollup lock").world.namespaces()
    }

    /// The next Weft height to execute.
    pub fn next_height(&self) -> u64 {
        self.inner.lock().expect("rollup lock").next_height
    }

    /// The token state root.
    pub fn root(&self) -> Word {
        let inner = self.inner.lock().expect("rollup lock");
        inner.token().state.root()
    }

    /// Closes the open batch if it is due, and takes every closed batch.
    pub fn take_cuts(&self, now_ms: u64) -> Vec<Cut> {
        let mut guard = self.inner.lock().expect("rollup lock");
        let inner = &mut *guard;
        let token_ns = NamespaceId(self.namespace);
        if let Some(b) = inner.batcher.as_mut() {
            let token: &TokenProgram = inner.world.get(token_ns).expect("token program");
            if let Some(cut) = b.tick(now_ms, &token.state) {
                inner.cuts.push(cut);
            }
        }
        std::mem::take(&mut inner.cuts)
    }

    /// Executes one finalized block's transactions of the world's namespaces (`txs`, each
    /// namespace's list in block order); `now_ms` is the caller's clock (batch timing).
    pub fn apply_block(&self, height: u64, txs: &BTreeMap<NamespaceId, Vec<ExecTx>>, now_ms: u64) {
        let mut guard = self.inner.lock().expect("rollup lock");
        let inner = &mut *guard;
        assert!(height >= inner.next_height, "blocks arrive in order, once");
        let token_ns = NamespaceId(self.namespace);
        let token_txs = txs.get(&token_ns).map_or(0, |l| l.len() as u32);
        let executed = match inner.batcher.as_mut() {
            Some(batcher) => {
                let mut hooks = Batching {
                    batcher,
                    cuts: &mut inner.cuts,
                    token: token_ns,
                    now_ms,
                    last_bundle: None,
                };
                let out = inner.world.apply_block_with(height, txs, &mut hooks);
                if token_txs > 0 {
                    let token: &TokenProgram = inner.world.get(token_ns).expect("token program");
                    if let Some(cut) = batcher_after(&mut inner.batcher, height, token_txs, token) {
                        inner.cuts.push(cut);
                    }
                }
                out
            }
            None => {
                let out = inner.world.apply_block(height, txs);
                if let Some(t) = inner.world.get_mut::<TokenProgram>(token_ns) {
                    t.clear_witnesses();
                }
                out
            }
        };
        let mut reported: std::collections::BTreeSet<BundleId> = Default::default();
        // Every bundle of a block reports the roots after the block: computed once.
        let mut roots_after: Option<BTreeMap<u64, String>> = None;
        for e in &executed {
            match &e.outcome {
                Outcome::Applied => inner.applied += 1,
                Outcome::Skipped(reason) => inner.record_skip(height, &e.hash.to_string(), reason),
                Outcome::Executed(b) | Outcome::Reverted { bundle: b, .. } => {
                    if e.namespace == token_ns {
                        inner.applied += matches!(e.outcome, Outcome::Executed(_)) as u64;
                    }
                    if reported.insert(*b) {
                        let reason = match &e.outcome {
                            Outcome::Reverted { leg, reason, .. } => {
                                Some(format!("leg {leg}: {reason}"))
                            }
                            _ => None,
                        };
                        info!(target: "weft::rollup::bundle", height, bundle = %b, executed = reason.is_none(), reason = reason.as_deref().unwrap_or(""), "bundle");
                        let world = &inner.world;
                        let roots = roots_after
                            .get_or_insert_with(|| {
                                world
                                    .namespaces()
                                    .into_iter()
                                    .map(|ns| {
                                        let root = world.program(ns).expect("own").state_root();
                                        (ns.0, weft_types::to_hex(&root))
                                    })
                                    .collect()
                            })
                            .clone();
                        inner.bundles.push_back(BundleOutcomeJson {
                            bundle_id: b.to_string(),
                            height,
                            executed: reason.is_none(),
                            reason,
                            roots,
                        });
                        while inner.bundles.len() > BUNDLE_RECORDS_MAX {
                            inner.bundles.pop_front();
                        }
                    }
                }
            }
        }
        inner.next_height = height + 1;
    }

    /// Records that every height below `next` has been executed (heights with no data for
    /// the world's namespaces need no execution).
    pub fn advance_to(&self, next: u64) {
        let mut inner = self.inner.lock().expect("rollup lock");
        inner.next_height = inner.next_height.max(next);
    }

    /// Status.
    pub fn status(&self) -> StatusJson {
        let inner = self.inner.lock().expect("rollup lock");
        StatusJson {
            namespace: self.namespace,
            next_height: inner.next_height,
            state_root: root_hex(&inner.token().state.root()),
            applied: inner.applied,
            skipped: inner.skipped,
        }
    }

    /// An account.
    pub fn account(&self, public_key: &[u8; 32]) -> Option<AccountJson> {
        let inner = self.inner.lock().expect("rollup lock");
        inner
            .token()
            .state
            .account(public_key)
            .map(|a| AccountJson {
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

    /// What became of a bundle, if this node executed it (and still remembers).
    pub fn bundle(&self, id: &BundleId) -> Option<BundleOutcomeJson> {
        let id = id.to_string();
        let inner = self.inner.lock().expect("rollup lock");
        inner
            .bundles
            .iter()
            .rev()
            .find(|b| b.bundle_id == id)
            .cloned()
    }

    fn with_options<T>(&self, f: impl FnOnce(&OptionsState, u64) -> T) -> Option<T> {
        let ns = self.options?;
        let inner = self.inner.lock().expect("rollup lock");
        let state: &OptionsState = inner.world.get(NamespaceId(ns))?;
        Some(f(state, inner.next_height))
    }

    /// The options rollup's status, if it runs here.
    pub fn options_status(&self) -> Option<OptionsStatusJson> {
        let ns = self.options?;
        let mut guard = self.inner.lock().expect("rollup lock");
        let inner = &mut *guard;
        let state: &OptionsState = inner.world.get(NamespaceId(ns))?;
        let next = inner.next_height;
        let root = match &inner.options_root_at {
            Some((at, root)) if *at == next => root.clone(),
            _ => {
                let root = weft_types::to_hex(state.root().as_ref());
                inner.options_root_at = Some((next, root.clone()));
                root
            }
        };
        Some(OptionsStatusJson {
            namespace: ns,
            next_height: next,
            state_root: root,
            price: state.price(),
        })
    }

    /// An options account.
    pub fn options_account(&self, key: &[u8; 32]) -> Option<OptionsAccountJson> {
        self.with_options(|o, _| {
            let c = o.collateral(key);
            OptionsAccountJson {
                free: c.free,
                locked: c.locked,
                positions: o
                    .positions_of(key)
                    .into_iter()
                    .map(|(s, q)| PositionJson {
                        kind: kind_name(s.kind).into(),
                        strike: s.strike,
                        expiry: s.expiry,
                        quantity: q,
                    })
                    .collect(),
            }
        })
    }

    /// A maker's quote on a series: `(bid, ask, size)`.
    pub fn options_quote(&self, maker: &[u8; 32], series: &Series) -> Option<(u64, u64, u64)> {
        self.with_options(|o, _| o.quote(series, maker).map(|q| (q.bid, q.ask, q.size)))
            .flatten()
    }
}

/// `call` or `put`.
pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Call => "call",
        Kind::Put => "put",
    }
}

/// Parses `call` or `put`.
pub fn parse_kind(s: &str) -> Result<Kind, String> {
    match s {
        "call" => Ok(Kind::Call),
        "put" => Ok(Kind::Put),
        other => Err(format!("kind must be call or put, not {other:?}")),
    }
}

fn batcher_after(
    batcher: &mut Option<Batcher>,
    height: u64,
    count: u32,
    token: &TokenProgram,
) -> Option<Cut> {
    batcher
        .as_mut()
        .and_then(|b| b.after_block(height, count, &token.state))
}

impl Inner {
    fn token(&self) -> &TokenProgram {
        self.world
            .get(self.token_ns)
            .expect("the token namespace runs the token program")
    }

    fn record_skip(&mut self, height: u64, tx_hash: &str, reason: &str) {
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

/// Most heights one follow step reads.
pub const FOLLOW_HEIGHTS_MAX: u64 = 256;
/// Pause between follow steps when caught up, in milliseconds.
pub const FOLLOW_POLL_MS: u64 = 100;
/// Pause after a failed follow step, in milliseconds.
pub const FOLLOW_RETRY_MS: u64 = 500;
/// Consecutive failed follow steps before [`follow`] gives up.
pub const FOLLOW_FAILURES_MAX: u32 = 60;

/// Follows the world's namespaces on `client`, block by block in height order (every
/// namespace's data of a height is executed together, as the outcome rule needs), until
/// reading keeps failing.
pub async fn follow(
    rollup: Arc<Rollup>,
    client: weft_client::Client,
    clock: crate::clock::SharedClock,
) -> Result<(), weft_client::ClientError> {
    let mut failures = 0;
    loop {
        match follow_step(&rollup, &client, clock.now_ms()).await {
            Ok(true) => failures = 0,
            Ok(false) => {
                failures = 0;
                clock.sleep(FOLLOW_POLL_MS).await;
            }
            Err(e) => {
                failures += 1;
                if failures >= FOLLOW_FAILURES_MAX {
                    return Err(e);
                }
                warn!(target: "weft::rollup", %e, "following failed; retrying");
                clock.sleep(FOLLOW_RETRY_MS).await;
            }
        }
    }
}

/// Executes the next finalized heights (at most [`FOLLOW_HEIGHTS_MAX`]); `false` if there
/// were none. `now_ms` only dates batch openings (the batch interval), never execution.
async fn follow_step(
    rollup: &Rollup,
    client: &weft_client::Client,
    now_ms: u64,
) -> Result<bool, weft_client::ClientError> {
    let next = rollup.next_height();
    let Some(head) = client.head().await?.map(|h| h.height) else {
        return Ok(false);
    };
    if head < next {
        return Ok(false);
    }
    let to = head.min(next + FOLLOW_HEIGHTS_MAX - 1);
    let mut blocks: BTreeMap<u64, BTreeMap<NamespaceId, Vec<ExecTx>>> = BTreeMap::new();
    for ns in rollup.namespaces() {
        let mut from = next;
        while from <= to {
            let range = client.namespace_transactions(ns.0, from, to).await?;
            for t in &range.transactions {
                let tx = ExecTx::from_json(&t.tx).map_err(|reason| {
                    weft_client::VerifyError::Malformed {
                        what: "namespace transaction",
                        reason,
                    }
                })?;
                blocks
                    .entry(t.height)
                    .or_default()
                    .entry(ns)
                    .or_default()
                    .push(tx);
            }
            from = range.next_from.unwrap_or(range.to + 1);
        }
    }
    for (height, txs) in &blocks {
        rollup.apply_block(*height, txs, now_ms);
    }
    rollup.advance_to(to + 1);
    Ok(true)
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
    module
        .register_method("rollup_bundle", |p, r, _| {
            let (id,): (String,) = p.parse()?;
            let id = BundleId::from_hex(&id).map_err(|e| err(format!("bundle_id: {e}")))?;
            Ok::<Option<BundleOutcomeJson>, ErrorObjectOwned>(r.bundle(&id))
        })
        .map_err(std::io::Error::other)?;
    module
        .register_method("options_status", |_p, r, _| {
            Ok::<Option<OptionsStatusJson>, ErrorObjectOwned>(r.options_status())
        })
        .map_err(std::io::Error::other)?;
    module
        .register_method("options_account", |p, r, _| {
            let (key,): (String,) = p.parse()?;
            let key = weft_types::from_hex_fixed::<32>(&key)
                .map_err(|e| err(format!("public_key: {e}")))?;
            Ok::<Option<OptionsAccountJson>, ErrorObjectOwned>(r.options_account(&key))
        })
        .map_err(std::io::Error::other)?;
    module
        .register_method("options_quote", |p, r, _| {
            let (maker, kind, strike, expiry): (String, String, u64, u64) = p.parse()?;
            let maker =
                weft_types::from_hex_fixed::<32>(&maker).map_err(|e| err(format!("maker: {e}")))?;
            let series = Series {
                kind: parse_kind(&kind).map_err(err)?,
                strike,
                expiry,
            };
            Ok::<Option<(u64, u64, u64)>, ErrorObjectOwned>(r.options_quote(&maker, &series))
        })
        .map_err(std::io::Error::other)?;
    if let Some(p) = pipeline {
        p.register(&mut module).map_err(std::io::Error::other)?;
    }
    info!(target: "weft::rollup::token", %bound, "token rollup rpc listening");
    Ok((bound, server.start(module)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock as _, ManualClock};

    /// The follower paces itself on the injected clock, not the system's: against a Weft
    /// node that never answers it retries `FOLLOW_FAILURES_MAX` times, `FOLLOW_RETRY_MS`
    /// apart on that clock, then gives up, without sleeping for real.
    #[tokio::test]
    async fn following_retries_on_the_injected_clock_and_gives_up() {
        let chain = weft_types::ChainId(weft_types::sha256(&[b"clock test"]));
        let state = Genesis::default().state().expect("the default genesis");
        let rollup = Rollup::new(chain, 7, state);
        // Port 1 on loopback: connections are refused at once.
        let client = weft_client::Client::new("http://127.0.0.1:1").expect("a client");
        let clock = ManualClock::at(1_000);
        let before = rollup.next_height();
        let failed = follow(rollup.clone(), client, clock.clone()).await;
        assert!(failed.is_err(), "it gives up");
        assert_eq!(
            clock.now_ms(),
            1_000 + u64::from(FOLLOW_FAILURES_MAX - 1) * FOLLOW_RETRY_MS
        );
        assert_eq!(rollup.next_height(), before, "nothing was executed");
    }
}
