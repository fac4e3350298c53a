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
        /// Accounts the L1's genesis funds (TOML `[[accounts]] public_key, balance`), read
        /// when the chain is created.
        #[arg(long)]
        stake_alloc: Option<PathBuf>,
        /// Minimum bonded stake of a validator.
        #[arg(long, default_value_t = weft_settlement::staking::DEFAULT_MIN_STAKE)]
        min_stake: u64,
        /// Unbonding delay in milliseconds (default: 21 days).
        #[arg(long, default_value_t = weft_settlement::staking::DEFAULT_UNBONDING_MS)]
        unbonding_ms: u64,
        /// Downtime window, in finalized blocks.
        #[arg(long, default_value_t = weft_settlement::staking::DEFAULT_SIGNED_BLOCKS_WINDOW)]
        signed_blocks_window: u64,
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
                stake_alloc,
                min_stake,
                unbonding_ms,
                signed_blocks_window,
            } => {
                let genesis_accounts = match &stake_alloc {
                    Some(path) => read_alloc(path)?,
                    None => Vec::new(),
                };
                let genesis = weft_node::Genesis::load(&genesis)?;
                let chain =
                    weft_types::ChainId::of_genesis(&genesis.block().map_err(anyhow::Error::msg)?);
                let keys = genesis.validator_keys().map_err(anyhow::Error::msg)?;
                // A stake-driven network's sets are learned from genesis, boundary by
                // boundary (`weft_rollup::l1::follow_sets`, spawned below).
                let sets = match genesis.validator_sets {
                    weft_node::ValidatorSets::Genesis => weft_rollup::l1::TrustedSets::Fixed(keys),
                    weft_node::ValidatorSets::Stake => weft_rollup::l1::TrustedSets::learned(
                        chain,
                        genesis.epoch_length_blocks,
                        keys,
                        weft_rollup::l1::evidence_epochs_max(
                            unbonding_ms,
                            genesis.epoch_length_blocks,
                        ),
                    )
                    .map_err(anyhow::Error::msg)?,
                };
                let trust = weft_rollup::l1::WeftTrust {
                    sets,
                    chain,
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
                tokio::spawn(weft_rollup::l1::follow_sets(
                    trust.sets.clone(),
                    weft_client.clone(),
                ));
                let weft = Arc::new(WeftRpcData::new(
                    weft_client,
                    trust.clone(),
                    tokio::runtime::Handle::current(),
                ));
                let cfg = weft_settlement::Config {
                    staking: weft_settlement::staking::StakingConfig {
                        min_stake,
                        unbonding_ms,
                        signed_blocks_window,
                        ..Default::default()
                    },
                    ..Default::default()
                };
                let staking = weft_settlement::StakingDeployment {
                    genesis_accounts,
                    evidence: Some(Arc::new(weft_rollup::l1::WeftEvidence {
                        trust: trust.clone(),
                        window: cfg.staking.signed_blocks_window,
                        min_signed_ppm: cfg.staking.min_signed_ppm,
                    })),
                };
                let l1 = EmbeddedL1::open_with(
                    data_dir.join("l1.redb"),
                    cfg,
                    chain,
                    rollups,
                    weft,
                    staking,
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

/// Reads `[[accounts]] public_key, balance` from a TOML file.
fn read_alloc(path: &std::path::Path) -> Result<Vec<([u8; 32], u64)>> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Alloc {
        #[serde(default)]
        accounts: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Entry {
        public_key: String,
        balance: u64,
    }
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let alloc: Alloc = toml::from_str(&text).with_context(|| path.display().to_string())?;
    alloc
        .accounts
        .into_iter()
        .map(|e| {
            let key = weft_types::from_hex_fixed::<32>(&e.public_key)
                .map_err(|err| anyhow::anyhow!("{}: {}: {err}", path.display(), e.public_key))?;
            Ok((key, e.balance))
        })
        .collect()
}

#[derive(Subcommand)]
pub enum StakeCommand {
    /// Bond stake from the key's account to a validator (the first bond makes the key its
    /// operator).
    Bond {
        #[command(flatten)]
        who: StakeWho,
        /// Amount, in the L1's base unit.
        #[arg(long)]
        amount: u64,
    },
    /// Start unbonding stake (withdrawable after the unbonding delay, slashable until then).
    Unbond {
        #[command(flatten)]
        who: StakeWho,
        /// Amount, in the L1's base unit.
        #[arg(long)]
        amount: u64,
    },
    /// Move released unbondings back to the key's account.
    Withdraw {
        #[command(flatten)]
        who: StakeWho,
    },
    /// Bring a jailed validator back after its jail time.
    Unjail {
        #[command(flatten)]
        who: StakeWho,
    },
    /// Name where the validator listens for Weft's p2p network (its `p2p_listen` as peers
    /// reach it): a validator the stake table adds to Weft's set is dialed there.
    Locate {
        #[command(flatten)]
        who: StakeWho,
        /// `host:port`.
        #[arg(long)]
        p2p_address: String,
    },
    /// Report evidence of an offence (hex, e.g. from `weft_getPreconfirmationEvidence`); the
    /// reward goes to `--reporter`.
    Slash {
        /// L1 RPC URL.
        #[arg(long, default_value = DEFAULT_L1_RPC)]
        l1: String,
        /// The evidence's hex.
        #[arg(long)]
        evidence: String,
        /// The account (public key hex) the reward is paid to.
        #[arg(long)]
        reporter: String,
    },
    /// Build evidence that a validator was down over a window (from a validator's
    /// certificates) and report it; the reward goes to `--reporter`.
    ReportDowntime {
        /// L1 RPC URL.
        #[arg(long, default_value = DEFAULT_L1_RPC)]
        l1: String,
        /// A Weft validator RPC to read the window's certificates from.
        #[arg(long, default_value = crate::client::DEFAULT_RPC)]
        rpc: String,
        /// The validator's public key (hex).
        #[arg(long)]
        validator: String,
        /// The window's first height (a multiple of --window).
        #[arg(long)]
        from: u64,
        /// The L1's downtime window, in blocks.
        #[arg(long, default_value_t = weft_settlement::staking::DEFAULT_SIGNED_BLOCKS_WINDOW)]
        window: u64,
        /// The account (public key hex) the reward is paid to.
        #[arg(long)]
        reporter: String,
    },
    /// Report every conflicting vote pair a validator recorded (double-signing evidence,
    /// `weft_getConflicts`); each offence slashes once, the reward goes to `--reporter`.
    ReportDoubleSign {
        /// L1 RPC URL.
        #[arg(long, default_value = DEFAULT_L1_RPC)]
        l1: String,
        /// The Weft validator whose record to read.
        #[arg(long, default_value = crate::client::DEFAULT_RPC)]
        rpc: String,
        /// The account (public key hex) the reward is paid to.
        #[arg(long)]
        reporter: String,
    },
    /// Print every validator's stake, the set offered to Weft and, with --account, an
    /// account.
    Status {
        /// L1 RPC URL.
        #[arg(long, default_value = DEFAULT_L1_RPC)]
        l1: String,
        /// An account's public key (hex).
        #[arg(long)]
        account: Option<String>,
    },
}

#[derive(Args)]
pub struct StakeWho {
    /// L1 RPC URL.
    #[arg(long, default_value = DEFAULT_L1_RPC)]
    l1: String,
    /// The account's key file (signs the call).
    #[arg(long)]
    key: PathBuf,
    /// The validator's public key (hex); default: the key's own (an operator staking for
    /// its own validator key).
    #[arg(long)]
    validator: Option<String>,
    /// The Weft validator RPC (for the chain id the call is signed for).
    #[arg(long, default_value = crate::client::DEFAULT_RPC)]
    rpc: String,
}

pub fn stake(cmd: StakeCommand) -> Result<()> {
    use weft_settlement::staking::{Action, StakeCall};
    runtime()?.block_on(async move {
        let signed_call = |who: &StakeWho, make: &dyn Fn([u8; 32]) -> Action| {
            let key = weft_node::read_key(&who.key)?;
            let account = weft_settlement::auth::public_key(&key);
            let validator = match &who.validator {
                Some(v) => weft_types::from_hex_fixed::<32>(v).map_err(anyhow::Error::msg)?,
                None => account,
            };
            Ok::<_, anyhow::Error>((key, account, make(validator)))
        };
        let send = |who: StakeWho, make: &dyn Fn([u8; 32]) -> Action| {
            let prepared = signed_call(&who, make);
            async move {
                let (key, account, action) = prepared?;
                let chain = weft_client::Client::new(&who.rpc)?
                    .chain_id()
                    .await
                    .context("asking the Weft validator for its chain id")?;
                let client = weft_rollup::l1::L1Client::new(&who.l1).map_err(anyhow::Error::msg)?;
                let nonce = client
                    .account(&account)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                    .nonce;
                let call = StakeCall {
                    account,
                    nonce,
                    action,
                }
                .sign(&key, &chain);
                let receipt = client
                    .stake(&call)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("{}", serde_json::to_string_pretty(&receipt)?);
                Ok::<_, anyhow::Error>(())
            }
        };
        match cmd {
            StakeCommand::Bond { who, amount } => {
                send(who, &|validator| Action::Bond { validator, amount }).await
            }
            StakeCommand::Unbond { who, amount } => {
                send(who, &|validator| Action::Unbond { validator, amount }).await
            }
            StakeCommand::Withdraw { who } => {
                send(who, &|validator| Action::Withdraw { validator }).await
            }
            StakeCommand::Unjail { who } => {
                send(who, &|validator| Action::Unjail { validator }).await
            }
            StakeCommand::Locate { who, p2p_address } => {
                send(who, &|validator| Action::Locate {
                    validator,
                    p2p_address: p2p_address.clone(),
                })
                .await
            }
            StakeCommand::Slash {
                l1,
                evidence,
                reporter,
            } => {
                let reporter =
                    weft_types::from_hex_fixed::<32>(&reporter).map_err(anyhow::Error::msg)?;
                let client = weft_rollup::l1::L1Client::new(&l1).map_err(anyhow::Error::msg)?;
                let receipt = client
                    .slash(&evidence, &reporter)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("{}", serde_json::to_string_pretty(&receipt)?);
                Ok(())
            }
            StakeCommand::ReportDowntime {
                l1,
                rpc,
                validator,
                from,
                window,
                reporter,
            } => {
                let reporter =
                    weft_types::from_hex_fixed::<32>(&reporter).map_err(anyhow::Error::msg)?;
                let evidence = weft_client::Client::new(&rpc)?
                    .downtime_evidence(&validator, from, window)
                    .await?;
                let client = weft_rollup::l1::L1Client::new(&l1).map_err(anyhow::Error::msg)?;
                let receipt = client
                    .slash(&serde_json::to_string(&evidence)?, &reporter)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("{}", serde_json::to_string_pretty(&receipt)?);
                Ok(())
            }
            StakeCommand::ReportDoubleSign { l1, rpc, reporter } => {
                let reporter =
                    weft_types::from_hex_fixed::<32>(&reporter).map_err(anyhow::Error::msg)?;
                let node = weft_client::Client::new(&rpc)?;
                let client = weft_rollup::l1::L1Client::new(&l1).map_err(anyhow::Error::msg)?;
                let mut from = 0;
                loop {
                    let page = node.conflicts(from, 256).await?;
                    let Some(last) = page.last().map(|c| c.index) else {
                        break;
                    };
                    for c in page {
                        let evidence = format!("double-sign:{}", c.evidence);
                        match client.slash(&evidence, &reporter).await {
                            Ok(r) => {
                                println!("conflict {}: {}", c.index, serde_json::to_string(&r)?)
                            }
                            Err(e) => println!("conflict {}: refused: {e}", c.index),
                        }
                    }
                    from = last + 1;
                }
                Ok(())
            }
            StakeCommand::Status { l1, account } => {
                let client = weft_rollup::l1::L1Client::new(&l1).map_err(anyhow::Error::msg)?;
                let validators = client
                    .validators()
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let set = client
                    .validator_set()
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let account = match account {
                    Some(a) => {
                        let key =
                            weft_types::from_hex_fixed::<32>(&a).map_err(anyhow::Error::msg)?;
                        Some(
                            client
                                .account(&key)
                                .await
                                .map_err(|e| anyhow::anyhow!("{e}"))?,
                        )
                    }
                    None => None,
                };
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "validators": validators,
                        "set": set,
                        "account": account,
                    }))?
                );
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
