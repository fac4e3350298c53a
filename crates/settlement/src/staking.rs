//! The staking program: validators' collateral on the L1, and slashing on evidence.
//!
//! Accounts hold a native balance (funded at the L1's genesis). An account bonds balance to
//! a validator key and becomes its operator; stake unbonds only after a delay during which
//! it can still be slashed; anyone who proves an offence gets a share of what is slashed.
//!
//! # Rules (numbered as their errors say)
//! - S1. A call is signed by its account's key for this Weft chain and carries the
//!   account's next nonce; nothing else is executed (or recorded).
//! - S2. An account spends at most its balance.
//! - S3. The first bond to a validator key makes the bonding account its operator; only the
//!   operator bonds more, unbonds, withdraws or unjails it.
//! - S4. A validator's bonded stake is zero or at least `min_stake`, after any call.
//! - S5. Unbonded stake is released `unbonding_ms` after the unbond, not before, and stays
//!   slashable until then.
//! - S6. A tombstoned validator (double-signing) takes no new bond and never unjails; a
//!   jailed one unjails only after `jail_ms`, and only with at least `min_stake` bonded.
//! - S7. An offence is slashed once: its id is recorded. The evidence is checked by the
//!   L1's [`EvidenceVerifier`] (which trusts only the validator set), never taken on the
//!   reporter's word.
//! - S8. A slash takes its fraction of the bonded and of every unbonding amount, pays
//!   `whistleblower_ppm` of it to the reporter's account and burns the rest; the offence
//!   jails (downtime, broken pre-confirmation) or tombstones (double-signing).
//! - S9. The validator set offered to Weft is the `set_size_max` validators with the most
//!   bonded stake of at least `min_stake`, neither jailed nor tombstoned (ties by key).
//! - S10. Only a validator's operator names where it listens for Weft's p2p network (a
//!   `host:port` socket address of at most [`P2P_ADDRESS_BYTES_MAX`] bytes); the set offered
//!   to Weft carries it, so peers can reach a validator the stake table adds.
//! - S11. Evidence that rests on certificates of a stake-driven set (downtime, a broken
//!   pre-confirmation: [`Offence::attested`]) counts only if, in each certificate, the
//!   signers that still have slashable stake here (bonded or unbonding) are a quorum of its
//!   set. A set whose stake has left cannot certify a made-up history at no cost (proof of
//!   stake's long-range attack); while their stake is here, the fault assumption holds.
//!
//! All amounts are in the L1's base unit; fractions are in parts per million.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Default minimum bonded stake of a validator (S4).
pub const DEFAULT_MIN_STAKE: u64 = 1_000_000;
/// Default unbonding delay (S5): Cosmos x/staking's 21 days.
pub const DEFAULT_UNBONDING_MS: u64 = 21 * 24 * 3_600 * 1_000;
/// Default jail time (S6): Cosmos x/slashing's 600 s.
pub const DEFAULT_JAIL_MS: u64 = 600 * 1_000;
/// Default slash for double-signing (S8): Cosmos x/slashing's 5%.
pub const DEFAULT_SLASH_DOUBLE_SIGN_PPM: u32 = 50_000;
/// Default slash for downtime (S8): Cosmos x/slashing's 1%.
pub const DEFAULT_SLASH_DOWNTIME_PPM: u32 = 10_000;
/// Default slash for a broken pre-confirmation (S8): as downtime, 1% per broken receipt.
pub const DEFAULT_SLASH_BROKEN_PRECONF_PPM: u32 = 10_000;
/// Default share of a slash paid to whoever reported it (S8).
pub const DEFAULT_WHISTLEBLOWER_PPM: u32 = 100_000;
/// Default downtime window, in finalized blocks: Cosmos x/slashing's `signed_blocks_window`.
pub const DEFAULT_SIGNED_BLOCKS_WINDOW: u64 = 100;
/// Default share of a window's certificates a validator must sign, in ppm: Cosmos
/// x/slashing's `min_signed_per_window` 0.5.
pub const DEFAULT_MIN_SIGNED_PPM: u32 = 500_000;
/// Default size of the validator set offered to Weft (S9).
pub const DEFAULT_SET_SIZE_MAX: usize = 100;
/// Most unbonding entries one validator has at once (bounds the work of a slash).
pub const UNBONDING_ENTRIES_MAX: usize = 32;
/// Longest p2p address a validator may name (S10), in bytes.
pub const P2P_ADDRESS_BYTES_MAX: usize = 64;
/// Most genesis accounts.
pub const GENESIS_ACCOUNTS_MAX: usize = 10_000;

const PPM: u128 = 1_000_000;

/// Staking parameters (`[staking]` of the L1's config).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StakingConfig {
    /// Minimum bonded stake of a validator (S4).
    pub min_stake: u64,
    /// Unbonding delay, in milliseconds (S5).
    pub unbonding_ms: u64,
    /// Jail time, in milliseconds (S6).
    pub jail_ms: u64,
    /// Slash for double-signing, in ppm (S8).
    pub slash_double_sign_ppm: u32,
    /// Slash for downtime, in ppm (S8).
    pub slash_downtime_ppm: u32,
    /// Slash per broken pre-confirmation, in ppm (S8).
    pub slash_broken_preconf_ppm: u32,
    /// Share of a slash paid to the reporter, in ppm (S8).
    pub whistleblower_ppm: u32,
    /// Validators offered to Weft (S9).
    pub set_size_max: usize,
    /// Downtime window, in finalized blocks (the evidence verifier's rule).
    pub signed_blocks_window: u64,
    /// Share of a window's certificates a validator must sign, in ppm.
    pub min_signed_ppm: u32,
}

impl Default for StakingConfig {
    fn default() -> Self {
        Self {
            min_stake: DEFAULT_MIN_STAKE,
            unbonding_ms: DEFAULT_UNBONDING_MS,
            jail_ms: DEFAULT_JAIL_MS,
            slash_double_sign_ppm: DEFAULT_SLASH_DOUBLE_SIGN_PPM,
            slash_downtime_ppm: DEFAULT_SLASH_DOWNTIME_PPM,
            slash_broken_preconf_ppm: DEFAULT_SLASH_BROKEN_PRECONF_PPM,
            whistleblower_ppm: DEFAULT_WHISTLEBLOWER_PPM,
            set_size_max: DEFAULT_SET_SIZE_MAX,
            signed_blocks_window: DEFAULT_SIGNED_BLOCKS_WINDOW,
            min_signed_ppm: DEFAULT_MIN_SIGNED_PPM,
        }
    }
}

impl StakingConfig {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), String> {
        if self.min_stake == 0 || self.set_size_max == 0 || self.signed_blocks_window == 0 {
            return Err(
                "staking.min_stake, staking.set_size_max and staking.signed_blocks_window must be > 0"
                    .into(),
            );
        }
        for (name, v) in [
            ("slash_double_sign_ppm", self.slash_double_sign_ppm),
            ("slash_downtime_ppm", self.slash_downtime_ppm),
            ("slash_broken_preconf_ppm", self.slash_broken_preconf_ppm),
            ("whistleblower_ppm", self.whistleblower_ppm),
            ("min_signed_ppm", self.min_signed_ppm),
        ] {
            if u128::from(v) > PPM {
                return Err(format!("staking.{name} is {v}, more than 1,000,000 (100%)"));
            }
        }
        Ok(())
    }
}

/// An ed25519 public key.
pub type Key = [u8; 32];

/// An account of the L1.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Spendable balance.
    pub balance: u64,
    /// The nonce its next call must carry (S1).
    pub nonce: u64,
}

/// Stake on its way out (S5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unbonding {
    /// Amount still slashable.
    pub amount: u64,
    /// When it can be withdrawn, ms since the Unix epoch.
    pub release_ms: u64,
}

/// Where a validator stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// Eligible for the set (S9).
    Active,
    /// Out of the set until it unjails, not before `until_ms` (S6).
    Jailed {
        /// Earliest unjail, ms since the Unix epoch.
        until_ms: u64,
    },
    /// Out for good (S6).
    Tombstoned,
}

/// A validator key's stake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validator {
    /// The validator's consensus key.
    #[serde(with = "crate::auth::hex32")]
    pub key: Key,
    /// The account that bonded it (S3).
    #[serde(with = "crate::auth::hex32")]
    pub operator: Key,
    /// Bonded stake.
    pub bonded: u64,
    /// Unbonding stake, oldest first.
    pub unbonding: Vec<Unbonding>,
    /// Where it stands.
    #[serde(flatten)]
    pub status: Status,
    /// Total slashed so far.
    pub slashed: u64,
    /// Where it listens for Weft's p2p network, as its operator named it (S10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p2p_address: Option<String>,
}

/// What an account asks of the staking program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Bond `amount` of the account's balance to `validator` (S2, S3, S4, S6).
    Bond {
        /// The validator's consensus key.
        #[serde(with = "crate::auth::hex32")]
        validator: Key,
        /// Amount.
        amount: u64,
    },
    /// Start unbonding `amount` of `validator`'s stake (S3, S4, S5).
    Unbond {
        /// The validator's consensus key.
        #[serde(with = "crate::auth::hex32")]
        validator: Key,
        /// Amount.
        amount: u64,
    },
    /// Move `validator`'s released unbondings to the account's balance (S5).
    Withdraw {
        /// The validator's consensus key.
        #[serde(with = "crate::auth::hex32")]
        validator: Key,
    },
    /// Bring a jailed `validator` back (S6).
    Unjail {
        /// The validator's consensus key.
        #[serde(with = "crate::auth::hex32")]
        validator: Key,
    },
    /// Name where `validator` listens for Weft's p2p network (S3, S10).
    Locate {
        /// The validator's consensus key.
        #[serde(with = "crate::auth::hex32")]
        validator: Key,
        /// `host:port`.
        p2p_address: String,
    },
}

/// A staking call: an account, its nonce and what it asks (S1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StakeCall {
    /// The account (its public key).
    #[serde(with = "crate::auth::hex32")]
    pub account: Key,
    /// The account's next nonce.
    pub nonce: u64,
    /// What it asks.
    pub action: Action,
}

/// Base of the staking signing domain (S1), bound to the chain.
pub const STAKE_SIGNING_NAMESPACE: &[u8] = b"weft/l1/stake/v1";

impl StakeCall {
    fn message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(96);
        m.extend_from_slice(&self.account);
        m.extend_from_slice(&self.nonce.to_be_bytes());
        let (tag, validator, amount) = match &self.action {
            Action::Bond { validator, amount } => (1u8, validator, *amount),
            Action::Unbond { validator, amount } => (2, validator, *amount),
            Action::Withdraw { validator } => (3, validator, 0),
            Action::Unjail { validator } => (4, validator, 0),
            Action::Locate { validator, .. } => (5, validator, 0),
        };
        m.push(tag);
        m.extend_from_slice(validator);
        m.extend_from_slice(&amount.to_be_bytes());
        if let Action::Locate { p2p_address, .. } = &self.action {
            m.extend_from_slice(&(p2p_address.len() as u64).to_be_bytes());
            m.extend_from_slice(p2p_address.as_bytes());
        }
        m
    }

    /// Signs the call with the account's key, for `chain`.
    pub fn sign(
        self,
        key: &weft_types::SigningKey,
        chain: &weft_types::ChainId,
    ) -> SignedStakeCall {
        use commonware_cryptography::Signer as _;
        let signature = key
            .sign(&chain.domain(STAKE_SIGNING_NAMESPACE), &self.message())
            .as_ref()
            .to_vec();
        SignedStakeCall {
            call: self,
            signature,
        }
    }
}

/// A [`StakeCall`] and its account's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedStakeCall {
    /// The call.
    pub call: StakeCall,
    /// The account's signature (hex).
    #[serde(with = "crate::auth::hex_bytes")]
    pub signature: Vec<u8>,
}

impl SignedStakeCall {
    /// Whether the account signed it for `chain` (S1).
    pub fn signed(&self, chain: &weft_types::ChainId) -> bool {
        crate::auth::verify_signature(
            &self.call.account,
            &chain.domain(STAKE_SIGNING_NAMESPACE),
            &self.call.message(),
            &self.signature,
        )
    }
}

/// The kinds of offence a slash answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OffenceKind {
    /// Conflicting signed votes: tombstones.
    DoubleSign,
    /// Below the minimum signed share of a window: jails.
    Downtime,
    /// A pre-confirmation the issuer did not keep: jails.
    BrokenPreconfirmation,
}

/// What verified evidence proves (S7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offence {
    /// The offender's consensus key.
    pub validator: Key,
    /// What it did.
    pub kind: OffenceKind,
    /// Unique per offence: a second report of it slashes nothing (S7).
    pub id: [u8; 32],
    /// The certificates the evidence rests on, for S11 (empty: it rests on none, as
    /// double-signing's own signatures, or the set is fixed at genesis).
    pub attested: Vec<Attestation>,
}

/// One certificate evidence rests on (S11): who signed it, out of a set of how many.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attestation {
    /// The signers' consensus keys.
    pub signers: Vec<Key>,
    /// The size of the set that certified it.
    pub set_size: usize,
}

/// The signatures a certificate of a set of `n` needs: `n - f`, `f = (n - 1) / 3`.
pub fn quorum(n: usize) -> usize {
    n - n.saturating_sub(1) / 3
}

/// S11: every attestation's signers with stake `slashable` here are a quorum of its set.
pub fn check_attested(
    attested: &[Attestation],
    slashable: impl Fn(&Key) -> bool,
) -> Result<(), StakeError> {
    for (i, a) in attested.iter().enumerate() {
        let staked = a.signers.iter().filter(|k| slashable(k)).count();
        if staked < quorum(a.set_size) {
            return Err(StakeError::Evidence(format!(
                "rule S11: certificate {i} of the evidence has {staked} signers with stake still slashable on this L1, a quorum of its {} is {}: its set's stake has left, so it proves nothing",
                a.set_size,
                quorum(a.set_size)
            )));
        }
    }
    Ok(())
}

/// Checks evidence against what the L1 trusts about Weft (its validator set). Injected, so
/// this crate depends on no evidence format.
pub trait EvidenceVerifier: Send + Sync {
    /// The offence `evidence` proves, or why it proves none.
    fn verify(&self, evidence: &[u8]) -> Result<Offence, String>;
}

/// Why a staking call or a slash was refused (nothing recorded).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum StakeError {
    /// S1: not signed by the account for this chain.
    #[error("rule S1: the call is not signed by account {account} for this chain")]
    BadSignature {
        /// The account.
        account: String,
    },
    /// S1: not the account's next nonce.
    #[error("rule S1: nonce {got}, the account's next is {expected}")]
    Nonce {
        /// The next nonce.
        expected: u64,
        /// The call's.
        got: u64,
    },
    /// S2: more than the balance.
    #[error("rule S2: the account holds {balance}, the call spends {amount}")]
    Balance {
        /// Balance.
        balance: u64,
        /// Amount.
        amount: u64,
    },
    /// S3: not the validator's operator, or no such validator.
    #[error("rule S3: {0}")]
    NotOperator(String),
    /// S4: bonded stake would be below the minimum.
    #[error("rule S4: {validator} would have {bonded} bonded, neither 0 nor at least {min_stake}")]
    BelowMinimum {
        /// The validator.
        validator: String,
        /// Its bonded stake after the call.
        bonded: u64,
        /// The minimum.
        min_stake: u64,
    },
    /// S10: not a usable p2p address.
    #[error("rule S10: {0}")]
    Address(String),
    /// S5: nothing released yet, or too many unbondings.
    #[error("rule S5: {0}")]
    Unbonding(String),
    /// S6: tombstoned, or jailed for longer.
    #[error("rule S6: {0}")]
    Status(String),
    /// S7: the evidence proves nothing, or the offence was slashed already.
    #[error("rule S7: {0}")]
    Evidence(String),
    /// A zero amount.
    #[error("the amount must be > 0")]
    ZeroAmount,
}

/// `amount * ppm / 1e6`, rounded down.
pub(crate) fn fraction(amount: u64, ppm: u32) -> u64 {
    (u128::from(amount) * u128::from(ppm) / PPM) as u64
}

/// Applies rules S2 to S6 for `call` from `account` at `now_ms`, on the validator's current
/// stake (`None` if the key has none). Returns the account and the validator after the call.
/// S1 is the caller's.
pub(crate) fn apply(
    cfg: &StakingConfig,
    mut account: Account,
    validator: Option<Validator>,
    call: &StakeCall,
    now_ms: u64,
) -> Result<(Account, Validator), StakeError> {
    let hex = weft_types::to_hex;
    let key = match &call.action {
        Action::Bond { validator, .. }
        | Action::Unbond { validator, .. }
        | Action::Withdraw { validator }
        | Action::Unjail { validator }
        | Action::Locate { validator, .. } => *validator,
    };
    let operator_only = |v: &Option<Validator>| -> Result<Validator, StakeError> {
        match v {
            None => Err(StakeError::NotOperator(format!(
                "validator {} has no stake",
                hex(&key)
            ))),
            Some(v) if v.operator != call.account => Err(StakeError::NotOperator(format!(
                "validator {} is operated by {}",
                hex(&key),
                hex(&v.operator)
            ))),
            Some(v) => Ok(v.clone()),
        }
    };
    let check_minimum = |v: &Validator| {
        if v.bonded != 0 && v.bonded < cfg.min_stake {
            return Err(StakeError::BelowMinimum {
                validator: hex(&v.key),
                bonded: v.bonded,
                min_stake: cfg.min_stake,
            });
        }
        Ok(())
    };
    let v = match &call.action {
        Action::Bond { amount, .. } => {
            if *amount == 0 {
                return Err(StakeError::ZeroAmount);
            }
            // S3: the first bond names the operator.
            let mut v = match &validator {
                None => Validator {
                    key,
                    operator: call.account,
                    bonded: 0,
                    unbonding: Vec::new(),
                    status: Status::Active,
                    slashed: 0,
                    p2p_address: None,
                },
                Some(_) => operator_only(&validator)?,
            };
            if v.status == Status::Tombstoned {
                return Err(StakeError::Status(format!(
                    "validator {} is tombstoned",
                    hex(&key)
                )));
            }
            // S2.
            if account.balance < *amount {
                return Err(StakeError::Balance {
                    balance: account.balance,
                    amount: *amount,
                });
            }
            account.balance -= amount;
            v.bonded = v.bonded.checked_add(*amount).ok_or(StakeError::Balance {
                balance: account.balance,
                amount: *amount,
            })?;
            check_minimum(&v)?;
            v
        }
        Action::Unbond { amount, .. } => {
            if *amount == 0 {
                return Err(StakeError::ZeroAmount);
            }
            let mut v = operator_only(&validator)?;
            if *amount > v.bonded {
                return Err(StakeError::Balance {
                    balance: v.bonded,
                    amount: *amount,
                });
            }
            if v.unbonding.len() >= UNBONDING_ENTRIES_MAX {
                return Err(StakeError::Unbonding(format!(
                    "validator {} already has {UNBONDING_ENTRIES_MAX} unbondings; withdraw first",
                    hex(&key)
                )));
            }
            v.bonded -= amount;
            check_minimum(&v)?;
            v.unbonding.push(Unbonding {
                amount: *amount,
                release_ms: now_ms.saturating_add(cfg.unbonding_ms),
            });
            v
        }
        Action::Withdraw { .. } => {
            let mut v = operator_only(&validator)?;
            let (released, kept): (Vec<Unbonding>, Vec<Unbonding>) =
                v.unbonding.drain(..).partition(|u| u.release_ms <= now_ms);
            if released.is_empty() {
                return Err(StakeError::Unbonding(format!(
                    "nothing of validator {} is released yet (next at {:?} ms)",
                    hex(&key),
                    kept.first().map(|u| u.release_ms)
                )));
            }
            v.unbonding = kept;
            let total: u64 = released.iter().map(|u| u.amount).sum();
            account.balance = account.balance.saturating_add(total);
            v
        }
        Action::Unjail { .. } => {
            let mut v = operator_only(&validator)?;
            match v.status {
                Status::Active => {
                    return Err(StakeError::Status(format!(
                        "validator {} is not jailed",
                        hex(&key)
                    )))
                }
                Status::Tombstoned => {
                    return Err(StakeError::Status(format!(
                        "validator {} is tombstoned",
                        hex(&key)
                    )))
                }
                Status::Jailed { until_ms } if until_ms > now_ms => {
                    return Err(StakeError::Status(format!(
                        "validator {} is jailed until {until_ms} ms",
                        hex(&key)
                    )))
                }
                Status::Jailed { .. } => {}
            }
            if v.bonded < cfg.min_stake {
                return Err(StakeError::BelowMinimum {
                    validator: hex(&key),
                    bonded: v.bonded,
                    min_stake: cfg.min_stake,
                });
            }
            v.status = Status::Active;
            v
        }
        Action::Locate { p2p_address, .. } => {
            let mut v = operator_only(&validator)?;
            // S10: a socket address, bounded.
            if p2p_address.len() > P2P_ADDRESS_BYTES_MAX
                || p2p_address.parse::<std::net::SocketAddr>().is_err()
            {
                return Err(StakeError::Address(format!(
                    "{:?} is not a host:port socket address of at most {P2P_ADDRESS_BYTES_MAX} bytes",
                    p2p_address.chars().take(P2P_ADDRESS_BYTES_MAX).collect::<String>()
                )));
            }
            v.p2p_address = Some(p2p_address.clone());
            v
        }
    };
    Ok((account, v))
}

/// Applies S8 to `v` for `offence` at `now_ms`: returns the amount slashed and the reporter's
/// reward.
pub(crate) fn slash(
    cfg: &StakingConfig,
    v: &mut Validator,
    kind: OffenceKind,
    now_ms: u64,
) -> (u64, u64) {
    let ppm = match kind {
        OffenceKind::DoubleSign => cfg.slash_double_sign_ppm,
        OffenceKind::Downtime => cfg.slash_downtime_ppm,
        OffenceKind::BrokenPreconfirmation => cfg.slash_broken_preconf_ppm,
    };
    let mut slashed = fraction(v.bonded, ppm);
    v.bonded -= slashed;
    for u in &mut v.unbonding {
        let cut = fraction(u.amount, ppm);
        u.amount -= cut;
        slashed += cut;
    }
    v.slashed = v.slashed.saturating_add(slashed);
    v.status = match (kind, &v.status) {
        (_, Status::Tombstoned) | (OffenceKind::DoubleSign, _) => Status::Tombstoned,
        (_, Status::Jailed { until_ms }) => Status::Jailed {
            until_ms: (*until_ms).max(now_ms.saturating_add(cfg.jail_ms)),
        },
        (_, Status::Active) => Status::Jailed {
            until_ms: now_ms.saturating_add(cfg.jail_ms),
        },
    };
    (slashed, fraction(slashed, cfg.whistleblower_ppm))
}

/// S9: the set offered to Weft, most bonded first.
pub fn validator_set(cfg: &StakingConfig, validators: &[Validator]) -> Vec<(Key, u64)> {
    validator_set_located(cfg, validators)
        .into_iter()
        .map(|(key, bonded, _)| (key, bonded))
        .collect()
}

/// A member of the set offered to Weft: its key, bonded stake and p2p address (S10).
pub type SetMember = (Key, u64, Option<String>);

/// [`validator_set`], with each member's p2p address (S10) where its operator named one.
pub fn validator_set_located(cfg: &StakingConfig, validators: &[Validator]) -> Vec<SetMember> {
    let mut eligible: Vec<(Key, u64, Option<String>)> = validators
        .iter()
        .filter(|v| v.status == Status::Active && v.bonded >= cfg.min_stake)
        .map(|v| (v.key, v.bonded, v.p2p_address.clone()))
        .collect();
    eligible.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    eligible.truncate(cfg.set_size_max);
    eligible
}

#[cfg(test)]
mod tests {
    use super::*;

    /// S11's quorum is simplex's: `n - f` with `f = (n - 1) / 3`.
    #[test]
    fn the_attestation_quorum_is_n_minus_f() {
        let got: Vec<usize> = [1, 2, 3, 4, 5, 7, 10].map(quorum).to_vec();
        assert_eq!(got, vec![1, 2, 3, 3, 4, 5, 7]);
        let a = Attestation {
            signers: vec![[1; 32], [2; 32], [3; 32]],
            set_size: 4,
        };
        assert!(check_attested(std::slice::from_ref(&a), |_| true).is_ok());
        assert!(check_attested(&[a], |k| *k != [1; 32]).is_err());
        assert!(check_attested(&[], |_| false).is_ok(), "nothing to check");
    }

    fn cfg() -> StakingConfig {
        StakingConfig {
            min_stake: 100,
            unbonding_ms: 1_000,
            jail_ms: 500,
            ..StakingConfig::default()
        }
    }

    const OP: Key = [1; 32];
    const OTHER: Key = [2; 32];
    const VAL: Key = [9; 32];

    fn call(account: Key, action: Action) -> StakeCall {
        StakeCall {
            account,
            nonce: 0,
            action,
        }
    }

    fn funded(balance: u64) -> Account {
        Account { balance, nonce: 0 }
    }

    #[test]
    fn only_the_operator_names_a_usable_p2p_address_and_the_set_carries_it() {
        let cfg = cfg();
        let locate = |address: &str| Action::Locate {
            validator: VAL,
            p2p_address: address.into(),
        };
        // S3: no stake yet, then not the operator.
        assert!(matches!(
            apply(
                &cfg,
                funded(0),
                None,
                &call(OP, locate("127.0.0.1:9000")),
                0
            ),
            Err(StakeError::NotOperator(_))
        ));
        let bond = Action::Bond {
            validator: VAL,
            amount: 300,
        };
        let (account, v) = apply(&cfg, funded(1_000), None, &call(OP, bond), 0).unwrap();
        assert!(matches!(
            apply(
                &cfg,
                funded(0),
                Some(v.clone()),
                &call(OTHER, locate("127.0.0.1:9000")),
                0
            ),
            Err(StakeError::NotOperator(_))
        ));
        // S10: a socket address, bounded.
        let long = format!("127.0.0.1:{}", "9".repeat(P2P_ADDRESS_BYTES_MAX));
        for bad in ["validator-4", "127.0.0.1", long.as_str()] {
            assert!(
                matches!(
                    apply(
                        &cfg,
                        account.clone(),
                        Some(v.clone()),
                        &call(OP, locate(bad)),
                        0
                    ),
                    Err(StakeError::Address(_))
                ),
                "{bad} accepted"
            );
        }
        let (_, located) = apply(
            &cfg,
            account,
            Some(v),
            &call(OP, locate("10.0.0.4:9040")),
            0,
        )
        .unwrap();
        assert_eq!(located.p2p_address.as_deref(), Some("10.0.0.4:9040"));
        assert_eq!(
            validator_set_located(&cfg, &[located]),
            vec![(VAL, 300, Some("10.0.0.4:9040".to_string()))]
        );
        // The address is signed: another address under the same signature is another call.
        let key = <weft_types::SigningKey as commonware_cryptography::Signer>::from_seed(7);
        let chain = weft_types::ChainId(weft_types::sha256(&[b"locate"]));
        let signed = call(OP, locate("10.0.0.4:9040")).sign(&key, &chain);
        let mut moved = signed.clone();
        moved.call.action = locate("10.0.0.5:9040");
        assert_ne!(signed.call.message(), moved.call.message());
    }

    #[test]
    fn bond_unbond_withdraw_follow_the_rules() {
        let cfg = cfg();
        let bond = |amount| Action::Bond {
            validator: VAL,
            amount,
        };
        // S4: a first bond below the minimum; S2: more than the balance.
        assert!(matches!(
            apply(&cfg, funded(1_000), None, &call(OP, bond(99)), 0),
            Err(StakeError::BelowMinimum { bonded: 99, .. })
        ));
        assert!(matches!(
            apply(&cfg, funded(50), None, &call(OP, bond(100)), 0),
            Err(StakeError::Balance { .. })
        ));
        let (account, v) = apply(&cfg, funded(1_000), None, &call(OP, bond(300)), 0).unwrap();
        assert_eq!((account.balance, v.bonded, v.operator), (700, 300, OP));
        // S3: another account cannot add to, or take from, OP's validator.
        assert!(matches!(
            apply(
                &cfg,
                funded(1_000),
                Some(v.clone()),
                &call(OTHER, bond(100)),
                0
            ),
            Err(StakeError::NotOperator(_))
        ));
        let unbond = |amount| Action::Unbond {
            validator: VAL,
            amount,
        };
        assert!(matches!(
            apply(
                &cfg,
                account.clone(),
                Some(v.clone()),
                &call(OTHER, unbond(10)),
                0
            ),
            Err(StakeError::NotOperator(_))
        ));
        // S4: leaving 50 bonded is refused; all of it, or down to 100, is fine.
        assert!(matches!(
            apply(
                &cfg,
                account.clone(),
                Some(v.clone()),
                &call(OP, unbond(250)),
                0
            ),
            Err(StakeError::BelowMinimum { bonded: 50, .. })
        ));
        let (account, v) = apply(&cfg, account, Some(v), &call(OP, unbond(200)), 10).unwrap();
        assert_eq!(v.bonded, 100);
        assert_eq!(
            v.unbonding,
            vec![Unbonding {
                amount: 200,
                release_ms: 1_010
            }]
        );
        // S5: not before the delay.
        let withdraw = Action::Withdraw { validator: VAL };
        assert!(matches!(
            apply(
                &cfg,
                account.clone(),
                Some(v.clone()),
                &call(OP, withdraw.clone()),
                1_009
            ),
            Err(StakeError::Unbonding(_))
        ));
        let (account, v) = apply(&cfg, account, Some(v), &call(OP, withdraw), 1_010).unwrap();
        assert_eq!((account.balance, v.unbonding.len()), (900, 0));
    }

    #[test]
    fn slashing_reaches_unbonding_stake_and_jails_or_tombstones() {
        let cfg = StakingConfig {
            slash_downtime_ppm: 100_000,
            slash_double_sign_ppm: 500_000,
            whistleblower_ppm: 500_000,
            ..cfg()
        };
        let (_, mut v) = apply(
            &cfg,
            funded(2_000),
            None,
            &call(
                OP,
                Action::Bond {
                    validator: VAL,
                    amount: 1_000,
                },
            ),
            0,
        )
        .unwrap();
        v.unbonding.push(Unbonding {
            amount: 500,
            release_ms: 5_000,
        });
        // S8: 10% of 1,000 bonded and of 500 unbonding; half to the reporter.
        assert_eq!(slash(&cfg, &mut v, OffenceKind::Downtime, 100), (150, 75));
        assert_eq!((v.bonded, v.unbonding[0].amount), (900, 450));
        assert_eq!(v.status, Status::Jailed { until_ms: 600 });
        // S6: no unjail before the jail time, then back.
        let unjail = Action::Unjail { validator: VAL };
        assert!(matches!(
            apply(
                &cfg,
                funded(0),
                Some(v.clone()),
                &call(OP, unjail.clone()),
                599
            ),
            Err(StakeError::Status(_))
        ));
        let (_, back) = apply(
            &cfg,
            funded(0),
            Some(v.clone()),
            &call(OP, unjail.clone()),
            600,
        )
        .unwrap();
        assert_eq!(back.status, Status::Active);
        // Double-signing tombstones for good: no unjail, no new bond.
        assert_eq!(
            slash(&cfg, &mut v, OffenceKind::DoubleSign, 700).0,
            450 + 225
        );
        assert_eq!(v.status, Status::Tombstoned);
        assert!(matches!(
            apply(&cfg, funded(0), Some(v.clone()), &call(OP, unjail), 10_000),
            Err(StakeError::Status(_))
        ));
        assert!(matches!(
            apply(
                &cfg,
                funded(1_000),
                Some(v),
                &call(
                    OP,
                    Action::Bond {
                        validator: VAL,
                        amount: 100
                    }
                ),
                10_000
            ),
            Err(StakeError::Status(_))
        ));
    }

    #[test]
    fn the_set_is_the_top_stake_of_eligible_validators() {
        let cfg = StakingConfig {
            set_size_max: 2,
            ..cfg()
        };
        let v = |k: u8, bonded, status| Validator {
            p2p_address: None,
            key: [k; 32],
            operator: OP,
            bonded,
            unbonding: Vec::new(),
            status,
            slashed: 0,
        };
        let all = [
            v(1, 500, Status::Active),
            v(2, 900, Status::Jailed { until_ms: 0 }),
            v(3, 500, Status::Active),
            v(4, 99, Status::Active),
            v(5, 700, Status::Active),
            v(6, 10_000, Status::Tombstoned),
        ];
        assert_eq!(
            validator_set(&cfg, &all),
            vec![([5; 32], 700), ([1; 32], 500)],
            "by stake, ties by key; jailed, tombstoned and under-minimum ones out"
        );
    }

    #[test]
    fn parameters_are_checked() {
        StakingConfig::default().validate().unwrap();
        let bad = StakingConfig {
            whistleblower_ppm: 1_000_001,
            ..StakingConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("whistleblower_ppm"));
    }
}
