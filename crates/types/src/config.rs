//! Wire-format limits shared by every node of a network.
//!
//! Limits are consensus-critical: a block that breaks one is invalid, so every validator of
//! a network must use the same values (they live in the genesis file).

use serde::{Deserialize, Serialize};

/// Default bound on a transaction's payload, in bytes.
pub const DEFAULT_PAYLOAD_BYTES_MAX: usize = 64 * 1024;
/// Default bound on an encoded transaction, in bytes (payload plus fixed fields).
pub const DEFAULT_TX_BYTES_MAX: usize = DEFAULT_PAYLOAD_BYTES_MAX + crate::TX_OVERHEAD_BYTES;
/// Default bound on an encoded block, in bytes. Stays under the p2p message cap (see
/// `weft-network`), which must admit a full block plus framing.
pub const DEFAULT_BLOCK_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Default bound on the number of transactions in a block.
pub const DEFAULT_BLOCK_TXS_MAX: usize = 20_000;
/// Default bound on the number of distinct namespaces in a block.
pub const DEFAULT_NAMESPACES_PER_BLOCK_MAX: usize = 1_024;

/// Default bound on transactions in one gossip message.
pub const DEFAULT_GOSSIP_BATCH_TXS_MAX: usize = 2_048;
/// Default bound on transaction hashes in one gossip announcement or request.
pub const DEFAULT_GOSSIP_HASHES_MAX: usize = 4_096;
/// Default bound on how far a block's timestamp may run ahead of a verifier's clock, in
/// milliseconds. Kept below the leader timeout (see `weft_consensus::Config::validate_with`)
/// so a future-stamped parent can never make an honest leader wait past its view.
pub const DEFAULT_TIMESTAMP_DRIFT_MS_MAX: u64 = 500;

/// Default receipt window, in heights: a pre-confirmation issued at finalized height `h` is
/// due by `h + window` (see `weft_types::receipt` for the deadline rule and
/// [`Limits::validate_for`] for its lower bound).
pub const DEFAULT_PRECONF_WINDOW_HEIGHTS: u64 = 64;
/// Most heights an issuer's finalized head may trail the highest height it has seen
/// proposed before it stops issuing receipts (it is catching up, so its head is stale).
pub const PRECONF_LAG_HEIGHTS_MAX: u64 = 8;
/// Largest receipt window genesis may set, in heights: it bounds what evidence of a broken
/// promise carries (a header and a slot proof per height, `weft_types::evidence`).
pub const PRECONF_WINDOW_HEIGHTS_MAX: u64 = 1024;

/// Wire-format limits. Part of genesis: all validators must agree on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest transaction payload, in bytes.
    pub payload_bytes_max: usize,
    /// Largest encoded transaction, in bytes.
    pub tx_bytes_max: usize,
    /// Largest encoded block (header and body), in bytes.
    pub block_bytes_max: usize,
    /// Most transactions in one block.
    pub block_txs_max: usize,
    /// Most distinct namespaces in one block.
    pub namespaces_per_block_max: usize,
    /// Most transactions in one gossip message (a peer's larger message is malformed).
    pub gossip_batch_txs_max: usize,
    /// Most transaction hashes in one gossip announcement or request.
    pub gossip_hashes_max: usize,
    /// Most milliseconds a block's timestamp may be ahead of a verifier's clock (rule 3).
    pub timestamp_drift_ms_max: u64,
    /// Heights from a receipt's issued height to its deadline (receipt rule 4).
    pub preconf_window_heights: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            payload_bytes_max: DEFAULT_PAYLOAD_BYTES_MAX,
            tx_bytes_max: DEFAULT_TX_BYTES_MAX,
            block_bytes_max: DEFAULT_BLOCK_BYTES_MAX,
            block_txs_max: DEFAULT_BLOCK_TXS_MAX,
            namespaces_per_block_max: DEFAULT_NAMESPACES_PER_BLOCK_MAX,
            gossip_batch_txs_max: DEFAULT_GOSSIP_BATCH_TXS_MAX,
            gossip_hashes_max: DEFAULT_GOSSIP_HASHES_MAX,
            timestamp_drift_ms_max: DEFAULT_TIMESTAMP_DRIFT_MS_MAX,
            preconf_window_heights: DEFAULT_PRECONF_WINDOW_HEIGHTS,
        }
    }
}

impl Limits {
    /// Checks that the limits are consistent with each other.
    pub fn validate(&self) -> Result<(), String> {
        if self.payload_bytes_max == 0 {
            return Err("limits.payload_bytes_max must be > 0".into());
        }
        if self.tx_bytes_max < self.payload_bytes_max + crate::TX_OVERHEAD_BYTES {
            return Err(format!(
                "limits.tx_bytes_max ({}) must be >= payload_bytes_max + {} ({})",
                self.tx_bytes_max,
                crate::TX_OVERHEAD_BYTES,
                self.payload_bytes_max + crate::TX_OVERHEAD_BYTES
            ));
        }
        if self.block_bytes_max < self.tx_bytes_max + crate::HEADER_BYTES + 64 {
            return Err(format!(
                "limits.block_bytes_max ({}) must fit at least one maximal transaction ({} bytes) plus the header",
                self.block_bytes_max, self.tx_bytes_max
            ));
        }
        if self.block_txs_max == 0
            || self.namespaces_per_block_max == 0
            || self.gossip_batch_txs_max == 0
            || self.gossip_hashes_max == 0
        {
            return Err(
                "limits.block_txs_max, namespaces_per_block_max, gossip_batch_txs_max and gossip_hashes_max must be > 0"
                    .into(),
            );
        }
        Ok(())
    }

    /// [`Limits::validate`], plus the bounds that depend on the validator count: the receipt
    /// window must cover the deadline rule's worst case (`weft_types::receipt`):
    /// `PRECONF_LAG_HEIGHTS_MAX + 2 * validators` heights.
    pub fn validate_for(&self, validators: usize) -> Result<(), String> {
        self.validate()?;
        let floor = PRECONF_LAG_HEIGHTS_MAX + 2 * validators as u64;
        if self.preconf_window_heights < floor {
            return Err(format!(
                "limits.preconf_window_heights ({}) must be >= {floor} for {validators} validators ({PRECONF_LAG_HEIGHTS_MAX} + 2 x validators: an honest issuer's turn to lead, and a retry, within the window)",
                self.preconf_window_heights
            ));
        }
        if self.preconf_window_heights > PRECONF_WINDOW_HEIGHTS_MAX {
            return Err(format!(
                "limits.preconf_window_heights ({}) must be <= {PRECONF_WINDOW_HEIGHTS_MAX} (it bounds the size of broken-promise evidence)",
                self.preconf_window_heights
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_receipt_window_is_bounded_both_ways() {
        let limits = |w| Limits {
            preconf_window_heights: w,
            ..Limits::default()
        };
        assert_eq!(
            limits(DEFAULT_PRECONF_WINDOW_HEIGHTS).validate_for(4),
            Ok(())
        );
        // 8 + 2 x 4 = 16 heights for four validators.
        assert_eq!(limits(16).validate_for(4), Ok(()));
        assert!(limits(15).validate_for(4).unwrap_err().contains(">= 16"));
        assert!(limits(PRECONF_WINDOW_HEIGHTS_MAX + 1)
            .validate_for(4)
            .unwrap_err()
            .contains("<= 1024"));
    }
}
