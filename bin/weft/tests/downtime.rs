//! Downtime slashing end to end: four real validators, one of them bonded on an L1 and then
//! stopped for longer than the downtime window. Evidence built from the live validators'
//! certificates gets it jailed and slashed; the same window's evidence against a validator
//! that kept signing, a tampered window and a second report of the same offence do not.

mod common;

use common::*;
use weft_settlement::staking::{Action, StakeCall, StakeError, StakingConfig, Status};
use weft_settlement::{EmbeddedL1, SettlementError, StakingDeployment};

const WINDOW: u64 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_down_for_a_window_is_jailed_and_slashed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut net = Net::create(dir.path(), 31_000);
    wait_all_started().await;
    let genesis = weft_node::Genesis::load(&dir.path().join("genesis.toml")).unwrap();
    let trust = weft_rollup::l1::WeftTrust {
        sets: weft_rollup::l1::TrustedSets::Fixed(genesis.validator_keys().unwrap()),
        chain: chain(),
        limits: genesis.limits,
    };
    let key_of =
        |i: usize| weft_node::read_key(&net.dir.join(format!("node-{i}/validator.key"))).unwrap();
    let (honest, down) = (key_of(0), key_of(3));
    let (honest_pk, down_pk) = (
        weft_settlement::auth::public_key(&honest),
        weft_settlement::auth::public_key(&down),
    );

    // An L1 whose genesis funds validator 3's key, with a 20-block window; it bonds.
    let l1_dir = tempfile::tempdir().unwrap();
    let l1 = EmbeddedL1::open_with(
        l1_dir.path().join("l1.redb"),
        weft_settlement::Config {
            staking: StakingConfig {
                signed_blocks_window: WINDOW,
                ..StakingConfig::default()
            },
            ..Default::default()
        },
        chain(),
        Default::default(),
        std::sync::Arc::new(weft_settlement::NoWeftData),
        StakingDeployment {
            genesis_accounts: vec![(down_pk, 10_000_000), (honest_pk, 10_000_000)],
            evidence: Some(std::sync::Arc::new(weft_rollup::l1::WeftEvidence {
                trust,
                window: WINDOW,
                min_signed_ppm: 500_000,
            })),
        },
    )
    .unwrap();
    for (k, pk) in [(&down, down_pk), (&honest, honest_pk)] {
        let bond = StakeCall {
            account: pk,
            nonce: 0,
            action: Action::Bond {
                validator: pk,
                amount: 5_000_000,
            },
        };
        l1.stake(bond.sign(k, &chain())).unwrap();
    }

    // Validator 3 stops; the other three keep finalizing (3 of 4 is a quorum).
    net.kill(3);
    let stopped_at = client(0).head().await.unwrap().unwrap().height;
    let first = (stopped_at / WINDOW + 1) * WINDOW;
    wait_until("a whole window finalized after the stop", || async {
        matches!(client(0).head().await, Ok(Some(h)) if h.height >= first + WINDOW)
    })
    .await;
    let hex = |pk: &[u8; 32]| weft_types::to_hex(pk);
    let reporter = [0x3e; 32];

    // The window against validator 0, which signed throughout: no offence.
    let kept = client(1)
        .downtime_evidence(&hex(&honest_pk), first, WINDOW)
        .await
        .unwrap();
    let refused = l1.slash(serde_json::to_string(&kept).unwrap().as_bytes(), reporter);
    assert!(
        matches!(&refused, Err(SettlementError::Stake(StakeError::Evidence(m))) if m.contains("rule 4")),
        "{refused:?}"
    );
    // The window against validator 3, tampered: a certificate moved to another block.
    let evidence = client(1)
        .downtime_evidence(&hex(&down_pk), first, WINDOW)
        .await
        .unwrap();
    let mut tampered = evidence.clone();
    tampered.blocks[5].certificate = tampered.blocks[6].certificate.clone();
    let refused = l1.slash(
        serde_json::to_string(&tampered).unwrap().as_bytes(),
        reporter,
    );
    assert!(
        matches!(&refused, Err(SettlementError::Stake(StakeError::Evidence(m))) if m.contains("rule 3")),
        "{refused:?}"
    );
    // The window as the chain has it: validator 3 signed none of it.
    let slashed = l1
        .slash(
            serde_json::to_string(&evidence).unwrap().as_bytes(),
            reporter,
        )
        .unwrap();
    assert_eq!(slashed.slashed, 50_000, "1% of 5,000,000");
    assert!(matches!(slashed.validator.status, Status::Jailed { .. }));
    assert_eq!(l1.account(&reporter).unwrap().balance, 5_000);
    assert_eq!(
        l1.validator_set().unwrap(),
        vec![(honest_pk, 5_000_000, None)],
        "the jailed validator leaves the set offered to Weft"
    );
    // The same offence reported again (by anyone, from any validator's copy) slashes nothing.
    let again = client(2)
        .downtime_evidence(&hex(&down_pk), first, WINDOW)
        .await
        .unwrap();
    let refused = l1.slash(serde_json::to_string(&again).unwrap().as_bytes(), reporter);
    assert!(
        matches!(&refused, Err(SettlementError::Stake(StakeError::Evidence(m))) if m.contains("slashed in L1 block")),
        "{refused:?}"
    );
}
