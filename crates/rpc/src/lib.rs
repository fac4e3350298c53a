//! Weft's JSON-RPC 2.0 API (HTTP), served by every validator.
//!
//! Methods (details and examples in `docs/api.md`):
//! - `weft_sendTransaction(tx_hex)` / `weft_sendTransactions([tx_hex])`: submit; returns the
//!   hash once the transaction is durably recorded, or a specific error;
//! - `weft_getTransactionStatus(hash)`: `pending`, `finalized` (height, index, block hash),
//!   `rejected` (reason) or `unknown`;
//! - `weft_getNonce(sender)`: the sender's next nonce;
//! - `weft_getBlockByHeight(height, full)`, `weft_chainHead()`;
//! - `weft_getNamespaceTransactions(namespace, from, to)`: bounded range read;
//! - `weft_getBlockByHash`, `weft_validators`, `weft_getFinality(height)` (certificate plus
//!   the header chain to the certified descendant), `weft_getNamespaceProof(namespace, height)`;
//! - WebSocket `weft_subscribeNamespace(namespace, from_height)`: the namespace's finalized
//!   transactions from any past height, backfilled from storage then live, in order.
//!
//! - Ethereum ingress: `eth_sendRawTransaction`, `eth_chainId`, `net_version`,
//!   `eth_getTransactionCount` (see [`eth`](crate::eth) in the source).
//!
//! HTTP and WebSocket share one port. The server runs on its own runtime ([`runtime`],
//! `rpc.worker_threads`), never on the consensus runtime; heavy reads are bounded by
//! `rpc.read_requests_max` (refused with `BUSY` beyond it) and subscription backfills by
//! `rpc.subscription_reads_max`; namespace reads decode only that namespace's bytes.
//!
//! Every error has a stable code (see [`codes`]) and a message naming the field or limit.

mod config;
mod eth;
mod server;

pub use config::{
    Config, DEFAULT_CONNECTIONS_MAX, DEFAULT_FINALITY_SCAN_HEIGHTS_MAX,
    DEFAULT_NAMESPACE_RANGE_BYTES_MAX, DEFAULT_NAMESPACE_RANGE_HEIGHTS_MAX,
    DEFAULT_NAMESPACE_RANGE_TXS_MAX, DEFAULT_READ_REQUESTS_MAX, DEFAULT_REQUEST_BODY_BYTES_MAX,
    DEFAULT_RESPONSE_BODY_BYTES_MAX, DEFAULT_SUBMIT_BATCH_TXS_MAX,
    DEFAULT_SUBSCRIPTIONS_PER_CONNECTION_MAX, DEFAULT_SUBSCRIPTION_READS_MAX,
    DEFAULT_WORKER_THREADS,
};
pub use server::{methods, runtime, start, Accepted, NodeApi, Preconfirmed};
pub use weft_api::{codes, types};
