//! The validator's implementation of the RPC server's [`NodeApi`].

use crate::persister::Persister;
use futures::future::BoxFuture;
use std::sync::Arc;
use tracing::warn;
use weft_consensus::{ChainState, Shared};
use weft_mempool::{AdmitError, Status};
use weft_rpc::{Accepted, NodeApi};
use weft_storage::{AckLane, Store};
use weft_types::{Promise, Receipt, Transaction, TxHash, PRECONF_LAG_HEIGHTS_MAX};

pub(crate) struct Api {
    pub shared: Arc<Shared>,
    /// Verifies submitted batches, below the receipt path's priority.
    pub bulk: crate::bulk::BulkPool,
    pub persister: Persister,
    pub validators: Vec<weft_types::VerifyingKey>,
    pub chain: weft_types::ChainId,
    /// This validator's key: the issuer named in its receipts.
    pub me: weft_types::VerifyingKey,
    /// Where issued receipts are published for `weft_subscribePreconfirmed`.
    pub preconfirmed: tokio::sync::broadcast::Sender<weft_rpc::Preconfirmed>,
    /// Where the acknowledgement path's time goes.
    pub metrics: crate::metrics::Metrics,
}

/// Most receipt batches buffered for preconfirmed streams; a stream that falls further
/// behind resynchronises from the mempool's outstanding promises.
pub(crate) const PRECONFIRMED_BATCHES_MAX: usize = 1024;

/// How long a submission waits for its transactions to reach `f + 1` peers before it is
/// accepted without a receipt.
const RECEIPT_SPREAD_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(2);

/// Most milliseconds since this validator last saw a proposal for it to still issue: its
/// view of the chain's tip must be current (consensus proposes every block interval, and
/// view changes take a leader timeout, both well under this).
const PRECONF_TIP_AGE_MS_MAX: u64 = 5_000;

/// This machine's wall clock, in milliseconds since the Unix epoch (receipt windows are
/// judged against the tip this validator last saw, stamped on the same clock).
fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// When this validator may promise: the issued-at and deadline heights of a receipt signed
/// now, or why it cannot issue (see the deadline rule in `weft_types::receipt`).
fn receipt_window(
    shared: &Shared,
    me: &weft_types::VerifyingKey,
    now_ms: u64,
) -> Result<(u64, u64), AdmitError> {
    let head = shared.store.head_height().unwrap_or(0);
    // Only a validator of the current epoch, and of the next where it is known, promises:
    // one the stake table removed can no longer get its transactions proposed, nor its
    // gossip to the validators that will propose them (they stop tracking it).
    if let Some(schedule) = shared.schedule.get() {
        use commonware_consensus::types::Epoch;
        let epoch = schedule.epoch_after(head);
        for e in [epoch, Epoch::new(epoch.get() + 1)] {
            let outside = schedule
                .participants(e)
                .is_some_and(|set| commonware_utils::ordered::Quorum::index(&set, me).is_none());
            if outside {
                return Err(AdmitError::Preconf {
                    reason: format!(
                        "this node is not a validator of epoch {}, so it cannot promise inclusion; submit to a validator of the current set (weft_epoch)",
                        e.get()
                    ),
                });
            }
        }
    }
    let tip = shared.tip_seen.load(std::sync::atomic::Ordering::Relaxed);
    let seen_at = shared
        .tip_seen_at_ms
        .load(std::sync::atomic::Ordering::Relaxed);
    if now_ms.saturating_sub(seen_at) > PRECONF_TIP_AGE_MS_MAX {
        return Err(AdmitError::Preconf {
            reason: format!(
                "this validator has seen no proposal for more than {PRECONF_TIP_AGE_MS_MAX} ms (starting, or cut off), so it cannot tell the chain's height; submit to another validator"
            ),
        });
    }
    if tip > head + PRECONF_LAG_HEIGHTS_MAX {
        return Err(AdmitError::Preconf {
            reason: format!(
                "this validator is catching up (finalized head {head}, chain tip at least {tip}, more than {PRECONF_LAG_HEIGHTS_MAX} behind); submit to another validator"
            ),
        });
    }
    Ok((head, head + shared.limits.preconf_window_heights))
}

/// Acknowledges what was just admitted: waits for it to reach `f + 1` peers if anything is
/// promised (a receipt exists only then, gossip rule 5: an issuer that crashes after signing
/// leaves the transaction with an honest validator; not spread in time means accepted with
/// no receipt, and `promised` is cleared), then persists the transactions and signs and
/// stores the receipts in one group commit, and publishes them to preconfirmed streams.
/// Returns the receipts, one per `promised` flag still set, in order.
#[allow(clippy::too_many_arguments)]
async fn acknowledge(
    shared: &Shared,
    metrics: &crate::metrics::Metrics,
    persister: &Persister,
    published: &tokio::sync::broadcast::Sender<weft_rpc::Preconfirmed>,
    chain: weft_types::ChainId,
    me: weft_types::VerifyingKey,
    admitted: Vec<Transaction>,
    promised: &mut [bool],
    issued: u64,
    deadline: u64,
) -> Vec<Receipt> {
    if promised.iter().any(|p| *p) {
        shared.gossip_wake.notify_one();
        let started = std::time::Instant::now();
        // Gossip rule 6: `f + 1` peers acknowledged holding every promised transaction (a
        // push only queued in this process would die with it).
        let hashes: Vec<TxHash> = admitted
            .iter()
            .zip(promised.iter())
            .filter(|(_, p)| **p)
            .map(|(t, _)| t.hash())
            .collect();
        let held = async {
            loop {
                let changed = shared.holders.changed.notified();
                if shared.held_by_enough(&hashes, deadline) {
                    return;
                }
                changed.await;
            }
        };
        let spread = tokio::time::timeout(RECEIPT_SPREAD_WAIT_MAX, held).await;
        metrics
            .spread_wait_seconds(crate::persister::lane_for(admitted.len(), admitted.len()))
            .observe(started.elapsed().as_secs_f64());
        if spread.is_err() {
            warn!(target: "weft::node", "transactions were not acknowledged by enough validators in time: accepted without receipts");
            // Each sender's from its highest nonce down: `unpromise` keeps a promise that a
            // later one rests on.
            let mut order: Vec<usize> = (0..admitted.len()).filter(|&i| promised[i]).collect();
            order.sort_by_key(|&i| std::cmp::Reverse((*admitted[i].sender(), admitted[i].nonce())));
            let mut mempool = shared.mempool.lock();
            for i in order {
                mempool.unpromise(&admitted[i].hash());
                promised[i] = false;
            }
        }
    }
    // One pass over what was promised; the transactions are copied for the preconfirmed
    // streams only while someone streams.
    let streaming = published.receiver_count() > 0;
    let mut promises: Vec<Promise> = Vec::new();
    let mut promised_txs: Vec<Transaction> = Vec::new();
    for (tx, p) in admitted.iter().zip(promised.iter()) {
        if *p {
            promises.push(Promise::for_tx(chain, tx, issued, deadline, me.clone()));
            if streaming {
                promised_txs.push(tx.clone());
            }
        }
    }
    // Acknowledge only what is on disk; receipts are signed and stored there too.
    let receipts = persister.persist(admitted, promises).await;
    if streaming && !receipts.is_empty() {
        let _ = published.send(Arc::new(
            promised_txs
                .into_iter()
                .zip(receipts.iter().cloned())
                .collect(),
        ));
    }
    receipts
}

/// What checking a submission produced: a slot per submitted transaction (`Some` holds its
/// early rejection, `None` takes the next admission result) and the verified transactions.
type Checked = (Vec<Option<Result<Accepted, AdmitError>>>, Vec<Transaction>);

/// Stateless checks, signatures in one batch: no lock taken, so a batch's checks may run as
/// bulk work (see `bulk`). `known[i]` says the `i`-th submission is byte for byte a
/// transaction the mempool holds verified: its signature is not checked again, so a client
/// resubmitting a batch costs no verification (admission refuses it as a duplicate, and a
/// copy of a valid transaction is valid whenever it is admitted).
fn check(
    limits: &weft_types::Limits,
    verify: &dyn Fn(&[&Transaction]) -> Vec<bool>,
    txs: Vec<Result<Transaction, AdmitError>>,
    known: &[bool],
) -> Checked {
    let mut results: Vec<Result<Transaction, AdmitError>> = txs
        .into_iter()
        .map(|r| r.and_then(|tx| tx.check_size(limits).map(|_| tx).map_err(AdmitError::from)))
        .collect();
    let unverified = |i: usize, r: &Result<Transaction, AdmitError>| {
        r.is_ok() && !known.get(i).copied().unwrap_or(false)
    };
    let candidates: Vec<&Transaction> = results
        .iter()
        .enumerate()
        .filter(|(i, r)| unverified(*i, r))
        .filter_map(|(_, r)| r.as_ref().ok())
        .collect();
    let flags = verify(&candidates);
    let mut flags = flags.into_iter();
    for (i, r) in results.iter_mut().enumerate() {
        if !unverified(i, r) {
            continue;
        }
        if let Ok(tx) = r {
            if !flags.next().expect("one flag per candidate") {
                *r = Err(AdmitError::Invalid(weft_types::TxError::BadSignature {
                    sender: weft_types::to_hex(tx.sender().as_ref()),
                }));
            }
        }
    }
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
    (slots, verified)
}

impl NodeApi for Api {
    fn submit_bundle(
        &self,
        legs: Vec<Transaction>,
    ) -> BoxFuture<'static, Result<Vec<Accepted>, AdmitError>> {
        let shared = self.shared.clone();
        let persister = self.persister.clone();
        let metrics = self.metrics.clone();
        let published = self.preconfirmed.clone();
        let (chain, me) = (self.chain, self.me.clone());
        Box::pin(async move {
            // Shape first; expiry and the validity bound are mempool rule S3.
            weft_mempool::check_bundle_shape(&legs)?;
            // A bundle is promised whole, like any accepted submission: a validator that
            // cannot keep a promise now accepts nothing.
            let (issued, deadline) = receipt_window(&shared, &me, wall_ms())?;
            let leg_error = |leg: usize, e: AdmitError| AdmitError::BundleLeg {
                leg,
                reason: Box::new(e),
            };
            for (i, tx) in legs.iter().enumerate() {
                tx.check_size(&shared.limits)
                    .map_err(|e| leg_error(i, e.into()))?;
            }
            let refs: Vec<&Transaction> = legs.iter().collect();
            let flags = shared.verify_signatures(&refs);
            if let Some(i) = flags.iter().position(|ok| !ok) {
                return Err(leg_error(
                    i,
                    AdmitError::Invalid(weft_types::TxError::BadSignature {
                        sender: weft_types::to_hex(legs[i].sender().as_ref()),
                    }),
                ));
            }
            // Every leg's receipt promises the whole bundle (`weft_types::receipt`); one that
            // cannot be promised (it expires before the deadline, a leg is held back or
            // rests on another bundle's leg) is accepted without receipts (mempool P4).
            let promised = weft_consensus::admit_bundle(&shared, &legs, Some(deadline))?;
            let mut flags = vec![promised; legs.len()];
            let hashes: Vec<TxHash> = legs.iter().map(|t| t.hash()).collect();
            let receipts = acknowledge(
                &shared, &metrics, &persister, &published, chain, me, legs, &mut flags, issued,
                deadline,
            )
            .await;
            let mut receipts = receipts.into_iter();
            Ok(hashes
                .into_iter()
                .zip(flags)
                .map(|(hash, p)| Accepted {
                    hash,
                    receipt: if p { receipts.next() } else { None },
                })
                .collect())
        })
    }

    fn submit(
        &self,
        txs: Vec<Result<Transaction, AdmitError>>,
    ) -> BoxFuture<'static, Vec<Result<Accepted, AdmitError>>> {
        let shared = self.shared.clone();
        let bulk = self.bulk.clone();
        let persister = self.persister.clone();
        let metrics = self.metrics.clone();
        let published = self.preconfirmed.clone();
        let (chain, me) = (self.chain, self.me.clone());
        Box::pin(async move {
            // Every transaction accepted ready gets a receipt: a validator that cannot keep
            // a promise now accepts nothing.
            let started = std::time::Instant::now();
            let now_ms = wall_ms();
            let (issued, deadline) = match receipt_window(&shared, &me, now_ms) {
                Ok(w) => w,
                Err(e) => return txs.iter().map(|_| Err(e.clone())).collect(),
            };
            // A batch's checks hold a thread for milliseconds: on the bulk pool, so the RPC
            // runtime's workers stay free for lone submissions (and their receipts), and the
            // checks yield the CPU to them. Admission takes the mempool lock, so it stays at
            // normal priority (bulk rule 2), on the blocking pool, in short chunks.
            let lane = crate::persister::lane_for(txs.len(), txs.len());
            let (slots, mut admitted_results, admitted) = if lane == AckLane::Bulk {
                let known: Vec<bool> = shared.read_mempool(&txs, |mempool, r| {
                    r.as_ref().is_ok_and(|tx| mempool.contains_verified(tx))
                });
                let checking = shared.clone();
                let (slots, verified) = bulk
                    .run(crate::bulk::Class::Submitted, move || {
                        check(
                            &checking.limits,
                            &|t| checking.verify_signatures(t),
                            txs,
                            &known,
                        )
                    })
                    .await;
                let admitting = shared.clone();
                let (results, admitted) = tokio::task::spawn_blocking(move || {
                    // Facts are read outside the mempool lock (see `weft_consensus::admit`).
                    weft_consensus::admit_promising(&admitting, verified, true, Some(deadline))
                })
                .await
                .expect("admitting a submitted batch failed");
                (slots, results, admitted)
            } else {
                let (slots, verified) =
                    check(&shared.limits, &|t| shared.verify_signatures(t), txs, &[]);
                let (results, admitted) =
                    weft_consensus::admit_promising(&shared, verified, true, Some(deadline));
                (slots, results, admitted)
            };
            let mut promised: Vec<bool> = admitted_results
                .iter()
                .filter_map(|r| r.as_ref().ok().map(|a| a.promised))
                .collect();
            metrics
                .admit_seconds(lane)
                .observe(started.elapsed().as_secs_f64());
            let receipts = acknowledge(
                &shared,
                &metrics,
                &persister,
                &published,
                chain,
                me,
                admitted,
                &mut promised,
                issued,
                deadline,
            )
            .await;
            for (a, p) in admitted_results.iter_mut().flatten().zip(&promised) {
                a.promised = *p;
            }
            let mut receipts = receipts.into_iter();
            let mut admitted_results = admitted_results.into_iter();
            slots
                .into_iter()
                .map(|slot| {
                    slot.unwrap_or_else(|| {
                        let admitted = admitted_results
                            .next()
                            .expect("one result per verified transaction")?;
                        let receipt = if admitted.promised {
                            Some(receipts.next().expect("one receipt per promise"))
                        } else {
                            None
                        };
                        Ok(Accepted {
                            hash: admitted.hash,
                            receipt,
                        })
                    })
                })
                .collect()
        })
    }

    fn pending_status(&self, hash: &TxHash) -> Option<Status> {
        self.shared.mempool.lock().status(hash)
    }

    fn next_nonce(&self, sender: &[u8; 32]) -> u64 {
        let chain = ChainState(&self.shared.store);
        self.shared.mempool.lock().next_nonce(sender, &chain)
    }

    fn validators(&self) -> Vec<weft_types::VerifyingKey> {
        self.validators.clone()
    }

    fn chain_id(&self) -> weft_types::ChainId {
        self.chain
    }

    fn epoch(&self) -> Option<weft_rpc::types::EpochJson> {
        use commonware_consensus::types::{Epoch, Epocher as _, Height};
        let schedule = self.shared.schedule.get()?;
        let head = self.shared.store.head_height().unwrap_or(0);
        let info = schedule.epocher.containing(Height::new(head + 1))?;
        let keys = |set: commonware_utils::ordered::Set<weft_types::VerifyingKey>| {
            set.iter().map(|k| weft_types::to_hex(k.as_ref())).collect()
        };
        Some(weft_rpc::types::EpochJson {
            epoch: info.epoch().get(),
            first_height: info.first().get(),
            last_height: info.last().get(),
            validators: keys(schedule.participants(info.epoch())?),
            next_validators: schedule
                .participants(Epoch::new(info.epoch().get() + 1))
                .map(keys),
        })
    }

    fn store(&self) -> &Store {
        &self.shared.store
    }

    fn preconfirmed(&self) -> tokio::sync::broadcast::Receiver<weft_rpc::Preconfirmed> {
        self.preconfirmed.subscribe()
    }

    fn outstanding(&self, namespace: weft_types::NamespaceId) -> Vec<(Transaction, Receipt)> {
        let txs = self.shared.mempool.lock().promised_in(namespace);
        // Promised predecessors of a receipt's transaction may have none of their own.
        txs.into_iter()
            .filter_map(|tx| match self.shared.store.receipt(&tx.hash()) {
                Ok(Some(r)) => Some((tx, r)),
                _ => None,
            })
            .collect()
    }

    fn pending_among(&self, hashes: &[TxHash]) -> Vec<bool> {
        let mempool = self.shared.mempool.lock();
        hashes
            .iter()
            .map(|h| matches!(mempool.status(h), Some(Status::Pending)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_types::Limits;

    /// A batch's checks verify every signature except those of transactions the mempool
    /// holds byte for byte, verified: a client resubmitting a batch costs no verification.
    #[test]
    fn checks_skip_only_transactions_known_verified() {
        use commonware_cryptography::Signer as _;
        let limits = Limits::default();
        let signed_for = weft_types::ChainId(weft_types::sha256(&[b"another chain"]));
        let chain = weft_types::ChainId(weft_types::sha256(&[b"node api tests"]));
        // Signed in another chain's domain: its signature is bad here.
        let tx = Transaction::sign(
            &weft_types::SigningKey::from_seed(5),
            &signed_for,
            weft_types::NamespaceId(1),
            0,
            bytes::Bytes::from_static(b"x"),
        );
        let verify = |t: &[&Transaction]| Transaction::verify_signatures(t, &chain);
        let (slots, verified) = check(&limits, &verify, vec![Ok(tx.clone())], &[false]);
        assert!(verified.is_empty());
        assert!(matches!(
            &slots[0],
            Some(Err(AdmitError::Invalid(
                weft_types::TxError::BadSignature { .. }
            )))
        ));
        let (slots, verified) = check(&limits, &verify, vec![Ok(tx.clone())], &[true]);
        assert!(slots[0].is_none());
        assert_eq!(verified, vec![tx]);
    }

    /// The deadline rule's first condition: no receipt from a validator that has seen no
    /// proposal lately (just restarted: its view of the tip is stale) or whose head trails
    /// the tip it saw by more than `PRECONF_LAG_HEIGHTS_MAX`.
    #[test]
    fn a_stale_or_lagging_validator_does_not_issue() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits::default();
        let store = Arc::new(Store::open(dir.path().join("s.redb"), limits).unwrap());
        let shared = Shared::new(
            weft_mempool::Mempool::new(Default::default(), limits),
            store,
            limits,
            weft_types::ChainId(weft_types::sha256(&[b"node api tests"])),
            Default::default(),
        );
        let refused = |r: Result<(u64, u64), AdmitError>, what: &str| {
            assert!(
                matches!(&r, Err(AdmitError::Preconf { reason }) if reason.contains(what)),
                "{r:?}"
            );
        };
        let me = <weft_types::SigningKey as commonware_cryptography::Signer>::from_seed(1);
        let me = commonware_cryptography::Signer::public_key(&me);
        refused(receipt_window(&shared, &me, 100_000), "seen no proposal");
        shared.saw_tip(PRECONF_LAG_HEIGHTS_MAX, 100_000);
        let window = limits.preconf_window_heights;
        assert_eq!(receipt_window(&shared, &me, 100_000), Ok((0, window)));
        // Stale: nothing seen for longer than the bound.
        refused(
            receipt_window(&shared, &me, 100_001 + PRECONF_TIP_AGE_MS_MAX),
            "seen no proposal",
        );
        // Lagging: the tip it saw is more than the bound above its finalized head.
        shared.saw_tip(PRECONF_LAG_HEIGHTS_MAX + 1, 200_000);
        refused(receipt_window(&shared, &me, 200_000), "catching up");
    }

    fn key(seed: u64) -> weft_types::VerifyingKey {
        use commonware_cryptography::Signer as _;
        weft_types::SigningKey::from_seed(seed).public_key()
    }

    /// A node's shared state over an empty store (kept alive by the returned directory).
    fn fresh_shared() -> (tempfile::TempDir, Shared) {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits::default();
        let store = Arc::new(Store::open(dir.path().join("s.redb"), limits).unwrap());
        let shared = Shared::new(
            weft_mempool::Mempool::new(Default::default(), limits),
            store,
            limits,
            weft_types::ChainId(weft_types::sha256(&[b"node api tests"])),
            Default::default(),
        );
        (dir, shared)
    }

    /// Starts consensus's schedule on `shared`: validators 1-4 run the genesis epochs of 10
    /// blocks.
    fn start_schedule(shared: &Shared) {
        let genesis: commonware_utils::ordered::Set<_> =
            vec![key(1), key(2), key(3), key(4)].try_into().unwrap();
        let schedule = weft_consensus::epochs::Schedule::new(
            commonware_consensus::types::FixedEpocher::new(std::num::NonZeroU64::new(10).unwrap()),
            genesis,
            shared.store.clone(),
            None,
            &shared.limits,
        );
        assert!(shared.schedule.set(Arc::new(schedule)).is_ok());
    }

    /// A node outside the current epoch's set (or the next's, once announced) promises
    /// nothing: the stake table removed it, so nothing it gossips is sure to be proposed.
    #[test]
    fn a_node_outside_the_epochs_set_does_not_issue() {
        let (_dir, shared) = fresh_shared();
        start_schedule(&shared);
        shared.saw_tip(0, 100_000);
        assert!(receipt_window(&shared, &key(1), 100_000).is_ok());
        assert!(matches!(
            receipt_window(&shared, &key(9), 100_000),
            Err(AdmitError::Preconf { reason }) if reason.contains("not a validator of epoch 0")
        ));
    }

    /// Gossip rule 6: a receipt needs acks from `f + 1` validators of the current epoch. An
    /// ack from a tracked peer outside the set (a next-epoch validator, which may be
    /// Byzantine and ack what it dropped) does not count, nor does a validator's second ack.
    #[test]
    fn only_the_epochs_validators_acks_make_a_transaction_promisable() {
        let (_dir, shared) = fresh_shared();
        let hash = TxHash(weft_types::sha256(&[b"a transaction"]));
        // Before consensus starts: any one peer.
        assert!(!shared.held_by_enough(&[hash], 5));
        shared.holders.record(&key(9), &[hash]);
        assert!(shared.held_by_enough(&[hash], 5));
        start_schedule(&shared);
        // n = 4, f = 1: two of the set besides the issuer (key 1).
        shared.holders.record(&key(2), &[hash]);
        shared.holders.record(&key(2), &[hash]);
        assert!(
            !shared.held_by_enough(&[hash], 5),
            "an outsider's ack and a repeated ack counted"
        );
        shared.holders.record(&key(3), &[hash]);
        assert!(shared.held_by_enough(&[hash], 5));
        let other = TxHash(weft_types::sha256(&[b"another"]));
        assert!(
            !shared.held_by_enough(&[hash, other], 5),
            "every hash is needed"
        );
    }
}
