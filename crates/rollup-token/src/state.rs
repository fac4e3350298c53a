//! Accounts and deterministic execution.
//!
//! # Transfer rules (applied in namespace order; a failing transfer is skipped, changes
//! nothing, and its reason is reported)
//! 1. the payload decodes as a [`Transfer`] and its signature is the sender's;
//! 2. the sender has an account, and the transfer's nonce equals the account's nonce;
//! 3. sender and recipient differ, and the recipient's leaf is free or already its own;
//! 4. the sender's balance covers the amount, and the recipient's balance does not overflow
//!    64 bits;
//! 5. then: sender balance -= amount, sender nonce += 1 (first leaf update), recipient
//!    balance += amount, creating its account if new (second leaf update).

use crate::{leaf_index, smt::SparseMerkleTree, Felt, Transfer, Word, DEPTH, EMPTY_LEAF};
use std::collections::BTreeMap;
use thiserror::Error;
use winter_crypto::{hashers::Rp64_256, ElementHasher as _, Hasher as _};
use winter_math::FieldElement as _;

/// An account leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    /// Rp64_256 hash of the owner's ed25519 public key.
    pub owner: Word,
    /// Balance.
    pub balance: u64,
    /// Next nonce.
    pub nonce: u32,
}

impl Account {
    /// The leaf: `Rp64_256(owner[0..4], balance_lo32, balance_hi32, nonce, 0)` (one rate).
    pub fn leaf(&self) -> Word {
        let elements = [
            self.owner[0],
            self.owner[1],
            self.owner[2],
            self.owner[3],
            Felt::new(self.balance & 0xffff_ffff),
            Felt::new(self.balance >> 32),
            Felt::new(self.nonce as u64),
            Felt::ZERO,
        ];
        Rp64_256::hash_elements(&elements).into()
    }
}

/// The owner hash of a public key.
pub fn owner_of(public_key: &[u8; 32]) -> Word {
    Rp64_256::hash(public_key).into()
}

/// Why a transfer was skipped.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Not a transfer.
    #[error(transparent)]
    Malformed(#[from] crate::TransferError),
    /// Bad signature.
    #[error("invalid signature")]
    BadSignature,
    /// The sender has no account.
    #[error("sender has no account")]
    UnknownSender,
    /// Nonce mismatch.
    #[error("nonce {got}, expected {expected}")]
    WrongNonce {
        /// Expected.
        expected: u32,
        /// Given.
        got: u32,
    },
    /// Sender and recipient are the same.
    #[error("sender and recipient are the same account")]
    SelfTransfer,
    /// The recipient's leaf belongs to another key (a 32-bit index collision).
    #[error("recipient's account slot {index} is held by another key")]
    SlotTaken {
        /// Leaf index.
        index: u32,
    },
    /// Not enough balance.
    #[error("balance {balance} does not cover {amount}")]
    InsufficientBalance {
        /// Sender balance.
        balance: u64,
        /// Amount.
        amount: u64,
    },
    /// The recipient's balance would exceed 2^64 - 1.
    #[error("recipient balance {balance} + {amount} overflows 64 bits")]
    Overflow {
        /// Recipient balance.
        balance: u64,
        /// Amount.
        amount: u64,
    },
}

/// One leaf update, with everything the prover needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafUpdate {
    /// Leaf index.
    pub index: u32,
    /// Account before (`None`: empty leaf).
    pub before: Option<Account>,
    /// Account after.
    pub after: Account,
    /// Siblings from the leaf up, before the update (unchanged by it).
    pub path: [Word; DEPTH],
}

/// An applied transfer: the sender's update, then the recipient's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The transfer.
    pub transfer: Transfer,
    /// Sender leaf update.
    pub sender: LeafUpdate,
    /// Recipient leaf update.
    pub recipient: LeafUpdate,
}

/// The rollup state.
#[derive(Clone, Debug, Default)]
pub struct TokenState {
    tree: SparseMerkleTree,
    accounts: BTreeMap<u32, Account>,
}

impl TokenState {
    /// A state with the genesis allocation `(public key, balance)`. Panics on a slot
    /// collision (a genesis file error).
    pub fn genesis(allocations: &[([u8; 32], u64)]) -> Self {
        let mut state = Self::default();
        for (key, balance) in allocations {
            let owner = owner_of(key);
            let index = leaf_index(&owner);
            assert!(
                !state.accounts.contains_key(&index),
                "genesis allocation collides at slot {index}"
            );
            state.put(
                index,
                Account {
                    owner,
                    balance: *balance,
                    nonce: 0,
                },
            );
        }
        state
    }

    fn put(&mut self, index: u32, account: Account) {
        self.tree.set(index, account.leaf());
        self.accounts.insert(index, account);
    }

    /// The state root.
    pub fn root(&self) -> Word {
        self.tree.root()
    }

    /// `(balance, next nonce)` of a public key's account.
    pub fn account(&self, public_key: &[u8; 32]) -> Option<Account> {
        let owner = owner_of(public_key);
        self.accounts
            .get(&leaf_index(&owner))
            .filter(|a| a.owner == owner)
            .copied()
    }

    /// Executes one payload (rules in the module docs).
    pub fn apply_payload(&mut self, payload: &[u8]) -> Result<Applied, Skip> {
        self.apply(Transfer::decode(payload)?)
    }

    /// Executes one transfer (rules in the module docs).
    pub fn apply(&mut self, transfer: Transfer) -> Result<Applied, Skip> {
        if !transfer.signature_valid() {
            return Err(Skip::BadSignature);
        }
        let from = owner_of(&transfer.from);
        let to = owner_of(&transfer.to);
        let (fi, ti) = (leaf_index(&from), leaf_index(&to));
        let sender = self
            .accounts
            .get(&fi)
            .filter(|a| a.owner == from)
            .copied()
            .ok_or(Skip::UnknownSender)?;
        if transfer.nonce != sender.nonce {
            return Err(Skip::WrongNonce {
                expected: sender.nonce,
                got: transfer.nonce,
            });
        }
        if from == to {
            return Err(Skip::SelfTransfer);
        }
        let recipient = match self.accounts.get(&ti) {
            Some(a) if a.owner != to => return Err(Skip::SlotTaken { index: ti }),
            other => other.copied(),
        };
        let balance = sender.balance;
        let new_sender_balance =
            balance
                .checked_sub(transfer.amount)
                .ok_or(Skip::InsufficientBalance {
                    balance,
                    amount: transfer.amount,
                })?;
        let recipient_balance = recipient.map_or(0, |r| r.balance);
        let new_recipient_balance =
            recipient_balance
                .checked_add(transfer.amount)
                .ok_or(Skip::Overflow {
                    balance: recipient_balance,
                    amount: transfer.amount,
                })?;

        let sender_after = Account {
            balance: new_sender_balance,
            nonce: sender.nonce + 1,
            ..sender
        };
        let sender_update = LeafUpdate {
            index: fi,
            before: Some(sender),
            after: sender_after,
            path: self.tree.path(fi),
        };
        self.put(fi, sender_after);
        let recipient_after = Account {
            owner: to,
            balance: new_recipient_balance,
            nonce: recipient.map_or(0, |r| r.nonce),
        };
        let recipient_update = LeafUpdate {
            index: ti,
            before: recipient,
            after: recipient_after,
            path: self.tree.path(ti),
        };
        self.put(ti, recipient_after);
        Ok(Applied {
            transfer,
            sender: sender_update,
            recipient: recipient_update,
        })
    }
}

impl LeafUpdate {
    /// The leaf before the update.
    pub fn leaf_before(&self) -> Word {
        self.before.map_or(EMPTY_LEAF, |a| a.leaf())
    }
    /// The root before the update.
    pub fn root_before(&self) -> Word {
        SparseMerkleTree::root_from_path(&self.leaf_before(), self.index, &self.path)
    }
    /// The root after the update.
    pub fn root_after(&self) -> Word {
        SparseMerkleTree::root_from_path(&self.after.leaf(), self.index, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer as _;
    use weft_types::SigningKey;

    fn key(seed: u64) -> SigningKey {
        SigningKey::from_seed(seed)
    }
    fn pk(k: &SigningKey) -> [u8; 32] {
        k.public_key().as_ref().try_into().unwrap()
    }

    #[test]
    fn transfers_move_balances_and_witnesses_chain_the_roots() {
        let (alice, bob, carol) = (key(1), key(2), key(3));
        let mut state = TokenState::genesis(&[(pk(&alice), 1_000), (pk(&bob), 50)]);
        let mut root = state.root();
        for (i, (from, to, amount)) in [
            (&alice, &bob, 100u64),
            (&bob, &carol, 120),
            (&alice, &carol, 1),
        ]
        .into_iter()
        .enumerate()
        {
            let nonce = state.account(&pk(from)).unwrap().nonce;
            let applied = state
                .apply(Transfer::sign(from, pk(to), amount, nonce))
                .unwrap_or_else(|e| panic!("transfer {i}: {e}"));
            assert_eq!(
                applied.sender.root_before(),
                root,
                "the witness starts at the previous root"
            );
            assert_eq!(applied.sender.root_after(), applied.recipient.root_before());
            root = applied.recipient.root_after();
            assert_eq!(root, state.root());
        }
        assert_eq!(
            state.account(&pk(&alice)).map(|a| (a.balance, a.nonce)),
            Some((899, 2))
        );
        assert_eq!(
            state.account(&pk(&bob)).map(|a| (a.balance, a.nonce)),
            Some((30, 1))
        );
        assert_eq!(
            state.account(&pk(&carol)).map(|a| (a.balance, a.nonce)),
            Some((121, 0))
        );
        // The root is a function of the accounts alone.
        let rebuilt = TokenState::genesis(&[(pk(&alice), 899), (pk(&bob), 30), (pk(&carol), 121)]);
        assert_ne!(
            rebuilt.root(),
            state.root(),
            "nonces are part of the leaves"
        );
    }

    #[test]
    fn invalid_transfers_are_skipped_with_their_reason_and_change_nothing() {
        let (alice, bob, stranger) = (key(1), key(2), key(9));
        let mut state = TokenState::genesis(&[(pk(&alice), 100), (pk(&bob), u64::MAX - 5)]);
        let root = state.root();
        let mut forged = Transfer::sign(&alice, pk(&bob), 1, 0);
        forged.amount = 2;
        let cases = [
            (state.apply_payload(&[1, 2, 3]), "malformed"),
            (state.apply(forged), "bad signature"),
            (
                state.apply(Transfer::sign(&stranger, pk(&bob), 1, 0)),
                "unknown sender",
            ),
            (
                state.apply(Transfer::sign(&alice, pk(&bob), 1, 1)),
                "wrong nonce",
            ),
            (
                state.apply(Transfer::sign(&alice, pk(&alice), 1, 0)),
                "self transfer",
            ),
            (
                state.apply(Transfer::sign(&alice, pk(&bob), 101, 0)),
                "overdraft",
            ),
            (
                state.apply(Transfer::sign(&alice, pk(&bob), 6, 0)),
                "overflow",
            ),
        ];
        let expected = [
            matches!(cases[0].0, Err(Skip::Malformed(_))),
            matches!(cases[1].0, Err(Skip::BadSignature)),
            matches!(cases[2].0, Err(Skip::UnknownSender)),
            matches!(
                cases[3].0,
                Err(Skip::WrongNonce {
                    expected: 0,
                    got: 1
                })
            ),
            matches!(cases[4].0, Err(Skip::SelfTransfer)),
            matches!(
                cases[5].0,
                Err(Skip::InsufficientBalance {
                    balance: 100,
                    amount: 101
                })
            ),
            matches!(cases[6].0, Err(Skip::Overflow { .. })),
        ];
        for ((result, what), ok) in cases.iter().zip(expected) {
            assert!(ok, "{what}: {result:?}");
        }
        assert_eq!(state.root(), root, "skipped transfers change nothing");
        // A valid transfer after the failures still works.
        state.apply(Transfer::sign(&alice, pk(&bob), 5, 0)).unwrap();
        assert_eq!(state.account(&pk(&bob)).unwrap().balance, u64::MAX);
    }

    #[test]
    fn execution_is_deterministic_and_the_encoding_roundtrips() {
        let (alice, bob) = (key(1), key(2));
        let payloads: Vec<Vec<u8>> = (0..20)
            .map(|n| Transfer::sign(&alice, pk(&bob), n + 1, n as u32).encode())
            .collect();
        let run = || {
            let mut s = TokenState::genesis(&[(pk(&alice), 1_000)]);
            let outcomes: Vec<bool> = payloads
                .iter()
                .map(|p| s.apply_payload(p).is_ok())
                .collect();
            (s.root(), outcomes)
        };
        let (root, outcomes) = run();
        assert_eq!(run(), (root, outcomes.clone()));
        assert!(outcomes.iter().all(|ok| *ok));
        let t = Transfer::sign(&alice, pk(&bob), 7, 3);
        assert_eq!(Transfer::decode(&t.encode()).unwrap(), t);
        assert_eq!(t.encode().len(), crate::TRANSFER_BYTES);
    }
}
