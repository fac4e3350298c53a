//! A rollup world's configuration (`weft rollup run --config world.toml`): which rollups run
//! together, where they follow Weft, and whether the token rollup batches and settles.
//!
//! Every node of a rollup must run the same world (the bundle outcome rule O1 depends on
//! which namespaces it executes), so this file is part of the rollups' genesis together with
//! the token allocation and the options genesis it names.

use crate::service::OptionsGenesis;
use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, path::PathBuf};

/// Default validator RPC a world follows.
pub const DEFAULT_RPC: &str = "http://127.0.0.1:9001";
/// Default address of the world's RPC (rollups and prover coordinator).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9100";

/// A rollup world.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Validator RPC URL to follow.
    #[serde(default = "default_rpc")]
    pub rpc: String,
    /// Address of the world's RPC.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Directory for batches and proof tasks; without it the token rollup only executes.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// Embedded L1 RPC URL to settle proven batches on (needs `data_dir` and
    /// `submitter_key`).
    #[serde(default)]
    pub l1: Option<String>,
    /// Key file of the token rollup's batch submitter: the only key its L1 registration
    /// lets submit batches (`weft_settlement::auth` rule A2).
    #[serde(default)]
    pub submitter_key: Option<PathBuf>,
    /// Key file of the token rollup's owner, the key its L1 deployment names (rule A1). With
    /// it, the world registers the rollup naming `submitter_key`; without it, the owner must
    /// have registered it. Keep it off the node where that is done another way.
    #[serde(default)]
    pub owner_key: Option<PathBuf>,
    /// The token rollup.
    #[serde(default)]
    pub token: TokenConfig,
    /// The options rollup, run in the same world when present.
    #[serde(default)]
    pub options: Option<OptionsGenesis>,
    /// The token rollup's batches.
    #[serde(default)]
    pub batcher: crate::batcher::Config,
    /// Time a prover has to return a proof, in milliseconds.
    #[serde(default = "default_prover_timeout_ms")]
    pub prover_timeout_ms: u64,
    /// The registered provers' public keys (hex): only they may pull and prove this world's
    /// tasks (`weft_prover::auth`).
    #[serde(default)]
    pub provers: Vec<String>,
}

/// The token rollup in a world.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Its namespace.
    #[serde(default = "default_token_namespace")]
    pub namespace: u64,
    /// Genesis allocation (TOML `[[accounts]] public_key, balance`); empty if absent.
    #[serde(default)]
    pub alloc: Option<PathBuf>,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            namespace: crate::service::DEFAULT_TOKEN_NAMESPACE,
            alloc: None,
        }
    }
}

fn default_rpc() -> String {
    DEFAULT_RPC.into()
}
fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN.parse().expect("a valid default address")
}
fn default_token_namespace() -> u64 {
    crate::service::DEFAULT_TOKEN_NAMESPACE
}
fn default_prover_timeout_ms() -> u64 {
    weft_prover::DEFAULT_ASSIGNMENT_TIMEOUT_MS
}

impl Config {
    /// Reads a world file.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let cfg: Self = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        cfg.validate()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(cfg)
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), String> {
        if self.l1.is_some() && self.data_dir.is_none() {
            return Err("l1 needs data_dir (batches are cut and proven before they settle)".into());
        }
        if self.l1.is_some() && self.submitter_key.is_none() {
            return Err("l1 needs submitter_key (the L1 settles only batches its registered submitter signs)".into());
        }
        if let Some(o) = &self.options {
            if o.namespace == self.token.namespace {
                return Err(format!(
                    "options.namespace and token.namespace are both {}",
                    o.namespace
                ));
            }
        }
        self.batcher.validate()?;
        weft_prover::Config {
            assignment_timeout_ms: self.prover_timeout_ms,
            provers: self.provers.clone(),
            ..Default::default()
        }
        .validate()
        .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_world_file_parses_with_defaults_and_bad_ones_say_why() {
        let cfg: Config = toml::from_str(
            "data_dir = \"d\"\nl1 = \"http://x\"\nsubmitter_key = \"s.key\"\n[options]\noracle = \"0x01\"\nescrow = \"0x02\"\n",
        )
        .unwrap();
        assert_eq!(cfg.token.namespace, 7);
        assert_eq!(cfg.options.as_ref().unwrap().namespace, 8);
        cfg.validate().unwrap();
        let no_dir: Config = toml::from_str("l1 = \"http://x\"\n").unwrap();
        assert!(no_dir.validate().unwrap_err().contains("data_dir"));
        let no_key: Config = toml::from_str("l1 = \"http://x\"\ndata_dir = \"d\"\n").unwrap();
        assert!(no_key.validate().unwrap_err().contains("submitter_key"));
        let clash: Config = toml::from_str(
            "[token]\nnamespace = 8\n[options]\noracle = \"0x01\"\nescrow = \"0x02\"\n",
        )
        .unwrap();
        assert!(clash.validate().unwrap_err().contains("both 8"));
        assert!(toml::from_str::<Config>("bogus = 1\n").is_err());
    }
}
