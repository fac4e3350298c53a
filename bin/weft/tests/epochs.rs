//! The validator set follows the L1's stake table, end to end with real processes: four
//! genesis validators bonded on an L1, and a fifth validator, outside genesis, running from
//! the start as a follower. It bonds and names its p2p address on the L1; two epochs after a
//! boundary announces it, it signs certificates. Then validator 0 unbonds and leaves: with
//! validators 0 and 1 both killed, the other three (the newcomer among them) are a quorum of
//! the new set and keep finalizing. No finalized block changes along the way. The L1 is a
//! light client of Weft throughout: it learns each set from genesis, settles data the new set
//! finalized (which the genesis set cannot verify), and jails validator 1 for a window of the
//! new set's blocks it missed, on evidence checked against the learned sets.
//! Validator 4 backs its receipts by its bond (stake rule 4), and its bond backs none.

mod common;

use common::*;
use std::sync::Arc;
use weft_settlement::staking::{Action, StakeCall};
use weft_settlement::{EmbeddedL1, StakingDeployment};

const BASE: u16 = 32_000;
const STAKE: u64 = 5_000_000;
/// The L1's downtime window, in blocks.
const WINDOW: u64 = 20;

fn stake(l1: &EmbeddedL1, key: &weft_types::SigningKey, nonce: u64, action: Action) {
    let account = weft_settlement::auth::public_key(key);
    let call = StakeCall {
        account,
        nonce,
        action,
    };
    l1.stake(call.sign(key, &chain())).expect("staking call");
}

async fn epoch_of(i: usize) -> Option<weft_client::types::EpochJson> {
    client(i).epoch().await.ok().flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_bonds_in_and_another_unbonds_out_while_the_chain_stays_live() {
    let dir = tempfile::tempdir().expect("tempdir");
    let l1_addr: std::net::SocketAddr = format!("127.0.0.1:{}", BASE + 200).parse().unwrap();
    let l1_url = format!("http://{l1_addr}");
    let mut net = Net::create_stake_driven(dir.path(), BASE, &l1_url);
    let keys: Vec<_> = (0..=VALIDATORS)
        .map(|i| weft_node::read_key(&net.dir.join(format!("node-{i}/validator.key"))).unwrap())
        .collect();
    let pk = |i: usize| weft_settlement::auth::public_key(&keys[i]);
    let hex = |i: usize| weft_types::to_hex(&pk(i));

    // The L1 funds every key; the genesis validators bond and name their addresses. Its
    // evidence verifier is a light client of Weft: it learns each set from genesis.
    let genesis = weft_node::Genesis::load(&net.dir.join("genesis.toml")).unwrap();
    let learned = weft_rollup::l1::TrustedSets::learned(
        chain(),
        genesis.epoch_length_blocks,
        genesis.validator_keys().unwrap(),
        weft_rollup::l1::evidence_epochs_max(
            weft_settlement::staking::DEFAULT_UNBONDING_MS,
            genesis.epoch_length_blocks,
        ),
    )
    .unwrap();
    let following = tokio::spawn(weft_rollup::l1::follow_sets(learned.clone(), client(2)));
    let l1_dir = tempfile::tempdir().unwrap();
    let l1 = Arc::new(
        EmbeddedL1::open_with(
            l1_dir.path().join("l1.redb"),
            Default::default(),
            chain(),
            Default::default(),
            Arc::new(weft_settlement::NoWeftData),
            StakingDeployment {
                genesis_accounts: (0..=VALIDATORS).map(|i| (pk(i), 10 * STAKE)).collect(),
                evidence: Some(Arc::new(weft_rollup::l1::WeftEvidence {
                    trust: weft_rollup::l1::WeftTrust {
                        sets: learned.clone(),
                        chain: chain(),
                        limits: genesis.limits,
                    },
                    window: WINDOW,
                    min_signed_ppm: 500_000,
                })),
            },
        )
        .unwrap(),
    );
    let address = |i: usize| format!("127.0.0.1:{}", BASE + 10 * i as u16);
    for (i, key) in keys.iter().enumerate().take(VALIDATORS) {
        stake(
            &l1,
            key,
            0,
            Action::Bond {
                validator: pk(i),
                amount: STAKE,
            },
        );
        stake(
            &l1,
            key,
            1,
            Action::Locate {
                validator: pk(i),
                p2p_address: address(i),
            },
        );
    }
    let (_, _server) = weft_rollup::l1::serve(l1.clone(), l1_addr).await.unwrap();
    wait_all_started().await;
    // Validator 4 backs its receipts by its bond: with one receipt taken to promise its
    // whole bond (5M x 50% / 5M), its cap is 0 (stake rule 4).
    let cfg_path = net.dir.join("node-4/config.toml");
    let mut cfg = weft_node::Config::load(&cfg_path).unwrap();
    cfg.slashing.preconf_value_max = STAKE;
    cfg.save(&cfg_path).unwrap();
    net.start(4);

    // Blocks finalized now must never change.
    let early = client(0).head().await.unwrap().unwrap();

    // Validator 4 bonds and names its address.
    stake(
        &l1,
        &keys[4],
        0,
        Action::Bond {
            validator: pk(4),
            amount: STAKE,
        },
    );
    stake(
        &l1,
        &keys[4],
        1,
        Action::Locate {
            validator: pk(4),
            p2p_address: address(4),
        },
    );
    wait_until("an epoch run by validator 4", || async {
        matches!(epoch_of(0).await, Some(e) if e.validators.contains(&hex(4)))
    })
    .await;
    let joined = epoch_of(0).await.unwrap();
    assert!(
        joined.validators.contains(&hex(0)),
        "validator 0 is still bonded"
    );
    eprintln!("validator 4 joined in epoch {}", joined.epoch);
    // It signs: a certificate of that epoch, checked against the epoch's set, names it.
    let set: Vec<_> = joined
        .validators
        .iter()
        .map(|k| {
            use commonware_codec::DecodeExt as _;
            weft_types::VerifyingKey::decode(weft_types::from_hex_fixed::<32>(k).unwrap().to_vec())
                .unwrap()
        })
        .collect();
    let newcomer = commonware_cryptography::Signer::public_key(&keys[4]);
    wait_until("a certificate signed by validator 4", || {
        let (set, newcomer) = (set.clone(), newcomer.clone());
        async move {
            let Ok(Some(head)) = client(0).head().await else {
                return false;
            };
            for h in joined.first_height..=head.height.min(joined.last_height) {
                let Ok(Some(f)) = client(0).finality(h).await else {
                    continue;
                };
                let Ok(cert) = hex::decode(f.certificate.trim_start_matches("0x")) else {
                    continue;
                };
                if let Ok((_, signers)) = weft_finality::certified_signers(&cert, &set, &chain()) {
                    if signers.contains(&newcomer) {
                        return true;
                    }
                }
            }
            false
        }
    })
    .await;

    // A validator of the set now, validator 4 still issues no receipt its bond does not back:
    // refused with the cap's derivation, nothing accepted.
    let order = tx(&key(901), 1, 0, b"an order");
    let refused = client(4)
        .send_transaction_with_receipt(&hex_of(&order))
        .await;
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("bond cap of 0 (bonded 5000000 x 500000 ppm / 5000000 per receipt)")),
        "{refused:?}"
    );
    assert_eq!(
        status(4, &order.hash().to_string()).await,
        Some(weft_client::types::TxStatus::Unknown),
        "a refused submission is not accepted"
    );

    // Validator 0 unbonds everything: it leaves the set.
    stake(
        &l1,
        &keys[0],
        2,
        Action::Unbond {
            validator: pk(0),
            amount: STAKE,
        },
    );
    wait_until("an epoch without validator 0", || async {
        matches!(epoch_of(1).await, Some(e) if !e.validators.contains(&hex(0)))
    })
    .await;
    net.kill(0);
    net.kill(1);
    let killed_at = client(2).head().await.unwrap().unwrap().height;
    // Validators 2, 3 and 4 are three of the four: a quorum only with the newcomer's votes.
    let sender = key(900);
    let hashes = submit(2, &sender, 1, 0, 3).await;
    wait_until("transactions finalized by validators 2, 3 and 4", || {
        all_finalized(&[2, 3, 4], &hashes)
    })
    .await;

    // A light client that holds only genesis learns every set over RPC, each checked against
    // the set before it, and verifies a certificate of the new set.
    let mut history = weft_finality::SetHistory::new(
        chain(),
        genesis.epoch_length_blocks,
        genesis.validator_keys().unwrap(),
    )
    .unwrap();
    let head = client(2).head().await.unwrap().unwrap();
    client(2)
        .learn_sets(&mut history, head.epoch)
        .await
        .expect("sets learned from genesis");
    let now = history.set(head.epoch).unwrap();
    assert!(
        now.contains(&newcomer)
            && !now.contains(&commonware_cryptography::Signer::public_key(&keys[0]))
    );
    let mut h = head.height;
    let own = loop {
        let f = client(2).finality(h).await.unwrap().unwrap();
        if f.certified_height == h && !f.header.is_empty() {
            break f;
        }
        h -= 1;
    };
    let unhex = |s: &str| hex::decode(s.trim_start_matches("0x")).unwrap();
    history
        .verify(&unhex(&own.header), &unhex(&own.certificate))
        .expect("a certificate of the current set verifies against the learned history");

    // The L1 as a light client of Weft: it learns the sets from genesis as the chain moves
    // (`follow_sets`), and settlement data the new set finalized verifies against them,
    // while the genesis set cannot verify it (validators 0 and 1 signed none of it).
    wait_until("the L1 learned the current set", || {
        let learned = learned.clone();
        async move { learned.with(|sets| sets.set_of(head.epoch).is_some()) }
    })
    .await;
    let Some(weft_client::types::TxStatus::Finalized { height, .. }) = status(2, &hashes[2]).await
    else {
        panic!("finalized above")
    };
    let read = |sets: weft_rollup::l1::TrustedSets| {
        use weft_settlement::WeftData as _;
        let data = weft_rollup::l1::WeftRpcData::new(
            client(2),
            weft_rollup::l1::WeftTrust {
                sets,
                chain: chain(),
                limits: genesis.limits,
            },
            tokio::runtime::Handle::current(),
        );
        tokio::task::spawn_blocking(move || {
            data.namespace_payloads(
                1,
                weft_settlement::Cursor::new(height, 0),
                weft_settlement::Cursor::new(height, u32::MAX),
            )
        })
    };
    let items = read(learned.clone())
        .await
        .unwrap()
        .expect("verified against the learned sets");
    assert!(
        items.iter().any(|i| i.payload == b"payload 2"),
        "the settled data holds the transaction"
    );
    let refused = read(weft_rollup::l1::TrustedSets::Fixed(
        genesis.validator_keys().unwrap(),
    ))
    .await
    .unwrap();
    assert!(
        matches!(&refused, Err(weft_settlement::DataError::Unavailable(why)) if why.contains("verification")),
        "the genesis set verified the new set's certificate: {refused:?}"
    );

    // Slashing through the same light client: validator 1, a member of the new set, killed,
    // misses a whole window the new set finalized. The evidence verifies against the learned
    // sets, its certificates' signers (2, 3 and 4) still have stake here (rule S11), and
    // validator 1 is jailed.
    let first = (killed_at / WINDOW + 1) * WINDOW;
    wait_until("a whole window finalized after the kill", || async {
        matches!(client(2).head().await, Ok(Some(h)) if h.height >= first + WINDOW)
    })
    .await;
    wait_until("the L1 learned the window's sets", || {
        let learned = learned.clone();
        async move {
            learned.with(|sets| {
                sets.epoch_of(first + WINDOW)
                    .is_some_and(|e| sets.set_of(e + 1).is_some())
            })
        }
    })
    .await;
    let evidence = client(2)
        .downtime_evidence(&hex(1), first, WINDOW)
        .await
        .unwrap();
    let slashed = l1
        .slash(serde_json::to_string(&evidence).unwrap().as_bytes(), pk(2))
        .expect("downtime of a validator of the new set, verified by the light-client L1");
    assert!(slashed.slashed > 0);
    assert!(matches!(
        slashed.validator.status,
        weft_settlement::staking::Status::Jailed { .. }
    ));
    // Evidence rule E1: with an unbonding delay of one epoch's worth, the first window (epoch
    // 0, the genesis set) is too old to prove anything, whatever it shows.
    let weft_rollup::l1::TrustedSets::Learned { history, .. } = &learned else {
        panic!("learned")
    };
    let strict = weft_rollup::l1::WeftEvidence {
        trust: weft_rollup::l1::WeftTrust {
            sets: weft_rollup::l1::TrustedSets::Learned {
                history: history.clone(),
                evidence_epochs_max: 1,
            },
            chain: chain(),
            limits: genesis.limits,
        },
        window: WINDOW,
        min_signed_ppm: 500_000,
    };
    // E1 is checked first: the window's contents do not matter, only its epoch.
    let mut old = evidence.clone();
    old.first_height = WINDOW;
    let refused = weft_settlement::staking::EvidenceVerifier::verify(
        &strict,
        serde_json::to_string(&old).unwrap().as_bytes(),
    );
    assert!(
        matches!(&refused, Err(why) if why.contains("evidence rule E1")),
        "{refused:?}"
    );
    following.abort();

    // Nothing finalized before changed, and everyone agrees on the new blocks.
    let again = client(2).block(early.height, false).await.unwrap().unwrap();
    assert_eq!(again.header.hash, early.hash, "a finalized block changed");
    assert_same_order(&[2, 3, 4], &hashes).await;
}
