//! `weft rollup options ...` and `weft trade risk-reversal`: use the options rollup, and
//! trade against the token rollup in one atomic bundle.

use crate::rollup::DEFAULT_TOKEN_RPC;
use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use clap::Subcommand;
use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use std::{path::PathBuf, time::Duration};
use weft_client::Client;
use weft_rollup::service::{
    parse_kind, AccountJson, BundleOutcomeJson, OptionsAccountJson, OptionsStatusJson,
    DEFAULT_TOKEN_NAMESPACE,
};
use weft_rollup_options::{Op, Series, Side, TradeLeg, DEFAULT_OPTIONS_NAMESPACE};
use weft_rollup_token::Transfer;
use weft_types::{LegSpec, NamespaceId, SigningKey, Transaction};

/// Heights a bundle from these commands stays valid for.
pub const BUNDLE_VALID_HEIGHTS: u64 = 200;
/// Longest a command waits for its bundle's outcome.
const OUTCOME_WAIT_MAX: Duration = Duration::from_secs(60);

/// Where the commands reach Weft and the rollups.
#[derive(clap::Args, Clone)]
pub struct Endpoints {
    /// Validator RPC URL.
    #[arg(long, default_value = crate::client::DEFAULT_RPC)]
    pub rpc: String,
    /// Rollup RPC URL (token and options rollups, `weft devnet` runs both in one world).
    #[arg(long, default_value = DEFAULT_TOKEN_RPC)]
    pub rollup_rpc: String,
    /// Token rollup namespace.
    #[arg(long, default_value_t = DEFAULT_TOKEN_NAMESPACE)]
    pub token_namespace: u64,
    /// Options rollup namespace.
    #[arg(long, default_value_t = DEFAULT_OPTIONS_NAMESPACE)]
    pub options_namespace: u64,
}

#[derive(Subcommand)]
pub enum OptionsCommand {
    /// Print the options rollup's height, state root and oracle price.
    Status {
        #[command(flatten)]
        at: Endpoints,
    },
    /// Print an account's collateral and positions.
    Account {
        #[command(flatten)]
        at: Endpoints,
        /// Public key (hex).
        public_key: String,
    },
    /// Post the oracle price (the key must be the genesis oracle's).
    Price {
        #[command(flatten)]
        at: Endpoints,
        /// Oracle key file.
        #[arg(long)]
        key: PathBuf,
        /// Price of the underlying, in token units.
        #[arg(long)]
        price: u64,
    },
    /// Quote a series as a market maker (size 0 withdraws the quote).
    Quote {
        #[command(flatten)]
        at: Endpoints,
        /// Maker key file.
        #[arg(long)]
        key: PathBuf,
        /// call or put.
        #[arg(long)]
        kind: String,
        /// Strike.
        #[arg(long)]
        strike: u64,
        /// Expiry (Weft height).
        #[arg(long)]
        expiry: u64,
        /// Price the maker buys at.
        #[arg(long)]
        bid: u64,
        /// Price the maker sells at.
        #[arg(long)]
        ask: u64,
        /// Units on each side.
        #[arg(long)]
        size: u64,
    },
    /// Deposit collateral: one bundle of a token-rollup transfer to the escrow and the
    /// options-rollup credit.
    Deposit {
        #[command(flatten)]
        at: Endpoints,
        /// Depositor key file.
        #[arg(long)]
        key: PathBuf,
        /// Escrow public key (hex) on the token rollup (the devnet's options genesis names it).
        #[arg(long)]
        escrow: String,
        /// Amount.
        #[arg(long)]
        amount: u64,
    },
    /// Settle an expired series in cash at the oracle price.
    Settle {
        #[command(flatten)]
        at: Endpoints,
        /// Sender key file (anyone).
        #[arg(long)]
        key: PathBuf,
        /// call or put.
        #[arg(long)]
        kind: String,
        /// Strike.
        #[arg(long)]
        strike: u64,
        /// Expiry.
        #[arg(long)]
        expiry: u64,
    },
}

/// `weft trade ...`.
#[derive(Subcommand)]
pub enum TradeCommand {
    /// Buy a call and sell a put from a maker's quotes, paying the net premium from the token
    /// rollup, in one bundle: executed on both rollups or on neither. Prints the receipts,
    /// then the outcome and both rollups' state.
    RiskReversal {
        #[command(flatten)]
        at: Endpoints,
        /// Taker key file.
        #[arg(long)]
        key: PathBuf,
        /// Maker public key (hex).
        #[arg(long)]
        maker: String,
        /// Strike of the call bought.
        #[arg(long)]
        call_strike: u64,
        /// Strike of the put sold.
        #[arg(long)]
        put_strike: u64,
        /// Expiry of both (Weft height).
        #[arg(long)]
        expiry: u64,
        /// Units of each.
        #[arg(long, default_value_t = 1)]
        quantity: u64,
        /// The most net premium to pay (the options leg's precondition).
        #[arg(long)]
        premium_max: u64,
        /// Net premium to pay (default: the maker's current quotes).
        #[arg(long)]
        pay: Option<u64>,
    },
}

async fn rollup_call<T: serde::de::DeserializeOwned>(
    url: &str,
    method: &str,
    params: jsonrpsee::core::params::ArrayParams,
) -> Result<T> {
    use jsonrpsee::core::client::ClientT as _;
    let c = jsonrpsee::http_client::HttpClientBuilder::default().build(url)?;
    c.request(method, params)
        .await
        .with_context(|| format!("{method} on {url}"))
}

fn pk_hex(key: &SigningKey) -> String {
    weft_types::to_hex(key.public_key().as_ref())
}

fn rt() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Sends one plain options-rollup operation; prints its hash.
async fn send_op(at: &Endpoints, key: &SigningKey, op: Op) -> Result<()> {
    let client = Client::new(&at.rpc)?;
    let chain = client.chain_id().await?;
    let nonce = client.next_nonce(&pk_hex(key)).await?.next;
    let tx = Transaction::sign(
        key,
        &chain,
        NamespaceId(at.options_namespace),
        nonce,
        Bytes::from(op.encode()),
    );
    let hash = client
        .send_transaction(&weft_types::to_hex(&tx.encode()))
        .await?;
    println!("{hash}");
    Ok(())
}

/// The token-rollup transfer `key` -> `to` of `amount`, at the sender's next rollup nonce.
async fn token_transfer(
    at: &Endpoints,
    chain: weft_types::ChainId,
    key: &SigningKey,
    to: [u8; 32],
    amount: u64,
) -> Result<Vec<u8>> {
    let account: Option<AccountJson> = rollup_call(
        &at.rollup_rpc,
        "token_account",
        jsonrpsee::rpc_params![pk_hex(key)],
    )
    .await?;
    let nonce = account
        .context("the payer has no account on the token rollup")?
        .nonce;
    let domain = weft_rollup_token::TransferDomain {
        chain,
        rollup: NamespaceId(at.token_namespace),
    };
    Ok(Transfer::sign_leg(key, &domain, to, amount, nonce).encode())
}

/// Signs and sends a bundle of `(namespace, payload)` legs, all from `key` at its next Weft
/// nonces; prints the bundle id and each leg's receipt (verified offline), waits for the
/// outcome and returns it.
async fn send_bundle(
    at: &Endpoints,
    key: &SigningKey,
    legs: Vec<(u64, Vec<u8>)>,
) -> Result<BundleOutcomeJson> {
    let client = Client::new(&at.rpc)?;
    let chain = client.chain_id().await?;
    let head = client.head().await?.map_or(0, |h| h.height);
    let first = client.next_nonce(&pk_hex(key)).await?.next;
    let specs: Vec<(&SigningKey, LegSpec)> = legs
        .into_iter()
        .enumerate()
        .map(|(i, (ns, payload))| {
            (
                key,
                LegSpec {
                    namespace: NamespaceId(ns),
                    nonce: first + i as u64,
                    payload: Bytes::from(payload),
                },
            )
        })
        .collect();
    let signed = Transaction::sign_bundle(&chain, head + BUNDLE_VALID_HEIGHTS, &specs)
        .context("a bundle has 2 to 8 legs")?;
    let started = std::time::Instant::now();
    let accepted = client.send_bundle(&signed).await?;
    let receipt_ms = started.elapsed().as_millis();
    println!("bundle {} accepted in {receipt_ms} ms", accepted.bundle_id);
    let validators = crate::client::validator_keys(&client).await?;
    for (leg, (tx, a)) in signed.iter().zip(&accepted.legs).enumerate() {
        match &a.receipt {
            Some(r) => {
                let receipt = weft_client::verify_receipt_for(
                    r,
                    tx,
                    &chain,
                    &validators,
                    weft_types::DEFAULT_PRECONF_WINDOW_HEIGHTS,
                )
                .map_err(|e| anyhow::anyhow!("leg {leg}'s receipt does not verify: {e}"))?;
                println!(
                    "  leg {leg} (namespace {}): tx {} pre-confirmed with its whole bundle by {}, due by height {} (signature verified)",
                    tx.namespace(),
                    a.hash,
                    weft_types::to_hex(&receipt.promise.issuer.as_ref()[..8]),
                    receipt.promise.deadline_height
                );
            }
            None => println!(
                "  leg {leg} (namespace {}): tx {} accepted without a receipt (the bundle could not be promised: docs/bundles.md, P4)",
                tx.namespace(),
                a.hash
            ),
        }
    }
    let deadline = std::time::Instant::now() + OUTCOME_WAIT_MAX;
    loop {
        let outcome: Option<BundleOutcomeJson> = rollup_call(
            &at.rollup_rpc,
            "rollup_bundle",
            jsonrpsee::rpc_params![accepted.bundle_id.clone()],
        )
        .await?;
        if let Some(o) = outcome {
            println!(
                "finalized at height {} in {} ms: {}",
                o.height,
                started.elapsed().as_millis(),
                match &o.reason {
                    None => "EXECUTED on every rollup".to_string(),
                    Some(r) => format!("REVERTED on every rollup ({r})"),
                }
            );
            for (ns, root) in &o.roots {
                println!("  namespace {ns} state root {root}");
            }
            return Ok(o);
        }
        if std::time::Instant::now() > deadline {
            bail!(
                "no outcome for bundle {} within {OUTCOME_WAIT_MAX:?}",
                accepted.bundle_id
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn series(kind: &str, strike: u64, expiry: u64) -> Result<Series> {
    Ok(Series {
        kind: parse_kind(kind).map_err(anyhow::Error::msg)?,
        strike,
        expiry,
    })
}

async fn print_state(at: &Endpoints, who: &[(&str, String)]) -> Result<()> {
    for (name, key) in who {
        let token: Option<AccountJson> = rollup_call(
            &at.rollup_rpc,
            "token_account",
            jsonrpsee::rpc_params![key.clone()],
        )
        .await?;
        let options: Option<OptionsAccountJson> = rollup_call(
            &at.rollup_rpc,
            "options_account",
            jsonrpsee::rpc_params![key.clone()],
        )
        .await?;
        println!(
            "  {name}: token balance {}; options {}",
            token.map_or(0, |a| a.balance),
            serde_json::to_string(&options)?
        );
    }
    Ok(())
}

/// `weft rollup options ...`.
pub fn options(cmd: OptionsCommand) -> Result<()> {
    rt()?.block_on(async move {
        match cmd {
            OptionsCommand::Status { at } => {
                let s: Option<OptionsStatusJson> =
                    rollup_call(&at.rollup_rpc, "options_status", jsonrpsee::rpc_params![]).await?;
                let s = s.context("this rollup node does not run the options rollup")?;
                println!("{}", serde_json::to_string_pretty(&s)?);
            }
            OptionsCommand::Account { at, public_key } => {
                let a: Option<OptionsAccountJson> = rollup_call(
                    &at.rollup_rpc,
                    "options_account",
                    jsonrpsee::rpc_params![public_key],
                )
                .await?;
                println!("{}", serde_json::to_string_pretty(&a)?);
            }
            OptionsCommand::Price { at, key, price } => {
                send_op(&at, &weft_node::read_key(&key)?, Op::PostPrice { price }).await?
            }
            OptionsCommand::Quote {
                at,
                key,
                kind,
                strike,
                expiry,
                bid,
                ask,
                size,
            } => {
                let series = series(&kind, strike, expiry)?;
                let op = Op::Quote {
                    series,
                    bid,
                    ask,
                    size,
                };
                send_op(&at, &weft_node::read_key(&key)?, op).await?
            }
            OptionsCommand::Settle {
                at,
                key,
                kind,
                strike,
                expiry,
            } => {
                let series = series(&kind, strike, expiry)?;
                send_op(&at, &weft_node::read_key(&key)?, Op::Settle { series }).await?
            }
            OptionsCommand::Deposit {
                at,
                key,
                escrow,
                amount,
            } => {
                let key = weft_node::read_key(&key)?;
                let escrow =
                    weft_types::from_hex_fixed::<32>(&escrow).map_err(anyhow::Error::msg)?;
                let chain = Client::new(&at.rpc)?.chain_id().await?;
                let pay = token_transfer(&at, chain, &key, escrow, amount).await?;
                let legs = vec![
                    (at.options_namespace, Op::Deposit { amount }.encode()),
                    (at.token_namespace, pay),
                ];
                let outcome = send_bundle(&at, &key, legs).await?;
                if !outcome.executed {
                    bail!("the deposit reverted");
                }
            }
        }
        Ok(())
    })
}

/// `weft trade ...`.
pub fn trade(cmd: TradeCommand) -> Result<()> {
    let TradeCommand::RiskReversal {
        at,
        key,
        maker,
        call_strike,
        put_strike,
        expiry,
        quantity,
        premium_max,
        pay,
    } = cmd;
    rt()?.block_on(async move {
        let key = weft_node::read_key(&key)?;
        let maker_key = weft_types::from_hex_fixed::<32>(&maker).map_err(anyhow::Error::msg)?;
        let call = series("call", call_strike, expiry)?;
        let put = series("put", put_strike, expiry)?;
        // The net premium at the maker's quotes now: the options leg recomputes it at the
        // bundle's position and reverts the whole bundle if it moved past --premium-max.
        let quote = |s: Series| {
            let at = at.clone();
            let maker = maker.clone();
            async move {
                let q: Option<(u64, u64, u64)> = rollup_call(
                    &at.rollup_rpc,
                    "options_quote",
                    jsonrpsee::rpc_params![
                        maker,
                        weft_rollup::service::kind_name(s.kind),
                        s.strike,
                        s.expiry
                    ],
                )
                .await?;
                q.with_context(|| format!("the maker has no quote on the {:?} {}", s.kind, s.strike))
            }
        };
        let (call_q, put_q) = (quote(call).await?, quote(put).await?);
        let net = (call_q.1 * quantity).saturating_sub(put_q.0 * quantity);
        let pay = pay.unwrap_or(net);
        println!(
            "risk reversal: buy {quantity} call {call_strike} at {} and sell {quantity} put {put_strike} at {} (expiry {expiry}); net premium {net}, paying {pay}, limit {premium_max}",
            call_q.1, put_q.0
        );
        let chain = Client::new(&at.rpc)?.chain_id().await?;
        let payment = token_transfer(&at, chain, &key, maker_key, pay).await?;
        let trade = Op::Trade {
            maker: maker_key,
            legs: vec![
                TradeLeg {
                    series: call,
                    side: Side::Buy,
                    quantity,
                },
                TradeLeg {
                    series: put,
                    side: Side::Sell,
                    quantity,
                },
            ],
            premium_max,
        };
        let legs = vec![
            (at.options_namespace, trade.encode()),
            (at.token_namespace, payment),
        ];
        send_bundle(&at, &key, legs).await?;
        print_state(&at, &[("taker", pk_hex(&key)), ("maker", maker)]).await?;
        Ok(())
    })
}
