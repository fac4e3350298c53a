//! RPC server configuration.

use serde::{Deserialize, Serialize};

/// Default bound on a request body, in bytes.
pub const DEFAULT_REQUEST_BODY_BYTES_MAX: u32 = 16 * 1024 * 1024;
/// Default bound on a response body, in bytes.
pub const DEFAULT_RESPONSE_BODY_BYTES_MAX: u32 = 64 * 1024 * 1024;
/// Default bound on concurrent connections.
pub const DEFAULT_CONNECTIONS_MAX: u32 = 512;
/// Default bound on transactions in one `weft_sendTransactions` call.
pub const DEFAULT_SUBMIT_BATCH_TXS_MAX: usize = 4_096;
/// Default bound on heights in one namespace range query.
pub const DEFAULT_NAMESPACE_RANGE_HEIGHTS_MAX: u64 = 1_000;
/// Default bound on the bytes of transactions returned by one namespace range query.
pub const DEFAULT_NAMESPACE_RANGE_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Default bound on subscriptions per WebSocket connection.
pub const DEFAULT_SUBSCRIPTIONS_PER_CONNECTION_MAX: u32 = 64;
/// Default bound on heights scanned to find a block's finality certificate.
pub const DEFAULT_FINALITY_SCAN_HEIGHTS_MAX: u64 = 1_024;
/// Default bound on transactions returned by one namespace range query.
pub const DEFAULT_NAMESPACE_RANGE_TXS_MAX: usize = 10_000;

/// Default worker threads of the RPC server's own runtime.
pub const DEFAULT_WORKER_THREADS: usize = 2;
/// Default bound on heavy reads (blocks, namespace ranges, proofs, finality) served at once;
/// further ones are refused with `BUSY` rather than queued.
pub const DEFAULT_READ_REQUESTS_MAX: usize = 8;
/// Default bound on subscription backfill reads in flight at once (they wait their turn).
pub const DEFAULT_SUBSCRIPTION_READS_MAX: usize = 4;

/// RPC configuration (`[rpc]` in the node's TOML).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Largest request body, in bytes.
    pub request_body_bytes_max: u32,
    /// Largest response body, in bytes.
    pub response_body_bytes_max: u32,
    /// Most concurrent connections.
    pub connections_max: u32,
    /// Most transactions per `weft_sendTransactions` call.
    pub submit_batch_txs_max: usize,
    /// Most heights per `weft_getNamespaceTransactions` call.
    pub namespace_range_heights_max: u64,
    /// Most transactions per `weft_getNamespaceTransactions` answer (the answer says where to resume).
    pub namespace_range_txs_max: usize,
    /// Most transaction bytes per `weft_getNamespaceTransactions` answer (the answer says where to resume).
    pub namespace_range_bytes_max: usize,
    /// Most subscriptions per WebSocket connection.
    pub subscriptions_per_connection_max: u32,
    /// Most heights `weft_getFinality` scans for a certifying descendant.
    pub finality_scan_heights_max: u64,
    /// Chain id answered by `eth_chainId` and used by `eth_getTransactionCount` (a validator
    /// serves many chains; this is the one an unmodified wallet pointed at it talks to).
    pub eth_chain_id: Option<u64>,
    /// Chain ids Ethereum transactions may name, on every submission path; empty accepts
    /// any (non-zero) chain id.
    pub eth_chain_ids: Vec<u64>,
    /// Worker threads of the RPC server's own runtime: RPC work (signature checks of
    /// submissions, reads) never runs on the consensus runtime.
    pub worker_threads: usize,
    /// Most heavy reads served at once; a read beyond it is refused with `BUSY` (1016).
    pub read_requests_max: usize,
    /// Most subscription backfill reads in flight at once.
    pub subscription_reads_max: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            request_body_bytes_max: DEFAULT_REQUEST_BODY_BYTES_MAX,
            response_body_bytes_max: DEFAULT_RESPONSE_BODY_BYTES_MAX,
            connections_max: DEFAULT_CONNECTIONS_MAX,
            submit_batch_txs_max: DEFAULT_SUBMIT_BATCH_TXS_MAX,
            namespace_range_heights_max: DEFAULT_NAMESPACE_RANGE_HEIGHTS_MAX,
            namespace_range_txs_max: DEFAULT_NAMESPACE_RANGE_TXS_MAX,
            namespace_range_bytes_max: DEFAULT_NAMESPACE_RANGE_BYTES_MAX,
            subscriptions_per_connection_max: DEFAULT_SUBSCRIPTIONS_PER_CONNECTION_MAX,
            finality_scan_heights_max: DEFAULT_FINALITY_SCAN_HEIGHTS_MAX,
            eth_chain_id: None,
            eth_chain_ids: Vec::new(),
            worker_threads: DEFAULT_WORKER_THREADS,
            read_requests_max: DEFAULT_READ_REQUESTS_MAX,
            subscription_reads_max: DEFAULT_SUBSCRIPTION_READS_MAX,
        }
    }
}

impl Config {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), String> {
        if self.request_body_bytes_max < 1024 {
            return Err("rpc.request_body_bytes_max must be >= 1024".into());
        }
        if self.namespace_range_bytes_max == 0
            || self.subscriptions_per_connection_max == 0
            || self.finality_scan_heights_max == 0
        {
            return Err("rpc.namespace_range_bytes_max, subscriptions_per_connection_max and finality_scan_heights_max must be > 0".into());
        }
        if let (Some(id), false) = (self.eth_chain_id, self.eth_chain_ids.is_empty()) {
            if !self.eth_chain_ids.contains(&id) {
                return Err(format!("rpc.eth_chain_id {id} is not in rpc.eth_chain_ids"));
            }
        }
        if self.connections_max == 0
            || self.submit_batch_txs_max == 0
            || self.namespace_range_heights_max == 0
            || self.namespace_range_txs_max == 0
            || self.worker_threads == 0
            || self.read_requests_max == 0
            || self.subscription_reads_max == 0
        {
            return Err("rpc.connections_max, submit_batch_txs_max, namespace_range_heights_max, namespace_range_txs_max, worker_threads, read_requests_max and subscription_reads_max must be > 0".into());
        }
        Ok(())
    }
}
