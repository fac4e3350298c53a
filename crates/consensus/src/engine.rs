//! Assembles one validator's consensus stack: marshal, simplex, finalizer and gossip.

use crate::{epochs, finalizer, gossip, App, ConsensusBlock, Shared};
use commonware_broadcast::buffered;
use commonware_consensus::{
    marshal::{
        self, core::Actor as MarshalActor, resolver::p2p as marshal_resolver, standard::Inline,
        Start,
    },
    simplex::{
        self, elector::RoundRobin, scheme::ed25519, Floor, ForwardPolicy, SkipBudget, SkipPolicy,
    },
    types::{FixedEpocher, ViewDelta},
};
use commonware_cryptography::{certificate::Verifier as _, Digested, Sha256};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{buffer::paged::CacheRef, Clock, Handle, Metrics, Spawner, Storage};
use commonware_storage::archive::immutable;
use commonware_utils::{ordered::Set, NZDuration, NZUsize, NZU16, NZU64};
use rand_core::CryptoRng;
use std::{num::NonZeroUsize, sync::Arc, time::Duration};
use weft_types::{Block, SigningKey, VerifyingKey};

/// p2p channel of simplex votes.
pub const CHANNEL_VOTES: u64 = 0;
/// p2p channel of simplex certificates.
pub const CHANNEL_CERTIFICATES: u64 = 1;
/// p2p channel of simplex's certificate resolver.
pub const CHANNEL_RESOLVER: u64 = 2;
/// p2p channel of marshal's block backfill.
pub const CHANNEL_BACKFILL: u64 = 3;
/// p2p channel of block broadcast.
pub const CHANNEL_BLOCKS: u64 = 4;
/// p2p channel of transaction gossip.
pub const CHANNEL_TXS: u64 = 5;
/// Every channel, in registration order.
pub const CHANNELS: [u64; 6] = [
    CHANNEL_VOTES,
    CHANNEL_CERTIFICATES,
    CHANNEL_RESOLVER,
    CHANNEL_BACKFILL,
    CHANNEL_BLOCKS,
    CHANNEL_TXS,
];

/// One validator's p2p channels, one (sender, receiver) pair per protocol.
pub struct Channels<S, R> {
    /// Simplex votes.
    pub votes: (S, R),
    /// Simplex certificates.
    pub certificates: (S, R),
    /// Simplex certificate resolver.
    pub resolver: (S, R),
    /// Marshal backfill.
    pub backfill: (S, R),
    /// Block broadcast.
    pub blocks: (S, R),
    /// Transaction gossip.
    pub txs: (S, R),
}

impl<S, R> Channels<S, R> {
    /// Builds the channels from pairs listed in [`CHANNELS`] order.
    pub fn from_pairs(mut pairs: Vec<(S, R)>) -> Self {
        assert_eq!(pairs.len(), CHANNELS.len(), "one pair per channel");
        let txs = pairs.pop().expect("txs");
        let blocks = pairs.pop().expect("blocks");
        let backfill = pairs.pop().expect("backfill");
        let resolver = pairs.pop().expect("resolver");
        let certificates = pairs.pop().expect("certificates");
        let votes = pairs.pop().expect("votes");
        Self {
            votes,
            certificates,
            resolver,
            backfill,
            blocks,
            txs,
        }
    }
}

/// Who this validator is and what chain it runs.
pub struct Identity {
    /// This validator's signing key.
    pub signer: SigningKey,
    /// The genesis validators: the set of epochs 0 and 1 (later epochs' sets are announced
    /// in the chain, `epochs` rule 5).
    pub validators: Set<VerifyingKey>,
    /// The genesis block.
    pub genesis: Block,
    /// Prefix of this validator's storage partitions (`[A-Za-z0-9_-]`).
    pub partition_prefix: String,
    /// Blocks per epoch (genesis; at least 2): each epoch runs a consensus engine of its own
    /// (see [`crate::epochs`]).
    pub epoch_length_blocks: std::num::NonZeroU64,
    /// Where this validator reads the sets its boundary blocks announce (the L1's stake
    /// table); none: every boundary announces no change.
    pub set_source: Option<Arc<dyn epochs::SetSource>>,
}

/// Starts one validator's consensus stack and returns the handle of its consensus engine.
/// Every task is a child of `context`, so aborting the caller's task stops all of them.
pub async fn start<E, S, R, P, B>(
    context: E,
    shared: Arc<Shared>,
    identity: Identity,
    channels: Channels<S, R>,
    peers: P,
    blocker: B,
) -> Running
where
    E: Spawner + Clock + Metrics + Storage + CryptoRng + Send + Sync + 'static,
    S: Sender<PublicKey = VerifyingKey>,
    R: Receiver<PublicKey = VerifyingKey>,
    P: Provider<PublicKey = VerifyingKey> + Clone,
    B: Blocker<PublicKey = VerifyingKey> + Clone,
{
    let me = commonware_cryptography::Signer::public_key(&identity.signer);
    let chain = weft_types::ChainId::of_genesis(&identity.genesis);
    assert!(
        identity.epoch_length_blocks.get() > 1,
        "an epoch holds at least two blocks"
    );
    let epocher = FixedEpocher::new(identity.epoch_length_blocks);
    let schedule = Arc::new(epochs::Schedule::new(
        epocher.clone(),
        identity.validators.clone(),
        shared.store.clone(),
        identity.set_source.clone(),
        &shared.limits,
    ));
    // Block rule 10 reads it; a validator's state is built for one chain, so it is set once.
    let _ = shared.schedule.set(schedule.clone());
    let provider = epochs::Schemes {
        schedule: schedule.clone(),
        namespace: crate::consensus_namespace(&chain),
        signer: identity.signer.clone(),
    };
    let page_cache = CacheRef::new(NZU16!(4096), NZUsize!(4096));
    let prefix = identity.partition_prefix.clone();
    let mailbox_size = NonZeroUsize::new(shared.consensus.mailbox_size).expect("validated");
    let handles = shared.metrics.register(&context.child("weft"));
    shared
        .registered
        .lock()
        .expect("metrics lock")
        .extend(handles);

    // Backfill of missing blocks.
    let resolver = marshal_resolver::init(
        context.child("resolver"),
        marshal_resolver::Config {
            public_key: me.clone(),
            peer_provider: peers.clone(),
            blocker: blocker.clone(),
            mailbox_size,
            fetch_timeout: NZDuration!(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        channels.backfill,
    );

    // Full-block broadcast.
    let (broadcast_engine, buffer) = buffered::Engine::new(
        context.child("broadcast"),
        buffered::Config {
            public_key: me.clone(),
            mailbox_size,
            deque_size: 10,
            priority: false,
            codec_config: shared.limits,
            peer_provider: peers.clone(),
            strategy: Sequential,
        },
    );
    let mut parts = Vec::with_capacity(PARTS);
    parts.push(("broadcast", broadcast_engine.start(channels.blocks)));

    let finalizations = immutable::Archive::init(
        context.child("finalizations_by_height"),
        archive_config(
            &format!("{prefix}-finalizations"),
            &page_cache,
            ed25519::Scheme::certificate_codec_config_unbounded(),
            1024,
        ),
    )
    .await
    .expect("opening the finalizations archive failed");
    let blocks = immutable::Archive::init(
        context.child("finalized_blocks"),
        archive_config(
            &format!("{prefix}-blocks"),
            &page_cache,
            shared.limits,
            64 * 1024 * 1024,
        ),
    )
    .await
    .expect("opening the finalized blocks archive failed");

    let genesis = ConsensusBlock::new(identity.genesis.clone());
    let genesis_digest = identity.genesis.digest().0;
    let (actor, marshal_mailbox, _floor) = MarshalActor::init(
        context.child("marshal"),
        finalizations,
        blocks,
        marshal::Config {
            provider,
            epocher: epocher.clone(),
            start: Start::Genesis(Digested::precomputed(genesis, genesis_digest)),
            partition_prefix: format!("{prefix}-marshal"),
            mailbox_size,
            view_retention: ViewDelta::new(10),
            prunable_items_per_section: NZU64!(64),
            page_cache: page_cache.clone(),
            replay_buffer: NZUsize!(1 << 20),
            key_write_buffer: NZUsize!(1 << 20),
            value_write_buffer: NZUsize!(1 << 20),
            block_codec_config: shared.limits,
            max_repair: NZUsize!(16),
            max_pending_acks: NZUsize!(4),
            strategy: Sequential,
        },
    )
    .await;

    let (finalized, finalized_rx) =
        finalizer::Finalized::new(shared.clone(), context.child("tip_clock"));
    parts.push(("marshal", actor.start(finalized, buffer, resolver)));
    let marshal_for_finalizer = marshal_mailbox.clone();
    let finalizer_shared = shared.clone();
    // Unbounded is safe: one boundary per epoch, sent after its block is persisted.
    let (boundaries, boundaries_rx) = futures::channel::mpsc::unbounded();
    let finalizer_epocher = epocher.clone();
    parts.push((
        "finalizer",
        context.child("finalizer").spawn(move |ctx| {
            finalizer::run(
                ctx,
                finalizer_shared,
                marshal_for_finalizer,
                finalized_rx,
                finalizer_epocher,
                boundaries,
            )
        }),
    ));

    let app = App::new(shared.clone());
    let marshaled = Inline::new(
        context.child("marshaled"),
        app,
        marshal_mailbox.clone(),
        epocher.clone(),
    );
    let store = shared.store.clone();
    let start = epochs::resume_point(
        &epocher,
        store.head_height().unwrap_or(0),
        genesis_digest,
        |h| {
            store
                .header(h)
                .expect("store read failed")
                .map(|header| header.digest().0)
        },
    );
    let namespace = crate::consensus_namespace(&chain);
    let engine_shared = shared.clone();
    let engine_context = context.child("simplex");
    let engine_blocker = blocker.clone();
    // Starts the engine of one epoch (rules 2 and 5 of `epochs`).
    let signer = identity.signer.clone();
    let enter = move |entry: epochs::Entry<S>, participants: Set<VerifyingKey>| {
        let cfg = &engine_shared.consensus;
        let scheme = ed25519::Scheme::signer(&namespace, participants, signer.clone())
            .expect("entered only in epochs whose set names this validator");
        let engine = simplex::Engine::new(
            engine_context
                .child("engine")
                .with_attribute("epoch", entry.epoch.get()),
            simplex::Config {
                scheme,
                elector: RoundRobin::<Sha256>::default(),
                blocker: engine_blocker.clone(),
                automaton: marshaled.clone(),
                relay: marshaled.clone(),
                reporter: Witness {
                    inner: marshaled.clone(),
                    shared: engine_shared.clone(),
                },
                track_historical_votes: true,
                strategy: Sequential,
                partition: format!("{prefix}-simplex-{}", entry.epoch.get()),
                mailbox_size,
                epoch: entry.epoch,
                floor: Floor::Genesis(entry.floor),
                replay_buffer: NZUsize!(1 << 20),
                write_buffer: NZUsize!(1 << 20),
                page_cache: page_cache.clone(),
                leader_timeout: cfg.leader_timeout(),
                certification_timeout: cfg.certification_timeout(),
                timeout_retry: cfg.timeout_retry(),
                view_retention: ViewDelta::new(10),
                skip: SkipPolicy::Enabled {
                    timeout: cfg.certification_timeout() + cfg.timeout_retry(),
                    budget: SkipBudget::Participants,
                },
                fetch_timeout: NZDuration!(Duration::from_secs(1)),
                fetch_retry_delay: Duration::from_millis(100),
                forward: ForwardPolicy::Disabled,
            },
        );
        engine.start(entry.votes, entry.certificates, entry.resolver)
    };
    let epochs_shared = shared.clone();
    parts.push((
        "epochs",
        context.child("epochs").spawn(move |ctx| {
            epochs::run(
                ctx,
                schedule,
                me,
                start,
                channels.votes,
                channels.certificates,
                channels.resolver,
                marshal_mailbox,
                boundaries_rx,
                epochs_shared,
                enter,
            )
        }),
    ));

    let (tx_sender, tx_receiver) = channels.txs;
    // f + 1 peers hold every locally admitted transaction before its gossip round counts:
    // at least one of them is honest (capped by the peers there are).
    let n = identity.validators.len();
    let spread_min = ((n - 1) / 3 + 1).min(n - 1);
    let anti_entropy = Arc::new(std::sync::Mutex::new(gossip::AntiEntropy::default()));
    let out_shared = shared.clone();
    let out_sender = tx_sender.clone();
    let out_ae = anti_entropy.clone();
    // The push loop has a thread of its own: a receipt waits on its rounds (rule 5), and
    // verification of peers' and clients' batches must not delay them.
    parts.push((
        "gossip_out",
        context.child("gossip_out").dedicated().spawn(move |ctx| {
            gossip::run_outbound(ctx, out_shared, out_ae, out_sender, spread_min)
        }),
    ));
    parts.push((
        "gossip_in",
        // A thread of its own too: acks are sent and recorded here, and a receipt waits on them.
        context.child("gossip_in").dedicated().spawn(move |ctx| {
            gossip::run_inbound(ctx, shared, anti_entropy, tx_receiver, tx_sender, blocker)
        }),
    ));
    Running { parts }
}

/// Number of critical parts [`start`] runs.
const PARTS: usize = 6;

/// A started validator's long-running parts. Every one is critical: a validator missing any
/// of them (its finalizer died on a failed fsync, its marshal on a broken invariant) can no
/// longer do its job and must stop rather than linger as a zombie that votes but never
/// persists. The node waits on [`Running::first_stopped`] and exits non-zero when it
/// returns; the simulator ends the validator's whole task tree the same way.
pub struct Running {
    parts: Vec<(&'static str, Handle<()>)>,
}

/// Which critical part ended first, and how (a caught panic or an abort is an error).
#[derive(Debug)]
pub struct Stopped {
    /// The part's name: broadcast, marshal, finalizer, epochs (the epochs' consensus
    /// engines), gossip_out or gossip_in.
    pub part: &'static str,
    /// How its task ended.
    pub result: Result<(), commonware_runtime::Error>,
}

impl Running {
    /// Waits until the first critical part ends. Dropping a [`Running`] leaves the parts
    /// running (their tasks are supervised by the context they were started from).
    pub async fn first_stopped(self) -> Stopped {
        use futures::FutureExt as _;
        let (names, handles): (Vec<_>, Vec<_>) = self.parts.into_iter().unzip();
        let (result, index, rest) = futures::future::select_all(handles).await;
        // A part that stops cleanly because another died (marshal when the finalizer's
        // channel closes) is a consequence: among parts already ended, name one that failed.
        if result.is_ok() {
            // `select_all` swap-removes the finished handle: remove its name the same way.
            let mut others = names.clone();
            others.swap_remove(index);
            for (name, handle) in others.into_iter().zip(rest) {
                if let Some(Err(e)) = handle.now_or_never() {
                    return Stopped {
                        part: name,
                        result: Err(e),
                    };
                }
            }
        }
        Stopped {
            part: names[index],
            result,
        }
    }
}

fn archive_config<C>(
    prefix: &str,
    page_cache: &CacheRef,
    codec_config: C,
    value_target: u64,
) -> immutable::Config<C> {
    immutable::Config {
        metadata_partition: format!("{prefix}-metadata"),
        freezer_table_partition: format!("{prefix}-freezer-table"),
        freezer_table_initial_size: 1024,
        freezer_table_resize_frequency: 4,
        freezer_table_resize_chunk_size: 1024,
        freezer_key_partition: format!("{prefix}-freezer-key"),
        freezer_key_page_cache: page_cache.clone(),
        freezer_value_partition: format!("{prefix}-freezer-value"),
        freezer_value_target_size: value_target,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-ordinal"),
        items_per_section: NZU64!(1024),
        codec_config,
        replay_buffer: NZUsize!(1 << 20),
        freezer_key_write_buffer: NZUsize!(1 << 20),
        freezer_value_write_buffer: NZUsize!(1 << 20),
        ordinal_write_buffer: NZUsize!(1 << 20),
    }
}

/// Reports consensus activity onwards, keeping the conflicting votes it reports (a
/// validator signing two notarizes or finalizes in one round, or a nullify and a finalize) in
/// the store as double-signing evidence: `weft_getConflicts` serves it and the L1's staking
/// program verifies it (`weft_finality::verify_double_sign`) before it tombstones anyone.
#[derive(Clone)]
pub(crate) struct Witness<R> {
    inner: R,
    shared: Arc<Shared>,
}

impl<R> commonware_consensus::Reporter for Witness<R>
where
    R: commonware_consensus::Reporter<
        Activity = simplex::types::Activity<ed25519::Scheme, weft_types::Digest>,
    >,
{
    type Activity = R::Activity;

    fn report(&mut self, activity: Self::Activity) -> commonware_actor::Feedback {
        if let Some(evidence) = weft_finality::conflict_evidence(&activity) {
            match self.shared.store.put_conflict(&evidence) {
                Ok(true) => {
                    tracing::warn!(target: "weft::consensus", bytes = evidence.len(), "conflicting votes recorded: double-signing evidence")
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(target: "weft::consensus", %e, "recording double-signing evidence failed")
                }
            }
        }
        self.inner.report(activity)
    }
}
