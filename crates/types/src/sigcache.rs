//! A validator's memory of signature work: which transactions it has already seen pass, and
//! the sender keys it has already decompressed.
//!
//! A validator meets most transactions twice: in a proposed block it must verify, and in a
//! peer's gossip batch (usually after the block, since a leader proposes what it was just
//! sent). Checking the signature both times was a third of a validator's CPU under load, and
//! decompressing each sender key (a square root on the curve) another tenth, though a few
//! hundred senders send most transactions. [`SignatureCache::verify`] skips both repeats.
//!
//! Rules (each enforced in [`SignatureCache::verify`]):
//! 1. Only a signature that was checked and passed is remembered, keyed by the transaction
//!    hash **and** the signature bytes: a copy with the same hash and another signature is
//!    checked again, so a Byzantine peer or leader cannot ride on an honest copy.
//! 2. Only ed25519 signatures are remembered. An ed25519 hash commits to every other field
//!    (sender, namespace, nonce, payload, bundle), so hash and signature fix the result. An
//!    Ethereum hash does not commit to the claimed fields; those are checked each time.
//! 3. A cached sender key is looked up by the sender's 32 bytes: it is that sender's own key
//!    and cannot apply to another.
//! 4. Both memories are bounded (two generations of at most `*_max` entries each, split
//!    over shards): a flood of distinct senders or transactions only evicts, costing misses,
//!    never more work than without the cache. The result is the same with or without it (a
//!    cached pass is a pass), so verification stays a deterministic function of its input.
//! 5. A lock is held for one lookup or one insertion, never across a batch, and a
//!    generation is dropped after its shard's lock is released: a block's verification on a
//!    thread of lowered priority (bulk work) must never hold a lock that a lone order's check
//!    waits on while that thread waits for a CPU (priority inversion).

use crate::{ChainId, Transaction, TxHash, VerifyingKey};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Default number of passed signatures remembered per generation (two are kept): several
/// seconds of traffic at 10,000 tx/s, the gap between a block and a gossip copy.
pub const DEFAULT_PASSED_MAX: usize = 32_768;
/// Default number of decompressed sender keys remembered per generation (two are kept).
pub const DEFAULT_SENDER_KEYS_MAX: usize = 8_192;

/// Most shards a memory is split into (rule 5): a lone check meets a batch's holder on one
/// shard only, for one lookup.
pub const SHARDS_MAX: usize = 16;

/// A map of at most `2 * max` entries that forgets the oldest generation when the newest is
/// full (rule 4).
struct Generations<K, V> {
    current: HashMap<K, V>,
    previous: HashMap<K, V>,
    max: usize,
}

impl<K: Eq + Hash, V> Generations<K, V> {
    fn new(max: usize) -> Self {
        assert!(max > 0, "a cache generation must hold something");
        Self {
            current: HashMap::new(),
            previous: HashMap::new(),
            max,
        }
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.current.get(key).or_else(|| self.previous.get(key))
    }

    /// Inserts; returns the generation it forgot, if the newest was full, for the caller to
    /// drop outside its lock (rule 5).
    #[must_use]
    fn insert(&mut self, key: K, value: V) -> Option<HashMap<K, V>> {
        let mut forgotten = None;
        if self.current.len() >= self.max {
            forgotten = Some(std::mem::replace(
                &mut self.previous,
                std::mem::take(&mut self.current),
            ));
        }
        self.current.insert(key, value);
        assert!(self.current.len() <= self.max && self.previous.len() <= self.max);
        forgotten
    }

    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

/// [`Generations`] split into shards by the key's first byte, each under its own lock
/// (rule 5). Holds at most `2 * max` entries in all.
struct Sharded<K, V> {
    shards: Vec<Mutex<Generations<K, V>>>,
}

/// Which shard a key goes to: a byte of it, uniform for hashes and public keys.
trait ShardKey {
    fn shard_byte(&self) -> u8;
}

impl ShardKey for TxHash {
    fn shard_byte(&self) -> u8 {
        self.as_bytes()[0]
    }
}

impl ShardKey for [u8; 32] {
    fn shard_byte(&self) -> u8 {
        self[0]
    }
}

impl<K: Eq + Hash + ShardKey, V: Clone> Sharded<K, V> {
    fn new(max: usize) -> Self {
        assert!(max > 0, "a cache must hold something");
        let count = max.min(SHARDS_MAX);
        // Each shard holds `max / count` (at least 1): `2 * max` in all at most.
        let per_shard = max / count;
        Self {
            shards: (0..count)
                .map(|_| Mutex::new(Generations::new(per_shard)))
                .collect(),
        }
    }

    fn shard(&self, key: &K) -> &Mutex<Generations<K, V>> {
        &self.shards[key.shard_byte() as usize % self.shards.len()]
    }

    fn get(&self, key: &K) -> Option<V> {
        self.shard(key)
            .lock()
            .expect("signature cache lock")
            .get(key)
            .cloned()
    }

    fn insert(&self, key: K, value: V) {
        let forgotten = self
            .shard(&key)
            .lock()
            .expect("signature cache lock")
            .insert(key, value);
        // Dropped here, after the lock (rule 5).
        drop(forgotten);
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().expect("signature cache lock").len())
            .sum()
    }
}

/// What one [`SignatureCache::verify`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifyStats {
    /// Signatures checked.
    pub checked: u64,
    /// Signatures skipped because the same one passed before.
    pub skipped: u64,
}

/// Remembered signature work, shared by a validator's verification paths (module docs).
pub struct SignatureCache {
    passed: Sharded<TxHash, [u8; 64]>,
    keys: Sharded<[u8; 32], VerifyingKey>,
    checked: AtomicU64,
    skipped: AtomicU64,
}

impl Default for SignatureCache {
    fn default() -> Self {
        Self::new(DEFAULT_PASSED_MAX, DEFAULT_SENDER_KEYS_MAX)
    }
}

impl SignatureCache {
    /// A cache remembering up to `2 * passed_max` passed signatures and `2 * keys_max`
    /// sender keys; both must be > 0.
    pub fn new(passed_max: usize, keys_max: usize) -> Self {
        Self {
            passed: Sharded::new(passed_max),
            keys: Sharded::new(keys_max),
            checked: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        }
    }

    /// [`Transaction::verify_signatures`], skipping what this cache has seen pass: one flag
    /// per transaction, the same flags as without the cache.
    pub fn verify(&self, txs: &[&Transaction], chain: &ChainId) -> (Vec<bool>, VerifyStats) {
        let mut flags = vec![true; txs.len()];
        let mut todo: Vec<usize> = Vec::with_capacity(txs.len());
        for (i, tx) in txs.iter().enumerate() {
            // Rules 1 and 2: the same hash with the same ed25519 signature.
            let known = tx
                .signature()
                .is_some_and(|s| self.passed.get(&tx.hash()) == Some(signature_bytes(s)));
            if !known {
                todo.push(i);
            }
        }
        let stats = VerifyStats {
            checked: todo.len() as u64,
            skipped: (txs.len() - todo.len()) as u64,
        };
        if todo.is_empty() {
            self.count(stats);
            return (flags, stats);
        }
        // Rule 3: fill each sender key from the cache, decompressing only the new ones (outside
        // every lock), then remember those.
        let mut fresh: Vec<([u8; 32], VerifyingKey)> = Vec::new();
        for &i in &todo {
            let tx = txs[i];
            if tx.signature().is_some() && !tx.sender_key_known() {
                if let Some(key) = self.keys.get(tx.sender()) {
                    tx.set_sender_key(key);
                }
            }
        }
        for &i in &todo {
            let tx = txs[i];
            if tx.signature().is_some() && !tx.sender_key_known() {
                if let Some(key) = tx.sender_key() {
                    fresh.push((*tx.sender(), key.clone()));
                }
            }
        }
        for (sender, key) in fresh {
            self.keys.insert(sender, key);
        }
        let batch: Vec<&Transaction> = todo.iter().map(|&i| txs[i]).collect();
        let checked = Transaction::verify_signatures(&batch, chain);
        for (&i, ok) in todo.iter().zip(checked) {
            flags[i] = ok;
            if ok {
                if let Some(signature) = txs[i].signature() {
                    self.passed
                        .insert(txs[i].hash(), signature_bytes(signature));
                }
            }
        }
        self.count(stats);
        (flags, stats)
    }

    fn count(&self, stats: VerifyStats) {
        self.checked.fetch_add(stats.checked, Ordering::Relaxed);
        self.skipped.fetch_add(stats.skipped, Ordering::Relaxed);
    }

    /// Totals since creation: signatures checked, and skipped as already passed.
    pub fn totals(&self) -> VerifyStats {
        VerifyStats {
            checked: self.checked.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
        }
    }

    /// Passed signatures and sender keys currently remembered.
    pub fn len(&self) -> (usize, usize) {
        (self.passed.len(), self.keys.len())
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}

fn signature_bytes(signature: &commonware_cryptography::ed25519::Signature) -> [u8; 64] {
    signature
        .as_ref()
        .try_into()
        .expect("an ed25519 signature is 64 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{sha256, NamespaceId, SigningKey};
    use bytes::Bytes;
    use commonware_cryptography::Signer as _;
    use commonware_math::algebra::Random as _;
    use rand_core::SeedableRng as _;

    fn chain() -> ChainId {
        ChainId(sha256(&[b"sigcache test chain"]))
    }

    fn key(seed: u64) -> SigningKey {
        SigningKey::random(rand_chacha::ChaCha20Rng::seed_from_u64(seed))
    }

    fn tx(key: &SigningKey, nonce: u64) -> Transaction {
        Transaction::sign(
            key,
            &chain(),
            NamespaceId(7),
            nonce,
            Bytes::from_static(b"pay"),
        )
    }

    /// `tx` re-decoded from its bytes, so no cached key travels with it (as off the wire).
    fn wire(tx: &Transaction) -> Transaction {
        use commonware_codec::Encode as _;
        Transaction::decode_untrusted(&tx.encode(), &crate::Limits::default()).expect("decodes")
    }

    /// The same content as `tx` with the signature of another message: a forged copy.
    fn forged(tx: &Transaction, by: &SigningKey) -> Transaction {
        let signature = by.sign(b"elsewhere", b"something else");
        Transaction::from_parts(
            tx.namespace(),
            *tx.sender(),
            tx.nonce(),
            tx.payload().clone(),
            signature,
        )
    }

    #[test]
    fn a_second_check_of_a_passed_signature_is_skipped() {
        let cache = SignatureCache::default();
        let alice = key(1);
        let a = tx(&alice, 0);
        let (flags, stats) = cache.verify(&[&wire(&a)], &chain());
        assert_eq!((flags, stats.checked, stats.skipped), (vec![true], 1, 0));
        let (flags, stats) = cache.verify(&[&wire(&a)], &chain());
        assert_eq!((flags, stats.checked, stats.skipped), (vec![true], 0, 1));
    }

    #[test]
    fn a_forged_copy_of_a_passed_transaction_is_still_caught() {
        // A Byzantine peer replays an honest transaction's hash with a bad signature after the
        // honest copy passed: the cache must not vouch for it (rule 1).
        let cache = SignatureCache::default();
        let alice = key(1);
        let honest = tx(&alice, 0);
        assert_eq!(cache.verify(&[&wire(&honest)], &chain()).0, vec![true]);
        let bad = forged(&honest, &alice);
        assert_eq!(bad.hash(), honest.hash(), "same content, same id");
        let (flags, stats) = cache.verify(&[&wire(&honest), &bad], &chain());
        assert_eq!(flags, vec![true, false]);
        assert_eq!((stats.checked, stats.skipped), (1, 1));
        // And a failed check is not remembered: it fails again.
        assert_eq!(cache.verify(&[&bad], &chain()).0, vec![false]);
    }

    #[test]
    fn a_cached_sender_key_does_not_vouch_for_another_sender() {
        // Bob signs with his own key but claims Alice as sender, after Alice's key is cached.
        let cache = SignatureCache::default();
        let (alice, bob) = (key(1), key(2));
        assert_eq!(
            cache.verify(&[&wire(&tx(&alice, 0))], &chain()).0,
            vec![true]
        );
        let claims_alice = Transaction::from_parts(
            NamespaceId(7),
            *tx(&alice, 1).sender(),
            1,
            Bytes::from_static(b"pay"),
            tx(&bob, 1).signature().expect("ed25519").clone(),
        );
        let flags = cache
            .verify(&[&claims_alice, &wire(&tx(&bob, 1))], &chain())
            .0;
        assert_eq!(flags, vec![false, true]);
    }

    #[test]
    fn results_match_uncached_verification_on_a_mixed_batch() {
        let cache = SignatureCache::new(4, 2);
        let keys: Vec<SigningKey> = (0..5).map(key).collect();
        let mut all = Vec::new();
        for round in 0..3u64 {
            let mut batch: Vec<Transaction> = Vec::new();
            for (k, key) in keys.iter().enumerate() {
                let good = tx(key, round);
                batch.push(wire(&good));
                if (k as u64 + round).is_multiple_of(2) {
                    batch.push(forged(&good, key));
                }
            }
            all.extend(batch.iter().cloned());
            // Replays of everything so far, many evicted from a cache this small.
            let refs: Vec<&Transaction> = all.iter().collect();
            let expected = Transaction::verify_signatures(&refs, &chain());
            assert_eq!(cache.verify(&refs, &chain()).0, expected, "round {round}");
            let (passed, sender_keys) = cache.len();
            assert!(
                passed <= 8 && sender_keys <= 4,
                "bounded: {passed}, {sender_keys}"
            );
        }
    }
}
