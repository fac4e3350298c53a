//! Group commit of acknowledged submissions.
//!
//! A submission is acknowledged only after it is in the durable pending log. One fsync per
//! submission would cap a validator at a few hundred submissions per second, so a dedicated
//! thread drains every waiting submission, writes them in one transaction, then releases
//! all their acknowledgements.

use futures::channel::oneshot;
use std::sync::{mpsc, Arc};
use weft_storage::Store;
use weft_types::Transaction;

/// Most submissions written in one commit.
pub const GROUP_COMMIT_TXS_MAX: usize = 65_536;

type Request = (Vec<Transaction>, oneshot::Sender<()>);

/// Handle to the persister thread.
#[derive(Clone)]
pub struct Persister {
    sender: mpsc::Sender<Request>,
}

impl Persister {
    /// Starts the thread.
    pub fn start(store: Arc<Store>) -> Self {
        let (sender, receiver) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("weft-persister".into())
            .spawn(move || {
                while let Ok(first) = receiver.recv() {
                    let mut batch = vec![first];
                    let mut count = batch[0].0.len();
                    while count < GROUP_COMMIT_TXS_MAX {
                        match receiver.try_recv() {
                            Ok(next) => {
                                count += next.0.len();
                                batch.push(next);
                            }
                            Err(_) => break,
                        }
                    }
                    let txs: Vec<Transaction> =
                        batch.iter().flat_map(|(t, _)| t.iter().cloned()).collect();
                    // Losing acknowledged submissions is not an option: nothing in this batch is
                    // acknowledged, and the panic stops the whole node (see `fatal`).
                    if let Err(e) = store.persist_pending(&txs) {
                        panic!("persisting {} submissions failed: {e}", txs.len());
                    }
                    for (_, done) in batch {
                        let _ = done.send(());
                    }
                }
            })
            .expect("spawning the persister thread failed");
        Self { sender }
    }

    /// Durably records `txs`; resolves once they are on disk.
    pub async fn persist(&self, txs: Vec<Transaction>) {
        if txs.is_empty() {
            return;
        }
        let (done, wait) = oneshot::channel();
        self.sender
            .send((txs, done))
            .expect("persister thread stopped");
        wait.await.expect("persister thread stopped");
    }
}
