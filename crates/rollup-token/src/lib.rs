//! Weft's reference rollup: token transfers over a sparse Merkle tree of accounts.
//!
//! The rollup reads its namespace from finalized Weft blocks and executes each payload as a
//! [`Transfer`] `(from, to, amount, nonce, signature)`, deterministically, over a depth-32
//! sparse Merkle tree of accounts `(owner, balance, nonce)` hashed with Rescue Prime
//! Optimized (`Rp64_256` over the 64-bit Goldilocks field), the algebraic hash the batch
//! STARK proves. A transfer that is malformed, badly signed, from an unknown account, with a
//! wrong nonce, overdrawn, or that would overflow the recipient is skipped with its reason
//! and changes nothing. Every applied transfer yields the witnesses of its two leaf updates
//! (old leaf, new leaf, Merkle path) for the prover.
//!
//! Balances are stored as two 32-bit limbs so the proof can range-check them without field
//! wrap-around; signatures are checked here (and by the sequencer at admission), not in the
//! proof.

pub mod commitment;
mod program;
mod smt;
mod state;
mod transfer;

pub use program::TokenProgram;
pub use smt::{merge, word_from_u64, word_to_u64, SparseMerkleTree, Word, DEPTH, EMPTY_LEAF};
pub use state::{Account, Address, Record, Skip, Step, TokenState};
pub use transfer::{
    Transfer, TransferDomain, TransferError, TRANSFER_BYTES, TRANSFER_SIGNING_NAMESPACE,
};

/// The field element type of the state tree.
pub type Felt = winter_math::fields::f64::BaseElement;
