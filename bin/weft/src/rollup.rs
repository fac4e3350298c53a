//! `weft rollup token ...`: run the reference token rollup and use it.

use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use clap::Subcommand;
use commonware_codec::Encode as _;
use std::{net::SocketAddr, path::PathBuf};
use weft_client::Client;
use weft_rollup::service::{self, AccountJson, StatusJson, DEFAULT_TOKEN_NAMESPACE};
use weft_rollup_token::Transfer;
use weft_types::{NamespaceId, Transaction};

/// Default address of the token rollup's RPC.
pub const DEFAULT_TOKEN_RPC: &str = "http://127.0.0.1:9100";

#[derive(Subcommand)]
pub enum RollupCommand {
    /// The reference token rollup (and the world it runs in).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Run a rollup world from its config (TOML: `rpc`, `listen`, `data_dir`, `l1`,
    /// `[token]`, `[options]`, `[batcher]`; see `weft_rollup::config`) until Ctrl-C.
    Run {
        /// The world's config file.
        #[arg(long)]
        config: PathBuf,
    },
    /// The options rollup (runs in the token rollup's world: `token run --options-genesis`).
    Options {
        #[command(subcommand)]
        command: crate::trade::OptionsCommand,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Follow the namespace on a validator, execute transfers, and serve balances and the
    /// state root (`token_*` JSON-RPC). Runs until Ctrl-C.
    Run {
        /// Validator RPC URL to follow.
        #[arg(long, default_value = crate::client::DEFAULT_RPC)]
        rpc: String,
        /// The rollup's namespace.
        #[arg(long, default_value_t = DEFAULT_TOKEN_NAMESPACE)]
        namespace: u64,
        /// Genesis allocation (TOML `[[accounts]] public_key, balance`); empty if omitted.
        #[arg(long)]
        alloc: Option<PathBuf>,
        /// Also run the options rollup, in one world with the token rollup (TOML: namespace,
        /// oracle, escrow): bundles across the two then execute on both or on neither.
        #[arg(long)]
        options_genesis: Option<PathBuf>,
        /// Address of the rollup's RPC (also the prover coordinator's).
        #[arg(long, default_value = "127.0.0.1:9100")]
        listen: SocketAddr,
        /// Directory for the batches and proof tasks; without it the rollup only executes
        /// (no batches, no proofs, no settlement).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Embedded L1 RPC URL to settle proven batches on (needs --submitter-key).
        #[arg(long)]
        l1: Option<String>,
        /// Key file of the batch submitter the rollup's L1 registration names.
        #[arg(long)]
        submitter_key: Option<PathBuf>,
        /// Key file of the rollup's owner (the key the L1's deployment names): with it, the
        /// rollup registers itself on the L1, naming --submitter-key.
        #[arg(long)]
        owner_key: Option<PathBuf>,
        /// Most transactions per batch.
        #[arg(long, default_value_t = weft_rollup::batcher::DEFAULT_BATCH_TXS_MAX)]
        batch_txs_max: usize,
        /// Longest a transaction waits for its batch to close, in milliseconds.
        #[arg(long, default_value_t = weft_rollup::batcher::DEFAULT_BATCH_INTERVAL_MS)]
        batch_interval_ms: u64,
        /// Time a prover has to return a proof, in milliseconds.
        #[arg(long, default_value_t = weft_prover::DEFAULT_ASSIGNMENT_TIMEOUT_MS)]
        prover_timeout_ms: u64,
        /// The registered provers' public keys (hex, comma-separated): only they may pull
        /// and prove tasks.
        #[arg(long, value_delimiter = ',')]
        provers: Vec<String>,
    },
    /// Sign a transfer with a key file and submit it to Weft.
    Transfer {
        /// Validator RPC URL.
        #[arg(long, default_value = crate::client::DEFAULT_RPC)]
        rpc: String,
        /// Token rollup RPC URL (to read the sender's nonce when --nonce is omitted).
        #[arg(long, default_value = DEFAULT_TOKEN_RPC)]
        token_rpc: String,
        /// The rollup's namespace.
        #[arg(long, default_value_t = DEFAULT_TOKEN_NAMESPACE)]
        namespace: u64,
        /// Sender key file.
        #[arg(long)]
        key: PathBuf,
        /// Recipient public key (hex).
        #[arg(long)]
        to: String,
        /// Amount.
        #[arg(long)]
        amount: u64,
        /// Rollup nonce of the sender (default: asked from the token rollup).
        #[arg(long)]
        nonce: Option<u32>,
    },
    /// Print an account's balance and nonce.
    Balance {
        /// Token rollup RPC URL.
        #[arg(long, default_value = DEFAULT_TOKEN_RPC)]
        token_rpc: String,
        /// Public key (hex).
        public_key: String,
    },
    /// Print the rollup's height, state root and counters.
    Status {
        /// Token rollup RPC URL.
        #[arg(long, default_value = DEFAULT_TOKEN_RPC)]
        token_rpc: String,
    },
}

async fn token_call<T: serde::de::DeserializeOwned>(
    url: &str,
    method: &str,
    params: jsonrpsee::core::params::ArrayParams,
) -> Result<T> {
    use jsonrpsee::core::client::ClientT as _;
    let c = jsonrpsee::http_client::HttpClientBuilder::default().build(url)?;
    Ok(c.request(method, params).await?)
}

/// Runs a world until Ctrl-C.
async fn launch(cfg: weft_rollup::config::Config) -> Result<()> {
    weft_rollup::launch::run(cfg, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(anyhow::Error::msg)
}

pub fn run(cmd: RollupCommand) -> Result<()> {
    let command = match cmd {
        RollupCommand::Token { command } => command,
        RollupCommand::Options { command } => return crate::trade::options(command),
        RollupCommand::Run { config } => {
            let cfg = weft_rollup::config::Config::load(&config).map_err(anyhow::Error::msg)?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            return rt.block_on(async {
                tracing_subscriber::fmt().with_target(true).init();
                launch(cfg).await
            });
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match command {
            TokenCommand::Run {
                rpc,
                namespace,
                alloc,
                options_genesis,
                listen,
                data_dir,
                l1,
                submitter_key,
                owner_key,
                batch_txs_max,
                batch_interval_ms,
                prover_timeout_ms,
                provers,
            } => {
                tracing_subscriber::fmt().with_target(true).init();
                let options = options_genesis
                    .as_deref()
                    .map(service::OptionsGenesis::load)
                    .transpose()
                    .map_err(anyhow::Error::msg)?;
                let cfg = weft_rollup::config::Config {
                    rpc,
                    listen,
                    data_dir,
                    l1,
                    submitter_key,
                    owner_key,
                    token: weft_rollup::config::TokenConfig { namespace, alloc },
                    options,
                    batcher: weft_rollup::batcher::Config {
                        txs_max: batch_txs_max,
                        interval_ms: batch_interval_ms,
                        ..Default::default()
                    },
                    prover_timeout_ms,
                    provers,
                };
                launch(cfg).await
            }
            TokenCommand::Transfer {
                rpc,
                token_rpc,
                namespace,
                key,
                to,
                amount,
                nonce,
            } => {
                let key = weft_node::read_key(&key)?;
                let to = weft_types::from_hex_fixed::<32>(&to).map_err(anyhow::Error::msg)?;
                let from =
                    weft_types::to_hex(commonware_cryptography::Signer::public_key(&key).as_ref());
                let nonce = match nonce {
                    Some(n) => n,
                    None => {
                        let account: Option<AccountJson> = token_call(
                            &token_rpc,
                            "token_account",
                            jsonrpsee::rpc_params![from.clone()],
                        )
                        .await?;
                        account
                            .context("the sender has no account on the token rollup")?
                            .nonce
                    }
                };
                // The Weft transaction is signed by the same key; its Weft nonce is separate.
                let client = Client::new(&rpc)?;
                let weft_nonce = client.next_nonce(&from).await?.next;
                let chain = client.chain_id().await?;
                let domain = weft_rollup_token::TransferDomain {
                    chain,
                    rollup: NamespaceId(namespace),
                };
                let payload = Transfer::sign(&key, &domain, to, amount, nonce).encode();
                let tx = Transaction::sign(
                    &key,
                    &chain,
                    NamespaceId(namespace),
                    weft_nonce,
                    Bytes::from(payload),
                );
                let hash = client
                    .send_transaction(&weft_types::to_hex(&tx.encode()))
                    .await?;
                println!("{hash}");
                Ok(())
            }
            TokenCommand::Balance {
                token_rpc,
                public_key,
            } => {
                let account: Option<AccountJson> = token_call(
                    &token_rpc,
                    "token_account",
                    jsonrpsee::rpc_params![public_key],
                )
                .await?;
                match account {
                    Some(a) => println!("{}", serde_json::to_string_pretty(&a)?),
                    None => bail!("no such account"),
                }
                Ok(())
            }
            TokenCommand::Status { token_rpc } => {
                let status: StatusJson =
                    token_call(&token_rpc, "token_status", jsonrpsee::rpc_params![]).await?;
                println!("{}", serde_json::to_string_pretty(&status)?);
                Ok(())
            }
        }
    })
}
