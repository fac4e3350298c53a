//! Weft's mempool: admission checks and the first-come-first-served queue.
//!
//! A transaction reaches the mempool from a client (through RPC) or from another validator
//! (gossip). Admission rules, each with its own rejection reason ([`AdmitError`]):
//! 1. size within `payload_bytes_max` and valid authentication: an ed25519 signature, or for
//!    an Ethereum transaction its recovered signer (checked by the caller, in batches, before
//!    taking the mempool lock);
//! 2. not already pending, not already finalized;
//! 3. nonce not yet used by the sender (at least its next nonce in the finalized chain), at
//!    most `sender_txs_max` ahead of it, and not held by another pending transaction of the
//!    sender. A sender's nonces are consecutive from 0, as in Ethereum: a transaction whose
//!    predecessor has not arrived waits, so no leader can order a sender's later transaction
//!    before an earlier one and void it (replay protection without reordering risk);
//! 4. room left: `txs_max`, `bytes_max` and `sender_txs_max`.
//!
//! Block building takes transactions in arrival order (FCFS), each sender's in nonce order
//! from its next nonce, skipping any that would leave a gap. When a block is finalized its
//! transactions leave the mempool, and pending transactions its nonces made stale are evicted
//! with a recorded reason, so `status` can say why a transaction will never land.
//!
//! The mempool is plain synchronous state; callers share it behind a mutex. It takes time and
//! chain state as arguments, so it runs unchanged under the deterministic simulator.

mod config;
mod error;
mod pool;

pub use config::{
    Config, DEFAULT_BYTES_MAX, DEFAULT_REJECTED_MAX, DEFAULT_SENDER_TXS_MAX, DEFAULT_TXS_MAX,
};
pub use error::AdmitError;
pub use pool::{ChainView, Mempool, SelectLimits, Status, NAMESPACE_LIST_BYTES};
