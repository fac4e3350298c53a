//! The staking program on the embedded L1: bonding, unbonding, withdrawing and slashing on
//! evidence, each rule refused by a caller that breaks it.

use crate::support::{chain_id, TestChain};
use std::collections::BTreeMap;
use std::sync::Arc;
use weft_settlement::auth::public_key;
use weft_settlement::staking::{
    Action, EvidenceVerifier, Offence, OffenceKind, StakeCall, StakeError, StakingConfig, Status,
};
use weft_settlement::{Config, EmbeddedL1, L1Tx, SettlementError, StakingDeployment, L1};
use weft_types::SigningKey;

/// Evidence for the tests: `kind byte || validator || offence id`, accepted only with the
/// right tag; with tag `0xEF`, then the keys that signed the one certificate it rests on, of
/// a set of 4 (S11). (The binary wires the real verifiers: broken pre-confirmations checked
/// against the validator set's certificates.)
struct TaggedEvidence;

impl EvidenceVerifier for TaggedEvidence {
    fn verify(&self, evidence: &[u8]) -> Result<Offence, String> {
        if let [0xEF, kind, rest @ ..] = evidence {
            let (offence, signers) = rest.split_at(64.min(rest.len()));
            let mut offence = self.verify(&[&[0xEE, *kind][..], offence].concat())?;
            offence.attested = vec![weft_settlement::staking::Attestation {
                signers: signers
                    .chunks(32)
                    .map(|k| k.try_into().map_err(|_| "short signer key"))
                    .collect::<Result<_, _>>()?,
                set_size: 4,
            }];
            return Ok(offence);
        }
        let [tag, kind, rest @ ..] = evidence else {
            return Err("short evidence".into());
        };
        if *tag != 0xEE || rest.len() != 64 {
            return Err("evidence does not prove an offence".into());
        }
        let kind = match kind {
            0 => OffenceKind::DoubleSign,
            1 => OffenceKind::Downtime,
            _ => OffenceKind::BrokenPreconfirmation,
        };
        Ok(Offence {
            validator: rest[..32].try_into().unwrap(),
            kind,
            id: rest[32..].try_into().unwrap(),
            attested: Vec::new(),
        })
    }
}

fn evidence(kind: u8, validator: [u8; 32], id: u8) -> Vec<u8> {
    [&[0xEE, kind][..], &validator, &[id; 32]].concat()
}

struct Staked {
    _dir: tempfile::TempDir,
    l1: EmbeddedL1,
    operator: SigningKey,
    nonce: u64,
}

fn key(seed: u64) -> SigningKey {
    use commonware_cryptography::Signer as _;
    SigningKey::from_seed(seed)
}

const VALIDATOR: [u8; 32] = [0x77; 32];

fn open(staking: StakingConfig) -> Staked {
    let dir = tempfile::tempdir().unwrap();
    let operator = key(500);
    let cfg = Config {
        staking,
        ..Config::default()
    };
    let l1 = EmbeddedL1::open_with(
        dir.path().join("l1.redb"),
        cfg,
        chain_id(),
        BTreeMap::new(),
        Arc::new(TestChain::with_head(0)),
        StakingDeployment {
            genesis_accounts: vec![(public_key(&operator), 10_000)],
            evidence: Some(Arc::new(TaggedEvidence)),
        },
    )
    .unwrap();
    Staked {
        _dir: dir,
        l1,
        operator,
        nonce: 0,
    }
}

fn params() -> StakingConfig {
    StakingConfig {
        min_stake: 1_000,
        unbonding_ms: 3_600_000,
        slash_downtime_ppm: 100_000,
        slash_double_sign_ppm: 500_000,
        whistleblower_ppm: 200_000,
        ..StakingConfig::default()
    }
}

impl Staked {
    fn call(&mut self, action: Action) -> Result<weft_settlement::StakeReceipt, SettlementError> {
        let call = StakeCall {
            account: public_key(&self.operator),
            nonce: self.nonce,
            action,
        };
        let r = self.l1.stake(call.sign(&self.operator, &chain_id()));
        if r.is_ok() {
            self.nonce += 1;
        }
        r
    }
}

#[test]
fn bonding_unbonding_and_the_set_follow_the_rules() {
    let mut s = open(params());
    assert_eq!(
        s.l1.account(&public_key(&s.operator)).unwrap().balance,
        10_000
    );
    let genesis = s.l1.block(0).unwrap().unwrap();
    assert!(matches!(
        &genesis.txs[..],
        [L1Tx::Fund {
            balance: 10_000,
            ..
        }]
    ));
    let bond = |amount| Action::Bond {
        validator: VALIDATOR,
        amount,
    };
    // S4 and S2 refused, nothing recorded.
    let head = s.l1.head().unwrap();
    assert!(matches!(
        s.call(bond(999)),
        Err(SettlementError::Stake(StakeError::BelowMinimum { .. }))
    ));
    assert!(matches!(
        s.call(bond(10_001)),
        Err(SettlementError::Stake(StakeError::Balance { .. }))
    ));
    assert_eq!(s.l1.head().unwrap(), head);
    let r = s.call(bond(4_000)).unwrap();
    assert_eq!((r.account.balance, r.validator.bonded), (6_000, 4_000));
    assert_eq!(
        s.l1.validator_set().unwrap(),
        vec![(VALIDATOR, 4_000, None)]
    );

    // S1: a replayed call (its nonce used), a forged one and one for another chain.
    let replay = StakeCall {
        account: public_key(&s.operator),
        nonce: 0,
        action: bond(1_000),
    }
    .sign(&s.operator, &chain_id());
    assert!(matches!(
        s.l1.stake(replay),
        Err(SettlementError::Stake(StakeError::Nonce {
            expected: 1,
            got: 0
        }))
    ));
    let thief = key(666);
    let mut forged = StakeCall {
        account: public_key(&s.operator),
        nonce: 1,
        action: Action::Unbond {
            validator: VALIDATOR,
            amount: 4_000,
        },
    }
    .sign(&thief, &chain_id());
    assert!(matches!(
        s.l1.stake(forged.clone()),
        Err(SettlementError::Stake(StakeError::BadSignature { .. }))
    ));
    forged.call.account = public_key(&thief);
    let elsewhere = weft_types::ChainId(weft_types::sha256(&[b"another network"]));
    let forged = forged.call.sign(&thief, &elsewhere);
    assert!(matches!(
        s.l1.stake(forged),
        Err(SettlementError::Stake(StakeError::BadSignature { .. }))
    ));
    // S3: the thief, signing as itself, is not the operator.
    let not_operator = StakeCall {
        account: public_key(&thief),
        nonce: 0,
        action: Action::Unbond {
            validator: VALIDATOR,
            amount: 4_000,
        },
    }
    .sign(&thief, &chain_id());
    assert!(matches!(
        s.l1.stake(not_operator),
        Err(SettlementError::Stake(StakeError::NotOperator(_)))
    ));

    // S5: unbonding is not withdrawable before the delay.
    let r = s
        .call(Action::Unbond {
            validator: VALIDATOR,
            amount: 3_000,
        })
        .unwrap();
    assert_eq!(
        (r.validator.bonded, r.validator.unbonding.len()),
        (1_000, 1)
    );
    assert!(matches!(
        s.call(Action::Withdraw {
            validator: VALIDATOR
        }),
        Err(SettlementError::Stake(StakeError::Unbonding(_)))
    ));
    // Every executed call is a block.
    let calls = (1..=s.l1.head().unwrap())
        .filter(|n| {
            matches!(
                s.l1.block(*n).unwrap().unwrap().txs[..],
                [L1Tx::Stake { .. }]
            )
        })
        .count();
    assert_eq!(calls, 2);
}

/// S7 and S8: evidence slashes the bonded and the unbonding stake, pays the reporter, jails
/// or tombstones, and the same offence never slashes twice.
#[test]
fn evidence_slashes_once_and_reaches_unbonding_stake() {
    let mut s = open(params());
    s.call(Action::Bond {
        validator: VALIDATOR,
        amount: 5_000,
    })
    .unwrap();
    s.call(Action::Unbond {
        validator: VALIDATOR,
        amount: 2_000,
    })
    .unwrap();
    let reporter = [0x42; 32];
    // Garbage evidence proves nothing.
    assert!(matches!(
        s.l1.slash(b"trust me", reporter),
        Err(SettlementError::Stake(StakeError::Evidence(_)))
    ));
    let r = s.l1.slash(&evidence(1, VALIDATOR, 1), reporter).unwrap();
    // 10% of 3,000 bonded and of 2,000 unbonding; 20% of it to the reporter.
    assert_eq!((r.slashed, r.reward), (500, 100));
    assert_eq!(r.validator.bonded, 2_700);
    assert_eq!(r.validator.unbonding[0].amount, 1_800);
    assert!(matches!(r.validator.status, Status::Jailed { .. }));
    assert_eq!(s.l1.account(&reporter).unwrap().balance, 100);
    assert!(
        s.l1.validator_set().unwrap().is_empty(),
        "jailed: out of the set"
    );
    // The same offence again: refused, nothing taken.
    assert!(matches!(
        s.l1.slash(&evidence(1, VALIDATOR, 1), reporter),
        Err(SettlementError::Stake(StakeError::Evidence(m))) if m.contains("slashed in L1 block")
    ));
    // Double-signing tombstones: never back.
    let r = s.l1.slash(&evidence(0, VALIDATOR, 2), reporter).unwrap();
    assert_eq!(r.validator.status, Status::Tombstoned);
    assert!(matches!(
        s.call(Action::Unjail {
            validator: VALIDATOR
        }),
        Err(SettlementError::Stake(StakeError::Status(_)))
    ));
    // An offence of a key without stake slashes nothing.
    assert!(matches!(
        s.l1.slash(&evidence(1, [0x99; 32], 3), reporter),
        Err(SettlementError::Stake(StakeError::Evidence(m))) if m.contains("no stake")
    ));
}

/// S11: evidence resting on a certificate counts only if a quorum of its signers still has
/// stake here. Three bonded signers (a quorum of 4) slash; a certificate whose signers have
/// no stake left (a set that withdrew, forging an old history) proves nothing.
#[test]
fn evidence_certified_by_a_set_whose_stake_left_proves_nothing() {
    let mut s = open(params());
    let signers = [[0x71; 32], [0x72; 32], [0x73; 32]];
    for v in signers.iter().chain([&VALIDATOR]) {
        s.call(Action::Bond {
            validator: *v,
            amount: 1_000,
        })
        .unwrap();
    }
    let reporter = [0x42; 32];
    let attested =
        |id: u8, by: &[[u8; 32]]| [&[0xEF, 1][..], &VALIDATOR, &[id; 32], &by.concat()].concat();
    // Two of the three: not a quorum of 4.
    assert!(matches!(
        s.l1.slash(&attested(1, &signers[..2]), reporter),
        Err(SettlementError::Stake(StakeError::Evidence(m))) if m.contains("rule S11")
    ));
    // Strangers with no stake here: nothing.
    assert!(matches!(
        s.l1.slash(&attested(1, &[[1; 32], [2; 32], [3; 32]]), reporter),
        Err(SettlementError::Stake(StakeError::Evidence(m))) if m.contains("rule S11")
    ));
    // Unbonding stake is still slashable: it still counts.
    s.call(Action::Unbond {
        validator: signers[0],
        amount: 1_000,
    })
    .unwrap();
    let r = s.l1.slash(&attested(1, &signers), reporter).unwrap();
    assert!(r.slashed > 0);
}

#[test]
fn released_stake_is_withdrawn_and_genesis_is_fixed() {
    let mut s = open(StakingConfig {
        unbonding_ms: 0,
        ..params()
    });
    s.call(Action::Bond {
        validator: VALIDATOR,
        amount: 3_000,
    })
    .unwrap();
    s.call(Action::Unbond {
        validator: VALIDATOR,
        amount: 3_000,
    })
    .unwrap();
    let r = s
        .call(Action::Withdraw {
            validator: VALIDATOR,
        })
        .unwrap();
    assert_eq!((r.account.balance, r.validator.bonded), (10_000, 0));
    // Reopening with other genesis accounts is refused.
    let Staked { _dir: dir, l1, .. } = s;
    drop(l1);
    let err = EmbeddedL1::open_with(
        dir.path().join("l1.redb"),
        Config::default(),
        chain_id(),
        BTreeMap::new(),
        Arc::new(TestChain::with_head(0)),
        StakingDeployment {
            genesis_accounts: vec![([1; 32], 5)],
            evidence: None,
        },
    )
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("genesis funds other accounts"),
        "{err}"
    );
}
