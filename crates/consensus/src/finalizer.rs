//! Persists finalized blocks, then acknowledges them to marshal.
//!
//! Marshal delivers finalized blocks in height order, at least once. The finalizer writes
//! each block, its certificate and its index entries in one fsynced transaction, removes its
//! transactions from the mempool, and only then acknowledges it: a block marshal considers
//! processed is always on disk, so a crash never loses a finalized block.

use crate::{ConsensusBlock, Shared};
use commonware_actor::Feedback;
use commonware_codec::Encode;
use commonware_consensus::{
    marshal::{core::Mailbox, standard::Standard, Update},
    simplex::scheme::ed25519,
    types::Height,
    Reporter,
};
use commonware_cryptography::Digested;
use commonware_runtime::Clock;
use commonware_utils::SystemTimeExt as _;
use commonware_utils::{acknowledgement::Exact, Acknowledgement as _};
use futures::{channel::mpsc, StreamExt as _};
use std::sync::Arc;
use tracing::{debug, warn};

/// Most of a finalized block's transactions removed from the mempool under one hold of its
/// lock (the same bound as admission's, `crate::admit::ADMIT_LOCK_TXS_MAX`).
pub const FINALIZE_LOCK_TXS_MAX: usize = crate::admit::ADMIT_LOCK_TXS_MAX;

/// Receives marshal's updates and hands blocks to the finalizer task.
#[derive(Clone)]
pub(crate) struct Finalized {
    // Unbounded is safe: marshal dispatches at most `max_pending_acks` unacknowledged blocks.
    sender: mpsc::UnboundedSender<(Digested<ConsensusBlock>, Exact)>,
    shared: Arc<Shared>,
    /// Milliseconds since the epoch on the runtime's clock.
    now_ms: Arc<dyn Fn() -> u64 + Send + Sync>,
}

impl Finalized {
    pub(crate) fn new(
        shared: Arc<Shared>,
        clock: impl Clock,
    ) -> (
        Self,
        mpsc::UnboundedReceiver<(Digested<ConsensusBlock>, Exact)>,
    ) {
        let (sender, receiver) = mpsc::unbounded();
        let now_ms = Arc::new(move || clock.current().epoch_millis());
        (
            Self {
                sender,
                shared,
                now_ms,
            },
            receiver,
        )
    }
}

impl Reporter for Finalized {
    type Activity = Update<ConsensusBlock>;
    fn report(&mut self, activity: Self::Activity) -> Feedback {
        match activity {
            Update::Block(block, ack) => {
                if self.sender.unbounded_send((block, ack)).is_err() {
                    return Feedback::Closed;
                }
                Feedback::Ok
            }
            // The network's finalized tip, from certificates, ahead of the blocks themselves:
            // a validator that restarted or fell behind learns how far behind it is here,
            // and stops issuing pre-confirmations until it has caught up.
            Update::Tip(_, height, _) => {
                self.shared.saw_tip(height.get(), (self.now_ms)());
                Feedback::Ok
            }
        }
    }
}

/// The finalizer loop. Runs until marshal stops.
pub(crate) async fn run(
    clock: impl Clock,
    shared: Arc<Shared>,
    marshal: Mailbox<ed25519::Scheme, Standard<ConsensusBlock>>,
    mut blocks: mpsc::UnboundedReceiver<(Digested<ConsensusBlock>, Exact)>,
    epocher: commonware_consensus::types::FixedEpocher,
    boundaries: mpsc::UnboundedSender<crate::epochs::Boundary>,
) {
    while let Some((block, ack)) = blocks.next().await {
        let block = block.inner().block();
        let height = block.height();
        // Safety invariant, kept in release builds: only a body that matches its header's
        // commitments is ever persisted (blocks are bound on decode; this guards the rule).
        if let Err(e) = block.check_commitments() {
            panic!(
                "finalizer got block {height} ({}) whose body does not match its header: {e}",
                block.digest()
            );
        }
        // Blocks finalized as ancestors of a later finalization have no certificate of their
        // own; their finality follows from the descendant's certificate and the hash chain.
        let certificate = if height == 0 {
            Vec::new()
        } else {
            match marshal.get_finalization(Height::new(height)).await {
                Some(f) => f.encode().to_vec(),
                None => Vec::new(),
            }
        };
        let new = shared
            .store
            .commit_finalized(block, &certificate, clock.current().epoch_millis())
            .expect("persisting a finalized block failed");
        if new {
            // In parts, one hold of the mempool lock each: a lone order's admission waits for
            // one part, not a whole block.
            let txs: Vec<&weft_types::Transaction> = block.body.txs().collect();
            let mut step = weft_mempool::Finalizing::default();
            for part in txs.chunks(FINALIZE_LOCK_TXS_MAX) {
                let mut mempool = shared.mempool.lock();
                mempool.finalize_txs(&mut step, part.iter().copied());
                // To a waiter first, not to the next part (see `admit`).
                parking_lot::MutexGuard::unlock_fair(mempool);
            }
            let evicted = {
                let mut mempool = shared.mempool.lock();
                let evicted = mempool.finish_finalized(step);
                mempool.on_finalized_height(height);
                shared.metrics.mempool_txs.set(mempool.len() as i64);
                evicted
            };
            if !evicted.is_empty() {
                warn!(target: "weft::consensus", count = evicted.len(), height, "evicted pending transactions made stale by finalized nonces");
            }
            shared
                .store
                .drop_pending(&evicted)
                .expect("dropping stale pending transactions failed");
            shared
                .metrics
                .finalized_txs
                .inc_by(block.header.tx_count as u64);
            shared.metrics.finalized_height.set(height as i64);
            debug!(target: "weft::consensus", height, txs = block.header.tx_count, digest = %block.digest(), "finalized");
        }
        // Persisted, so the next epoch may start from it (epochs rule 2). Sent again for a
        // redelivered block: the epochs loop skips boundaries it has crossed.
        if let Some(boundary) = crate::epochs::boundary_after(&epocher, height, block.digest().0) {
            if boundaries.unbounded_send(boundary).is_err() {
                return;
            }
        }
        ack.acknowledge();
    }
}
