//! The validator's implementation of the RPC server's [`NodeApi`].

use crate::persister::Persister;
use futures::future::BoxFuture;
use std::sync::Arc;
use weft_consensus::{ChainState, Shared};
use weft_mempool::{AdmitError, Status};
use weft_rpc::NodeApi;
use weft_storage::Store;
use weft_types::{Transaction, TxHash};

pub(crate) struct Api {
    pub shared: Arc<Shared>,
    pub persister: Persister,
    pub validators: Vec<weft_types::VerifyingKey>,
    pub chain: weft_types::ChainId,
}

impl NodeApi for Api {
    fn submit(
        &self,
        txs: Vec<Result<Transaction, AdmitError>>,
    ) -> BoxFuture<'static, Vec<Result<TxHash, AdmitError>>> {
        let shared = self.shared.clone();
        let persister = self.persister.clone();
        Box::pin(async move {
            // Stateless checks first, signatures in one batch, all outside the mempool lock.
            let mut results: Vec<Result<Transaction, AdmitError>> = txs
                .into_iter()
                .map(|r| {
                    r.and_then(|tx| {
                        tx.check_size(&shared.limits)
                            .map(|_| tx)
                            .map_err(AdmitError::from)
                    })
                })
                .collect();
            let candidates: Vec<&Transaction> =
                results.iter().filter_map(|r| r.as_ref().ok()).collect();
            let flags = Transaction::verify_signatures(&candidates, &shared.chain);
            let mut flags = flags.into_iter();
            for r in results.iter_mut() {
                if let Ok(tx) = r {
                    if !flags.next().expect("one flag per candidate") {
                        *r = Err(AdmitError::Invalid(weft_types::TxError::BadSignature {
                            sender: weft_types::to_hex(tx.sender().as_ref()),
                        }));
                    }
                }
            }
            // Facts are read outside the mempool lock (see `weft_consensus::admit`).
            let mut slots = Vec::with_capacity(results.len());
            let mut verified = Vec::new();
            for r in results {
                match r {
                    Ok(tx) => {
                        slots.push(None);
                        verified.push(tx);
                    }
                    Err(e) => slots.push(Some(Err(e))),
                }
            }
            let (admitted_results, admitted) = weft_consensus::admit(&shared, verified, true);
            let mut admitted_results = admitted_results.into_iter();
            let out: Vec<Result<TxHash, AdmitError>> = slots
                .into_iter()
                .map(|slot| {
                    slot.unwrap_or_else(|| {
                        admitted_results
                            .next()
                            .expect("one result per verified transaction")
                    })
                })
                .collect();
            // Acknowledge only what is on disk.
            persister.persist(admitted).await;
            out
        })
    }

    fn pending_status(&self, hash: &TxHash) -> Option<Status> {
        self.shared
            .mempool
            .lock()
            .expect("mempool lock")
            .status(hash)
    }

    fn next_nonce(&self, sender: &[u8; 32]) -> u64 {
        let chain = ChainState(&self.shared.store);
        self.shared
            .mempool
            .lock()
            .expect("mempool lock")
            .next_nonce(sender, &chain)
    }

    fn validators(&self) -> Vec<weft_types::VerifyingKey> {
        self.validators.clone()
    }

    fn chain_id(&self) -> weft_types::ChainId {
        self.chain
    }

    fn store(&self) -> &Store {
        &self.shared.store
    }
}
