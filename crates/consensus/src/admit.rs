//! Admission without holding the mempool lock across disk I/O.
//!
//! Admission needs finalized facts (is this hash finalized, what is the sender's finalized
//! nonce) that live in the store. Reading them under the mempool lock would make every
//! proposal, verification and gossip receipt wait on redb reads for the submissions in
//! flight. Instead the facts are read first, with the store head they are at least as fresh
//! as, and applied under the lock only if the mempool has not yet seen a later finalized
//! block ([`Mempool::finalized_head`]). Facts older than that are read again; after
//! [`ADMIT_RETRIES_MAX`] races the last attempt reads under the lock, which is always right.
//!
//! A batch is admitted in chunks of at most [`ADMIT_LOCK_TXS_MAX`] transactions, each under
//! its own hold of the lock, so a lone order waiting on the lock waits for one chunk, not a
//! whole batch: each hold ends with a fair unlock, which hands the lock to a waiting thread
//! rather than let the running batch take it again first (a plain unlock lets the thread
//! that released it barge ahead of a waiter that still has to be scheduled). Chunks in order admit what one pass would: each transaction's admission
//! reads the mempool as its predecessors left it. Admission runs at the caller's priority,
//! never as bulk work ([`crate::Offload`]): a thread of lowered priority holding the lock
//! would keep the receipt path waiting while the CPU serves everything else first.

use crate::{ChainState, Shared};
use weft_mempool::{AdmitError, ChainView, Mempool};
use weft_storage::AdmissionFacts;
use weft_types::{Transaction, TxHash};

/// Times facts are re-read after finalization overtook them before reading under the lock.
pub const ADMIT_RETRIES_MAX: usize = 8;

/// Most transactions admitted under one hold of the mempool lock (see the module docs).
pub const ADMIT_LOCK_TXS_MAX: usize = 64;

struct Facts<'a>(&'a AdmissionFacts);

impl ChainView for Facts<'_> {
    fn finalized_nonce(&self, sender: &[u8; 32]) -> Option<u64> {
        self.0.nonces.get(sender).copied()
    }
    fn finalized_height(&self, hash: &TxHash) -> Option<u64> {
        self.0.finalized.get(hash).copied()
    }
}

/// Admits already-verified transactions (`local`: from this node's clients, to be gossiped).
/// Returns one result per transaction, in order, and the admitted transactions.
pub fn admit(
    shared: &Shared,
    txs: Vec<Transaction>,
    local: bool,
) -> (Vec<Result<TxHash, AdmitError>>, Vec<Transaction>) {
    let (results, admitted) = admit_promising(shared, txs, local, None);
    (
        results.into_iter().map(|r| r.map(|a| a.hash)).collect(),
        admitted,
    )
}

/// One admitted transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admitted {
    /// Its hash.
    pub hash: TxHash,
    /// Whether it was promised (see [`admit_promising`]); a held-back transaction is not.
    pub promised: bool,
}

/// [`admit`], promising each admitted transaction that is ready (includable) by `deadline`
/// when one is given: a transaction that would take the promises past the liability bound
/// is refused before it is admitted, so every transaction accepted ready is promised.
/// Held-back ones (a lower nonce missing) are admitted unpromised.
pub fn admit_promising(
    shared: &Shared,
    txs: Vec<Transaction>,
    local: bool,
    deadline: Option<u64>,
) -> (Vec<Result<Admitted, AdmitError>>, Vec<Transaction>) {
    let mut results = Vec::with_capacity(txs.len());
    let mut admitted = Vec::with_capacity(txs.len());
    let mut rest = txs.into_iter().peekable();
    while rest.peek().is_some() {
        let chunk: Vec<Transaction> = rest.by_ref().take(ADMIT_LOCK_TXS_MAX).collect();
        let keys = fact_keys(&chunk);
        let mut chunk = Some(chunk);
        let (r, a) = with_facts(shared, &keys, |mempool, chain| {
            let chunk = chunk.take().expect("applied once");
            apply(mempool, &DynView(chain), chunk, local, deadline, shared)
        });
        results.extend(r);
        admitted.extend(a);
    }
    (results, admitted)
}

/// The facts admission reads for `txs`: their hashes and their distinct senders.
fn fact_keys(txs: &[Transaction]) -> (Vec<TxHash>, Vec<[u8; 32]>) {
    let hashes = txs.iter().map(|t| t.hash()).collect();
    let mut senders: Vec<[u8; 32]> = txs.iter().map(|t| *t.sender()).collect();
    senders.sort_unstable();
    senders.dedup();
    (hashes, senders)
}

/// Runs `f` under the mempool lock with finalized facts about `txs` at least as fresh as
/// the mempool's head: read outside the lock and retried while finalization overtakes
/// them, then read under the lock (see the module docs).
fn with_facts<T>(
    shared: &Shared,
    (hashes, senders): &(Vec<TxHash>, Vec<[u8; 32]>),
    mut f: impl FnMut(&mut Mempool, &dyn ChainViewDyn) -> T,
) -> T {
    for _ in 0..ADMIT_RETRIES_MAX {
        let facts = shared
            .store
            .admission_facts(hashes, senders)
            .expect("store read failed");
        let mut mempool = shared.mempool.lock();
        // Facts must include every block the mempool has applied.
        if facts.head < mempool.finalized_head() {
            continue;
        }
        let out = f(&mut mempool, &Facts(&facts));
        // Handed to a waiter, if any (a batch's next chunk must not barge ahead of a lone
        // order that waited for this one: see the module docs).
        parking_lot::MutexGuard::unlock_fair(mempool);
        return out;
    }
    let mut mempool = shared.mempool.lock();
    f(&mut mempool, &ChainState(&shared.store))
}

fn apply(
    mempool: &mut Mempool,
    chain: &impl ChainView,
    txs: Vec<Transaction>,
    local: bool,
    deadline: Option<u64>,
    shared: &Shared,
) -> (Vec<Result<Admitted, AdmitError>>, Vec<Transaction>) {
    let mut admitted = Vec::new();
    let results = txs
        .into_iter()
        .map(|tx| {
            let hash = tx.hash();
            // A client's leg comes only with its bundle ([`admit_bundle`]); peers gossip
            // legs one by one and the mempool pairs them.
            if local && tx.leg().is_some() {
                return Err(AdmitError::LegAlone { hash });
            }
            // P4: a plain transaction that depends on a bundle leg is accepted without a
            // receipt, and so is one whose chain of unpromised predecessors alone spans more
            // namespaces than a block holds; a full liability bound refuses it.
            let mut deadline = deadline.filter(|_| !mempool.depends_on_leg(&tx));
            if deadline.is_some() && !mempool.promise_room(&tx)? {
                deadline = None;
            }
            mempool.admit(tx.clone(), chain, local)?;
            admitted.push(tx);
            let promised = match deadline {
                // Room was checked above, under the same lock: only a held-back
                // transaction can be refused here, and it stays admitted unpromised.
                Some(d) => mempool.promise(&hash, d).is_ok(),
                None => false,
            };
            Ok(Admitted { hash, promised })
        })
        .collect();
    shared.metrics.mempool_txs.set(mempool.len() as i64);
    (results, admitted)
}

/// Admits a client's whole bundle (its shape, sizes and signatures already checked), or
/// none of it, and when `deadline` is given promises it whole by then (mempool
/// `promise_bundle`). Returns whether it was promised: a bundle the promises' liability
/// bound has no room for is refused before it is admitted, one that cannot be promised for
/// another reason (it expires first, a leg is held back or rests on another bundle's leg) is
/// admitted without receipts.
pub fn admit_bundle(
    shared: &Shared,
    legs: &[Transaction],
    deadline: Option<u64>,
) -> Result<bool, AdmitError> {
    with_facts(shared, &fact_keys(legs), |mempool, chain| {
        let deadline = match deadline {
            Some(d) if mempool.bundle_promise_room(legs, d)? => Some(d),
            _ => None,
        };
        mempool.admit_bundle(legs, &DynView(chain), true)?;
        shared.metrics.mempool_txs.set(mempool.len() as i64);
        let hashes: Vec<TxHash> = legs.iter().map(|t| t.hash()).collect();
        // Room was checked under the same lock: only a held-back leg can refuse here, and
        // the bundle stays admitted unpromised.
        Ok(deadline.is_some_and(|d| mempool.promise_bundle(&hashes, d).is_ok()))
    })
}

/// Object-safe [`ChainView`], so one closure serves both fact sources.
trait ChainViewDyn {
    fn finalized_nonce(&self, sender: &[u8; 32]) -> Option<u64>;
    fn finalized_height(&self, hash: &TxHash) -> Option<u64>;
}
impl<T: ChainView> ChainViewDyn for T {
    fn finalized_nonce(&self, sender: &[u8; 32]) -> Option<u64> {
        ChainView::finalized_nonce(self, sender)
    }
    fn finalized_height(&self, hash: &TxHash) -> Option<u64> {
        ChainView::finalized_height(self, hash)
    }
}
struct DynView<'a>(&'a dyn ChainViewDyn);
impl ChainView for DynView<'_> {
    fn finalized_nonce(&self, sender: &[u8; 32]) -> Option<u64> {
        self.0.finalized_nonce(sender)
    }
    fn finalized_height(&self, hash: &TxHash) -> Option<u64> {
        self.0.finalized_height(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer as _;
    use std::sync::Arc;
    use weft_storage::Store;
    use weft_types::{Limits, NamespaceId, SigningKey};

    /// A batch spanning several lock holds admits, and promises, what one pass would: one
    /// sender's nonces continue across chunk boundaries, a duplicate in a later chunk is
    /// refused, and a gap holds back everything above it.
    #[test]
    fn chunked_admission_matches_one_pass() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits::default();
        let store = Arc::new(Store::open(dir.path().join("s.redb"), limits).unwrap());
        let chain = weft_types::ChainId(weft_types::sha256(&[b"admit tests"]));
        let shared = Shared::new(
            Mempool::new(Default::default(), limits),
            store,
            limits,
            chain,
            Default::default(),
        );
        let key = SigningKey::from_seed(3);
        let tx = |n: u64| {
            Transaction::sign(
                &key,
                &chain,
                NamespaceId(1),
                n,
                bytes::Bytes::from_static(b"x"),
            )
        };
        let n = 2 * ADMIT_LOCK_TXS_MAX as u64 + 5;
        let mut batch: Vec<Transaction> = (0..n).map(tx).collect();
        // A duplicate of nonce 0 in the last chunk, then a gap: nonce n + 1 without n.
        batch.push(tx(0));
        batch.push(tx(n + 1));
        let (results, admitted) = admit_promising(&shared, batch, true, Some(100));
        assert_eq!(results.len(), n as usize + 2);
        for (i, r) in results[..n as usize].iter().enumerate() {
            let a = r
                .as_ref()
                .unwrap_or_else(|e| panic!("nonce {i} refused: {e}"));
            assert!(a.promised, "nonce {i} is ready and was not promised");
        }
        assert!(
            results[n as usize].is_err(),
            "the duplicate was admitted: {:?}",
            results[n as usize]
        );
        let held = results[n as usize + 1]
            .as_ref()
            .expect("a held-back nonce is admitted");
        assert!(!held.promised, "a held-back transaction was promised");
        assert_eq!(admitted.len(), n as usize + 1);
    }
}
