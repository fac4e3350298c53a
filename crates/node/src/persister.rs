//! Group commit of acknowledged submissions, and the one place receipts are signed.
//!
//! A submission is acknowledged only after it is in the durable pending log. One fsync per
//! submission would cap a validator at a few hundred submissions per second, so a dedicated
//! thread drains every waiting submission, writes them in one transaction, then releases
//! all their acknowledgements.
//!
//! The same thread holds the validator's key for pre-confirmations: it signs the batch's
//! promises, writes the receipts in the same transaction as the pending transactions, and
//! only after that commit returns hands the receipts back. No receipt leaves the node that a
//! crash could make it forget (its promise is still owed after a restart).

use futures::channel::oneshot;
use std::sync::{mpsc, Arc};
use weft_storage::Store;
use weft_types::{Promise, Receipt, SigningKey, Transaction};

/// Most submissions written in one commit.
pub const GROUP_COMMIT_TXS_MAX: usize = 65_536;

type Request = (
    Vec<Transaction>,
    Vec<Promise>,
    oneshot::Sender<Vec<Receipt>>,
);

/// Handle to the persister thread.
#[derive(Clone)]
pub struct Persister {
    sender: mpsc::Sender<Request>,
    metrics: crate::metrics::Metrics,
}

impl Persister {
    /// Starts the thread; it signs receipts with `key`.
    pub fn start(store: Arc<Store>, key: SigningKey, metrics: crate::metrics::Metrics) -> Self {
        let (sender, receiver) = mpsc::channel::<Request>();
        let thread_metrics = metrics.clone();
        std::thread::Builder::new()
            .name("weft-persister".into())
            .spawn(move || {
                while let Ok(first) = receiver.recv() {
                    let mut batch = vec![first];
                    let mut count = batch[0].0.len() + batch[0].1.len();
                    while count < GROUP_COMMIT_TXS_MAX {
                        match receiver.try_recv() {
                            Ok(next) => {
                                count += next.0.len() + next.1.len();
                                batch.push(next);
                            }
                            Err(_) => break,
                        }
                    }
                    let started = std::time::Instant::now();
                    thread_metrics.group_commit_items.observe(count as f64);
                    let signed: Vec<Vec<Receipt>> = batch
                        .iter_mut()
                        .map(|(_, promises, _)| {
                            std::mem::take(promises)
                                .into_iter()
                                .map(|p| p.sign(&key))
                                .collect()
                        })
                        .collect();
                    let txs: Vec<Transaction> = batch
                        .iter()
                        .flat_map(|(t, _, _)| t.iter().cloned())
                        .collect();
                    let receipts: Vec<Receipt> = signed.iter().flatten().cloned().collect();
                    // Losing acknowledged submissions or signed receipts is not an option:
                    // nothing in this batch is released, and the panic stops the whole node
                    // (see `fatal`).
                    if let Err(e) = store.persist_pending_with_receipts(&txs, &receipts) {
                        panic!(
                            "persisting {} submissions and {} receipts failed: {e}",
                            txs.len(),
                            receipts.len()
                        );
                    }
                    thread_metrics
                        .group_commit_seconds
                        .observe(started.elapsed().as_secs_f64());
                    for ((_, _, done), receipts) in batch.into_iter().zip(signed) {
                        let _ = done.send(receipts);
                    }
                }
            })
            .expect("spawning the persister thread failed");
        Self { sender, metrics }
    }

    /// Durably records `txs` and signs `promises`; resolves, once both are on disk, to the
    /// receipts in the order of `promises`.
    pub async fn persist(&self, txs: Vec<Transaction>, promises: Vec<Promise>) -> Vec<Receipt> {
        if txs.is_empty() && promises.is_empty() {
            return Vec::new();
        }
        let (done, wait) = oneshot::channel();
        let started = std::time::Instant::now();
        self.sender
            .send((txs, promises, done))
            .expect("persister thread stopped");
        let receipts = wait.await.expect("persister thread stopped");
        self.metrics
            .persist_wait_seconds
            .observe(started.elapsed().as_secs_f64());
        receipts
    }
}
