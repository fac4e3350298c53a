//! Deterministic simulations of a Weft network.
//!
//! Every test runs four validators with the real consensus stack ([`weft_consensus::start`]:
//! simplex, marshal, Weft's block building and verification, the finalizer and transaction
//! gossip) over Commonware's simulated p2p network, on the deterministic runtime (virtual
//! time, seeded scheduling). Each validator has its own real [`Store`] in a temporary
//! directory; consensus journals live in the runtime's simulated storage.
//!
//! A failing test reports its seed (`seed=...`). Re-run one seed with
//! `WEFT_SIM_SEED=<seed> cargo test -p weft-consensus --test sim <name>`.

use bytes::Bytes;
use commonware_codec::Encode as _;
use commonware_consensus::simplex::{mocks::conflicter, scheme::ed25519 as simplex_ed25519};
use commonware_cryptography::{Sha256, Signer as _};
use commonware_p2p::simulated::{self, Link, Network};
use commonware_runtime::{deterministic, Clock as _, Quota, Runner as _, Supervisor as _};
use commonware_utils::{ordered::Set, probability, NZUsize, NZU32};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::{
    collections::BTreeMap,
    panic::AssertUnwindSafe,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};
use tempfile::TempDir;
use weft_consensus::{
    ChainState, Channels, Identity, Shared, CHANNELS, CHANNEL_BACKFILL, CHANNEL_BLOCKS,
    CHANNEL_VOTES,
};
use weft_mempool::Mempool;
use weft_storage::{Store, TxLocation};
use weft_types::{
    Block, Digest, Limits, NamespaceId, SigningKey, Transaction, TxHash, VerifyingKey,
};

/// Validators in every simulation.
const N: usize = 4;
/// How every client payload starts (the body forger looks for it).
const PAYLOAD_TAG: &[u8] = b"sender ";
/// Per-peer, per-channel rate limit: generous, so it never shapes a run.
const QUOTA: Quota = Quota::per_second(NZU32!(10_000));
/// Virtual-time bound of one runtime; a hung run panics here instead of spinning forever.
const RUNTIME_TIMEOUT: Duration = Duration::from_secs(300);
/// How often waits poll the stores (virtual time).
const POLL: Duration = Duration::from_millis(50);

type Context = deterministic::Context;
type Oracle = simulated::Oracle<VerifyingKey, Context>;

// ---------------------------------------------------------------------------------------------
// Seeds and failure reporting
// ---------------------------------------------------------------------------------------------

/// The seed of a test: `WEFT_SIM_SEED` if set, else the test's default.
fn seed_or(default: u64) -> u64 {
    match std::env::var("WEFT_SIM_SEED") {
        Ok(s) => s.parse().expect("WEFT_SIM_SEED must be a u64"),
        Err(_) => default,
    }
}

/// Runs `body` and, if it panics, panics again with the test name and seed in the message.
fn with_seed<T>(name: &str, seed: u64, body: impl FnOnce(u64) -> T) -> T {
    match std::panic::catch_unwind(AssertUnwindSafe(|| body(seed))) {
        Ok(out) => out,
        Err(payload) => {
            let reason = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic".into());
            panic!("simulation {name} failed with seed={seed}: {reason}");
        }
    }
}

fn runtime_config(seed: u64) -> deterministic::Config {
    deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(RUNTIME_TIMEOUT))
}

// ---------------------------------------------------------------------------------------------
// The network under test (fixed for a whole test, across restarts)
// ---------------------------------------------------------------------------------------------

/// The genesis block of every simulated network (so clients know the chain they sign for).
fn sim_genesis() -> Block {
    Block::genesis(
        weft_types::sha256(&[b"weft simulation genesis"]),
        SigningKey::from_seed(0).public_key(),
        0,
    )
}

/// Keys, genesis and on-disk store locations of one simulated network.
struct Testnet {
    keys: Vec<SigningKey>,
    validators: Set<VerifyingKey>,
    genesis: Block,
    limits: Limits,
    /// Holds every validator's store; lives as long as the test, so restarts find them.
    dir: TempDir,
}

impl Testnet {
    fn new() -> Self {
        let keys: Vec<SigningKey> = (0..N as u64).map(SigningKey::from_seed).collect();
        let validators =
            Set::try_from(keys.iter().map(|k| k.public_key()).collect::<Vec<_>>()).unwrap();
        let genesis = sim_genesis();
        Self {
            keys,
            validators,
            genesis,
            limits: Limits::default(),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn pk(&self, i: usize) -> VerifyingKey {
        self.keys[i].public_key()
    }

    /// Validator `i`'s store file: unique per validator, stable across restarts.
    fn store_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("validator-{i}.redb"))
    }

    fn consensus_config() -> weft_consensus::Config {
        weft_consensus::Config {
            leader_timeout_ms: 500,
            certification_timeout_ms: 1_000,
            timeout_retry_ms: 500,
            block_interval_ms: 50,
            ..Default::default()
        }
    }

    /// Starts the simulated network with every validator as a tracked peer (no links yet).
    async fn start_network(&self, context: &Context) -> Oracle {
        let (network, oracle) = Network::new_with_peers(
            context.child("network"),
            simulated::Config {
                max_size: weft_consensus::max_message_size(N, &self.limits),
                max_peers_per_set: NZUsize!(N),
                disconnect_on_block: true,
                tracked_peer_sets: NZUsize!(1),
            },
            self.validators.iter().cloned(),
        )
        .await;
        network.start();
        oracle
    }

    /// The link from validator `i` to validator `j`: 10-50 ms, a little jitter, lossless.
    fn link(i: usize, j: usize) -> Link {
        Link {
            latency: Duration::from_millis(10 + ((i * 7 + j * 13) % 5) as u64 * 10),
            jitter: Duration::from_millis(2),
            success_rate: probability!(1.0),
        }
    }

    async fn connect(&self, oracle: &Oracle, i: usize, j: usize) {
        for (a, b) in [(i, j), (j, i)] {
            oracle
                .add_link(self.pk(a), self.pk(b), Self::link(a, b))
                .await
                .expect("add link");
        }
    }

    async fn disconnect(&self, oracle: &Oracle, i: usize, j: usize) {
        for (a, b) in [(i, j), (j, i)] {
            oracle
                .remove_link(self.pk(a), self.pk(b))
                .await
                .expect("remove link");
        }
    }

    async fn connect_all(&self, oracle: &Oracle) {
        for i in 0..N {
            for j in i + 1..N {
                self.connect(oracle, i, j).await;
            }
        }
    }

    /// Starts honest validator `i` (real consensus, its store opened at its path).
    async fn start_validator(&self, context: &Context, oracle: &Oracle, i: usize) -> Arc<Shared> {
        let control = oracle.control(self.pk(i));
        let mut pairs = Vec::with_capacity(CHANNELS.len());
        for channel in CHANNELS {
            pairs.push(control.register(channel, QUOTA).await.expect("register"));
        }
        self.start_with_channels(context, oracle, i, pairs).await
    }

    /// Starts validator `i` running honest consensus whose outgoing messages on the block
    /// broadcast and/or backfill channels are rewritten by a [`Forging`] sender.
    async fn start_body_forger(
        &self,
        context: &Context,
        oracle: &Oracle,
        i: usize,
        forge_broadcast: bool,
        forge_backfill: bool,
    ) -> (Arc<Shared>, Arc<AtomicUsize>) {
        let forged = Arc::new(AtomicUsize::new(0));
        let control = oracle.control(self.pk(i));
        let mut pairs = Vec::with_capacity(CHANNELS.len());
        for channel in CHANNELS {
            let (sender, receiver) = control.register(channel, QUOTA).await.expect("register");
            let active = (channel == CHANNEL_BLOCKS && forge_broadcast)
                || (channel == CHANNEL_BACKFILL && forge_backfill);
            let forging = Forging {
                inner: sender,
                forged: active.then(|| forged.clone()),
            };
            pairs.push((forging, receiver));
        }
        (
            self.start_with_channels(context, oracle, i, pairs).await,
            forged,
        )
    }

    async fn start_with_channels<S, R>(
        &self,
        context: &Context,
        oracle: &Oracle,
        i: usize,
        pairs: Vec<(S, R)>,
    ) -> Arc<Shared>
    where
        S: commonware_p2p::Sender<PublicKey = VerifyingKey>,
        R: commonware_p2p::Receiver<PublicKey = VerifyingKey>,
    {
        let control = oracle.control(self.pk(i));
        let store = Store::open(self.store_path(i), self.limits).expect("open store");
        let shared = Arc::new(Shared {
            mempool: Mutex::new(Mempool::new(Default::default(), self.limits)),
            store: Arc::new(store),
            limits: self.limits,
            chain: weft_types::ChainId::of_genesis(&self.genesis),
            consensus: Self::consensus_config(),
            metrics: Default::default(),
            registered: Default::default(),
        });
        let identity = Identity {
            signer: self.keys[i].clone(),
            validators: self.validators.clone(),
            genesis: self.genesis.clone(),
            partition_prefix: format!("validator-{i}"),
        };
        weft_consensus::start(
            context.child("validator").with_attribute("index", i),
            shared.clone(),
            identity,
            Channels::from_pairs(pairs),
            oracle.manager(),
            control,
        )
        .await;
        shared
    }

    /// Starts validator `i` as a Byzantine voter: it signs a conflicting notarize and finalize
    /// (for a random payload) next to every vote it sees. It never proposes a block.
    async fn start_conflicter(&self, context: &Context, oracle: &Oracle, i: usize) {
        let control = oracle.control(self.pk(i));
        // Only votes: messages on the other channels are dropped at its end.
        let votes = control
            .register(CHANNEL_VOTES, QUOTA)
            .await
            .expect("register");
        let scheme = simplex_ed25519::Scheme::signer(
            &weft_consensus::consensus_namespace(&weft_types::ChainId::of_genesis(&self.genesis)),
            self.validators.clone(),
            self.keys[i].clone(),
        )
        .expect("validator");
        conflicter::Conflicter::<_, _, Sha256>::new(
            context.child("byzantine").with_attribute("index", i),
            conflicter::Config { scheme },
        )
        .start(votes);
    }

    /// Starts honest validators `honest` and connects all `N` validators.
    async fn start_honest(
        &self,
        context: &Context,
        oracle: &Oracle,
        honest: impl IntoIterator<Item = usize>,
    ) -> BTreeMap<usize, Arc<Shared>> {
        let mut nodes = BTreeMap::new();
        for i in honest {
            nodes.insert(i, self.start_validator(context, oracle, i).await);
        }
        nodes
    }
}

// ---------------------------------------------------------------------------------------------
// A body-forging peer
// ---------------------------------------------------------------------------------------------

/// A p2p sender that forges block bodies in what it sends: every transaction payload the
/// [`Clients`] wrote (`sender ...`) is altered in place, so each block on the wire keeps its
/// real header (and digest) but carries a body of the forger's choosing. With `forged` unset
/// it passes messages through untouched.
#[derive(Clone)]
struct Forging<S> {
    inner: S,
    forged: Option<Arc<AtomicUsize>>,
}

struct ForgingChecked<C> {
    inner: C,
    forged: Option<Arc<AtomicUsize>>,
}

/// Rewrites every client payload in `bytes`; returns whether anything changed.
fn forge(bytes: &mut [u8]) -> bool {
    let mut changed = false;
    let mut i = 0;
    while i + PAYLOAD_TAG.len() <= bytes.len() {
        if &bytes[i..i + PAYLOAD_TAG.len()] == PAYLOAD_TAG {
            bytes[i] = b'S';
            changed = true;
            i += PAYLOAD_TAG.len();
        } else {
            i += 1;
        }
    }
    changed
}

impl<S: commonware_p2p::LimitedSender> commonware_p2p::LimitedSender for Forging<S> {
    type PublicKey = S::PublicKey;
    type Checked<'a>
        = ForgingChecked<S::Checked<'a>>
    where
        Self: 'a;

    fn check(
        &mut self,
        recipients: commonware_p2p::Recipients<Self::PublicKey>,
    ) -> Result<Self::Checked<'_>, std::time::SystemTime> {
        let forged = self.forged.clone();
        self.inner
            .check(recipients)
            .map(|inner| ForgingChecked { inner, forged })
    }
}

impl<C: commonware_p2p::CheckedSender> commonware_p2p::CheckedSender for ForgingChecked<C> {
    type PublicKey = C::PublicKey;

    fn recipients(&self) -> Vec<Self::PublicKey> {
        self.inner.recipients()
    }

    fn send(
        self,
        message: impl Into<commonware_runtime::IoBufs> + Send,
        priority: bool,
    ) -> commonware_actor::Unreliable<commonware_actor::Feedback> {
        let Some(forged) = self.forged else {
            return self.inner.send(message, priority);
        };
        let mut bytes = message.into().coalesce().as_ref().to_vec();
        if forge(&mut bytes) {
            forged.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.send(bytes, priority)
    }
}

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

/// Transaction senders. Each sender submits all of its transactions to one validator, so
/// every mempool receives a sender's nonces in order (simulated links are FIFO).
struct Clients {
    chain: weft_types::ChainId,
    keys: Vec<SigningKey>,
    nonces: Vec<u64>,
}

impl Clients {
    /// `count` senders, keyed from `first_seed` on (distinct from validator keys).
    fn new(first_seed: u64, count: usize) -> Self {
        Self {
            chain: weft_types::ChainId::of_genesis(&sim_genesis()),
            keys: (0..count as u64)
                .map(|s| SigningKey::from_seed(first_seed + s))
                .collect(),
            nonces: vec![0; count],
        }
    }

    /// Signs sender `s`'s next transaction.
    fn next_tx(&mut self, s: usize) -> Transaction {
        let nonce = self.nonces[s];
        self.nonces[s] += 1;
        Transaction::sign(
            &self.keys[s],
            &self.chain,
            NamespaceId(1 + (s % 3) as u64),
            nonce,
            Bytes::from(format!("sender {s} nonce {nonce}")),
        )
    }
}

/// Submits a transaction to a validator as its RPC would: a local admission (gossiped).
fn submit(node: &Shared, tx: Transaction) -> TxHash {
    let hash = tx.hash();
    let chain = ChainState(&node.store);
    node.mempool
        .lock()
        .expect("mempool lock")
        .admit(tx, &chain, true)
        .expect("admission of a fresh, well-formed transaction");
    hash
}

/// Submits `rounds` rounds of one transaction per sender, each sender to validator
/// `targets[s % targets.len()]`, `gap` apart in virtual time. Returns the hashes.
async fn submit_rounds(
    context: &Context,
    nodes: &BTreeMap<usize, Arc<Shared>>,
    targets: &[usize],
    clients: &mut Clients,
    rounds: usize,
    gap: Duration,
) -> Vec<TxHash> {
    let mut hashes = Vec::new();
    for _ in 0..rounds {
        for s in 0..clients.keys.len() {
            let target = targets[s % targets.len()];
            hashes.push(submit(&nodes[&target], clients.next_tx(s)));
        }
        context.sleep(gap).await;
    }
    hashes
}

// ---------------------------------------------------------------------------------------------
// Observations and checks (all through the validators' stores)
// ---------------------------------------------------------------------------------------------

fn head(node: &Shared) -> u64 {
    node.store
        .head_height()
        .expect("genesis is always finalized")
}

/// Digests of `node`'s finalized chain, by height, from genesis to its head.
fn finalized_chain(node: &Shared) -> BTreeMap<u64, Digest> {
    let Some(head) = node.store.head_height() else {
        return BTreeMap::new();
    };
    (0..=head)
        .map(|h| {
            let digest = node
                .store
                .digest_at(h)
                .expect("store read")
                .unwrap_or_else(|| panic!("finalized chain has a gap at height {h}"));
            (h, digest)
        })
        .collect()
}

/// Whether every transaction is finalized at `node`.
fn all_finalized(node: &Shared, hashes: &[TxHash]) -> bool {
    node.store
        .finalized_among(hashes)
        .expect("store read")
        .into_iter()
        .all(|f| f)
}

/// Waits (in virtual time, at most `limit`) until every node in `nodes` satisfies `done`.
async fn wait_until(
    context: &Context,
    nodes: &BTreeMap<usize, Arc<Shared>>,
    limit: Duration,
    what: &str,
    done: impl Fn(&Shared) -> bool,
) {
    let deadline = context.current() + limit;
    loop {
        if nodes.values().all(|n| done(n)) {
            return;
        }
        if context.current() >= deadline {
            let heads: Vec<_> = nodes.iter().map(|(i, n)| (*i, head(n))).collect();
            panic!("timed out after {limit:?} of virtual time waiting for {what}; heads {heads:?}");
        }
        context.sleep(POLL).await;
    }
}

/// Asserts that `nodes` hold identical blocks at every height up to the lowest head, that
/// every stored block links to its parent, and that each validator's chain is well formed.
/// Returns the lowest head.
fn assert_agreement(nodes: &BTreeMap<usize, Arc<Shared>>, genesis: &Block) -> u64 {
    let chains: BTreeMap<usize, BTreeMap<u64, Digest>> = nodes
        .iter()
        .map(|(i, n)| (*i, finalized_chain(n)))
        .collect();
    let min_head = nodes.values().map(|n| head(n)).min().expect("nodes");
    for h in 0..=min_head {
        let digests: BTreeMap<usize, Digest> =
            chains.iter().map(|(i, chain)| (*i, chain[&h])).collect();
        let first = *digests.values().next().unwrap();
        assert!(
            digests.values().all(|d| *d == first),
            "fork at height {h}: {digests:?}"
        );
    }
    // Bodies, not only digests: the bytes each validator stores at a height are identical.
    for h in 1..=min_head {
        let bodies: BTreeMap<usize, Vec<u8>> = nodes
            .iter()
            .map(|(i, n)| {
                let block = n.store.block(h).expect("store read").expect("block");
                (*i, block.encode().to_vec())
            })
            .collect();
        let first = bodies.values().next().unwrap();
        assert!(
            bodies.values().all(|b| b == first),
            "validators store different bodies for block {h}"
        );
    }
    for (i, node) in nodes {
        let chain = &chains[i];
        assert_eq!(
            chain[&0],
            genesis.digest().0,
            "validator {i} has another genesis"
        );
        for h in 1..=head(node) {
            let block = node.store.block(h).expect("store read").expect("block");
            assert_eq!(block.height(), h, "validator {i}: height of block {h}");
            assert_eq!(block.digest().0, chain[&h], "validator {i}: digest at {h}");
            assert_eq!(
                block.header.parent.0,
                chain[&(h - 1)],
                "validator {i}: block {h} does not extend block {}",
                h - 1
            );
            block
                .check_commitments()
                .unwrap_or_else(|e| panic!("validator {i}: block {h}: {e}"));
        }
    }
    min_head
}

/// Asserts every transaction sits at the same (height, index) on every node.
fn assert_same_locations(nodes: &BTreeMap<usize, Arc<Shared>>, hashes: &[TxHash]) {
    for hash in hashes {
        let locations: BTreeMap<usize, Option<TxLocation>> = nodes
            .iter()
            .map(|(i, n)| (*i, n.store.tx_location(hash).expect("store read")))
            .collect();
        let first = *locations.values().next().unwrap();
        assert!(first.is_some(), "transaction {hash} is not finalized");
        assert!(
            locations.values().all(|l| *l == first),
            "transaction {hash} finalized at different places: {locations:?}"
        );
    }
}

/// Prints where a run ended (shown with `--nocapture` or on failure).
fn summary(context: &Context, what: &str, nodes: &BTreeMap<usize, Arc<Shared>>) {
    let elapsed = context
        .current()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let heads: Vec<_> = nodes.iter().map(|(i, n)| (*i, head(n))).collect();
    let txs: Vec<_> = nodes
        .iter()
        .map(|(i, n)| (*i, n.metrics.finalized_txs.get()))
        .collect();
    eprintln!("{what}: virtual time {elapsed:?}, heads {heads:?}, finalized txs {txs:?}");
}

/// Every stored certificate verifies under this network's chain id and under no other: votes
/// are signed in a domain that names the chain.
fn assert_certificates_are_bound_to_the_chain(node: &Shared, net: &Testnet) {
    let chain = weft_types::ChainId::of_genesis(&net.genesis);
    let other = weft_types::ChainId(weft_types::sha256(&[b"another network"]));
    let validators: Vec<VerifyingKey> = (0..N).map(|i| net.pk(i)).collect();
    let mut checked = 0;
    for h in 1..=head(node) {
        let cert = node
            .store
            .certificate(h)
            .expect("store read")
            .unwrap_or_default();
        if cert.is_empty() {
            continue;
        }
        let finality = weft_consensus::verify_finalization(&cert, &validators, &chain)
            .unwrap_or_else(|e| panic!("certificate {h}: {e}"));
        assert_eq!(finality.block.0, node.store.digest_at(h).unwrap().unwrap());
        assert_eq!(
            weft_consensus::verify_finalization(&cert, &validators, &other),
            Err(weft_consensus::CertificateError::BadSignatures),
            "a certificate verified under another chain id"
        );
        checked += 1;
    }
    assert!(checked > 0, "no certificate to check");
}

/// Asserts that no validator blocked a peer (honest runs only).
async fn assert_nobody_blocked(oracle: &Oracle) {
    let blocked = oracle.blocked().await.expect("oracle");
    assert!(
        blocked.is_empty(),
        "honest validators blocked peers: {blocked:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// Outcome of [`run_all_online`], for comparing runs.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    auditor: String,
    heads: Vec<(u64, Digest)>,
}

/// Four honest validators, 50 transactions from five senders spread over all validators:
/// every validator finalizes every transaction, at the same place, on the same chain.
fn run_all_online(seed: u64) -> Outcome {
    let net = &Testnet::new();
    deterministic::Runner::new(runtime_config(seed)).start(|context| async move {
        let oracle = net.start_network(&context).await;
        net.connect_all(&oracle).await;
        let nodes = net.start_honest(&context, &oracle, 0..N).await;

        let mut clients = Clients::new(1_000, 5);
        let targets: Vec<usize> = (0..N).collect();
        let hashes = submit_rounds(
            &context,
            &nodes,
            &targets,
            &mut clients,
            10,
            Duration::from_millis(100),
        )
        .await;
        assert_eq!(hashes.len(), 50);

        wait_until(
            &context,
            &nodes,
            Duration::from_secs(30),
            "all transactions finalized everywhere",
            |n| all_finalized(n, &hashes),
        )
        .await;
        summary(&context, "all_online", &nodes);
        let min_head = assert_agreement(&nodes, &net.genesis);
        assert!(min_head >= 1);
        assert_same_locations(&nodes, &hashes);
        assert_nobody_blocked(&oracle).await;
        assert_certificates_are_bound_to_the_chain(&nodes[&0], net);

        Outcome {
            auditor: context.auditor().state(),
            heads: nodes
                .values()
                .map(|n| {
                    let h = head(n);
                    (h, n.store.digest_at(h).unwrap().unwrap())
                })
                .collect(),
        }
    })
}

#[test]
fn all_online_finalize_submitted_transactions() {
    with_seed(
        "all_online_finalize_submitted_transactions",
        seed_or(1),
        run_all_online,
    );
}

/// Validator 3 loses every link. The other three (a quorum) keep finalizing; once the links
/// return, validator 3 backfills the blocks it missed and ends on the same chain.
#[test]
fn partitioned_validator_catches_up_after_heal() {
    with_seed(
        "partitioned_validator_catches_up_after_heal",
        seed_or(2),
        |seed| {
            let net = &Testnet::new();
            deterministic::Runner::new(runtime_config(seed)).start(|context| async move {
                let isolated = 3;
                let oracle = net.start_network(&context).await;
                net.connect_all(&oracle).await;
                let nodes = net.start_honest(&context, &oracle, 0..N).await;
                let mut clients = Clients::new(2_000, 3);

                // Everyone makes progress together first.
                let before = submit_rounds(
                    &context,
                    &nodes,
                    &[0, 1, 2, 3],
                    &mut clients,
                    3,
                    Duration::from_millis(100),
                )
                .await;
                wait_until(
                    &context,
                    &nodes,
                    Duration::from_secs(30),
                    "pre-partition transactions finalized",
                    |n| all_finalized(n, &before),
                )
                .await;

                // Cut validator 3 off.
                for j in (0..N).filter(|j| *j != isolated) {
                    net.disconnect(&oracle, isolated, j).await;
                }
                let cut_head = head(&nodes[&isolated]);
                let majority: BTreeMap<usize, Arc<Shared>> = nodes
                    .iter()
                    .filter(|(i, _)| **i != isolated)
                    .map(|(i, n)| (*i, n.clone()))
                    .collect();
                let during = submit_rounds(
                    &context,
                    &nodes,
                    &[0, 1, 2],
                    &mut clients,
                    10,
                    Duration::from_millis(100),
                )
                .await;
                wait_until(
                    &context,
                    &majority,
                    Duration::from_secs(60),
                    "the connected majority to finalize while validator 3 is cut off",
                    |n| all_finalized(n, &during) && head(n) >= cut_head + 20,
                )
                .await;
                assert_agreement(&majority, &net.genesis);
                // Nothing submitted after the cut can have reached the isolated validator.
                let isolated_node = &nodes[&isolated];
                assert!(
                    isolated_node
                        .store
                        .finalized_among(&during)
                        .unwrap()
                        .iter()
                        .all(|f| !f),
                    "the isolated validator finalized transactions it could not have seen"
                );
                let majority_head = majority.values().map(|n| head(n)).min().unwrap();
                assert!(head(isolated_node) < majority_head);

                // Heal, then keep submitting, now also through validator 3.
                for j in (0..N).filter(|j| *j != isolated) {
                    net.connect(&oracle, isolated, j).await;
                }
                let after = submit_rounds(
                    &context,
                    &nodes,
                    &[3, 0, 1],
                    &mut clients,
                    3,
                    Duration::from_millis(100),
                )
                .await;
                let all: Vec<TxHash> = [before, during, after].concat();
                wait_until(
                    &context,
                    &nodes,
                    Duration::from_secs(60),
                    "validator 3 to catch up and every transaction finalized everywhere",
                    |n| all_finalized(n, &all) && head(n) >= majority_head,
                )
                .await;
                assert!(assert_agreement(&nodes, &net.genesis) >= majority_head);
                assert_same_locations(&nodes, &all);
                summary(&context, "partition", &nodes);
                assert_nobody_blocked(&oracle).await;
            });
        },
    );
}

/// The whole network crashes (no clean shutdown) at a seed-dependent virtual time and
/// restarts from the runtime's checkpoint with the same stores and partitions: every block
/// finalized before the crash is still there, unchanged, and the chain keeps growing.
#[test]
fn unclean_restart_of_whole_network_keeps_finalized_blocks() {
    with_seed(
        "unclean_restart_of_whole_network_keeps_finalized_blocks",
        seed_or(3),
        |seed| {
            let net = Testnet::new();
            // Crash somewhere in 0.5-3 s of virtual time after the first blocks are final.
            let crash_after = Duration::from_millis(500 + seed.wrapping_mul(7_919) % 2_500);

            // First life: run, submit, crash.
            let (before_crash, checkpoint) = deterministic::Runner::new(runtime_config(seed))
                .start_and_recover(|context| {
                    let net = &net;
                    async move {
                        let oracle = net.start_network(&context).await;
                        net.connect_all(&oracle).await;
                        let nodes = net.start_honest(&context, &oracle, 0..N).await;
                        let mut clients = Clients::new(3_000, 4);
                        submit_rounds(
                            &context,
                            &nodes,
                            &[0, 1, 2, 3],
                            &mut clients,
                            5,
                            Duration::from_millis(100),
                        )
                        .await;
                        wait_until(
                            &context,
                            &nodes,
                            Duration::from_secs(30),
                            "first finalized blocks",
                            |n| head(n) >= 5,
                        )
                        .await;
                        // Keep load on while the crash comes.
                        submit_rounds(
                            &context,
                            &nodes,
                            &[0, 1, 2, 3],
                            &mut clients,
                            1,
                            crash_after,
                        )
                        .await;
                        summary(&context, "restart (first life)", &nodes);
                        assert_agreement(&nodes, &net.genesis);
                        // Stores are only read from here on; the runtime drops every task
                        // (and with them the stores) when this future returns.
                        nodes
                            .iter()
                            .map(|(i, n)| (*i, finalized_chain(n)))
                            .collect::<BTreeMap<_, _>>()
                    }
                });
            assert!(before_crash.values().all(|chain| chain.len() > 5));

            // Second life: same stores, same partitions, same links.
            deterministic::Runner::from(checkpoint).start(|context| {
                let net = &net;
                let before_crash = &before_crash;
                async move {
                    let oracle = net.start_network(&context).await;
                    net.connect_all(&oracle).await;
                    let nodes = net.start_honest(&context, &oracle, 0..N).await;
                    for (i, chain) in before_crash {
                        let now = finalized_chain(&nodes[i]);
                        for (h, digest) in chain {
                            assert_eq!(
                                now.get(h),
                                Some(digest),
                                "validator {i} lost or changed finalized block {h} on restart"
                            );
                        }
                    }

                    // Fresh senders: pending transactions of the first life were in memory.
                    let mut clients = Clients::new(4_000, 4);
                    let hashes = submit_rounds(
                        &context,
                        &nodes,
                        &[0, 1, 2, 3],
                        &mut clients,
                        5,
                        Duration::from_millis(100),
                    )
                    .await;
                    let old_max = before_crash.values().map(|c| c.len() as u64).max().unwrap();
                    wait_until(
                        &context,
                        &nodes,
                        Duration::from_secs(60),
                        "new transactions finalized after the restart",
                        |n| all_finalized(n, &hashes) && head(n) > old_max,
                    )
                    .await;
                    summary(&context, "restart (second life)", &nodes);
                    assert_agreement(&nodes, &net.genesis);
                    assert_same_locations(&nodes, &hashes);
                    for (i, chain) in before_crash {
                        let now = finalized_chain(&nodes[i]);
                        for (h, digest) in chain {
                            assert_eq!(now.get(h), Some(digest), "validator {i}, height {h}");
                        }
                    }
                    assert_nobody_blocked(&oracle).await;
                }
            });
        },
    );
}

/// Validator 0 is Byzantine: it signs a conflicting notarize and finalize next to every vote
/// it sees and never proposes (its views time out). The three honest validators, exactly a
/// quorum, keep finalizing submitted transactions on one chain and block only validator 0.
#[test]
fn byzantine_leader_causes_no_fork() {
    with_seed("byzantine_leader_causes_no_fork", seed_or(4), |seed| {
        let net = &Testnet::new();
        deterministic::Runner::new(runtime_config(seed)).start(|context| async move {
            let byzantine = 0;
            let oracle = net.start_network(&context).await;
            net.start_conflicter(&context, &oracle, byzantine).await;
            let nodes = net.start_honest(&context, &oracle, 1..N).await;
            net.connect_all(&oracle).await;

            let mut clients = Clients::new(5_000, 3);
            let hashes = submit_rounds(
                &context,
                &nodes,
                &[1, 2, 3],
                &mut clients,
                10,
                Duration::from_millis(100),
            )
            .await;
            wait_until(
                &context,
                &nodes,
                Duration::from_secs(60),
                "honest validators to finalize every transaction",
                |n| all_finalized(n, &hashes) && head(n) >= 10,
            )
            .await;
            summary(&context, "byzantine", &nodes);
            assert_agreement(&nodes, &net.genesis);
            assert_same_locations(&nodes, &hashes);

            let byz = net.pk(byzantine);
            let blocked = oracle.blocked().await.expect("oracle");
            assert!(
                !blocked.is_empty(),
                "nobody blocked the equivocating validator"
            );
            for (by, whom) in blocked {
                assert_ne!(by, byz, "the Byzantine validator's blocks are not tracked");
                assert_eq!(whom, byz, "an honest validator was blocked");
            }
        });
    });
}

/// The same seed gives the same execution: identical runtime event hashes and identical
/// finalized heads.
#[test]
fn same_seed_same_result() {
    with_seed("same_seed_same_result", seed_or(5), |seed| {
        let first = run_all_online(seed);
        let second = run_all_online(seed);
        assert_eq!(first, second, "two runs of one seed diverged");
        // The audit hash does capture the execution: another seed schedules differently.
        let other = run_all_online(seed.wrapping_add(1));
        assert_ne!(first.auditor, other.auditor, "the auditor ignores the seed");
    });
}

/// Asserts that every block `node` stores is byte-for-byte the one `reference` stores.
fn assert_same_bodies(node: &Shared, reference: &Shared, who: &str) {
    for h in 1..=head(node).min(head(reference)) {
        let ours = node.store.block(h).expect("store read").expect("block");
        let theirs = reference
            .store
            .block(h)
            .expect("store read")
            .expect("block");
        assert_eq!(
            ours.encode(),
            theirs.encode(),
            "{who} stores a body for block {h} other than the one that was voted on"
        );
    }
}

/// Asserts that only `byzantine` was ever blocked, and only by honest validators.
async fn assert_only_blocked(oracle: &Oracle, byzantine: &VerifyingKey) {
    for (by, whom) in oracle.blocked().await.expect("oracle") {
        assert_ne!(
            &by, byzantine,
            "the Byzantine validator's blocks are not tracked"
        );
        assert_eq!(&whom, byzantine, "an honest validator was blocked");
    }
}

/// Validator 3 runs honest consensus but forges the body of every block it broadcasts (its
/// own proposals): the real header with altered transactions. The honest validators never
/// accept such a block, keep finalizing, and every store holds only voted-on bodies.
#[test]
fn body_forging_leader_plants_no_forged_body() {
    with_seed(
        "body_forging_leader_plants_no_forged_body",
        seed_or(6),
        |seed| {
            let net = &Testnet::new();
            deterministic::Runner::new(runtime_config(seed)).start(|context| async move {
                let forger = 3;
                let oracle = net.start_network(&context).await;
                net.connect_all(&oracle).await;
                let mut nodes = net.start_honest(&context, &oracle, 0..forger).await;
                let (forger_node, forged) = net
                    .start_body_forger(&context, &oracle, forger, true, false)
                    .await;
                let mut clients = Clients::new(6_000, 3);
                let hashes = submit_rounds(
                    &context,
                    &nodes,
                    &[0, 1, 2],
                    &mut clients,
                    20,
                    Duration::from_millis(100),
                )
                .await;
                wait_until(
                    &context,
                    &nodes,
                    Duration::from_secs(60),
                    "honest validators to finalize every transaction",
                    |n| all_finalized(n, &hashes) && head(n) >= 12,
                )
                .await;
                assert!(
                    forged.load(Ordering::Relaxed) > 0,
                    "the forger never sent a forged block: the test proves nothing"
                );
                for (i, node) in &nodes {
                    assert_same_bodies(node, &nodes[&0], &format!("validator {i}"));
                }
                nodes.insert(forger, forger_node);
                summary(&context, "forging leader", &nodes);
                assert_agreement(&nodes, &net.genesis);
                assert_only_blocked(&oracle, &net.pk(forger)).await;
            });
        },
    );
}

/// Validator 3 votes and proposes honestly but forges the bodies of the blocks it serves to
/// backfill requests. Validator 2 is cut off from 0 and 1 (it can reach only the forger)
/// while the others finalize, so it must backfill from the forger. It never stores a forged
/// body; once healed it catches up from honest peers and every store agrees, body and all.
#[test]
fn body_forging_peer_cannot_poison_backfill() {
    with_seed(
        "body_forging_peer_cannot_poison_backfill",
        seed_or(7),
        |seed| {
            let net = &Testnet::new();
            deterministic::Runner::new(runtime_config(seed)).start(|context| async move {
                let (lagging, forger) = (2, 3);
                let oracle = net.start_network(&context).await;
                net.connect_all(&oracle).await;
                let mut nodes = net.start_honest(&context, &oracle, 0..forger).await;
                let (forger_node, forged) = net
                    .start_body_forger(&context, &oracle, forger, false, true)
                    .await;
                let mut clients = Clients::new(7_000, 3);
                let before = submit_rounds(
                    &context,
                    &nodes,
                    &[0, 1, 2],
                    &mut clients,
                    3,
                    Duration::from_millis(100),
                )
                .await;
                wait_until(
                    &context,
                    &nodes,
                    Duration::from_secs(30),
                    "first transactions finalized",
                    |n| all_finalized(n, &before),
                )
                .await;

                // Validator 2 keeps only its link to the forger; 0, 1 and 3 finalize on.
                for j in [0, 1] {
                    net.disconnect(&oracle, lagging, j).await;
                }
                let cut_head = head(&nodes[&lagging]);
                let majority: BTreeMap<usize, Arc<Shared>> =
                    [0, 1].iter().map(|i| (*i, nodes[i].clone())).collect();
                let during = submit_rounds(
                    &context,
                    &nodes,
                    &[0, 1],
                    &mut clients,
                    10,
                    Duration::from_millis(100),
                )
                .await;
                wait_until(
                    &context,
                    &majority,
                    Duration::from_secs(60),
                    "0 and 1 to finalize while validator 2 can reach only the forger",
                    |n| all_finalized(n, &during) && head(n) >= cut_head + 10,
                )
                .await;
                // Give the lagging validator time to ask the forger for the blocks it missed.
                context.sleep(Duration::from_secs(5)).await;
                assert!(
                    forged.load(Ordering::Relaxed) > 0,
                    "the forger never answered a backfill request: the test proves nothing"
                );
                assert_same_bodies(&nodes[&lagging], &nodes[&0], "the lagging validator");

                // Heal: it catches up from honest peers.
                for j in [0, 1] {
                    net.connect(&oracle, lagging, j).await;
                }
                let after = submit_rounds(
                    &context,
                    &nodes,
                    &[0, 1, 2],
                    &mut clients,
                    3,
                    Duration::from_millis(100),
                )
                .await;
                let all: Vec<TxHash> = [before, during, after].concat();
                let target = head(&nodes[&0]);
                wait_until(
                    &context,
                    &nodes,
                    Duration::from_secs(60),
                    "validator 2 to catch up and every transaction finalized",
                    |n| all_finalized(n, &all) && head(n) >= target,
                )
                .await;
                nodes.insert(forger, forger_node);
                summary(&context, "forging backfill", &nodes);
                assert_agreement(&nodes, &net.genesis);
                assert_only_blocked(&oracle, &net.pk(forger)).await;
            });
        },
    );
}
