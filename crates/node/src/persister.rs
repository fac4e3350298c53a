//! Group commit of acknowledged submissions, and the one place receipts are signed.
//!
//! A submission is acknowledged only after it is in the durable pending log. One fsync per
//! submission would cap a validator at a few hundred submissions per second, so a dedicated
//! thread drains every waiting submission, writes them in one transaction, then releases
//! all their acknowledgements.
//!
//! Receipts are signed here, and only here, by [`Persister::persist`]: before the request
//! reaches the writer, so signing runs in parallel across submissions instead of in the
//! writer's serial loop, and the signed receipts go into the write with their transactions.
//! An express request's receipts are signed in the submitting task; a bulk request's (up to
//! a batch's worth, milliseconds of work) on the bulk pool, below the receipt path's
//! priority (see `bulk`). They come back
//! out only after that commit returns: no receipt leaves the node that a crash could make
//! it forget (its promise is still owed after a restart).
//!
//! Rules that keep a lone submission's acknowledgement fast under bulk load (numbered as
//! enforced below):
//! 1. a request of at most [`EXPRESS_ITEMS_MAX`] items (transactions plus receipts) is
//!    express: it goes to the express lane's writer thread and database
//!    ([`weft_storage::AckLane`]), so it never waits for a bulk batch's write;
//! 2. one commit holds at most [`GROUP_COMMIT_ITEMS_MAX`] items (a request is never split,
//!    so one larger request is a commit of its own): a request waits for the commit in
//!    progress on its lane and then its own group's, not for the lane's whole backlog.

use futures::channel::oneshot;
use std::collections::VecDeque;
use std::sync::{mpsc, Arc};
use weft_storage::{AckLane, Store};
use weft_types::{Promise, Receipt, SigningKey, Transaction};

/// Most items (transactions plus receipts) in one commit (rule 2). Writing 1,024 items takes
/// about 20 ms on the development machine's disk, idle (`cargo run --release -p
/// weft-storage --example ack_commit`).
pub const GROUP_COMMIT_ITEMS_MAX: usize = 1_024;

/// Most items in an express request (rule 1): a few orders sent one by one, not a batch
/// (a lone transaction and its receipt are two).
pub const EXPRESS_ITEMS_MAX: usize = 16;

/// Most requests taken off the channel per pass (the rest wait in the channel): bounds the
/// writer's own queues.
const DRAIN_REQUESTS_MAX: usize = 4_096;

/// Transactions to log, the receipts signed for them, and where to send the receipts back.
type Request = (
    Vec<Transaction>,
    Vec<Receipt>,
    oneshot::Sender<Vec<Receipt>>,
);

fn items(r: &Request) -> usize {
    r.0.len() + r.1.len()
}

/// Handle to the persister's writer threads, one per lane.
#[derive(Clone)]
pub struct Persister {
    bulk: mpsc::Sender<Request>,
    express: mpsc::Sender<Request>,
    key: Arc<SigningKey>,
    /// Signs bulk requests' receipts.
    bulk_pool: crate::bulk::BulkPool,
    metrics: crate::metrics::Metrics,
}

impl Persister {
    /// Starts the writer threads; receipts are signed with `key`, a bulk request's on
    /// `bulk_pool`. Both writers keep the node's priority: each holds its database's write
    /// lock, which the finalizer and the gossip loop take to clean up (`bulk` rule 2).
    pub fn start(
        store: Arc<Store>,
        key: SigningKey,
        bulk_pool: crate::bulk::BulkPool,
        metrics: crate::metrics::Metrics,
    ) -> Self {
        let start = |lane: AckLane, name: &str| {
            let (sender, receiver) = mpsc::channel::<Request>();
            let (store, metrics) = (store.clone(), metrics.clone());
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || writer(lane, store, receiver, metrics))
                .expect("spawning a persister thread failed");
            sender
        };
        Self {
            bulk: start(AckLane::Bulk, "weft-persister"),
            express: start(AckLane::Express, "weft-persist-x"),
            key: Arc::new(key),
            bulk_pool,
            metrics,
        }
    }

    /// Signs `promises`, durably records `txs` and the receipts, and resolves, once both are
    /// on disk, to the receipts in the order of `promises`.
    pub async fn persist(&self, txs: Vec<Transaction>, promises: Vec<Promise>) -> Vec<Receipt> {
        if txs.is_empty() && promises.is_empty() {
            return Vec::new();
        }
        let started = std::time::Instant::now();
        // Rule 1.
        let lane = lane_for(txs.len(), promises.len());
        let receipts: Vec<Receipt> = match lane {
            AckLane::Express => promises.into_iter().map(|p| p.sign(&self.key)).collect(),
            AckLane::Bulk => {
                let key = self.key.clone();
                self.bulk_pool
                    .run(crate::bulk::Class::Sign, move || {
                        promises.into_iter().map(|p| p.sign(&key)).collect()
                    })
                    .await
            }
        };
        let (done, wait) = oneshot::channel();
        let request = (txs, receipts, done);
        let sender = match lane {
            AckLane::Express => &self.express,
            AckLane::Bulk => &self.bulk,
        };
        sender.send(request).expect("persister thread stopped");
        let receipts = wait.await.expect("persister thread stopped");
        self.metrics
            .persist_wait_seconds(lane)
            .observe(started.elapsed().as_secs_f64());
        receipts
    }
}

/// The lane of a request of `txs` transactions and `receipts` receipts (rule 1).
pub fn lane_for(txs: usize, receipts: usize) -> AckLane {
    if txs + receipts <= EXPRESS_ITEMS_MAX {
        AckLane::Express
    } else {
        AckLane::Bulk
    }
}

/// One lane's writer loop: takes what waits, commits it in groups of at most
/// [`GROUP_COMMIT_ITEMS_MAX`] items, and releases each group's receipts after its commit.
fn writer(
    lane: AckLane,
    store: Arc<Store>,
    receiver: mpsc::Receiver<Request>,
    metrics: crate::metrics::Metrics,
) {
    let mut queue: VecDeque<Request> = VecDeque::new();
    loop {
        if queue.is_empty() {
            match receiver.recv() {
                Ok(r) => queue.push_back(r),
                Err(_) => return,
            }
        }
        for _ in 0..DRAIN_REQUESTS_MAX {
            match receiver.try_recv() {
                Ok(r) => queue.push_back(r),
                Err(_) => break,
            }
        }
        let group = take_group(&mut queue, items);
        let count: usize = group.iter().map(items).sum();
        let started = std::time::Instant::now();
        metrics.group_commit_items(lane).observe(count as f64);
        let txs: Vec<Transaction> = group
            .iter()
            .flat_map(|(t, _, _)| t.iter().cloned())
            .collect();
        let receipts: Vec<Receipt> = group
            .iter()
            .flat_map(|(_, r, _)| r.iter().cloned())
            .collect();
        // Losing acknowledged submissions or signed receipts is not an option: nothing in
        // this group is released, and the panic stops the whole node (see `fatal`).
        if let Err(e) = store.persist_pending_with_receipts(lane, &txs, &receipts) {
            panic!(
                "persisting {} submissions and {} receipts failed: {e}",
                txs.len(),
                receipts.len()
            );
        }
        metrics
            .group_commit_seconds(lane)
            .observe(started.elapsed().as_secs_f64());
        for (_, receipts, done) in group {
            let _ = done.send(receipts);
        }
    }
}

/// The next commit's requests: in order, while the group stays within
/// [`GROUP_COMMIT_ITEMS_MAX`] items (rule 2; a first request larger than that is taken
/// alone).
fn take_group<R>(queue: &mut VecDeque<R>, size: impl Fn(&R) -> usize) -> Vec<R> {
    let mut group = Vec::new();
    let mut count = 0;
    while let Some(next) = queue.front() {
        if !group.is_empty() && count + size(next) > GROUP_COMMIT_ITEMS_MAX {
            break;
        }
        count += size(next);
        group.push(queue.pop_front().expect("front exists"));
    }
    group
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Groups of request sizes, as a lane's writer would commit them.
    fn groups(sizes: &[usize]) -> Vec<Vec<usize>> {
        let mut queue: VecDeque<usize> = sizes.iter().copied().collect();
        let mut out = Vec::new();
        while !queue.is_empty() {
            out.push(take_group(&mut queue, |n| *n));
        }
        out
    }

    #[test]
    fn lone_requests_are_express_and_groups_are_bounded() {
        // Rule 1: a lone order and its receipt are express; a batch is bulk.
        assert_eq!(lane_for(1, 1), AckLane::Express);
        assert_eq!(lane_for(EXPRESS_ITEMS_MAX, 0), AckLane::Express);
        assert_eq!(
            lane_for(EXPRESS_ITEMS_MAX / 2, EXPRESS_ITEMS_MAX / 2),
            AckLane::Express
        );
        assert_eq!(
            lane_for(EXPRESS_ITEMS_MAX / 2 + 1, EXPRESS_ITEMS_MAX / 2),
            AckLane::Bulk
        );
        assert_eq!(lane_for(EXPRESS_ITEMS_MAX + 1, 0), AckLane::Bulk);
        // Rule 2: small requests share a commit up to the bound, no further.
        assert_eq!(
            groups(&[500, 500, 24, 1]),
            vec![vec![500, 500, 24], vec![1]]
        );
        // A request larger than the bound is never split: it is a commit of its own.
        assert_eq!(groups(&[1, 5_000, 3]), vec![vec![1], vec![5_000], vec![3]]);
    }
}
