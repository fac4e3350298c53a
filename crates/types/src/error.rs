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
