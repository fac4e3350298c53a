//! The deterministic core of Weft's rollup framework: a [`Program`] per rollup, and a
//! [`World`] that executes the finalized data of several namespaces together, applying the
//! atomic-execution rule to cross-rollup bundles.
//!
//! A rollup's state is a deterministic function of finalized Weft data. A rollup that takes
//! part in bundles therefore follows the namespaces of the rollups it bundles with and runs
//! their programs too: it needs no one's word for the other legs' outcome.
//!
//! # Execution order (per finalized block)
//! 1. Each program's plain transactions, in namespace order (programs are independent).
//! 2. Then the block's bundles, in bundle-id order (block rule B5 of `weft_types::bundle`
//!    puts legs last in each namespace, in that order, so this is also namespace order).
//!
//! # The outcome rule (for each bundle, at that position)
//! - O1. Every leg's namespace must be a program of the world; a leg in a namespace the
//!   world does not run makes the bundle revert (no rollup is bound by rules it cannot see).
//! - O2. The legs are applied in index order, each by its program against its state *as
//!   left by the legs before it*; a program checks the leg's validity and its precondition
//!   (which may read the other legs' payloads: "I pay exactly the premium the options leg
//!   computes").
//! - O3. If every leg applies, the bundle executes: every program commits. If any leg
//!   fails, the bundle reverts on every rollup: every program undoes the legs it applied,
//!   and the outcome names the first failing leg and its reason.
//!
//! Every node of every rollup in the world computes the same outcomes from the same data.
//! A batch of one rollup exposes the outcome of each bundle leg it holds, and the
//! settlement contract refuses a batch whose outcome for a bundle contradicts an
//! already-settled batch of another rollup (`weft_settlement::contract`, rule 5b).

use std::collections::BTreeMap;
use weft_types::{BundleId, NamespaceId, TxHash};

/// A finalized transaction as a program sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecTx {
    /// Weft transaction hash.
    pub hash: TxHash,
    /// Its namespace.
    pub namespace: NamespaceId,
    /// Weft sender (authenticated by the sequencer: an ed25519 key for native transactions).
    pub sender: [u8; 32],
    /// Weft nonce.
    pub nonce: u64,
    /// The payload.
    pub payload: Vec<u8>,
    /// For a bundle leg: its bundle and index.
    pub leg: Option<LegRef>,
}

/// A leg's place in its bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegRef {
    /// The bundle.
    pub bundle: BundleId,
    /// This leg's index.
    pub index: u8,
    /// Legs in the bundle.
    pub count: u8,
}

impl ExecTx {
    /// From a Weft transaction.
    pub fn of(tx: &weft_types::Transaction) -> Self {
        Self {
            hash: tx.hash(),
            namespace: tx.namespace(),
            sender: *tx.sender(),
            nonce: tx.nonce(),
            payload: tx.payload().to_vec(),
            leg: tx.leg().map(|l| LegRef {
                bundle: l.bundle(),
                index: l.index,
                count: l.count() as u8,
            }),
        }
    }

    /// From a validator's JSON (a follower's view); `Err` names the malformed field.
    pub fn from_json(tx: &weft_api::types::TxJson) -> Result<Self, String> {
        let hex32 = |what: &str, s: &str| {
            weft_types::from_hex_fixed::<32>(s).map_err(|e| format!("{what}: {e}"))
        };
        Ok(Self {
            hash: TxHash::from_hex(&tx.hash).map_err(|e| format!("hash: {e}"))?,
            namespace: NamespaceId(tx.namespace),
            sender: hex32("sender", &tx.sender)?,
            nonce: tx.nonce,
            payload: hex::decode(tx.payload.trim_start_matches("0x"))
                .map_err(|e| format!("payload: {e}"))?,
            leg: match &tx.leg {
                None => None,
                Some(l)
                    if !(weft_types::BUNDLE_LEGS_MIN..=weft_types::BUNDLE_LEGS_MAX)
                        .contains(&l.contents.len())
                        || l.index as usize >= l.contents.len() =>
                {
                    return Err(format!(
                        "leg: {} legs, index {}: outside the bundle bounds",
                        l.contents.len(),
                        l.index
                    ))
                }
                Some(l) => Some(LegRef {
                    bundle: BundleId::from_hex(&l.bundle_id).map_err(|e| format!("leg: {e}"))?,
                    index: l.index,
                    count: l.contents.len() as u8,
                }),
            },
        })
    }
}

/// A rollup's state machine over its namespace.
pub trait Program: Send + 'static {
    /// The namespace it executes.
    fn namespace(&self) -> NamespaceId;

    /// As `Any`, for [`World::get`] (implement as `self`).
    fn as_any(&self) -> &dyn std::any::Any;

    /// As `Any`, mutably, for [`World::get_mut`] (implement as `self`).
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;

    /// Called once per finalized block before its transactions (expiries, clocks).
    fn begin_block(&mut self, _height: u64) {}

    /// Executes a plain transaction. `Err(reason)`: skipped, and the state is unchanged.
    fn apply(&mut self, tx: &ExecTx) -> Result<(), String>;

    /// Applies a bundle leg tentatively (rule O2): checks its validity and precondition
    /// against the current state, reading the bundle's other legs (`bundle`, every leg in
    /// index order) if its precondition needs them. `Err(reason)`: the state is unchanged
    /// and the bundle will revert.
    fn apply_leg(&mut self, tx: &ExecTx, bundle: &[&ExecTx]) -> Result<(), String>;

    /// The bundle executes: keep every leg applied since the last commit or abort.
    fn commit_bundle(&mut self);

    /// The bundle reverts: undo every leg applied since the last commit or abort.
    fn abort_bundle(&mut self);

    /// The state root.
    fn state_root(&self) -> [u8; 32];
}

/// What became of one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A plain transaction that applied.
    Applied,
    /// A plain transaction skipped, with the program's reason.
    Skipped(String),
    /// A leg of a bundle that executed on every rollup.
    Executed(BundleId),
    /// A leg of a bundle that reverted on every rollup: the first failing leg and why.
    Reverted {
        /// The bundle.
        bundle: BundleId,
        /// The index of the leg that failed.
        leg: u8,
        /// Why.
        reason: String,
    },
}

/// One transaction's outcome, where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executed {
    /// Its namespace.
    pub namespace: NamespaceId,
    /// Its index in the namespace's list in the block.
    pub index: u32,
    /// Its hash.
    pub hash: TxHash,
    /// What became of it.
    pub outcome: Outcome,
}

/// Observes execution one transaction at a time, in each namespace's order (a batcher cuts
/// and collects witnesses here). For a bundle, `before` is called for each of its legs
/// before any is applied, and `after` for each once the outcome is known.
pub trait Hooks {
    /// Before `tx` (the `index`-th of its namespace in the block) is executed by `program`.
    fn before(&mut self, _height: u64, _index: u32, _tx: &ExecTx, _program: &dyn Program) {}
    /// After `tx` was executed, with its outcome.
    fn after(
        &mut self,
        _height: u64,
        _index: u32,
        _tx: &ExecTx,
        _outcome: &Outcome,
        _program: &mut dyn Program,
    ) {
    }
}

/// No hooks.
impl Hooks for () {}

/// Several programs executed together (see the crate docs for the rules).
pub struct World {
    programs: BTreeMap<NamespaceId, Box<dyn Program>>,
}

impl World {
    /// A world of these programs. Panics if two share a namespace (a configuration error).
    pub fn new(programs: Vec<Box<dyn Program>>) -> Self {
        let mut map = BTreeMap::new();
        for p in programs {
            let ns = p.namespace();
            assert!(
                map.insert(ns, p).is_none(),
                "two programs for namespace {ns}"
            );
        }
        Self { programs: map }
    }

    /// The namespaces it executes.
    pub fn namespaces(&self) -> Vec<NamespaceId> {
        self.programs.keys().copied().collect()
    }

    /// The program of `namespace`.
    pub fn program(&self, namespace: NamespaceId) -> Option<&dyn Program> {
        self.programs.get(&namespace).map(|p| p.as_ref())
    }

    /// The program of `namespace` as its concrete type.
    pub fn get<T: Program>(&self, namespace: NamespaceId) -> Option<&T> {
        self.programs.get(&namespace)?.as_any().downcast_ref()
    }

    /// The program of `namespace` as its concrete type, mutably.
    pub fn get_mut<T: Program>(&mut self, namespace: NamespaceId) -> Option<&mut T> {
        self.programs
            .get_mut(&namespace)?
            .as_any_mut()
            .downcast_mut()
    }

    /// The program of `namespace`, mutably.
    pub fn program_mut(&mut self, namespace: NamespaceId) -> Option<&mut (dyn Program + 'static)> {
        self.programs.get_mut(&namespace).map(|p| p.as_mut())
    }

    /// Executes one finalized block: `txs` holds each followed namespace's list, in block
    /// order (namespaces the world does not run are ignored). Returns every transaction's
    /// outcome, plain ones first, then bundles in id order.
    pub fn apply_block(
        &mut self,
        height: u64,
        txs: &BTreeMap<NamespaceId, Vec<ExecTx>>,
    ) -> Vec<Executed> {
        self.apply_block_with(height, txs, &mut ())
    }

    /// [`World::apply_block`], calling `hooks` around each transaction.
    pub fn apply_block_with(
        &mut self,
        height: u64,
        txs: &BTreeMap<NamespaceId, Vec<ExecTx>>,
        hooks: &mut dyn Hooks,
    ) -> Vec<Executed> {
        for p in self.programs.values_mut() {
            p.begin_block(height);
        }
        let mut out = Vec::new();
        let mut bundles: BTreeMap<BundleId, Vec<(u32, &ExecTx)>> = BTreeMap::new();
        for (ns, list) in txs {
            let Some(program) = self.programs.get_mut(ns) else {
                continue;
            };
            for (i, tx) in list.iter().enumerate() {
                if let Some(leg) = tx.leg {
                    bundles.entry(leg.bundle).or_default().push((i as u32, tx));
                    continue;
                }
                hooks.before(height, i as u32, tx, program.as_ref());
                let outcome = match program.apply(tx) {
                    Ok(()) => Outcome::Applied,
                    Err(reason) => Outcome::Skipped(reason),
                };
                hooks.after(height, i as u32, tx, &outcome, program.as_mut());
                out.push(Executed {
                    namespace: *ns,
                    index: i as u32,
                    hash: tx.hash,
                    outcome,
                });
            }
        }
        for (bundle, mut legs) in bundles {
            legs.sort_by_key(|(_, tx)| tx.leg.map(|l| l.index));
            for (i, tx) in &legs {
                if let Some(p) = self.programs.get(&tx.namespace) {
                    hooks.before(height, *i, tx, p.as_ref());
                }
            }
            let outcome = self.execute_bundle(bundle, &legs);
            for (i, tx) in &legs {
                if let Some(p) = self.programs.get_mut(&tx.namespace) {
                    hooks.after(height, *i, tx, &outcome, p.as_mut());
                }
            }
            for (i, tx) in legs {
                out.push(Executed {
                    namespace: tx.namespace,
                    index: i,
                    hash: tx.hash,
                    outcome: outcome.clone(),
                });
            }
        }
        out
    }

    /// Rules O1-O3 for one bundle whose legs in the world's namespaces are `legs`.
    fn execute_bundle(&mut self, bundle: BundleId, legs: &[(u32, &ExecTx)]) -> Outcome {
        let count = legs.first().and_then(|(_, t)| t.leg).map_or(0, |l| l.count);
        let reverted = |leg: u8, reason: String| Outcome::Reverted {
            bundle,
            leg,
            reason,
        };
        // O1: every leg is here (a leg missing from the data is in a namespace not followed).
        if let Some(missing) =
            (0..count).find(|i| !legs.iter().any(|(_, t)| t.leg.map(|l| l.index) == Some(*i)))
        {
            return reverted(
                missing,
                "its namespace is not executed by this rollup's world".into(),
            );
        }
        let all: Vec<&ExecTx> = legs.iter().map(|(_, t)| *t).collect();
        let mut touched: Vec<NamespaceId> = Vec::new();
        let mut failed = None;
        // O2.
        for tx in &all {
            let program = self
                .programs
                .get_mut(&tx.namespace)
                .expect("legs are only collected for programs of the world");
            if !touched.contains(&tx.namespace) {
                touched.push(tx.namespace);
            }
            if let Err(reason) = program.apply_leg(tx, &all) {
                failed = Some((tx.leg.map_or(0, |l| l.index), reason));
                break;
            }
        }
        // O3.
        for ns in touched {
            let program = self.programs.get_mut(&ns).expect("touched program");
            match failed {
                None => program.commit_bundle(),
                Some(_) => program.abort_bundle(),
            }
        }
        match failed {
            None => Outcome::Executed(bundle),
            Some((leg, reason)) => reverted(leg, reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A counter program: a plain payload `+n` adds n; a leg `+n` adds n, and `!` fails.
    struct Counter {
        ns: NamespaceId,
        value: u64,
        undo: Vec<u64>,
    }

    impl Program for Counter {
        fn namespace(&self) -> NamespaceId {
            self.ns
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
        fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
            self
        }
        fn apply(&mut self, tx: &ExecTx) -> Result<(), String> {
            self.value += parse(&tx.payload)?;
            Ok(())
        }
        fn apply_leg(&mut self, tx: &ExecTx, _: &[&ExecTx]) -> Result<(), String> {
            let n = parse(&tx.payload)?;
            self.undo.push(self.value);
            self.value += n;
            Ok(())
        }
        fn commit_bundle(&mut self) {
            self.undo.clear();
        }
        fn abort_bundle(&mut self) {
            if let Some(first) = self.undo.first() {
                self.value = *first;
            }
            self.undo.clear();
        }
        fn state_root(&self) -> [u8; 32] {
            let mut r = [0; 32];
            r[..8].copy_from_slice(&self.value.to_be_bytes());
            r
        }
    }

    fn parse(p: &[u8]) -> Result<u64, String> {
        std::str::from_utf8(p)
            .ok()
            .and_then(|s| s.strip_prefix('+'))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| "not +n".to_string())
    }

    fn world() -> World {
        World::new(vec![
            Box::new(Counter {
                ns: NamespaceId(7),
                value: 0,
                undo: vec![],
            }),
            Box::new(Counter {
                ns: NamespaceId(8),
                value: 0,
                undo: vec![],
            }),
        ])
    }

    fn tx(ns: u64, n: u8, payload: &str, leg: Option<(u8, u8, u8)>) -> ExecTx {
        ExecTx {
            hash: TxHash(weft_types::sha256(&[&[n], payload.as_bytes()])),
            namespace: NamespaceId(ns),
            sender: [n; 32],
            nonce: 0,
            payload: payload.as_bytes().to_vec(),
            leg: leg.map(|(b, index, count)| LegRef {
                bundle: BundleId(weft_types::sha256(&[&[b]])),
                index,
                count,
            }),
        }
    }

    fn value(w: &World, ns: u64) -> [u8; 32] {
        w.program(NamespaceId(ns)).unwrap().state_root()
    }

    /// O2/O3: a bundle whose legs all apply executes on both programs; one whose second
    /// leg fails reverts on both, its first leg undone, and the outcome names the leg.
    #[test]
    fn a_bundle_executes_on_every_rollup_or_on_none() {
        let mut w = world();
        let block: BTreeMap<_, _> = [
            (
                NamespaceId(7),
                vec![tx(7, 1, "+1", None), tx(7, 2, "+10", Some((1, 0, 2)))],
            ),
            (NamespaceId(8), vec![tx(8, 3, "+100", Some((1, 1, 2)))]),
        ]
        .into();
        let out = w.apply_block(1, &block);
        assert_eq!(out[0].outcome, Outcome::Applied);
        assert!(matches!(out[1].outcome, Outcome::Executed(_)));
        assert_eq!(out[1].outcome, out[2].outcome);
        assert_eq!(value(&w, 7)[..8], 11u64.to_be_bytes());
        assert_eq!(value(&w, 8)[..8], 100u64.to_be_bytes());

        let block: BTreeMap<_, _> = [
            (NamespaceId(7), vec![tx(7, 4, "+5", Some((2, 0, 2)))]),
            (NamespaceId(8), vec![tx(8, 5, "!", Some((2, 1, 2)))]),
        ]
        .into();
        let out = w.apply_block(2, &block);
        assert!(
            out.iter()
                .all(|e| matches!(&e.outcome, Outcome::Reverted { leg: 1, .. })),
            "{out:?}"
        );
        assert_eq!(value(&w, 7)[..8], 11u64.to_be_bytes(), "leg 0 undone");
    }

    /// O1: a leg in a namespace the world does not run reverts the bundle.
    #[test]
    fn a_leg_the_world_cannot_see_reverts_the_bundle() {
        let mut w = world();
        let block: BTreeMap<_, _> =
            [(NamespaceId(7), vec![tx(7, 1, "+5", Some((3, 0, 2)))])].into();
        let out = w.apply_block(1, &block);
        assert!(
            matches!(&out[0].outcome, Outcome::Reverted { leg: 1, .. }),
            "{out:?}"
        );
        assert_eq!(value(&w, 7)[..8], 0u64.to_be_bytes());
    }

    /// Determinism: the same data gives the same outcomes and roots, run after run.
    #[test]
    fn execution_is_a_function_of_the_data() {
        let block: BTreeMap<_, _> = [
            (
                NamespaceId(7),
                vec![
                    tx(7, 1, "+2", Some((1, 0, 2))),
                    tx(7, 9, "+3", Some((2, 0, 2))),
                ],
            ),
            (
                NamespaceId(8),
                vec![
                    tx(8, 3, "x", Some((1, 1, 2))),
                    tx(8, 4, "+4", Some((2, 1, 2))),
                ],
            ),
        ]
        .into();
        let (mut a, mut b) = (world(), world());
        assert_eq!(a.apply_block(1, &block), b.apply_block(1, &block));
        assert_eq!(value(&a, 7), value(&b, 7));
        assert_eq!(
            value(&a, 7)[..8],
            3u64.to_be_bytes(),
            "only bundle 2 executed"
        );
    }
}
