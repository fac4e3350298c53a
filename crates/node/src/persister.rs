//! Group commit of acknowledged submissions, and the one place receipts are signed.
//!
//! A submission is acknowledged only after it is in the durable pending log. One fsync per
//! submission would cap a validator at a few hundred submissions per second, so a dedicated
//! thread drains every waiting submission, writes them in one transaction, then releases
//! all their acknowledgements.
//!
//! Receipts are signed here, and only here, by [`Persister::persist`]: in the submitting
//! task, so signing runs in parallel across submissions instead of in the writer's serial
//! loop, and the signed receipts go into the write with their transactions. They come back
//! out only after that commit returns: no receipt leaves the node that a crash could make
//! it forget (its promise is still owed after a restart).
//!
//! Rules that keep a lone submission's acknowledgement fast under bulk load (numbered as
//! enforced below):
//! 1. a request of at most [`EXPRESS_ITEMS_MAX`] items (transactions plus receipts) is
//!    express: every waiting express request is written before any bulk one;
//! 2. one commit holds at most [`GROUP_COMMIT_ITEMS_MAX`] items (a request is never split,
//!    so one larger request is a commit of its own): an express request that arrives during
//!    a bulk commit waits for that one commit only, not for the whole backlog.

use futures::channel::oneshot;
use std::collections::VecDeque;
use std::sync::{mpsc, Arc};
use weft_storage::Store;
use weft_types::{Promise, Receipt, SigningKey, Transaction};

/// Most items (transactions plus receipts) in one commit (rule 2). Writing 1,024 items takes
/// about 20 ms on the devnet's disk (`cargo run --release -p weft-storage --example
/// ack_commit`): the longest an express request waits for a bulk commit in progress.
pub const GROUP_COMMIT_ITEMS_MAX: usize = 1_024;

/// Most items in an express request (rule 1): a few orders sent one by one, not a batch.
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

/// Handle to the persister thread.
#[derive(Clone)]
pub struct Persister {
    sender: mpsc::Sender<Request>,
    key: Arc<SigningKey>,
    metrics: crate::metrics::Metrics,
}

impl Persister {
    /// Starts the writer thread; receipts are signed with `key`.
    pub fn start(store: Arc<Store>, key: SigningKey, metrics: crate::metrics::Metrics) -> Self {
        let (sender, receiver) = mpsc::channel::<Request>();
        let thread_metrics = metrics.clone();
        std::thread::Builder::new()
            .name("weft-persister".into())
            .spawn(move || writer(store, receiver, thread_metrics))
            .expect("spawning the persister thread failed");
        Self {
            sender,
            key: Arc::new(key),
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
        let receipts: Vec<Receipt> = promises.into_iter().map(|p| p.sign(&self.key)).collect();
        let (done, wait) = oneshot::channel();
        self.sender
            .send((txs, receipts, done))
            .expect("persister thread stopped");
        let receipts = wait.await.expect("persister thread stopped");
        self.metrics
            .persist_wait_seconds
            .observe(started.elapsed().as_secs_f64());
        receipts
    }
}

/// The writer loop: takes what waits, commits express requests first and bulk ones in
/// groups of at most [`GROUP_COMMIT_ITEMS_MAX`] items, and releases each group's receipts
/// after its commit.
fn writer(store: Arc<Store>, receiver: mpsc::Receiver<Request>, metrics: crate::metrics::Metrics) {
    let mut express: VecDeque<Request> = VecDeque::new();
    let mut bulk: VecDeque<Request> = VecDeque::new();
    loop {
        if express.is_empty() && bulk.is_empty() {
            match receiver.recv() {
                Ok(r) => lane(&mut express, &mut bulk, r),
                Err(_) => return,
            }
        }
        for _ in 0..DRAIN_REQUESTS_MAX {
            match receiver.try_recv() {
                Ok(r) => lane(&mut express, &mut bulk, r),
                Err(_) => break,
            }
        }
        let group = take_group(&mut express, &mut bulk, items);
        let count: usize = group.iter().map(items).sum();
        let started = std::time::Instant::now();
        metrics.group_commit_items.observe(count as f64);
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
        if let Err(e) = store.persist_pending_with_receipts(&txs, &receipts) {
            panic!(
                "persisting {} submissions and {} receipts failed: {e}",
                txs.len(),
                receipts.len()
            );
        }
        metrics
            .group_commit_seconds
            .observe(started.elapsed().as_secs_f64());
        for (_, receipts, done) in group {
            let _ = done.send(receipts);
        }
    }
}

/// The next commit's requests: express ones first (rule 1), then bulk ones while the group
/// stays within [`GROUP_COMMIT_ITEMS_MAX`] items (rule 2; a first request larger than that is
/// taken alone).
fn take_group<R>(
    express: &mut VecDeque<R>,
    bulk: &mut VecDeque<R>,
    size: impl Fn(&R) -> usize,
) -> Vec<R> {
    let mut group = Vec::new();
    let mut count = 0;
    for queue in [express, bulk] {
        while let Some(next) = queue.front() {
            if !group.is_empty() && count + size(next) > GROUP_COMMIT_ITEMS_MAX {
                return group;
            }
            count += size(next);
            group.push(queue.pop_front().expect("front exists"));
        }
    }
    group
}

fn lane(express: &mut VecDeque<Request>, bulk: &mut VecDeque<Request>, r: Request) {
    if items(&r) <= EXPRESS_ITEMS_MAX {
        express.push_back(r);
    } else {
        bulk.push_back(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Groups of request sizes, as the writer would commit them.
    fn groups(express: &[usize], bulk: &[usize]) -> Vec<Vec<usize>> {
        let (mut e, mut b): (VecDeque<usize>, VecDeque<usize>) = (
            express.iter().copied().collect(),
            bulk.iter().copied().collect(),
        );
        let mut out = Vec::new();
        while !e.is_empty() || !b.is_empty() {
            out.push(take_group(&mut e, &mut b, |n| *n));
        }
        out
    }

    #[test]
    fn express_requests_go_first_and_bulk_groups_are_bounded() {
        // Rule 1: the lone submissions are in the first commit, ahead of the backlog.
        assert_eq!(
            groups(&[2, 2], &[600, 600, 600]),
            vec![vec![2, 2, 600], vec![600], vec![600]]
        );
        // Rule 2: small bulk requests share a commit up to the bound, no further.
        assert_eq!(
            groups(&[], &[500, 500, 24, 1]),
            vec![vec![500, 500, 24], vec![1]]
        );
        // A request larger than the bound is never split: it is a commit of its own.
        assert_eq!(
            groups(&[1], &[5_000, 3]),
            vec![vec![1], vec![5_000], vec![3]]
        );
        let (mut e, mut b) = (VecDeque::new(), VecDeque::new());
        lane(
            &mut e,
            &mut b,
            (Vec::new(), Vec::new(), oneshot::channel().0),
        );
        assert_eq!((e.len(), b.len()), (1, 0), "an empty request is express");
    }
}
