//! Stable JSON-RPC error codes. Standard codes (-32700..-32600) come from the protocol.

/// Invalid method parameters (JSON-RPC standard).
pub const INVALID_PARAMS: i32 = -32602;
/// The transaction bytes do not decode.
pub const MALFORMED_TX: i32 = 1001;
/// The transaction exceeds `tx_bytes_max` or `payload_bytes_max`.
pub const TX_TOO_LARGE: i32 = 1002;
/// The signature does not verify.
pub const BAD_SIGNATURE: i32 = 1003;
/// Already pending.
pub const DUPLICATE: i32 = 1004;
/// Already finalized.
pub const ALREADY_FINALIZED: i32 = 1005;
/// Nonce not above the sender's finalized nonce.
pub const NONCE_TOO_LOW: i32 = 1006;
/// Nonce too far ahead of the sender's next nonce.
pub const NONCE_TOO_HIGH: i32 = 1009;
/// Nonce held by another pending transaction of the sender.
pub const NONCE_IN_USE: i32 = 1007;
/// A mempool bound is reached.
pub const MEMPOOL_FULL: i32 = 1008;
/// A range query spans more than `namespace_range_heights_max` heights.
pub const RANGE_TOO_LARGE: i32 = 1010;
/// A batch holds more than `submit_batch_txs_max` transactions.
pub const BATCH_TOO_LARGE: i32 = 1011;
/// The requested object is not available (e.g. no certificate within the scan bound).
pub const NOT_FOUND: i32 = 1012;
/// An Ethereum transaction names no (acceptable) chain id.
pub const UNKNOWN_CHAIN_ID: i32 = 1013;
/// An Ethereum transaction type Weft does not carry (EIP-4844 blobs).
pub const UNSUPPORTED_TX_TYPE: i32 = 1014;
/// Namespace 0 is the system namespace; clients cannot submit to it.
pub const SYSTEM_NAMESPACE: i32 = 1015;
/// Too many heavy reads are in flight (`rpc.read_requests_max`); retry shortly.
pub const BUSY: i32 = 1016;
/// The validator cannot pre-confirm now (its liability bound is reached, or it is catching
/// up), so it accepts nothing; submit later or to another validator.
pub const PRECONF_UNAVAILABLE: i32 = 1017;
/// A bundle leg was sent alone (`weft_sendTransaction`): send it with its bundle.
pub const LEG_ALONE: i32 = 1018;
/// The bundle as a whole is malformed: legs missing or out of order, one namespace,
/// already expired, or `valid_until_height` not the one its legs sign. (A bundle refused for
/// one leg carries that leg's own code, and its message names the leg.)
pub const BAD_BUNDLE: i32 = 1019;
/// The node failed internally (storage); the request may be retried.
pub const INTERNAL: i32 = 1099;
