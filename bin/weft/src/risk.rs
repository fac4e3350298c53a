//! `weft risk`: the collateral risk model (`weft_settlement::risk`) on a live network's
//! facts: the stake table from the L1, each validator's availability measured from the
//! signer sets of recent finalization certificates (verified against genesis), and the
//! value at risk the operator states.

use anyhow::{Context as _, Result};
use clap::Args as ClapArgs;
use std::collections::BTreeMap;
use std::path::PathBuf;
use weft_settlement::risk::{self, RiskInputs, ValidatorFacts};

#[derive(ClapArgs)]
pub struct Args {
    /// A Weft validator RPC (its certificates are verified, not trusted).
    #[arg(long, default_value = crate::client::DEFAULT_RPC)]
    rpc: String,
    /// The network's genesis file (the validator set that signs certificates).
    #[arg(long, default_value = "devnet-data/genesis.toml")]
    genesis: PathBuf,
    /// The embedded L1 (the stake table); without it, or with no stake bonded, validators
    /// weigh equally.
    #[arg(long, default_value = crate::l1::DEFAULT_L1_RPC)]
    l1: String,
    /// Value released downstream on Weft finality before L1 settlement, `V` (in the stake's
    /// unit).
    #[arg(long)]
    value_at_risk: f64,
    /// Safety factor `k` (corruption must cost `k * V`).
    #[arg(long, default_value_t = 2.0)]
    k: f64,
    /// Certificates per window (x/slashing's signed_blocks_window).
    #[arg(long, default_value_t = 100)]
    window: u64,
    /// Certificates per availability slot: a validator is up in a slot if it signed any of
    /// its certificates (a certificate carries only a quorum of signatures).
    #[arg(long, default_value_t = 10)]
    slot: u64,
    /// Share of the window a validator must sign (x/slashing's min_signed_per_window).
    #[arg(long, default_value_t = 0.5)]
    min_signed: f64,
    /// Probability of a common shock per window (a shared provider's outage).
    #[arg(long, default_value_t = 0.01)]
    shock_probability: f64,
    /// Share of the stake a common shock takes down.
    #[arg(long, default_value_t = 0.34)]
    shock_share: f64,
    /// Share of a validator's stake its outstanding pre-confirmations may promise.
    #[arg(long, default_value_t = 0.5)]
    preconf_bond_share: f64,
    /// Largest value one pre-confirmation promises (0: report value caps only).
    #[arg(long, default_value_t = 0.0)]
    preconf_value_max: f64,
}

/// Most heights walked to collect a window of distinct certificates.
const HEIGHTS_PER_CERTIFICATE_MAX: u64 = 4;

pub fn run(args: Args) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let genesis = weft_node::Genesis::load(&args.genesis)?;
        let validators = genesis.validator_keys().map_err(anyhow::Error::msg)?;
        let mut trusted = crate::sets::Trusted::of(&genesis)?;
        let chain = weft_types::ChainId::of_genesis(&genesis.block().map_err(anyhow::Error::msg)?);
        let client = weft_client::Client::new(&args.rpc)?;
        let head = client
            .head()
            .await?
            .context("the validator has no finalized block yet")?
            .height;
        // On a stake-driven network: every set from genesis to the head's, and the head's
        // set is the one whose risk is measured.
        trusted.reach(&client, head).await?;
        let validators = trusted
            .sets()
            .epoch_of(head)
            .and_then(|e| trusted.sets().set_of(e))
            .map_or(validators, <[_]>::to_vec);
        // Availability: the share of the last `window` distinct certificates each signed.
        anyhow::ensure!(args.slot > 0, "--slot must be > 0");
        let mut signed: BTreeMap<weft_types::VerifyingKey, u64> = BTreeMap::new();
        // Slots (runs of `slot` certificates) in which each validator signed any.
        let mut up: BTreeMap<weft_types::VerifyingKey, u64> = BTreeMap::new();
        let mut in_slot = std::collections::BTreeSet::new();
        let (mut certificates, mut seen) = (0u64, std::collections::BTreeSet::new());
        let lowest = head.saturating_sub(args.window * HEIGHTS_PER_CERTIFICATE_MAX);
        let mut height = head;
        while certificates < args.window && height > lowest {
            if let Some(f) = client.finality(height).await? {
                let bytes = hex::decode(f.certificate.trim_start_matches("0x"))?;
                let (finality, signers) =
                    weft_finality::certified_signers(&bytes, trusted.sets(), &chain)
                        .with_context(|| format!("certificate at height {height}"))?;
                weft_finality::check_epoch(trusted.sets(), f.certified_height, finality.epoch)
                    .with_context(|| format!("certificate at height {height}"))?;
                // One count per certified round, however often a node serves it.
                if seen.insert((finality.epoch, finality.view)) {
                    for s in signers {
                        *signed.entry(s.clone()).or_default() += 1;
                        in_slot.insert(s);
                    }
                    certificates += 1;
                    if certificates % args.slot == 0 {
                        for s in std::mem::take(&mut in_slot) {
                            *up.entry(s).or_default() += 1;
                        }
                    }
                }
            }
            height -= 1;
        }
        let slots = certificates / args.slot;
        anyhow::ensure!(
            slots > 0,
            "{certificates} certificates found, fewer than one slot of {}",
            args.slot
        );
        // Stake: bonded on the L1, if any validator of the set has some.
        let stakes: BTreeMap<[u8; 32], u64> = match weft_rollup::l1::L1Client::new(&args.l1)
            .map_err(anyhow::Error::msg)?
            .validators()
            .await
        {
            Ok(vs) => vs.into_iter().map(|v| (v.key, v.bonded)).collect(),
            Err(e) => {
                eprintln!("no stake table from {} ({e}): validators weigh equally", args.l1);
                BTreeMap::new()
            }
        };
        let key_bytes = |k: &weft_types::VerifyingKey| -> [u8; 32] {
            k.as_ref().try_into().expect("32-byte key")
        };
        let staked = validators
            .iter()
            .any(|k| stakes.get(&key_bytes(k)).is_some_and(|s| *s > 0));
        let facts: Vec<ValidatorFacts> = validators
            .iter()
            .map(|k| ValidatorFacts {
                key: weft_types::to_hex(k.as_ref()),
                stake: if staked {
                    stakes.get(&key_bytes(k)).copied().unwrap_or(0)
                } else {
                    1
                },
                availability: *up.get(k).unwrap_or(&0) as f64 / slots as f64,
                signed_share: *signed.get(k).unwrap_or(&0) as f64 / certificates as f64,
            })
            .collect();
        let cfg = weft_settlement::staking::StakingConfig::default();
        let inputs = RiskInputs {
            validators: facts,
            window: args.window,
            min_signed: args.min_signed,
            slash_downtime: f64::from(cfg.slash_downtime_ppm) / 1e6,
            slash_double_sign: f64::from(cfg.slash_double_sign_ppm) / 1e6,
            value_at_risk: args.value_at_risk,
            k: args.k,
            shock_probability: args.shock_probability,
            shock_share: args.shock_share,
            preconf_bond_share: args.preconf_bond_share,
            preconf_value_max: args.preconf_value_max,
            preconf_outstanding: Vec::new(),
        };
        risk::validate(&inputs).map_err(anyhow::Error::msg)?;
        let report = risk::assess(&inputs);
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "measured_over": { "certificates": certificates, "slots": slots, "from_height": height + 1, "to_height": head },
                "stake": if staked { "bonded on the L1" } else { "none bonded: equal weights" },
                "inputs": inputs,
                "report": report,
            }))?
        );
        Ok(())
    })
}
