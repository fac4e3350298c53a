//! Weft's JSON-RPC 2.0 API (HTTP), served by every validator.
//!
//! Methods (details and examples in `docs/api.md`):
//! - `weft_sendTransaction(tx_hex)` / `weft_sendTransactions([tx_hex])`: submit; returns the
//!   hash once the transaction is durably recorded, or a specific error;
//! - `weft_getTransactionStatus(hash)`: `pending`, `finalized` (height, index, block hash),
//!   `rejected` (reason) or `unknown`;
//! - `weft_getNonce(sender)`: the sender's next nonce;
//! - `weft_getBlockByHeight(height, full)`, `weft_chainHead()`;
//! - `weft_getNamespaceTransactions(namespace, from, to)`: bounded range read.
//!
//! Every error has a stable code (see [`codes`]) and a message naming the field or limit.

pub mod client;
pub mod codes;
mod config;
mod server;
pub mod types;

pub use config::{
    Config, DEFAULT_CONNECTIONS_MAX, DEFAULT_NAMESPACE_RANGE_HEIGHTS_MAX,
    DEFAULT_NAMESPACE_RANGE_TXS_MAX, DEFAULT_REQUEST_BODY_BYTES_MAX,
    DEFAULT_RESPONSE_BODY_BYTES_MAX, DEFAULT_SUBMIT_BATCH_TXS_MAX,
};
pub use server::{start, NodeApi};
