//! Mempool configuration.

use serde::{Deserialize, Serialize};

/// Default bound on pending transactions.
pub const DEFAULT_TXS_MAX: usize = 200_000;
/// Default bound on pending payload plus overhead, in bytes.
pub const DEFAULT_BYTES_MAX: usize = 256 * 1024 * 1024;
/// Default bound on pending transactions of one sender.
pub const DEFAULT_SENDER_TXS_MAX: usize = 4_096;
/// Default bound on queued (held-back, future-nonce) transactions, in total.
pub const DEFAULT_QUEUED_TXS_MAX: usize = 4_096;
/// Default bound on queued transactions of one sender.
pub const DEFAULT_QUEUED_SENDER_TXS_MAX: usize = 64;
/// Default bound on queued bytes, in total.
pub const DEFAULT_QUEUED_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Default lifetime of a queued transaction, in milliseconds (geth's `lifetime` is 3 h; a
/// sequencer's senders fill gaps in seconds).
pub const DEFAULT_QUEUED_LIFETIME_MS: u64 = 600_000;
/// Default bound on promised (pre-confirmed) transactions outstanding at this validator:
/// the issuer's liability bound. Together with [`DEFAULT_PRECONF_BYTES_MAX`] it keeps every
/// outstanding promise inside one block (see `weft_types::receipt`, the deadline rule). Half
/// the default block, the most the rule allows: outstanding promises are about the
/// validator's submission rate times its finality latency, so this bound is also a ceiling
/// on how fast one validator accepts (4,096 capped a validator near 5,000 tx/s at 1 s).
pub const DEFAULT_PRECONF_TXS_MAX: usize = 10_000;
/// Default bound on promised bytes outstanding (encoded transactions): half the default
/// block.
pub const DEFAULT_PRECONF_BYTES_MAX: usize = 2 * 1024 * 1024;
/// Default bound on how far ahead of the finalized head a bundle's `valid_until` may be, in
/// heights: a bundle that can never be selected (a leg's predecessor never comes) leaves at
/// its expiry, so expiry bounds how long it holds its senders' nonces and pool room.
pub const DEFAULT_BUNDLE_VALID_HEIGHTS_MAX: u64 = 1_024;
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
    /// Most queued transactions: held back because a lower nonce of their sender is
    /// missing. Includable transactions evict them when the pool is full.
    pub queued_txs_max: usize,
    /// Most queued transactions of one sender.
    pub queued_sender_txs_max: usize,
    /// Most queued bytes.
    pub queued_bytes_max: usize,
    /// Milliseconds after which a still-queued transaction is dropped.
    pub queued_lifetime_ms: u64,
    /// Most promised (pre-confirmed, unexpired, unfinalized) transactions: the issuer stops
    /// issuing receipts at this bound (the liability bound).
    pub preconf_txs_max: usize,
    /// Most promised bytes (encoded transactions).
    pub preconf_bytes_max: usize,
    /// Most heights a bundle's `valid_until` may be ahead of the finalized head
    /// ([`DEFAULT_BUNDLE_VALID_HEIGHTS_MAX`]).
    pub bundle_valid_heights_max: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            txs_max: DEFAULT_TXS_MAX,
            bytes_max: DEFAULT_BYTES_MAX,
            sender_txs_max: DEFAULT_SENDER_TXS_MAX,
            rejected_max: DEFAULT_REJECTED_MAX,
            queued_txs_max: DEFAULT_QUEUED_TXS_MAX,
            queued_sender_txs_max: DEFAULT_QUEUED_SENDER_TXS_MAX,
            queued_bytes_max: DEFAULT_QUEUED_BYTES_MAX,
            queued_lifetime_ms: DEFAULT_QUEUED_LIFETIME_MS,
            preconf_txs_max: DEFAULT_PRECONF_TXS_MAX,
            preconf_bytes_max: DEFAULT_PRECONF_BYTES_MAX,
            bundle_valid_heights_max: DEFAULT_BUNDLE_VALID_HEIGHTS_MAX,
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
            ("mempool.queued_txs_max", self.queued_txs_max),
            ("mempool.queued_sender_txs_max", self.queued_sender_txs_max),
            ("mempool.queued_bytes_max", self.queued_bytes_max),
            ("mempool.preconf_txs_max", self.preconf_txs_max),
            ("mempool.preconf_bytes_max", self.preconf_bytes_max),
            (
                "mempool.queued_lifetime_ms",
                self.queued_lifetime_ms as usize,
            ),
            (
                "mempool.bundle_valid_heights_max",
                self.bundle_valid_heights_max as usize,
            ),
        ] {
            if v == 0 {
                return Err(format!("{name} must be > 0"));
            }
        }
        if self.sender_txs_max > self.txs_max {
            return Err("mempool.sender_txs_max must be <= mempool.txs_max".into());
        }
        // Queued transactions must stay a small part of the pool, or they could fill it.
        if self.queued_txs_max > self.txs_max / 2 || self.queued_bytes_max > self.bytes_max / 2 {
            return Err(
                "mempool.queued_txs_max and queued_bytes_max must be at most half of txs_max and bytes_max"
                    .into(),
            );
        }
        if self.queued_sender_txs_max > self.queued_txs_max {
            return Err("mempool.queued_sender_txs_max must be <= mempool.queued_txs_max".into());
        }
        Ok(())
    }

    /// [`Config::validate`], plus the bounds that depend on the network's limits: every
    /// outstanding promise must fit in one block with room to spare (at most half of
    /// `block_txs_max` and of `block_bytes_max`), so an honest issuer's own block can always
    /// carry all of them (the deadline rule in `weft_types::receipt`).
    pub fn validate_with(&self, limits: &weft_types::Limits) -> Result<(), String> {
        self.validate()?;
        if self.preconf_txs_max > limits.block_txs_max / 2
            || self.preconf_bytes_max > limits.block_bytes_max / 2
        {
            return Err(format!(
                "mempool.preconf_txs_max ({}) and preconf_bytes_max ({}) must be at most half of limits.block_txs_max ({}) and block_bytes_max ({})",
                self.preconf_txs_max, self.preconf_bytes_max, limits.block_txs_max, limits.block_bytes_max
            ));
        }
        Ok(())
    }
}
