//! Settlement configuration.

use serde::{Deserialize, Serialize};

/// Default bound on the Weft heights one batch may span (`end.height - start.height`).
pub const DEFAULT_BATCH_HEIGHTS_MAX: u64 = 100_000;
/// Default bound on a proof's size, in bytes.
pub const DEFAULT_PROOF_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Default bound on an inbox message's payload, in bytes.
pub const DEFAULT_INBOX_PAYLOAD_BYTES_MAX: usize = 64 * 1024;
/// Default bound on the inbox messages one query returns.
pub const DEFAULT_INBOX_MESSAGES_MAX: usize = 1_024;
/// Default bound on inbox sends per second to one rollup, across all callers (each is a
/// durable block).
pub const DEFAULT_INBOX_SENDS_PER_SECOND_MAX: u32 = 50;

/// Settlement configuration (`[settlement]` in the node's TOML).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Most Weft heights one batch may span (`end.height - start.height`): bounds the data
    /// the contract fetches and commits to per submission.
    pub batch_heights_max: u64,
    /// Largest proof accepted, in bytes.
    pub proof_bytes_max: usize,
    /// Largest inbox message payload accepted, in bytes.
    pub inbox_payload_bytes_max: usize,
    /// Most inbox messages one query returns; larger requests are cut to this.
    pub inbox_messages_max: usize,
    /// Most inbox sends accepted per second to one rollup, across all callers: each is a
    /// durable L1 block, and sending is open to anyone. Over it, a send is refused as busy.
    pub inbox_sends_per_second_max: u32,
    /// The staking program's parameters.
    pub staking: crate::staking::StakingConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            batch_heights_max: DEFAULT_BATCH_HEIGHTS_MAX,
            proof_bytes_max: DEFAULT_PROOF_BYTES_MAX,
            inbox_payload_bytes_max: DEFAULT_INBOX_PAYLOAD_BYTES_MAX,
            inbox_messages_max: DEFAULT_INBOX_MESSAGES_MAX,
            inbox_sends_per_second_max: DEFAULT_INBOX_SENDS_PER_SECOND_MAX,
            staking: crate::staking::StakingConfig::default(),
        }
    }
}

impl Config {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), String> {
        if self.batch_heights_max == 0 {
            return Err("settlement.batch_heights_max must be > 0".into());
        }
        for (name, v) in [
            ("settlement.proof_bytes_max", self.proof_bytes_max),
            (
                "settlement.inbox_payload_bytes_max",
                self.inbox_payload_bytes_max,
            ),
            ("settlement.inbox_messages_max", self.inbox_messages_max),
            (
                "settlement.inbox_sends_per_second_max",
                self.inbox_sends_per_second_max as usize,
            ),
        ] {
            if v == 0 {
                return Err(format!("{name} must be > 0"));
            }
        }
        self.staking.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn zero_bounds_are_refused() {
        let mut cfg = Config {
            batch_heights_max: 0,
            ..Config::default()
        };
        assert!(cfg.validate().unwrap_err().contains("batch_heights_max"));
        cfg = Config {
            inbox_messages_max: 0,
            ..Config::default()
        };
        assert!(cfg.validate().unwrap_err().contains("inbox_messages_max"));
    }
}
