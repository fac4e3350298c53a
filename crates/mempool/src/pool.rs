//! The pending-transaction pool.

use crate::{AdmitError, Config};
use commonware_codec_free::encoded_len;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use weft_types::{Limits, Transaction, TxHash};

/// Read access to finalized chain state, as admission needs it.
pub trait ChainView {
    /// Highest finalized nonce of `sender`.
    fn finalized_nonce(&self, sender: &[u8; 32]) -> Option<u64>;
    /// Height at which `hash` was finalized.
    fn finalized_height(&self, hash: &TxHash) -> Option<u64>;
}

/// Encoding overhead of one namespace's list in a block body: its 8-byte id and the list's
/// length prefix (at most 5 bytes).
pub const NAMESPACE_LIST_BYTES: usize = 13;

/// Block limits a selection must respect.
#[derive(Clone, Copy, Debug)]
pub struct SelectLimits {
    /// Height of the block being built: bundles that expire below it are not taken.
    pub height: u64,
    /// Most transactions.
    pub txs_max: usize,
    /// Most encoded bytes of transactions and namespace lists.
    pub bytes_max: usize,
    /// Most distinct namespaces.
    pub namespaces_max: usize,
}

/// What the mempool knows about a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Waiting to be ordered.
    Pending,
    /// Dropped, with the reason.
    Rejected(String),
}

struct Entry {
    tx: Transaction,
    seq: u64,
    bytes: usize,
    /// Held back: a nonce of its sender below it is missing (geth's "queued").
    queued: bool,
    /// When it was admitted (mempool clock, see [`Mempool::tick`]).
    admitted_ms: u64,
    /// Promised by this validator's receipt: the deadline height.
    promised: Option<u64>,
}

/// Pending transactions in arrival order.
pub struct Mempool {
    cfg: Config,
    limits: Limits,
    txs: HashMap<TxHash, Entry>,
    /// FCFS queue: arrival sequence -> hash.
    queue: BTreeMap<u64, TxHash>,
    by_sender_nonce: HashMap<([u8; 32], u64), TxHash>,
    sender_count: HashMap<[u8; 32], usize>,
    bytes: usize,
    next_seq: u64,
    /// Per sender: the first nonce not in its contiguous pending run from its next
    /// finalized nonce. Its transactions at or above this nonce are queued.
    ready_end: HashMap<[u8; 32], u64>,
    /// Queued transactions by arrival sequence (expiry oldest first, eviction newest first).
    queued: BTreeMap<u64, TxHash>,
    queued_by_sender: HashMap<[u8; 32], usize>,
    queued_bytes: usize,
    /// Transactions dropped by eviction or expiry, for the caller to drop from the log.
    dropped: Vec<TxHash>,
    /// The mempool's clock, advanced by [`Mempool::tick`].
    now_ms: u64,
    /// Height of the last finalized block applied ([`Mempool::on_finalized_height`]).
    finalized_head: Option<u64>,
    rejected: HashMap<TxHash, String>,
    rejected_order: VecDeque<TxHash>,
    /// Locally admitted transactions not yet gossiped.
    outbox: Vec<Transaction>,
    /// Local admissions ever put in the outbox (gossip rule 5 counts spread by it).
    outbox_seq: u64,
    /// Promised transactions by (deadline, arrival): selected before all others (P1).
    promised: BTreeMap<(u64, u64), TxHash>,
    promised_bytes: usize,
    /// Per promised transaction, the predecessors its promise marked as promised (P2): a
    /// promise withdrawn before its receipt left ([`Mempool::unpromise`]) takes them back too.
    covers: HashMap<TxHash, Vec<TxHash>>,
    /// Promised transactions per namespace: promises span at most a block's namespaces (P2),
    /// so one block holds them all.
    promised_namespaces: HashMap<weft_types::NamespaceId, usize>,
    /// Pending bundle legs by (valid_until, hash): dropped once the chain passes their
    /// expiry (rule S2).
    legs_by_expiry: BTreeMap<(u64, TxHash), ()>,
    /// The issuer's bond's cap on outstanding promises, and what it comes from
    /// ([`Mempool::set_bond_cap`]); none: `preconf_txs_max` alone.
    bond_cap: Option<(usize, String)>,
}

/// A selection in progress ([`Mempool::select`]).
struct Selection<'a> {
    txs_max: usize,
    bytes_max: usize,
    namespaces_max: usize,
    height: u64,
    out: Vec<Transaction>,
    bytes: usize,
    namespaces: HashSet<weft_types::NamespaceId>,
    /// Each sender's next nonce in this selection.
    expected: HashMap<[u8; 32], u64>,
    /// Senders whose chain ended in this block (something did not fit).
    stopped: HashSet<[u8; 32]>,
    /// Transactions waiting for a lower nonce of their sender (or, for a leg, its bundle).
    deferred: HashMap<[u8; 32], BTreeMap<u64, &'a Entry>>,
}

impl<'a> Selection<'a> {
    fn defer(&mut self, sender: [u8; 32], e: &'a Entry) {
        self.deferred
            .entry(sender)
            .or_default()
            .insert(e.tx.nonce(), e);
    }

    /// Whether every transaction of `group` fits together in what is left of the block.
    fn fits(&self, group: &[&Entry]) -> bool {
        let mut opens: HashSet<weft_types::NamespaceId> = HashSet::new();
        let mut cost = section_bytes(group);
        for g in group {
            let ns = g.tx.namespace();
            cost += g.bytes;
            if !self.namespaces.contains(&ns) && opens.insert(ns) {
                cost += NAMESPACE_LIST_BYTES;
            }
        }
        self.out.len() + group.len() <= self.txs_max
            && self.bytes + cost <= self.bytes_max
            && self.namespaces.len() + opens.len() <= self.namespaces_max
    }
}

/// What block rules 8 and 9 and selection (S1) need of a bundle's legs, checked before any
/// is taken: two namespaces or more (B2), one sender's legs in one namespace in nonce order
/// by leg index (B5 lists them by index, rule 8 needs nonce order), and one sender's legs
/// at consecutive nonces (the bundle is taken in one step). A bundle that breaks one could
/// never be in a block.
fn legs_orderable<'a>(legs: impl Iterator<Item = &'a Transaction>) -> Result<(), String> {
    let mut namespaces = HashSet::new();
    let mut last: HashMap<([u8; 32], weft_types::NamespaceId), (u8, u64)> = HashMap::new();
    let mut legs: Vec<&Transaction> = legs.collect();
    legs.sort_by_key(|t| t.leg().map(|l| l.index));
    let all = legs.clone();
    for tx in legs {
        namespaces.insert(tx.namespace());
        let index = tx.leg().map_or(0, |l| l.index);
        if let Some((i, n)) = last.insert((*tx.sender(), tx.namespace()), (index, tx.nonce())) {
            if n >= tx.nonce() {
                return Err(format!(
                    "legs {i} and {index} are the same sender's in namespace {}, with nonces {n} then {}: a sender's legs in one namespace take increasing nonces in leg order",
                    tx.namespace(),
                    tx.nonce()
                ));
            }
        }
    }
    if namespaces.len() < 2 {
        return Err("all legs are in one namespace: a bundle spans two namespaces or more".into());
    }
    // A bundle is taken in one step, each leg at its sender's next nonce, and its senders
    // take nothing more in the block (S1): one sender's legs, in any namespaces, must be
    // consecutive nonces, or no block could hold the bundle (nor keep a promise of it).
    let mut by_sender: HashMap<[u8; 32], Vec<u64>> = HashMap::new();
    for tx in all {
        by_sender.entry(*tx.sender()).or_default().push(tx.nonce());
    }
    for nonces in by_sender.values_mut() {
        nonces.sort_unstable();
        if let Some(w) = nonces.windows(2).find(|w| w[1] != w[0].saturating_add(1)) {
            return Err(format!(
                "one sender's legs take nonces {} and {}: a sender's legs take consecutive nonces (nothing of its can sit between them in the block)",
                w[0], w[1]
            ));
        }
    }
    Ok(())
}

fn leg_not_promised() -> AdmitError {
    AdmitError::Preconf {
        reason: "a bundle leg is pending below this nonce of the sender: a leg's sender takes nothing after it in a block (rule S1), so a promise cannot depend on one (P4, docs/bundles.md)".into(),
    }
}

/// Bytes a group adds to the body's bundle section: its entry, if it is a bundle.
/// What a promise of `tx` books against the liability bound's bytes: its encoding, and for
/// a bundle leg its share of the bundle's entry in the block's bundle section (32 + 8 + 1 +
/// 32 per leg, split over the legs and rounded up, so a bundle's legs together book at least
/// its whole entry). The block that must hold every promise holds their section entries too.
fn booked_len(tx: &weft_types::Transaction) -> usize {
    let share = tx.leg().map_or(0, |l| {
        let legs = l.count().max(1);
        32 + (32 + 8 + 1usize).div_ceil(legs)
    });
    encoded_len(tx) + share
}

fn section_bytes(group: &[&Entry]) -> usize {
    group
        .first()
        .and_then(|g| g.tx.leg())
        .map_or(0, |l| 32 + 8 + 1 + 32 * l.count())
}

/// Checks that `legs` are one whole bundle in index order: each a leg, of the same bundle,
/// leg `i` at index `i`, all of them there, in two namespaces or more (B2). Per-leg
/// admission rules are checked by [`Mempool::admit_bundle`].
pub fn check_bundle_shape(legs: &[Transaction]) -> Result<weft_types::BundleId, AdmitError> {
    let bad = |reason: String| AdmitError::BadBundle { reason };
    let first = legs
        .first()
        .ok_or_else(|| bad("no legs".into()))?
        .leg()
        .ok_or_else(|| {
            bad("leg 0 is not a bundle leg (sign each leg with the bundle's fields)".into())
        })?;
    if legs.len() != first.count() {
        return Err(bad(format!(
            "the bundle has {} legs but {} were sent",
            first.count(),
            legs.len()
        )));
    }
    for (i, tx) in legs.iter().enumerate() {
        let Some(leg) = tx.leg() else {
            return Err(bad(format!("leg {i} is not a bundle leg")));
        };
        if leg.bundle() != first.bundle() || leg.index as usize != i {
            return Err(bad(format!(
                "leg {i} is leg {} of bundle {}, not leg {i} of bundle {}",
                leg.index,
                leg.bundle(),
                first.bundle()
            )));
        }
    }
    legs_orderable(legs.iter()).map_err(bad)?;
    Ok(first.bundle())
}

fn sender_bytes(tx: &Transaction) -> [u8; 32] {
    tx.sender()
        .as_ref()
        .try_into()
        .expect("ed25519 key is 32 bytes")
}

mod commonware_codec_free {
    /// Encoded length of a transaction without encoding it.
    pub fn encoded_len(tx: &weft_types::Transaction) -> usize {
        tx.encoded_len()
    }
}

/// A finalized block being applied in steps ([`Mempool::finalize_txs`]): per sender, the
/// lowest and highest nonce the block used, in a sorted map so eviction runs in one order.
#[derive(Debug, Default)]
pub struct Finalizing {
    floors: BTreeMap<[u8; 32], (u64, u64)>,
    /// Transactions of each sender the block held.
    counts: HashMap<[u8; 32], u64>,
}

impl Mempool {
    /// An empty mempool.
    pub fn new(cfg: Config, limits: Limits) -> Self {
        Self {
            cfg,
            limits,
            txs: HashMap::new(),
            queue: BTreeMap::new(),
            by_sender_nonce: HashMap::new(),
            sender_count: HashMap::new(),
            bytes: 0,
            next_seq: 0,
            ready_end: HashMap::new(),
            queued: BTreeMap::new(),
            queued_by_sender: HashMap::new(),
            queued_bytes: 0,
            dropped: Vec::new(),
            now_ms: 0,
            finalized_head: None,
            rejected: HashMap::new(),
            rejected_order: VecDeque::new(),
            outbox: Vec::new(),
            outbox_seq: 0,
            promised: BTreeMap::new(),
            promised_bytes: 0,
            covers: HashMap::new(),
            promised_namespaces: HashMap::new(),
            legs_by_expiry: BTreeMap::new(),
            bond_cap: None,
        }
    }

    /// Caps outstanding promises at `cap` receipts on top of `preconf_txs_max`, `why` saying
    /// where the cap comes from (the issuer's bond; it is in the error a refused promise
    /// gets); `None` lifts it. Promises already outstanding stand: a lowered cap refuses new
    /// ones until enough are kept.
    pub fn set_bond_cap(&mut self, cap: Option<(usize, String)>) {
        self.bond_cap = cap;
    }

    /// Number of pending transactions.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Pending bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The wire limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Admits a transaction whose size and signature the caller has already checked.
    /// `local` marks a client submission (it will be gossiped); gossip receipts are not
    /// re-gossiped.
    pub fn admit(
        &mut self,
        tx: Transaction,
        chain: &impl ChainView,
        local: bool,
    ) -> Result<(), AdmitError> {
        let hash = tx.hash();
        if tx.namespace() == weft_types::NamespaceId::SYSTEM {
            return Err(AdmitError::SystemNamespace);
        }
        if self.txs.contains_key(&hash) {
            return Err(AdmitError::Duplicate { hash });
        }
        if let Some(height) = chain.finalized_height(&hash) {
            return Err(AdmitError::AlreadyFinalized { hash, height });
        }
        if let Some(leg) = tx.leg() {
            // S3: a leg's bundle must still be includable, and expire within a bound.
            let head = self.finalized_head.unwrap_or(0);
            let max = head.saturating_add(self.cfg.bundle_valid_heights_max);
            if leg.valid_until <= head || leg.valid_until > max {
                return Err(AdmitError::BadBundle {
                    reason: format!(
                        "bundle {} is valid until height {}: it must be above the finalized head {head} and at most mempool.bundle_valid_heights_max = {} beyond it",
                        leg.bundle(),
                        leg.valid_until,
                        self.cfg.bundle_valid_heights_max
                    ),
                });
            }
        }
        let sender = sender_bytes(&tx);
        let expected = chain.finalized_nonce(&sender).map_or(0, |n| n + 1);
        if tx.nonce() < expected {
            return Err(AdmitError::NonceTooLow {
                nonce: tx.nonce(),
                expected,
            });
        }
        let gap_max = self.cfg.sender_txs_max as u64;
        if tx.nonce() - expected >= gap_max {
            return Err(AdmitError::NonceTooHigh {
                nonce: tx.nonce(),
                expected,
                gap_max,
            });
        }
        if let Some(pending) = self.by_sender_nonce.get(&(sender, tx.nonce())) {
            return Err(AdmitError::NonceInUse {
                nonce: tx.nonce(),
                pending: *pending,
            });
        }
        let bytes = encoded_len(&tx);
        let count = self.sender_count.get(&sender).copied().unwrap_or(0);
        if count + 1 > self.cfg.sender_txs_max {
            return Err(AdmitError::Full {
                what: "pending transactions of this sender",
                limit: "mempool.sender_txs_max",
                max: self.cfg.sender_txs_max,
            });
        }
        // Ready or queued: a transaction is includable only once every lower nonce of its
        // sender is finalized or pending. Held-back ones get their own small bounds, so they
        // can never crowd out includable traffic (rule Q1).
        let ready_end = self
            .ready_end
            .get(&sender)
            .copied()
            .unwrap_or(expected)
            .max(expected);
        let queued = tx.nonce() > ready_end;
        if queued {
            let mine = self.queued_by_sender.get(&sender).copied().unwrap_or(0);
            for (over, what, limit, max) in [
                (
                    mine + 1 > self.cfg.queued_sender_txs_max,
                    "queued (future-nonce) transactions of this sender",
                    "mempool.queued_sender_txs_max",
                    self.cfg.queued_sender_txs_max,
                ),
                (
                    self.queued.len() + 1 > self.cfg.queued_txs_max,
                    "queued (future-nonce) transactions",
                    "mempool.queued_txs_max",
                    self.cfg.queued_txs_max,
                ),
                (
                    self.queued_bytes + bytes > self.cfg.queued_bytes_max,
                    "queued (future-nonce) bytes",
                    "mempool.queued_bytes_max",
                    self.cfg.queued_bytes_max,
                ),
            ] {
                if over {
                    return Err(AdmitError::Full { what, limit, max });
                }
            }
        } else {
            // Rule Q2: an includable transaction evicts queued ones (newest first) when the
            // pool is full.
            while (self.txs.len() + 1 > self.cfg.txs_max || self.bytes + bytes > self.cfg.bytes_max)
                && !self.queued.is_empty()
            {
                let victim = *self.queued.values().next_back().expect("not empty");
                let siblings = self.siblings(&victim);
                self.remove(&victim);
                self.drop_legs(siblings, "dropped: another leg of its bundle was evicted");
                self.record_rejection(
                    victim,
                    "evicted: a held-back (future-nonce) transaction made room for an includable one".into(),
                );
                self.dropped.push(victim);
            }
        }
        if self.txs.len() + 1 > self.cfg.txs_max {
            return Err(AdmitError::Full {
                what: "pending transactions",
                limit: "mempool.txs_max",
                max: self.cfg.txs_max,
            });
        }
        if self.bytes + bytes > self.cfg.bytes_max {
            return Err(AdmitError::Full {
                what: "pending bytes",
                limit: "mempool.bytes_max",
                max: self.cfg.bytes_max,
            });
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.insert(seq, hash);
        self.by_sender_nonce.insert((sender, tx.nonce()), hash);
        *self.sender_count.entry(sender).or_default() += 1;
        self.bytes += bytes;
        self.rejected.remove(&hash);
        if local {
            self.outbox.push(tx.clone());
            self.outbox_seq += 1;
        }
        let nonce = tx.nonce();
        if let Some(leg) = tx.leg() {
            self.legs_by_expiry.insert((leg.valid_until, hash), ());
        }
        self.txs.insert(
            hash,
            Entry {
                tx,
                seq,
                bytes,
                queued,
                admitted_ms: self.now_ms,
                promised: None,
            },
        );
        if queued {
            self.queued.insert(seq, hash);
            *self.queued_by_sender.entry(sender).or_default() += 1;
            self.queued_bytes += bytes;
            self.ready_end.insert(sender, ready_end);
        } else {
            self.ready_end.insert(sender, nonce);
            self.promote(sender);
        }
        Ok(())
    }

    /// After `sender`'s pending transaction at `freed` left out of turn: its run ends there,
    /// and its pending transactions above it are held back (queued) until the nonce is
    /// filled again.
    fn demote(&mut self, sender: [u8; 32], freed: u64) {
        let Some(end) = self.ready_end.get(&sender).copied() else {
            return;
        };
        if freed >= end {
            return;
        }
        for nonce in freed + 1..end {
            let Some(hash) = self.by_sender_nonce.get(&(sender, nonce)).copied() else {
                continue;
            };
            let entry = self.txs.get_mut(&hash).expect("indexed entry");
            if !entry.queued {
                // Held back from now: it waits a full lifetime for the freed nonce.
                entry.admitted_ms = self.now_ms;
                entry.queued = true;
                self.queued.insert(entry.seq, hash);
                self.queued_bytes += entry.bytes;
                *self.queued_by_sender.entry(sender).or_default() += 1;
            }
        }
        self.ready_end.insert(sender, freed);
    }

    /// Admits every leg of a bundle, or none (rule S1): the first leg refused undoes the
    /// legs before it and names itself. The caller has checked the bundle's shape
    /// ([`check_bundle_shape`]) and every leg's size and signature.
    pub fn admit_bundle(
        &mut self,
        legs: &[Transaction],
        chain: &impl ChainView,
        local: bool,
    ) -> Result<(), AdmitError> {
        // Room first, without evicting anyone: a bundle that is then refused for one leg
        // must not have flushed other senders' held-back transactions (rule Q2 is for
        // single includable transactions).
        let bytes: usize = legs.iter().map(encoded_len).sum();
        if self.txs.len() + legs.len() > self.cfg.txs_max || self.bytes + bytes > self.cfg.bytes_max
        {
            return Err(AdmitError::Full {
                what: "pending transactions or bytes (a bundle evicts nothing)",
                limit: "mempool.txs_max / mempool.bytes_max",
                max: self.cfg.txs_max,
            });
        }
        // A sender's legs in nonce order, so the later one is not held back by the earlier.
        let mut order: Vec<usize> = (0..legs.len()).collect();
        order.sort_by_key(|&i| (*legs[i].sender(), legs[i].nonce()));
        let outbox_before = self.outbox.len();
        let outbox_seq_before = self.outbox_seq;
        for (done, &i) in order.iter().enumerate() {
            if let Err(reason) = self.admit(legs[i].clone(), chain, local) {
                for &j in order[..done].iter().rev() {
                    self.remove(&legs[j].hash());
                    self.demote(*legs[j].sender(), legs[j].nonce());
                }
                self.outbox.truncate(outbox_before);
                self.outbox_seq = outbox_seq_before;
                return Err(AdmitError::BundleLeg {
                    leg: i,
                    reason: Box::new(reason),
                });
            }
        }
        Ok(())
    }

    /// Whether promising plain `tx` would depend on a bundle leg (P4): `tx` is a leg (its
    /// promise is its bundle's, [`Mempool::promise_bundle`]), or a pending leg of its sender
    /// is below it. Such a transaction is accepted without a receipt.
    pub fn depends_on_leg(&self, tx: &Transaction) -> bool {
        tx.leg().is_some()
            || self
                .no_leg_in(
                    &sender_bytes(tx),
                    &self.unpromised_chain(&sender_bytes(tx), tx.nonce().checked_sub(1)),
                    None,
                    tx.nonce(),
                )
                .is_err()
    }

    /// P4: a promise depends on no bundle leg but those of the bundle it is for (`bundle`):
    /// none in the unpromised `chain` below `top`, and none just below the chain (a promised
    /// leg ends its sender's transactions in a block, rule S1, so what follows it could not
    /// share the block that holds every promise).
    fn no_leg_in(
        &self,
        sender: &[u8; 32],
        chain: &[(TxHash, usize)],
        bundle: Option<weft_types::BundleId>,
        top: u64,
    ) -> Result<(), AdmitError> {
        let foreign = |h: &TxHash| {
            self.txs
                .get(h)
                .and_then(|e| e.tx.leg())
                .is_some_and(|l| Some(l.bundle()) != bundle)
        };
        let lowest = chain
            .iter()
            .filter_map(|(h, _)| self.txs.get(h).map(|e| e.tx.nonce()))
            .min()
            .unwrap_or(top);
        let below = lowest
            .checked_sub(1)
            .and_then(|n| self.by_sender_nonce.get(&(*sender, n)));
        if chain.iter().any(|(h, _)| foreign(h)) || below.is_some_and(foreign) {
            return Err(leg_not_promised());
        }
        Ok(())
    }

    /// The other legs of `hash`'s bundle that are pending (none for a plain transaction).
    fn siblings(&self, hash: &TxHash) -> Vec<TxHash> {
        self.txs
            .get(hash)
            .and_then(|e| e.tx.leg())
            .map(|l| l.leg_hashes().into_iter().filter(|h| h != hash).collect())
            .unwrap_or_default()
    }

    /// S2: drops these legs (a bundle that can no longer be included), freeing their
    /// senders' nonces; they join [`Mempool::take_dropped`].
    fn drop_legs(&mut self, legs: Vec<TxHash>, reason: &str) {
        for hash in legs {
            let Some(entry) = self.txs.get(&hash) else {
                continue;
            };
            let (sender, nonce) = (sender_bytes(&entry.tx), entry.tx.nonce());
            self.remove(&hash);
            self.demote(sender, nonce);
            self.record_rejection(hash, reason.into());
            self.dropped.push(hash);
        }
    }

    /// Advances the sender's contiguous run over the nonces it holds, promoting queued
    /// transactions that became includable.
    fn promote(&mut self, sender: [u8; 32]) {
        let Some(mut end) = self.ready_end.get(&sender).copied() else {
            return;
        };
        while let Some(hash) = self.by_sender_nonce.get(&(sender, end)).copied() {
            let entry = self.txs.get_mut(&hash).expect("indexed entry");
            if entry.queued {
                entry.queued = false;
                self.queued.remove(&entry.seq);
                self.queued_bytes -= entry.bytes;
                if let Some(c) = self.queued_by_sender.get_mut(&sender) {
                    *c -= 1;
                    if *c == 0 {
                        self.queued_by_sender.remove(&sender);
                    }
                }
            }
            end += 1;
        }
        self.ready_end.insert(sender, end);
    }

    /// Advances the mempool's clock and expires queued transactions older than
    /// `mempool.queued_lifetime_ms` (rule Q3). Returns nothing; expired hashes join
    /// [`Mempool::take_dropped`].
    pub fn tick(&mut self, now_ms: u64) {
        if self.now_ms == 0 {
            // First tick: what was admitted before the clock started counts from now.
            for hash in self.queued.values() {
                if let Some(e) = self.txs.get_mut(hash) {
                    e.admitted_ms = now_ms;
                }
            }
        }
        self.now_ms = now_ms;
        let lifetime = self.cfg.queued_lifetime_ms;
        let expired: Vec<TxHash> = self
            .queued
            .values()
            .take_while(|h| self.txs[*h].admitted_ms.saturating_add(lifetime) <= now_ms)
            .copied()
            .collect();
        for hash in expired {
            let siblings = self.siblings(&hash);
            self.remove(&hash);
            self.record_rejection(
                hash,
                format!(
                    "expired: held back by a nonce gap for mempool.queued_lifetime_ms = {lifetime}"
                ),
            );
            self.dropped.push(hash);
            self.drop_legs(siblings, "dropped: another leg of its bundle expired");
        }
    }

    /// Records that the finalized block at `height` has been applied ([`Mempool::on_finalized`]).
    /// Admission facts read from an older head are stale (see `weft_consensus::admit`).
    /// Promises whose deadline is below `height` are over (P3): their transactions stay
    /// pending as ordinary ones.
    pub fn on_finalized_height(&mut self, height: u64) {
        self.finalized_head = Some(self.finalized_head.map_or(height, |h| h.max(height)));
        // S2: a bundle valid until `height` or before can no longer be included (the next
        // block is higher): its legs go, and each leg's sender's later nonces are held back
        // until a transaction fills the freed nonce.
        let live = self
            .legs_by_expiry
            .split_off(&(height + 1, TxHash(weft_types::Digest::from([0u8; 32]))));
        for (valid_until, hash) in std::mem::replace(&mut self.legs_by_expiry, live).into_keys() {
            let Some(entry) = self.txs.get(&hash) else {
                continue;
            };
            let (sender, nonce) = (sender_bytes(&entry.tx), entry.tx.nonce());
            self.remove(&hash);
            self.demote(sender, nonce);
            self.record_rejection(hash, format!("expired: the bundle was valid until height {valid_until}, and height {height} is finalized"));
            self.dropped.push(hash);
        }
        let live = self.promised.split_off(&(height, 0));
        for hash in std::mem::replace(&mut self.promised, live).into_values() {
            self.book_out(&hash);
        }
    }

    /// Marks a pending, ready transaction as promised by this validator's receipt, due by
    /// `deadline`, together with its sender's pending predecessors (P2: a promise is kept
    /// only if they are included too). Refused when the transaction is not ready or the
    /// promises would exceed `preconf_txs_max` or `preconf_bytes_max` (the liability bound).
    pub fn promise(&mut self, hash: &TxHash, deadline: u64) -> Result<(), AdmitError> {
        let Some(entry) = self.txs.get(hash) else {
            return Err(AdmitError::Preconf {
                reason: format!("transaction {hash} is not pending"),
            });
        };
        if entry.queued {
            return Err(AdmitError::Preconf {
                reason: format!(
                    "transaction {hash} is held back: a lower nonce of its sender is missing"
                ),
            });
        }
        if entry.tx.leg().is_some() {
            return Err(AdmitError::Preconf {
                reason: format!("transaction {hash} is a bundle leg: its promise is its bundle's"),
            });
        }
        let sender = sender_bytes(&entry.tx);
        let chain = self.unpromised_chain(&sender, Some(entry.tx.nonce()));
        self.no_leg_in(&sender, &chain, None, entry.tx.nonce())?;
        self.check_room(
            chain.len(),
            chain.iter().map(|(_, b)| b).sum(),
            self.namespaces_of(&chain),
        )?;
        let covered: Vec<TxHash> = chain
            .iter()
            .map(|(h, _)| *h)
            .filter(|h| h != hash)
            .collect();
        self.mark_promised(chain, deadline);
        if !covered.is_empty() {
            self.covers.insert(*hash, covered);
        }
        Ok(())
    }

    fn mark_promised(&mut self, txs: Vec<(TxHash, usize)>, deadline: u64) {
        for (h, b) in txs {
            let e = self.txs.get_mut(&h).expect("pending");
            assert!(e.promised.is_none(), "a transaction is promised once");
            e.promised = Some(deadline);
            self.promised.insert((deadline, e.seq), h);
            self.promised_bytes += b;
            *self
                .promised_namespaces
                .entry(e.tx.namespace())
                .or_default() += 1;
        }
    }

    /// Ends the promise of pending `hash`, if any: the one place a promise leaves the
    /// liability bound (its slot in the promised order, its bytes, its namespace) and its
    /// covered predecessors' list, which it returns. [`Mempool::mark_promised`] is the
    /// other side.
    fn book_out(&mut self, hash: &TxHash) -> Vec<TxHash> {
        let covered = self.covers.remove(hash).unwrap_or_default();
        let Some(entry) = self.txs.get_mut(hash) else {
            return covered;
        };
        let Some(deadline) = entry.promised.take() else {
            return covered;
        };
        let (seq, bytes, namespace) = (entry.seq, booked_len(&entry.tx), entry.tx.namespace());
        self.promised.remove(&(deadline, seq));
        self.promised_bytes -= bytes;
        let count = self
            .promised_namespaces
            .get_mut(&namespace)
            .expect("a promised transaction's namespace is counted");
        *count -= 1;
        if *count == 0 {
            self.promised_namespaces.remove(&namespace);
        }
        covered
    }

    /// Marks every leg of a pending bundle (`legs`, its leg hashes) as promised by this
    /// validator's receipts, due by `deadline`, with every leg's sender's pending
    /// predecessors (P2, P4: the promise is the whole bundle's, `weft_types::receipt`).
    /// Refused when a leg is not pending or is held back, the bundle expires before
    /// `deadline` (it could not be included at every height the deadline rule counts on),
    /// a predecessor is another bundle's leg, or the promises would exceed the liability
    /// bound.
    pub fn promise_bundle(&mut self, legs: &[TxHash], deadline: u64) -> Result<(), AdmitError> {
        let mut union: Vec<(TxHash, usize)> = Vec::new();
        let mut covered: Vec<(TxHash, Vec<TxHash>)> = Vec::new();
        let mut seen = HashSet::new();
        let mut bundle = None;
        for hash in legs {
            let Some(entry) = self.txs.get(hash) else {
                return Err(AdmitError::Preconf {
                    reason: format!("bundle leg {hash} is not pending"),
                });
            };
            let Some(leg) = entry.tx.leg() else {
                return Err(AdmitError::Preconf {
                    reason: format!("transaction {hash} is not a bundle leg"),
                });
            };
            if *bundle.get_or_insert(leg.bundle()) != leg.bundle() {
                return Err(AdmitError::Preconf {
                    reason: "the legs are of different bundles".into(),
                });
            }
            if entry.queued {
                return Err(AdmitError::Preconf {
                    reason: format!(
                        "bundle leg {hash} is held back: a lower nonce of its sender is missing"
                    ),
                });
            }
            if leg.valid_until < deadline {
                return Err(AdmitError::Preconf {
                    reason: format!(
                        "the bundle is valid until height {}, before the receipt's deadline {deadline}: a promise needs valid_until_height at least the finalized head plus the receipt window",
                        leg.valid_until
                    ),
                });
            }
            let sender = sender_bytes(&entry.tx);
            let chain = self.unpromised_chain(&sender, Some(entry.tx.nonce()));
            self.no_leg_in(&sender, &chain, bundle, entry.tx.nonce())?;
            let mut mine = Vec::new();
            for (h, b) in chain {
                if seen.insert(h) {
                    union.push((h, b));
                    if !legs.contains(&h) {
                        mine.push(h);
                    }
                }
            }
            covered.push((*hash, mine));
        }
        self.check_room(
            union.len(),
            union.iter().map(|(_, b)| b).sum(),
            self.namespaces_of(&union),
        )?;
        self.mark_promised(union, deadline);
        for (leg, mine) in covered {
            if !mine.is_empty() {
                self.covers.insert(leg, mine);
            }
        }
        Ok(())
    }

    /// Whether a client's bundle, once admitted, could be promised by `deadline`
    /// ([`Mempool::promise_bundle`], without admitting anything): `Ok(true)` if so,
    /// `Ok(false)` if it would be accepted without receipts (it expires before `deadline`,
    /// or depends on another bundle's leg), and an error if the promises would exceed the
    /// liability bound (a validator that cannot keep a promise accepts nothing).
    pub fn bundle_promise_room(
        &self,
        legs: &[Transaction],
        deadline: u64,
    ) -> Result<bool, AdmitError> {
        let Some(bundle) = legs.first().and_then(|t| t.leg()).map(|l| l.bundle()) else {
            return Ok(false);
        };
        if legs
            .iter()
            .any(|t| t.leg().is_none_or(|l| l.valid_until < deadline))
        {
            return Ok(false);
        }
        let mut seen: HashSet<TxHash> = legs.iter().map(|t| t.hash()).collect();
        let (mut txs, mut bytes) = (legs.len(), legs.iter().map(booked_len).sum::<usize>());
        let mut namespaces: Vec<weft_types::NamespaceId> =
            legs.iter().map(|t| t.namespace()).collect();
        for tx in legs {
            let sender = sender_bytes(tx);
            let chain = self.unpromised_chain(&sender, tx.nonce().checked_sub(1));
            if self
                .no_leg_in(&sender, &chain, Some(bundle), tx.nonce())
                .is_err()
            {
                return Ok(false);
            }
            for (h, b) in chain {
                if seen.insert(h) {
                    txs += 1;
                    bytes += b;
                    namespaces.push(self.txs[&h].tx.namespace());
                }
            }
        }
        let mut alone = namespaces.clone();
        alone.sort_unstable();
        alone.dedup();
        if alone.len() > self.promised_namespaces_max() {
            // No block could hold it with its predecessors: accepted, never promised.
            return Ok(false);
        }
        self.check_room(txs, bytes, namespaces)?;
        Ok(true)
    }

    /// Whether promising `tx` once admitted would stay within the liability bound (the
    /// check [`Mempool::promise`] makes, without admitting anything): `Ok(true)` if it would,
    /// an error naming the bound if the bound is full now, and `Ok(false)` if `tx` with the
    /// unpromised predecessors it would cover alone spans more namespaces than a block holds:
    /// no block could take them all, so it is accepted and never promised (as a bundle
    /// would be, [`Mempool::bundle_promise_room`]).
    pub fn promise_room(&self, tx: &Transaction) -> Result<bool, AdmitError> {
        let chain = self.unpromised_chain(&sender_bytes(tx), tx.nonce().checked_sub(1));
        let mut namespaces = self.namespaces_of(&chain);
        namespaces.push(tx.namespace());
        let mut alone = namespaces.clone();
        alone.sort_unstable();
        alone.dedup();
        if alone.len() > self.promised_namespaces_max() {
            return Ok(false);
        }
        self.check_room(
            chain.len() + 1,
            chain.iter().map(|(_, b)| b).sum::<usize>() + booked_len(tx),
            namespaces,
        )?;
        Ok(true)
    }

    /// The sender's pending, unpromised transactions from `from` down to the first gap or
    /// promised one: what a promise at `from` must cover (P2).
    fn unpromised_chain(&self, sender: &[u8; 32], from: Option<u64>) -> Vec<(TxHash, usize)> {
        let mut chain = Vec::new();
        let mut nonce = from;
        while let Some(n) = nonce {
            let Some(h) = self.by_sender_nonce.get(&(*sender, n)) else {
                break;
            };
            let e = &self.txs[h];
            if e.promised.is_some() {
                break;
            }
            chain.push((*h, booked_len(&e.tx)));
            nonce = n.checked_sub(1);
        }
        chain
    }

    fn namespaces_of(&self, txs: &[(TxHash, usize)]) -> Vec<weft_types::NamespaceId> {
        txs.iter()
            .map(|(h, _)| self.txs[h].tx.namespace())
            .collect()
    }

    /// Most namespaces outstanding promises may span: a block's (promises are taken first,
    /// so one block holds them all).
    fn promised_namespaces_max(&self) -> usize {
        self.limits.namespaces_per_block_max
    }

    fn check_room(
        &self,
        more_txs: usize,
        more_bytes: usize,
        namespaces: Vec<weft_types::NamespaceId>,
    ) -> Result<(), AdmitError> {
        let mut fresh: Vec<weft_types::NamespaceId> = namespaces
            .into_iter()
            .filter(|ns| !self.promised_namespaces.contains_key(ns))
            .collect();
        fresh.sort_unstable();
        fresh.dedup();
        let spanned = self.promised_namespaces.len() + fresh.len();
        if spanned > self.promised_namespaces_max() {
            return Err(AdmitError::Preconf {
                reason: format!(
                    "outstanding promises would span {spanned} namespaces, more than limits.namespaces_per_block_max = {}, so one block could not hold them",
                    self.promised_namespaces_max()
                ),
            });
        }
        let txs = self.promised.len() + more_txs;
        let bytes = self.promised_bytes + more_bytes;
        if txs > self.cfg.preconf_txs_max {
            return Err(AdmitError::Preconf {
                reason: format!(
                    "outstanding promises would exceed mempool.preconf_txs_max = {}",
                    self.cfg.preconf_txs_max
                ),
            });
        }
        if let Some((cap, why)) = &self.bond_cap {
            if txs > *cap {
                return Err(AdmitError::Preconf {
                    reason: format!(
                        "outstanding promises would exceed this validator's bond cap of {cap} ({why})"
                    ),
                });
            }
        }
        if bytes > self.cfg.preconf_bytes_max {
            return Err(AdmitError::Preconf {
                reason: format!(
                    "outstanding promises would exceed mempool.preconf_bytes_max = {} bytes",
                    self.cfg.preconf_bytes_max
                ),
            });
        }
        Ok(())
    }

    /// Outstanding promised transactions (see [`Mempool::promise`]).
    pub fn promised_len(&self) -> usize {
        self.promised.len()
    }

    /// This validator's outstanding promised transactions in `namespace`, earliest deadline
    /// first (at most `preconf_txs_max`: the liability bound).
    pub fn promised_in(&self, namespace: weft_types::NamespaceId) -> Vec<Transaction> {
        self.promised
            .values()
            .filter_map(|h| self.txs.get(h))
            .filter(|e| e.tx.namespace() == namespace)
            .map(|e| e.tx.clone())
            .collect()
    }

    /// The deadline this validator promised for a pending transaction, if any.
    pub fn promised_deadline(&self, hash: &TxHash) -> Option<u64> {
        self.txs.get(hash).and_then(|e| e.promised)
    }

    /// Height of the last finalized block applied.
    pub fn finalized_head(&self) -> Option<u64> {
        self.finalized_head
    }

    /// Transactions dropped by eviction or expiry since the last call.
    pub fn take_dropped(&mut self) -> Vec<TxHash> {
        std::mem::take(&mut self.dropped)
    }

    /// Number of queued (held-back, future-nonce) transactions.
    pub fn queued_len(&self) -> usize {
        self.queued.len()
    }

    /// Whether this exact transaction (same content and authentication) is pending: it was
    /// verified on admission and need not be checked again.
    pub fn contains_verified(&self, tx: &Transaction) -> bool {
        self.txs.get(&tx.hash()).is_some_and(|e| e.tx == *tx)
    }

    /// Status of a transaction the mempool knows about.
    pub fn status(&self, hash: &TxHash) -> Option<Status> {
        if self.txs.contains_key(hash) {
            return Some(Status::Pending);
        }
        self.rejected.get(hash).map(|r| Status::Rejected(r.clone()))
    }

    /// The sender's next nonce counting its pending transactions: the first nonce from its
    /// next finalized nonce that no pending transaction holds.
    pub fn next_nonce(&self, sender: &[u8; 32], chain: &impl ChainView) -> u64 {
        let mut next = chain.finalized_nonce(sender).map_or(0, |n| n + 1);
        while self.by_sender_nonce.contains_key(&(*sender, next)) {
            next += 1;
        }
        next
    }

    /// Picks transactions for a block in arrival order, within every block limit in `limits`.
    /// Skips those in `exclude` (already in an unfinalized ancestor). Each sender's
    /// transactions are taken in consecutive nonce order from `next_nonce(sender)`; one that
    /// arrived before its predecessor waits until the predecessor is taken.
    ///
    /// Every limit is applied here, while nonces are chained: the first of a sender's
    /// transactions that does not fit (bytes, or a namespace beyond `namespaces_max`) ends
    /// that sender's chain for this block, so no later nonce is ever taken without it. A
    /// selection therefore never has a nonce gap, whatever the senders sent.
    ///
    /// A bundle is one item (rule S1): its legs are taken together, only once every leg is
    /// pending here and is its sender's next nonce, all of them fit, and the bundle has not
    /// expired at `limits.height`; otherwise none is, and each leg waits in its sender's
    /// chain. A selection never splits a bundle. A leg's sender takes nothing more in the
    /// block (block rule B5 puts legs last in each namespace).
    pub fn select(
        &self,
        exclude: &HashSet<TxHash>,
        next_nonce: impl Fn(&[u8; 32]) -> u64,
        limits: SelectLimits,
    ) -> Vec<Transaction> {
        let mut sel = Selection {
            txs_max: limits.txs_max.min(self.limits.block_txs_max),
            bytes_max: limits.bytes_max,
            namespaces_max: limits
                .namespaces_max
                .min(self.limits.namespaces_per_block_max),
            height: limits.height,
            out: Vec::new(),
            bytes: 0,
            namespaces: HashSet::new(),
            expected: HashMap::new(),
            stopped: HashSet::new(),
            deferred: HashMap::new(),
        };
        // P1: promised transactions first, earliest deadline first; then everything else in
        // arrival order.
        let order = self.promised.values().chain(
            self.queue
                .values()
                .filter(|h| self.txs[*h].promised.is_none()),
        );
        for hash in order {
            if sel.out.len() >= sel.txs_max {
                break;
            }
            if exclude.contains(hash) {
                continue;
            }
            let entry = &self.txs[hash];
            let sender = sender_bytes(&entry.tx);
            if sel.stopped.contains(&sender) {
                continue;
            }
            let next = *sel
                .expected
                .entry(sender)
                .or_insert_with(|| next_nonce(&sender));
            if entry.tx.nonce() < next {
                continue; // used up by an ancestor; evicted once that finalizes
            }
            if entry.tx.nonce() > next {
                sel.defer(sender, entry);
                continue;
            }
            self.take_chain(&mut sel, entry, exclude, &next_nonce);
        }
        sel.out
    }

    /// Takes `first` (its sender's next nonce) and then, while they fit, the chains it
    /// unblocks: its sender's deferred successors, and for a bundle every leg's sender's.
    fn take_chain<'a>(
        &'a self,
        sel: &mut Selection<'a>,
        first: &'a Entry,
        exclude: &HashSet<TxHash>,
        next_nonce: &impl Fn(&[u8; 32]) -> u64,
    ) {
        let mut work = vec![first];
        while let Some(e) = work.pop() {
            let sender = sender_bytes(&e.tx);
            let Some(group) = self.group_of(sel, e, exclude, next_nonce) else {
                // A bundle not ready yet: the leg waits in its sender's chain, and is taken
                // when its last leg becomes ready.
                sel.defer(sender, e);
                continue;
            };
            if !sel.fits(&group) {
                for g in &group {
                    sel.stopped.insert(sender_bytes(&g.tx));
                }
                continue;
            }
            sel.bytes += section_bytes(&group);
            for g in &group {
                let s = sender_bytes(&g.tx);
                sel.bytes += g.bytes
                    + if sel.namespaces.insert(g.tx.namespace()) {
                        NAMESPACE_LIST_BYTES
                    } else {
                        0
                    };
                sel.out.push(g.tx.clone());
                let next = sel.expected.get_mut(&s).expect("expected is set");
                *next += 1;
                if let Some(d) = sel.deferred.get_mut(&s) {
                    d.remove(&g.tx.nonce());
                }
            }
            // Each sender in the group may now continue with its next nonce; a leg's sender
            // ends its block at the leg (B5 puts legs last in their namespaces, and rule 8
            // keeps a sender's nonces in order there).
            let mut senders: Vec<[u8; 32]> = group.iter().map(|g| sender_bytes(&g.tx)).collect();
            senders.sort_unstable();
            senders.dedup();
            if group.len() > 1 || group[0].tx.leg().is_some() {
                sel.stopped.extend(senders);
                continue;
            }
            for s in senders {
                let next = sel.expected[&s];
                if let Some(n) = sel.deferred.get_mut(&s).and_then(|d| d.remove(&next)) {
                    work.push(n);
                }
            }
            if sel.out.len() >= sel.txs_max {
                return;
            }
        }
    }

    /// What taking `e` takes: `e` alone, or for a bundle leg every leg in `(sender, nonce)`
    /// order, if each is pending, is its sender's next nonce and the bundle is live (S1).
    /// `None` when the bundle is not ready.
    fn group_of<'a>(
        &'a self,
        sel: &mut Selection<'a>,
        e: &'a Entry,
        exclude: &HashSet<TxHash>,
        next_nonce: &impl Fn(&[u8; 32]) -> u64,
    ) -> Option<Vec<&'a Entry>> {
        let Some(leg) = e.tx.leg() else {
            return Some(vec![e]);
        };
        if leg.valid_until < sel.height {
            return None;
        }
        let mut legs = Vec::with_capacity(leg.count());
        for hash in leg.leg_hashes() {
            if exclude.contains(&hash) {
                return None;
            }
            legs.push(self.txs.get(&hash)?);
        }
        // Legs from peers were admitted one by one: check the bundle as a whole here.
        if legs_orderable(legs.iter().map(|l| &l.tx)).is_err() {
            return None;
        }
        legs.sort_unstable_by_key(|l| (sender_bytes(&l.tx), l.tx.nonce()));
        let mut run: HashMap<[u8; 32], u64> = HashMap::new();
        for l in &legs {
            let s = sender_bytes(&l.tx);
            if sel.stopped.contains(&s) {
                return None;
            }
            let next = run
                .entry(s)
                .or_insert_with(|| *sel.expected.entry(s).or_insert_with(|| next_nonce(&s)));
            if l.tx.nonce() != *next {
                return None;
            }
            *next += 1;
        }
        Some(legs)
    }

    /// Up to `max` pending hashes in arrival order from arrival sequence `cursor`, wrapping to
    /// the oldest at the end; returns them and the cursor to continue from. Repeated calls
    /// cover the whole pending set (anti-entropy announcements).
    pub fn pending_from(&self, cursor: u64, max: usize) -> (Vec<TxHash>, u64) {
        let mut out: Vec<TxHash> = Vec::with_capacity(max.min(self.queue.len()));
        let mut next = cursor;
        for (seq, hash) in self.queue.range(cursor..).take(max) {
            out.push(*hash);
            next = seq + 1;
        }
        if out.len() < max {
            // Wrap: the oldest ones, up to where this call started.
            for (seq, hash) in self.queue.range(..cursor).take(max - out.len()) {
                out.push(*hash);
                next = seq + 1;
            }
        }
        (out, next)
    }

    /// The pending transactions among `hashes`, at most `txs_max` and `bytes_max` encoded
    /// bytes (the first that does not fit ends the list).
    pub fn get_many(
        &self,
        hashes: &[TxHash],
        txs_max: usize,
        bytes_max: usize,
    ) -> Vec<Transaction> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for hash in hashes {
            let Some(entry) = self.txs.get(hash) else {
                continue;
            };
            if out.len() >= txs_max || bytes + entry.bytes > bytes_max {
                break;
            }
            bytes += entry.bytes;
            out.push(entry.tx.clone());
        }
        out
    }

    /// Removes the transactions of a finalized block and evicts pending transactions whose
    /// nonce the block used up. Returns the evicted hashes (to drop from the pending log).
    /// [`Mempool::finalize_txs`] and [`Mempool::finish_finalized`] do the same in steps.
    pub fn on_finalized<'a>(&mut self, txs: impl Iterator<Item = &'a Transaction>) -> Vec<TxHash> {
        let mut step = Finalizing::default();
        self.finalize_txs(&mut step, txs);
        self.finish_finalized(step)
    }

    /// Removes some of a finalized block's transactions, recording what
    /// [`Mempool::finish_finalized`] needs. A caller applying a large block takes the
    /// mempool's lock once per part, so no one waits for the whole block (the store already
    /// holds the block: admission and selection read finalized nonces there, so they treat a
    /// finalized transaction not yet removed as used up).
    pub fn finalize_txs<'a>(
        &mut self,
        step: &mut Finalizing,
        txs: impl Iterator<Item = &'a Transaction>,
    ) {
        for tx in txs {
            self.remove(&tx.hash());
            let (sender, nonce) = (sender_bytes(tx), tx.nonce());
            let span = step.floors.entry(sender).or_insert((nonce, nonce));
            span.0 = span.0.min(nonce);
            span.1 = span.1.max(nonce);
            *step.counts.entry(sender).or_default() += 1;
        }
    }

    /// Ends applying a finalized block whose transactions [`Mempool::finalize_txs`] removed:
    /// evicts pending transactions whose nonce the block used up (found through the sender's
    /// nonce index, not a scan of the pool: the work is the block's, whatever the pool
    /// holds), drops bundles that lost a leg, and makes ready what finalized nonces unblock.
    /// Returns the evicted hashes.
    pub fn finish_finalized(&mut self, step: Finalizing) -> Vec<TxHash> {
        let floors = step.floors;
        if floors.is_empty() {
            return Vec::new();
        }
        let mut stale: Vec<(TxHash, u64, u64)> = Vec::new();
        for (sender, &(lo, floor)) in &floors {
            if floor - lo >= step.counts[sender] {
                // Not consecutive (a valid block's are): look through the pool for this
                // sender rather than probe a range the block does not bound.
                let mut found: Vec<(TxHash, u64, u64)> = self
                    .by_sender_nonce
                    .iter()
                    .filter(|((s, n), _)| s == sender && *n <= floor)
                    .map(|((_, n), h)| (*h, *n, floor))
                    .collect();
                found.sort_unstable_by_key(|(_, n, _)| *n);
                stale.extend(found);
                continue;
            }
            // The block used nonces lo..=floor of this sender (consecutive, rule 8); another
            // transaction pending at one of them is used up.
            for nonce in lo..=floor {
                if let Some(hash) = self.by_sender_nonce.get(&(*sender, nonce)) {
                    stale.push((*hash, nonce, floor));
                }
            }
            // Admission refuses a nonce at or below the finalized one, so nothing is pending
            // below `lo`; should anything be, it is used up too.
            let mut below = lo;
            while let Some(hash) = below
                .checked_sub(1)
                .and_then(|n| self.by_sender_nonce.get(&(*sender, n)))
            {
                below -= 1;
                stale.push((*hash, below, floor));
            }
        }
        let mut dead_bundles = Vec::new();
        for (hash, nonce, floor) in &stale {
            if let Some(leg) = self.txs.get(hash).and_then(|e| e.tx.leg()) {
                dead_bundles.push(leg.leg_hashes());
            }
            self.remove(hash);
            self.record_rejection(*hash, format!("nonce {nonce} was used up by a finalized transaction (sender's finalized nonce is now {floor})"));
        }
        // A bundle that lost a leg can never be included: its other legs go too, freeing
        // their senders' nonces (S2).
        let mut stale: Vec<TxHash> = stale.into_iter().map(|(h, _, _)| h).collect();
        let before = self.dropped.len();
        for legs in dead_bundles {
            self.drop_legs(
                legs,
                "dropped: another leg of its bundle can no longer be included",
            );
        }
        // Reported to the caller here, not through `take_dropped`.
        stale.extend(self.dropped.drain(before..));
        // Finalized nonces may close a sender's gap: its queued transactions become ready.
        for (sender, &(_, floor)) in &floors {
            if let Some(end) = self.ready_end.get_mut(sender) {
                *end = (*end).max(floor + 1);
                self.promote(*sender);
            }
        }
        stale
    }

    /// Records why a transaction was rejected (bounded; oldest reasons are forgotten).
    pub fn record_rejection(&mut self, hash: TxHash, reason: String) {
        if self.cfg.rejected_max == 0 {
            return;
        }
        if self.rejected.insert(hash, reason).is_none() {
            self.rejected_order.push_back(hash);
        }
        while self.rejected_order.len() > self.cfg.rejected_max {
            if let Some(old) = self.rejected_order.pop_front() {
                self.rejected.remove(&old);
            }
        }
    }

    /// How many local admissions have entered the outbox so far. A transaction leaves the
    /// outbox only in a batch sent to enough peers (or put back, [`Mempool::return_gossip`]),
    /// so once the outbox has been drained by sends that all reached enough peers, every
    /// admission counted here before the draining began has spread.
    pub fn outbox_seq(&self) -> u64 {
        self.outbox_seq
    }

    /// Takes up to `limits.gossip_batch_txs_max` locally admitted transactions (at most
    /// `bytes_max` bytes) to gossip.
    pub fn take_gossip_batch(&mut self, bytes_max: usize) -> Vec<Transaction> {
        let mut bytes = 0;
        let mut n = 0;
        for tx in &self.outbox {
            let b = encoded_len(tx);
            if n >= self.limits.gossip_batch_txs_max || (n > 0 && bytes + b > bytes_max) {
                break;
            }
            bytes += b;
            n += 1;
        }
        self.outbox.drain(..n).collect()
    }

    /// Puts a gossip batch that did not reach enough peers back at the front of the outbox
    /// (those of its transactions still pending), to be sent again.
    pub fn return_gossip(&mut self, batch: &[TxHash]) {
        let still: Vec<Transaction> = batch
            .iter()
            .filter_map(|h| self.txs.get(h).map(|e| e.tx.clone()))
            .collect();
        self.outbox.splice(0..0, still);
    }

    /// Ends this validator's promise for a pending transaction (its receipt was never
    /// released), with the predecessors that promise marked; a no-op if it was not
    /// promised, or if a later promised transaction of its sender rests on it.
    pub fn unpromise(&mut self, hash: &TxHash) {
        let Some(entry) = self.txs.get(hash) else {
            return;
        };
        // A later promised transaction of the sender rests on this one: it stays while that
        // one does, and goes with it if that promise is withdrawn too (its receipt may not be
        // out yet either). Withdraw a sender's promises from its highest nonce down.
        let next = (sender_bytes(&entry.tx), entry.tx.nonce().saturating_add(1));
        if let Some(&later) = self
            .by_sender_nonce
            .get(&next)
            .filter(|h| self.txs[*h].promised.is_some())
        {
            if entry.promised.is_some() {
                let mine = self.covers.remove(hash).unwrap_or_default();
                self.covers
                    .entry(later)
                    .or_default()
                    .extend(std::iter::once(*hash).chain(mine));
            }
            return;
        }
        // The predecessors its promise marked go with it (no receipt promised them).
        for h in self.book_out(hash) {
            self.book_out(&h);
        }
    }

    fn remove(&mut self, hash: &TxHash) {
        self.book_out(hash);
        let Some(entry) = self.txs.remove(hash) else {
            return;
        };
        self.queue.remove(&entry.seq);
        if let Some(leg) = entry.tx.leg() {
            self.legs_by_expiry.remove(&(leg.valid_until, *hash));
        }
        let sender = sender_bytes(&entry.tx);
        self.by_sender_nonce.remove(&(sender, entry.tx.nonce()));
        if entry.queued {
            self.queued.remove(&entry.seq);
            self.queued_bytes -= entry.bytes;
            if let Some(c) = self.queued_by_sender.get_mut(&sender) {
                *c -= 1;
                if *c == 0 {
                    self.queued_by_sender.remove(&sender);
                }
            }
        }
        if let Some(c) = self.sender_count.get_mut(&sender) {
            *c -= 1;
            if *c == 0 {
                self.sender_count.remove(&sender);
                self.ready_end.remove(&sender);
            }
        }
        self.bytes -= entry.bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_chain() -> weft_types::ChainId {
        weft_types::ChainId(weft_types::sha256(&[b"unit tests"]))
    }
    use bytes::Bytes;
    use commonware_math::algebra::Random as _;
    use rand_core::SeedableRng as _;
    use weft_types::{NamespaceId, SigningKey};

    #[derive(Default)]
    struct Chain {
        nonces: HashMap<[u8; 32], u64>,
        finalized: HashMap<TxHash, u64>,
    }
    impl ChainView for Chain {
        fn finalized_nonce(&self, s: &[u8; 32]) -> Option<u64> {
            self.nonces.get(s).copied()
        }
        fn finalized_height(&self, h: &TxHash) -> Option<u64> {
            self.finalized.get(h).copied()
        }
    }

    fn key(seed: u64) -> SigningKey {
        SigningKey::random(rand_chacha::ChaCha20Rng::seed_from_u64(seed))
    }
    fn lim(txs_max: usize) -> SelectLimits {
        SelectLimits {
            height: 1,
            txs_max,
            bytes_max: usize::MAX,
            namespaces_max: usize::MAX,
        }
    }
    fn tx(k: &SigningKey, nonce: u64) -> Transaction {
        Transaction::sign(
            k,
            &test_chain(),
            NamespaceId(1),
            nonce,
            Bytes::from(nonce.to_be_bytes().to_vec()),
        )
    }

    #[test]
    fn fcfs_order_and_specific_rejections() {
        let (a, b) = (key(1), key(2));
        let mut chain = Chain::default();
        let mut pool = Mempool::new(
            Config {
                sender_txs_max: 2,
                ..Config::default()
            },
            Limits::default(),
        );
        let t1 = tx(&b, 0);
        let t2 = tx(&a, 0);
        let t3 = tx(&a, 1);
        for t in [&t1, &t2, &t3] {
            pool.admit(t.clone(), &chain, true).unwrap();
        }
        assert_eq!(
            pool.admit(t1.clone(), &chain, true),
            Err(AdmitError::Duplicate { hash: t1.hash() })
        );
        let same_nonce = Transaction::sign(
            &a,
            &test_chain(),
            NamespaceId(2),
            1,
            Bytes::from_static(b"other"),
        );
        assert!(matches!(
            pool.admit(same_nonce, &chain, true),
            Err(AdmitError::NonceInUse { nonce: 1, .. })
        ));
        assert!(matches!(pool.admit(tx(&b, 1), &chain, true), Ok(())));
        // With sender_txs_max = 2 the sender's window is nonces 0 and 1: nonce 2 is too far ahead.
        assert!(matches!(
            pool.admit(tx(&a, 2), &chain, true),
            Err(AdmitError::NonceTooHigh {
                nonce: 2,
                expected: 0,
                gap_max: 2
            })
        ));
        let tight = Config {
            txs_max: 4,
            ..Config::default()
        };
        let mut small = Mempool::new(tight, Limits::default());
        for n in 0..4 {
            small.admit(tx(&key(7), n), &chain, true).unwrap();
        }
        assert!(matches!(
            small.admit(tx(&a, 0), &chain, true),
            Err(AdmitError::Full {
                limit: "mempool.txs_max",
                ..
            })
        ));
        let sb: [u8; 32] = b.public_key_bytes();
        chain.nonces.insert(sb, 9);
        assert_eq!(
            pool.admit(tx(&b, 9), &chain, true),
            Err(AdmitError::NonceTooLow {
                nonce: 9,
                expected: 10
            })
        );
        let selected = pool.select(&HashSet::new(), |_| 0, lim(100));
        assert_eq!(
            selected[..3],
            [t1.clone(), t2.clone(), t3.clone()],
            "arrival order"
        );
        let excluded: HashSet<_> = [t1.hash()].into();
        let next_b = |s: &[u8; 32]| if *s == sb { 1 } else { 0 };
        assert_eq!(
            pool.select(&excluded, next_b, lim(100))[..2],
            [t2.clone(), t3.clone()]
        );
        assert_eq!(pool.take_gossip_batch(usize::MAX).len(), 4);
        assert!(pool.take_gossip_batch(usize::MAX).is_empty());
    }

    #[test]
    fn a_sender_is_never_ordered_out_of_nonce_order() {
        let a = key(1);
        let chain = Chain::default();
        let mut pool = Mempool::new(Config::default(), Limits::default());
        // Nonces arrive 2, 0, 3 (1 is missing): only 0 may be ordered.
        for n in [2, 0, 3] {
            pool.admit(tx(&a, n), &chain, false).unwrap();
        }
        let nonces = |txs: Vec<Transaction>| txs.iter().map(|t| t.nonce()).collect::<Vec<_>>();
        assert_eq!(
            nonces(pool.select(&HashSet::new(), |_| 0, lim(100))),
            vec![0]
        );
        assert_eq!(pool.next_nonce(&a.public_key_bytes(), &chain), 1);
        // Once 1 arrives, the whole run is ordered, in nonce order.
        pool.admit(tx(&a, 1), &chain, false).unwrap();
        assert_eq!(
            nonces(pool.select(&HashSet::new(), |_| 0, lim(100))),
            vec![0, 1, 2, 3]
        );
        assert_eq!(pool.next_nonce(&a.public_key_bytes(), &chain), 4);
        // The block limit cuts the run without leaving a gap.
        assert_eq!(
            nonces(pool.select(&HashSet::new(), |_| 0, lim(2))),
            vec![0, 1]
        );
    }

    /// A finalized block applied in parts (one lock hold each, as the finalizer does) leaves
    /// the pool exactly as applying it whole: the same evictions (found through the nonce
    /// index, not a scan), the same ready and held-back transactions, the same selection.
    #[test]
    fn finalizing_in_parts_matches_finalizing_whole() {
        let chain = Chain::default();
        let senders: Vec<SigningKey> = (1..=4).map(key).collect();
        let mut pending: Vec<Transaction> = Vec::new();
        for (i, k) in senders.iter().enumerate() {
            for nonce in 0..5 {
                pending.push(tx(k, nonce));
            }
            // A held-back one above a gap, which finalization may make ready.
            pending.push(tx(k, 6 + i as u64));
        }
        // The block: sender 0's nonces 0..=2 as pending; sender 1's 0..=1 as other
        // transactions than the pending ones (conflicts); sender 2's 0..=4 and a 5th that
        // fills its gap; nothing of sender 3.
        let elsewhere = |k: &SigningKey, nonce: u64| {
            Transaction::sign(
                k,
                &test_chain(),
                NamespaceId(3),
                nonce,
                Bytes::from(format!("elsewhere {nonce}")),
            )
        };
        let mut block: Vec<Transaction> = (0..3).map(|n| tx(&senders[0], n)).collect();
        block.extend((0..2).map(|n| elsewhere(&senders[1], n)));
        block.extend((0..=5).map(|n| tx(&senders[2], n)));
        let fresh = || {
            let mut pool = Mempool::new(Config::default(), Limits::default());
            for t in &pending {
                pool.admit(t.clone(), &chain, false).unwrap();
            }
            pool
        };
        let mut whole = fresh();
        let mut evicted_whole = whole.on_finalized(block.iter());
        let mut parts = fresh();
        let mut step = Finalizing::default();
        for part in block.chunks(1) {
            parts.finalize_txs(&mut step, part.iter());
        }
        let mut evicted_parts = parts.finish_finalized(step);
        evicted_whole.sort();
        evicted_parts.sort();
        let mut conflicts: Vec<TxHash> = (0..2).map(|n| tx(&senders[1], n).hash()).collect();
        conflicts.sort();
        assert_eq!(
            evicted_whole, conflicts,
            "the conflicting nonces are evicted"
        );
        assert_eq!(evicted_parts, evicted_whole);
        for t in pending.iter().chain(&block) {
            assert_eq!(parts.status(&t.hash()), whole.status(&t.hash()), "{t:?}");
        }
        assert_eq!((parts.len(), parts.bytes()), (whole.len(), whole.bytes()));
        assert_eq!(parts.queued_len(), whole.queued_len());
        // Each sender's next nonce after the block.
        let next = |s: &[u8; 32]| {
            let i = senders.iter().position(|k| &k.public_key_bytes() == s);
            [3, 2, 6, 0][i.expect("a known sender")]
        };
        let selected = |pool: &Mempool| {
            pool.select(&HashSet::new(), next, lim(100))
                .iter()
                .map(|t| t.hash())
                .collect::<Vec<_>>()
        };
        assert_eq!(selected(&parts), selected(&whole));
        // Sender 2's held-back nonce 8 is still held back (7 is missing); sender 0's 6 too.
        assert!(!selected(&whole).is_empty());
    }

    #[test]
    fn finalization_removes_and_evicts_stale_nonces() {
        let (a, b) = (key(1), key(2));
        let chain = Chain::default();
        let mut pool = Mempool::new(Config::default(), Limits::default());
        let conflicting = tx(&a, 0);
        let next = tx(&a, 1);
        pool.admit(conflicting.clone(), &chain, false).unwrap();
        pool.admit(next.clone(), &chain, false).unwrap();
        // Another validator ordered a different transaction of `a` with nonce 0.
        let included = Transaction::sign(
            &a,
            &test_chain(),
            NamespaceId(3),
            0,
            Bytes::from_static(b"elsewhere"),
        );
        let other = tx(&b, 0);
        pool.admit(other.clone(), &chain, false).unwrap();
        let evicted = pool.on_finalized([&included, &other].into_iter());
        assert_eq!(evicted, vec![conflicting.hash()]);
        assert_eq!(pool.status(&next.hash()), Some(Status::Pending));
        assert!(
            matches!(pool.status(&conflicting.hash()), Some(Status::Rejected(r)) if r.contains("nonce 0"))
        );
        assert_eq!(pool.status(&other.hash()), None);
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.bytes(), encoded_len(&next));
    }

    trait PkBytes {
        fn public_key_bytes(&self) -> [u8; 32];
    }
    impl PkBytes for SigningKey {
        fn public_key_bytes(&self) -> [u8; 32] {
            use commonware_cryptography::Signer as _;
            self.public_key().as_ref().try_into().unwrap()
        }
    }

    /// One sender whose consecutive nonces span more namespaces than a block may hold: the
    /// selection stops that sender's chain at the first namespace that does not fit (no
    /// nonce gap), and other senders' transactions still fill the block.
    #[test]
    fn a_chain_stops_at_the_first_transaction_that_does_not_fit() {
        let limits = Limits {
            namespaces_per_block_max: 4,
            ..Limits::default()
        };
        let mut pool = Mempool::new(Config::default(), limits);
        let chain = Chain::default();
        let (spammer, honest) = (key(1), key(2));
        for n in 0..10u64 {
            let t = Transaction::sign(
                &spammer,
                &test_chain(),
                NamespaceId(100 + n),
                n,
                Bytes::from_static(b"x"),
            );
            pool.admit(t, &chain, true).unwrap();
        }
        for n in 0..3u64 {
            pool.admit(tx(&honest, n), &chain, true).unwrap();
        }
        let picked = pool.select(&HashSet::new(), |_| 0, lim(100));
        let spam: Vec<u64> = picked
            .iter()
            .filter(|t| {
                t.sender()[..] == commonware_cryptography::Signer::public_key(&spammer).as_ref()[..]
            })
            .map(|t| t.nonce())
            .collect();
        // Namespaces 100-103 fill the block's four; nonce 4 (namespace 104) ends the chain.
        assert_eq!(spam, vec![0, 1, 2, 3]);
        // The honest sender's namespace 1 no longer fits either: its chain waits too.
        let namespaces: HashSet<_> = picked.iter().map(|t| t.namespace()).collect();
        assert_eq!(namespaces.len(), 4);
        // Bytes: the first transaction that does not fit ends the chain, never a later one.
        let one = encoded_len(&tx(&honest, 0)) + NAMESPACE_LIST_BYTES;
        let picked = pool.select(
            &HashSet::new(),
            |_| 0,
            SelectLimits {
                height: 1,
                txs_max: 100,
                bytes_max: one * 2,
                namespaces_max: 100,
            },
        );
        let mut by_sender: HashMap<[u8; 32], Vec<u64>> = HashMap::new();
        for t in &picked {
            by_sender
                .entry(sender_bytes(t))
                .or_default()
                .push(t.nonce());
        }
        for (_, list) in by_sender {
            assert!(
                list.iter().enumerate().all(|(i, n)| *n == i as u64),
                "{list:?}"
            );
        }
    }

    /// Defect: nonces far ahead were admitted and held forever, so a few keys could fill the
    /// pool with transactions that can never be included. Now a flood of gapped nonces from
    /// many keys takes at most the queued bounds, and includable transactions from honest
    /// senders are still admitted, evicting queued ones once the pool is full.
    #[test]
    fn queued_flood_never_blocks_includable_transactions() {
        let cfg = Config {
            txs_max: 200,
            sender_txs_max: 100,
            queued_txs_max: 50,
            queued_sender_txs_max: 4,
            ..Config::default()
        };
        cfg.validate().unwrap();
        let mut pool = Mempool::new(cfg, Limits::default());
        let chain = Chain::default();
        let mut flood_ok = 0;
        for k in 0..100u64 {
            let attacker = key(1_000 + k);
            for n in 1..=10u64 {
                // Nonce 0 never comes: every one of these is held back.
                if pool.admit(tx(&attacker, n), &chain, true).is_ok() {
                    flood_ok += 1;
                }
            }
        }
        assert_eq!(flood_ok, 50, "the queued bounds did not hold");
        assert_eq!(pool.queued_len(), 50);
        let err = pool.admit(tx(&key(5_000), 3), &chain, true).unwrap_err();
        assert!(
            matches!(
                err,
                AdmitError::Full {
                    limit: "mempool.queued_txs_max",
                    ..
                }
            ),
            "{err}"
        );
        // 160 honest senders: the first 150 fit beside the queued ones, the last 10 evict.
        let honest: Vec<Transaction> = (0..160u64).map(|k| tx(&key(10_000 + k), 0)).collect();
        for t in &honest {
            pool.admit(t.clone(), &chain, true).unwrap();
        }
        assert_eq!(pool.len(), 200);
        assert_eq!(pool.queued_len(), 40);
        let dropped = pool.take_dropped();
        assert_eq!(dropped.len(), 10);
        for h in &dropped {
            assert!(matches!(pool.status(h), Some(Status::Rejected(r)) if r.contains("evicted")));
        }
        // Every honest transaction is selected for the next block; no queued one is.
        let picked: HashSet<TxHash> = pool
            .select(&HashSet::new(), |_| 0, lim(1_000))
            .iter()
            .map(|t| t.hash())
            .collect();
        assert_eq!(picked, honest.iter().map(|t| t.hash()).collect());
    }

    #[test]
    fn queued_transactions_are_promoted_when_the_gap_fills_and_expire_otherwise() {
        let cfg = Config {
            queued_lifetime_ms: 1_000,
            ..Config::default()
        };
        let mut pool = Mempool::new(cfg, Limits::default());
        let mut chain = Chain::default();
        let (a, b, c) = (key(1), key(2), key(3));
        pool.tick(10_000);
        // a: the gap fills by arrival.
        pool.admit(tx(&a, 1), &chain, true).unwrap();
        pool.admit(tx(&a, 2), &chain, true).unwrap();
        assert_eq!(pool.queued_len(), 2);
        pool.admit(tx(&a, 0), &chain, true).unwrap();
        assert_eq!(pool.queued_len(), 0);
        // b: the gap fills by finalization of a nonce this pool never held.
        pool.admit(tx(&b, 2), &chain, true).unwrap();
        pool.admit(tx(&b, 0), &chain, true).unwrap();
        assert_eq!(pool.queued_len(), 1);
        let elsewhere = [tx(&b, 0), tx(&b, 1)];
        chain.nonces.insert(sender_bytes(&elsewhere[1]), 1);
        pool.on_finalized(elsewhere.iter());
        assert_eq!(pool.queued_len(), 0);
        // c: the gap never fills; it expires after its lifetime.
        let stuck = tx(&c, 5);
        pool.admit(stuck.clone(), &chain, true).unwrap();
        pool.tick(10_999);
        assert_eq!(pool.queued_len(), 1);
        pool.tick(11_000);
        assert_eq!(pool.queued_len(), 0);
        assert_eq!(pool.take_dropped(), vec![stuck.hash()]);
        assert!(
            matches!(pool.status(&stuck.hash()), Some(Status::Rejected(r)) if r.contains("expired"))
        );
        // Ready transactions never expire.
        assert!(pool.status(&tx(&a, 0).hash()) == Some(Status::Pending));
    }

    /// P1-P3: promised transactions are selected first (with their predecessors), the
    /// liability bound refuses promises beyond it, held-back transactions cannot be
    /// promised, and a promise ends at its deadline or with its transaction.
    #[test]
    fn promised_transactions_go_first_within_the_liability_bound() {
        let (a, b, c) = (key(1), key(2), key(3));
        let chain = Chain::default();
        let mut pool = Mempool::new(
            Config {
                preconf_txs_max: 3,
                ..Config::default()
            },
            Limits::default(),
        );
        let early = [tx(&a, 0), tx(&a, 1)];
        for t in &early {
            pool.admit(t.clone(), &chain, false).unwrap();
        }
        let (b0, b1) = (tx(&b, 0), tx(&b, 1));
        pool.admit(b0.clone(), &chain, true).unwrap();
        pool.admit(b1.clone(), &chain, true).unwrap();
        // Promising b's nonce 1 promises its pending predecessor too.
        pool.promise(&b1.hash(), 40).unwrap();
        assert_eq!(pool.promised_len(), 2);
        assert_eq!(pool.promised_deadline(&b0.hash()), Some(40));
        let next = |s: &[u8; 32]| chain.finalized_nonce(s).map_or(0, |n| n + 1);
        // A two-transaction block holds the promises, not the older arrivals.
        let picked = pool.select(&HashSet::new(), next, lim(2));
        assert_eq!(picked, vec![b0.clone(), b1.clone()]);
        let all = pool.select(&HashSet::new(), next, lim(10));
        assert_eq!(
            all,
            vec![b0.clone(), b1.clone(), early[0].clone(), early[1].clone()]
        );

        // The bound: one more promise fits, the next does not.
        pool.promise(&early[0].hash(), 41).unwrap();
        assert!(matches!(
            pool.promise(&early[1].hash(), 41),
            Err(AdmitError::Preconf { reason }) if reason.contains("preconf_txs_max = 3")
        ));
        // A held-back transaction cannot be promised.
        let gap = tx(&c, 3);
        pool.admit(gap.clone(), &chain, true).unwrap();
        assert!(matches!(
            pool.promise(&gap.hash(), 41),
            Err(AdmitError::Preconf { reason }) if reason.contains("held back")
        ));
        // Finalization ends b's promises; a passed deadline ends a's.
        pool.on_finalized([b0, b1].iter());
        assert_eq!(pool.promised_len(), 1);
        pool.on_finalized_height(41);
        assert_eq!(
            pool.promised_len(),
            1,
            "a deadline of 41 is still live at 41"
        );
        pool.on_finalized_height(42);
        assert_eq!(pool.promised_len(), 0);
        assert_eq!(pool.promised_deadline(&early[0].hash()), None);
        assert_eq!(pool.status(&early[0].hash()), Some(Status::Pending));
        pool.promise(&early[1].hash(), 50).unwrap();
        assert_eq!(
            pool.promised_len(),
            2,
            "room again, and the predecessor comes along"
        );
    }

    /// Gossip rule 5's retry: a batch that did not reach enough peers goes back to the front
    /// of the outbox, minus what left the pool meanwhile.
    #[test]
    fn a_returned_gossip_batch_is_sent_again_first() {
        let a = key(1);
        let chain = Chain::default();
        let mut pool = Mempool::new(Config::default(), Limits::default());
        let txs: Vec<Transaction> = (0..3).map(|n| tx(&a, n)).collect();
        for t in &txs[..2] {
            pool.admit(t.clone(), &chain, true).unwrap();
        }
        let first = pool.take_gossip_batch(usize::MAX);
        assert_eq!(first, txs[..2].to_vec());
        pool.admit(txs[2].clone(), &chain, true).unwrap();
        pool.on_finalized([txs[0].clone()].iter());
        let hashes: Vec<TxHash> = first.iter().map(|t| t.hash()).collect();
        pool.return_gossip(&hashes);
        assert_eq!(
            pool.take_gossip_batch(usize::MAX),
            vec![txs[1].clone(), txs[2].clone()]
        );
        assert!(pool.take_gossip_batch(usize::MAX).is_empty());
    }

    fn bundle(
        a: &SigningKey,
        an: u64,
        b: &SigningKey,
        bn: u64,
        valid_until: u64,
    ) -> Vec<Transaction> {
        use weft_types::LegSpec;
        let spec = |ns, nonce| LegSpec {
            namespace: NamespaceId(ns),
            nonce,
            payload: Bytes::from(format!("leg {ns} {nonce}")),
        };
        Transaction::sign_bundle(
            &test_chain(),
            valid_until,
            &[(a, spec(8, an)), (b, spec(7, bn))],
        )
        .unwrap()
    }

    fn cfg() -> Config {
        Config::default()
    }

    /// S1: a bundle is selected whole once its last leg is ready, even when one leg's
    /// sender has a predecessor that arrived after the bundle; never one leg alone.
    #[test]
    fn a_bundle_is_selected_whole_or_not_at_all() {
        let chain = Chain::default();
        let (a, b) = (key(1), key(2));
        let legs = bundle(&a, 0, &b, 1, 100);
        let mut pool = Mempool::new(cfg(), Limits::default());
        pool.admit_bundle(&legs, &chain, true).unwrap();
        // b's nonce 0 is missing: nothing of the bundle can go.
        let picked = pool.select(&HashSet::new(), |_| 0, lim(100));
        assert!(picked.is_empty(), "{picked:?}");
        // It arrives after the bundle: both legs go, after it, in one selection.
        let b0 = tx(&b, 0);
        pool.admit(b0.clone(), &chain, true).unwrap();
        let picked: Vec<TxHash> = pool
            .select(&HashSet::new(), |_| 0, lim(100))
            .iter()
            .map(|t| t.hash())
            .collect();
        assert_eq!(picked.len(), 3);
        assert!(picked.contains(&legs[0].hash()) && picked.contains(&legs[1].hash()));
        // A block with room for two transactions takes b's first and not half the bundle.
        let picked = pool.select(&HashSet::new(), |_| 0, lim(2));
        assert_eq!(picked, vec![b0]);
        // A peer that has only one leg (gossip split them) never selects it.
        let mut peer = Mempool::new(cfg(), Limits::default());
        peer.admit(legs[0].clone(), &chain, false).unwrap();
        assert!(peer.select(&HashSet::new(), |_| 0, lim(100)).is_empty());
    }

    /// S1 and S2: an expired bundle is never selected, and once the chain passes its
    /// expiry its legs go and their senders' later nonces wait for the freed nonce.
    #[test]
    fn an_expired_bundle_is_not_selected_and_is_dropped() {
        let chain = Chain::default();
        let (a, b) = (key(1), key(2));
        let legs = bundle(&a, 0, &b, 0, 5);
        let mut pool = Mempool::new(cfg(), Limits::default());
        pool.admit_bundle(&legs, &chain, true).unwrap();
        let a1 = tx(&a, 1);
        pool.admit(a1.clone(), &chain, true).unwrap();
        let at = |height| SelectLimits { height, ..lim(100) };
        // The bundle, and not a's next nonce: a leg's sender ends its block at the leg.
        assert_eq!(pool.select(&HashSet::new(), |_| 0, at(5)).len(), 2);
        assert!(pool.select(&HashSet::new(), |_| 0, at(6)).is_empty());
        pool.on_finalized_height(5);
        assert_eq!(pool.len(), 1);
        assert!(
            matches!(pool.status(&legs[0].hash()), Some(Status::Rejected(r)) if r.contains("valid until height 5"))
        );
        assert_eq!(pool.queued_len(), 1, "a's nonce 1 waits for a new nonce 0");
        assert!(pool.take_dropped().contains(&legs[1].hash()));
    }

    /// A bundle with one bad leg is refused whole, naming the leg; nothing of it stays.
    #[test]
    fn one_refused_leg_refuses_the_bundle() {
        let chain = Chain::default();
        let (a, b) = (key(1), key(2));
        let mut pool = Mempool::new(cfg(), Limits::default());
        let taken = tx(&b, 0);
        pool.admit(taken.clone(), &chain, true).unwrap();
        let legs = bundle(&a, 0, &b, 0, 100);
        let err = pool.admit_bundle(&legs, &chain, true).unwrap_err();
        assert!(
            matches!(&err, AdmitError::BundleLeg { leg: 1, reason } if matches!(**reason, AdmitError::NonceInUse { .. })),
            "{err}"
        );
        assert_eq!(pool.len(), 1);
        assert!(pool.status(&legs[0].hash()).is_none());
        assert_eq!(pool.take_gossip_batch(usize::MAX), vec![taken]);
        // Shape: a leg alone, legs out of order, one namespace.
        assert!(check_bundle_shape(&legs[..1]).is_err());
        assert!(check_bundle_shape(&[legs[1].clone(), legs[0].clone()]).is_err());
        assert!(check_bundle_shape(&[tx(&a, 0), tx(&b, 0)]).is_err());
        assert_eq!(
            check_bundle_shape(&legs).unwrap(),
            legs[0].leg().unwrap().bundle()
        );
    }

    /// When a leg's nonce is used up by another finalized transaction, its bundle is dead:
    /// the other legs go too and free their senders.
    #[test]
    fn a_bundle_that_loses_a_leg_is_dropped_whole() {
        let mut chain = Chain::default();
        let (a, b) = (key(1), key(2));
        let legs = bundle(&a, 0, &b, 0, 100);
        let mut pool = Mempool::new(cfg(), Limits::default());
        pool.admit_bundle(&legs, &chain, true).unwrap();
        let b1 = tx(&b, 1);
        pool.admit(b1, &chain, true).unwrap();
        let rival = tx(&a, 0);
        chain.nonces.insert(*rival.sender(), 0);
        let dropped = pool.on_finalized([rival].iter());
        assert!(dropped.contains(&legs[0].hash()) && dropped.contains(&legs[1].hash()));
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.queued_len(), 1, "b's nonce 1 waits for a new nonce 0");
    }

    /// Attack: a bundle whose same-sender legs in one namespace run against leg order would
    /// make every leader propose a block breaking rule 8 (B5 lists legs by index): refused at
    /// the RPC, and never selected if it arrives by gossip.
    #[test]
    fn a_bundle_no_block_could_hold_is_refused_and_never_selected() {
        use weft_types::LegSpec;
        let chain = Chain::default();
        let (a, b) = (key(1), key(2));
        let spec = |ns, nonce| LegSpec {
            namespace: NamespaceId(ns),
            nonce,
            payload: Bytes::from(format!("{ns}/{nonce}")),
        };
        let legs = Transaction::sign_bundle(
            &test_chain(),
            100,
            &[(&a, spec(7, 1)), (&a, spec(7, 0)), (&b, spec(8, 0))],
        )
        .unwrap();
        let err = check_bundle_shape(&legs).unwrap_err();
        assert!(err.to_string().contains("increasing nonces"), "{err}");
        let (c, d) = (key(3), key(4));
        let one_ns =
            Transaction::sign_bundle(&test_chain(), 100, &[(&c, spec(7, 0)), (&d, spec(7, 0))])
                .unwrap();
        assert!(check_bundle_shape(&one_ns).is_err());
        // By gossip, one by one: admitted (peers' legs are not shape-checked) but never taken.
        let mut pool = Mempool::new(cfg(), Limits::default());
        for l in legs.iter().chain(&one_ns) {
            pool.admit(l.clone(), &chain, false)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        assert!(pool.select(&HashSet::new(), |_| 0, lim(100)).is_empty());
    }

    /// S3 and S2: a bundle valid too far ahead is refused (it could hold nonces for ever);
    /// when one leg expires held back, its ready sibling goes too instead of sitting for ever.
    #[test]
    fn bundles_are_bounded_in_time_and_die_whole() {
        let chain = Chain::default();
        let (a, b) = (key(1), key(2));
        let mut pool = Mempool::new(cfg(), Limits::default());
        let far = bundle(&a, 0, &b, 0, crate::DEFAULT_BUNDLE_VALID_HEIGHTS_MAX + 1);
        assert!(matches!(
            pool.admit_bundle(&far, &chain, true),
            Err(AdmitError::BundleLeg { reason, .. }) if matches!(*reason, AdmitError::BadBundle { .. })
        ));
        // b's leg is held back (b's nonce 0 is missing), a's is ready.
        let legs = bundle(&a, 0, &b, 1, 100);
        pool.tick(1);
        pool.admit_bundle(&legs, &chain, true).unwrap();
        assert_eq!(pool.queued_len(), 1);
        pool.tick(1 + crate::DEFAULT_QUEUED_LIFETIME_MS);
        assert!(
            pool.is_empty(),
            "a's ready leg left with its expired sibling"
        );
        let dropped = pool.take_dropped();
        assert!(dropped.contains(&legs[0].hash()) && dropped.contains(&legs[1].hash()));
    }

    /// P2: a promised bundle books its legs and its entry in the block's bundle section
    /// against the liability bound's bytes, and gives all of it back when the promise ends.
    #[test]
    fn a_bundle_books_its_section_entry() {
        let chain = Chain::default();
        let (a, b) = (key(1), key(2));
        let legs = bundle(&a, 0, &b, 0, 100);
        let hashes: Vec<TxHash> = legs.iter().map(|t| t.hash()).collect();
        let encoded: usize = legs.iter().map(encoded_len).sum();
        // The section entry of a 2-leg bundle: id, expiry, count, two leg hashes.
        let entry = 32 + 8 + 1 + 2 * 32;
        let with_bound = |bytes: usize| {
            Mempool::new(
                Config {
                    preconf_bytes_max: bytes,
                    ..cfg()
                },
                Limits::default(),
            )
        };
        // Room for the legs' bytes but not their section entry: refused as over the bound.
        let pool = with_bound(encoded + entry - 1);
        assert!(matches!(
            pool.bundle_promise_room(&legs, 50),
            Err(AdmitError::Preconf { .. })
        ));
        let mut pool = with_bound(encoded + entry + 1);
        assert_eq!(pool.bundle_promise_room(&legs, 50).ok(), Some(true));
        pool.admit_bundle(&legs, &chain, true).unwrap();
        pool.promise_bundle(&hashes, 50).unwrap();
        // The bound is full now: nothing more fits...
        let other = tx(&key(3), 0);
        assert!(pool.promise_room(&other).is_err());
        // ...until the bundle's promise ends and gives every booked byte back.
        for h in hashes.iter().rev() {
            pool.unpromise(h);
        }
        assert_eq!(pool.promised_len(), 0);
        assert_eq!(pool.promise_room(&other).ok(), Some(true));
        pool.promise_bundle(&hashes, 50).unwrap();
    }

    /// A plain transaction whose sender has a pending leg below it is accepted, but never
    /// promised (P4): the leg's fate is its bundle's.
    #[test]
    fn nothing_promised_depends_on_a_leg() {
        let chain = Chain::default();
        let (a, b) = (key(1), key(2));
        let mut pool = Mempool::new(cfg(), Limits::default());
        let legs = bundle(&a, 0, &b, 0, 100);
        pool.admit_bundle(&legs, &chain, true).unwrap();
        let next = tx(&a, 1);
        assert!(pool.depends_on_leg(&next) && pool.depends_on_leg(&legs[0]));
        assert!(!pool.depends_on_leg(&tx(&key(3), 0)));
        pool.admit(next.clone(), &chain, true).unwrap();
        assert!(pool.promise(&next.hash(), 10).is_err());
        assert_eq!(pool.promised_len(), 0);
        // Promising the bundle does not make its sender's next transaction promisable: it
        // could not share the bundle's block (S1).
        let hashes: Vec<TxHash> = legs.iter().map(|t| t.hash()).collect();
        pool.promise_bundle(&hashes, 50).unwrap();
        assert!(pool.depends_on_leg(&next));
        assert!(pool.promise(&next.hash(), 50).is_err());
    }

    /// P2: a sender's chain that alone spans more namespaces than a block holds cannot be
    /// promised by anyone; it is accepted unpromised (`Ok(false)`), not refused as if the
    /// bound were full, and a chain within the bound still can be.
    #[test]
    fn a_chain_spanning_more_than_a_block_is_accepted_unpromised() {
        let chain = Chain::default();
        let limits = Limits {
            namespaces_per_block_max: 4,
            ..Limits::default()
        };
        let mut pool = Mempool::new(cfg(), limits);
        let tx = |nonce: u64, ns: u64| {
            Transaction::sign(
                &key(30),
                &test_chain(),
                NamespaceId(ns),
                nonce,
                Bytes::from_static(b"x"),
            )
        };
        // Nonces 0..=3 in namespaces 1..=4, pending and unpromised.
        for n in 0..4 {
            pool.admit(tx(n, n + 1), &chain, true).unwrap();
        }
        let within = tx(4, 2);
        assert_eq!(
            pool.promise_room(&within).map_err(|e| e.to_string()),
            Ok(true)
        );
        let beyond = tx(4, 5);
        assert_eq!(
            pool.promise_room(&beyond).map_err(|e| e.to_string()),
            Ok(false)
        );
    }

    /// P2: promises span at most a block's namespaces, so a client spreading promised
    /// transactions over many namespaces cannot make them outgrow one block; the room comes
    /// back as promises end.
    #[test]
    fn promises_span_at_most_a_blocks_namespaces() {
        let chain = Chain::default();
        let limits = Limits {
            namespaces_per_block_max: 4,
            ..Limits::default()
        };
        let mut pool = Mempool::new(cfg(), limits);
        let in_ns = |seed: u64, ns: u64| {
            Transaction::sign(
                &key(seed),
                &test_chain(),
                NamespaceId(ns),
                0,
                Bytes::from_static(b"x"),
            )
        };
        let mut promised = Vec::new();
        for ns in 1..=4 {
            let t = in_ns(10 + ns, ns);
            pool.admit(t.clone(), &chain, true).unwrap();
            assert!(pool.promise_room(&t).unwrap());
            pool.promise(&t.hash(), 40).unwrap();
            promised.push(t);
        }
        // A second transaction in a spanned namespace still fits; a fifth namespace does not.
        let same = in_ns(20, 4);
        pool.admit(same.clone(), &chain, true).unwrap();
        pool.promise(&same.hash(), 40).unwrap();
        let fifth = in_ns(21, 5);
        assert!(matches!(
            pool.promise_room(&fifth),
            Err(AdmitError::Preconf { reason }) if reason.contains("namespaces_per_block_max = 4")
        ));
        pool.admit(fifth.clone(), &chain, true).unwrap();
        assert!(pool.promise(&fifth.hash(), 40).is_err());
        // A bundle into namespaces 1 and 2 fits; one reaching a new namespace does not.
        let legs = |a: u64, b: u64, an: u64, bn: u64| {
            use weft_types::LegSpec;
            let spec = |ns: u64| LegSpec {
                namespace: NamespaceId(ns),
                nonce: 0,
                payload: Bytes::from_static(b"leg"),
            };
            Transaction::sign_bundle(
                &test_chain(),
                100,
                &[(&key(a), spec(an)), (&key(b), spec(bn))],
            )
            .unwrap()
        };
        assert_eq!(pool.bundle_promise_room(&legs(30, 31, 1, 2), 40), Ok(true));
        assert!(pool.bundle_promise_room(&legs(32, 33, 1, 6), 40).is_err());
        // Namespace 1's promise ends with its transaction: a new namespace fits again.
        pool.on_finalized([promised[0].clone()].iter());
        pool.promise(&fifth.hash(), 40).unwrap();
    }

    /// A promise withdrawn before its receipt left (the spread wait failed) frees what it
    /// marked: its predecessors, and for a bundle every leg's, so no unreceipted promise
    /// holds liability room or jumps the queue. One a released promise rests on stays.
    #[test]
    fn a_withdrawn_promise_takes_its_predecessors_back() {
        let chain = Chain::default();
        let (a, b) = (key(1), key(2));
        let mut pool = Mempool::new(cfg(), Limits::default());
        let (a0, a1, a2) = (tx(&a, 0), tx(&a, 1), tx(&a, 2));
        for t in [&a0, &a1, &a2] {
            pool.admit(t.clone(), &chain, false).unwrap();
        }
        pool.promise(&a1.hash(), 40).unwrap();
        assert_eq!(pool.promised_len(), 2);
        pool.unpromise(&a1.hash());
        assert_eq!(pool.promised_len(), 0, "a0 went with a1");
        // a2's receipt was released on top of a1's promise: a1's withdrawal keeps both.
        pool.promise(&a1.hash(), 40).unwrap();
        pool.promise(&a2.hash(), 41).unwrap();
        pool.unpromise(&a1.hash());
        assert_eq!(pool.promised_len(), 3);
        assert_eq!(pool.promised_deadline(&a0.hash()), Some(40));

        // Two promises of one sender whose receipts both fail, the lower one withdrawn first:
        // it waits on the higher one, and goes with it.
        let d = key(4);
        let (d0, d1) = (tx(&d, 0), tx(&d, 1));
        pool.admit(d0.clone(), &chain, false).unwrap();
        pool.admit(d1.clone(), &chain, false).unwrap();
        pool.promise(&d0.hash(), 40).unwrap();
        pool.promise(&d1.hash(), 40).unwrap();
        let before = pool.promised_len();
        pool.unpromise(&d0.hash());
        assert_eq!(pool.promised_len(), before, "d1 rests on d0");
        pool.unpromise(&d1.hash());
        assert_eq!(pool.promised_len(), before - 2, "d0 went with d1");

        // A bundle over b's pending nonce 0, withdrawn from the top nonce down.
        let b0 = tx(&b, 0);
        pool.admit(b0.clone(), &chain, false).unwrap();
        let c = key(3);
        let legs = bundle(&c, 0, &b, 1, 100);
        pool.admit_bundle(&legs, &chain, true).unwrap();
        let hashes: Vec<TxHash> = legs.iter().map(|t| t.hash()).collect();
        pool.promise_bundle(&hashes, 60).unwrap();
        assert_eq!(pool.promised_len(), 6);
        for h in hashes.iter().rev() {
            pool.unpromise(h);
        }
        assert_eq!(pool.promised_len(), 3, "both legs and b0 withdrawn");
        assert_eq!(pool.promised_deadline(&b0.hash()), None);
    }

    /// A client that spreads one sender's legs over non-consecutive nonces (a plain
    /// transaction of its between them) makes a bundle no selection can take whole, and that
    /// an issuer would promise and then break: it is refused at admission.
    #[test]
    fn one_senders_legs_take_consecutive_nonces() {
        let a = key(1);
        for (first, second, ok) in [(5, 6, true), (6, 5, true), (5, 7, false), (5, 5, false)] {
            let legs = bundle(&a, first, &a, second, 100);
            let shape = check_bundle_shape(&legs);
            assert_eq!(shape.is_ok(), ok, "nonces {first} and {second}: {shape:?}");
            if let Err(AdmitError::BadBundle { reason }) = shape {
                assert!(reason.contains("consecutive"), "{reason}");
            }
        }
    }

    /// A bundle's promise covers every leg and every leg's sender's pending predecessors,
    /// and its block building takes the whole bundle first; what it cannot keep (a bundle
    /// expiring before the deadline, one resting on another bundle's leg, one past the
    /// liability bound) is refused.
    #[test]
    fn a_bundle_is_promised_whole_with_its_predecessors() {
        let chain = Chain::default();
        let (a, b, c) = (key(1), key(2), key(3));
        let mut pool = Mempool::new(cfg(), Limits::default());
        let early: Vec<Transaction> = (0..3).map(|i| tx(&key(10 + i), 0)).collect();
        for t in &early {
            pool.admit(t.clone(), &chain, false).unwrap();
        }
        // b's nonce 0 is pending; the bundle takes a's 0 and b's 1.
        let b0 = tx(&b, 0);
        pool.admit(b0.clone(), &chain, true).unwrap();
        let legs = bundle(&a, 0, &b, 1, 100);
        assert_eq!(
            pool.bundle_promise_room(&legs, 101),
            Ok(false),
            "expires first"
        );
        assert_eq!(pool.bundle_promise_room(&legs, 60), Ok(true));
        pool.admit_bundle(&legs, &chain, true).unwrap();
        let hashes: Vec<TxHash> = legs.iter().map(|t| t.hash()).collect();
        assert!(matches!(
            pool.promise_bundle(&hashes, 101),
            Err(AdmitError::Preconf { reason }) if reason.contains("valid until height 100")
        ));
        assert!(
            pool.promise(&hashes[0], 60).is_err(),
            "a leg alone is not promised"
        );
        pool.promise_bundle(&hashes, 60).unwrap();
        assert_eq!(pool.promised_len(), 3, "both legs and b's predecessor");
        assert_eq!(pool.promised_deadline(&b0.hash()), Some(60));
        pool.promise_bundle(&hashes, 60).unwrap();
        assert_eq!(pool.promised_len(), 3, "promising again adds nothing");
        // A block of three holds the promised bundle and its predecessor, not the older
        // arrivals; one of two holds nothing of the bundle rather than split it.
        let picked: HashSet<TxHash> = pool
            .select(&HashSet::new(), |_| 0, lim(3))
            .iter()
            .map(|t| t.hash())
            .collect();
        assert_eq!(
            picked,
            [b0.hash(), hashes[0], hashes[1]].into_iter().collect()
        );
        assert!(!pool
            .select(&HashSet::new(), |_| 0, lim(2))
            .iter()
            .any(|t| t.leg().is_some()));

        // A second bundle whose leg sits on b's pending leg is accepted unpromised: the first
        // bundle's fate is not this one's issuer's to keep.
        let on_top = bundle(&c, 0, &b, 2, 100);
        assert_eq!(pool.bundle_promise_room(&on_top, 60), Ok(false));
        pool.admit_bundle(&on_top, &chain, true).unwrap();
        let top_hashes: Vec<TxHash> = on_top.iter().map(|t| t.hash()).collect();
        assert!(pool.promise_bundle(&top_hashes, 60).is_err());
        assert_eq!(pool.promised_len(), 3);

        // The liability bound counts every leg: with room for 4 promises, a 2-leg bundle
        // over 3 promised does not fit.
        let small = Config {
            preconf_txs_max: 4,
            ..cfg()
        };
        let mut pool = Mempool::new(small, Limits::default());
        let t = tx(&c, 0);
        pool.admit(t.clone(), &chain, true).unwrap();
        pool.promise(&t.hash(), 60).unwrap();
        let (d, e) = (key(4), key(5));
        let first = bundle(&d, 0, &e, 0, 100);
        assert_eq!(pool.bundle_promise_room(&first, 60), Ok(true));
        pool.admit_bundle(&first, &chain, true).unwrap();
        pool.promise_bundle(&first.iter().map(|t| t.hash()).collect::<Vec<_>>(), 60)
            .unwrap();
        let second = bundle(&key(6), 0, &key(7), 0, 100);
        assert!(matches!(
            pool.bundle_promise_room(&second, 60),
            Err(AdmitError::Preconf { reason }) if reason.contains("preconf_txs_max = 4")
        ));
    }

    /// The bond cap refuses a promise past it with its reason, stands beside
    /// `preconf_txs_max`, and lifting it restores the configured bound.
    #[test]
    fn the_bond_cap_bounds_promises_with_its_reason() {
        let chain = Chain::default();
        let mut pool = Mempool::new(Config::default(), Limits::default());
        pool.set_bond_cap(Some((1, "bonded 100 x 50% / 50 per promise".into())));
        let (a, b) = (tx(&key(1), 0), tx(&key(2), 0));
        pool.admit(a.clone(), &chain, true).unwrap();
        pool.promise(&a.hash(), 60).unwrap();
        pool.admit(b.clone(), &chain, true).unwrap();
        assert!(matches!(
            pool.promise(&b.hash(), 60),
            Err(AdmitError::Preconf { reason }) if reason.contains("bond cap of 1 (bonded 100")
        ));
        pool.set_bond_cap(None);
        pool.promise(&b.hash(), 60).unwrap();
        assert_eq!(pool.promised_len(), 2);
    }
}
