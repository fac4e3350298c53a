//! Epochs: the chain is cut into epochs of a fixed number of blocks (genesis's
//! `epoch_length_blocks`), and each epoch runs a simplex engine of its own. Commonware's
//! engines never change their participants, so a validator-set change can only happen at an
//! epoch boundary, by starting the next epoch's engine; marshal, the block store and gossip
//! span epochs.
//!
//! Rules, enforced here and by marshal:
//! 1. Epoch `e` holds heights `e·L ..= (e+1)·L − 1` (`FixedEpocher`, so epoch 0 holds
//!    genesis). Its last block is the *boundary*. marshal builds nothing past it: the views of
//!    `e` that follow re-propose the boundary until it is finalized.
//! 2. A validator enters epoch `e + 1` once it has persisted the boundary of `e` (the
//!    finalizer tells [`run`] after its fsync), with that block as the epoch's genesis floor,
//!    and stops the engine of `e`: once its boundary is finalized, nothing more of `e` can be.
//! 3. Votes, certificates and certificate requests carry their epoch (a p2p mux subchannel
//!    per epoch). A message of a later epoch than ours shows that its sender has finalized our
//!    boundary, so marshal is asked to fetch that finalization from it: a validator that was
//!    down, or that lost the boundary's certificate, catches up one epoch at a time.
//! 4. At start, a validator runs the epoch holding the height after its last persisted block
//!    (its journal of that epoch replays), so a restart never re-enters a finished epoch.
//! 5. Epochs 0 and 1 are run by the genesis set; the set of epoch `e ≥ 2` is the one the
//!    boundary block of `e − 2` announces (block rule 10 in [`crate::app`]: the set a
//!    [`SetSource`] reads from the L1's stake table), so every set is fixed in the finalized
//!    chain a whole epoch before it runs, and a joining validator has that epoch to catch up.
//!    See [`Schedule`].
//! 6. A validator outside an epoch's set runs no engine in it. It follows the chain through
//!    marshal: any vote or certificate of its epoch or a later one makes it ask the sender for
//!    its epoch's boundary (at most once per [`OBSERVER_HINT_INTERVAL`]), so it enters the next
//!    epoch as soon as that boundary is finalized, and votes in any epoch whose set names it.

use crate::ConsensusBlock;
use commonware_consensus::{
    marshal::{core::Mailbox, standard::Standard},
    simplex::scheme::ed25519,
    types::{Epoch, Epocher as _, FixedEpocher, Height},
};
use commonware_p2p::{
    utils::mux::{Builder as _, MuxHandle, Muxer, SubReceiver, SubSender},
    Receiver, Sender,
};
use commonware_runtime::{Clock, Handle, Metrics, Spawner};
use commonware_utils::{ordered::Set, vec::NonEmptyVec};
use futures::{channel::mpsc, StreamExt as _};
use std::sync::Arc;
use tracing::{debug, info, warn};
use weft_types::{Digest, VerifyingKey};

/// A finalized, persisted boundary: epoch `next` may start from `floor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Boundary {
    /// The epoch that starts.
    pub next: Epoch,
    /// Digest of the boundary block (the last block of `next - 1`).
    pub floor: Digest,
}

/// Where an epoch engine starts.
pub(crate) struct Entry<S: Sender<PublicKey = VerifyingKey>> {
    /// The epoch.
    pub epoch: Epoch,
    /// Its genesis floor: the previous epoch's boundary block (the genesis block for epoch 0).
    pub floor: Digest,
    /// Its votes subchannel.
    pub votes: (SubSender<S>, SubReceiver<VerifyingKey>),
    /// Its certificates subchannel.
    pub certificates: (SubSender<S>, SubReceiver<VerifyingKey>),
    /// Its certificate resolver subchannel.
    pub resolver: (SubSender<S>, SubReceiver<VerifyingKey>),
}

/// Where a validator reads the set its boundary blocks announce: the L1's stake table (top
/// validators by stake, above the minimum, not jailed or tombstoned).
pub trait SetSource: Send + Sync {
    /// The set to announce now, or why it cannot be read (the L1 is unreachable, say).
    fn next_set(&self) -> Result<Vec<VerifyingKey>, String>;
}

/// Most epochs' sets [`Schedule`] keeps decoded.
pub const SCHEDULE_CACHE_EPOCHS_MAX: usize = 8;

/// At most one boundary request per this interval from a validator outside its epoch's set
/// (rule 6): every message of the epoch reaches its backup queue.
pub const OBSERVER_HINT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// Every epoch's validator set (rule 5), from genesis and the boundary blocks in the store.
pub struct Schedule {
    /// Epochs and their boundaries.
    pub epocher: FixedEpocher,
    genesis: Set<VerifyingKey>,
    store: Arc<weft_storage::Store>,
    source: Option<Arc<dyn SetSource>>,
    set_size_max: usize,
    cache: std::sync::Mutex<std::collections::BTreeMap<u64, Set<VerifyingKey>>>,
}

impl Schedule {
    /// The schedule of a chain whose first two epochs `genesis` runs, announcing what `source`
    /// reads (with no source, every boundary announces its next epoch's set again: no change).
    /// A source's set is announced only if it holds at most `set_size_max(limits)` validators.
    pub fn new(
        epocher: FixedEpocher,
        genesis: Set<VerifyingKey>,
        store: Arc<weft_storage::Store>,
        source: Option<Arc<dyn SetSource>>,
        limits: &weft_types::Limits,
    ) -> Self {
        Self {
            epocher,
            genesis,
            store,
            source,
            set_size_max: set_size_max(limits),
            cache: Default::default(),
        }
    }

    /// The validators of `epoch`, or `None` while the boundary that announces it is not
    /// persisted here.
    pub fn participants(&self, epoch: Epoch) -> Option<Set<VerifyingKey>> {
        let Some(announced_in) = epoch.get().checked_sub(2).map(Epoch::new) else {
            return Some(self.genesis.clone());
        };
        if let Some(set) = self.cache.lock().expect("schedule lock").get(&epoch.get()) {
            return Some(set.clone());
        }
        let boundary = self.epocher.last(announced_in)?.get();
        let block = self.store.block(boundary).expect("store read failed")?;
        // Safety invariant: a finalized boundary carries a set (block rule 10).
        assert!(
            !block.body.validators.is_empty(),
            "finalized boundary block {boundary} announces no validator set"
        );
        let set = Set::try_from(block.body.validators)
            .expect("an announced set is strictly ascending (block rule 5)");
        let mut cache = self.cache.lock().expect("schedule lock");
        cache.insert(epoch.get(), set.clone());
        while cache.len() > SCHEDULE_CACHE_EPOCHS_MAX {
            cache.pop_first();
        }
        Some(set)
    }

    /// What the boundary block of `epoch` must announce (block rule 10): what the source reads,
    /// or, with no source or none readable, the set of `epoch + 1` again. `None` if that set is
    /// not known here (a validator runs an epoch only past the previous boundary, so never
    /// while building or checking a block of it).
    pub fn announcement(&self, epoch: Epoch) -> Option<Vec<VerifyingKey>> {
        if let Some(source) = &self.source {
            match source.next_set() {
                Ok(mut set) => {
                    set.sort();
                    set.dedup();
                    if !set.is_empty() && set.len() <= self.set_size_max {
                        return Some(set);
                    }
                    warn!(target: "weft::consensus", validators = set.len(), "the set source offers an unusable set: announcing no change");
                }
                Err(e) => {
                    warn!(target: "weft::consensus", %e, "the set source cannot be read: announcing no change")
                }
            }
        }
        self.participants(epoch.next())
            .map(|set| set.iter().cloned().collect())
    }

    /// The epoch a validator whose finalized head is `head` is in: the one holding `head + 1`.
    pub fn epoch_after(&self, head: u64) -> Epoch {
        self.epocher
            .containing(Height::new(head + 1))
            .expect("every height has an epoch")
            .epoch()
    }

    /// Whether `height` is the last block of its epoch.
    pub fn is_boundary(&self, height: u64) -> bool {
        let epoch = self
            .epocher
            .containing(Height::new(height))
            .expect("every height has an epoch")
            .epoch();
        self.epocher.last(epoch) == Some(Height::new(height))
    }
}

/// The most validators an announced set may hold: [`weft_types::VALIDATOR_SET_MAX`], and few
/// enough that the pre-confirmation window still covers the deadline rule's worst case
/// (`weft_types::receipt`: `PRECONF_LAG_HEIGHTS_MAX + 2n` heights for `n` validators).
pub fn set_size_max(limits: &weft_types::Limits) -> usize {
    let room = limits
        .preconf_window_heights
        .saturating_sub(weft_types::PRECONF_LAG_HEIGHTS_MAX)
        / 2;
    (room as usize).min(weft_types::VALIDATOR_SET_MAX)
}

/// marshal's certificate schemes: each epoch's set, signing where this validator is in it.
#[derive(Clone)]
pub(crate) struct Schemes {
    pub schedule: Arc<Schedule>,
    pub namespace: Vec<u8>,
    pub signer: weft_types::SigningKey,
}

impl commonware_cryptography::certificate::Provider for Schemes {
    type Scope = Epoch;
    type Scheme = ed25519::Scheme;

    fn scoped(
        &self,
        epoch: Epoch,
    ) -> Option<commonware_cryptography::certificate::Scoped<ed25519::Scheme>> {
        use commonware_cryptography::certificate::Scoped;
        let set = self.schedule.participants(epoch)?;
        Some(
            match ed25519::Scheme::signer(&self.namespace, set.clone(), self.signer.clone()) {
                Some(scheme) => Scoped::scheme(Arc::new(scheme)),
                None => Scoped::verifier(Arc::new(ed25519::Scheme::verifier(&self.namespace, set))),
            },
        )
    }
}

/// The epoch a validator whose last persisted block is at `head` runs, and its floor
/// (rule 4). `block_digest(h)` reads a persisted block's digest.
pub(crate) fn resume_point(
    epocher: &FixedEpocher,
    head: u64,
    genesis: Digest,
    block_digest: impl Fn(u64) -> Option<Digest>,
) -> Boundary {
    let next = epocher
        .containing(Height::new(head + 1))
        .expect("every height has an epoch")
        .epoch();
    let floor = match next.previous() {
        None => genesis,
        Some(previous) => {
            let boundary = epocher.last(previous).expect("every epoch ends").get();
            // Safety invariant: the head is at or past the boundary of the previous epoch.
            assert!(boundary <= head, "resume point past the persisted head");
            block_digest(boundary).unwrap_or_else(|| {
                panic!("persisted boundary block {boundary} is missing from the store")
            })
        }
    };
    Boundary { next, floor }
}

/// The boundary that follows a persisted block at `height`, if it is one (rule 2).
pub(crate) fn boundary_after(
    epocher: &FixedEpocher,
    height: u64,
    digest: Digest,
) -> Option<Boundary> {
    let epoch = epocher
        .containing(Height::new(height))
        .expect("every height has an epoch")
        .epoch();
    (epocher.last(epoch) == Some(Height::new(height))).then(|| Boundary {
        next: epoch.next(),
        floor: digest,
    })
}

/// Runs one validator's epochs: opens each epoch's subchannels, has `enter` start its engine
/// where this validator is in the epoch's set (rule 6), stops the previous one, and asks
/// marshal for boundaries peers are past. Returns when the active engine stops (which the
/// caller treats as a critical failure) or the finalizer's boundary channel closes.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run<E, S, R, F>(
    context: E,
    schedule: Arc<Schedule>,
    me: VerifyingKey,
    start: Boundary,
    votes: (S, R),
    certificates: (S, R),
    resolver: (S, R),
    marshal: Mailbox<ed25519::Scheme, Standard<ConsensusBlock>>,
    mut boundaries: mpsc::UnboundedReceiver<Boundary>,
    shared: Arc<crate::Shared>,
    mut enter: F,
) where
    E: Spawner + Metrics + Clock,
    S: Sender<PublicKey = VerifyingKey>,
    R: Receiver<PublicKey = VerifyingKey>,
    F: FnMut(Entry<S>, Set<VerifyingKey>) -> Handle<()> + Send,
{
    let (mux, mut votes_mux, votes_backup) =
        Muxer::builder(context.child("votes_mux"), votes.0, votes.1)
            .with_backup()
            .build();
    mux.start();
    let (mux, mut certificates_mux, certificates_backup) = Muxer::builder(
        context.child("certificates_mux"),
        certificates.0,
        certificates.1,
    )
    .with_backup()
    .build();
    mux.start();
    let (mux, mut resolver_mux) = Muxer::new(context.child("resolver_mux"), resolver.0, resolver.1);
    mux.start();
    let mut muxes = Muxes {
        votes: &mut votes_mux,
        certificates: &mut certificates_mux,
        resolver: &mut resolver_mux,
    };
    // Both backups into one stream: only the sender and its epoch matter here.
    let backup = futures::stream::select(
        backup_stream(votes_backup),
        backup_stream(certificates_backup),
    )
    .fuse();
    futures::pin_mut!(backup);

    let Some(mut active) = open(&mut enter, &schedule, &me, start, &mut muxes).await else {
        return;
    };
    shared.metrics.epoch.set(start.next.get() as i64);
    info!(target: "weft::consensus", epoch = start.next.get(), member = active.engine.is_some(), "running epoch");
    let mut last_hint: Option<std::time::SystemTime> = None;
    loop {
        let step = {
            let engine = async {
                match active.engine.as_mut() {
                    Some(handle) => handle.await,
                    None => futures::future::pending().await,
                }
            };
            futures::pin_mut!(engine);
            futures::select_biased! {
                boundary = boundaries.next() => Step::Boundary(boundary),
                result = futures::FutureExt::fuse(engine) => Step::Stopped(result),
                seen = backup.next() => Step::Seen(seen),
            }
        };
        match step {
            Step::Boundary(None) => return,
            Step::Boundary(Some(boundary)) => {
                // Redelivered blocks repeat boundaries already crossed.
                if boundary.next <= active.epoch {
                    continue;
                }
                // Safety invariant: epochs are entered in order (blocks are persisted in
                // height order, so each boundary is seen before the next).
                assert_eq!(
                    boundary.next,
                    active.epoch.next(),
                    "boundary of a later epoch before the current one's"
                );
                if let Some(engine) = active.engine.take() {
                    engine.abort();
                }
                let Some(next) = open(&mut enter, &schedule, &me, boundary, &mut muxes).await
                else {
                    return;
                };
                active = next;
                shared.metrics.epoch.set(boundary.next.get() as i64);
                shared.metrics.epochs_entered.inc();
                info!(target: "weft::consensus", epoch = boundary.next.get(), member = active.engine.is_some(), floor = %weft_types::BlockDigest(boundary.floor), "entered epoch");
            }
            Step::Stopped(result) => {
                warn!(target: "weft::consensus", epoch = active.epoch.get(), ?result, "the epoch's consensus engine stopped");
                return;
            }
            Step::Seen(None) => return,
            Step::Seen(Some((epoch, from))) => {
                let ours = active.epoch.get();
                // Rule 3: a sender in a later epoch has finalized our boundary. Rule 6: one
                // in ours, where we have no engine, will finalize it (ask at a bounded rate).
                let ask = if active.engine.is_some() {
                    epoch > ours
                } else {
                    let now = context.current();
                    let due = last_hint.is_none_or(|t| {
                        now.duration_since(t).unwrap_or_default() >= OBSERVER_HINT_INTERVAL
                    });
                    let ask = epoch >= ours && due;
                    if ask {
                        last_hint = Some(now);
                    }
                    ask
                };
                if ask {
                    let boundary = schedule
                        .epocher
                        .last(active.epoch)
                        .expect("every epoch ends");
                    debug!(target: "weft::consensus", ours, theirs = epoch, height = boundary.get(), "fetching our epoch's boundary from a peer");
                    marshal.hint_finalized(boundary, NonEmptyVec::new(from));
                }
            }
        }
    }
}

/// The epoch this validator is in, and its engine there (none outside the epoch's set).
struct Active {
    epoch: Epoch,
    engine: Option<Handle<()>>,
}

struct Muxes<'a, S: Sender> {
    votes: &'a mut MuxHandle<S>,
    certificates: &'a mut MuxHandle<S>,
    resolver: &'a mut MuxHandle<S>,
}

enum Step {
    Boundary(Option<Boundary>),
    Stopped(Result<(), commonware_runtime::Error>),
    Seen(Option<(u64, VerifyingKey)>),
}

fn backup_stream(
    receiver: commonware_utils::channel::mpsc::Receiver<(
        u64,
        commonware_p2p::Message<VerifyingKey>,
    )>,
) -> impl futures::Stream<Item = (u64, VerifyingKey)> {
    futures::stream::unfold(receiver, |mut receiver| async move {
        let (epoch, (from, _)) = receiver.recv().await?;
        Some(((epoch, from), receiver))
    })
}

/// Enters the epoch `boundary` starts: its engine if this validator is in its set (rule 6).
/// `None` if the muxers stopped (with the validator).
async fn open<S, F>(
    enter: &mut F,
    schedule: &Schedule,
    me: &VerifyingKey,
    boundary: Boundary,
    muxes: &mut Muxes<'_, S>,
) -> Option<Active>
where
    S: Sender<PublicKey = VerifyingKey>,
    F: FnMut(Entry<S>, Set<VerifyingKey>) -> Handle<()>,
{
    // Safety invariant: a validator past the previous boundary knows this epoch's set (the
    // boundary before that announced it).
    let set = schedule
        .participants(boundary.next)
        .unwrap_or_else(|| panic!("the set of epoch {} is not known", boundary.next));
    if commonware_utils::ordered::Quorum::index(&set, me).is_none() {
        return Some(Active {
            epoch: boundary.next,
            engine: None,
        });
    }
    let channel = boundary.next.get();
    // Each epoch is opened once; a failed registration means the muxers stopped with the
    // validator.
    let votes = muxes.votes.register(channel).await.ok()?;
    let certificates = muxes.certificates.register(channel).await.ok()?;
    let resolver = muxes.resolver.register(channel).await.ok()?;
    let engine = enter(
        Entry {
            epoch: boundary.next,
            floor: boundary.floor,
            votes,
            certificates,
            resolver,
        },
        set,
    );
    Some(Active {
        epoch: boundary.next,
        engine: Some(engine),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_utils::NZU64;

    fn d(h: u64) -> Digest {
        weft_types::sha256(&[&h.to_be_bytes()])
    }

    struct Table(Vec<VerifyingKey>);
    impl SetSource for Table {
        fn next_set(&self) -> Result<Vec<VerifyingKey>, String> {
            Ok(self.0.clone())
        }
    }

    /// A set too large for the pre-confirmation window's deadline rule, or an empty one, is
    /// not announced: the boundary announces no change.
    #[test]
    fn only_sets_the_receipt_window_covers_are_announced() {
        use commonware_cryptography::Signer as _;
        let limits = weft_types::Limits::default();
        let max = set_size_max(&limits);
        let window = limits.preconf_window_heights;
        assert!(weft_types::PRECONF_LAG_HEIGHTS_MAX + 2 * max as u64 <= window);
        assert!(
            weft_types::PRECONF_LAG_HEIGHTS_MAX + 2 * (max as u64 + 1) > window
                || max == weft_types::VALIDATOR_SET_MAX
        );
        let key = |seed| weft_types::SigningKey::from_seed(seed).public_key();
        let genesis: Set<VerifyingKey> = (1..=4).map(key).collect::<Vec<_>>().try_into().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(weft_storage::Store::open(dir.path().join("s.redb"), limits).unwrap());
        let schedule = |set: Vec<VerifyingKey>| {
            Schedule::new(
                FixedEpocher::new(NZU64!(10)),
                genesis.clone(),
                store.clone(),
                Some(Arc::new(Table(set))),
                &limits,
            )
        };
        let unchanged: Vec<VerifyingKey> = genesis.iter().cloned().collect();
        let fits: Vec<VerifyingKey> = (1..=max as u64).map(key).collect();
        let mut sorted = fits.clone();
        sorted.sort();
        assert_eq!(schedule(fits).announcement(Epoch::zero()), Some(sorted));
        let too_many: Vec<VerifyingKey> = (1..=max as u64 + 1).map(key).collect();
        assert_eq!(
            schedule(too_many).announcement(Epoch::zero()),
            Some(unchanged.clone())
        );
        assert_eq!(
            schedule(Vec::new()).announcement(Epoch::zero()),
            Some(unchanged)
        );
    }

    #[test]
    fn boundaries_and_resume_points() {
        let epocher = FixedEpocher::new(NZU64!(10));
        let genesis = d(u64::MAX);
        // Epoch 0 holds 0..=9: its boundary is 9, and epoch 1 starts from block 9.
        assert_eq!(boundary_after(&epocher, 8, d(8)), None);
        assert_eq!(
            boundary_after(&epocher, 9, d(9)),
            Some(Boundary {
                next: Epoch::new(1),
                floor: d(9)
            })
        );
        assert_eq!(
            boundary_after(&epocher, 19, d(19)),
            Some(Boundary {
                next: Epoch::new(2),
                floor: d(19)
            })
        );
        let read = |h: u64| Some(d(h));
        assert_eq!(
            resume_point(&epocher, 0, genesis, read),
            Boundary {
                next: Epoch::zero(),
                floor: genesis
            }
        );
        assert_eq!(
            resume_point(&epocher, 8, genesis, read),
            Boundary {
                next: Epoch::zero(),
                floor: genesis
            }
        );
        // A validator that persisted the boundary runs the next epoch (rule 4).
        assert_eq!(
            resume_point(&epocher, 9, genesis, read),
            Boundary {
                next: Epoch::new(1),
                floor: d(9)
            }
        );
        assert_eq!(
            resume_point(&epocher, 15, genesis, read),
            Boundary {
                next: Epoch::new(1),
                floor: d(9)
            }
        );
    }

    #[test]
    #[should_panic(expected = "missing from the store")]
    fn a_missing_boundary_block_is_fatal() {
        let epocher = FixedEpocher::new(NZU64!(10));
        resume_point(&epocher, 12, d(0), |_| None);
    }
}
