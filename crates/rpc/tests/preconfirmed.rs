//! `weft_subscribePreconfirmed` against a real store and a real server, with the validator's
//! mempool played by the test, so the order of events is staged exactly: a promise that is
//! dropped while its subscriber is away must be reported when the subscriber resumes.

use bytes::Bytes;
use commonware_cryptography::Signer as _;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use weft_api::types::PreconfEventJson;
use weft_mempool::{AdmitError, Status};
use weft_rpc::{Accepted, NodeApi, Preconfirmed};
use weft_storage::{AckLane, Store};
use weft_types::{
    Block, Body, ChainId, Digest, NamespaceId, Promise, Receipt, SigningKey, Transaction, TxHash,
};

const NAMESPACE: u64 = 5;

fn chain() -> ChainId {
    ChainId(weft_types::sha256(&[b"preconfirmed stream tests"]))
}

/// The validator, as far as the stream sees it: a real store, and a pending set and
/// published receipts that the test moves by hand.
struct Node {
    store: Store,
    issuer: SigningKey,
    /// The "mempool": pending transactions, and which of them are promised.
    pending: Mutex<HashMap<TxHash, (Transaction, Option<Receipt>)>>,
    published: tokio::sync::broadcast::Sender<Preconfirmed>,
}

impl Node {
    /// Signs and stores a receipt for `tx` (issued at `issued`, due by `deadline`), holds
    /// `tx` pending and publishes the receipt, as the validator's acknowledgement does.
    fn promise(&self, tx: &Transaction, issued: u64, deadline: u64) -> Receipt {
        let receipt = Promise::for_tx(chain(), tx, issued, deadline, self.issuer.public_key())
            .sign(&self.issuer);
        self.store
            .persist_pending_with_receipts(
                AckLane::Express,
                std::slice::from_ref(tx),
                std::slice::from_ref(&receipt),
            )
            .unwrap();
        self.pending
            .lock()
            .unwrap()
            .insert(tx.hash(), (tx.clone(), Some(receipt.clone())));
        let _ = self
            .published
            .send(Arc::new(vec![(tx.clone(), receipt.clone())]));
        receipt
    }

    /// The mempool lets `tx` go (finalized elsewhere, its nonce taken, or evicted).
    fn forget(&self, tx: &Transaction) {
        self.pending.lock().unwrap().remove(&tx.hash());
    }

    /// Finalizes the next block with `txs`.
    fn finalize(&self, txs: Vec<Transaction>) {
        let head = self.store.head_height().unwrap();
        let parent = self.store.block(head).unwrap().unwrap();
        let block = Block::child(
            &parent,
            0,
            head + 1,
            parent.header.timestamp_ms + 1,
            self.issuer.public_key(),
            Body::from_txs(txs.clone()),
        );
        self.store.commit_finalized(&block, b"", 0).unwrap();
        for tx in &txs {
            self.forget(tx);
        }
    }
}

impl NodeApi for Node {
    fn submit(
        &self,
        txs: Vec<Result<Transaction, AdmitError>>,
    ) -> BoxFuture<'static, Vec<Result<Accepted, AdmitError>>> {
        let refused = txs
            .iter()
            .map(|_| {
                Err(AdmitError::Preconf {
                    reason: "this test node takes no submissions".into(),
                })
            })
            .collect();
        Box::pin(async move { refused })
    }

    fn submit_bundle(
        &self,
        _legs: Vec<Transaction>,
    ) -> BoxFuture<'static, Result<Vec<Accepted>, AdmitError>> {
        Box::pin(async {
            Err(AdmitError::Preconf {
                reason: "this test node takes no submissions".into(),
            })
        })
    }

    fn pending_status(&self, hash: &TxHash) -> Option<Status> {
        self.pending
            .lock()
            .unwrap()
            .contains_key(hash)
            .then_some(Status::Pending)
    }

    fn next_nonce(&self, _sender: &[u8; 32]) -> u64 {
        0
    }

    fn preconfirmed(&self) -> tokio::sync::broadcast::Receiver<Preconfirmed> {
        self.published.subscribe()
    }

    fn outstanding(&self, namespace: NamespaceId) -> Vec<(Transaction, Receipt)> {
        self.pending
            .lock()
            .unwrap()
            .values()
            .filter(|(tx, _)| tx.namespace() == namespace)
            .filter_map(|(tx, r)| r.clone().map(|r| (tx.clone(), r)))
            .collect()
    }

    fn pending_among(&self, hashes: &[TxHash]) -> Vec<bool> {
        let pending = self.pending.lock().unwrap();
        hashes.iter().map(|h| pending.contains_key(h)).collect()
    }

    fn store(&self) -> &Store {
        &self.store
    }

    fn validators(&self) -> Vec<weft_types::VerifyingKey> {
        vec![self.issuer.public_key()]
    }

    fn chain_id(&self) -> ChainId {
        chain()
    }
}

fn tx(sender: u64, nonce: u64, payload: &str) -> Transaction {
    Transaction::sign(
        &SigningKey::from_seed(sender),
        &chain(),
        NamespaceId(NAMESPACE),
        nonce,
        Bytes::from(payload.to_string()),
    )
}

/// The next event of `sub`, or a failure naming what was awaited.
async fn next(
    sub: &mut jsonrpsee::core::client::Subscription<PreconfEventJson>,
    awaiting: &str,
) -> PreconfEventJson {
    match tokio::time::timeout(Duration::from_secs(30), sub.next()).await {
        Ok(Some(Ok(event))) => event,
        other => panic!("no event while awaiting {awaiting}: {other:?}"),
    }
}

/// Events until each of `hashes` has an outcome: the `finalized` event that lists it, or a
/// `dropped` event.
async fn outcomes(
    sub: &mut jsonrpsee::core::client::Subscription<PreconfEventJson>,
    hashes: &[TxHash],
) -> HashMap<String, PreconfEventJson> {
    let wanted: Vec<String> = hashes.iter().map(|h| h.to_string()).collect();
    let mut found = HashMap::new();
    while found.len() < wanted.len() {
        let event = next(sub, &format!("outcomes of {wanted:?}, have {found:?}")).await;
        match &event {
            PreconfEventJson::Finalized { txs, .. } => {
                for h in txs.iter().filter(|h| wanted.contains(h)) {
                    found.insert(h.clone(), event.clone());
                }
            }
            PreconfEventJson::Dropped { tx, .. } if wanted.contains(tx) => {
                found.insert(tx.clone(), event.clone());
            }
            _ => {}
        }
    }
    found
}

/// A subscriber sees a promise, disconnects; while it is away the promise is dropped, once
/// because the sender finalized another transaction with its nonce and once because the
/// deadline passed without it (the issuer withheld it). Resuming from the height after the
/// last `finalized` event it saw, it is told `dropped` for each, with the reason: no entry is
/// left hanging. A promise kept while away comes as `finalized`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promise_dropped_while_the_subscriber_was_away_is_reported_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("chain.redb"), weft_types::Limits::default()).unwrap();
    let issuer = SigningKey::from_seed(1);
    let genesis = Block::genesis(Digest::from([9u8; 32]), issuer.public_key(), 0);
    store.commit_finalized(&genesis, b"", 0).unwrap();
    let node = Arc::new(Node {
        store,
        issuer,
        pending: Mutex::new(HashMap::new()),
        published: tokio::sync::broadcast::channel(64).0,
    });
    node.finalize(vec![]);
    let (addr, _server) = weft_rpc::start(
        "127.0.0.1:0".parse().unwrap(),
        weft_rpc::Config::default(),
        node.clone(),
    )
    .await
    .unwrap();
    let client = weft_client::Client::new(&format!("http://{addr}")).unwrap();

    // Three promises at head 1: one will be double-spent, one withheld, one kept.
    let (spent, withheld, kept) = (tx(10, 0, "spent"), tx(11, 0, "withheld"), tx(12, 0, "kept"));
    let ws = client.connect_ws().await.unwrap();
    let mut sub = weft_client::Client::subscribe_preconfirmed_on(&ws, NAMESPACE, None)
        .await
        .unwrap();
    node.promise(&spent, 1, 20);
    node.promise(&withheld, 1, 3);
    node.promise(&kept, 1, 20);
    let mut announced = Vec::new();
    while announced.len() < 3 {
        if let PreconfEventJson::Preconfirmed { receipt, .. } = next(&mut sub, "3 receipts").await {
            announced.push(receipt.tx.clone());
        }
    }
    announced.sort();
    let mut expected: Vec<String> = [&spent, &withheld, &kept]
        .iter()
        .map(|t| t.hash().to_string())
        .collect();
    expected.sort();
    assert_eq!(announced, expected);
    // The subscriber goes away having seen everything up to height 1.
    drop(sub);
    drop(ws);

    // Height 2: the sender of `spent` finalizes another transaction with its nonce, and
    // `kept` lands. Heights 3 and 4 pass without `withheld`, which the issuer let go of.
    let rival = tx(10, 0, "the other copy");
    node.forget(&spent);
    node.finalize(vec![rival.clone(), kept.clone()]);
    node.forget(&withheld);
    node.finalize(vec![]);
    node.finalize(vec![]);

    let ws = client.connect_ws().await.unwrap();
    let mut sub = weft_client::Client::subscribe_preconfirmed_on(&ws, NAMESPACE, Some(2))
        .await
        .unwrap();
    let outcomes = outcomes(&mut sub, &[spent.hash(), withheld.hash(), kept.hash()]).await;
    match &outcomes[&spent.hash().to_string()] {
        PreconfEventJson::Dropped { reason, .. } => assert_eq!(reason, "conflict"),
        other => panic!("the double-spent promise ended as {other:?}"),
    }
    match &outcomes[&withheld.hash().to_string()] {
        PreconfEventJson::Dropped { reason, height, .. } => {
            assert_eq!(reason, "deadline");
            assert!(*height >= 3, "dropped at {height}, before its deadline");
        }
        other => panic!("the withheld promise ended as {other:?}"),
    }
    match &outcomes[&kept.hash().to_string()] {
        PreconfEventJson::Finalized { height, .. } => assert_eq!(*height, 2),
        other => panic!("the kept promise ended as {other:?}"),
    }
}
