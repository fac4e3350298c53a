//! Accounts and deterministic execution.
//!
//! An account lives at the leaf of its [`Address`]: `index` (32 bits) and `tag` (a non-zero
//! field element), both taken from the Rp64_256 hash of the owner's ed25519 key. The leaf is
//! the word `[tag, balance_lo32, balance_hi32, nonce]`; an empty leaf is `[0, 0, 0, 0]`, which
//! no account equals because tags are non-zero.
//!
//! # Transfer rules (applied in namespace order; a failing transfer is skipped, changes
//! nothing, and its reason is reported)
//! Stateless (a function of the payload alone; the settlement contract applies them to the
//! Weft data itself, and only transfers that pass become the batch's proven [`Record`]s):
//! 1. the payload decodes as a [`Transfer`];
//! 2. its signature is the sender's;
//! 3. sender and recipient addresses differ.
//!
//! Stateful (proven by the batch STARK for every record):
//! 4. the sender's leaf holds the sender's account (same tag);
//! 5. the transfer's nonce equals the account's nonce;
//! 6. the recipient's leaf is empty or holds the recipient's account;
//! 7. the sender's balance covers the amount;
//! 8. the recipient's balance plus the amount fits in 64 bits;
//! 9. then: sender balance -= amount, sender nonce += 1 (first leaf update), recipient
//!    balance += amount, creating its account if new (second leaf update).

use crate::{smt::SparseMerkleTree, Felt, Transfer, TransferDomain, Word, DEPTH};
use std::collections::BTreeMap;
use thiserror::Error;
use winter_crypto::{hashers::Rp64_256, Hasher as _};

/// Where an account lives and whose it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    /// Leaf index: the low 32 bits of the key hash's first element.
    pub index: u32,
    /// Owner tag: the key hash's second element (mapped to 1 if zero, so it is never zero).
    pub tag: u64,
}

impl Address {
    /// The address of an ed25519 public key.
    pub fn of(public_key: &[u8; 32]) -> Self {
        let h: Word = Rp64_256::hash(public_key).into();
        let tag = h[1].as_int();
        Self {
            index: h[0].as_int() as u32,
            tag: if tag == 0 { 1 } else { tag },
        }
    }
}

/// An account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    /// Owner tag (see [`Address`]).
    pub tag: u64,
    /// Balance.
    pub balance: u64,
    /// Next nonce.
    pub nonce: u32,
}

impl Account {
    /// The leaf: `[tag, balance_lo32, balance_hi32, nonce]`.
    pub fn leaf(&self) -> Word {
        [
            Felt::new(self.tag),
            Felt::new(self.balance & 0xffff_ffff),
            Felt::new(self.balance >> 32),
            Felt::new(self.nonce as u64),
        ]
    }
}

/// Why a transfer was skipped.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Not a transfer (rule 1).
    #[error(transparent)]
    Malformed(#[from] crate::TransferError),
    /// Bad signature (rule 2).
    #[error("invalid signature")]
    BadSignature,
    /// Sender and recipient are the same account (rule 3).
    #[error("sender and recipient are the same account")]
    SelfTransfer,
    /// The sender has no account (rule 4).
    #[error("sender has no account")]
    UnknownSender,
    /// Nonce mismatch (rule 5).
    #[error("nonce {got}, expected {expected}")]
    WrongNonce {
        /// Expected.
        expected: u32,
        /// Given.
        got: u32,
    },
    /// The recipient's leaf belongs to another key (rule 6: a 32-bit index collision).
    #[error("recipient's account slot {index} is held by another key")]
    SlotTaken {
        /// Leaf index.
        index: u32,
    },
    /// Not enough balance (rule 7).
    #[error("balance {balance} does not cover {amount}")]
    InsufficientBalance {
        /// Sender balance.
        balance: u64,
        /// Amount.
        amount: u64,
    },
    /// The recipient's balance would exceed 2^64 - 1 (rule 8).
    #[error("recipient balance {balance} + {amount} overflows 64 bits")]
    Overflow {
        /// Recipient balance.
        balance: u64,
        /// Amount.
        amount: u64,
    },
}

/// A transfer that passed the stateless rules 1–3: what the batch proof executes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// Sender.
    pub from: Address,
    /// Recipient.
    pub to: Address,
    /// Amount.
    pub amount: u64,
    /// Nonce.
    pub nonce: u32,
}

impl Record {
    /// Applies rules 1–3 to a payload of the rollup `domain` names.
    pub fn from_payload(payload: &[u8], domain: &TransferDomain) -> Result<Self, Skip> {
        Self::from_transfer(&Transfer::decode(payload)?, domain)
    }

    /// Rules 1–3 for a bundle leg's payload: its transfer is signed in the leg domain.
    pub fn from_leg_payload(payload: &[u8], domain: &TransferDomain) -> Result<Self, Skip> {
        let transfer = Transfer::decode(payload)?;
        if !transfer.leg_signature_valid(domain) {
            return Err(Skip::BadSignature);
        }
        Self::checked(&transfer)
    }

    /// Applies rules 2–3 to a transfer of the rollup `domain` names.
    pub fn from_transfer(transfer: &Transfer, domain: &TransferDomain) -> Result<Self, Skip> {
        if !transfer.signature_valid(domain) {
            return Err(Skip::BadSignature);
        }
        Self::checked(transfer)
    }

    fn checked(transfer: &Transfer) -> Result<Self, Skip> {
        let (from, to) = (Address::of(&transfer.from), Address::of(&transfer.to));
        if from == to {
            return Err(Skip::SelfTransfer);
        }
        Ok(Self {
            from,
            to,
            amount: transfer.amount,
            nonce: transfer.nonce,
        })
    }
}

/// One record's witness for the prover: both leaves as they are read, with their paths.
/// The recipient's leaf and path are read after the sender's update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Sender's leaf before the transfer.
    pub sender_leaf: Word,
    /// Sender's Merkle path (siblings from the leaf up).
    pub sender_path: [Word; DEPTH],
    /// Recipient's leaf after the sender's update.
    pub recipient_leaf: Word,
    /// Recipient's Merkle path after the sender's update.
    pub recipient_path: [Word; DEPTH],
}

/// The rollup state.
#[derive(Clone, Debug, Default)]
pub struct TokenState {
    tree: SparseMerkleTree,
    accounts: BTreeMap<u32, Account>,
}

impl TokenState {
    /// A state with the genesis allocation `(public key, balance)`. Panics on an address
    /// collision (a genesis file error).
    pub fn genesis(allocations: &[([u8; 32], u64)]) -> Self {
        let mut state = Self::default();
        for (key, balance) in allocations {
            let address = Address::of(key);
            assert!(
                !state.accounts.contains_key(&address.index),
                "genesis allocation collides at slot {}",
                address.index
            );
            state.put(
                address.index,
                Account {
                    tag: address.tag,
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

    /// A public key's account.
    pub fn account(&self, public_key: &[u8; 32]) -> Option<Account> {
        self.account_at(Address::of(public_key))
    }

    fn account_at(&self, address: Address) -> Option<Account> {
        self.accounts
            .get(&address.index)
            .filter(|a| a.tag == address.tag)
            .copied()
    }

    /// Executes one payload (all rules).
    pub fn apply_payload(&mut self, payload: &[u8], domain: &TransferDomain) -> Result<(), Skip> {
        self.apply_record(&Record::from_payload(payload, domain)?)
    }

    /// Executes one transfer (all rules).
    pub fn apply(&mut self, transfer: &Transfer, domain: &TransferDomain) -> Result<(), Skip> {
        self.apply_record(&Record::from_transfer(transfer, domain)?)
    }

    /// Executes one record (rules 4–9).
    pub fn apply_record(&mut self, record: &Record) -> Result<(), Skip> {
        let (sender, recipient) = self.check(record)?;
        self.put(record.from.index, sender);
        self.put(record.to.index, recipient);
        Ok(())
    }

    /// Rules 4–8: the two accounts after the record, or why it is skipped.
    fn check(&self, record: &Record) -> Result<(Account, Account), Skip> {
        let sender = self.account_at(record.from).ok_or(Skip::UnknownSender)?;
        if record.nonce != sender.nonce {
            return Err(Skip::WrongNonce {
                expected: sender.nonce,
                got: record.nonce,
            });
        }
        let recipient = match self.accounts.get(&record.to.index) {
            Some(a) if a.tag != record.to.tag => {
                return Err(Skip::SlotTaken {
                    index: record.to.index,
                })
            }
            other => other.copied(),
        };
        let sender_balance =
            sender
                .balance
                .checked_sub(record.amount)
                .ok_or(Skip::InsufficientBalance {
                    balance: sender.balance,
                    amount: record.amount,
                })?;
        let recipient_balance = recipient.map_or(0, |r| r.balance);
        let recipient_balance =
            recipient_balance
                .checked_add(record.amount)
                .ok_or(Skip::Overflow {
                    balance: recipient_balance,
                    amount: record.amount,
                })?;
        Ok((
            Account {
                balance: sender_balance,
                nonce: sender.nonce + 1,
                ..sender
            },
            Account {
                tag: record.to.tag,
                balance: recipient_balance,
                nonce: recipient.map_or(0, |r| r.nonce),
            },
        ))
    }

    /// What the leaf at `index` holds (for undoing a tentative bundle leg).
    pub fn slot(&self, index: u32) -> Option<Account> {
        self.accounts.get(&index).copied()
    }

    /// Puts back what [`TokenState::slot`] returned: the account, or an empty leaf.
    pub fn restore(&mut self, index: u32, account: Option<Account>) {
        match account {
            Some(a) => self.put(index, a),
            None => {
                self.tree.set(index, crate::EMPTY_LEAF);
                self.accounts.remove(&index);
            }
        }
    }

    /// The witness of a padding record: it reads leaf 0 for both sides and changes nothing.
    pub fn padding_step(&self) -> Step {
        let (leaf, path) = (self.tree.leaf(0), self.tree.path(0));
        Step {
            sender_leaf: leaf,
            sender_path: path,
            recipient_leaf: leaf,
            recipient_path: path,
        }
    }

    /// Executes one record and returns the prover's witness for it, applied or skipped.
    pub fn step(&mut self, record: &Record) -> (Step, Result<(), Skip>) {
        let sender_leaf = self.tree.leaf(record.from.index);
        let sender_path = self.tree.path(record.from.index);
        let outcome = self.check(record);
        if let Ok((sender, _)) = &outcome {
            self.put(record.from.index, *sender);
        }
        // The recipient is read after the sender's update, as the proof's sequential leaf
        // updates see it (the two leaves differ by rule 3).
        let recipient_leaf = self.tree.leaf(record.to.index);
        let recipient_path = self.tree.path(record.to.index);
        let outcome = outcome.map(|(_, recipient)| self.put(record.to.index, recipient));
        (
            Step {
                sender_leaf,
                sender_path,
                recipient_leaf,
                recipient_path,
            },
            outcome,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain() -> TransferDomain {
        TransferDomain {
            chain: weft_types::ChainId(weft_types::sha256(&[b"token unit tests"])),
            rollup: weft_types::NamespaceId(7),
        }
    }

    trait ApplyT {
        fn apply_t(&mut self, t: &Transfer) -> Result<(), Skip>;
    }
    impl ApplyT for TokenState {
        fn apply_t(&mut self, t: &Transfer) -> Result<(), Skip> {
            self.apply(t, &domain())
        }
    }
    use commonware_cryptography::Signer as _;
    use weft_types::SigningKey;
    use winter_math::FieldElement as _;

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
        for (i, (from, to, amount)) in [
            (&alice, &bob, 100u64),
            (&bob, &carol, 120),
            (&alice, &carol, 1),
        ]
        .into_iter()
        .enumerate()
        {
            let nonce = state.account(&pk(from)).unwrap().nonce;
            let record = Record::from_transfer(
                &Transfer::sign(from, &domain(), pk(to), amount, nonce),
                &domain(),
            )
            .unwrap();
            let root = state.root();
            let (step, outcome) = state.step(&record);
            outcome.unwrap_or_else(|e| panic!("transfer {i}: {e}"));
            assert_eq!(
                SparseMerkleTree::root_from_path(
                    &step.sender_leaf,
                    record.from.index,
                    &step.sender_path
                ),
                root,
                "the sender's witness starts at the previous root"
            );
            let mut sender_after = step.sender_leaf;
            sender_after[1] -= Felt::new(amount);
            sender_after[3] += Felt::ONE;
            let mid = SparseMerkleTree::root_from_path(
                &sender_after,
                record.from.index,
                &step.sender_path,
            );
            assert_eq!(
                SparseMerkleTree::root_from_path(
                    &step.recipient_leaf,
                    record.to.index,
                    &step.recipient_path
                ),
                mid,
                "the recipient's witness is read after the sender's update"
            );
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
        let mut forged = Transfer::sign(&alice, &domain(), pk(&bob), 1, 0);
        forged.amount = 2;
        let cases = [
            (state.apply_payload(&[1, 2, 3], &domain()), "malformed"),
            (state.apply_t(&forged), "bad signature"),
            (
                state.apply_t(&Transfer::sign(&stranger, &domain(), pk(&bob), 1, 0)),
                "unknown sender",
            ),
            (
                state.apply_t(&Transfer::sign(&alice, &domain(), pk(&bob), 1, 1)),
                "wrong nonce",
            ),
            (
                state.apply_t(&Transfer::sign(&alice, &domain(), pk(&alice), 1, 0)),
                "self transfer",
            ),
            (
                state.apply_t(&Transfer::sign(&alice, &domain(), pk(&bob), 101, 0)),
                "overdraft",
            ),
            (
                state.apply_t(&Transfer::sign(&alice, &domain(), pk(&bob), 6, 0)),
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
        state
            .apply_t(&Transfer::sign(&alice, &domain(), pk(&bob), 5, 0))
            .unwrap();
        assert_eq!(state.account(&pk(&bob)).unwrap().balance, u64::MAX);
    }

    #[test]
    fn execution_is_deterministic_and_the_encoding_roundtrips() {
        let (alice, bob) = (key(1), key(2));
        let payloads: Vec<Vec<u8>> = (0..20)
            .map(|n| Transfer::sign(&alice, &domain(), pk(&bob), n + 1, n as u32).encode())
            .collect();
        let run = || {
            let mut s = TokenState::genesis(&[(pk(&alice), 1_000)]);
            let outcomes: Vec<bool> = payloads
                .iter()
                .map(|p| s.apply_payload(p, &domain()).is_ok())
                .collect();
            (s.root(), outcomes)
        };
        let (root, outcomes) = run();
        assert_eq!(run(), (root, outcomes.clone()));
        assert!(outcomes.iter().all(|ok| *ok));
        let t = Transfer::sign(&alice, &domain(), pk(&bob), 7, 3);
        assert_eq!(Transfer::decode(&t.encode()).unwrap(), t);
        assert_eq!(t.encode().len(), crate::TRANSFER_BYTES);
    }

    /// Defect: transfers were signed under a fixed domain, so one signed for this rollup was
    /// valid on any other token rollup and on any Weft network. Now both are named.
    #[test]
    fn a_transfer_for_one_rollup_or_chain_is_skipped_elsewhere() {
        let (alice, bob) = (key(1), key(2));
        let t = Transfer::sign(&alice, &domain(), pk(&bob), 5, 0);
        assert!(t.signature_valid(&domain()));
        let other_rollup = TransferDomain {
            rollup: weft_types::NamespaceId(8),
            ..domain()
        };
        let other_chain = TransferDomain {
            chain: weft_types::ChainId(weft_types::sha256(&[b"another network"])),
            ..domain()
        };
        for elsewhere in [other_rollup, other_chain] {
            assert_eq!(
                Record::from_transfer(&t, &elsewhere),
                Err(Skip::BadSignature)
            );
        }
    }
}
