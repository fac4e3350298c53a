//! The genesis file: the network's validators, wire limits and start time.

use crate::NodeError;
use commonware_codec::DecodeExt as _;
use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, path::Path};
use weft_types::{sha256, Block, Digest, Limits, VerifyingKey};

/// One validator in genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// ed25519 public key, hex.
    pub public_key: String,
    /// Address other validators dial (host:port).
    pub p2p_address: SocketAddr,
}

/// The genesis file (TOML). Every validator of a network must use the same one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// Network name; part of the genesis hash.
    pub chain_id: String,
    /// Timestamp of the genesis block, ms since the Unix epoch.
    pub genesis_time_ms: u64,
    /// Wire limits (consensus-critical).
    #[serde(default)]
    pub limits: Limits,
    /// The validators.
    pub validators: Vec<GenesisValidator>,
    /// Blocks per consensus epoch (at least 2): each epoch runs a consensus engine of its
    /// own, and a validator-set change takes effect only at an epoch boundary.
    #[serde(default = "default_epoch_length_blocks")]
    pub epoch_length_blocks: u64,
    /// Who runs epochs 2 onwards: the genesis validators for good, or the set the L1's
    /// staking program holds (every validator then needs `[slashing] l1_rpc`).
    #[serde(default)]
    pub validator_sets: ValidatorSets,
}

/// Where every epoch's validator set comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidatorSets {
    /// The genesis validators run every epoch.
    #[default]
    Genesis,
    /// Each epoch boundary announces the L1 stake table's set for the epoch after next
    /// (`weft_consensus::epochs`); validators outside genesis may join.
    Stake,
}

/// Blocks per epoch unless genesis says otherwise: about an hour at ten blocks a second, so
/// a set change waits at most that long while the boundary's brief pause (the next epoch's
/// engine starting, its first leader timing in) stays rare.
pub const DEFAULT_EPOCH_LENGTH_BLOCKS: u64 = 36_000;

fn default_epoch_length_blocks() -> u64 {
    DEFAULT_EPOCH_LENGTH_BLOCKS
}

impl Genesis {
    /// Reads and validates a genesis file.
    pub fn load(path: &Path) -> Result<Self, NodeError> {
        let text = std::fs::read_to_string(path).map_err(|e| NodeError::io(path, e))?;
        let genesis: Genesis =
            toml::from_str(&text).map_err(|e| NodeError::config(path, e.to_string()))?;
        genesis.validate().map_err(|e| NodeError::config(path, e))?;
        Ok(genesis)
    }

    /// Writes the genesis file.
    pub fn save(&self, path: &Path) -> Result<(), NodeError> {
        let text =
            toml::to_string_pretty(self).map_err(|e| NodeError::config(path, e.to_string()))?;
        std::fs::write(path, text).map_err(|e| NodeError::io(path, e))
    }

    /// Checks keys, addresses and limits.
    pub fn validate(&self) -> Result<(), String> {
        if self.validators.is_empty() {
            return Err("genesis has no validators".into());
        }
        self.limits.validate_for(self.validators.len())?;
        if self.epoch_length_blocks < 2 {
            return Err(format!(
                "epoch_length_blocks is {}: an epoch holds at least two blocks",
                self.epoch_length_blocks
            ));
        }
        // A receipt's window spans at most one boundary: its acks are counted against the
        // current epoch's set and the next's (gossip rule 6).
        if self.limits.preconf_window_heights > self.epoch_length_blocks {
            return Err(format!(
                "limits.preconf_window_heights ({}) exceeds epoch_length_blocks ({}): a receipt's window may cross at most one epoch boundary",
                self.limits.preconf_window_heights, self.epoch_length_blocks
            ));
        }
        let keys = self.validator_keys()?;
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != keys.len() {
            return Err("genesis lists a validator key twice".into());
        }
        Ok(())
    }

    /// Validator keys, in file order.
    pub fn validator_keys(&self) -> Result<Vec<VerifyingKey>, String> {
        self.validators
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let bytes = weft_types::from_hex_fixed::<32>(&v.public_key)
                    .map_err(|e| format!("validators[{i}].public_key: {e}"))?;
                VerifyingKey::decode(bytes.to_vec())
                    .map_err(|e| format!("validators[{i}].public_key: invalid ed25519 key: {e}"))
            })
            .collect()
    }

    /// Blocks per epoch, checked by [`Genesis::validate`].
    pub fn epoch_length(&self) -> std::num::NonZeroU64 {
        std::num::NonZeroU64::new(self.epoch_length_blocks).expect("validated: at least 2")
    }

    /// Hash committing to the whole genesis (chain id, time, limits, validators, epochs).
    pub fn hash(&self) -> Digest {
        let canonical = toml::to_string(self).expect("genesis serializes");
        sha256(&[b"weft/genesis/v1", canonical.as_bytes()])
    }

    /// The genesis block: height 0, no transactions, committing to the genesis hash.
    pub fn block(&self) -> Result<Block, String> {
        let keys = self.validator_keys()?;
        Ok(Block::genesis(
            self.hash(),
            keys[0].clone(),
            self.genesis_time_ms,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_roundtrip_and_errors() {
        use commonware_codec::Encode as _;
        use commonware_cryptography::Signer as _;
        let keys: Vec<_> = (0..2).map(|_| crate::generate_key()).collect();
        let genesis = Genesis {
            chain_id: "test".into(),
            genesis_time_ms: 1,
            limits: Limits::default(),
            validators: keys
                .iter()
                .enumerate()
                .map(|(i, k)| GenesisValidator {
                    public_key: weft_types::to_hex(k.public_key().encode().as_ref()),
                    p2p_address: format!("127.0.0.1:{}", 9000 + i).parse().unwrap(),
                })
                .collect(),
            epoch_length_blocks: DEFAULT_EPOCH_LENGTH_BLOCKS,
            validator_sets: ValidatorSets::Genesis,
        };
        let text = toml::to_string_pretty(&genesis).unwrap();
        let back: Genesis = toml::from_str(&text).unwrap();
        assert_eq!(back, genesis);
        assert_eq!(back.hash(), genesis.hash());
        back.validate().unwrap();
        let mut dup = genesis.clone();
        dup.validators[1].public_key = dup.validators[0].public_key.clone();
        assert!(dup.validate().unwrap_err().contains("twice"));
        let mut short = genesis.clone();
        short.epoch_length_blocks = 1;
        assert!(short
            .validate()
            .unwrap_err()
            .contains("at least two blocks"));
        short.epoch_length_blocks = short.limits.preconf_window_heights - 1;
        assert!(short
            .validate()
            .unwrap_err()
            .contains("at most one epoch boundary"));
        let mut bad = genesis;
        bad.validators[0].public_key = "0x1234".into();
        assert!(bad
            .validate()
            .unwrap_err()
            .contains("validators[0].public_key"));
    }
}
