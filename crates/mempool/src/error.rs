//! Admission errors: one variant per rule, each naming the value and limit involved.

use thiserror::Error;
use weft_types::{DecodeError, TxError, TxHash};

/// Why a transaction was not admitted.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AdmitError {
    /// The bytes are not a transaction within the wire limits.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The transaction is invalid by itself (size, signature).
    #[error(transparent)]
    Invalid(#[from] TxError),
    /// The same transaction is already pending.
    #[error("transaction {hash} is already pending")]
    Duplicate {
        /// The transaction.
        hash: TxHash,
    },
    /// The same transaction is already finalized.
    #[error("transaction {hash} is already finalized at height {height}")]
    AlreadyFinalized {
        /// The transaction.
        hash: TxHash,
        /// Where.
        height: u64,
    },
    /// The nonce is below the sender's next nonce: already used.
    #[error("nonce {nonce} is already used: the sender's next nonce is {expected}")]
    NonceTooLow {
        /// Offered nonce.
        nonce: u64,
        /// The sender's next nonce in the finalized chain.
        expected: u64,
    },
    /// The nonce is too far ahead of the sender's next nonce to be held.
    #[error("nonce {nonce} is more than mempool.sender_txs_max = {gap_max} ahead of the sender's next nonce {expected}")]
    NonceTooHigh {
        /// Offered nonce.
        nonce: u64,
        /// The sender's next nonce in the finalized chain.
        expected: u64,
        /// Largest gap held.
        gap_max: u64,
    },
    /// Another pending transaction of the sender uses this nonce.
    #[error("nonce {nonce} is already used by pending transaction {pending}")]
    NonceInUse {
        /// Offered nonce.
        nonce: u64,
        /// The pending transaction holding it.
        pending: TxHash,
    },
    /// The system namespace (0) is written only by the protocol, never by clients.
    #[error("namespace 0 is the system namespace: clients cannot submit to it")]
    SystemNamespace,
    /// An Ethereum transaction for a chain this network does not serve.
    #[error("unknown chain id {chain}: this network accepts rpc.eth_chain_ids = {allowed:?}")]
    ChainNotServed {
        /// The transaction's chain id (its namespace).
        chain: u64,
        /// The chain ids served.
        allowed: Vec<u64>,
    },
    /// The validator cannot pre-confirm the transaction now, so it does not accept it
    /// (every accepted submission gets a receipt).
    #[error("cannot pre-confirm: {reason}")]
    Preconf {
        /// Why (the liability bound reached, the node catching up, ...).
        reason: String,
    },
    /// A bundle leg was submitted alone: legs are admitted only with their bundle.
    #[error("transaction {hash} is a bundle leg: submit it with its bundle (weft_sendBundle)")]
    LegAlone {
        /// The leg.
        hash: TxHash,
    },
    /// The bundle as a whole is malformed (legs missing, out of order, one namespace, ...).
    #[error("invalid bundle: {reason}")]
    BadBundle {
        /// What is wrong.
        reason: String,
    },
    /// One leg of a bundle was refused, so the whole bundle was.
    #[error("bundle leg {leg} refused: {reason}")]
    BundleLeg {
        /// The leg's index.
        leg: usize,
        /// Why that leg was refused.
        reason: Box<AdmitError>,
    },
    /// The mempool is full.
    #[error("mempool full: {what} would exceed {limit} = {max}")]
    Full {
        /// What ran out.
        what: &'static str,
        /// Name of the limit.
        limit: &'static str,
        /// Its value.
        max: usize,
    },
}
