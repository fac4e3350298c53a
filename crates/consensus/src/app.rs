//! Block building and verification: Weft's [`Application`] for marshal.
//!
//! # Block validity rules
//! A block `B` proposed in round `(epoch, view)` by `leader` on parent `P` is valid iff:
//! 1. `B.height = P.height + 1` and `B.parent = digest(P)` (checked by marshal's wrapper);
//! 2. `B.epoch`, `B.view` and `B.proposer` equal the round and its leader;
//! 3. `P.timestamp_ms <= B.timestamp_ms <= now + timestamp_drift_ms_max`;
//! 4. `B.state_root` and `B.l1_inbox_index` equal the parent's (staking and the L1 inbox are
//!    not live yet), and the bundle and encrypted lanes are empty;
//! 5. the body respects every wire limit and every header root and count matches the body;
//! 6. every transaction is within size limits and correctly signed;
//! 7. no transaction appears twice, in an unfinalized ancestor, or in a finalized block;
//! 8. each sender's nonces in `B` are exactly its next nonces, consecutive: starting one
//!    above its highest nonce in the finalized chain and the unfinalized ancestors (0 for a new
//!    sender), with no gap and no repeat.
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
use weft_mempool::ChainView as _;
use weft_types::{Block, Body, Digest, Transaction, TxHash, VerifyingKey};

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

/// Collects the ancestors above the finalized head. `first` is the newest ancestor (the
/// parent); the stream yields older ones.
async fn unfinalized_ancestors(
    first: &Digested<ConsensusBlock>,
    ancestry: &mut impl Ancestry<ConsensusBlock>,
    finalized_height: Option<u64>,
) -> Option<Pending> {
    let mut pending = Pending::default();
    let above = |h: u64| finalized_height.is_none_or(|f| h > f);
    let mut current = first.inner().block().clone();
    while above(current.height()) && current.height() > 0 {
        pending.add(&current);
        current = ancestry.next().await?.inner().block().clone();
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
        let header_room = weft_types::HEADER_BYTES + 64;
        let selected = {
            let mempool = self.shared.mempool.lock().expect("mempool lock");
            // Each namespace adds a list header (8-byte id + length prefix); reserve for the worst case.
            let budget = limits
                .block_bytes_max
                .saturating_sub(header_room + limits.namespaces_per_block_max * 13);
            mempool.select(
                &pending.hashes,
                |s| self.next_nonce(pending, s),
                limits.block_txs_max,
                budget,
            )
        };
        // Keep to namespaces_per_block_max: transactions of further namespaces wait.
        let mut namespaces = std::collections::BTreeSet::new();
        let txs = selected.into_iter().filter(|tx| {
            namespaces.contains(&tx.namespace())
                || (namespaces.len() < limits.namespaces_per_block_max
                    && namespaces.insert(tx.namespace()))
        });
        let block = Block::child(
            parent,
            ctx.round.epoch().get(),
            ctx.round.view().get(),
            now_ms.max(parent.header.timestamp_ms),
            ctx.leader.clone(),
            Body::from_txs(txs),
        );
        debug_assert!(block.check_commitments().is_ok());
        block
    }

    /// Rules 2-8 (see the module docs). Returns why the block is invalid.
    fn check(
        &self,
        block: &Block,
        parent: &Block,
        ctx: &Context<Digest, VerifyingKey>,
        pending: &Pending,
        now_ms: u64,
    ) -> Result<(), String> {
        let h = &block.header;
        let limits = &self.shared.limits;
        if h.height != parent.height() + 1 || h.parent != parent.digest() {
            return Err(format!(
                "block {} does not extend parent {} at height {}",
                h.height,
                parent.digest(),
                parent.height()
            ));
        }
        if h.epoch != ctx.round.epoch().get() || h.view != ctx.round.view().get() {
            return Err(format!(
                "header round ({}, {}) differs from consensus round {:?}",
                h.epoch, h.view, ctx.round
            ));
        }
        if h.proposer != ctx.leader {
            return Err(format!(
                "proposer {} is not the round's leader {}",
                h.proposer, ctx.leader
            ));
        }
        if h.timestamp_ms < parent.header.timestamp_ms {
            return Err(format!(
                "timestamp {} is before the parent's {}",
                h.timestamp_ms, parent.header.timestamp_ms
            ));
        }
        let drift_max = self.shared.consensus.timestamp_drift_ms_max;
        if h.timestamp_ms > now_ms.saturating_add(drift_max) {
            return Err(format!(
                "timestamp {} is more than timestamp_drift_ms_max = {drift_max} ahead of {now_ms}",
                h.timestamp_ms
            ));
        }
        if h.state_root != parent.header.state_root
            || h.l1_inbox_index != parent.header.l1_inbox_index
        {
            return Err("state_root and l1_inbox_index must equal the parent's".into());
        }
        if !block.body.bundles.is_empty() || !block.body.encrypted.is_empty() {
            return Err("bundles and the encrypted lane are not enabled on this network".into());
        }
        let size = block.encode_size();
        if size > limits.block_bytes_max {
            return Err(format!(
                "block is {size} bytes, above block_bytes_max = {}",
                limits.block_bytes_max
            ));
        }
        if block.body.tx_count() > limits.block_txs_max
            || block.body.namespaces.len() > limits.namespaces_per_block_max
        {
            return Err("block exceeds block_txs_max or namespaces_per_block_max".into());
        }
        block.check_commitments()?;
        self.check_txs(block, pending)
    }

    fn check_txs(&self, block: &Block, pending: &Pending) -> Result<(), String> {
        let limits = &self.shared.limits;
        let txs: Vec<&Transaction> = block.body.txs().collect();
        let mut unverified = Vec::new();
        {
            let mempool = self.shared.mempool.lock().expect("mempool lock");
            for tx in &txs {
                tx.check_size(limits)
                    .map_err(|e| format!("transaction {}: {e}", tx.hash()))?;
                if !mempool.contains_verified(tx) {
                    unverified.push(*tx);
                }
            }
        }
        let flags = Transaction::verify_signatures(&unverified);
        if let Some(i) = flags.iter().position(|ok| !ok) {
            return Err(format!(
                "transaction {} has an invalid signature",
                unverified[i].hash()
            ));
        }
        let hashes: Vec<TxHash> = txs.iter().map(|t| t.hash()).collect();
        let finalized = self
            .shared
            .store
            .finalized_among(&hashes)
            .expect("store read");
        let mut seen = HashSet::with_capacity(txs.len());
        let mut nonces: HashMap<[u8; 32], Vec<u64>> = HashMap::new();
        for (tx, finalized) in txs.iter().zip(finalized) {
            let hash = tx.hash();
            if !seen.insert(hash) {
                return Err(format!("transaction {hash} appears twice"));
            }
            if finalized {
                return Err(format!("transaction {hash} is already finalized"));
            }
            if pending.hashes.contains(&hash) {
                return Err(format!(
                    "transaction {hash} is already in an unfinalized ancestor"
                ));
            }
            nonces.entry(*tx.sender()).or_default().push(tx.nonce());
        }
        // Rule 8: each sender's nonces in the block are exactly its next ones, consecutive.
        for (sender, mut list) in nonces {
            let next = self.next_nonce(pending, &sender);
            list.sort_unstable();
            if list.iter().enumerate().any(|(i, n)| *n != next + i as u64) {
                return Err(format!(
                    "sender {}: nonces {list:?} are not consecutive from its next nonce {next}",
                    weft_types::to_hex(&sender)
                ));
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
        let parent_block = parent.inner().block().clone();
        // Pacing: wait for the interval since the parent, or for enough transactions.
        let interval = Duration::from_millis(self.shared.consensus.block_interval_ms);
        let ready_at = std::time::UNIX_EPOCH
            + Duration::from_millis(parent_block.header.timestamp_ms)
            + interval;
        loop {
            let now = runtime.current();
            if now >= ready_at {
                break;
            }
            let len = self.shared.mempool.lock().expect("mempool lock").len();
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
            Ok(()) => true,
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
    use crate::{Config, Metrics};
    use bytes::Bytes;
    use commonware_consensus::types::{Epoch, Round, View};
    use commonware_cryptography::Signer as _;
    use std::sync::Mutex;
    use weft_mempool::Mempool;
    use weft_storage::Store;
    use weft_types::{merkle, Header, Limits, NamespaceId, NamespaceTxs, SigningKey};

    fn key(seed: u64) -> SigningKey {
        SigningKey::from_seed(seed)
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
        let parent = Block::genesis(Digest::from([1u8; 32]), leader.clone(), 1_000);
        store.commit_finalized(&parent, b"", 0).unwrap();
        let shared = Arc::new(Shared {
            mempool: Mutex::new(Mempool::new(Default::default(), limits)),
            store,
            limits,
            consensus: Config::default(),
            metrics: Metrics::default(),
            registered: Default::default(),
        });
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
            let mut mempool = f.app.shared.mempool.lock().unwrap();
            for tx in txs {
                mempool
                    .admit(tx.clone(), &ChainState(&f.app.shared.store), false)
                    .unwrap();
            }
        }
        f.app.build(&f.parent, &f.ctx, &Pending::default(), 2_000)
    }

    fn check(f: &Fixture, block: &Block) -> Result<(), String> {
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
        assert!(err.contains("invalid signature"), "{err}");
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
        assert!(err.contains("block_txs_max"), "{err}");
    }

    #[test]
    fn bad_parent_and_timestamps_are_rejected() {
        let f = fixture(Limits::default());
        let block = propose(&f, &txs(2));
        let mut h = block.header.clone();
        h.parent = weft_types::BlockDigest(Digest::from([9u8; 32]));
        assert!(check(&f, &Block::new(h, block.body.clone()))
            .unwrap_err()
            .contains("does not extend parent"));
        let mut h = block.header.clone();
        h.timestamp_ms = f.parent.header.timestamp_ms - 1;
        assert!(check(&f, &Block::new(h, block.body.clone()))
            .unwrap_err()
            .contains("before the parent"));
        let mut h = block.header.clone();
        h.timestamp_ms = 2_000 + Config::default().timestamp_drift_ms_max + 1;
        assert!(check(&f, &Block::new(h, block.body.clone()))
            .unwrap_err()
            .contains("timestamp_drift_ms_max"));
        let mut h = block.header.clone();
        h.proposer = key(5).public_key();
        assert!(check(&f, &Block::new(h, block.body.clone()))
            .unwrap_err()
            .contains("leader"));
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
        assert!(check(&f, &reseal(block.header.clone(), body))
            .unwrap_err()
            .contains("appears twice"));
        // A transaction already in an unfinalized ancestor.
        let mut pending = Pending::default();
        pending.add(&block);
        let again = f
            .app
            .check(&block, &f.parent, &f.ctx, &pending, 2_000)
            .unwrap_err();
        assert!(again.contains("unfinalized ancestor"), "{again}");
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
            stale.contains("not consecutive from its next nonce 51"),
            "{stale}"
        );
        // A gap: nonce 1 without nonce 0.
        let skip = Transaction::sign(&key(20), NamespaceId(1), 1, Bytes::from_static(b"gap"));
        let body = Body {
            namespaces: vec![NamespaceTxs {
                namespace: NamespaceId(1),
                txs: vec![skip],
            }],
            ..Body::default()
        };
        let gap = check(&f, &reseal(block.header.clone(), body)).unwrap_err();
        assert!(
            gap.contains("not consecutive from its next nonce 0"),
            "{gap}"
        );
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
        assert!(check(&f, &Block::new(h, body))
            .unwrap_err()
            .contains("not enabled"));
    }
}
