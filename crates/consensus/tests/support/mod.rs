//! The simulation harness shared by the deterministic tests: a network of `n` validators
//! running the real consensus stack over Commonware's simulated p2p network, Byzantine
//! actors, clients, and the checkers run after every scenario.
#![allow(dead_code)] // each test binary uses a different part

use bytes::Bytes;
use commonware_codec::Encode as _;
use commonware_consensus::simplex::{
    mocks::{conflicter, nuller},
    scheme::ed25519 as simplex_ed25519,
};
use commonware_cryptography::{Sha256, Signer as _};
use commonware_p2p::simulated::{self, Link, Network};
use commonware_runtime::{deterministic, Clock as _, Quota, Supervisor as _};
use commonware_utils::{ordered::Set, probability, NZUsize, NZU32};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::{
    collections::BTreeMap,
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex},
    time::Duration,
};
use weft_consensus::{
    ChainState, Channels, Identity, Shared, CHANNELS, CHANNEL_BACKFILL, CHANNEL_BLOCKS,
    CHANNEL_VOTES,
};
use weft_mempool::Mempool;
use weft_storage::{RuntimeBackend, Store, TxLocation};
use weft_types::{
    Block, Digest, Limits, NamespaceId, SigningKey, Transaction, TxHash, VerifyingKey,
};

/// Validators in every simulation.
/// How every client payload starts (the body forger looks for it).
pub const PAYLOAD_TAG: &[u8] = b"sender ";
/// Per-peer, per-channel rate limit: generous, so it never shapes a run.
pub const QUOTA: Quota = Quota::per_second(NZU32!(10_000));
/// Virtual-time bound of one runtime; a hung run panics here instead of spinning forever.
pub const RUNTIME_TIMEOUT: Duration = Duration::from_secs(300);
/// How often waits poll the stores (virtual time).
pub const POLL: Duration = Duration::from_millis(50);

pub type Context = deterministic::Context;
pub type Oracle = simulated::Oracle<VerifyingKey, Context>;

// ---------------------------------------------------------------------------------------------
// Seeds and failure reporting
// ---------------------------------------------------------------------------------------------

/// The seed of a test: `WEFT_SIM_SEED` if set, else the test's default.
pub fn seed_or(default: u64) -> u64 {
    match std::env::var("WEFT_SIM_SEED") {
        Ok(s) => s.parse().expect("WEFT_SIM_SEED must be a u64"),
        Err(_) => default,
    }
}

/// The message of a caught panic.
pub fn panic_reason(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "non-string panic".into())
}

/// Runs `body` and, if it panics, panics again with the test name and seed in the message.
pub fn with_seed<T>(name: &str, seed: u64, body: impl FnOnce(u64) -> T) -> T {
    match std::panic::catch_unwind(AssertUnwindSafe(|| body(seed))) {
        Ok(out) => out,
        Err(payload) => {
            let reason = panic_reason(&*payload);
            panic!("simulation {name} failed with seed={seed}: {reason}");
        }
    }
}

pub fn runtime_config(seed: u64) -> deterministic::Config {
    deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(RUNTIME_TIMEOUT))
}

// ---------------------------------------------------------------------------------------------
// The network under test (fixed for a whole test, across restarts)
// ---------------------------------------------------------------------------------------------

/// The genesis block of every simulated network (so clients know the chain they sign for).
pub fn sim_genesis() -> Block {
    Block::genesis(
        weft_types::sha256(&[b"weft simulation genesis"]),
        SigningKey::from_seed(0).public_key(),
        0,
    )
}

/// Keys, genesis and simulated disks of one simulated network.
pub struct Testnet {
    /// Validators.
    pub n: usize,
    pub keys: Vec<SigningKey>,
    /// Every key of the network (its p2p peers).
    pub validators: Set<VerifyingKey>,
    /// The genesis set (epochs 0 and 1): every key unless a test says otherwise.
    pub genesis_set: Set<VerifyingKey>,
    /// The stake table every validator's boundary blocks announce from (none: no change).
    pub stake_table: Option<Arc<dyn weft_consensus::epochs::SetSource>>,
    pub genesis: Block,
    pub limits: Limits,
    /// Every validator's mempool configuration.
    pub mempool: weft_mempool::Config,
    /// Every validator's disk under its Weft store (the store itself lives in the runtime's
    /// storage, so restarts and checkpoints find it).
    pub disks: Vec<Arc<Disk>>,
    /// Validators whose life ended because a critical part stopped: (index, why).
    pub stopped: Arc<Mutex<Vec<(usize, String)>>>,
    /// Blocks per epoch: short ([`SIM_EPOCH_LENGTH_BLOCKS`]), so every scenario crosses
    /// epoch boundaries.
    pub epoch_length_blocks: std::num::NonZeroU64,
}

/// A stand-in for the L1's stake table, shared by every validator of a simulation: the set
/// boundary blocks announce (`weft_consensus::epochs::SetSource`). Tests change it as stake
/// is bonded and unbonded; an unreadable table (`unreadable`) makes validators announce no
/// change.
#[derive(Default)]
pub struct StakeTable {
    set: Mutex<Vec<VerifyingKey>>,
    pub unreadable: AtomicBool,
}

impl StakeTable {
    pub fn new(set: Vec<VerifyingKey>) -> Self {
        Self {
            set: Mutex::new(set),
            unreadable: AtomicBool::new(false),
        }
    }
    pub fn set(&self, set: Vec<VerifyingKey>) {
        *self.set.lock().unwrap() = set;
    }
}

impl weft_consensus::epochs::SetSource for StakeTable {
    fn next_set(&self) -> Result<Vec<VerifyingKey>, String> {
        if self.unreadable.load(Ordering::Relaxed) {
            return Err("stake table unreadable".into());
        }
        Ok(self.set.lock().unwrap().clone())
    }
}

/// Blocks per epoch in the simulations.
pub const SIM_EPOCH_LENGTH_BLOCKS: u64 = 16;

impl Testnet {
    /// The four-validator network of the fixed scenarios.
    pub fn new() -> Self {
        Self::with_validators(4)
    }

    /// A network of `n` validators.
    pub fn with_validators(n: usize) -> Self {
        let keys: Vec<SigningKey> = (0..n as u64).map(SigningKey::from_seed).collect();
        let validators =
            Set::try_from(keys.iter().map(|k| k.public_key()).collect::<Vec<_>>()).unwrap();
        let genesis = sim_genesis();
        Self {
            n,
            keys,
            genesis_set: validators.clone(),
            stake_table: None,
            validators,
            genesis,
            limits: Limits::default(),
            mempool: Default::default(),
            disks: (0..n).map(|_| Arc::default()).collect(),
            stopped: Default::default(),
            epoch_length_blocks: std::num::NonZeroU64::new(SIM_EPOCH_LENGTH_BLOCKS).unwrap(),
        }
    }

    pub fn pk(&self, i: usize) -> VerifyingKey {
        self.keys[i].public_key()
    }

    /// The runtime storage partition of validator `i`'s Weft store.
    pub fn store_partition(i: usize) -> String {
        format!("validator-{i}-store")
    }

    pub fn consensus_config() -> weft_consensus::Config {
        weft_consensus::Config {
            leader_timeout_ms: 500,
            certification_timeout_ms: 1_000,
            timeout_retry_ms: 500,
            block_interval_ms: 50,
            ..Default::default()
        }
    }

    /// Starts the simulated network with every validator as a tracked peer (no links yet).
    pub async fn start_network(&self, context: &Context) -> Oracle {
        let (network, oracle) = Network::new_with_peers(
            context.child("network"),
            simulated::Config {
                max_size: weft_consensus::max_message_size(self.n, &self.limits),
                max_peers_per_set: std::num::NonZeroUsize::new(self.n).expect("validators"),
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
    pub fn link(i: usize, j: usize) -> Link {
        Link {
            latency: Duration::from_millis(10 + ((i * 7 + j * 13) % 5) as u64 * 10),
            jitter: Duration::from_millis(2),
            success_rate: probability!(1.0),
        }
    }

    pub async fn connect(&self, oracle: &Oracle, i: usize, j: usize) {
        self.connect_with(oracle, i, j, Self::link).await;
    }

    /// Links `i` and `j` both ways, each direction with `link(from, to)`.
    pub async fn connect_with(
        &self,
        oracle: &Oracle,
        i: usize,
        j: usize,
        link: impl Fn(usize, usize) -> Link,
    ) {
        for (a, b) in [(i, j), (j, i)] {
            oracle
                .add_link(self.pk(a), self.pk(b), link(a, b))
                .await
                .expect("add link");
        }
    }

    pub async fn disconnect(&self, oracle: &Oracle, i: usize, j: usize) {
        for (a, b) in [(i, j), (j, i)] {
            oracle
                .remove_link(self.pk(a), self.pk(b))
                .await
                .expect("remove link");
        }
    }

    pub async fn connect_all(&self, oracle: &Oracle) {
        for i in 0..self.n {
            for j in i + 1..self.n {
                self.connect(oracle, i, j).await;
            }
        }
    }

    /// Starts honest validator `i` (real consensus, its store opened at its path).
    pub async fn start_validator(
        &self,
        context: &Context,
        oracle: &Oracle,
        i: usize,
    ) -> Arc<Shared> {
        let control = oracle.control(self.pk(i));
        let mut pairs = Vec::with_capacity(CHANNELS.len());
        for channel in CHANNELS {
            pairs.push(control.register(channel, QUOTA).await.expect("register"));
        }
        self.start_with_channels(context, oracle, i, pairs).await
    }

    /// Starts validator `i` running honest consensus whose outgoing messages on the block
    /// broadcast and/or backfill channels are rewritten by a [`Forging`] sender.
    pub async fn start_body_forger(
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

    pub async fn start_with_channels<S, R>(
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
        let (shared, identity) = self.node_state(context, i).await;
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

    /// Waits (virtual time, at most `within`) until validator `i`'s life has stopped by
    /// itself ([`Testnet::stopped`]); panics if it is still running after that.
    pub async fn wait_stopped(&self, context: &Context, i: usize, within: Duration) {
        let deadline = context.current() + within;
        while !self.stopped.lock().unwrap().iter().any(|(j, _)| *j == i) {
            assert!(
                context.current() < deadline,
                "validator {i} kept running on a failed disk"
            );
            context.sleep(POLL).await;
        }
    }

    /// Validator `i`'s vote channel and signing scheme, for a Byzantine voter (Commonware's
    /// vote-only mocks): messages on the other channels are dropped at its end.
    async fn voter(
        &self,
        context: &Context,
        oracle: &Oracle,
        i: usize,
    ) -> (
        (
            impl commonware_p2p::Sender<PublicKey = VerifyingKey>,
            impl commonware_p2p::Receiver<PublicKey = VerifyingKey>,
        ),
        simplex_ed25519::Scheme,
    ) {
        use commonware_p2p::utils::mux::Muxer;
        use commonware_runtime::Supervisor as _;
        let (sender, receiver) = oracle
            .control(self.pk(i))
            .register(CHANNEL_VOTES, QUOTA)
            .await
            .expect("register");
        // Votes travel on a subchannel per epoch (`epochs` rule 3): these voters speak in
        // epoch 0's.
        let (mux, mut handle) = Muxer::new(context.child("byzantine_mux"), sender, receiver);
        mux.start();
        let votes = handle.register(0).await.expect("epoch 0 subchannel");
        let scheme = simplex_ed25519::Scheme::signer(
            &weft_consensus::consensus_namespace(&weft_types::ChainId::of_genesis(&self.genesis)),
            self.validators.clone(),
            self.keys[i].clone(),
        )
        .expect("validator");
        (votes, scheme)
    }

    /// Starts validator `i` as a Byzantine voter: it signs a conflicting notarize and finalize
    /// (for a random payload) next to every vote it sees. It never proposes a block.
    pub async fn start_conflicter(&self, context: &Context, oracle: &Oracle, i: usize) {
        let (votes, scheme) = self.voter(context, oracle, i).await;
        conflicter::Conflicter::<_, _, Sha256>::new(
            context.child("byzantine").with_attribute("index", i),
            conflicter::Config { scheme },
        )
        .start(votes);
    }

    /// Starts validator `i` as a Byzantine voter that answers every notarize it sees with a
    /// nullify for that view (Commonware's nuller); it never proposes or notarizes.
    pub async fn start_nuller(&self, context: &Context, oracle: &Oracle, i: usize) {
        let (votes, scheme) = self.voter(context, oracle, i).await;
        nuller::Nuller::<_, _, Sha256>::new(
            context.child("byzantine").with_attribute("index", i),
            nuller::Config { scheme },
        )
        .start(votes);
    }

    /// Validator `i`'s shared state (its store opened on its partition of the runtime's
    /// storage, behind its [`Disk`]) and identity.
    async fn node_state(&self, context: &Context, i: usize) -> (Arc<Shared>, Identity) {
        self.node_state_named(context, i, &format!("validator-{i}"))
            .await
    }

    /// [`Testnet::node_state`] with its own storage partitions (`{name}-store` and journals
    /// under `name`): a twin is a second validator with the same key and its own disk.
    async fn node_state_named(
        &self,
        context: &Context,
        i: usize,
        name: &str,
    ) -> (Arc<Shared>, Identity) {
        use commonware_runtime::Storage as _;
        // The chain and acknowledgement databases, all behind this validator's disk.
        let mut backends = Vec::new();
        for file in [
            &b"chain.redb"[..],
            &b"chain.acks.redb"[..],
            &b"chain.acks-express.redb"[..],
            &b"chain.acks.journal"[..],
            &b"chain.acks-express.journal"[..],
        ] {
            let (blob, len) = context
                .open(&format!("{name}-store"), file)
                .await
                .unwrap_or_else(|e| {
                    panic!("validator {i}: opening its store failed: {e} (is its last life's store still held?)")
                });
            backends.push(FailingDisk {
                inner: RuntimeBackend::new(blob, len),
                disk: self.disks[i].clone(),
            });
        }
        let express_journal = backends.pop().expect("five backends");
        let bulk_journal = backends.pop().expect("five backends");
        let express = backends.pop().expect("five backends");
        let bulk = backends.pop().expect("five backends");
        let chain = backends.pop().expect("five backends");
        let store = Store::open_with_backend(
            chain,
            [bulk, express],
            [bulk_journal, express_journal],
            self.limits,
        )
        .expect("open store");
        let shared = Arc::new(Shared::new(
            Mempool::new(self.mempool.clone(), self.limits),
            Arc::new(store),
            self.limits,
            weft_types::ChainId::of_genesis(&self.genesis),
            Self::consensus_config(),
        ));
        let identity = Identity {
            signer: self.keys[i].clone(),
            validators: self.genesis_set.clone(),
            genesis: self.genesis.clone(),
            partition_prefix: name.to_string(),
            epoch_length_blocks: self.epoch_length_blocks,
            set_source: self.stake_table.clone(),
        };
        (shared, identity)
    }

    /// Starts validator `i` as Byzantine twins (the Twins attack, arXiv 2004.10617): two full
    /// honest Weft validators with `i`'s key and separate stores, one talking only to the
    /// validators in `primary`, the other only to those in `secondary` (the halves may
    /// overlap: a validator in both hears both twins). Each votes, proposes and finalizes as
    /// an honest node would in its half, so `i` signs for two different blocks whenever its
    /// halves see different ones (as when it leads: each twin builds its own).
    pub async fn start_twins(
        &self,
        context: &Context,
        oracle: &Oracle,
        i: usize,
        primary: &[usize],
        secondary: &[usize],
    ) -> (Arc<Shared>, Arc<Shared>) {
        use commonware_p2p::simulated::{SplitOrigin, SplitTarget};
        use commonware_p2p::Recipients;
        let control = oracle.control(self.pk(i));
        let keys = |set: &[usize]| -> Arc<Vec<VerifyingKey>> {
            Arc::new(set.iter().map(|j| self.pk(*j)).collect())
        };
        let (primary, secondary) = (keys(primary), keys(secondary));
        let everyone: Arc<Vec<VerifyingKey>> = Arc::new(
            self.validators
                .iter()
                .filter(|k| **k != self.pk(i))
                .cloned()
                .collect(),
        );
        let mut halves = (Vec::new(), Vec::new());
        for channel in CHANNELS {
            let (sender, receiver) = control.register(channel, QUOTA).await.expect("register");
            let (p, q, all) = (primary.clone(), secondary.clone(), everyone.clone());
            // Each twin reaches only its half, whatever it asked for.
            let (to_primary, to_secondary) = sender.split_with(move |origin, to, _| {
                let half = if origin == SplitOrigin::Primary {
                    &p
                } else {
                    &q
                };
                let chosen: Vec<VerifyingKey> = match to {
                    Recipients::All => all.iter().filter(|k| half.contains(k)).cloned().collect(),
                    Recipients::One(k) => half.contains(k).then(|| k.clone()).into_iter().collect(),
                    Recipients::Some(ks) => {
                        ks.iter().filter(|k| half.contains(k)).cloned().collect()
                    }
                };
                (!chosen.is_empty()).then_some(Recipients::Some(chosen))
            });
            let (p, q) = (primary.clone(), secondary.clone());
            let (from_primary, from_secondary) = receiver.split_with(
                context.child("twins").with_attribute("channel", channel),
                move |(from, _)| match (p.contains(from), q.contains(from)) {
                    (true, true) => SplitTarget::Both,
                    (true, false) => SplitTarget::Primary,
                    (false, true) => SplitTarget::Secondary,
                    (false, false) => SplitTarget::None,
                },
            );
            halves.0.push((to_primary, from_primary));
            halves.1.push((to_secondary, from_secondary));
        }
        let mut twins = Vec::new();
        for (twin, pairs) in [("a", halves.0), ("b", halves.1)] {
            let name = format!("validator-{i}-twin-{twin}");
            let (shared, identity) = self.node_state_named(context, i, &name).await;
            weft_consensus::start(
                context
                    .child("twin")
                    .with_attribute("index", i)
                    .with_attribute("twin", twin),
                shared.clone(),
                identity,
                Channels::from_pairs(pairs),
                oracle.manager(),
                oracle.control(self.pk(i)),
            )
            .await;
            twins.push(shared);
        }
        let b = twins.pop().expect("two twins");
        (twins.pop().expect("two twins"), b)
    }

    /// Starts honest validator `i` as one task whose abort crashes it: every task of its
    /// consensus stack descends from that task, so aborting it stops them all without any
    /// clean shutdown. Its store and journals stay where they are for a restart. The task
    /// also ends by itself, as a node process exits, when a critical part of the validator
    /// stops (a finalizer whose disk failed, say): that is recorded in [`Testnet::stopped`].
    pub async fn start_crashable(
        &self,
        context: &Context,
        oracle: &Oracle,
        i: usize,
    ) -> (Arc<Shared>, commonware_runtime::Handle<()>) {
        use commonware_runtime::Spawner as _;
        let control = oracle.control(self.pk(i));
        let mut pairs = Vec::with_capacity(CHANNELS.len());
        for channel in CHANNELS {
            pairs.push(control.register(channel, QUOTA).await.expect("register"));
        }
        let (shared, identity) = self.node_state(context, i).await;
        let manager = oracle.manager();
        let inner = shared.clone();
        let stops = self.stopped.clone();
        let handle =
            context
                .child("life")
                .with_attribute("index", i)
                .spawn(move |ctx| async move {
                    let running = weft_consensus::start(
                        ctx.child("validator"),
                        inner,
                        identity,
                        Channels::from_pairs(pairs),
                        manager,
                        control,
                    )
                    .await;
                    let stopped = running.first_stopped().await;
                    let why = format!("{} stopped: {:?}", stopped.part, stopped.result);
                    stops.lock().expect("stops lock").push((i, why));
                });
        (shared, handle)
    }

    pub async fn start_honest(
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
// A failing disk
// ---------------------------------------------------------------------------------------------

/// One validator's disk under its Weft store. A scenario calls [`Disk::fail`] to make every
/// later write, resize and sync fail, as a dying disk does; a failed write first lands half
/// its bytes (a torn write). [`Disk::replace`] gives the validator a working disk again with
/// what the old one held.
#[derive(Debug, Default)]
pub struct Disk {
    failing: AtomicBool,
    /// Operations refused since the disk failed.
    pub failures: AtomicUsize,
}

impl Disk {
    pub fn fail(&self) {
        self.failing.store(true, Ordering::SeqCst);
    }
    pub fn replace(&self) {
        self.failing.store(false, Ordering::SeqCst);
    }
    fn check(&self, op: &str) -> std::io::Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            self.failures.fetch_add(1, Ordering::SeqCst);
            return Err(std::io::Error::other(format!(
                "simulated disk failure ({op})"
            )));
        }
        Ok(())
    }
}

/// A redb backend whose writes go through a [`Disk`] before they reach the runtime blob.
#[derive(Debug)]
pub struct FailingDisk<B> {
    pub inner: B,
    pub disk: Arc<Disk>,
}

impl<B: redb::StorageBackend> redb::StorageBackend for FailingDisk<B> {
    fn len(&self) -> std::io::Result<u64> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.disk.check("resize")?;
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.disk.check("sync")?;
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        if let Err(e) = self.disk.check("write") {
            self.inner.write(offset, &data[..data.len() / 2])?;
            return Err(e);
        }
        self.inner.write(offset, data)
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
pub struct Forging<S> {
    pub inner: S,
    pub forged: Option<Arc<AtomicUsize>>,
}

pub struct ForgingChecked<C> {
    inner: C,
    forged: Option<Arc<AtomicUsize>>,
}

/// Rewrites every client payload in `bytes`; returns whether anything changed.
pub fn forge(bytes: &mut [u8]) -> bool {
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
pub struct Clients {
    pub chain: weft_types::ChainId,
    pub keys: Vec<SigningKey>,
    pub nonces: Vec<u64>,
}

impl Clients {
    /// `count` senders, keyed from `first_seed` on (distinct from validator keys).
    pub fn new(first_seed: u64, count: usize) -> Self {
        Self {
            chain: weft_types::ChainId::of_genesis(&sim_genesis()),
            keys: (0..count as u64)
                .map(|s| SigningKey::from_seed(first_seed + s))
                .collect(),
            nonces: vec![0; count],
        }
    }

    /// Signs sender `s`'s next transaction.
    pub fn next_tx(&mut self, s: usize) -> Transaction {
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

impl Clients {
    /// A two-leg bundle from senders `a` (namespace 1 + a % 3) and `b` (1 + b % 3), at each
    /// one's next nonce, valid until `valid_until`.
    pub fn next_bundle(&mut self, a: usize, b: usize, valid_until: u64) -> Vec<Transaction> {
        let spec = |s: usize, nonce: u64| weft_types::LegSpec {
            namespace: NamespaceId(1 + (s % 3) as u64),
            nonce,
            payload: Bytes::from(format!("bundle leg of sender {s} nonce {nonce}")),
        };
        let (an, bn) = (self.nonces[a], self.nonces[b]);
        self.nonces[a] += 1;
        self.nonces[b] += 1;
        Transaction::sign_bundle(
            &self.chain,
            valid_until,
            &[(&self.keys[a], spec(a, an)), (&self.keys[b], spec(b, bn))],
        )
        .expect("two legs")
    }
}

/// Submits a bundle to a validator as its RPC would. Returns the legs' hashes.
pub fn submit_bundle(node: &Shared, legs: Vec<Transaction>) -> Vec<TxHash> {
    weft_mempool::check_bundle_shape(&legs).expect("a well-formed bundle");
    let chain = ChainState(&node.store);
    node.mempool
        .lock()
        .admit_bundle(&legs, &chain, true)
        .expect("admission of a fresh bundle");
    legs.iter().map(|t| t.hash()).collect()
}

/// Submits a transaction to a validator as its RPC would: a local admission (gossiped).
pub fn submit(node: &Shared, tx: Transaction) -> TxHash {
    let hash = tx.hash();
    let chain = ChainState(&node.store);
    node.mempool
        .lock()
        .admit(tx, &chain, true)
        .expect("admission of a fresh, well-formed transaction");
    hash
}

/// Submits `rounds` rounds of one transaction per sender, each sender to validator
/// `targets[s % targets.len()]`, `gap` apart in virtual time. Returns the hashes.
pub async fn submit_rounds(
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

pub fn head(node: &Shared) -> u64 {
    node.store
        .head_height()
        .expect("genesis is always finalized")
}

/// Digests of `node`'s finalized chain, by height, from genesis to its head.
pub fn finalized_chain(node: &Shared) -> BTreeMap<u64, Digest> {
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
pub fn all_finalized(node: &Shared, hashes: &[TxHash]) -> bool {
    node.store
        .finalized_among(hashes)
        .expect("store read")
        .into_iter()
        .all(|f| f)
}

/// Waits (in virtual time, at most `limit`) until every node in `nodes` satisfies `done`.
pub async fn wait_until(
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
pub fn assert_agreement(nodes: &BTreeMap<usize, Arc<Shared>>, genesis: &Block) -> u64 {
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
            // Each epoch's blocks are built in it (epochs rule 1).
            assert_eq!(
                block.header.epoch,
                h / SIM_EPOCH_LENGTH_BLOCKS,
                "validator {i}: block {h} was built in the wrong epoch"
            );
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
pub fn assert_same_locations(nodes: &BTreeMap<usize, Arc<Shared>>, hashes: &[TxHash]) {
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
pub fn summary(context: &Context, what: &str, nodes: &BTreeMap<usize, Arc<Shared>>) {
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
pub fn assert_certificates_are_bound_to_the_chain(node: &Shared, net: &Testnet) {
    let chain = weft_types::ChainId::of_genesis(&net.genesis);
    let other = weft_types::ChainId(weft_types::sha256(&[b"another network"]));
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
        // Against the set of the block's epoch (`epochs` rule 5).
        let validators = epoch_set(node, net, h / SIM_EPOCH_LENGTH_BLOCKS);
        let finality = weft_consensus::verify_finalization(&cert, &validators, &chain)
            .unwrap_or_else(|e| panic!("certificate {h}: {e}"));
        assert_eq!(finality.block.0, node.store.digest_at(h).unwrap().unwrap());
        // Finalized by the engine of the block's own epoch (a boundary block too: the views
        // that follow it in its epoch re-propose it until it is finalized).
        assert_eq!(
            finality.epoch,
            h / SIM_EPOCH_LENGTH_BLOCKS,
            "certificate {h} is of another epoch"
        );
        assert_eq!(
            weft_consensus::verify_finalization(&cert, &validators, &other),
            Err(weft_consensus::CertificateError::BadSignatures),
            "a certificate verified under another chain id"
        );
        checked += 1;
    }
    assert!(checked > 0, "no certificate to check");
}

/// The validator set of `epoch` as `node`'s chain announced it (`epochs` rule 5).
pub fn epoch_set(node: &Shared, net: &Testnet, epoch: u64) -> Vec<VerifyingKey> {
    if epoch < 2 {
        return net.genesis_set.iter().cloned().collect();
    }
    let boundary = (epoch - 1) * SIM_EPOCH_LENGTH_BLOCKS - 1;
    let block = node
        .store
        .block(boundary)
        .expect("store read")
        .unwrap_or_else(|| panic!("boundary {boundary} missing"));
    assert!(
        !block.body.validators.is_empty(),
        "boundary {boundary} announces no set"
    );
    block.body.validators
}

/// Asserts that no validator blocked a peer (honest runs only).
pub async fn assert_nobody_blocked(oracle: &Oracle) {
    let blocked = oracle.blocked().await.expect("oracle");
    assert!(
        blocked.is_empty(),
        "honest validators blocked peers: {blocked:?}"
    );
}

/// Asserts that every block `node` stores is byte-for-byte the one `reference` stores.
pub fn assert_same_bodies(node: &Shared, reference: &Shared, who: &str) {
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
pub async fn assert_only_blocked(oracle: &Oracle, byzantine: &VerifyingKey) {
    for (by, whom) in oracle.blocked().await.expect("oracle") {
        assert_ne!(
            &by, byzantine,
            "the Byzantine validator's blocks are not tracked"
        );
        assert_eq!(&whom, byzantine, "an honest validator was blocked");
    }
}
