//! Consensus configuration: timeouts and block pacing.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Default time a validator waits for a leader's proposal before voting to skip the view.
pub const DEFAULT_LEADER_TIMEOUT_MS: u64 = 1_000;
/// Default time a validator waits for a view to be certified before voting to skip it.
pub const DEFAULT_CERTIFICATION_TIMEOUT_MS: u64 = 2_000;
/// Default interval between rebroadcasts of a skip vote.
pub const DEFAULT_TIMEOUT_RETRY_MS: u64 = 1_000;
/// Default minimum interval between a block and its child, in milliseconds (block pacing).
pub const DEFAULT_BLOCK_INTERVAL_MS: u64 = 100;
/// Default mempool size that makes a leader propose before the pacing interval has passed.
pub const DEFAULT_BLOCK_TXS_TARGET: usize = 8_000;
/// Default bound on how far a block's timestamp may run ahead of a verifier's clock.
pub const DEFAULT_TIMESTAMP_DRIFT_MS_MAX: u64 = 3_000;
/// Default mailbox size of the consensus actors.
pub const DEFAULT_MAILBOX_SIZE: usize = 1_024;

/// Consensus configuration (`[consensus]` in the node's TOML). Timeouts may differ between
/// validators; pacing and drift should not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Milliseconds to wait for a proposal before voting to skip the view.
    pub leader_timeout_ms: u64,
    /// Milliseconds to wait for a view's certificate before voting to skip it; > leader timeout.
    pub certification_timeout_ms: u64,
    /// Milliseconds between skip-vote rebroadcasts.
    pub timeout_retry_ms: u64,
    /// Minimum milliseconds between a parent's timestamp and its child's proposal, unless
    /// `block_txs_target` transactions are waiting.
    pub block_interval_ms: u64,
    /// Pending transactions that trigger a proposal before `block_interval_ms`.
    pub block_txs_target: usize,
    /// Most milliseconds a proposed timestamp may be ahead of the verifier's clock.
    pub timestamp_drift_ms_max: u64,
    /// Mailbox size of consensus actors.
    pub mailbox_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            leader_timeout_ms: DEFAULT_LEADER_TIMEOUT_MS,
            certification_timeout_ms: DEFAULT_CERTIFICATION_TIMEOUT_MS,
            timeout_retry_ms: DEFAULT_TIMEOUT_RETRY_MS,
            block_interval_ms: DEFAULT_BLOCK_INTERVAL_MS,
            block_txs_target: DEFAULT_BLOCK_TXS_TARGET,
            timestamp_drift_ms_max: DEFAULT_TIMESTAMP_DRIFT_MS_MAX,
            mailbox_size: DEFAULT_MAILBOX_SIZE,
        }
    }
}

impl Config {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), String> {
        if self.leader_timeout_ms == 0 {
            return Err("consensus.leader_timeout_ms must be > 0".into());
        }
        if self.certification_timeout_ms <= self.leader_timeout_ms {
            return Err(format!(
                "consensus.certification_timeout_ms ({}) must be > consensus.leader_timeout_ms ({})",
                self.certification_timeout_ms, self.leader_timeout_ms
            ));
        }
        if self.timeout_retry_ms == 0 || self.mailbox_size == 0 || self.block_txs_target == 0 {
            return Err(
                "consensus.timeout_retry_ms, mailbox_size and block_txs_target must be > 0".into(),
            );
        }
        Ok(())
    }

    pub(crate) fn leader_timeout(&self) -> Duration {
        Duration::from_millis(self.leader_timeout_ms)
    }
    pub(crate) fn certification_timeout(&self) -> Duration {
        Duration::from_millis(self.certification_timeout_ms)
    }
    pub(crate) fn timeout_retry(&self) -> Duration {
        Duration::from_millis(self.timeout_retry_ms)
    }
}
