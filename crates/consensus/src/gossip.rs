//! Transaction gossip: every client transaction reaches every validator's mempool.
//!
//! Two mechanisms, on one channel:
//! - **Push.** A validator batches the transactions its clients submitted and sends each
//!   batch to all connected peers, once ([`Gossip::Txs`]).
//! - **Anti-entropy.** A push reaches only peers connected at that moment, so a late or
//!   restarted peer would never learn what it missed. Every [`ANTI_ENTROPY_INTERVAL`] a
//!   validator announces the hashes of up to `limits.gossip_hashes_max` of its pending
//!   transactions ([`Gossip::Have`]), walking its pending set oldest first and wrapping, so
//!   every pending transaction is announced within `pending / gossip_hashes_max` rounds. A
//!   peer answers with the hashes it lacks ([`Gossip::Want`]) and gets them pushed back.
//!
//! Rules that bound the work a peer can cause (numbered as enforced below):
//! 1. every message decodes with genesis limits: `gossip_batch_txs_max` transactions,
//!    `gossip_hashes_max` hashes; an undecodable message gets its sender blocked;
//! 2. a pushed transaction with a bad size or signature gets its sender blocked;
//! 3. a `Have` is answered at most once per peer per half interval; only hashes we neither
//!    hold, rejected nor finalized are wanted;
//! 4. a `Want` is served only for hashes we announced in the last two rounds, at most once
//!    per peer per round, within one message's byte bound;
//! 5. a push round counts only if each of its batches was handed to at least `f + 1` peers;
//!    a batch that was not goes back to the outbox. A counted round, which drains the
//!    outbox, marks everything admitted before it began as spread
//!    (`Shared::gossip_spread`).
//! 6. a validator answers each push, on arrival, with an [`Gossip::Ack`] of its transactions;
//!    acks are recorded per transaction ([`Holders`], bounded per peer, and forgotten when a
//!    peer leaves the tracked sets). Receiving (acks sent and recorded) never waits on
//!    admission: pushes, announcements and wants queue for a worker task behind a bound of
//!    [`INBOUND_QUEUE_MAX`] messages (a push that finds it full is dropped unacknowledged),
//!    and acks travel at the transport's high priority, ahead of pushes, so a receipt's round
//!    trip costs two network hops, not the peers' admission backlog.
//!    "Handed to" in
//!    rule 5 only means queued in this process (a SIGKILL loses the queue), so a
//!    pre-confirmation is released only once `f + 1` validators of the current epoch have
//!    acknowledged holding its transaction (`Shared::held_by_enough`; acks from other
//!    tracked peers do not count): it is then with at least one honest validator besides
//!    the issuer, whatever happens to the issuer next.

use crate::Shared;
use bytes::{BufMut, Bytes};
use commonware_codec::{Decode, Encode, EncodeSize, Error as CodecError, Read, ReadExt, Write};
use commonware_p2p::{Blocker, Receiver, Recipients, Sender};
use commonware_runtime::Clock;
use commonware_utils::SystemTimeExt as _;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tracing::{debug, warn};
use weft_types::{Digest, Limits, Transaction, TxHash, VerifyingKey};

/// How often the outbox is flushed.
pub const GOSSIP_INTERVAL: Duration = Duration::from_millis(10);
/// How often pending hashes are announced to every peer.
pub const ANTI_ENTROPY_INTERVAL: Duration = Duration::from_millis(1_000);
/// Pause before a push that reached fewer than `f + 1` peers is sent again (rule 5).
pub const GOSSIP_RETRY: Duration = Duration::from_millis(100);

const TAG_TXS: u8 = 0;
const TAG_HAVE: u8 = 1;
const TAG_WANT: u8 = 2;
const TAG_ACK: u8 = 3;

/// Most acknowledged transactions [`Holders`] remembers per peer (its oldest forgotten
/// first), so a peer flooding acks of made-up hashes evicts only its own: a peer acks what
/// this validator pushed to it, and a receipt waits at most 2 s for its acks, far less than
/// this many of this validator's own admissions take to arrive. About 100 bytes each.
pub const HOLDERS_PER_PEER_MAX: usize = 32_768;
/// Most received pushes, announcements and wants waiting for the inbound worker (rule 6).
/// When it is full, what arrives is dropped, unacknowledged: receiving never waits (acks
/// keep flowing), the issuer does not count this validator, and anti-entropy brings the
/// transactions later.
pub const INBOUND_QUEUE_MAX: usize = 64;

/// Which peers acknowledged holding which transactions (rule 6).
#[derive(Default)]
pub struct Holders {
    inner: Mutex<HoldersInner>,
    /// Woken whenever an acknowledgement is recorded.
    pub changed: tokio::sync::Notify,
}

#[derive(Default)]
struct HoldersInner {
    /// Per transaction, the peers that acknowledged it.
    peers: HashMap<TxHash, Vec<VerifyingKey>>,
    /// Per peer, what it acknowledged, oldest first (at most [`HOLDERS_PER_PEER_MAX`]).
    acked: HashMap<VerifyingKey, std::collections::VecDeque<TxHash>>,
}

impl Holders {
    /// Records that `peer` holds `hashes`.
    pub fn record(&self, peer: &VerifyingKey, hashes: &[TxHash]) {
        {
            let mut inner = self.inner.lock().expect("holders lock");
            let HoldersInner { peers, acked } = &mut *inner;
            let order = acked.entry(peer.clone()).or_default();
            for hash in hashes {
                let holders = peers.entry(*hash).or_default();
                if !holders.contains(peer) {
                    holders.push(peer.clone());
                    order.push_back(*hash);
                }
            }
            while order.len() > HOLDERS_PER_PEER_MAX {
                let Some(old) = order.pop_front() else { break };
                if let Some(holders) = peers.get_mut(&old) {
                    holders.retain(|p| p != peer);
                    if holders.is_empty() {
                        peers.remove(&old);
                    }
                }
            }
        }
        self.changed.notify_waiters();
    }

    /// Forgets the acks of every peer for which `keep` does not hold (a validator that left
    /// the tracked sets): the record is bounded per peer, and peers come and go with epochs.
    pub fn retain_peers(&self, keep: impl Fn(&VerifyingKey) -> bool) {
        let mut inner = self.inner.lock().expect("holders lock");
        let HoldersInner { peers, acked } = &mut *inner;
        acked.retain(|peer, order| {
            if keep(peer) {
                return true;
            }
            for hash in order.iter() {
                if let Some(holders) = peers.get_mut(hash) {
                    holders.retain(|p| p != peer);
                    if holders.is_empty() {
                        peers.remove(hash);
                    }
                }
            }
            false
        });
    }

    /// How many distinct peers for which `counts` holds acknowledged holding `hash`.
    pub fn count(&self, hash: &TxHash, counts: impl Fn(&VerifyingKey) -> bool) -> usize {
        let inner = self.inner.lock().expect("holders lock");
        inner
            .peers
            .get(hash)
            .map_or(0, |peers| peers.iter().filter(|p| counts(p)).count())
    }
}

/// A message on the transaction channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gossip {
    /// Transactions pushed to the peer.
    Txs(Vec<Transaction>),
    /// Hashes of transactions the sender holds pending.
    Have(Vec<TxHash>),
    /// Hashes the sender lacks, out of the receiver's last announcements.
    Want(Vec<TxHash>),
    /// Hashes of a push's transactions the sender now holds (rule 6).
    Ack(Vec<TxHash>),
}

fn write_hashes(hashes: &[TxHash], buf: &mut impl BufMut) {
    let digests: Vec<Digest> = hashes.iter().map(|h| h.0).collect();
    digests.write(buf);
}

impl Write for Gossip {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Gossip::Txs(txs) => {
                buf.put_u8(TAG_TXS);
                txs.write(buf);
            }
            Gossip::Have(hashes) => {
                buf.put_u8(TAG_HAVE);
                write_hashes(hashes, buf);
            }
            Gossip::Want(hashes) => {
                buf.put_u8(TAG_WANT);
                write_hashes(hashes, buf);
            }
            Gossip::Ack(hashes) => {
                buf.put_u8(TAG_ACK);
                write_hashes(hashes, buf);
            }
        }
    }
}

impl EncodeSize for Gossip {
    fn encode_size(&self) -> usize {
        1 + match self {
            Gossip::Txs(txs) => txs.encode_size(),
            Gossip::Have(h) | Gossip::Want(h) | Gossip::Ack(h) => {
                let digests: Vec<Digest> = h.iter().map(|h| h.0).collect();
                digests.encode_size()
            }
        }
    }
}

impl Read for Gossip {
    type Cfg = Limits;
    fn read_cfg(buf: &mut impl commonware_codec::Buf, limits: &Limits) -> Result<Self, CodecError> {
        let hashes = |buf: &mut _| {
            Vec::<Digest>::read_cfg(buf, &((0..=limits.gossip_hashes_max).into(), ()))
                .map(|d| d.into_iter().map(TxHash).collect())
        };
        match u8::read(buf)? {
            TAG_TXS => Ok(Gossip::Txs(Vec::<Transaction>::read_cfg(
                buf,
                &((0..=limits.gossip_batch_txs_max).into(), *limits),
            )?)),
            TAG_HAVE => Ok(Gossip::Have(hashes(buf)?)),
            TAG_WANT => Ok(Gossip::Want(hashes(buf)?)),
            TAG_ACK => Ok(Gossip::Ack(hashes(buf)?)),
            tag => Err(CodecError::InvalidEnum(tag)),
        }
    }
}

/// Anti-entropy state shared by the outbound and inbound halves of one validator.
#[derive(Default)]
pub struct AntiEntropy {
    /// Announcement round.
    round: u64,
    /// Hashes announced in this round and the previous one (rule 4).
    announced: [HashSet<TxHash>; 2],
    /// Round in which each peer's `Want` was last served (rule 4).
    served: HashMap<VerifyingKey, u64>,
    /// When each peer's `Have` was last answered (rule 3).
    answered: HashMap<VerifyingKey, SystemTime>,
    /// Where the next announcement starts in the pending set (arrival sequence).
    cursor: u64,
}

impl AntiEntropy {
    fn announce(&mut self, hashes: &[TxHash]) {
        self.round += 1;
        self.announced.swap(0, 1);
        self.announced[0] = hashes.iter().copied().collect();
        // Peers not heard from in a round hold no entry's worth of state.
        let round = self.round;
        self.served.retain(|_, r| *r + 1 >= round);
    }

    fn was_announced(&self, hash: &TxHash) -> bool {
        self.announced.iter().any(|set| set.contains(hash))
    }
}

/// Pushes locally admitted transactions to all peers, in batches, and announces pending
/// hashes every [`ANTI_ENTROPY_INTERVAL`].
pub async fn run_outbound(
    clock: impl Clock,
    shared: Arc<Shared>,
    anti_entropy: Arc<Mutex<AntiEntropy>>,
    mut sender: impl Sender<PublicKey = VerifyingKey>,
    spread_min: usize,
) {
    // A gossip message must fit the p2p message cap, which admits a full block.
    let bytes_max = shared.limits.block_bytes_max / 2;
    let mut next_announce = clock.current() + ANTI_ENTROPY_INTERVAL;
    let mut push_after = clock.current();
    loop {
        // Every interval, or at once when a submission waits for its receipt.
        {
            let sleep = std::pin::pin!(clock.sleep(GOSSIP_INTERVAL));
            let woken = std::pin::pin!(shared.gossip_wake.notified());
            futures::future::select(sleep, woken).await;
        }
        // The mempool's clock: queued transactions expire on it.
        let dropped = {
            let mut mempool = shared.mempool.lock();
            mempool.tick(clock.current().epoch_millis());
            mempool.take_dropped()
        };
        if !dropped.is_empty() {
            debug!(target: "weft::gossip", count = dropped.len(), "dropped queued transactions (expired or evicted)");
            shared
                .store
                .drop_pending(&dropped)
                .expect("dropping expired transactions from the pending log failed");
        }
        // A round counts (rule 5) only if every batch reached `spread_min` peers; a batch that
        // did not goes back to the outbox for the next round.
        let mut spread = clock.current() >= push_after;
        let admitted = shared.mempool.lock().outbox_seq();
        while spread {
            let batch = shared.mempool.lock().take_gossip_batch(bytes_max);
            if batch.is_empty() {
                break;
            }
            // Hashes are cached: keeping them is cheaper than a copy of the batch.
            let hashes: Vec<TxHash> = batch.iter().map(|t| t.hash()).collect();
            let to = sender.send(Recipients::All, Gossip::Txs(batch).encode(), false);
            if to.len() < spread_min {
                shared.mempool.lock().return_gossip(&hashes);
                spread = false;
                // Resend to the peers that did get it only after a pause, not every round.
                push_after = clock.current() + GOSSIP_RETRY;
            }
        }
        if spread {
            shared.gossip_spread.send_if_modified(|s| {
                let moved = admitted > *s;
                *s = (*s).max(admitted);
                moved
            });
        }
        if clock.current() >= next_announce {
            next_announce = clock.current() + ANTI_ENTROPY_INTERVAL;
            let mut ae = anti_entropy.lock().expect("anti-entropy lock");
            let (hashes, cursor) = shared
                .mempool
                .lock()
                .pending_from(ae.cursor, shared.limits.gossip_hashes_max);
            ae.cursor = cursor;
            ae.announce(&hashes);
            drop(ae);
            if !hashes.is_empty() {
                sender.send(Recipients::All, Gossip::Have(hashes).encode(), false);
            }
        }
    }
}

/// Receives gossip from peers. Acks are sent and recorded here, on arrival (rule 6);
/// everything else (admitting pushed transactions, answering announcements, serving wants)
/// is queued for a worker, so receiving never waits on admission.
pub async fn run_inbound<E: Clock + commonware_runtime::Spawner>(
    clock: E,
    shared: Arc<Shared>,
    anti_entropy: Arc<Mutex<AntiEntropy>>,
    mut receiver: impl Receiver<PublicKey = VerifyingKey>,
    mut sender: impl Sender<PublicKey = VerifyingKey>,
    mut blocker: impl Blocker<PublicKey = VerifyingKey>,
) {
    use futures::StreamExt as _;
    let (mut queue, work) = futures::channel::mpsc::channel(INBOUND_QUEUE_MAX);
    let receiving = {
        let shared = shared.clone();
        let mut blocker = blocker.clone();
        let mut sender = sender.clone();
        async move {
            while let Ok((peer, message)) = receiver.recv().await {
                // Rule 1.
                let message = match Gossip::decode_cfg(message, &shared.limits) {
                    Ok(m) => m,
                    Err(e) => {
                        warn!(target: "weft::gossip", %peer, error = %e, "undecodable gossip message; blocking peer");
                        shared.metrics.gossip_rejected.inc();
                        blocker.block(peer);
                        continue;
                    }
                };
                let hashes: Option<Vec<TxHash>> = match &message {
                    Gossip::Ack(hashes) => {
                        shared.holders.record(&peer, hashes);
                        continue;
                    }
                    Gossip::Txs(txs) => Some(txs.iter().map(|t| t.hash()).collect()),
                    Gossip::Have(_) | Gossip::Want(_) => None,
                };
                match queue.try_send((peer.clone(), message)) {
                    Ok(()) => {}
                    Err(e) if e.is_full() => {
                        shared.metrics.gossip_dropped.inc();
                        continue;
                    }
                    Err(_) => return,
                }
                // Rule 6, on arrival: the bytes are in this process, which is what the issuer
                // needs to know (admitting them adds no durability: gossiped transactions
                // live in the mempool), and acknowledging before admitting keeps admission's
                // time out of the issuer's receipt latency.
                if let Some(hashes) = hashes {
                    sender.send(Recipients::One(peer), Gossip::Ack(hashes).encode(), true);
                }
            }
        }
    };
    // The worker is a task of its own: its synchronous steps (mempool reads, a store read
    // for an announcement) never hold up receiving. If it dies, the queue closes and
    // receiving ends with it.
    let worker = clock.child("gossip_work").spawn(move |ctx| async move {
        let mut work = work;
        while let Some((peer, message)) = work.next().await {
            handle(
                &ctx,
                &shared,
                &anti_entropy,
                &mut sender,
                &mut blocker,
                peer,
                message,
            )
            .await;
        }
    });
    receiving.await;
    let _ = worker.await;
}

/// Handles one queued inbound message (everything but acks).
async fn handle(
    clock: &(impl Clock + commonware_runtime::Spawner),
    shared: &Arc<Shared>,
    anti_entropy: &Mutex<AntiEntropy>,
    sender: &mut impl Sender<PublicKey = VerifyingKey>,
    blocker: &mut impl Blocker<PublicKey = VerifyingKey>,
    peer: VerifyingKey,
    message: Gossip,
) {
    let bytes_max = shared.limits.block_bytes_max / 2;
    match message {
        Gossip::Txs(txs) => {
            if !admit_pushed(clock, shared, &peer, txs).await {
                shared.metrics.gossip_rejected.inc();
                blocker.block(peer);
            }
        }
        Gossip::Ack(hashes) => shared.holders.record(&peer, &hashes),
        Gossip::Have(hashes) => {
            // Rule 3.
            let now = clock.current();
            {
                let mut ae = anti_entropy.lock().expect("anti-entropy lock");
                let recent = ae.answered.get(&peer).is_some_and(|t| {
                    now.duration_since(*t).unwrap_or_default() < ANTI_ENTROPY_INTERVAL / 2
                });
                if recent {
                    return;
                }
                ae.answered.insert(peer.clone(), now);
            }
            let missing: Vec<TxHash> = {
                let mempool = shared.mempool.lock();
                hashes
                    .into_iter()
                    .filter(|h| mempool.status(h).is_none())
                    .collect()
            };
            // One read transaction for the whole announcement, outside the mempool lock.
            let finalized = shared
                .store
                .finalized_among(&missing)
                .expect("store read failed");
            let missing: Vec<TxHash> = missing
                .into_iter()
                .zip(finalized)
                .filter(|(_, f)| !f)
                .map(|(h, _)| h)
                .collect();
            if !missing.is_empty() {
                debug!(target: "weft::gossip", %peer, count = missing.len(), "wanting announced transactions");
                sender.send(Recipients::One(peer), Gossip::Want(missing).encode(), false);
            }
        }
        Gossip::Want(hashes) => {
            // Rule 4.
            let wanted: Vec<TxHash> = {
                let mut ae = anti_entropy.lock().expect("anti-entropy lock");
                let round = ae.round;
                if ae.served.get(&peer) == Some(&round) {
                    return;
                }
                ae.served.insert(peer.clone(), round);
                hashes.into_iter().filter(|h| ae.was_announced(h)).collect()
            };
            let txs = shared.mempool.lock().get_many(
                &wanted,
                shared.limits.gossip_batch_txs_max,
                bytes_max,
            );
            if !txs.is_empty() {
                shared.metrics.gossip_served.inc_by(txs.len() as u64);
                sender.send(Recipients::One(peer), Gossip::Txs(txs).encode(), false);
            }
        }
    }
}

/// Admits a pushed batch; returns false if the peer is Byzantine (rule 2). The checks run
/// as bulk work ([`Shared::offload`]), outside every lock; admission, which takes the
/// mempool lock in short chunks, runs here, at the receiver's own priority.
async fn admit_pushed(
    clock: &(impl commonware_runtime::Spawner + Clock),
    shared: &Arc<Shared>,
    peer: &VerifyingKey,
    txs: Vec<Transaction>,
) -> bool {
    let known = shared.read_mempool(&txs, |mempool, t| mempool.status(&t.hash()).is_some());
    let fresh: Vec<Transaction> = txs
        .into_iter()
        .zip(known)
        .filter(|(_, known)| !known)
        .map(|(t, _)| t)
        .collect();
    let checking = shared.clone();
    let fresh = shared
        .offload(move || {
            if fresh
                .iter()
                .any(|t| t.check_size(&checking.limits).is_err())
            {
                return Err("gossiped transaction above the size limits; blocking peer");
            }
            let refs: Vec<&Transaction> = fresh.iter().collect();
            let flags = checking.verify_signatures(&refs);
            if flags.iter().any(|ok| !ok) {
                return Err("gossip batch with an invalid signature; blocking peer");
            }
            Ok(fresh)
        })
        .await;
    let fresh = match fresh {
        Ok(fresh) => fresh,
        Err(why) => {
            warn!(target: "weft::gossip", %peer, "{why}");
            return false;
        }
    };
    // Rejections here are races (already finalized, nonce used): not the peer's fault.
    // Admitting a batch holds a thread for milliseconds (in short lock holds): on the blocking
    // pool, at normal priority, so the shared executor's tasks (votes, the finalizer) are not
    // starved.
    let admitting = shared.clone();
    let admitted = clock
        .child("admit_pushed")
        .shared(true)
        .spawn(move |_| async move { crate::admit(&admitting, fresh, false).1.len() })
        .await
        .expect("admitting a gossiped batch failed") as u64;
    shared.metrics.gossip_admitted.inc_by(admitted);
    debug!(target: "weft::gossip", %peer, admitted, "gossip batch");
    true
}

/// Encodes a push of `txs` (tests and tools).
pub fn encode_txs(txs: &[Transaction]) -> Bytes {
    Gossip::Txs(txs.to_vec()).encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_chain() -> weft_types::ChainId {
        weft_types::ChainId(weft_types::sha256(&[b"unit tests"]))
    }
    use commonware_cryptography::Signer as _;
    use weft_types::{NamespaceId, SigningKey};

    fn tx(n: u64) -> Transaction {
        Transaction::sign(
            &SigningKey::from_seed(1),
            &test_chain(),
            NamespaceId(1),
            n,
            Bytes::from_static(b"x"),
        )
    }

    #[test]
    fn messages_roundtrip_and_bounds_are_the_genesis_ones() {
        let limits = Limits {
            gossip_batch_txs_max: 2,
            gossip_hashes_max: 2,
            ..Limits::default()
        };
        let txs = vec![tx(0), tx(1)];
        let hashes: Vec<TxHash> = txs.iter().map(|t| t.hash()).collect();
        for m in [
            Gossip::Txs(txs.clone()),
            Gossip::Have(hashes.clone()),
            Gossip::Want(hashes.clone()),
            Gossip::Ack(hashes.clone()),
        ] {
            assert_eq!(Gossip::decode_cfg(m.encode(), &limits).unwrap(), m);
        }
        let three = vec![tx(0), tx(1), tx(2)];
        assert!(Gossip::decode_cfg(Gossip::Txs(three.clone()).encode(), &limits).is_err());
        let three: Vec<TxHash> = three.iter().map(|t| t.hash()).collect();
        assert!(Gossip::decode_cfg(Gossip::Have(three.clone()).encode(), &limits).is_err());
        assert!(Gossip::decode_cfg(Gossip::Ack(three).encode(), &limits).is_err());
        assert!(Gossip::decode_cfg(Bytes::from_static(&[9]), &limits).is_err());
        let _ = SigningKey::from_seed(1).public_key();
    }

    /// Rule 6: a transaction counts each acknowledging peer once, and the record is bounded
    /// per peer (a peer's oldest acks are forgotten first), so a flood evicts only its own.
    #[test]
    fn acknowledgements_count_distinct_peers_within_a_bound_per_peer() {
        let holders = Holders::default();
        let (p, q) = (
            SigningKey::from_seed(1).public_key(),
            SigningKey::from_seed(2).public_key(),
        );
        let (a, b) = (tx(0).hash(), tx(1).hash());
        holders.record(&p, &[a]);
        holders.record(&p, &[a, b]);
        holders.record(&q, &[a]);
        let any = |_: &VerifyingKey| true;
        assert_eq!((holders.count(&a, any), holders.count(&b, any)), (2, 1));
        assert_eq!(holders.count(&tx(2).hash(), any), 0);
        assert_eq!(
            holders.count(&a, |k| *k == q),
            1,
            "only the peers asked about count"
        );
        // q floods acks of made-up hashes: its own oldest are forgotten, p's are not.
        let many: Vec<TxHash> = (0..HOLDERS_PER_PEER_MAX as u64)
            .map(|i| TxHash(weft_types::sha256(&[&i.to_be_bytes()])))
            .collect();
        holders.record(&q, &many);
        assert_eq!(
            holders.count(&a, any),
            1,
            "q's oldest is forgotten past its bound, p's ack stays"
        );
        assert_eq!(holders.count(&b, any), 1);
        assert_eq!(holders.count(&many[0], any), 1);
        // q leaves the tracked sets: its acks go, p's stay.
        holders.retain_peers(|k| *k == p);
        assert_eq!(holders.count(&many[0], any), 0);
        assert_eq!(holders.count(&a, any), 1);
    }

    #[test]
    fn only_the_last_two_announcements_are_served() {
        let mut ae = AntiEntropy::default();
        let (a, b, c) = (tx(0).hash(), tx(1).hash(), tx(2).hash());
        ae.announce(&[a]);
        ae.announce(&[b]);
        assert!(ae.was_announced(&a) && ae.was_announced(&b));
        ae.announce(&[c]);
        assert!(
            !ae.was_announced(&a),
            "an announcement three rounds old is still served"
        );
        assert!(ae.was_announced(&b) && ae.was_announced(&c));
    }
}
