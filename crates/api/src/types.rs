//! JSON shapes of RPC results (shared by the server and the client).

use serde::{Deserialize, Serialize};

/// Lifecycle of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TxStatus {
    /// Accepted, waiting to be ordered.
    Pending,
    /// Finalized.
    Finalized {
        /// Block height.
        height: u64,
        /// Position in the block.
        index: u32,
        /// Block hash.
        block_hash: String,
    },
    /// Will never be ordered.
    Rejected {
        /// Why.
        reason: String,
    },
    /// Never seen by this node.
    Unknown,
}

/// Per-item result of `weft_sendTransactions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SubmitResult {
    /// Accepted.
    Accepted {
        /// Transaction hash.
        hash: String,
        /// The validator's pre-confirmation, when asked for (`{"receipt": true}`). `null`
        /// for a transaction held back by a missing lower nonce of its sender.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        receipt: Option<Option<ReceiptJson>>,
    },
    /// Rejected.
    Error {
        /// The error.
        error: ErrorJson,
    },
}

/// An error inside a successful batch response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorJson {
    /// Stable code (see `codes`).
    pub code: i32,
    /// Human-readable reason naming the field or limit.
    pub message: String,
}

/// A transaction as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxJson {
    /// Hash.
    pub hash: String,
    /// Namespace.
    pub namespace: u64,
    /// Sender id (hex): an ed25519 public key, or `0xEEEEEEEE || chain id || address`.
    pub sender: String,
    /// Nonce.
    pub nonce: u64,
    /// Payload (hex). For an Ethereum transaction: the raw signed transaction.
    pub payload: String,
    /// Authentication: `ed25519` or `ethereum`.
    pub kind: String,
    /// ed25519 signature (hex); absent for Ethereum transactions (the payload is signed).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub signature: Option<String>,
    /// For a bundle leg: its place in its bundle (see `weft_types::bundle`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub leg: Option<LegJson>,
}

/// A bundle leg's signed bundle fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegJson {
    /// The bundle id (hex).
    pub bundle_id: String,
    /// This leg's index.
    pub index: u8,
    /// Last height the bundle may be included at.
    pub valid_until: u64,
    /// Every leg's content hash (hex), in index order.
    pub contents: Vec<String>,
}

/// A block header as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderJson {
    /// Block hash.
    pub hash: String,
    /// Height.
    pub height: u64,
    /// Epoch.
    pub epoch: u64,
    /// View.
    pub view: u64,
    /// Parent hash.
    pub parent: String,
    /// Timestamp, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// Proposer key (hex).
    pub proposer: String,
    /// Namespace table root.
    pub namespace_table_root: String,
    /// Inclusion root.
    pub inclusion_root: String,
    /// Bundles root.
    pub bundles_root: String,
    /// Encrypted-lane root.
    pub encrypted_root: String,
    /// System state root.
    pub state_root: String,
    /// L1 inbox index.
    pub l1_inbox_index: u64,
    /// Number of transactions.
    pub tx_count: u32,
}

/// A block as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockJson {
    /// Header.
    pub header: HeaderJson,
    /// Transaction hashes in block order (always present).
    pub tx_hashes: Vec<String>,
    /// Full transactions in block order (when asked for).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub transactions: Option<Vec<TxJson>>,
    /// Encoded finalization certificate (hex), when this block has its own.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub finalization: Option<String>,
    /// When the serving validator persisted the block as final (ms since the Unix epoch).
    #[serde(default)]
    pub finalized_at_ms: Option<u64>,
    /// The validator set an epoch's boundary block announces for the epoch after next (keys,
    /// hex, ascending; committed by the header's `state_root`); absent for other blocks.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub validators: Option<Vec<String>>,
}

/// One transaction of a namespace range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceTxJson {
    /// Height.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    /// The transaction.
    #[serde(flatten)]
    pub tx: TxJson,
}

/// Answer of `weft_getNamespaceTransactions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceRangeJson {
    /// Namespace.
    pub namespace: u64,
    /// First height covered.
    pub from: u64,
    /// Last height covered (clamped to the head, or earlier if truncated).
    pub to: u64,
    /// Finalized head height when answered.
    pub head: Option<u64>,
    /// Set when the answer stopped early at `namespace_range_txs_max`: resume from here.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_from: Option<u64>,
    /// Transactions in order.
    pub transactions: Vec<NamespaceTxJson>,
}

/// Answer of `weft_getNonce`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonceJson {
    /// The nonce a new transaction of the sender should use (after its pending ones).
    pub next: u64,
    /// The sender's next nonce in the finalized chain.
    pub finalized_next: u64,
}

/// Answer of `weft_getFinality`: proof that a block is final.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalityJson {
    /// Height of the block asked about.
    pub height: u64,
    /// Its hash.
    pub block_hash: String,
    /// Height of the block the certificate finalizes (the same, or a descendant).
    pub certified_height: u64,
    /// Encoded finalization certificate (hex) of the block at `certified_height`.
    pub certificate: String,
    /// Encoded headers (hex) from `height + 1` to `certified_height`: each names its parent,
    /// so the certified block's finality carries down to `height`.
    pub headers: Vec<String>,
    /// The encoded header (hex) of the block at `height` itself.
    #[serde(default)]
    pub header: String,
}

/// One entry of `weft_getConflicts`: conflicting votes this validator's consensus saw
/// (double-signing evidence, `weft_finality::verify_double_sign`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictJson {
    /// Its index in this validator's record.
    pub index: u64,
    /// The encoded conflict (hex).
    pub evidence: String,
}

/// Answer of `weft_getNamespaceProof`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceProofJson {
    /// Namespace.
    pub namespace: u64,
    /// Height.
    pub height: u64,
    /// Block hash (SHA-256 of `header`).
    pub block_hash: String,
    /// Encoded header (hex).
    pub header: String,
    /// Encoded proof (hex): presence with the transactions, or absence.
    pub proof: String,
    /// The namespace's transactions, decoded (for convenience; the proof is the authority).
    pub transactions: Vec<TxJson>,
}

/// A validator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorJson {
    /// ed25519 public key (hex).
    pub public_key: String,
}

/// The epoch the serving validator is in (`weft_epoch`) and who runs it and the next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochJson {
    /// The epoch after the serving validator's finalized head.
    pub epoch: u64,
    /// Its first height.
    pub first_height: u64,
    /// Its last height (its boundary block).
    pub last_height: u64,
    /// Its validators' keys (hex), ascending.
    pub validators: Vec<String>,
    /// The next epoch's, announced by the previous boundary (none before that is finalized).
    pub next_validators: Option<Vec<String>>,
}

/// One notification of `weft_subscribeNamespace`: a finalized block's transactions of the
/// namespace. Sent for every finalized height that has some, in height order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceBlockJson {
    /// Namespace.
    pub namespace: u64,
    /// Height.
    pub height: u64,
    /// Block hash.
    pub block_hash: String,
    /// When the serving validator persisted the block as final (ms since the Unix epoch).
    #[serde(default)]
    pub finalized_at_ms: Option<u64>,
    /// The namespace's transactions in block order, with their positions in the block.
    pub transactions: Vec<NamespaceTxJson>,
}

/// Options of `weft_sendTransaction(s)`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitOptions {
    /// Return the validator's signed pre-confirmation with the hash.
    #[serde(default)]
    pub receipt: bool,
}

/// `weft_sendTransaction` with `{"receipt": true}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedJson {
    /// Transaction hash.
    pub hash: String,
    /// The pre-confirmation; `null` for a transaction held back by a missing lower nonce.
    pub receipt: Option<ReceiptJson>,
}

/// `weft_sendBundle`'s parameter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleRequest {
    /// The signed legs, hex, in index order.
    pub legs: Vec<String>,
    /// Last height at which the bundle may be included: must be the one every leg signs.
    pub valid_until_height: u64,
}

/// `weft_sendBundle`'s answer: the bundle id and, per leg in order, its hash and receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleAcceptedJson {
    /// The bundle id.
    pub bundle_id: String,
    /// Each leg, in index order.
    pub legs: Vec<AcceptedJson>,
}

/// A signed pre-confirmation (see `weft_types::receipt`): its fields, and `encoded`, the
/// exact signed bytes, which is what a client verifies and what evidence carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptJson {
    /// Format version.
    pub version: u8,
    /// Chain id (genesis hash).
    pub chain: String,
    /// Namespace.
    pub namespace: u64,
    /// Transaction hash.
    pub tx: String,
    /// Sender.
    pub sender: String,
    /// Nonce.
    pub nonce: u64,
    /// The issuer's finalized head when it signed.
    pub issued_height: u64,
    /// Finalized by this height, or the promise is broken.
    pub deadline_height: u64,
    /// The issuing validator.
    pub issuer: String,
    /// The issuer's ed25519 signature.
    pub signature: String,
    /// Hex of the whole receipt (`RECEIPT_BYTES`).
    pub encoded: String,
}

impl ReceiptJson {
    /// The JSON shape of `r`.
    pub fn of(r: &weft_types::Receipt) -> Self {
        use commonware_codec::Encode as _;
        let p = &r.promise;
        Self {
            version: p.version,
            chain: p.chain.to_string(),
            namespace: p.namespace.0,
            tx: p.tx.to_string(),
            sender: weft_types::to_hex(&p.sender),
            nonce: p.nonce,
            issued_height: p.issued_height,
            deadline_height: p.deadline_height,
            issuer: weft_types::to_hex(p.issuer.as_ref()),
            signature: weft_types::to_hex(r.signature.as_ref()),
            encoded: weft_types::to_hex(&r.encode()),
        }
    }
}

/// What the chain shows about a receipt's promise (`weft_getPreconfirmationEvidence`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreconfEvidenceJson {
    /// `"broken"` (the slot stayed empty through the deadline: `evidence` is slashing
    /// evidence against the issuer), `"kept"` (the transaction is finalized at `height`),
    /// `"conflict"` (another transaction of the sender's with the same nonce, `tx`, was
    /// finalized at `height`; for a bundle leg's receipt, of any leg's sender), or `"pending"` (the deadline, or a certificate at or above the
    /// deciding height, is not finalized yet: `height` is the finalized head).
    pub verdict: String,
    /// See `verdict`.
    pub height: u64,
    /// The conflicting transaction, for `"conflict"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx: Option<String>,
    /// Hex of the encoded `weft_types::BrokenPreconfirmation` (finalized headers, a
    /// certificate and slot proofs) that shows the verdict, for every verdict but `"pending"`.
    /// Anyone checks it offline with `weft_client::verify_broken_preconfirmation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

/// One event of `weft_subscribePreconfirmed(namespace, from_height?)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PreconfEventJson {
    /// This validator promised `transaction`: it is in a finalized block by the receipt's
    /// deadline, or the receipt is slashing evidence.
    Preconfirmed {
        /// The transaction, to execute ahead of finality.
        transaction: TxJson,
        /// The validator's signed receipt.
        receipt: Box<ReceiptJson>,
    },
    /// The namespace's transactions finalized at `height`, in block order: every one of
    /// them, preconfirmed or not, so a client that resumes learns what landed meanwhile.
    Finalized {
        /// Height.
        height: u64,
        /// Block hash.
        block_hash: String,
        /// The namespace's transaction hashes in the block, in order.
        txs: Vec<String>,
    },
    /// A preconfirmed transaction that will not be finalized by its deadline: the sender
    /// finalized another transaction with its nonce (`"conflict"`; for a bundle leg, any
    /// leg's sender did), or the deadline passed
    /// (`"deadline"`: the promise is broken; `weft_getPreconfirmationEvidence` proves it).
    Dropped {
        /// The transaction.
        tx: String,
        /// The finalized head when this was decided.
        height: u64,
        /// `"conflict"` or `"deadline"`.
        reason: String,
    },
}
