//! Client subcommands: `weft tx ...`, `weft block ...`.

use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use clap::Subcommand;
use commonware_codec::Encode as _;
use std::path::PathBuf;
use weft_client::Client;
use weft_types::{NamespaceId, Transaction};

/// The validator set, as a validator reports it (to verify receipts against).
pub async fn validator_keys(client: &Client) -> Result<Vec<weft_types::VerifyingKey>> {
    use commonware_codec::DecodeExt as _;
    client
        .validators()
        .await?
        .iter()
        .map(|v| {
            let bytes =
                weft_types::from_hex_fixed::<32>(&v.public_key).map_err(anyhow::Error::msg)?;
            weft_types::VerifyingKey::decode(bytes.to_vec())
                .map_err(|e| anyhow::anyhow!("validator key: {e}"))
        })
        .collect()
}

/// Default RPC URL: validator 0 of `weft devnet`.
pub const DEFAULT_RPC: &str = "http://127.0.0.1:9001";

#[derive(Subcommand)]
pub enum TxCommand {
    /// Sign and submit a transaction; prints its hash.
    Send {
        /// Validator RPC URL.
        #[arg(long, default_value = DEFAULT_RPC)]
        rpc: String,
        /// Namespace (rollup id).
        #[arg(long)]
        namespace: u64,
        /// Payload as text (use --hex for hex).
        #[arg(long)]
        data: String,
        /// Interpret --data as hex.
        #[arg(long)]
        hex: bool,
        /// Sender key file (created if missing).
        #[arg(long, default_value = "weft-client.key")]
        key: PathBuf,
        /// Nonce (default: the sender's next nonce, asked from the validator).
        #[arg(long)]
        nonce: Option<u64>,
        /// Wait until the transaction is finalized and print its status.
        #[arg(long)]
        wait: bool,
    },
    /// Print a transaction's status.
    Status {
        /// Validator RPC URL.
        #[arg(long, default_value = DEFAULT_RPC)]
        rpc: String,
        /// Transaction hash.
        hash: String,
    },
}

#[derive(Subcommand)]
pub enum NsCommand {
    /// Stream a namespace's finalized transactions from a height, live; resumes across
    /// disconnects without gaps or duplicates. Ctrl-C stops.
    Watch {
        /// Validator RPC URL (the WebSocket is on the same port).
        #[arg(long, default_value = DEFAULT_RPC)]
        rpc: String,
        /// Namespace.
        namespace: u64,
        /// First height.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Verify every block's namespace proof and finality against this genesis file's
        /// validators instead of trusting the node.
        #[arg(long)]
        genesis: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum BlockCommand {
    /// Print the block at a height (or the head, or by --hash).
    Get {
        /// Validator RPC URL.
        #[arg(long, default_value = DEFAULT_RPC)]
        rpc: String,
        /// Height; the head if omitted.
        height: Option<u64>,
        /// Block hash instead of a height.
        #[arg(long, conflicts_with = "height")]
        hash: Option<String>,
        /// Include full transactions.
        #[arg(long)]
        full: bool,
    },
    /// Measure the finality gap at epoch boundaries: the time between the local finality of
    /// consecutive blocks (`finalized_at_ms`, one validator's clock), at boundaries (the
    /// previous block in another epoch) and within epochs, as percentiles.
    Gaps {
        /// Validator RPC URL.
        #[arg(long, default_value = DEFAULT_RPC)]
        rpc: String,
        /// Blocks to read, ending at the head.
        #[arg(long, default_value_t = 2_000)]
        blocks: u64,
    },
}

/// Most blocks `weft block gaps` reads (one RPC call each).
pub const GAPS_BLOCKS_MAX: u64 = 100_000;

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn load_or_create_key(path: &std::path::Path) -> Result<weft_types::SigningKey> {
    if path.exists() {
        return Ok(weft_node::read_key(path)?);
    }
    let key = weft_node::generate_key();
    weft_node::write_key(path, &key)?;
    eprintln!("created sender key {}", path.display());
    Ok(key)
}

pub fn tx(cmd: TxCommand) -> Result<()> {
    let rt = runtime()?;
    match cmd {
        TxCommand::Send {
            rpc,
            namespace,
            data,
            hex,
            key,
            nonce,
            wait,
        } => {
            let key = load_or_create_key(&key)?;
            let payload = if hex {
                ::hex::decode(data.trim_start_matches("0x")).context("--data is not hex")?
            } else {
                data.into_bytes()
            };
            let client = Client::new(&rpc)?;
            rt.block_on(async {
                let nonce = match nonce {
                    Some(n) => n,
                    None => {
                        use commonware_cryptography::Signer as _;
                        let sender = weft_types::to_hex(key.public_key().as_ref());
                        client.next_nonce(&sender).await?.next
                    }
                };
                let chain = client.chain_id().await?;
                let tx = Transaction::sign(
                    &key,
                    &chain,
                    NamespaceId(namespace),
                    nonce,
                    Bytes::from(payload),
                );
                let hash = client
                    .send_transaction(&weft_types::to_hex(&tx.encode()))
                    .await
                    .map_err(|e| anyhow::anyhow!("submission rejected: {e}"))?;
                println!("{hash}");
                if wait {
                    for _ in 0..600 {
                        let status = client.transaction_status(&hash).await?;
                        if !matches!(status, weft_client::types::TxStatus::Pending) {
                            println!("{}", serde_json::to_string_pretty(&status)?);
                            return Ok(());
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                    bail!("transaction still pending after 30 s");
                }
                Ok(())
            })
        }
        TxCommand::Status { rpc, hash } => {
            let client = Client::new(&rpc)?;
            let status = rt.block_on(client.transaction_status(&hash))?;
            println!("{}", serde_json::to_string_pretty(&status)?);
            Ok(())
        }
    }
}

pub fn block(cmd: BlockCommand) -> Result<()> {
    let rt = runtime()?;
    match cmd {
        BlockCommand::Get {
            rpc,
            height,
            hash,
            full,
        } => {
            let client = Client::new(&rpc)?;
            rt.block_on(async {
                if let Some(hash) = hash {
                    match client.block_by_hash(&hash, full).await? {
                        Some(b) => println!("{}", serde_json::to_string_pretty(&b)?),
                        None => bail!("no finalized block with hash {hash}"),
                    }
                    return Ok(());
                }
                let height = match height {
                    Some(h) => h,
                    None => {
                        client
                            .head()
                            .await?
                            .context("no finalized block yet")?
                            .height
                    }
                };
                match client.block(height, full).await? {
                    Some(b) => println!("{}", serde_json::to_string_pretty(&b)?),
                    None => bail!("no finalized block at height {height}"),
                }
                Ok(())
            })
        }
        BlockCommand::Gaps { rpc, blocks } => {
            if !(2..=GAPS_BLOCKS_MAX).contains(&blocks) {
                bail!("--blocks must be within 2..={GAPS_BLOCKS_MAX}");
            }
            let client = Client::new(&rpc)?;
            rt.block_on(async {
                let head = client
                    .head()
                    .await?
                    .context("no finalized block yet")?
                    .height;
                let from = head.saturating_sub(blocks - 1).max(1);
                let mut previous: Option<(u64, u64)> = None;
                let (mut boundary, mut within) = (Vec::new(), Vec::new());
                for height in from..=head {
                    let block = client
                        .block(height, false)
                        .await?
                        .with_context(|| format!("no finalized block at height {height}"))?;
                    let at = block
                        .finalized_at_ms
                        .with_context(|| format!("block {height} has no finality time"))?;
                    if let Some((epoch, before)) = previous {
                        let gap = at.saturating_sub(before);
                        if block.header.epoch != epoch {
                            boundary.push(gap);
                        } else {
                            within.push(gap);
                        }
                    }
                    previous = Some((block.header.epoch, at));
                }
                println!("blocks {from}..={head}");
                for (what, mut gaps) in
                    [("at epoch boundaries", boundary), ("within epochs", within)]
                {
                    gaps.sort_unstable();
                    if gaps.is_empty() {
                        println!("{what}: none");
                        continue;
                    }
                    let pct = |p: f64| gaps[((gaps.len() - 1) as f64 * p).round() as usize];
                    println!(
                        "{what}: {} gaps, p50 {} ms, p99 {} ms, max {} ms",
                        gaps.len(),
                        pct(0.5),
                        pct(0.99),
                        gaps[gaps.len() - 1]
                    );
                }
                Ok(())
            })
        }
    }
}

pub fn ns(cmd: NsCommand) -> Result<()> {
    let rt = runtime()?;
    match cmd {
        NsCommand::Watch {
            rpc,
            namespace,
            from,
            genesis,
        } => {
            let client = Client::new(&rpc)?;
            let mut trust = match genesis {
                Some(path) => {
                    let g = weft_node::Genesis::load(&path)?;
                    Some((
                        crate::sets::Trusted::of(&g)?,
                        weft_types::ChainId::of_genesis(
                            &g.block().map_err(|e| anyhow::anyhow!(e))?,
                        ),
                        g.limits,
                    ))
                }
                None => None,
            };
            rt.block_on(async {
                let mut stream = client.subscribe_namespace(namespace, from);
                loop {
                    let block = tokio::select! {
                        b = stream.next() => b?,
                        _ = tokio::signal::ctrl_c() => return Ok(()),
                    };
                    if let Some((trusted, chain, limits)) = &mut trust {
                        trusted.reach(&client, block.height).await?;
                        let verified = client
                            .verified_namespace(
                                namespace,
                                block.height,
                                trusted.sets(),
                                chain,
                                limits,
                            )
                            .await?
                            .context("block vanished while verifying")?;
                        if verified.transactions.len() != block.transactions.len() {
                            bail!(
                                "height {}: the stream and the verified proof disagree",
                                block.height
                            );
                        }
                    }
                    println!("{}", serde_json::to_string(&block)?);
                }
            })
        }
    }
}
