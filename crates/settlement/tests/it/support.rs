//! Test doubles: a toy proof program, an in-memory finalized Weft chain, and a harness that
//! opens (and reopens) an embedded L1 on a temporary file.

use commonware_cryptography::Signer as _;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use weft_settlement::auth::public_key;
use weft_settlement::{
    BatchHeader, BundleOutcome, Config, Cursor, DataError, Deployment, EmbeddedL1, Hash,
    NamespaceItem, Program, Receipt, Registration, RollupStatus, Root, SettlementError, Submission,
    WeftData, L1,
};
use weft_types::{ChainId, SigningKey};

/// The rollup the harness registers.
pub const ROLLUP: u64 = 7;
/// Another namespace with transactions on the chain, which batches of [`ROLLUP`] must skip.
pub const OTHER_NAMESPACE: u64 = 9;
/// [`ROLLUP`]'s genesis root.
pub const GENESIS: Root = [1, 2, 3, 4];
/// Where [`ROLLUP`]'s first batch starts.
pub const START: Cursor = Cursor::new(1, 0);
/// Finalized Weft blocks at the start of every test: heights `0..=FINALIZED_HEAD`.
pub const FINALIZED_HEAD: u64 = 10;

/// A proof starting with these bytes makes [`SumProgram::verify`] panic.
pub const POISON_PROOF: &[u8] = b"\xde\xad\xbe\xef";

/// The program id the harness deploys and registers.
pub const PROGRAM: &str = "test/sum-v1";

/// The Weft chain the test L1 settles.
pub fn chain_id() -> ChainId {
    ChainId(weft_types::sha256(&[b"weft-settlement tests"]))
}

/// The owner its deployment names for `rollup`.
pub fn owner_of(rollup: u64) -> SigningKey {
    SigningKey::from_seed(rollup * 10)
}

/// The submitter `rollup`'s owner registers.
pub fn submitter_of(rollup: u64) -> SigningKey {
    SigningKey::from_seed(rollup * 10 + 1)
}

/// `sub` signed by its rollup's submitter.
pub fn signed(mut sub: Submission) -> Submission {
    sub.sign(&submitter_of(sub.header.rollup), &chain_id());
    sub
}

/// A toy program: the commitment folds the payloads into four lanes; the state transition
/// adds the commitment to the root; the "proof" is the little-endian encoding of
/// `(old_root, new_root, commitment)` and verifies only for the honest transition.
pub struct SumProgram {
    pub id: &'static str,
}

impl SumProgram {
    pub fn transition(old_root: &Root, commitment: &Root) -> Root {
        std::array::from_fn(|i| old_root[i].wrapping_mul(31).wrapping_add(commitment[i]))
    }

    pub fn prove(old_root: &Root, new_root: &Root, commitment: &Root) -> Vec<u8> {
        [old_root, new_root, commitment]
            .iter()
            .flat_map(|r| r.iter())
            .flat_map(|v| v.to_le_bytes())
            .collect()
    }
}

impl Program for SumProgram {
    fn id(&self) -> &str {
        self.id
    }

    fn commitment(&self, header: &BatchHeader, items: &[NamespaceItem]) -> Result<Root, String> {
        let payloads: Vec<&Vec<u8>> = items.iter().map(|i| &i.payload).collect();
        if payloads.iter().any(|p| p.first() == Some(&0xff)) {
            return Err("payload starts with the poison byte 0xff".into());
        }
        let mut folded: u64 = header.batch_index;
        for byte in payloads.iter().copied().flatten() {
            folded = folded
                .wrapping_mul(1_000_003)
                .wrapping_add(u64::from(*byte));
        }
        Ok([
            payloads.len() as u64,
            payloads
                .iter()
                .copied()
                .flatten()
                .map(|b| u64::from(*b))
                .sum(),
            payloads.iter().map(|p| p.len() as u64).sum(),
            folded,
        ])
    }

    fn verify(
        &self,
        _header: &BatchHeader,
        old_root: &Root,
        new_root: &Root,
        commitment: &Root,
        proof: &[u8],
    ) -> Result<(), String> {
        // Like a proof library that asserts on bytes it did not validate.
        assert!(
            !proof.starts_with(POISON_PROOF),
            "index out of bounds in a proof decoder"
        );
        if proof != Self::prove(old_root, new_root, commitment).as_slice() {
            return Err("proof does not match the public inputs".into());
        }
        if *new_root != Self::transition(old_root, commitment) {
            return Err("new root is not the transition of the old root".into());
        }
        Ok(())
    }
}

/// One Weft block's transactions: `(namespace, payload)`, in order.
pub type WeftBlock = Vec<(u64, Vec<u8>)>;

/// Finalized Weft blocks in memory: `blocks[height]` is that block's `(namespace, payload)`
/// transactions in order.
#[derive(Default)]
pub struct TestChain {
    blocks: RwLock<Vec<WeftBlock>>,
    /// Payloads that are bundle legs, with their bundle.
    legs: RwLock<BTreeMap<Vec<u8>, Hash>>,
    unavailable: AtomicBool,
}

impl TestChain {
    /// Heights `0..=head`, each with two transactions of [`ROLLUP`] around one of
    /// [`OTHER_NAMESPACE`].
    pub fn with_head(head: u64) -> Self {
        let chain = Self::default();
        for _ in 0..=head {
            chain.finalize_next();
        }
        chain
    }

    /// Finalizes one more block of the usual shape.
    pub fn finalize_next(&self) {
        let h = self.blocks.read().unwrap().len() as u8;
        self.finalize(vec![
            (ROLLUP, vec![h, 1]),
            (OTHER_NAMESPACE, vec![h, 2]),
            (ROLLUP, vec![h, 3, 3]),
        ]);
    }

    /// Finalizes one more block with these `(namespace, payload)` transactions.
    pub fn finalize(&self, txs: WeftBlock) {
        self.blocks.write().unwrap().push(txs);
    }

    /// Marks the transaction with `payload` as a leg of `bundle`.
    pub fn mark_leg(&self, payload: &[u8], bundle: Hash) {
        self.legs.write().unwrap().insert(payload.to_vec(), bundle);
    }

    /// Makes every fetch fail as unavailable (or work again).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }
}

impl WeftData for TestChain {
    fn namespace_payloads(
        &self,
        namespace: u64,
        start: Cursor,
        end: Cursor,
    ) -> Result<Vec<NamespaceItem>, DataError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(DataError::Unavailable("light client is syncing".into()));
        }
        let blocks = self.blocks.read().unwrap();
        let head = (blocks.len() as u64).checked_sub(1);
        // `end` is exclusive: `(h, 0)` needs blocks below `h`, `(h, i > 0)` needs block `h`.
        let needed = if end.index == 0 {
            end.height.checked_sub(1)
        } else {
            Some(end.height)
        };
        if needed.is_some_and(|n| head.is_none_or(|h| n > h)) {
            return Err(DataError::NotFinalized { head });
        }
        let mut out = Vec::new();
        for (height, txs) in blocks.iter().enumerate() {
            let mut index = 0u32;
            for (ns, payload) in txs {
                if *ns != namespace {
                    continue;
                }
                let at = Cursor::new(height as u64, index);
                if at >= start && at < end {
                    out.push(NamespaceItem {
                        payload: payload.clone(),
                        bundle: self.legs.read().unwrap().get(payload).copied(),
                    });
                }
                index += 1;
            }
        }
        Ok(out)
    }
}

/// An embedded L1 on a temporary file, with [`ROLLUP`] registered.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub chain: Arc<TestChain>,
    pub cfg: Config,
    pub l1: EmbeddedL1,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    pub fn with_config(cfg: Config) -> Self {
        let h = Self::unregistered(cfg);
        h.register(ROLLUP, GENESIS, START).unwrap();
        h
    }

    /// An L1 deployed with [`ROLLUP`] and [`OTHER_NAMESPACE`], neither registered yet.
    pub fn unregistered(cfg: Config) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let chain = Arc::new(TestChain::with_head(FINALIZED_HEAD));
        let l1 = open(&dir, &cfg, &chain, "test/sum-v1");
        Self {
            dir,
            chain,
            cfg,
            l1,
        }
    }

    /// Registers `rollup` as its owner, naming [`submitter_of`] it.
    pub fn register(
        &self,
        rollup: u64,
        genesis_root: Root,
        start: Cursor,
    ) -> Result<(), SettlementError> {
        let registration = Registration {
            rollup,
            program: PROGRAM.into(),
            genesis_root,
            start,
            submitter: public_key(&submitter_of(rollup)),
        };
        self.l1
            .register_rollup(registration.sign(&owner_of(rollup), &chain_id()))
    }

    /// Submits `sub` as its rollup's submitter.
    pub fn submit(&self, sub: Submission) -> Result<Receipt, SettlementError> {
        self.l1.submit(signed(sub))
    }

    /// Closes and reopens the chain file, with `program_id` for [`ROLLUP`].
    pub fn reopen_with(self, program_id: &'static str) -> Self {
        let Harness {
            dir,
            chain,
            cfg,
            l1,
        } = self;
        // Close first: redb holds an exclusive lock on the file.
        drop(l1);
        let l1 = open(&dir, &cfg, &chain, program_id);
        Self {
            dir,
            chain,
            cfg,
            l1,
        }
    }

    pub fn reopen(self) -> Self {
        self.reopen_with("test/sum-v1")
    }

    pub fn status(&self) -> RollupStatus {
        let all = self.l1.status().unwrap();
        all.into_iter().find(|s| s.rollup == ROLLUP).unwrap()
    }

    /// The honest next batch of [`ROLLUP`], up to `end`.
    pub fn honest(&self, end: Cursor) -> Submission {
        let status = self.status();
        let header = BatchHeader {
            rollup: ROLLUP,
            batch_index: status.settled_batches,
            start: status.next_start,
            end,
        };
        honest_for(&self.chain, header, status.root)
    }
}

/// The honest submission for `header` on `old_root`, against `chain`'s data.
pub fn honest_for(chain: &TestChain, header: BatchHeader, old_root: Root) -> Submission {
    honest_with(chain, header, old_root, &|_| true)
}

/// [`honest_for`], with each bundle's outcome given by `executed`: a reverted bundle's legs
/// are left out of the commitment, and every bundle with a leg in the batch is listed.
pub fn honest_with(
    chain: &TestChain,
    header: BatchHeader,
    old_root: Root,
    executed: &dyn Fn(&Hash) -> bool,
) -> Submission {
    let items = chain
        .namespace_payloads(header.rollup, header.start, header.end)
        .unwrap();
    let mut bundle_outcomes: Vec<BundleOutcome> = items
        .iter()
        .filter_map(|i| i.bundle)
        .map(|bundle| BundleOutcome {
            bundle,
            executed: executed(&bundle),
        })
        .collect();
    bundle_outcomes.sort();
    bundle_outcomes.dedup();
    let payloads: Vec<NamespaceItem> = items
        .into_iter()
        .filter(|i| i.bundle.as_ref().is_none_or(executed))
        .collect();
    let commitment = SumProgram { id: "" }
        .commitment(&header, &payloads)
        .unwrap();
    let new_root = SumProgram::transition(&old_root, &commitment);
    Submission {
        header,
        old_root,
        new_root,
        commitment,
        proof: SumProgram::prove(&old_root, &new_root, &commitment),
        bundle_outcomes,
        signature: Vec::new(),
    }
}

fn open(
    dir: &tempfile::TempDir,
    cfg: &Config,
    chain: &Arc<TestChain>,
    program_id: &'static str,
) -> EmbeddedL1 {
    let mut rollups = BTreeMap::new();
    for rollup in [ROLLUP, OTHER_NAMESPACE] {
        let deployment = Deployment {
            program: Arc::new(SumProgram { id: program_id }),
            owner: public_key(&owner_of(rollup)),
        };
        rollups.insert(rollup, deployment);
    }
    let weft: Arc<dyn WeftData> = chain.clone();
    EmbeddedL1::open(
        dir.path().join("l1.redb"),
        cfg.clone(),
        chain_id(),
        rollups,
        weft,
    )
    .unwrap()
}
