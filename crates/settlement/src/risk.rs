//! The collateral risk model: how much stake Weft needs, from measured facts.
//!
//! Inputs: the stake table, each validator's measured participation in recent finalization
//! certificates, the value at risk downstream `V` (what rollups and bridges release on Weft
//! finality before L1 settlement), and the outstanding pre-confirmation liability.
//!
//! Participation is measured twice. A certificate carries a quorum of signatures, not every
//! vote: a live but slower validator is often left out, so one missing signature is not
//! downtime. *Availability* `a_i` is the share of slots (runs of consecutive certificates)
//! in which the validator signed at least one certificate: what liveness depends on. The
//! *signed share* `g_i` is the share of single certificates it signed: what the downtime rule
//! counts. Formulas, with the assumptions they rest on:
//!
//! 1. **Liveness loss.** Weft halts when more than a third of the stake is offline at once.
//!    With validator `i` offline with probability `q_i = 1 - a_i`, *independently*, the
//!    offline stake is a weighted sum of Bernoulli variables; its distribution is computed
//!    exactly on a grid of [`STAKE_GRID`] stake units (a dynamic program over validators), so
//!    `P_liveness = P(offline stake > S/3)` carries at most one grid unit of rounding per
//!    validator. Independence is optimistic: validators share clouds, regions and software.
//! 2. **Correlated variant.** A common shock (a provider or client-release outage) with
//!    probability `rho` per window takes a share `c` of the stake down together; otherwise
//!    validators fail independently as in 1: `P_corr = rho * P(shock leaves more than S/3
//!    offline) + (1 - rho) * P_liveness`, with the shock's survivors still failing
//!    independently.
//! 3. **Expected downtime slashing.** Validator `i` is slashed `f_down` of its stake when it
//!    signs fewer than `min_signed` of the `window` certificates. With `g_i` per
//!    certificate, independently, that is a binomial tail: `E = sum_i P(Bin(window, g_i) <
//!    min_signed * window) * f_down * s_i`.
//! 4. **Cost of corruption.** Breaking safety takes more than a third of the stake signing
//!    two conflicting blocks; all of it is provably slashable (double-signing), so the cost
//!    is `C = f_ds * S / 3` for the configured slash fraction `f_ds`, and corruption does not
//!    pay while `C >= k * V`. The minimum total stake is `S_min = 3 * k * V / f_ds`
//!    (`3 * k * V` if double-signing took the whole stake, the usual statement).
//! 5. **Pre-confirmation liability cap.** A validator's outstanding receipts may promise at
//!    most the share `b` of its stake that a broken promise can take: `cap_i = b * s_i`, or
//!    `floor(cap_i / v_max)` receipts of value at most `v_max` each.

use serde::{Deserialize, Serialize};

/// Grid the offline-stake distribution is computed on, in units of the total stake.
pub const STAKE_GRID: usize = 10_000;
/// Most validators the model takes (bounds its work: validators x grid steps).
pub const VALIDATORS_MAX: usize = 1_000;
/// Longest certificate window (bounds the binomial sums).
pub const WINDOW_MAX: u64 = 100_000;

/// One validator's facts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidatorFacts {
    /// Its key (hex).
    pub key: String,
    /// Its stake.
    pub stake: u64,
    /// The share of slots of consecutive certificates in which it signed at least one, in
    /// [0, 1] (liveness, formulas 1 and 2).
    pub availability: f64,
    /// The share of single certificates it signed, in [0, 1] (the downtime rule, formula 3).
    pub signed_share: f64,
}

/// The model's parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RiskInputs {
    /// The validators.
    pub validators: Vec<ValidatorFacts>,
    /// Certificates per downtime window.
    pub window: u64,
    /// Share of the window a validator must sign (x/slashing's `min_signed_per_window`).
    pub min_signed: f64,
    /// Slash for downtime, a fraction.
    pub slash_downtime: f64,
    /// Slash for double-signing, a fraction.
    pub slash_double_sign: f64,
    /// Value at risk downstream, `V`.
    pub value_at_risk: f64,
    /// Safety factor `k`.
    pub k: f64,
    /// Probability of a common shock per window, `rho`.
    pub shock_probability: f64,
    /// Share of the stake a shock takes down, `c`.
    pub shock_share: f64,
    /// Share of a validator's stake its outstanding receipts may promise, `b`.
    pub preconf_bond_share: f64,
    /// Largest value one receipt promises, `v_max` (0: report the value cap only).
    pub preconf_value_max: f64,
    /// Outstanding pre-confirmation liability now, per validator (optional, by key).
    #[serde(default)]
    pub preconf_outstanding: Vec<(String, f64)>,
}

/// What the model says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RiskReport {
    /// Total stake `S`.
    pub total_stake: u64,
    /// Formula 1.
    pub p_liveness_loss: f64,
    /// Formula 2.
    pub p_liveness_loss_correlated: f64,
    /// Formula 3.
    pub expected_downtime_slash: f64,
    /// Formula 4: `f_ds * S / 3`.
    pub cost_of_corruption: f64,
    /// Formula 4: `k * V`.
    pub required_cost: f64,
    /// Whether `cost_of_corruption >= required_cost`.
    pub secure: bool,
    /// Formula 4: `3 k V / f_ds`.
    pub min_total_stake: f64,
    /// Formula 4 with the whole stake slashable: `3 k V`.
    pub min_total_stake_full_slash: f64,
    /// Formula 5, per validator.
    pub preconf_caps: Vec<PreconfCap>,
}

/// One validator's pre-confirmation cap (formula 5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PreconfCap {
    /// Its key (hex).
    pub key: String,
    /// `b * s_i`.
    pub value_cap: f64,
    /// `floor(value_cap / v_max)`, if `v_max > 0`.
    pub receipts_cap: Option<u64>,
    /// Its outstanding liability, if given.
    pub outstanding: Option<f64>,
    /// Whether the outstanding liability is above the cap.
    pub over_cap: bool,
}

/// Checks the inputs: bounded sizes, probabilities in [0, 1].
pub fn validate(inputs: &RiskInputs) -> Result<(), String> {
    if inputs.validators.is_empty() || inputs.validators.len() > VALIDATORS_MAX {
        return Err(format!(
            "{} validators; the model takes 1 to {VALIDATORS_MAX}",
            inputs.validators.len()
        ));
    }
    if inputs.window == 0 || inputs.window > WINDOW_MAX {
        return Err(format!("window {}; 1 to {WINDOW_MAX}", inputs.window));
    }
    let unit = |name: &str, v: f64| {
        if (0.0..=1.0).contains(&v) {
            Ok(())
        } else {
            Err(format!("{name} is {v}, not in [0, 1]"))
        }
    };
    for v in &inputs.validators {
        unit(&format!("{}'s availability", v.key), v.availability)?;
        unit(&format!("{}'s signed share", v.key), v.signed_share)?;
    }
    unit("min_signed", inputs.min_signed)?;
    unit("slash_downtime", inputs.slash_downtime)?;
    unit("slash_double_sign", inputs.slash_double_sign)?;
    unit("shock_probability", inputs.shock_probability)?;
    unit("shock_share", inputs.shock_share)?;
    unit("preconf_bond_share", inputs.preconf_bond_share)?;
    for (name, v) in [
        ("value_at_risk", inputs.value_at_risk),
        ("k", inputs.k),
        ("preconf_value_max", inputs.preconf_value_max),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(format!("{name} is {v}, not a finite value >= 0"));
        }
    }
    if inputs
        .validators
        .iter()
        .map(|v| v.stake as u128)
        .sum::<u128>()
        == 0
    {
        return Err("the total stake is 0".into());
    }
    Ok(())
}

/// The offline-stake distribution on the grid (formula 1): `dist[g]` is the probability
/// that `g` grid units of stake are offline, for stakes `weights` (grid units) each offline
/// with probability `q`.
fn offline_distribution(weights: &[(usize, f64)]) -> Vec<f64> {
    let total: usize = weights.iter().map(|(w, _)| w).sum();
    let mut dist = vec![0.0; total + 1];
    dist[0] = 1.0;
    let mut reach = 0;
    for &(w, q) in weights {
        for g in (0..=reach).rev() {
            let p = dist[g];
            if p == 0.0 {
                continue;
            }
            dist[g] = p * (1.0 - q);
            dist[g + w] += p * q;
        }
        reach += w;
    }
    dist
}

/// `P(Bin(n, p) < m)`.
fn binomial_below(n: u64, p: f64, m: u64) -> f64 {
    // Summed in log space: n is at most WINDOW_MAX.
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let mut total = 0.0;
    let mut log_choose = 0.0f64; // ln C(n, 0)
    for k in 0..m.min(n + 1) {
        if k > 0 {
            log_choose += ((n - k + 1) as f64).ln() - (k as f64).ln();
        }
        let term = match (k, n - k) {
            (0, _) if p == 0.0 => 1.0,
            (_, 0) if p == 1.0 => 1.0,
            _ if p == 0.0 || p == 1.0 => 0.0,
            _ => (log_choose + k as f64 * lp + (n - k) as f64 * lq).exp(),
        };
        total += term;
    }
    total.min(1.0)
}

/// Runs the model (formulas 1 to 5). `inputs` must [`validate`].
pub fn assess(inputs: &RiskInputs) -> RiskReport {
    let total: u128 = inputs.validators.iter().map(|v| v.stake as u128).sum();
    let grid = |stake: u64| ((stake as u128 * STAKE_GRID as u128 + total / 2) / total) as usize;
    // More than a third offline: strictly above STAKE_GRID / 3 grid units.
    let third = STAKE_GRID / 3;
    let above_third = |dist: &[f64]| dist.iter().skip(third + 1).sum::<f64>().min(1.0);
    // 1.
    let weights: Vec<(usize, f64)> = inputs
        .validators
        .iter()
        .map(|v| (grid(v.stake), 1.0 - v.availability))
        .collect();
    let p_liveness_loss = above_third(&offline_distribution(&weights));
    // 2: the shock takes the largest validators first up to the share c (a provider hosts
    // whole validators), the rest fail independently.
    let mut by_stake: Vec<&(usize, f64)> = weights.iter().collect();
    by_stake.sort_by_key(|w| std::cmp::Reverse(w.0));
    let shock_units = (inputs.shock_share * STAKE_GRID as f64).round() as usize;
    let (mut down, mut survivors) = (0usize, Vec::new());
    for w in by_stake {
        if down + w.0 <= shock_units {
            down += w.0;
        } else {
            survivors.push(*w);
        }
    }
    let after_shock = offline_distribution(&survivors);
    let p_shock_halts: f64 = after_shock
        .iter()
        .enumerate()
        .filter(|(g, _)| g + down > third)
        .map(|(_, p)| p)
        .sum::<f64>()
        .min(1.0);
    let rho = inputs.shock_probability;
    let p_liveness_loss_correlated = rho * p_shock_halts + (1.0 - rho) * p_liveness_loss;
    // 3.
    let needed = (inputs.min_signed * inputs.window as f64).ceil() as u64;
    let expected_downtime_slash = inputs
        .validators
        .iter()
        .map(|v| {
            binomial_below(inputs.window, v.signed_share, needed)
                * inputs.slash_downtime
                * v.stake as f64
        })
        .sum();
    // 4.
    let s = total as f64;
    let cost_of_corruption = inputs.slash_double_sign * s / 3.0;
    let required_cost = inputs.k * inputs.value_at_risk;
    let min_total_stake_full_slash = 3.0 * inputs.k * inputs.value_at_risk;
    let min_total_stake = if inputs.slash_double_sign > 0.0 {
        min_total_stake_full_slash / inputs.slash_double_sign
    } else {
        f64::INFINITY
    };
    // 5.
    let preconf_caps = inputs
        .validators
        .iter()
        .map(|v| {
            let value_cap = inputs.preconf_bond_share * v.stake as f64;
            let outstanding = inputs
                .preconf_outstanding
                .iter()
                .find(|(k, _)| *k == v.key)
                .map(|(_, o)| *o);
            PreconfCap {
                key: v.key.clone(),
                value_cap,
                receipts_cap: (inputs.preconf_value_max > 0.0)
                    .then(|| (value_cap / inputs.preconf_value_max).floor() as u64),
                outstanding,
                over_cap: outstanding.is_some_and(|o| o > value_cap),
            }
        })
        .collect();
    RiskReport {
        total_stake: total.min(u64::MAX as u128) as u64,
        p_liveness_loss,
        p_liveness_loss_correlated,
        expected_downtime_slash,
        cost_of_corruption,
        required_cost,
        secure: cost_of_corruption >= required_cost,
        min_total_stake,
        min_total_stake_full_slash,
        preconf_caps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(availability: &[f64], stakes: &[u64]) -> RiskInputs {
        RiskInputs {
            validators: availability
                .iter()
                .zip(stakes)
                .enumerate()
                .map(|(i, (a, s))| ValidatorFacts {
                    key: format!("v{i}"),
                    stake: *s,
                    availability: *a,
                    signed_share: *a,
                })
                .collect(),
            window: 100,
            min_signed: 0.5,
            slash_downtime: 0.01,
            slash_double_sign: 0.05,
            value_at_risk: 1_000.0,
            k: 2.0,
            shock_probability: 0.0,
            shock_share: 0.0,
            preconf_bond_share: 0.5,
            preconf_value_max: 10.0,
            preconf_outstanding: vec![("v1".into(), 600.0)],
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn four_equal_validators_halt_when_two_are_down() {
        // Each offline w.p. 0.1: P(>= 2 of 4) = 1 - 0.9^4 - 4 * 0.1 * 0.9^3.
        let r = assess(&inputs(&[0.9; 4], &[1_000; 4]));
        assert!(
            close(r.p_liveness_loss, 1.0 - 0.6561 - 0.2916),
            "{}",
            r.p_liveness_loss
        );
        // No shock: the correlated figure is the independent one.
        assert!(close(r.p_liveness_loss_correlated, r.p_liveness_loss));
        // Formula 4: 5% of 4,000 / 3 against k V = 2,000.
        assert!(close(r.cost_of_corruption, 0.05 * 4_000.0 / 3.0));
        assert!(!r.secure);
        assert!(close(r.min_total_stake, 3.0 * 2.0 * 1_000.0 / 0.05));
        assert!(close(r.min_total_stake_full_slash, 6_000.0));
        // Formula 5: half of 1,000, 50 receipts of 10; v1 is over its cap.
        assert_eq!(r.preconf_caps[0].receipts_cap, Some(50));
        assert!(r.preconf_caps[1].over_cap && !r.preconf_caps[0].over_cap);
    }

    #[test]
    fn stake_weights_decide_not_counts() {
        // One validator with half the stake: its failure alone halts Weft.
        let r = assess(&inputs(
            &[0.8, 1.0, 1.0, 1.0],
            &[3_000, 1_000, 1_000, 1_000],
        ));
        assert!(close(r.p_liveness_loss, 0.2), "{}", r.p_liveness_loss);
    }

    #[test]
    fn a_common_shock_dominates_independent_failures() {
        let mut i = inputs(&[0.999; 4], &[1_000; 4]);
        i.shock_probability = 0.01;
        i.shock_share = 0.5;
        let r = assess(&i);
        // The shock takes two of four down: Weft halts whenever it happens.
        assert!(r.p_liveness_loss < 1e-5);
        assert!(
            r.p_liveness_loss_correlated > 0.0099,
            "{}",
            r.p_liveness_loss_correlated
        );
    }

    #[test]
    fn downtime_slashing_is_a_binomial_tail() {
        // Availability 0.5 over 100 certificates, 50 needed: P(Bin < 50) = (1 - P(=50)) / 2.
        let p50 = binomial_below(100, 0.5, 51) - binomial_below(100, 0.5, 50);
        let below = binomial_below(100, 0.5, 50);
        assert!(close(below, (1.0 - p50) / 2.0), "{below}");
        assert!(close(binomial_below(100, 1.0, 50), 0.0));
        assert!(close(binomial_below(100, 0.0, 50), 1.0));
        let r = assess(&inputs(&[1.0, 1.0, 1.0, 0.0], &[1_000; 4]));
        assert!(close(r.expected_downtime_slash, 0.01 * 1_000.0));
    }

    #[test]
    fn bad_inputs_say_why() {
        let mut i = inputs(&[1.2], &[1]);
        assert!(validate(&i).unwrap_err().contains("availability"));
        i.validators[0].availability = 1.0;
        assert!(validate(&i).unwrap_err().contains("signed share"));
        i.validators[0].signed_share = 1.0;
        i.window = 0;
        assert!(validate(&i).unwrap_err().contains("window"));
        i.window = 10;
        i.validators[0].stake = 0;
        assert!(validate(&i).unwrap_err().contains("total stake"));
    }
}
