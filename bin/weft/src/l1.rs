//! `weft l1 ...` (the embedded L1) and `weft prover` (a prover worker).

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf, sync::Arc};
use weft_rollup::l1::{TokenProgram, WeftRpcData};
use weft_rollup::service::DEFAULT_TOKEN_NAMESPACE;
use weft_settlement::{Deployment, EmbeddedL1, Program};

/// Default address of the embedded L1's RPC.
pub const DEFAULT_L1_RPC: &str = "http://127.0.0.1:9200";

#[derive(Subcommand)]
pub enum L1Command {
    /// Run the embedded L1 (a persisted local chain with the settlement contract and the
    /// rollup inboxes). Runs until Ctrl-C.
    Run {
        /// Data directory.
        #[arg(long, default_value = "./l1-data")]
        data_dir: PathBuf,
        /// RPC listen address.
        #[arg(long, default_value = "127.0.0.1:9200")]
        listen: SocketAddr,
        /// Weft validator RPC to read finalized namespace data from (verified, not trusted).
        #[arg(long, default_value = crate::client::DEFAULT_RPC)]
        weft_rpc: String,
        /// The Weft network's genesis file: its validator set certifies every block the L1
        /// reads, so the validator RPC is not trusted.
        #[arg(long)]
        genesis: PathBuf,
        /// Namespace of the token rollup (its settlement program is installed there).
        #[arg(long, default_value_t = DEFAULT_TOKEN_NAMESPACE)]
        token_namespace: u64,
        /// Public key (hex) of the token rollup's owner: the only key that may register it
        /// (and so name its batch submitter).
        #[arg(long)]
        token_owner: String,
    },
    /// Print the settled batches per rollup.
    Status {
        /// L1 RPC URL.
        #[arg(long, default_value = DEFAULT_L1_RPC)]
        l1: String,
    },
}

#[derive(Args)]
pub struct ProverArgs {
    /// The rollup's coordinator RPC URL.
    #[arg(long, default_value = crate::rollup::DEFAULT_TOKEN_RPC)]
    coordinator: String,
    /// This prover's key file: its public key must be registered with the coordinator
    /// (`provers` in the rollup world's config), and signs every request.
    #[arg(long)]
    key: PathBuf,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

pub fn run(cmd: L1Command) -> Result<()> {
    runtime()?.block_on(async move {
        match cmd {
            L1Command::Run {
                data_dir,
                listen,
                weft_rpc,
                token_namespace,
                token_owner,
                genesis,
            } => {
                let genesis = weft_node::Genesis::load(&genesis)?;
                let trust = weft_rollup::l1::WeftTrust {
                    validators: genesis.validator_keys().map_err(anyhow::Error::msg)?,
                    chain: weft_types::ChainId::of_genesis(
                        &genesis.block().map_err(anyhow::Error::msg)?,
                    ),
                    limits: genesis.limits,
                };
                let owner = weft_types::from_hex_fixed::<32>(&token_owner)
                    .map_err(|e| anyhow::anyhow!("--token-owner: {e}"))?;
                anyhow::ensure!(
                    weft_settlement::auth::is_public_key(&owner),
                    "--token-owner {token_owner} is not an ed25519 public key"
                );
                tracing_subscriber::fmt().with_target(true).init();
                std::fs::create_dir_all(&data_dir)?;
                let weft_client = weft_client::Client::new(&weft_rpc)?;
                let chain = trust.chain;
                let served = weft_client
                    .chain_id()
                    .await
                    .context("asking the Weft validator for its chain id")?;
                anyhow::ensure!(
                    served == chain,
                    "the validator at {weft_rpc} serves chain {served}, the genesis file is chain {chain}"
                );
                let domain = weft_rollup_token::TransferDomain {
                    chain,
                    rollup: weft_types::NamespaceId(token_namespace),
                };
                let program: Arc<dyn Program> = Arc::new(TokenProgram { domain });
                let rollups = BTreeMap::from([(token_namespace, Deployment { program, owner })]);
                let weft = Arc::new(WeftRpcData::new(
                    weft_client,
                    trust,
                    tokio::runtime::Handle::current(),
                ));
                let l1 = EmbeddedL1::open(
                    data_dir.join("l1.redb"),
                    weft_settlement::Config::default(),
                    chain,
                    rollups,
                    weft,
                )
                .context("opening the embedded L1")?;
                let (addr, _server) = weft_rollup::l1::serve(Arc::new(l1), listen).await?;
                println!("embedded L1 on http://{addr}, reading Weft from {weft_rpc}");
                tokio::signal::ctrl_c().await?;
                Ok(())
            }
            L1Command::Status { l1 } => {
                let client = weft_rollup::l1::L1Client::new(&l1).map_err(anyhow::Error::msg)?;
                let status = client.status().await.map_err(anyhow::Error::msg)?;
                println!("{}", serde_json::to_string_pretty(&status)?);
                Ok(())
            }
        }
    })
}

pub fn prover(args: ProverArgs) -> Result<()> {
    tracing_subscriber::fmt().with_target(true).init();
    let key = weft_node::read_key(&args.key)?;
    runtime()?.block_on(async move {
        tokio::select! {
            r = weft_rollup::worker::run(&args.coordinator, &key, weft_rollup::clock::system()) => r.map_err(anyhow::Error::msg),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}
