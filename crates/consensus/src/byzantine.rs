//! Byzantine leaders for the simulator (feature `byzantine`, never in a node build).
//!
//! A validator given a [`Misbehaviour`] runs honest consensus, but the blocks it proposes are
//! rewritten after it builds them, then resealed so their commitments still match: each is a
//! well-formed block that a careless verifier would accept. Honest verifiers must reject
//! what breaks a rule (reordered nonces, a future timestamp) and the network must keep its
//! liveness around what breaks none (censorship).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use weft_types::{merkle, Block, Body, Transaction};

/// A Byzantine leader: what it does, and how many of its proposals it actually changed (so
/// a test can show the attack happened).
#[derive(Debug)]
pub struct ByzantineLeader {
    misbehaviour: Misbehaviour,
    rewritten: AtomicUsize,
}

impl ByzantineLeader {
    /// A leader doing `misbehaviour`.
    pub fn new(misbehaviour: Misbehaviour) -> Self {
        Self {
            misbehaviour,
            rewritten: AtomicUsize::new(0),
        }
    }

    /// The block it proposes instead of `honest`.
    pub fn propose(&self, honest: Block) -> Block {
        let block = self.misbehaviour.apply(honest.clone());
        if block != honest {
            self.rewritten.fetch_add(1, Ordering::Relaxed);
        }
        block
    }

    /// How many of its proposals differed from the honest ones.
    pub fn rewritten(&self) -> usize {
        self.rewritten.load(Ordering::Relaxed)
    }
}

/// What a Byzantine leader does to its own proposals.
#[derive(Clone, Debug)]
pub enum Misbehaviour {
    /// Puts each sender's transactions within a namespace in reverse nonce order (against
    /// rule 8: a front-runner's reordering of a victim's dependent transactions).
    Reorder,
    /// Leaves out every transaction of these senders (and so their later nonces).
    Censor(HashSet<[u8; 32]>),
    /// Stamps its proposals this many milliseconds ahead of its clock (against rule 3).
    FutureStamp(u64),
    /// Includes every bundle but its last leg (and that leg's sender's later nonces, so no
    /// nonce gap gives it away): the split a shared sequencer's atomicity must stop
    /// (against rule 9).
    SplitBundle,
    /// Announces this set in every block it builds, boundary or not, whatever the stake table
    /// says (against rule 10: a leader naming the validators of a later epoch, itself alone,
    /// say, to capture it).
    Announce(Vec<weft_types::VerifyingKey>),
}

impl Misbehaviour {
    /// The block a Byzantine leader proposes instead of `honest`.
    pub fn apply(&self, honest: Block) -> Block {
        let (mut header, body) = (honest.header, honest.body);
        let body = match self {
            Self::Reorder => {
                let mut body = body;
                for list in &mut body.namespaces {
                    reverse_each_senders_run(&mut list.txs);
                }
                body
            }
            Self::Censor(senders) => Body {
                namespaces: body
                    .namespaces
                    .into_iter()
                    .map(|mut list| {
                        list.txs.retain(|t| !senders.contains(t.sender()));
                        list
                    })
                    .filter(|list| !list.txs.is_empty())
                    .collect(),
                ..body
            },
            Self::Announce(set) => {
                let mut body = body;
                let mut set = set.clone();
                set.sort();
                set.dedup();
                body.validators = set;
                body
            }
            Self::FutureStamp(ms) => {
                header.timestamp_ms = header.timestamp_ms.saturating_add(*ms);
                body
            }
            Self::SplitBundle => {
                // The last leg of each bundle, and from it on its sender's transactions.
                let mut cut: std::collections::HashMap<[u8; 32], u64> = Default::default();
                for tx in body.txs() {
                    if let Some(leg) = tx.leg() {
                        if leg.index as usize == leg.count() - 1 {
                            let at = cut.entry(*tx.sender()).or_insert(tx.nonce());
                            *at = (*at).min(tx.nonce());
                        }
                    }
                }
                Body {
                    namespaces: body
                        .namespaces
                        .into_iter()
                        .map(|mut list| {
                            list.txs
                                .retain(|t| cut.get(t.sender()).is_none_or(|n| t.nonce() < *n));
                            list
                        })
                        .filter(|list| !list.txs.is_empty())
                        .collect(),
                    // The section as the remaining legs call for it (the same entries).
                    bundles: body.bundles,
                    validators: body.validators,
                    ..Body::default()
                }
            }
        };
        header.namespace_table_root = merkle::root(&body.namespace_table());
        header.inclusion_root = body.inclusion_root();
        header.bundles_root = body.bundles_root();
        header.tx_count = body.tx_count() as u32;
        header.state_root = body.validators_root();
        let block = Block::new(header, body);
        assert!(
            !matches!(
                block.check_commitments(),
                Err(weft_types::BlockError::RootMismatch { .. }
                    | weft_types::BlockError::TxCountMismatch { .. })
            ),
            "a resealed block's roots bind its body"
        );
        block
    }
}

// Reverses, in place, the positions a sender's plain transactions occupy in one namespace
// list. Bundle legs stay where rule B5 puts them (last), so the block still decodes and only
// rule 8 catches the reordering.
fn reverse_each_senders_run(txs: &mut [Transaction]) {
    // Each sender once, however its transactions interleave with others'.
    let mut senders: Vec<[u8; 32]> = txs.iter().map(|t| *t.sender()).collect();
    senders.sort_unstable();
    senders.dedup();
    for sender in senders {
        let at: Vec<usize> = (0..txs.len())
            .filter(|i| *txs[*i].sender() == sender && txs[*i].leg().is_none())
            .collect();
        for k in 0..at.len() / 2 {
            txs.swap(at[k], at[at.len() - 1 - k]);
        }
    }
}
