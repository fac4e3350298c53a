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
//! 4. room left: `txs_max`, `bytes_max` and `sender_txs_max`; namespace 0 (system) is
//!    never admitted.
//!
//! Ready and queued (geth's pending/queued split): a transaction is *ready* when every lower
//! nonce of its sender is finalized or pending, else *queued* (held back by a gap). Queued
//! transactions can never be included until the gap fills, so they must not be able to fill
//! the pool for good:
//! - Q1. they have their own small bounds: `queued_sender_txs_max` per sender, and
//!   `queued_txs_max` and `queued_bytes_max` in total (at most half the pool);
//! - Q2. when the pool is full, a ready transaction evicts queued ones, newest first;
//! - Q3. a queued transaction expires after `queued_lifetime_ms` on the mempool's clock
//!   ([`Mempool::tick`]).
//!
//! Evicted and expired transactions get a recorded reason and are dropped from the pending
//! log ([`Mempool::take_dropped`]). A queued transaction whose gap fills becomes ready.
//!
//! Promised transactions (pre-confirmed by this validator's receipt, see
//! `weft_types::receipt`):
//! - P1. block building takes them before all others, earliest deadline first;
//! - P2. a promise covers the sender's pending predecessors too, and all promises together
//!   stay within `preconf_txs_max` and `preconf_bytes_max` (the liability bound, at most
//!   half a block: [`Config::validate_with`]; a bundle leg also books its share of the
//!   bundle's entry in the block's bundle section) and span at most
//!   `limits.namespaces_per_block_max` namespaces, so one block always holds every promise
//!   (a bundle or chain that alone spans more is accepted unpromised). Like any liability
//!   bound, a flood of promised submissions fills it (here, one transaction per namespace
//!   fills the namespace bound); staking ties these bounds to the issuer's bond;
//! - P3. a promise ends when its transaction is finalized or evicted, or its deadline
//!   passes;
//! - P4. a bundle is promised whole ([`Mempool::promise_bundle`]: every leg and every leg's
//!   sender's pending predecessors, only if it outlives the deadline and rests on no other
//!   bundle's leg); a plain transaction with a pending leg of its sender below it is never
//!   promised (a leg ends its sender's transactions in a block, rule S1).
//!
//! Otherwise block building takes transactions in arrival order (FCFS), each sender's in nonce order
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
    Config, DEFAULT_BUNDLE_VALID_HEIGHTS_MAX, DEFAULT_BYTES_MAX, DEFAULT_PRECONF_BYTES_MAX,
    DEFAULT_PRECONF_TXS_MAX, DEFAULT_QUEUED_BYTES_MAX, DEFAULT_QUEUED_LIFETIME_MS,
    DEFAULT_QUEUED_SENDER_TXS_MAX, DEFAULT_QUEUED_TXS_MAX, DEFAULT_REJECTED_MAX,
    DEFAULT_SENDER_TXS_MAX, DEFAULT_TXS_MAX,
};
pub use error::AdmitError;
pub use pool::{
    check_bundle_shape, ChainView, Finalizing, Mempool, SelectLimits, Status, NAMESPACE_LIST_BYTES,
};
