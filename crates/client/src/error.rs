//! Client errors.

use thiserror::Error;

/// A failed call.
#[derive(Debug, Error)]
pub enum ClientError {
    /// Transport or JSON-RPC error (an RPC error carries the node's code and message).
    #[error(transparent)]
    Rpc(#[from] jsonrpsee::core::client::Error),
    /// The node's answer did not verify.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The request cannot be answered as asked (say, a height not finalized yet).
    #[error("{0}")]
    Invalid(String),
}

impl ClientError {
    /// The JSON-RPC error code, when the node answered with an error.
    pub fn code(&self) -> Option<i32> {
        match self {
            ClientError::Rpc(jsonrpsee::core::client::Error::Call(e)) => Some(e.code()),
            _ => None,
        }
    }
}

/// Why served data did not verify.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// Hex or binary encoding is malformed.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The finality certificate is invalid for this validator set.
    #[error(transparent)]
    Certificate(#[from] weft_finality::CertificateError),
    /// The header chain from the block to the certified block is broken.
    #[error("header chain broken at height {height}: {reason}")]
    Chain {
        /// Where.
        height: u64,
        /// Why.
        reason: String,
    },
    /// The header does not match the block hash or height it was served for.
    #[error("header mismatch: {0}")]
    Header(String),
    /// The namespace proof does not hold against the header.
    #[error(transparent)]
    Proof(#[from] weft_types::ProofError),
    /// The receipt breaks one of its rules.
    #[error(transparent)]
    Receipt(#[from] weft_types::ReceiptError),
    /// Broken pre-confirmation evidence breaks one of its rules, or shows no broken promise.
    #[error(transparent)]
    Evidence(#[from] weft_types::EvidenceError),
}
