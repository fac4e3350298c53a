//! Node errors (configuration and startup).

use thiserror::Error;

/// Why a validator could not start.
#[derive(Debug, Error)]
pub enum NodeError {
    /// The configuration is invalid.
    #[error("config {path}: {reason}")]
    Config {
        /// File at fault.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// File at fault.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The store failed to open.
    #[error("store: {0}")]
    Storage(#[from] weft_storage::StorageError),
    /// The network failed to start.
    #[error("network: {0}")]
    Network(String),
    /// A critical part of the running validator stopped (see `weft_consensus::Running`).
    #[error("the validator's {part} stopped: {reason}")]
    Stopped {
        /// The part: broadcast, marshal, finalizer, simplex, gossip_out or gossip_in.
        part: &'static str,
        /// How it ended.
        reason: String,
    },
    /// The RPC server failed to start.
    #[error("rpc on {addr}: {reason}")]
    Rpc {
        /// The listen address.
        addr: String,
        /// Why it failed.
        reason: String,
    },
}

impl NodeError {
    pub(crate) fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
    pub(crate) fn config(path: impl AsRef<std::path::Path>, reason: impl Into<String>) -> Self {
        Self::Config {
            path: path.as_ref().display().to_string(),
            reason: reason.into(),
        }
    }
}
