//! The node's TOML configuration: a `[node]` section plus one section per component.

use crate::NodeError;
use serde::{Deserialize, Serialize};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

/// Devnet port layout: metrics listen on `p2p_port + DEFAULT_METRICS_PORT_OFFSET`.
pub const DEFAULT_METRICS_PORT_OFFSET: u16 = 2;
/// Default runtime worker threads.
pub const DEFAULT_WORKER_THREADS: usize = 2;
/// Default bulk threads (see `bulk`): 0, one per core the machine has (they run at lowered
/// priority, so using every core costs lone orders nothing).
pub const DEFAULT_BULK_THREADS: usize = 0;
/// Default nice steps bulk work runs below the rest of the node (see `bulk`).
pub const DEFAULT_BULK_NICE: i32 = 10;

/// `[node]`: identity, files and addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// Directory of the validator's databases (relative paths are relative to the config file).
    pub data_dir: PathBuf,
    /// File holding the validator's ed25519 key (hex).
    pub key_file: PathBuf,
    /// The network's genesis file.
    pub genesis_file: PathBuf,
    /// Address the p2p network listens on (e.g. `0.0.0.0:9000`). Peers dial the address the
    /// genesis file advertises for this validator, which may differ (NAT, containers).
    pub p2p_listen: SocketAddr,
    /// Address of the JSON-RPC server.
    pub rpc_listen: SocketAddr,
    /// Address of the Prometheus `/metrics` endpoint; none to disable.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// Runtime worker threads.
    #[serde(default = "default_worker_threads")]
    pub worker_threads: usize,
    /// Heights a signed receipt is kept (and served) after its deadline; until its deadline
    /// it is owed and always kept. About 330 bytes per receipt on disk.
    #[serde(default = "default_receipt_retention_heights")]
    pub receipt_retention_heights: u64,
    /// Threads that verify submitted batches and peers' gossip and sign a batch's receipts, at
    /// `bulk_nice` below the rest; 0 for one per core.
    #[serde(default = "default_bulk_threads")]
    pub bulk_threads: usize,
    /// Nice steps (0 to 19) by which bulk work (verifying batches and gossip) runs below
    /// the node's other threads, so a lone order's receipt does not wait for a core behind
    /// it; 0 runs it at the same priority.
    #[serde(default = "default_bulk_nice")]
    pub bulk_nice: i32,
}

fn default_bulk_threads() -> usize {
    DEFAULT_BULK_THREADS
}

fn default_bulk_nice() -> i32 {
    DEFAULT_BULK_NICE
}

fn default_receipt_retention_heights() -> u64 {
    weft_storage::DEFAULT_RECEIPT_RETENTION_HEIGHTS
}

fn default_worker_threads() -> usize {
    DEFAULT_WORKER_THREADS
}

/// A validator's full configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Identity, files, addresses.
    pub node: NodeSection,
    /// Mempool bounds.
    #[serde(default)]
    pub mempool: weft_mempool::Config,
    /// Consensus timeouts and pacing.
    #[serde(default)]
    pub consensus: weft_consensus::Config,
    /// p2p settings.
    #[serde(default)]
    pub network: weft_network::Config,
    /// RPC limits.
    #[serde(default)]
    pub rpc: weft_rpc::Config,
    /// Where this validator reports the double-signing it sees.
    #[serde(default)]
    pub slashing: crate::slashing::Config,
}

impl Config {
    /// Reads a config file, resolves relative paths against its directory, and validates it.
    pub fn load(path: &Path) -> Result<Self, NodeError> {
        let text = std::fs::read_to_string(path).map_err(|e| NodeError::io(path, e))?;
        let mut cfg: Config =
            toml::from_str(&text).map_err(|e| NodeError::config(path, e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut cfg.node.data_dir,
            &mut cfg.node.key_file,
            &mut cfg.node.genesis_file,
        ] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        cfg.validate().map_err(|e| NodeError::config(path, e))?;
        Ok(cfg)
    }

    /// Writes the config file.
    pub fn save(&self, path: &Path) -> Result<(), NodeError> {
        let text =
            toml::to_string_pretty(self).map_err(|e| NodeError::config(path, e.to_string()))?;
        std::fs::write(path, text).map_err(|e| NodeError::io(path, e))
    }

    /// Checks every section.
    pub fn validate(&self) -> Result<(), String> {
        if self.node.worker_threads == 0 {
            return Err("node.worker_threads must be > 0".into());
        }
        if self.node.bulk_threads > crate::bulk::BULK_THREADS_MAX {
            return Err(format!(
                "node.bulk_threads must be at most {} (0 for one per core), not {}",
                crate::bulk::BULK_THREADS_MAX,
                self.node.bulk_threads
            ));
        }
        if !(0..=crate::bulk::NICE_MAX).contains(&self.node.bulk_nice) {
            return Err(format!(
                "node.bulk_nice must be from 0 to {}, not {}",
                crate::bulk::NICE_MAX,
                self.node.bulk_nice
            ));
        }
        self.mempool.validate()?;
        self.consensus.validate()?;
        self.network.validate()?;
        self.slashing.validate()?;
        self.rpc.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_settings_are_bounded_with_a_clear_error() {
        let text = r#"
            [node]
            data_dir = "data"
            key_file = "validator.key"
            genesis_file = "genesis.toml"
            p2p_listen = "127.0.0.1:9000"
            rpc_listen = "127.0.0.1:9001"
        "#;
        let cfg: Config = toml::from_str(text).unwrap();
        assert_eq!(cfg.node.bulk_nice, DEFAULT_BULK_NICE);
        assert_eq!(cfg.node.bulk_threads, DEFAULT_BULK_THREADS);
        assert_eq!(cfg.validate(), Ok(()));
        let mut bad = cfg.clone();
        bad.node.bulk_nice = 20;
        assert_eq!(
            bad.validate(),
            Err("node.bulk_nice must be from 0 to 19, not 20".to_string())
        );
        bad.node.bulk_nice = -1;
        assert!(bad.validate().unwrap_err().contains("not -1"));
        let mut bad = cfg;
        bad.node.bulk_threads = 0;
        assert_eq!(bad.validate(), Ok(()), "0 is one thread per core");
        bad.node.bulk_threads = 257;
        assert_eq!(
            bad.validate(),
            Err("node.bulk_threads must be at most 256 (0 for one per core), not 257".to_string())
        );
    }
}
