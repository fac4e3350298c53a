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
//! 5. Every epoch's participants are given by [`EpochSets`]; today that is the genesis set for
//!    every epoch (the stake-driven schedule is not wired yet, see docs/architecture.md).

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
use commonware_runtime::{Handle, Metrics, Spawner};
use commonware_utils::vec::NonEmptyVec;
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

/// The participants of each epoch (rule 5).
pub trait EpochSets: Send + Sync {
    /// The validators of `epoch`, or `None` if it is not known (yet).
    fn participants(&self, epoch: Epoch) -> Option<commonware_utils::ordered::Set<VerifyingKey>>;
}

/// The genesis set, for every epoch.
pub struct GenesisSets(pub commonware_utils::ordered::Set<VerifyingKey>);

impl EpochSets for GenesisSets {
    fn participants(&self, _: Epoch) -> Option<commonware_utils::ordered::Set<VerifyingKey>> {
        Some(self.0.clone())
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

/// Runs one validator's epochs: opens each epoch's subchannels, has `enter` start its engine,
/// stops the previous one, and asks marshal for boundaries peers are past. Returns when the
/// active engine stops (which the caller treats as a critical failure) or the finalizer's
/// boundary channel closes.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run<E, S, R, F>(
    context: E,
    epocher: FixedEpocher,
    start: Boundary,
    votes: (S, R),
    certificates: (S, R),
    resolver: (S, R),
    marshal: Mailbox<ed25519::Scheme, Standard<ConsensusBlock>>,
    mut boundaries: mpsc::UnboundedReceiver<Boundary>,
    shared: Arc<crate::Shared>,
    mut enter: F,
) where
    E: Spawner + Metrics,
    S: Sender<PublicKey = VerifyingKey>,
    R: Receiver<PublicKey = VerifyingKey>,
    F: FnMut(Entry<S>) -> Handle<()> + Send,
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
    // Both backups into one stream: only the sender and its epoch matter here.
    let backup = futures::stream::select(
        backup_stream(votes_backup),
        backup_stream(certificates_backup),
    )
    .fuse();
    futures::pin_mut!(backup);

    let Some(mut active) = open(
        &mut enter,
        start,
        &mut votes_mux,
        &mut certificates_mux,
        &mut resolver_mux,
    )
    .await
    else {
        return;
    };
    shared.metrics.epoch.set(start.next.get() as i64);
    info!(target: "weft::consensus", epoch = start.next.get(), "running epoch");
    loop {
        let step = {
            let engine = &mut active.1;
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
                if boundary.next <= active.0 {
                    continue;
                }
                // Safety invariant: epochs are entered in order (blocks are persisted in
                // height order, so each boundary is seen before the next).
                assert_eq!(
                    boundary.next,
                    active.0.next(),
                    "boundary of a later epoch before the current one's"
                );
                active.1.abort();
                let Some(next) = open(
                    &mut enter,
                    boundary,
                    &mut votes_mux,
                    &mut certificates_mux,
                    &mut resolver_mux,
                )
                .await
                else {
                    return;
                };
                active = next;
                shared.metrics.epoch.set(boundary.next.get() as i64);
                shared.metrics.epochs_entered.inc();
                info!(target: "weft::consensus", epoch = boundary.next.get(), floor = %weft_types::BlockDigest(boundary.floor), "entered epoch");
            }
            Step::Stopped(result) => {
                warn!(target: "weft::consensus", epoch = active.0.get(), ?result, "the epoch's consensus engine stopped");
                return;
            }
            Step::Seen(None) => return,
            Step::Seen(Some((epoch, from))) => {
                // Rule 3: a sender in a later epoch has finalized our boundary.
                if epoch > active.0.get() {
                    let boundary = epocher.last(active.0).expect("every epoch ends");
                    debug!(target: "weft::consensus", ours = active.0.get(), theirs = epoch, height = boundary.get(), "a peer is past our epoch: fetching the boundary");
                    marshal.hint_finalized(boundary, NonEmptyVec::new(from));
                }
            }
        }
    }
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

async fn open<S, F>(
    enter: &mut F,
    boundary: Boundary,
    votes: &mut MuxHandle<S>,
    certificates: &mut MuxHandle<S>,
    resolver: &mut MuxHandle<S>,
) -> Option<(Epoch, Handle<()>)>
where
    S: Sender<PublicKey = VerifyingKey>,
    F: FnMut(Entry<S>) -> Handle<()>,
{
    let channel = boundary.next.get();
    // Each epoch is opened once; a failed registration means the muxers stopped with the
    // validator.
    let votes = votes.register(channel).await.ok()?;
    let certificates = certificates.register(channel).await.ok()?;
    let resolver = resolver.register(channel).await.ok()?;
    let handle = enter(Entry {
        epoch: boundary.next,
        floor: boundary.floor,
        votes,
        certificates,
        resolver,
    });
    Some((boundary.next, handle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_utils::NZU64;

    fn d(h: u64) -> Digest {
        weft_types::sha256(&[&h.to_be_bytes()])
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
