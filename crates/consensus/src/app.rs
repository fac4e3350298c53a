//! Block building and verification: Weft's [`Application`] for marshal.
//!
//! # Block validity rules
//! A block `B` proposed in round `(epoch, view)` by `leader` on parent `P` is valid iff:
//! 1. `B.height = P.height + 1` and `B.parent = digest(P)` (checked by marshal's wrapper);
//! 2. `B.epoch`, `B.view` and `B.proposer` equal the round and its leader;
//! 3. `P.timestamp_ms <= B.timestamp_ms <= now + limits.timestamp_drift_ms_max` (genesis);
//! 4. `B.l1_inbox_index` equals the parent's (the L1 inbox is not live yet), and the
//!    encrypted lane is empty;
//! 5. the body respects every wire limit and every header root and count matches the body;
//! 6. every transaction is within size limits and correctly signed;
//! 7. no transaction appears twice, in an unfinalized ancestor, or in a finalized block;
//! 8. each sender's nonces in `B` are exactly its next nonces, consecutive: starting one
//!    above its highest nonce in the finalized chain and the unfinalized ancestors (0 for a new
//!    sender), with no gap and no repeat; and within each namespace, a sender's transactions
//!    appear in nonce order, in block order;
//! 9. every bundle with a leg in `B` has all its legs in `B`, spans two namespaces or more,
//!    and has not expired (`B.height <= valid_until`); the bundle section lists exactly
//!    those bundles (rules B1-B4 of `weft_types::bundle`, checked with rule 5 at decode);
//! 10. `B.validators` (committed by `B.state_root`) is empty unless `B` is the last block of
//!     its epoch `e`; that boundary block announces the set of epoch `e + 2` (`epochs` rule 5):
//!     exactly the set this validator's [`crate::epochs::SetSource`] reads from the L1's stake
//!     table now, or, where it has no source or cannot read it, the set of `e + 1` again (no
//!     change). A Byzantine leader therefore cannot freeze or pick the set while honest
//!     validators can read the L1; if the proposer's and a voter's reads differ (the table
//!     changed between them), the view fails and the next leader proposes again.
//!
//! Each broken rule is a [`BlockError`] variant naming its rule ([`BlockError::rule`]).
//!
//! A leader builds blocks that satisfy these rules from its mempool, in arrival order.

use crate::{ChainState, ConsensusBlock, Shared};
use commonware_codec::EncodeSize;
use commonware_consensus::{
    marshal::ancestry::Ancestry,
    simplex::{scheme::ed25519, types::Context},
    Application,
};
use commonware_cryptography::Digested;
use commonware_runtime::Clock;
use commonware_utils::SystemTimeExt as _;
use futures::StreamExt as _;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, warn};
use weft_mempool::{ChainView as _, SelectLimits};
use weft_types::{Block, BlockError, Body, Digest, Transaction, TxHash, VerifyingKey};

/// Weft's marshal application. Cheap to clone.
#[derive(Clone)]
pub struct App {
    shared: Arc<Shared>,
}

impl App {
    /// An application over shared node state.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

/// Transactions and nonces of the unfinalized ancestors of a block.
#[derive(Default)]
struct Pending {
    hashes: HashSet<TxHash>,
    nonces: HashMap<[u8; 32], u64>,
}

impl Pending {
    fn add(&mut self, block: &Block) {
        for tx in block.body.txs() {
            self.hashes.insert(tx.hash());
            let n = self.nonces.entry(*tx.sender()).or_insert(tx.nonce());
            *n = (*n).max(tx.nonce());
        }
    }
}

/// When a leader asked to propose at `asked_ms` on a parent stamped `parent_ms` may propose:
/// one interval after the parent, but never more than one interval after being asked.
fn ready_at_ms(parent_ms: u64, asked_ms: u64, interval_ms: u64) -> u64 {
    parent_ms.min(asked_ms).saturating_add(interval_ms)
}

/// Collects the ancestors above the finalized head. `first` is the newest ancestor (the
/// parent); the stream yields older ones.
async fn unfinalized_ancestors(
    first: &Digested<ConsensusBlock>,
    ancestry: &mut impl Ancestry<ConsensusBlock>,
    finalized_height: Option<u64>,
) -> Option<Pending> {
    let mut pending = Pending::default();
    let above = |h: u64| finalized_height.is_none_or(|f| h > f);
    // Ancestors are shared (`Arc`), never copied: without finality the unfinalized suffix
    // grows, and copying it for every verification would be quadratic.
    let mut current = first.inner().0.clone();
    while above(current.height()) && current.height() > 0 {
        pending.add(&current);
        current = ancestry.next().await?.inner().0.clone();
    }
    Some(pending)
}

impl App {
    /// The sender's next nonce on top of the finalized chain and the unfinalized ancestors.
    fn next_nonce(&self, pending: &Pending, sender: &[u8; 32]) -> u64 {
        let finalized = ChainState(&self.shared.store).finalized_nonce(sender);
        let last = match (finalized, pending.nonces.get(sender).copied()) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        last.map_or(0, |n| n + 1)
    }

    fn build(
        &self,
        parent: &Block,
        ctx: &Context<Digest, VerifyingKey>,
        pending: &Pending,
        now_ms: u64,
    ) -> Block {
        let limits = self.shared.limits;
        // Room for the header and the body's three list prefixes; namespace lists are
        // charged inside the selection as they open.
        let header_room = weft_types::HEADER_BYTES + 64;
        let txs = {
            let mempool = self.shared.mempool.lock();
            mempool.select(
                &pending.hashes,
                |s| self.next_nonce(pending, s),
                SelectLimits {
                    height: parent.height() + 1,
                    txs_max: limits.block_txs_max,
                    bytes_max: limits.block_bytes_max.saturating_sub(header_room),
                    namespaces_max: limits.namespaces_per_block_max,
                },
            )
        };
        // Rule 10: the epoch's boundary announces the set of the epoch after next.
        let announcement = self
            .shared
            .schedule
            .get()
            .filter(|schedule| schedule.is_boundary(parent.height() + 1))
            .and_then(|schedule| schedule.announcement(ctx.round.epoch()))
            .unwrap_or_default();
        let seal = |txs: Vec<Transaction>| {
            let mut body = Body::from_txs(txs);
            body.validators = announcement.clone();
            Block::child(
                parent,
                ctx.round.epoch().get(),
                ctx.round.view().get(),
                now_ms.max(parent.header.timestamp_ms),
                ctx.leader.clone(),
                body,
            )
        };
        let with_legs = txs.iter().any(|t| t.leg().is_some());
        let mut block = seal(txs);
        // Bundles are the one part of a selection whose validity depends on several senders
        // at once: check the block as every verifier will, and if a bundle slipped through
        // that breaks a rule (one gossiped in pieces, say), propose without bundles rather
        // than a block no one votes for. A leg's sender takes nothing after its leg
        // (mempool rule S1), so dropping the legs leaves no nonce gap.
        if with_legs {
            if let Err(e) = self.check(&block, parent, ctx, pending, now_ms) {
                warn!(target: "weft::consensus", %e, "built block breaks a rule with its bundles; proposing without them");
                let plain: Vec<Transaction> = block
                    .body
                    .txs()
                    .filter(|t| t.leg().is_none())
                    .cloned()
                    .collect();
                block = seal(plain);
            }
        }
        debug_assert!(block.check_commitments().is_ok());
        debug_assert!(block.encode_size() <= limits.block_bytes_max);
        #[cfg(feature = "byzantine")]
        if let Some(leader) = self.shared.misbehaviour.get() {
            return leader.propose(block);
        }
        block
    }

    /// Rules 1-8 (see the module docs). Returns why the block is invalid.
    fn check(
        &self,
        block: &Block,
        parent: &Block,
        ctx: &Context<Digest, VerifyingKey>,
        pending: &Pending,
        now_ms: u64,
    ) -> Result<(), BlockError> {
        let h = &block.header;
        let limits = &self.shared.limits;
        if h.height != parent.height() + 1 || h.parent != parent.digest() {
            return Err(BlockError::NotChild {
                height: h.height,
                parent: parent.digest(),
                parent_height: parent.height(),
            });
        }
        if h.epoch != ctx.round.epoch().get() || h.view != ctx.round.view().get() {
            return Err(BlockError::WrongRound {
                epoch: h.epoch,
                view: h.view,
                expected_epoch: ctx.round.epoch().get(),
                expected_view: ctx.round.view().get(),
            });
        }
        if h.proposer != ctx.leader {
            return Err(BlockError::WrongProposer {
                proposer: h.proposer.to_string(),
                leader: ctx.leader.to_string(),
            });
        }
        if h.timestamp_ms < parent.header.timestamp_ms {
            return Err(BlockError::TimestampBeforeParent {
                timestamp_ms: h.timestamp_ms,
                parent_ms: parent.header.timestamp_ms,
            });
        }
        let drift_ms_max = limits.timestamp_drift_ms_max;
        if h.timestamp_ms > now_ms.saturating_add(drift_ms_max) {
            return Err(BlockError::TimestampAhead {
                timestamp_ms: h.timestamp_ms,
                now_ms,
                drift_ms_max,
            });
        }
        if h.l1_inbox_index != parent.header.l1_inbox_index {
            return Err(BlockError::StateChanged);
        }
        if let Some(schedule) = self.shared.schedule.get() {
            let expected = if schedule.is_boundary(h.height) {
                schedule
                    .announcement(ctx.round.epoch())
                    .ok_or(BlockError::WrongAnnouncement)?
            } else {
                Vec::new()
            };
            if block.body.validators != expected {
                return Err(BlockError::WrongAnnouncement);
            }
        }
        if !block.body.encrypted.is_empty() {
            return Err(BlockError::LaneNotEnabled { lane: "encrypted" });
        }
        for (what, value, limit, max) in [
            (
                "bytes",
                block.encode_size(),
                "block_bytes_max",
                limits.block_bytes_max,
            ),
            (
                "transactions",
                block.body.tx_count(),
                "block_txs_max",
                limits.block_txs_max,
            ),
            (
                "namespaces",
                block.body.namespaces.len(),
                "namespaces_per_block_max",
                limits.namespaces_per_block_max,
            ),
        ] {
            if value > max {
                return Err(BlockError::OverLimit {
                    what,
                    value,
                    limit,
                    max,
                });
            }
        }
        block.check_commitments()?;
        self.check_txs(block, pending)
    }

    fn check_txs(&self, block: &Block, pending: &Pending) -> Result<(), BlockError> {
        let limits = &self.shared.limits;
        let txs: Vec<&Transaction> = block.body.txs().collect();
        for tx in &txs {
            tx.check_size(limits).map_err(|reason| BlockError::BadTx {
                tx: tx.hash(),
                reason,
            })?;
        }
        let known = self
            .shared
            .read_mempool(&txs, |mempool, tx| mempool.contains_verified(tx));
        let unverified: Vec<&Transaction> = txs
            .iter()
            .zip(known)
            .filter(|(_, known)| !known)
            .map(|(tx, _)| *tx)
            .collect();
        let flags = self.shared.verify_signatures(&unverified);
        if let Some(i) = flags.iter().position(|ok| !ok) {
            return Err(BlockError::BadSignature {
                tx: unverified[i].hash(),
            });
        }
        let hashes: Vec<TxHash> = txs.iter().map(|t| t.hash()).collect();
        let finalized = self
            .shared
            .store
            .finalized_among(&hashes)
            .expect("store read");
        let mut seen = HashSet::with_capacity(txs.len());
        let mut nonces: HashMap<[u8; 32], Vec<u64>> = HashMap::new();
        // The last nonce of each sender within the current namespace (block order).
        let mut last_in_namespace: HashMap<[u8; 32], u64> = HashMap::new();
        let mut namespace = None;
        for (tx, finalized) in txs.iter().zip(finalized) {
            let tx_hash = tx.hash();
            if !seen.insert(tx_hash) {
                return Err(BlockError::DuplicateTx { tx: tx_hash });
            }
            if finalized {
                return Err(BlockError::AlreadyFinalized { tx: tx_hash });
            }
            if pending.hashes.contains(&tx_hash) {
                return Err(BlockError::InAncestor { tx: tx_hash });
            }
            if namespace != Some(tx.namespace()) {
                namespace = Some(tx.namespace());
                last_in_namespace.clear();
            }
            let sender = *tx.sender();
            // Rule 8, order: within a namespace a sender's transactions run in nonce order,
            // so a rollup executing its namespace in block order sees N before N+1.
            if let Some(after) = last_in_namespace.insert(sender, tx.nonce()) {
                if tx.nonce() < after {
                    return Err(BlockError::NonceOutOfOrder {
                        sender: weft_types::to_hex(&sender),
                        namespace: tx.namespace(),
                        nonce: tx.nonce(),
                        after,
                    });
                }
            }
            nonces.entry(sender).or_default().push(tx.nonce());
        }
        // Rule 8, set: each sender's nonces in the block are exactly its next ones, consecutive.
        for (sender, mut list) in nonces {
            let next = self.next_nonce(pending, &sender);
            list.sort_unstable();
            if list.iter().enumerate().any(|(i, n)| *n != next + i as u64) {
                return Err(BlockError::NonceGap {
                    sender: weft_types::to_hex(&sender),
                    nonces: list,
                    next,
                });
            }
        }
        Ok(())
    }
}

impl<E> Application<E> for App
where
    E: Clock + Send + Sync + 'static,
{
    type SigningScheme = ed25519::Scheme;
    type Context = Context<Digest, VerifyingKey>;
    type Block = ConsensusBlock;
    type Input = ();

    async fn propose(
        &mut self,
        (runtime, ctx): (E, Self::Context),
        mut ancestry: impl Ancestry<ConsensusBlock>,
        _input: (),
    ) -> Option<Digested<ConsensusBlock>> {
        let parent = ancestry.next().await?;
        let parent_block = parent.inner().0.clone();
        // Pacing: wait for the interval since the parent, or for enough transactions; but
        // never longer than one interval from now, so a parent stamped in the future (up to
        // the drift bound) cannot make this leader sit out its view.
        let interval_ms = self.shared.consensus.block_interval_ms;
        let ready_at = std::time::UNIX_EPOCH
            + Duration::from_millis(ready_at_ms(
                parent_block.header.timestamp_ms,
                runtime.current().epoch_millis(),
                interval_ms,
            ));
        loop {
            let now = runtime.current();
            if now >= ready_at {
                break;
            }
            let len = self.shared.mempool.lock().len();
            if len >= self.shared.consensus.block_txs_target {
                break;
            }
            runtime
                .sleep(
                    Duration::from_millis(5).min(ready_at.duration_since(now).unwrap_or_default()),
                )
                .await;
        }
        let pending =
            unfinalized_ancestors(&parent, &mut ancestry, self.shared.store.head_height()).await?;
        let block = self.build(
            &parent_block,
            &ctx,
            &pending,
            runtime.current().epoch_millis(),
        );
        debug!(target: "weft::consensus", height = block.height(), txs = block.header.tx_count, "proposing");
        self.shared
            .saw_tip(block.height(), runtime.current().epoch_millis());
        let digest = block.digest().0;
        Some(Digested::precomputed(ConsensusBlock::new(block), digest))
    }

    async fn verify(
        &mut self,
        (runtime, ctx): (E, Self::Context),
        mut ancestry: impl Ancestry<ConsensusBlock>,
    ) -> bool {
        let Some(candidate) = ancestry.next().await else {
            return false;
        };
        let Some(parent) = ancestry.next().await else {
            return false;
        };
        let Some(pending) =
            unfinalized_ancestors(&parent, &mut ancestry, self.shared.store.head_height()).await
        else {
            return false;
        };
        let block = candidate.inner().block();
        match self.check(
            block,
            parent.inner().block(),
            &ctx,
            &pending,
            runtime.current().epoch_millis(),
        ) {
            Ok(()) => {
                self.shared
                    .saw_tip(block.height(), runtime.current().epoch_millis());
                true
            }
            Err(reason) => {
                warn!(target: "weft::consensus", height = block.height(), digest = %block.digest(), proposer = %block.header.proposer, %reason, "rejecting proposal");
                self.shared.metrics.proposals_rejected.inc();
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Rules 2-8 on hand-made proposals: each broken rule is named in the rejection.

    use super::*;
    use crate::Config;
    use bytes::Bytes;
    use commonware_consensus::types::{Epoch, Round, View};
    use commonware_cryptography::Signer as _;
    use weft_mempool::Mempool;
    use weft_storage::Store;
    use weft_types::{merkle, Header, Limits, NamespaceId, NamespaceTxs, SigningKey};

    fn key(seed: u64) -> SigningKey {
        SigningKey::from_seed(seed)
    }

    fn genesis() -> Block {
        Block::genesis(Digest::from([1u8; 32]), key(0).public_key(), 1_000)
    }

    /// The fixture's chain: its genesis block's digest.
    fn f_chain() -> weft_types::ChainId {
        weft_types::ChainId::of_genesis(&genesis())
    }

    struct Fixture {
        app: App,
        parent: Block,
        ctx: Context<Digest, VerifyingKey>,
        _dir: tempfile::TempDir,
    }

    fn fixture(limits: Limits) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path().join("s.redb"), limits).unwrap());
        let leader = key(0).public_key();
        let parent = genesis();
        store.commit_finalized(&parent, b"", 0).unwrap();
        let shared = Arc::new(Shared::new(
            Mempool::new(Default::default(), limits),
            store,
            limits,
            f_chain(),
            Config::default(),
        ));
        let ctx = Context {
            round: Round::new(Epoch::zero(), View::new(1)),
            leader,
            parent: (View::zero(), parent.digest().0),
        };
        Fixture {
            app: App::new(shared),
            parent,
            ctx,
            _dir: dir,
        }
    }

    fn txs(n: u64) -> Vec<Transaction> {
        (0..n)
            .map(|i| {
                Transaction::sign(
                    &key(10 + i % 3),
                    &f_chain(),
                    NamespaceId(1 + i % 2),
                    i / 3,
                    Bytes::from(vec![i as u8; 8]),
                )
            })
            .collect()
    }

    /// Builds a proposal through the leader's own path, from a mempool holding `txs`.
    fn propose(f: &Fixture, txs: &[Transaction]) -> Block {
        {
            let mut mempool = f.app.shared.mempool.lock();
            for tx in txs {
                mempool
                    .admit(tx.clone(), &ChainState(&f.app.shared.store), false)
                    .unwrap();
            }
        }
        f.app.build(&f.parent, &f.ctx, &Pending::default(), 2_000)
    }

    fn check(f: &Fixture, block: &Block) -> Result<(), BlockError> {
        f.app
            .check(block, &f.parent, &f.ctx, &Pending::default(), 2_000)
    }

    /// Re-seals a block after its body or header was edited, so only the intended rule breaks.
    fn reseal(mut header: Header, body: Body) -> Block {
        header.namespace_table_root = merkle::root(&body.namespace_table());
        header.inclusion_root = body.inclusion_root();
        header.tx_count = body.tx_count() as u32;
        Block::new(header, body)
    }

    #[test]
    fn honest_proposal_verifies() {
        let f = fixture(Limits::default());
        let block = propose(&f, &txs(6));
        assert_eq!(block.header.tx_count, 6);
        check(&f, &block).unwrap();
    }

    #[test]
    fn invalid_transaction_signature_is_rejected() {
        let f = fixture(Limits::default());
        let block = propose(&f, &txs(3));
        let mut body = block.body.clone();
        let t = body.namespaces[0].txs[0].clone();
        body.namespaces[0].txs[0] = Transaction::from_parts(
            t.namespace(),
            *t.sender(),
            t.nonce(),
            Bytes::from_static(b"forged"),
            t.signature().unwrap().clone(),
        );
        let err = check(&f, &reseal(block.header.clone(), body)).unwrap_err();
        assert!(matches!(err, BlockError::BadSignature { .. }), "{err}");
        assert_eq!(err.rule(), 6);
    }

    /// A validator remembers the signatures a block passed, so the gossip copies that follow
    /// cost no second check; a Byzantine leader that then proposes the same transactions
    /// with a forged signature is still caught (`weft_types::SignatureCache` rule 1).
    #[test]
    fn signatures_a_block_passed_are_not_checked_again_but_a_forged_copy_is() {
        use commonware_codec::Encode as _;
        let (builder, checker) = (fixture(Limits::default()), fixture(Limits::default()));
        let block = propose(&builder, &txs(6));
        let shared = &checker.app.shared;
        check(&checker, &block).unwrap();
        assert_eq!(
            shared.metrics.signatures_checked.get(),
            6,
            "none was in its mempool"
        );
        // The gossip copies, off the wire.
        let copies: Vec<Transaction> = block
            .body
            .txs()
            .map(|t| Transaction::decode_untrusted(&t.encode(), &Limits::default()).unwrap())
            .collect();
        let refs: Vec<&Transaction> = copies.iter().collect();
        assert_eq!(shared.verify_signatures(&refs), vec![true; 6]);
        assert_eq!(shared.metrics.signatures_checked.get(), 6);
        assert_eq!(shared.metrics.signatures_skipped.get(), 6);
        // The same content under a forged signature: same id, checked, refused.
        let mut body = block.body.clone();
        let t = body.namespaces[0].txs[0].clone();
        let forged = Transaction::from_parts(
            t.namespace(),
            *t.sender(),
            t.nonce(),
            t.payload().clone(),
            key(99).sign(b"elsewhere", b"something else"),
        );
        assert_eq!(forged.hash(), t.hash());
        body.namespaces[0].txs[0] = forged;
        let err = check(&checker, &reseal(block.header.clone(), body)).unwrap_err();
        assert!(
            matches!(err, BlockError::BadSignature { tx } if tx == t.hash()),
            "{err}"
        );
    }

    #[test]
    fn broken_limits_are_rejected() {
        let limits = Limits {
            block_txs_max: 4,
            ..Limits::default()
        };
        let f = fixture(limits);
        // The honest builder respects the limit...
        assert_eq!(propose(&f, &txs(6)).header.tx_count, 4);
        // ...a hand-made block that does not is refused.
        let all = txs(6);
        let mut body = Body::default();
        for ns in [1u64, 2] {
            let list: Vec<_> = all
                .iter()
                .filter(|t| t.namespace().0 == ns)
                .cloned()
                .collect();
            body.namespaces.push(NamespaceTxs {
                namespace: NamespaceId(ns),
                txs: list,
            });
        }
        let err = check(&f, &reseal(propose(&f, &[]).header, body)).unwrap_err();
        assert!(
            matches!(
                err,
                BlockError::OverLimit {
                    limit: "block_txs_max",
                    value: 6,
                    max: 4,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn bad_parent_and_timestamps_are_rejected() {
        let f = fixture(Limits::default());
        let block = propose(&f, &txs(2));
        let mut h = block.header.clone();
        h.parent = weft_types::BlockDigest(Digest::from([9u8; 32]));
        assert!(matches!(
            check(&f, &Block::new(h, block.body.clone())).unwrap_err(),
            BlockError::NotChild { .. }
        ));
        let mut h = block.header.clone();
        h.timestamp_ms = f.parent.header.timestamp_ms - 1;
        assert!(matches!(
            check(&f, &Block::new(h, block.body.clone())).unwrap_err(),
            BlockError::TimestampBeforeParent { .. }
        ));
        let mut h = block.header.clone();
        h.timestamp_ms = 2_000 + Limits::default().timestamp_drift_ms_max + 1;
        assert!(matches!(
            check(&f, &Block::new(h, block.body.clone())).unwrap_err(),
            BlockError::TimestampAhead { .. }
        ));
        let mut h = block.header.clone();
        h.proposer = key(5).public_key();
        assert!(matches!(
            check(&f, &Block::new(h, block.body.clone())).unwrap_err(),
            BlockError::WrongProposer { .. }
        ));
    }

    #[test]
    fn duplicates_and_replayed_nonces_are_rejected() {
        let f = fixture(Limits::default());
        let all = txs(2);
        let block = propose(&f, &all);
        // The same transaction twice.
        let mut body = block.body.clone();
        let dup = body.namespaces[0].txs[0].clone();
        body.namespaces[0].txs.push(dup);
        assert!(matches!(
            check(&f, &reseal(block.header.clone(), body)).unwrap_err(),
            BlockError::DuplicateTx { .. }
        ));
        // A transaction already in an unfinalized ancestor.
        let mut pending = Pending::default();
        pending.add(&block);
        let again = f
            .app
            .check(&block, &f.parent, &f.ctx, &pending, 2_000)
            .unwrap_err();
        assert!(matches!(again, BlockError::InAncestor { .. }), "{again}");
        // A nonce already used by an ancestor (the sender's next nonce is 51).
        let sender = key(10);
        let mut pending = Pending::default();
        pending
            .nonces
            .insert(sender.public_key().as_ref().try_into().unwrap(), 50);
        let stale = f
            .app
            .check(&block, &f.parent, &f.ctx, &pending, 2_000)
            .unwrap_err();
        assert!(
            matches!(stale, BlockError::NonceGap { next: 51, .. }),
            "{stale}"
        );
        // A gap: nonce 1 without nonce 0.
        let skip = Transaction::sign(
            &key(20),
            &f_chain(),
            NamespaceId(1),
            1,
            Bytes::from_static(b"gap"),
        );
        let body = Body {
            namespaces: vec![NamespaceTxs {
                namespace: NamespaceId(1),
                txs: vec![skip],
            }],
            ..Body::default()
        };
        let gap = check(&f, &reseal(block.header.clone(), body)).unwrap_err();
        assert!(matches!(gap, BlockError::NonceGap { next: 0, .. }), "{gap}");
    }

    #[test]
    fn reserved_lanes_must_stay_empty() {
        let f = fixture(Limits::default());
        let block = propose(&f, &[]);
        let mut body = block.body.clone();
        body.encrypted.push(weft_types::EncryptedItem {
            target_view: 9,
            ciphertext: Bytes::from_static(b"c"),
        });
        let mut h = block.header.clone();
        h.encrypted_root = body.encrypted_root();
        assert_eq!(
            check(&f, &Block::new(h, body)).unwrap_err(),
            BlockError::LaneNotEnabled { lane: "encrypted" }
        );
    }

    /// Defect: one sender whose consecutive nonces span more namespaces than a block holds
    /// made every honest leader propose a block with a nonce gap (limits were applied after
    /// nonces were chained), which every verifier rejected, forever. Now the leader's own
    /// proposal verifies, and the rest of the sender's chain waits for later blocks.
    #[test]
    fn a_sender_spanning_too_many_namespaces_cannot_stall_proposals() {
        let limits = Limits {
            namespaces_per_block_max: 4,
            ..Limits::default()
        };
        let f = fixture(limits);
        let spammer = key(40);
        let mut all: Vec<Transaction> = (0..10u64)
            .map(|n| {
                Transaction::sign(
                    &spammer,
                    &f_chain(),
                    NamespaceId(100 + n),
                    n,
                    Bytes::from_static(b"s"),
                )
            })
            .collect();
        all.extend(txs(6));
        let block = propose(&f, &all);
        check(&f, &block).unwrap();
        assert_eq!(block.body.namespaces.len(), 4);
        let spam: Vec<u64> = block
            .body
            .txs()
            .filter(|t| t.sender()[..] == spammer.public_key().as_ref()[..])
            .map(|t| t.nonce())
            .collect();
        assert_eq!(spam, vec![0, 1, 2, 3]);
    }

    /// Defect: rule 8 sorted a sender's nonces before checking them, so a Byzantine leader
    /// could list nonce N+1 before N within a namespace.
    #[test]
    fn reversed_nonces_within_a_namespace_are_rejected() {
        let f = fixture(Limits::default());
        let sender = key(50);
        let (t0, t1) = (
            Transaction::sign(
                &sender,
                &f_chain(),
                NamespaceId(1),
                0,
                Bytes::from_static(b"a"),
            ),
            Transaction::sign(
                &sender,
                &f_chain(),
                NamespaceId(1),
                1,
                Bytes::from_static(b"b"),
            ),
        );
        let honest = propose(&f, &[t0.clone(), t1.clone()]);
        check(&f, &honest).unwrap();
        let body = Body {
            namespaces: vec![NamespaceTxs {
                namespace: NamespaceId(1),
                txs: vec![t1, t0],
            }],
            ..Body::default()
        };
        let err = check(&f, &reseal(honest.header.clone(), body)).unwrap_err();
        assert_eq!(err.rule(), 8);
        assert!(
            matches!(
                err,
                BlockError::NonceOutOfOrder {
                    nonce: 0,
                    after: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    /// Defect: a leader waited for `parent.timestamp + interval`, so a Byzantine parent
    /// stamped up to the drift bound in the future made the next honest leader sit out its
    /// view. It now waits at most one interval from when it is asked.
    #[test]
    fn a_future_parent_never_delays_a_proposal_past_one_interval() {
        let interval = 100;
        // Honest parent in the past: pace from the parent.
        assert_eq!(ready_at_ms(1_000, 1_050, interval), 1_100);
        // A parent stamped the whole drift ahead: one interval from now, not from it.
        let drift = Limits::default().timestamp_drift_ms_max;
        assert_eq!(ready_at_ms(1_000 + drift, 1_000, interval), 1_100);
        assert!(Config::default().leader_timeout_ms > drift + interval);
    }

    /// Counts the bytes the current thread holds allocated, and their peak, so one call's
    /// memory can be measured while other tests run on other threads.
    mod counting {
        use std::alloc::{GlobalAlloc, Layout, System};
        use std::cell::Cell;

        thread_local! {
            static LIVE: Cell<isize> = const { Cell::new(0) };
            static PEAK: Cell<isize> = const { Cell::new(0) };
        }

        struct Counting;

        // SAFETY: every call is forwarded to the system allocator unchanged; the counters
        // are plain thread-local cells (const-initialised, so reading them never allocates).
        unsafe impl GlobalAlloc for Counting {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                let _ = LIVE.try_with(|live| {
                    live.set(live.get() + layout.size() as isize);
                    let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
                });
                // SAFETY: the caller's layout, passed through.
                unsafe { System.alloc(layout) }
            }
            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                let _ = LIVE.try_with(|live| live.set(live.get() - layout.size() as isize));
                // SAFETY: `ptr` came from `alloc` above with this layout.
                unsafe { System.dealloc(ptr, layout) }
            }
        }

        #[global_allocator]
        static ALLOCATOR: Counting = Counting;

        /// Runs `f`; returns its result and the most bytes it held allocated at once.
        pub fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
            let base = LIVE.with(|l| l.get());
            PEAK.with(|p| p.set(base));
            let out = f();
            let peak = PEAK.with(|p| p.get()) - base;
            (out, peak.max(0) as usize)
        }
    }

    /// Marshal's ancestry stream over a fixed chain, newest first.
    #[derive(Clone)]
    struct FixedAncestry(Arc<Vec<Digested<ConsensusBlock>>>, usize);

    impl futures::Stream for FixedAncestry {
        type Item = Digested<ConsensusBlock>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            let next = self.0.get(self.1).cloned();
            self.1 += 1;
            std::task::Poll::Ready(next)
        }
    }

    impl Ancestry<ConsensusBlock> for FixedAncestry {
        fn peek(&self) -> Option<&Digested<ConsensusBlock>> {
            self.0.get(self.1)
        }
    }

    /// Defect 12: verifying on top of a long unfinalized suffix walks the shared ancestors and
    /// keeps only their hashes and nonces; it copies none of them. Measured as the most
    /// bytes the walk holds at once: copying the ancestors would hold at least one
    /// `Transaction` per transaction, besides the hashes.
    #[test]
    fn the_ancestor_walk_copies_no_ancestor() {
        let (heights, per_block) = (64u64, 500u64);
        let mut chain = vec![genesis()];
        for h in 1..=heights {
            let txs: Vec<Transaction> = (0..per_block)
                .map(|i| {
                    Transaction::sign(
                        &key(100 + i % 50),
                        &f_chain(),
                        NamespaceId(1),
                        (h - 1) * (per_block / 50) + i / 50,
                        Bytes::from(vec![0u8; 64]),
                    )
                })
                .collect();
            let parent = chain.last().expect("genesis");
            let block = Block::child(
                parent,
                0,
                h,
                1_000 + h,
                key(0).public_key(),
                Body::from_txs(txs),
            );
            chain.push(block);
        }
        let newest_first: Vec<Digested<ConsensusBlock>> = chain
            .iter()
            .rev()
            .map(|b| Digested::precomputed(ConsensusBlock::new(b.clone()), b.digest().0))
            .collect();
        let first = newest_first[0].clone();
        let mut ancestry = FixedAncestry(Arc::new(newest_first), 1);
        let (pending, peak) = counting::peak_of(|| {
            futures::executor::block_on(unfinalized_ancestors(&first, &mut ancestry, Some(0)))
        });
        let pending = pending.expect("every ancestor is available");
        let txs = (heights * per_block) as usize;
        assert_eq!(
            pending.hashes.len(),
            txs,
            "every unfinalized transaction is seen"
        );
        let copy = txs * std::mem::size_of::<Transaction>();
        eprintln!("ancestor walk over {heights} blocks of {per_block}: peak {peak} bytes; a copy of their transactions is {copy}");
        assert!(
            peak < copy,
            "the walk held {peak} bytes at once; a copy of the ancestors' transactions alone is {copy}"
        );
    }
}
