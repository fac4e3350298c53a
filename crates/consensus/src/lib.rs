//! Order Weft blocks with Byzantine-fault-tolerant consensus.
//!
//! This crate is the only place Commonware's consensus types appear. It runs `simplex`
//! (ed25519 votes, round-robin leaders; safe while fewer than a third of validators are
//! faulty) driven through `marshal`, which broadcasts full blocks, backfills missing ones and
//! delivers finalized blocks in height order. Weft plugs in:
//! - [`App`]: block building from the mempool and block verification (rules in [`app`]);
//! - the finalizer: persists each finalized block before acknowledging it to marshal;
//! - [`gossip`]: spreads client transactions to every validator.
//!
//! [`start`] assembles one validator over any Commonware runtime and any p2p network, so the
//! same code runs in production (tokio, authenticated TCP) and under the deterministic
//! simulator (virtual time, simulated links).

pub mod admit;
pub mod app;
mod block;
#[cfg(feature = "byzantine")]
pub mod byzantine;
mod config;
mod engine;
pub mod epochs;
mod finalizer;
pub mod gossip;
mod metrics;

pub use admit::{admit, admit_bundle, admit_promising, Admitted};
pub use app::App;
pub use block::ConsensusBlock;
pub use config::{
    Config, DEFAULT_BLOCK_INTERVAL_MS, DEFAULT_BLOCK_TXS_TARGET, DEFAULT_CERTIFICATION_TIMEOUT_MS,
    DEFAULT_LEADER_TIMEOUT_MS, DEFAULT_MAILBOX_SIZE, DEFAULT_TIMEOUT_RETRY_MS,
};
pub use engine::{
    start, Channels, Identity, Running, Stopped, CHANNELS, CHANNEL_BACKFILL, CHANNEL_BLOCKS,
    CHANNEL_CERTIFICATES, CHANNEL_RESOLVER, CHANNEL_TXS, CHANNEL_VOTES,
};
pub use metrics::Metrics;
pub use weft_finality::{
    consensus_namespace, verify_finalization, CertificateError, Finality, CONSENSUS_NAMESPACE,
};

use std::sync::{Arc, Mutex};
use weft_mempool::{ChainView, Mempool};
use weft_storage::Store;
use weft_types::{Limits, TxHash, VerifyingKey};

/// Runs bulk CPU work somewhere other than the calling task (the node's bulk pool).
///
/// Only work that takes no lock the receipt path needs belongs here: a job on a thread the
/// CPU serves last must not hold what a lone order waits for (priority inversion). Signature
/// checks qualify; admission, which takes the mempool lock, does not.
pub trait Offload: Send + Sync {
    /// Runs `job` and resolves once it has run.
    fn run(&self, job: Box<dyn FnOnce() + Send>) -> futures::future::BoxFuture<'static, ()>;
}

/// Most items one [`Shared::read_mempool`] reads under one hold of the mempool lock.
pub const MEMPOOL_READ_LOCK_ITEMS_MAX: usize = 256;

/// State shared by consensus, gossip and the RPC server of one validator.
pub struct Shared {
    /// Pending transactions. A `parking_lot` mutex: a loop that takes it in parts unlocks
    /// fairly (the lock goes to a waiter, not back to the loop), and it turns fair by itself
    /// for a waiter that has waited 0.5 ms, so a lone order's admission is never starved by
    /// a thread that keeps taking it.
    pub mempool: parking_lot::Mutex<Mempool>,
    /// Finalized chain.
    pub store: Arc<Store>,
    /// Wire limits (from genesis).
    pub limits: Limits,
    /// The chain this validator runs: every transaction signature is checked in its domain.
    pub chain: weft_types::ChainId,
    /// Consensus configuration.
    pub consensus: Config,
    /// Metrics.
    pub metrics: Metrics,
    /// Keeps registered metrics alive.
    pub registered: Mutex<Vec<Box<dyn std::any::Any + Send + Sync>>>,
    /// Highest block height this validator has proposed or verified as valid, or seen
    /// finalized by a certificate (marshal's tip): how far the chain's tip is known to be. A pre-confirmation issuer whose finalized head trails it
    /// by more than `PRECONF_LAG_HEIGHTS_MAX` is catching up and must not issue.
    pub tip_seen: std::sync::atomic::AtomicU64,
    /// When (ms since the epoch, on the runtime's clock) `tip_seen` last advanced or was
    /// confirmed: a validator that has not seen a proposal lately (just restarted, or cut
    /// off) cannot tell how far the chain is, and must not issue.
    pub tip_seen_at_ms: std::sync::atomic::AtomicU64,
    /// The mempool's `outbox_seq` up to which every local admission has been handed to at
    /// least `f + 1` peers (gossip rule 5). A pre-confirmation issuer admits, reads the
    /// mempool's `outbox_seq`, wakes the gossip loop ([`Shared::gossip_wake`]) and releases
    /// its receipts only once this reaches it, so the transaction has left for the other
    /// validators before anyone holds the receipt (see `weft_types::receipt`).
    pub gossip_spread: tokio::sync::watch::Sender<u64>,
    /// Wakes the gossip loop before its interval: a submission waiting for its receipt
    /// should not wait for a timer.
    pub gossip_wake: tokio::sync::Notify,
    /// Which peers acknowledged holding which transactions (gossip rule 6): a receipt is
    /// released once `f + 1` peers hold its transaction ([`Shared::held_by_enough`]).
    pub holders: gossip::Holders,
    /// Signatures this validator saw pass and sender keys it decompressed: a transaction
    /// verified in a block is not verified again when its gossip copy arrives
    /// ([`weft_types::SignatureCache`]). Check through [`Shared::verify_signatures`].
    pub signatures: weft_types::SignatureCache,
    /// Where bulk CPU work runs (verifying peers' gossip): the node runs it on threads of
    /// lowered priority, so it yields the CPU to votes and to the receipt path. Unset (tests,
    /// the simulator), it runs inline. See [`Shared::offload`].
    pub bulk: std::sync::OnceLock<Arc<dyn Offload>>,
    /// Every epoch's validator set and what boundary blocks announce (block rule 10); set by
    /// [`start`].
    pub schedule: std::sync::OnceLock<Arc<epochs::Schedule>>,
    /// A simulated Byzantine leader's rewrite of its own proposals (feature `byzantine`).
    #[cfg(feature = "byzantine")]
    pub misbehaviour: std::sync::OnceLock<byzantine::ByzantineLeader>,
}

impl Shared {
    /// Runs `f` where [`Shared::bulk`] says, inline if nowhere, and returns its result; a
    /// panic in `f` resumes here.
    pub async fn offload<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let Some(bulk) = self.bulk.get() else {
            return f();
        };
        let (done, result) = futures::channel::oneshot::channel();
        bulk.run(Box::new(move || {
            let _ = done.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
        }))
        .await;
        match result.await.expect("a bulk job ran without answering") {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// `f` of each item, read from the mempool in parts of at most
    /// [`MEMPOOL_READ_LOCK_ITEMS_MAX`] items, one hold of its lock each: a read over a block
    /// or a batch never keeps a lone order's admission waiting for all of it (a thread can
    /// lose its CPU while it holds the lock).
    pub fn read_mempool<I, T>(&self, items: &[I], f: impl Fn(&Mempool, &I) -> T) -> Vec<T> {
        let mut out = Vec::with_capacity(items.len());
        for part in items.chunks(MEMPOOL_READ_LOCK_ITEMS_MAX) {
            let mempool = self.mempool.lock();
            out.extend(part.iter().map(|i| f(&mempool, i)));
            // To a waiter first, not to this loop's next part (see `admit`).
            parking_lot::MutexGuard::unlock_fair(mempool);
        }
        out
    }

    /// Checks the signatures of `txs` in this chain's domain, skipping those already seen
    /// pass: one flag per transaction, as [`weft_types::Transaction::verify_signatures`].
    pub fn verify_signatures(&self, txs: &[&weft_types::Transaction]) -> Vec<bool> {
        let (flags, stats) = self.signatures.verify(txs, &self.chain);
        self.metrics.signatures_checked.inc_by(stats.checked);
        self.metrics.signatures_skipped.inc_by(stats.skipped);
        flags
    }

    /// A validator's shared state, with nothing seen and nothing gossiped yet.
    pub fn new(
        mempool: Mempool,
        store: Arc<Store>,
        limits: Limits,
        chain: weft_types::ChainId,
        consensus: Config,
    ) -> Self {
        Self {
            mempool: parking_lot::Mutex::new(mempool),
            store,
            limits,
            chain,
            consensus,
            metrics: Default::default(),
            registered: Default::default(),
            tip_seen: Default::default(),
            tip_seen_at_ms: Default::default(),
            gossip_spread: Default::default(),
            gossip_wake: Default::default(),
            holders: Default::default(),
            signatures: Default::default(),
            bulk: Default::default(),
            schedule: Default::default(),
            #[cfg(feature = "byzantine")]
            misbehaviour: Default::default(),
        }
    }

    /// Whether enough validators acknowledged holding every one of `hashes` for them to be
    /// promised with a receipt whose deadline is `deadline` (gossip rule 6): `f + 1` of the
    /// current epoch's validators other than this one, at least one of them honest (capped
    /// by the peers there are), and as many of the next epoch's when the deadline lies in
    /// it (the current set's holders may all leave at the boundary, and the next set's
    /// proposers stop tracking them). Acks from anyone outside the set counted do not count
    /// for it: a Byzantine one could ack what it dropped. Before consensus starts, any one
    /// peer.
    pub fn held_by_enough(&self, hashes: &[TxHash], deadline: u64) -> bool {
        let Some(schedule) = self.schedule.get() else {
            return hashes.iter().all(|h| self.holders.count(h, |_| true) >= 1);
        };
        let epoch = schedule.epoch_after(self.store.head_height().unwrap_or(0));
        let last = schedule.epoch_after(deadline.saturating_sub(1));
        let mut epochs = vec![epoch];
        if last > epoch {
            epochs.push(commonware_consensus::types::Epoch::new(epoch.get() + 1));
        }
        epochs.into_iter().all(|e| {
            let Some(set) = schedule.participants(e) else {
                return false;
            };
            let n = set.len();
            let need = (n.saturating_sub(1) / 3 + 1).min(n.saturating_sub(1));
            let member =
                |k: &VerifyingKey| commonware_utils::ordered::Quorum::index(&set, k).is_some();
            hashes.iter().all(|h| self.holders.count(h, member) >= need)
        })
    }

    /// Records a block at `height` proposed or verified at `now_ms`.
    pub fn saw_tip(&self, height: u64, now_ms: u64) {
        use std::sync::atomic::Ordering;
        self.tip_seen.fetch_max(height, Ordering::Relaxed);
        self.tip_seen_at_ms.fetch_max(now_ms, Ordering::Relaxed);
    }
}

/// [`ChainView`] over the store.
pub struct ChainState<'a>(pub &'a Store);

impl ChainView for ChainState<'_> {
    fn finalized_nonce(&self, sender: &[u8; 32]) -> Option<u64> {
        // A failing read of our own database is fatal: continuing would decide on wrong state.
        self.0.sender_nonce(sender).expect("store read failed")
    }
    fn finalized_height(&self, hash: &TxHash) -> Option<u64> {
        self.0
            .tx_location(hash)
            .expect("store read failed")
            .map(|l| l.height)
    }
}

/// The p2p message cap a network of `validators` needs: the largest of a vote, a
/// certificate, a full block (with backfill framing) and a gossip batch.
pub fn max_message_size(validators: usize, limits: &Limits) -> u32 {
    use commonware_consensus::{
        marshal::{self, standard::Standard},
        simplex::{self, scheme::ed25519},
    };
    let n = validators as u32;
    commonware_p2p::max_message_size(&[
        // Votes and certificates travel on a subchannel per epoch (`epochs` rule 3).
        commonware_p2p::utils::mux::prefixed(simplex::max_payload_size::<
            ed25519::Scheme,
            weft_types::Digest,
        >(n)),
        marshal::max_payload_size::<Standard<ConsensusBlock>, ed25519::Scheme>(n, limits),
        limits.block_bytes_max / 2 + 64,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs each job on a thread of its own, as the node's bulk pool would.
    struct OtherThread;
    impl Offload for OtherThread {
        fn run(&self, job: Box<dyn FnOnce() + Send>) -> futures::future::BoxFuture<'static, ()> {
            let (done, finished) = futures::channel::oneshot::channel();
            std::thread::spawn(move || {
                job();
                let _ = done.send(());
            });
            Box::pin(async move {
                let _ = finished.await;
            })
        }
    }

    fn shared() -> (tempfile::TempDir, Shared) {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits::default();
        let store = Arc::new(Store::open(dir.path().join("s.redb"), limits).unwrap());
        let chain = weft_types::ChainId(weft_types::sha256(&[b"offload tests"]));
        let shared = Shared::new(
            Mempool::new(Default::default(), limits),
            store,
            limits,
            chain,
            Default::default(),
        );
        (dir, shared)
    }

    #[test]
    fn offloaded_work_runs_where_bulk_says_and_panics_come_back() {
        let (_dir, shared) = shared();
        let here = std::thread::current().id();
        let ran_on = futures::executor::block_on(shared.offload(|| std::thread::current().id()));
        assert_eq!(ran_on, here, "with no bulk runner, work runs inline");
        assert!(shared.bulk.set(Arc::new(OtherThread)).is_ok());
        let ran_on = futures::executor::block_on(shared.offload(|| std::thread::current().id()));
        assert_ne!(ran_on, here, "with a bulk runner, work runs on it");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            futures::executor::block_on(shared.offload(|| -> u8 { panic!("bulk job") }))
        }));
        assert!(panicked.is_err(), "a bulk job's panic was swallowed");
    }
}
