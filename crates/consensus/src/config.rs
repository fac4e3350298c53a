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
/// Default mailbox size of the consensus actors.
pub const DEFAULT_MAILBOX_SIZE: usize = 1_024;

/// Consensus configuration (`[consensus]` in the node's TOML). Timeouts may differ between
/// validators; pacing should not. The timestamp drift bound is network-wide, in genesis
/// (`limits.timestamp_drift_ms_max`).
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

    /// Checks the configuration against the network's limits: the leader timeout must exceed
    /// the timestamp drift plus the block interval. A leader waits at most one interval past
    /// the moment it is asked to propose (see `App::propose`), and a parent's timestamp is at
    /// most `timestamp_drift_ms_max` ahead, so an honest leader always proposes in time.
    pub fn validate_with(&self, limits: &weft_types::Limits) -> Result<(), String> {
        self.validate()?;
        let needed = limits.timestamp_drift_ms_max + self.block_interval_ms;
        if self.leader_timeout_ms <= needed {
            return Err(format!(
                "consensus.leader_timeout_ms ({}) must be > limits.timestamp_drift_ms_max ({}) + consensus.block_interval_ms ({})",
                self.leader_timeout_ms, limits.timestamp_drift_ms_max, self.block_interval_ms
            ));
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

#[cfg(test)]
mod tests {
    use super::*;
    use weft_types::Limits;

    #[test]
    fn defaults_are_valid_against_default_limits() {
        Config::default().validate_with(&Limits::default()).unwrap();
    }

    #[test]
    fn a_drift_at_or_above_the_leader_timeout_is_refused() {
        let limits = Limits {
            timestamp_drift_ms_max: 3_000,
            ..Limits::default()
        };
        let err = Config::default().validate_with(&limits).unwrap_err();
        assert!(err.contains("leader_timeout_ms"), "{err}");
    }
}
