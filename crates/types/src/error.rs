//! Errors of decoding and checking Weft types.

use thiserror::Error;

/// Why untrusted bytes could not be decoded. Each variant names the limit or field at fault.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The input is longer than the limit for this kind of object.
    #[error("{what} is {size} bytes, above {limit} = {max}")]
    TooLarge {
        /// What was being decoded.
        what: &'static str,
        /// Size of the input, in bytes.
        size: usize,
        /// Name of the limit.
        limit: &'static str,
        /// Value of the limit.
        max: usize,
    },
    /// The bytes are not a valid encoding.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// The codec's reason.
        reason: String,
    },
}

/// Why a well-formed transaction is not acceptable by itself (stateless checks).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TxError {
    /// The payload is larger than allowed.
    #[error("payload is {size} bytes, above payload_bytes_max = {max}")]
    PayloadTooLarge {
        /// Payload size, in bytes.
        size: usize,
        /// The limit, in bytes.
        max: usize,
    },
    /// The signature does not verify against the sender key.
    #[error("invalid signature for sender {sender}")]
    BadSignature {
        /// Hex of the sender's public key.
        sender: String,
    },
    /// The sender bytes are not a valid ed25519 public key.
    #[error("sender is not a valid ed25519 public key")]
    BadSender,
    /// The payload is not an acceptable signed Ethereum transaction.
    #[error(transparent)]
    Ethereum(#[from] crate::eth::EthError),
    /// The Ethereum transaction's chain id, nonce or signer differ from the claimed ones.
    #[error("the Ethereum transaction does not match the claimed namespace, nonce or sender")]
    EthMismatch,
}

/// Why a proposed block is invalid. Each variant names the validity rule it breaks (see
/// `weft_consensus::app` for the numbered rules) and carries the values involved.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BlockError {
    /// Rule 1: the block does not extend its parent.
    #[error("block at height {height} does not extend parent {parent} at height {parent_height}")]
    NotChild {
        /// The block's height.
        height: u64,
        /// The parent's digest.
        parent: crate::BlockDigest,
        /// The parent's height.
        parent_height: u64,
    },
    /// Rule 2: the header's round differs from the consensus round.
    #[error("header round ({epoch}, {view}) differs from the consensus round ({expected_epoch}, {expected_view})")]
    WrongRound {
        /// Header epoch.
        epoch: u64,
        /// Header view.
        view: u64,
        /// Consensus epoch.
        expected_epoch: u64,
        /// Consensus view.
        expected_view: u64,
    },
    /// Rule 2: the proposer is not the round's leader.
    #[error("proposer {proposer} is not the round's leader {leader}")]
    WrongProposer {
        /// Hex of the header's proposer.
        proposer: String,
        /// Hex of the round's leader.
        leader: String,
    },
    /// Rule 3: the timestamp is before the parent's.
    #[error("timestamp {timestamp_ms} is before the parent's {parent_ms}")]
    TimestampBeforeParent {
        /// The block's timestamp.
        timestamp_ms: u64,
        /// The parent's timestamp.
        parent_ms: u64,
    },
    /// Rule 3: the timestamp is too far ahead of the verifier's clock.
    #[error("timestamp {timestamp_ms} is more than timestamp_drift_ms_max = {drift_ms_max} ahead of {now_ms}")]
    TimestampAhead {
        /// The block's timestamp.
        timestamp_ms: u64,
        /// The verifier's clock.
        now_ms: u64,
        /// The allowed drift.
        drift_ms_max: u64,
    },
    /// Rule 4: `l1_inbox_index` changed.
    #[error("l1_inbox_index must equal the parent's")]
    StateChanged,
    /// Rule 4: a lane that is not enabled on this network is used.
    #[error("the {lane} lane is not enabled on this network")]
    LaneNotEnabled {
        /// `bundles` or `encrypted`.
        lane: &'static str,
    },
    /// Rule 9 (B1): a bundle with a leg in the block is missing another.
    #[error("bundle {bundle} is split: leg {missing} is not in the block")]
    BundleSplit {
        /// The bundle.
        bundle: crate::BundleId,
        /// A leg that is missing.
        missing: crate::TxHash,
    },
    /// Rule 9 (B2): a bundle's legs are all in one namespace.
    #[error("bundle {bundle} has legs in one namespace only (a bundle spans two or more)")]
    BundleOneNamespace {
        /// The bundle.
        bundle: crate::BundleId,
    },
    /// Rule 9 (B3): a bundle is included after its expiry.
    #[error("bundle {bundle} is valid until height {valid_until}, included at {height}")]
    BundleExpired {
        /// The bundle.
        bundle: crate::BundleId,
        /// Its expiry.
        valid_until: u64,
        /// The block's height.
        height: u64,
    },
    /// Rule 9 (B5): a namespace list has a plain transaction after a leg, or legs out of
    /// bundle order.
    #[error("namespace {namespace}: transaction {tx} breaks the order plain transactions first, then legs by bundle id and leg index")]
    LegsNotLast {
        /// The namespace.
        namespace: crate::NamespaceId,
        /// The first transaction out of place.
        tx: crate::TxHash,
    },
    /// Rule 9 (B4): the bundle section is not the one the legs call for.
    #[error("the bundle section does not list exactly the bundles whose legs the block holds, sorted by id")]
    BundleSectionMismatch,
    /// Rule 5: a wire limit is exceeded.
    #[error("block has {value} {what}, above {limit} = {max}")]
    OverLimit {
        /// What was counted (`bytes`, `transactions`, `namespaces`).
        what: &'static str,
        /// The block's value.
        value: usize,
        /// Name of the limit.
        limit: &'static str,
        /// Value of the limit.
        max: usize,
    },
    /// Rule 5: namespaces are not strictly ascending.
    #[error("namespaces not strictly ascending: {first} then {second}")]
    NamespacesNotAscending {
        /// The earlier namespace.
        first: crate::NamespaceId,
        /// The later namespace.
        second: crate::NamespaceId,
    },
    /// Rule 10: the block's validator announcement is not the one its height calls for.
    #[error("wrong validator announcement: a boundary block announces the set the L1's stake table holds (or, unreadable, the next epoch's again); no other block announces one")]
    WrongAnnouncement,
    /// Rule 5: the announced validator set is not strictly ascending (sorted, no repeats).
    #[error("announced validators not strictly ascending")]
    ValidatorsNotAscending,
    /// Rule 5: a namespace has an empty list.
    #[error("namespace {namespace} has an empty transaction list")]
    EmptyNamespace {
        /// The namespace.
        namespace: crate::NamespaceId,
    },
    /// Rule 5: a transaction is listed under another namespace than its own.
    #[error("transaction {tx} of namespace {namespace} listed under {listed}")]
    MisfiledTx {
        /// The transaction.
        tx: crate::TxHash,
        /// Its namespace.
        namespace: crate::NamespaceId,
        /// Where it was listed.
        listed: crate::NamespaceId,
    },
    /// Rule 5: the header's count differs from the body's.
    #[error("header tx_count {header} but the body has {body}")]
    TxCountMismatch {
        /// The header's count.
        header: u32,
        /// The body's count.
        body: usize,
    },
    /// Rule 5: a header root does not match the body.
    #[error("{root} does not match the body")]
    RootMismatch {
        /// Which root.
        root: &'static str,
    },
    /// Rule 6: a transaction breaks a size limit.
    #[error("transaction {tx}: {reason}")]
    BadTx {
        /// The transaction.
        tx: crate::TxHash,
        /// What is wrong.
        reason: TxError,
    },
    /// Rule 6: a transaction's signature does not verify.
    #[error("transaction {tx} has an invalid signature")]
    BadSignature {
        /// The transaction.
        tx: crate::TxHash,
    },
    /// Rule 7: a transaction appears twice in the block.
    #[error("transaction {tx} appears twice")]
    DuplicateTx {
        /// The transaction.
        tx: crate::TxHash,
    },
    /// Rule 7: a transaction is already finalized.
    #[error("transaction {tx} is already finalized")]
    AlreadyFinalized {
        /// The transaction.
        tx: crate::TxHash,
    },
    /// Rule 7: a transaction is already in an unfinalized ancestor.
    #[error("transaction {tx} is already in an unfinalized ancestor")]
    InAncestor {
        /// The transaction.
        tx: crate::TxHash,
    },
    /// Rule 8: a sender's nonces are not exactly its next ones, consecutive.
    #[error("sender {sender}: nonces {nonces:?} are not consecutive from its next nonce {next}")]
    NonceGap {
        /// Hex of the sender.
        sender: String,
        /// The sender's nonces in the block, sorted.
        nonces: Vec<u64>,
        /// Its next nonce.
        next: u64,
    },
    /// Rule 8: within a namespace, a sender's nonce comes after a higher one.
    #[error("sender {sender}: nonce {nonce} follows nonce {after} in namespace {namespace}")]
    NonceOutOfOrder {
        /// Hex of the sender.
        sender: String,
        /// The namespace.
        namespace: crate::NamespaceId,
        /// The out-of-order nonce.
        nonce: u64,
        /// The higher nonce listed before it.
        after: u64,
    },
}

impl BlockError {
    /// The validity rule this error breaks.
    pub fn rule(&self) -> u8 {
        use BlockError::*;
        match self {
            NotChild { .. } => 1,
            WrongRound { .. } | WrongProposer { .. } => 2,
            TimestampBeforeParent { .. } | TimestampAhead { .. } => 3,
            StateChanged | LaneNotEnabled { .. } => 4,
            OverLimit { .. }
            | NamespacesNotAscending { .. }
            | ValidatorsNotAscending
            | EmptyNamespace { .. }
            | MisfiledTx { .. }
            | TxCountMismatch { .. }
            | RootMismatch { .. } => 5,
            BadTx { .. } | BadSignature { .. } => 6,
            DuplicateTx { .. } | AlreadyFinalized { .. } | InAncestor { .. } => 7,
            NonceGap { .. } | NonceOutOfOrder { .. } => 8,
            BundleSplit { .. }
            | BundleOneNamespace { .. }
            | BundleExpired { .. }
            | LegsNotLast { .. }
            | BundleSectionMismatch => 9,
            WrongAnnouncement => 10,
        }
    }
}
