//! Mempool configuration.

use serde::{Deserialize, Serialize};

/// Default bound on pending transactions.
pub const DEFAULT_TXS_MAX: usize = 200_000;
/// Default bound on pending payload plus overhead, in bytes.
pub const DEFAULT_BYTES_MAX: usize = 256 * 1024 * 1024;
/// Default bound on pending transactions of one sender.
pub const DEFAULT_SENDER_TXS_MAX: usize = 4_096;
/// Default number of remembered rejection reasons (for `status` queries).
pub const DEFAULT_REJECTED_MAX: usize = 100_000;

/// Mempool configuration (`[mempool]` in the node's TOML).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Most pending transactions.
    pub txs_max: usize,
    /// Most pending bytes (encoded transactions).
    pub bytes_max: usize,
    /// Most pending transactions per sender.
    pub sender_txs_max: usize,
    /// Most remembered rejection reasons.
    pub rejected_max: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            txs_max: DEFAULT_TXS_MAX,
            bytes_max: DEFAULT_BYTES_MAX,
            sender_txs_max: DEFAULT_SENDER_TXS_MAX,
            rejected_max: DEFAULT_REJECTED_MAX,
        }
    }
}

impl Config {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("mempool.txs_max", self.txs_max),
            ("mempool.bytes_max", self.bytes_max),
            ("mempool.sender_txs_max", self.sender_txs_max),
        ] {
            if v == 0 {
                return Err(format!("{name} must be > 0"));
            }
        }
        if self.sender_txs_max > self.txs_max {
            return Err("mempool.sender_txs_max must be <= mempool.txs_max".into());
        }
        Ok(())
    }
}
