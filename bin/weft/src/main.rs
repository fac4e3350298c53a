//! `weft`: run a validator or a local devnet, send transactions, benchmark.

mod bench;
mod client;
mod devnet;
mod l1;
mod risk;
mod rollup;
mod sets;
mod trade;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use std::{net::SocketAddr, path::PathBuf};

#[derive(Parser)]
#[command(
    name = "weft",
    version,
    about = "Weft: a shared sequencer network for rollups"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a local multi-validator devnet (separate processes on loopback) until Ctrl-C.
    Devnet(devnet::Args),
    /// Run one validator.
    Node {
        /// The validator's TOML config.
        #[arg(long)]
        config: PathBuf,
        /// Override `node.p2p_listen`.
        #[arg(long = "node.p2p-listen")]
        p2p_listen: Option<SocketAddr>,
        /// Override `node.rpc_listen`.
        #[arg(long = "node.rpc-listen")]
        rpc_listen: Option<SocketAddr>,
        /// Override `node.data_dir`.
        #[arg(long = "node.data-dir")]
        data_dir: Option<PathBuf>,
        /// Override `mempool.txs_max`.
        #[arg(long = "mempool.txs-max")]
        mempool_txs_max: Option<usize>,
        /// Override `consensus.block_interval_ms`.
        #[arg(long = "consensus.block-interval-ms")]
        block_interval_ms: Option<u64>,
        /// Override `rpc.eth_chain_id` (the chain `eth_chainId` answers for).
        #[arg(long = "rpc.eth-chain-id")]
        eth_chain_id: Option<u64>,
        /// Override `rpc.eth_chain_ids` (comma-separated chain ids Ethereum transactions may
        /// name, on every submission path).
        #[arg(long = "rpc.eth-chain-ids", value_delimiter = ',')]
        eth_chain_ids: Option<Vec<u64>>,
        /// Log level (error, warn, info, debug, trace).
        #[arg(long, default_value = "info")]
        log_level: tracing::Level,
    },
    /// Build keys, a genesis file and one config per validator for a list of hosts.
    Genesis(devnet::GenesisArgs),
    /// Manage key files.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Send transactions and query their status.
    Tx {
        #[command(subcommand)]
        command: client::TxCommand,
    },
    /// Read a namespace (rollup).
    Ns {
        #[command(subcommand)]
        command: client::NsCommand,
    },
    /// Read blocks.
    Block {
        #[command(subcommand)]
        command: client::BlockCommand,
    },
    /// Trade across rollups in one atomic bundle (the options and token rollups).
    Trade {
        #[command(subcommand)]
        command: trade::TradeCommand,
    },
    /// Run and use rollups (the reference token and options rollups).
    Rollup {
        #[command(subcommand)]
        command: rollup::RollupCommand,
    },
    /// Load a devnet and report finalized throughput and latency.
    Bench(bench::Args),
    /// Run and read the embedded L1 (settlement).
    L1 {
        #[command(subcommand)]
        command: l1::L1Command,
    },
    /// Run a prover worker that pulls proof tasks from a rollup's coordinator.
    Prover(l1::ProverArgs),
    /// Size collateral from measured risk: liveness loss, expected slashing, cost of
    /// corruption, the minimum stake and the pre-confirmation caps.
    Risk(risk::Args),
    /// Bond, unbond and withdraw validator collateral on the L1; report offences.
    Stake {
        #[command(subcommand)]
        command: l1::StakeCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Generate a key file and print its public key.
    Generate {
        /// Where to write the key.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Node {
            config,
            p2p_listen,
            rpc_listen,
            data_dir,
            mempool_txs_max,
            block_interval_ms,
            eth_chain_id,
            eth_chain_ids,
            log_level,
        } => {
            let mut cfg = weft_node::Config::load(&config)?;
            if let Some(a) = p2p_listen {
                cfg.node.p2p_listen = a;
            }
            if let Some(a) = rpc_listen {
                cfg.node.rpc_listen = a;
            }
            if let Some(d) = data_dir {
                cfg.node.data_dir = d;
            }
            if let Some(n) = mempool_txs_max {
                cfg.mempool.txs_max = n;
            }
            if let Some(ms) = block_interval_ms {
                cfg.consensus.block_interval_ms = ms;
            }
            if eth_chain_id.is_some() {
                cfg.rpc.eth_chain_id = eth_chain_id;
            }
            if let Some(ids) = eth_chain_ids {
                cfg.rpc.eth_chain_ids = ids;
            }
            cfg.validate()
                .map_err(|e| anyhow::anyhow!("config {}: {e}", config.display()))?;
            weft_node::run(cfg, log_level)?;
            Ok(())
        }
        Command::Devnet(args) => devnet::run(args),
        Command::Genesis(args) => devnet::genesis(args),
        Command::Keys {
            command: KeysCommand::Generate { out },
        } => {
            use commonware_cryptography_free::public_hex;
            let key = weft_node::generate_key();
            weft_node::write_key(&out, &key)
                .with_context(|| format!("writing {}", out.display()))?;
            println!("{}", public_hex(&key));
            Ok(())
        }
        Command::Tx { command } => client::tx(command),
        Command::Block { command } => client::block(command),
        Command::Ns { command } => client::ns(command),
        Command::Bench(args) => bench::run(args),
        Command::Rollup { command } => rollup::run(command),
        Command::Trade { command } => trade::trade(command),
        Command::L1 { command } => l1::run(command),
        Command::Prover(args) => l1::prover(args),
        Command::Stake { command } => l1::stake(command),
        Command::Risk(args) => risk::run(args),
    }
}

/// Small helpers around keys.
mod commonware_cryptography_free {
    use weft_types::SigningKey;
    /// Hex of a key's public key.
    pub fn public_hex(key: &SigningKey) -> String {
        use commonware_cryptography::Signer as _;
        weft_types::to_hex(key.public_key().as_ref())
    }
}
