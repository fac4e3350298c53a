//! Deterministic simulations of a Weft network.
//!
//! Every test runs four validators with the real consensus stack ([`weft_consensus::start`]:
//! simplex, marshal, Weft's block building and verification, the finalizer and transaction
//! gossip) over Commonware's simulated p2p network, on the deterministic runtime (virtual
//! time, seeded scheduling). Each validator's real [`Store`] (redb) and its consensus
//! journals live in the runtime's simulated storage, so its crashes and storage faults
//! reach both.
//!
//! A failing test reports its seed (`seed=...`). Re-run one seed with
//! `WEFT_SIM_SEED=<seed> cargo test -p weft-consensus --test sim <name>`.

mod support;

use commonware_cryptography::Signer as _;
use commonware_runtime::{deterministic, Clock as _, Runner as _};
use std::sync::atomic::Ordering;
use std::{collections::BTreeMap, sync::Arc, time::Duration};
use support::*;
use weft_consensus::Shared;
use weft_types::{Digest, TxHash};

/// Validators in every fixed scenario.
const N: usize = 4;

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// Outcome of [`run_all_online`], for comparing runs.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    auditor: String,
    heads: Vec<(u64, Digest)>,
}

/// Four honest validators, 50 transactions from five senders spread over all validators:
/// every validator finalizes every transaction, at the same place, on the same chain.
fn run_all_online(seed: u64) -> Outcome {
    let net = &Testnet::new();
    deterministic::Runner::new(runtime_config(seed)).start(|context| async move {
        let oracle = net.start_network(&context).await;
        net.connect_all(&oracle).await;
        let nodes = net.start_honest(&context, &oracle, 0..N).await;

        let mut clients = Clients::new(1_000, 5);
        let targets: Vec<usize> = (0..N).collect();
        let hashes = submit_rounds(
            &context,
            &nodes,
            &targets,
            &mut clients,
            10,
            Duration::from_millis(100),
        )
        .await;
        assert_eq!(hashes.len(), 50);

        wait_until(
            &context,
            &nodes,
            Duration::from_secs(30),
            "all transactions finalized everywhere",
            |n| all_finalized(n, &hashes),
        )
        .await;
        summary(&context, "all_online", &nodes);
        let min_head = assert_agreement(&nodes, &net.genesis);
        assert!(min_head >= 1);
        assert_same_locations(&nodes, &hashes);
        assert_nobody_blocked(&oracle).await;
        assert_certificates_are_bound_to_the_chain(&nodes[&0], net);

        Outcome {
            auditor: context.auditor().state(),
            heads: nodes
                .values()
                .map(|n| {
                    let h = head(n);
                    (h, n.store.digest_at(h).unwrap().unwrap())
                })
                .collect(),
        }
    })
}

#[test]
fn all_online_finalize_submitted_transactions() {
    with_seed(
        "all_online_finalize_submitted_transactions",
        seed_or(1),
        run_all_online,
    );
}

/// Validator 3 loses every link. The other three (a quorum) keep finalizing; once the links
/// return, validator 3 backfills the blocks it missed and ends on the same chain.
#[test]
fn partitioned_validator_catches_up_after_heal() {
    with_seed(
        "partitioned_validator_catches_up_after_heal",
        seed_or(2),
        |seed| {
            let net = &Testnet::new();
            deterministic::Runner::new(runtime_config(seed)).start(|context| async move {
                let isolated = 3;
                let oracle = net.start_network(&context).await;
                net.connect_all(&oracle).await;
                let nodes = net.start_honest(&context, &oracle, 0..N).await;
                let mut clients = Clients::new(2_000, 3);

                // Everyone makes progress together first.
                let before = submit_rounds(
                    &context,
                    &nodes,
                    &[0, 1, 2, 3],
                    &mut clients,
                    3,
                    Duration::from_millis(100),
                )
                .await;
                wait_until(
                    &context,
                    &nodes,
                    Duration::from_secs(30),
                    "pre-partition transactions finalized",
                    |n| all_finalized(n, &before),
                )
                .await;

                // Cut validator 3 off.
                for j in (0..N).filter(|j| *j != isolated) {
                    net.disconnect(&oracle, isolated, j).await;
                }
                let cut_head = head(&nodes[&isolated]);
                let majority: BTreeMap<usize, Arc<Shared>> = nodes
                    .iter()
                    .filter(|(i, _)| **i != isolated)
                    .map(|(i, n)| (*i, n.clone()))
                    .collect();
                let during = submit_rounds(
                    &context,
                    &nodes,
                    &[0, 1, 2],
                    &mut clients,
                    10,
                    Duration::from_millis(100),
                )
                .await;
                wait_until(
                    &context,
                    &majority,
                    Duration::from_secs(60),
                    "the connected majority to finalize while validator 3 is cut off",
                    |n| all_finalized(n, &during) && head(n) >= cut_head + 20,
                )
                .await;
                assert_agreement(&majority, &net.genesis);
                // Nothing submitted after the cut can have reached the isolated validator.
                let isolated_node = &nodes[&isolated];
                assert!(
                    isolated_node
                        .store
                        .finalized_among(&during)
                        .unwrap()
                        .iter()
                        .all(|f| !f),
                    "the isolated validator finalized transactions it could not have seen"
                );
                let majority_head = majority.values().map(|n| head(n)).min().unwrap();
                assert!(head(isolated_node) < majority_head);

                // Heal, then keep submitting, now also through validator 3.
                for j in (0..N).filter(|j| *j != isolated) {
                    net.connect(&oracle, isolated, j).await;
                }
                let after = submit_rounds(
                    &context,
                    &nodes,
                    &[3, 0, 1],
                    &mut clients,
                    3,
                    Duration::from_millis(100),
                )
                .await;
                let all: Vec<TxHash> = [before, during, after].concat();
                wait_until(
                    &context,
                    &nodes,
                    Duration::from_secs(60),
                    "validator 3 to catch up and every transaction finalized everywhere",
                    |n| all_finalized(n, &all) && head(n) >= majority_head,
                )
                .await;
                assert!(assert_agreement(&nodes, &net.genesis) >= majority_head);
                assert_same_locations(&nodes, &all);
                summary(&context, "partition", &nodes);
                assert_nobody_blocked(&oracle).await;
            });
        },
    );
}

/// The whole network loses power (no clean shutdown, unsynced writes torn) at a
/// seed-dependent virtual time and restarts from the runtime's checkpoint with the same
/// stores and partitions: every block finalized before the crash is still there, unchanged,
/// and the chain keeps growing.
#[test]
fn unclean_restart_of_whole_network_keeps_finalized_blocks() {
    with_seed(
        "unclean_restart_of_whole_network_keeps_finalized_blocks",
        seed_or(3),
        |seed| {
            let net = Testnet::new();
            // Crash somewhere in 0.5-3 s of virtual time after the first blocks are final.
            let crash_after = Duration::from_millis(500 + seed.wrapping_mul(7_919) % 2_500);

            // The crash tears unsynced writes: each byte written since its blob's last sync
            // survives with probability one half (stores and journals alike).
            let torn = deterministic::FaultConfig {
                write_rate: Some(deterministic::WriteConfig {
                    failure_rate: commonware_utils::probability!(0.0),
                    retention_rate: commonware_utils::probability!(0.5),
                    mode: deterministic::PartialWriteMode::Subset,
                }),
                ..Default::default()
            };
            // First life: run, submit, crash.
            let cfg = runtime_config(seed).with_storage_fault_config(torn);
            let (before_crash, checkpoint) =
                deterministic::Runner::new(cfg).start_and_recover(|context| {
                    let net = &net;
                    async move {
                        let oracle = net.start_network(&context).await;
                        net.connect_all(&oracle).await;
                        let nodes = net.start_honest(&context, &oracle, 0..N).await;
                        let mut clients = Clients::new(3_000, 4);
                        submit_rounds(
                            &context,
                            &nodes,
                            &[0, 1, 2, 3],
                            &mut clients,
                            5,
                            Duration::from_millis(100),
                        )
                        .await;
                        wait_until(
                            &context,
                            &nodes,
                            Duration::from_secs(30),
                            "first finalized blocks",
                            |n| head(n) >= 5,
                        )
                        .await;
                        // Keep load on while the crash comes.
                        submit_rounds(
                            &context,
                            &nodes,
                            &[0, 1, 2, 3],
                            &mut clients,
                            1,
                            crash_after,
                        )
                        .await;
                        summary(&context, "restart (first life)", &nodes);
                        assert_agreement(&nodes, &net.genesis);
                        // Stores are only read from here on; the runtime drops every task
                        // (and with them the stores) when this future returns.
                        nodes
                            .iter()
                            .map(|(i, n)| (*i, finalized_chain(n)))
                            .collect::<BTreeMap<_, _>>()
                    }
                });
            assert!(before_crash.values().all(|chain| chain.len() > 5));

            // Second life: same stores, same partitions, same links.
            deterministic::Runner::from(checkpoint).start(|context| {
                let net = &net;
                let before_crash = &before_crash;
                async move {
                    let oracle = net.start_network(&context).await;
                    net.connect_all(&oracle).await;
                    let nodes = net.start_honest(&context, &oracle, 0..N).await;
                    for (i, chain) in before_crash {
                        let now = finalized_chain(&nodes[i]);
                        for (h, digest) in chain {
                            assert_eq!(
                                now.get(h),
                                Some(digest),
                                "validator {i} lost or changed finalized block {h} on restart"
                            );
                        }
                    }

                    // Fresh senders: pending transactions of the first life were in memory.
                    let mut clients = Clients::new(4_000, 4);
                    let hashes = submit_rounds(
                        &context,
                        &nodes,
                        &[0, 1, 2, 3],
                        &mut clients,
                        5,
                        Duration::from_millis(100),
                    )
                    .await;
                    let old_max = before_crash.values().map(|c| c.len() as u64).max().unwrap();
                    wait_until(
                        &context,
                        &nodes,
                        Duration::from_secs(60),
                        "new transactions finalized after the restart",
                        |n| all_finalized(n, &hashes) && head(n) > old_max,
                    )
                    .await;
                    summary(&context, "restart (second life)", &nodes);
                    assert_agreement(&nodes, &net.genesis);
                    assert_same_locations(&nodes, &hashes);
                    for (i, chain) in before_crash {
                        let now = finalized_chain(&nodes[i]);
                        for (h, digest) in chain {
                            assert_eq!(now.get(h), Some(digest), "validator {i}, height {h}");
                        }
                    }
                    assert_nobody_blocked(&oracle).await;
                }
            });
        },
    );
}

/// Validator 0 is Byzantine: it signs a conflicting notarize and finalize next to every vote
/// it sees and never proposes (its views time out). The three honest validators, exactly a
/// quorum, keep finalizing submitted transactions on one chain and block only validator 0.
#[test]
fn byzantine_leader_causes_no_fork() {
    with_seed("byzantine_leader_causes_no_fork", seed_or(4), |seed| {
        let net = &Testnet::new();
        deterministic::Runner::new(runtime_config(seed)).start(|context| async move {
            let byzantine = 0;
            let oracle = net.start_network(&context).await;
            net.start_conflicter(&context, &oracle, byzantine).await;
            let nodes = net.start_honest(&context, &oracle, 1..N).await;
            net.connect_all(&oracle).await;

            let mut clients = Clients::new(5_000, 3);
            let hashes = submit_rounds(
                &context,
                &nodes,
                &[1, 2, 3],
                &mut clients,
                10,
                Duration::from_millis(100),
            )
            .await;
            wait_until(
                &context,
                &nodes,
                Duration::from_secs(60),
                "honest validators to finalize every transaction",
                |n| all_finalized(n, &hashes) && head(n) >= 10,
            )
            .await;
            summary(&context, "byzantine", &nodes);
            assert_agreement(&nodes, &net.genesis);
            assert_same_locations(&nodes, &hashes);

            let byz = net.pk(byzantine);
            let blocked = oracle.blocked().await.expect("oracle");
            assert!(
                !blocked.is_empty(),
                "nobody blocked the equivocating validator"
            );
            for (by, whom) in blocked {
                assert_ne!(by, byz, "the Byzantine validator's blocks are not tracked");
                assert_eq!(whom, byz, "an honest validator was blocked");
            }
        });
    });
}

/// Validator 0 is Byzantine twins: one copy of it talks only to validators 1 and 2, the other
/// only to 2 and 3, each running honest Weft in its half, so validator 0 votes for whatever
/// each half sees and builds a block for each half when it leads. Either half plus its twin
/// is a quorum of 3 on its own, so only validator 2's single vote per view stands between
/// the halves and a fork. The honest validators agree on every finalized block and body,
/// keep finalizing, and validator 2, which hears both twins, catches the conflicting votes.
#[test]
fn twins_cannot_fork_the_chain() {
    with_seed("twins_cannot_fork_the_chain", seed_or(6), |seed| {
        let net = &Testnet::new();
        deterministic::Runner::new(runtime_config(seed)).start(|context| async move {
            let oracle = net.start_network(&context).await;
            let (twin_a, twin_b) = net
                .start_twins(&context, &oracle, 0, &[1, 2], &[2, 3])
                .await;
            let nodes = net.start_honest(&context, &oracle, 1..N).await;
            net.connect_all(&oracle).await;

            let mut clients = Clients::new(6_000, 3);
            let hashes = submit_rounds(
                &context,
                &nodes,
                &[1, 2, 3],
                &mut clients,
                10,
                Duration::from_millis(100),
            )
            .await;
            wait_until(
                &context,
                &nodes,
                Duration::from_secs(60),
                "honest validators to finalize every transaction",
                |n| all_finalized(n, &hashes) && head(n) >= 20,
            )
            .await;
            summary(&context, "twins", &nodes);
            assert_agreement(&nodes, &net.genesis);
            assert_same_locations(&nodes, &hashes);
            // What each twin finalized is the honest chain too (they are honest in their half).
            let mut all = nodes.clone();
            all.insert(10, twin_a);
            all.insert(11, twin_b);
            assert_agreement(&all, &net.genesis);

            // The twins did sign conflicting votes, and were caught: an honest validator
            // blocked validator 0, and no honest validator blocked another (what the twins
            // block is their own affair).
            let byz = net.pk(0);
            let blocked = oracle.blocked().await.expect("oracle");
            eprintln!("blocked (by, whom): {} pairs", blocked.len());
            assert!(
                blocked.iter().any(|(by, whom)| *by != byz && *whom == byz),
                "no honest validator caught the twins' conflicting votes"
            );
            for (by, whom) in blocked {
                assert!(
                    by == byz || whom == byz,
                    "an honest validator blocked another"
                );
            }
            // And what they signed is kept as evidence that verifies offline against the
            // validator set, naming validator 0 and nobody else.
            let chain = weft_types::ChainId::of_genesis(&net.genesis);
            let validators: Vec<weft_types::VerifyingKey> =
                net.validators.iter().cloned().collect();
            let mut caught = 0;
            for node in nodes.values() {
                for (_, evidence) in node.store.conflicts(0, 1_000).expect("conflicts") {
                    let fault = weft_finality::verify_double_sign(&evidence, &validators, &chain)
                        .expect("recorded evidence verifies");
                    assert_eq!(fault.signer, byz, "evidence against an honest validator");
                    caught += 1;
                }
            }
            assert!(
                caught > 0,
                "no honest validator kept the twins' conflicting votes"
            );
            // Evidence checked against another network does not verify.
            let other = weft_types::ChainId(weft_types::sha256(&[b"another network"]));
            let (_, any) = nodes
                .values()
                .find_map(|n| n.store.conflicts(0, 1).expect("conflicts").pop())
                .expect("some evidence");
            assert!(weft_finality::verify_double_sign(&any, &validators, &other).is_err());
        });
    });
}

/// The same seed gives the same execution: identical runtime event hashes and identical
/// finalized heads.
#[test]
fn same_seed_same_result() {
    with_seed("same_seed_same_result", seed_or(5), |seed| {
        let first = run_all_online(seed);
        let second = run_all_online(seed);
        assert_eq!(first, second, "two runs of one seed diverged");
        // The audit hash does capture the execution: another seed schedules differently.
        let other = run_all_online(seed.wrapping_add(1));
        assert_ne!(first.auditor, other.auditor, "the auditor ignores the seed");
    });
}

/// Validator 3 runs honest consensus but forges the body of every block it broadcasts (its
/// own proposals): the real header with altered transactions. The honest validators never
/// accept such a block, keep finalizing, and every store holds only voted-on bodies.
#[test]
fn body_forging_leader_plants_no_forged_body() {
    with_seed(
        "body_forging_leader_plants_no_forged_body",
        seed_or(6),
        |seed| {
            let net = &Testnet::new();
            deterministic::Runner::new(runtime_config(seed)).start(|context| async move {
                let forger = 3;
                let oracle = net.start_network(&context).await;
                net.connect_all(&oracle).await;
                let mut nodes = net.start_honest(&context, &oracle, 0..forger).await;
                let (forger_node, forged) = net
                    .start_body_forger(&context, &oracle, forger, true, false)
                    .await;
                let mut clients = Clients::new(6_000, 3);
                let hashes = submit_rounds(
                    &context,
                    &nodes,
                    &[0, 1, 2],
                    &mut clients,
                    20,
                    Duration::from_millis(100),
                )
                .await;
                wait_until(
                    &context,
                    &nodes,
                    Duration::from_secs(60),
                    "honest validators to finalize every transaction",
                    |n| all_finalized(n, &hashes) && head(n) >= 12,
                )
                .await;
                assert!(
                    forged.load(Ordering::Relaxed) > 0,
                    "the forger never sent a forged block: the test proves nothing"
                );
                for (i, node) in &nodes {
                    assert_same_bodies(node, &nodes[&0], &format!("validator {i}"));
                }
                nodes.insert(forger, forger_node);
                summary(&context, "forging leader", &nodes);
                assert_agreement(&nodes, &net.genesis);
                assert_only_blocked(&oracle, &net.pk(forger)).await;
            });
        },
    );
}

/// Validator 3 votes and proposes honestly but forges the bodies of the blocks it serves to
/// backfill requests. Validator 2 is cut off from 0 and 1 (it can reach only the forger)
/// while the others finalize, so it must backfill from the forger. It never stores a forged
/// body; once healed it catches up from honest peers and every store agrees, body and all.
#[test]
fn body_forging_peer_cannot_poison_backfill() {
    with_seed(
        "body_forging_peer_cannot_poison_backfill",
        seed_or(7),
        |seed| {
            let net = &Testnet::new();
            deterministic::Runner::new(runtime_config(seed)).start(|context| async move {
                let (lagging, forger) = (2, 3);
                let oracle = net.start_network(&context).await;
                net.connect_all(&oracle).await;
                let mut nodes = net.start_honest(&context, &oracle, 0..forger).await;
                let (forger_node, forged) = net
                    .start_body_forger(&context, &oracle, forger, false, true)
                    .await;
                let mut clients = Clients::new(7_000, 3);
                let before = submit_rounds(
                    &context,
                    &nodes,
                    &[0, 1, 2],
                    &mut clients,
                    3,
                    Duration::from_millis(100),
                )
                .await;
                wait_until(
                    &context,
                    &nodes,
                    Duration::from_secs(30),
                    "first transactions finalized",
                    |n| all_finalized(n, &before),
                )
                .await;

                // Validator 2 keeps only its link to the forger; 0, 1 and 3 finalize on.
                for j in [0, 1] {
                    net.disconnect(&oracle, lagging, j).await;
                }
                let cut_head = head(&nodes[&lagging]);
                let majority: BTreeMap<usize, Arc<Shared>> =
                    [0, 1].iter().map(|i| (*i, nodes[i].clone())).collect();
                let during = submit_rounds(
                    &context,
                    &nodes,
                    &[0, 1],
                    &mut clients,
                    10,
                    Duration::from_millis(100),
                )
                .await;
                wait_until(
                    &context,
                    &majority,
                    Duration::from_secs(60),
                    "0 and 1 to finalize while validator 2 can reach only the forger",
                    |n| all_finalized(n, &during) && head(n) >= cut_head + 10,
                )
                .await;
                // Give the lagging validator time to ask the forger for the blocks it missed.
                context.sleep(Duration::from_secs(5)).await;
                assert!(
                    forged.load(Ordering::Relaxed) > 0,
                    "the forger never answered a backfill request: the test proves nothing"
                );
                assert_same_bodies(&nodes[&lagging], &nodes[&0], "the lagging validator");

                // Heal: it catches up from honest peers.
                for j in [0, 1] {
                    net.connect(&oracle, lagging, j).await;
                }
                let after = submit_rounds(
                    &context,
                    &nodes,
                    &[0, 1, 2],
                    &mut clients,
                    3,
                    Duration::from_millis(100),
                )
                .await;
                let all: Vec<TxHash> = [before, during, after].concat();
                let target = head(&nodes[&0]);
                wait_until(
                    &context,
                    &nodes,
                    Duration::from_secs(60),
                    "validator 2 to catch up and every transaction finalized",
                    |n| all_finalized(n, &all) && head(n) >= target,
                )
                .await;
                nodes.insert(forger, forger_node);
                summary(&context, "forging backfill", &nodes);
                assert_agreement(&nodes, &net.genesis);
                assert_only_blocked(&oracle, &net.pk(forger)).await;
            });
        },
    );
}

/// Defect: one sender whose consecutive nonces span more namespaces than a block may hold
/// made every honest leader propose a block with a nonce gap, which every verifier rejected:
/// the chain halted for good. Here that sender sends its transactions to every validator
/// (as on the devnet), cycling over twelve namespaces with `namespaces_per_block_max = 8`; the
/// chain keeps finalizing, and
/// both the honest senders' and the spammer's transactions end finalized, in nonce order.
#[test]
fn a_sender_spanning_too_many_namespaces_cannot_halt_the_chain() {
    with_seed(
        "a_sender_spanning_too_many_namespaces_cannot_halt_the_chain",
        seed_or(8),
        |seed| {
            let mut net = Testnet::new();
            net.limits.namespaces_per_block_max = 8;
            let net = &net;
            deterministic::Runner::new(runtime_config(seed)).start(|context| async move {
                let oracle = net.start_network(&context).await;
                net.connect_all(&oracle).await;
                let nodes = net.start_honest(&context, &oracle, 0..N).await;
                let spammer = weft_types::SigningKey::from_seed(8_888);
                let chain = weft_types::ChainId::of_genesis(&net.genesis);
                let spam: Vec<weft_types::Transaction> = (0..40u64)
                    .map(|n| {
                        weft_types::Transaction::sign(
                            &spammer,
                            &chain,
                            // Twelve namespaces, cycled: a later nonce returns to an
                            // earlier namespace after the ones that did not fit.
                            weft_types::NamespaceId(100 + n % 12),
                            n,
                            bytes::Bytes::from(format!("spam {n}")),
                        )
                    })
                    .collect();
                let spam_hashes: Vec<TxHash> = spam.iter().map(|t| t.hash()).collect();
                for node in nodes.values() {
                    for tx in &spam {
                        submit(node, tx.clone());
                    }
                }
                let mut clients = Clients::new(8_000, 3);
                let honest = submit_rounds(
                    &context,
                    &nodes,
                    &[0, 1, 2, 3],
                    &mut clients,
                    5,
                    Duration::from_millis(100),
                )
                .await;
                wait_until(
                    &context,
                    &nodes,
                    Duration::from_secs(60),
                    "honest and spam transactions finalized",
                    |n| all_finalized(n, &honest) && all_finalized(n, &spam_hashes),
                )
                .await;
                assert_agreement(&nodes, &net.genesis);
                assert_same_locations(&nodes, &[honest, spam_hashes.clone()].concat());
                // The spammer's chain was cut across blocks, never with a gap.
                let heights: Vec<u64> = spam_hashes
                    .iter()
                    .map(|h| nodes[&0].store.tx_location(h).unwrap().unwrap().height)
                    .collect();
                assert!(heights.windows(2).all(|w| w[0] <= w[1]), "{heights:?}");
                assert!(
                    heights.first() < heights.last(),
                    "all spam fit one block: {heights:?}"
                );
                let rejected: u64 = nodes
                    .values()
                    .map(|n| n.metrics.proposals_rejected.get())
                    .sum();
                assert_eq!(rejected, 0, "honest proposals were rejected");
            });
        },
    );
}

/// Defect: nonces far ahead were admitted and held for good, so keys sending only gapped
/// nonces could fill every validator's mempool and keep honest senders out. Here 50 keys
/// flood every validator with nonces 1..=40 (nonce 0 never comes) into mempools of 2,000
/// transactions; the flood takes at most the queued bounds, and honest senders' transactions
/// are all admitted (`submit` asserts it) and finalized.
#[test]
fn nonce_gap_flood_cannot_crowd_out_honest_senders() {
    with_seed(
        "nonce_gap_flood_cannot_crowd_out_honest_senders",
        seed_or(9),
        |seed| {
            let mut net = Testnet::new();
            net.mempool = weft_mempool::Config {
                txs_max: 2_000,
                sender_txs_max: 100,
                queued_txs_max: 500,
                queued_sender_txs_max: 16,
                ..Default::default()
            };
            let net = &net;
            deterministic::Runner::new(runtime_config(seed)).start(|context| async move {
                let oracle = net.start_network(&context).await;
                net.connect_all(&oracle).await;
                let nodes = net.start_honest(&context, &oracle, 0..N).await;
                let chain = weft_types::ChainId::of_genesis(&net.genesis);
                let mut flood_accepted = 0;
                for k in 0..50u64 {
                    let attacker = weft_types::SigningKey::from_seed(50_000 + k);
                    for nonce in 1..=40u64 {
                        let tx = weft_types::Transaction::sign(
                            &attacker,
                            &chain,
                            weft_types::NamespaceId(1),
                            nonce,
                            bytes::Bytes::from(vec![7u8; 512]),
                        );
                        for node in nodes.values() {
                            let state = weft_consensus::ChainState(&node.store);
                            let mut mempool = node.mempool.lock();
                            if mempool.admit(tx.clone(), &state, true).is_ok() {
                                flood_accepted += 1;
                            }
                        }
                    }
                }
                // 500 queued per validator at most, out of 2,000 offered to each.
                assert!(
                    flood_accepted <= 4 * 500,
                    "{flood_accepted} flood transactions held"
                );
                let mut clients = Clients::new(9_000, 8);
                let honest = submit_rounds(
                    &context,
                    &nodes,
                    &[0, 1, 2, 3],
                    &mut clients,
                    200,
                    Duration::from_millis(20),
                )
                .await;
                wait_until(
                    &context,
                    &nodes,
                    Duration::from_secs(60),
                    "every honest transaction finalized",
                    |n| all_finalized(n, &honest),
                )
                .await;
                for node in nodes.values() {
                    assert!(node.mempool.lock().queued_len() <= 500);
                }
                assert_agreement(&nodes, &net.genesis);
            });
        },
    );
}

/// Validator 3's disk fails mid-run: its next store commit fails (the failed write lands
/// half its bytes), its finalizer stops, and with it the whole validator, as a node process
/// exits on a fatal error, instead of voting on while persisting nothing. The other three,
/// a quorum, keep finalizing. With its disk replaced (same contents, torn write included)
/// it restarts from its store and journals holding every block it had acknowledged,
/// catches up, and ends on the same chain with the same bodies.
#[test]
fn a_validator_whose_disk_fails_stops_and_restarts_without_loss() {
    with_seed(
        "a_validator_whose_disk_fails_stops_and_restarts_without_loss",
        seed_or(9),
        |seed| {
            let net = &Testnet::new();
            // The victim's finalizer panics on its failed commit; the runtime contains that
            // panic to the victim's task tree, as the OS contains a process exit.
            let cfg = runtime_config(seed).with_catch_panics(true);
            deterministic::Runner::new(cfg).start(|context| async move {
                let victim = 3;
                let oracle = net.start_network(&context).await;
                net.connect_all(&oracle).await;
                let mut nodes = net.start_honest(&context, &oracle, 0..victim).await;
                let (node, life) = net.start_crashable(&context, &oracle, victim).await;
                nodes.insert(victim, node.clone());
                let others = [0, 1, 2];
                let mut clients = Clients::new(12_000, 4);
                let before = submit_rounds(
                    &context,
                    &nodes,
                    &others,
                    &mut clients,
                    5,
                    Duration::from_millis(100),
                )
                .await;
                wait_until(
                    &context,
                    &nodes,
                    Duration::from_secs(30),
                    "the first transactions finalized everywhere",
                    |n| all_finalized(n, &before),
                )
                .await;

                net.disks[victim].fail();
                let during = submit_rounds(
                    &context,
                    &nodes,
                    &others,
                    &mut clients,
                    5,
                    Duration::from_millis(100),
                )
                .await;
                net.wait_stopped(&context, victim, Duration::from_secs(30))
                    .await;
                let stops = net.stopped.lock().unwrap().clone();
                assert_eq!(stops.len(), 1, "only the victim stops: {stops:?}");
                assert_eq!(stops[0].0, victim);
                assert!(
                    stops[0].1.starts_with("finalizer"),
                    "the finalizer stops first: {stops:?}"
                );
                assert!(net.disks[victim].failures.load(Ordering::SeqCst) > 0);
                life.await
                    .expect("the victim's life ends with its stopped part");
                // The highest block the victim acknowledged: its store's head moves only
                // after a commit returned.
                let acknowledged = head(&node);
                nodes.remove(&victim);
                drop(node);
                wait_until(
                    &context,
                    &nodes,
                    Duration::from_secs(30),
                    "the other three finalize without the victim",
                    |n| all_finalized(n, &during),
                )
                .await;
                let progressed = nodes.values().map(|n| head(n)).min().unwrap();

                net.disks[victim].replace();
                let (restarted, _life) = net.start_crashable(&context, &oracle, victim).await;
                let kept = finalized_chain(&restarted);
                let reference = finalized_chain(&nodes[&0]);
                assert!(acknowledged >= 1);
                assert!(
                    head(&restarted) >= acknowledged,
                    "the victim lost acknowledged blocks: head {} < {acknowledged}",
                    head(&restarted)
                );
                for (h, digest) in &kept {
                    assert_eq!(reference.get(h), Some(digest), "victim height {h}");
                }
                assert!(all_finalized(&restarted, &before));
                nodes.insert(victim, restarted);
                let after = submit_rounds(
                    &context,
                    &nodes,
                    &[0, 1, 2, 3],
                    &mut clients,
                    3,
                    Duration::from_millis(100),
                )
                .await;
                wait_until(
                    &context,
                    &nodes,
                    Duration::from_secs(60),
                    "the restarted victim catches up and everything is finalized everywhere",
                    |n| {
                        all_finalized(n, &during)
                            && all_finalized(n, &after)
                            && head(n) > progressed
                    },
                )
                .await;
                summary(&context, "failing disk", &nodes);
                assert!(assert_agreement(&nodes, &net.genesis) > progressed);
                assert_same_locations(&nodes, &[before, during, after].concat());
                assert_eq!(net.stopped.lock().unwrap().len(), 1, "nobody else stopped");
                assert_nobody_blocked(&oracle).await;
            });
        },
    );
}

/// Runs four validators, validator 0 a Byzantine leader doing `misbehaviour`; every sender
/// submits three consecutive nonces per round to the honest ones. Returns the honest nodes
/// once every submission is finalized everywhere, after checking agreement (blocks and
/// bodies) and identical transaction locations.
fn run_byzantine_leader(
    name: &str,
    seed: u64,
    misbehaviour: weft_consensus::byzantine::Misbehaviour,
    check: impl FnOnce(&BTreeMap<usize, Arc<Shared>>, &[TxHash], &Testnet) + Send + 'static,
) {
    with_seed(name, seed, |seed| {
        let net = Testnet::new();
        deterministic::Runner::new(runtime_config(seed)).start(|context| async move {
            let oracle = net.start_network(&context).await;
            let byzantine = net.start_validator(&context, &oracle, 0).await;
            byzantine
                .misbehaviour
                .set(weft_consensus::byzantine::ByzantineLeader::new(
                    misbehaviour,
                ))
                .expect("set once, before it is linked to anyone");
            let nodes = net.start_honest(&context, &oracle, 1..N).await;
            net.connect_all(&oracle).await;
            let mut clients = Clients::new(7_000, 3);
            let mut hashes = Vec::new();
            for round in 0..8 {
                for s in 0..clients.keys.len() {
                    for _ in 0..3 {
                        hashes.push(submit(&nodes[&(1 + s % 3)], clients.next_tx(s)));
                    }
                }
                // A bundle across senders 1 and 2 (never the censor's victim, sender 0).
                let legs = clients.next_bundle(1, 2, head(&nodes[&1]) + 500);
                hashes.extend(submit_bundle(&nodes[&(1 + round % 3)], legs));
                context.sleep(Duration::from_millis(100)).await;
            }
            wait_until(
                &context,
                &nodes,
                Duration::from_secs(60),
                "honest validators to finalize every transaction",
                |n| all_finalized(n, &hashes) && head(n) >= 20,
            )
            .await;
            summary(&context, name, &nodes);
            assert_agreement(&nodes, &net.genesis);
            assert_same_locations(&nodes, &hashes);
            let rewritten = byzantine.misbehaviour.get().expect("set").rewritten();
            assert!(
                rewritten > 0,
                "the Byzantine leader never changed a proposal"
            );
            eprintln!("{name}: {rewritten} proposals rewritten");
            check(&nodes, &hashes, &net);
        });
    });
}

/// Proposals the honest validators refused as invalid.
fn rejected(nodes: &BTreeMap<usize, Arc<Shared>>) -> u64 {
    nodes
        .values()
        .map(|n| n.metrics.proposals_rejected.get())
        .sum()
}

/// The finalized blocks validator `i` proposed, as an honest store holds them.
fn proposed_by(node: &Shared, net: &Testnet, i: usize) -> Vec<weft_types::Block> {
    (1..=head(node))
        .filter_map(|h| node.store.block(h).expect("store read"))
        .filter(|b| b.header.proposer == net.pk(i))
        .collect()
}

/// A leader that reverses each sender's nonces within a namespace (resealed, so only rule 8
/// catches it): its blocks are refused, the others order every sender's transactions, and
/// every finalized block has each sender's nonces ascending.
#[test]
fn a_reordering_leader_gets_no_block_finalized_out_of_order() {
    use weft_consensus::byzantine::Misbehaviour;
    run_byzantine_leader(
        "a_reordering_leader_gets_no_block_finalized_out_of_order",
        seed_or(7),
        Misbehaviour::Reorder,
        |nodes, _, _| {
            assert!(rejected(nodes) > 0, "no reordered proposal was refused");
            let node = &nodes[&1];
            for h in 1..=head(node) {
                let block = node.store.block(h).unwrap().unwrap();
                let mut last: std::collections::HashMap<[u8; 32], u64> = Default::default();
                for tx in block.body.txs() {
                    if let Some(prev) = last.insert(*tx.sender(), tx.nonce()) {
                        assert!(tx.nonce() > prev, "height {h}: nonces out of order");
                    }
                }
            }
        },
    );
}

/// A leader that includes bundles with one leg left out (and that sender's later nonces, so
/// only the bundle rule catches it): no honest validator accepts such a block, every bundle
/// is finalized whole by the others, and no block the splitter proposed with a bundle is
/// finalized.
#[test]
fn a_bundle_splitting_leader_gets_no_split_finalized() {
    use weft_consensus::byzantine::Misbehaviour;
    run_byzantine_leader(
        "a_bundle_splitting_leader_gets_no_split_finalized",
        seed_or(10),
        Misbehaviour::SplitBundle,
        |nodes, _, net| {
            for node in nodes.values() {
                let mut at: std::collections::HashMap<weft_types::BundleId, u64> =
                    Default::default();
                for h in 1..=head(node) {
                    let block = node.store.block(h).unwrap().unwrap();
                    block
                        .body
                        .check_bundles()
                        .expect("finalized bundles are whole");
                    for tx in block.body.txs() {
                        if let Some(leg) = tx.leg() {
                            assert_eq!(*at.entry(leg.bundle()).or_insert(h), h, "legs apart");
                        }
                    }
                }
                assert_eq!(at.len(), 8, "every bundle finalized");
            }
            for b in proposed_by(&nodes[&1], net, 0) {
                assert!(
                    b.body.bundles.is_empty(),
                    "a block of the splitter with a bundle was finalized at height {}",
                    b.height()
                );
            }
        },
    );
}

/// A leader that leaves out one sender's transactions: it cannot censor for long, since the
/// other leaders include them; its own finalized blocks never hold the sender's.
#[test]
fn a_censoring_leader_only_delays_its_victim() {
    use weft_consensus::byzantine::Misbehaviour;
    let victim = *Clients::new(7_000, 3).keys[0]
        .public_key()
        .as_ref()
        .first_chunk::<32>()
        .unwrap();
    run_byzantine_leader(
        "a_censoring_leader_only_delays_its_victim",
        seed_or(8),
        Misbehaviour::Censor([victim].into()),
        move |nodes, _, net| {
            // Every transaction, the victim's included, was finalized (checked by the run).
            let own = proposed_by(&nodes[&1], net, 0);
            assert!(
                !own.is_empty(),
                "the censor's blocks are valid and get finalized"
            );
            for b in own {
                assert!(
                    b.body.txs().all(|t| *t.sender() != victim),
                    "the censor included its victim at height {}",
                    b.height()
                );
            }
        },
    );
}

/// A leader that stamps its blocks 2 s ahead (the drift bound is 500 ms): no block of its is
/// ever finalized, and the chain goes on around its views.
#[test]
fn a_future_stamping_leader_gets_no_block_finalized() {
    use weft_consensus::byzantine::Misbehaviour;
    run_byzantine_leader(
        "a_future_stamping_leader_gets_no_block_finalized",
        seed_or(9),
        Misbehaviour::FutureStamp(2_000),
        |nodes, _, net| {
            assert!(
                rejected(nodes) > 0,
                "no future-stamped proposal was refused"
            );
            assert_eq!(proposed_by(&nodes[&1], net, 0).len(), 0);
        },
    );
}

/// Epochs (`weft_consensus::epochs`): the chain crosses many boundaries while validator 3 is
/// down, each epoch's blocks are built and certified in that epoch, and when validator 3 comes
/// back it catches up through every boundary it slept through (rule 3: peers' messages of a
/// later epoch make it fetch its boundary) and then votes in the current epoch: with it back,
/// the network finalizes with validator 0 cut off as well.
#[test]
fn a_validator_asleep_for_epochs_catches_up_and_votes_in_the_current_one() {
    with_seed(
        "a_validator_asleep_for_epochs_catches_up_and_votes_in_the_current_one",
        seed_or(11),
        |seed| {
            let net = &Testnet::new();
            deterministic::Runner::new(runtime_config(seed)).start(|context| async move {
                let sleeper = 3;
                let oracle = net.start_network(&context).await;
                net.connect_all(&oracle).await;
                let awake = net.start_honest(&context, &oracle, 0..sleeper).await;
                let mut clients = Clients::new(3_000, 3);
                let l = SIM_EPOCH_LENGTH_BLOCKS;
                wait_until(
                    &context,
                    &awake,
                    Duration::from_secs(120),
                    "three validators past four epoch boundaries",
                    |n| head(n) >= 4 * l + 2,
                )
                .await;
                for node in awake.values() {
                    assert!(node.metrics.epoch.get() >= 4, "the epoch gauge lags");
                    assert!(node.metrics.epochs_entered.get() >= 4);
                }

                let back = net.start_validator(&context, &oracle, sleeper).await;
                let mut nodes = awake.clone();
                nodes.insert(sleeper, back.clone());
                let target = awake.values().map(|n| head(n)).max().unwrap() + 2 * l;
                wait_until(
                    &context,
                    &nodes,
                    Duration::from_secs(120),
                    "the sleeper caught up, two more epochs on",
                    |n| head(n) >= target,
                )
                .await;
                assert_eq!(
                    back.metrics.epoch.get() as u64,
                    head(&back) / l,
                    "the sleeper runs the epoch of its head"
                );

                // Its vote now counts in the current epoch: with validator 0 cut off, the
                // other three (the sleeper among them) are exactly a quorum.
                for j in (0..N).filter(|j| *j != 0) {
                    net.disconnect(&oracle, 0, j).await;
                }
                let quorum: BTreeMap<usize, Arc<Shared>> = nodes
                    .iter()
                    .filter(|(i, _)| **i != 0)
                    .map(|(i, n)| (*i, n.clone()))
                    .collect();
                let hashes = submit_rounds(
                    &context,
                    &quorum,
                    &[1, 2, 3],
                    &mut clients,
                    3,
                    Duration::from_millis(100),
                )
                .await;
                wait_until(
                    &context,
                    &quorum,
                    Duration::from_secs(120),
                    "a quorum that needs the sleeper's votes finalized transactions",
                    |n| all_finalized(n, &hashes),
                )
                .await;
                assert_agreement(&nodes, &net.genesis);
                for node in nodes.values() {
                    assert_certificates_are_bound_to_the_chain(node, net);
                }
                assert_nobody_blocked(&oracle).await;
                summary(&context, "epochs", &nodes);
            });
        },
    );
}

/// The validator set follows the stake table (`epochs` rules 5 and 6, block rule 10).
/// Validators 0-3 are the genesis set; validator 4 runs from the start outside it, following
/// the chain. The stake table then drops validator 0 and adds validator 4: the next boundary
/// announces it, and two epochs later validator 4 votes and validator 0 does not. With 0 and 1
/// cut off, validators 2, 3 and 4 are exactly a quorum of the new set and keep finalizing.
/// Then the table becomes unreadable and changes again: boundaries announce no change, and the
/// set stays as it was. Every certificate verifies against its own epoch's set.
#[test]
fn the_validator_set_follows_the_stake_table_across_epochs() {
    with_seed(
        "the_validator_set_follows_the_stake_table_across_epochs",
        seed_or(12),
        |seed| {
            let mut net = Testnet::with_validators(5);
            let genesis: Vec<_> = (0..4).map(|i| net.pk(i)).collect();
            net.genesis_set = commonware_utils::ordered::Set::try_from(genesis.clone()).unwrap();
            let table = Arc::new(StakeTable::new(genesis));
            net.stake_table = Some(table.clone());
            let net = &net;
            deterministic::Runner::new(runtime_config(seed)).start(|context| async move {
                let l = SIM_EPOCH_LENGTH_BLOCKS;
                let oracle = net.start_network(&context).await;
                net.connect_all(&oracle).await;
                let nodes = net.start_honest(&context, &oracle, 0..5).await;
                let mut clients = Clients::new(4_000, 3);
                wait_until(
                    &context,
                    &nodes,
                    Duration::from_secs(60),
                    "everyone (validator 4 following) in epoch 1",
                    |n| head(n) > l,
                )
                .await;
                assert_eq!(
                    nodes[&4].metrics.proposals_rejected.get(),
                    0,
                    "an observer verifies nothing"
                );

                // Validator 0 unbonds, validator 4 bonds.
                let changed_at = head(&nodes[&1]);
                let new_set: Vec<_> = (1..5).map(|i| net.pk(i)).collect();
                table.set(new_set.clone());
                // Announced at the boundary of this epoch or (if it was already built) the next,
                // in force two epochs after that.
                let in_force = (changed_at / l + 3) * l;
                wait_until(
                    &context,
                    &nodes,
                    Duration::from_secs(120),
                    "the new set in force",
                    |n| head(n) > in_force + 2,
                )
                .await;
                let mut sorted = new_set.clone();
                sorted.sort();
                assert_eq!(epoch_set(&nodes[&1], net, in_force / l), sorted);

                // Validators 2, 3 and 4 are a quorum of the new set only if 4 votes.
                for (gone, j) in [(0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (1, 4)] {
                    net.disconnect(&oracle, gone, j).await;
                }
                let quorum: BTreeMap<usize, Arc<Shared>> = nodes
                    .iter()
                    .filter(|(i, _)| **i >= 2)
                    .map(|(i, n)| (*i, n.clone()))
                    .collect();
                let hashes = submit_rounds(
                    &context,
                    &quorum,
                    &[2, 3, 4],
                    &mut clients,
                    3,
                    Duration::from_millis(100),
                )
                .await;
                wait_until(
                    &context,
                    &quorum,
                    Duration::from_secs(120),
                    "the new set's quorum (validator 4 voting) finalized transactions",
                    |n| all_finalized(n, &hashes),
                )
                .await;

                // An unreadable table: boundaries announce no change.
                table.unreadable.store(true, Ordering::Relaxed);
                table.set((0..4).map(|i| net.pk(i)).collect());
                let from = head(&nodes[&2]);
                wait_until(
                    &context,
                    &quorum,
                    Duration::from_secs(120),
                    "three more epochs with the table unreadable",
                    |n| head(n) > from + 3 * l,
                )
                .await;
                let latest = head(&nodes[&2]) / l;
                assert_eq!(
                    epoch_set(&nodes[&2], net, latest),
                    sorted,
                    "an unreadable table changed the set"
                );

                assert_agreement(&nodes, &net.genesis);
                for node in quorum.values() {
                    assert_certificates_are_bound_to_the_chain(node, net);
                }

                // A light client follows every change from genesis alone: each boundary's
                // announced set, checked against its header and that header's certificate.
                use commonware_codec::Encode as _;
                let node = &nodes[&2];
                let chain = weft_types::ChainId::of_genesis(&net.genesis);
                let genesis: Vec<_> = net.genesis_set.iter().cloned().collect();
                let mut history = weft_finality::SetHistory::new(chain, l, genesis).unwrap();
                let top = head(node);
                let boundary = |h: u64| {
                    let block = node.store.block(h).unwrap().expect("boundary block");
                    let cert = node.store.certificate(h).unwrap().unwrap_or_default();
                    (block, cert)
                };
                while history.boundary(history.next_to_learn()) <= top {
                    let e = history.next_to_learn();
                    let (block, cert) = boundary(history.boundary(e));
                    // A node serving another set under the same certified header is caught.
                    let mut forged = block.body.validators.clone();
                    forged.pop();
                    assert!(matches!(
                        history
                            .clone()
                            .learn(e, &block.header.encode(), &cert, &forged),
                        Err(weft_finality::HistoryError::Announcement(_))
                    ));
                    history
                        .learn(e, &block.header.encode(), &cert, &block.body.validators)
                        .unwrap_or_else(|err| panic!("boundary of epoch {e}: {err}"));
                }
                assert_eq!(history.set(in_force / l), Some(sorted.as_slice()));
                let mut verified = 0;
                for h in 1..=top {
                    let (block, cert) = boundary(h);
                    if !cert.is_empty() {
                        history
                            .verify(&block.header.encode(), &cert)
                            .unwrap_or_else(|err| panic!("certificate {h}: {err}"));
                        verified += 1;
                    }
                }
                assert!(verified > 0);
                summary(&context, "stake-driven set", &nodes);
            });
        },
    );
}

/// A Byzantine leader announces itself alone as a later epoch's set in every block it builds
/// (block rule 10): honest validators refuse those blocks, the chain moves on, and every
/// finalized boundary announces the set the rules call for.
#[test]
fn a_leader_announcing_its_own_validator_set_gets_no_boundary_finalized() {
    run_byzantine_leader(
        "a_leader_announcing_its_own_validator_set_gets_no_boundary_finalized",
        seed_or(13),
        weft_consensus::byzantine::Misbehaviour::Announce(vec![weft_types::SigningKey::from_seed(
            0,
        )
        .public_key()]),
        |nodes, _, net| {
            let node = &nodes[&1];
            let l = SIM_EPOCH_LENGTH_BLOCKS;
            let mut boundaries = 0;
            for epoch in 2..=head(node) / l + 1 {
                if (epoch - 1) * l > head(node) {
                    break;
                }
                let mut expected: Vec<_> = net.genesis_set.iter().cloned().collect();
                expected.sort();
                assert_eq!(epoch_set(node, net, epoch), expected);
                boundaries += 1;
            }
            assert!(boundaries > 0, "no boundary finalized to check");
            assert!(
                rejected(nodes) > 0,
                "nobody refused the Byzantine announcement"
            );
        },
    );
}

/// The real L1 staking program as the simulation's stake table: the set its boundaries
/// announce is what `stake_set` would answer (top bonded, neither jailed nor tombstoned).
struct L1Table(Arc<weft_settlement::EmbeddedL1>);

impl weft_consensus::epochs::SetSource for L1Table {
    fn next_set(&self) -> Result<Vec<weft_types::VerifyingKey>, String> {
        use commonware_codec::DecodeExt as _;
        let set = self.0.validator_set().map_err(|e| e.to_string())?;
        set.into_iter()
            .map(|(key, _, _)| {
                weft_types::VerifyingKey::decode(key.to_vec()).map_err(|e| e.to_string())
            })
            .collect()
    }
}

/// Double-signing, end to end (issue 10 §4.1): the four genesis validators are bonded on a
/// real L1 staking program whose table the boundaries announce. Validator 0 equivocates
/// (conflicting notarizes and finalizes beside every vote). The conflicting votes an honest
/// validator's consensus recorded are reported to the L1, whose verifier
/// (`weft_rollup::l1::WeftEvidence`) checks them against the validator set: validator 0 is
/// slashed and tombstoned, the next boundary announces a set without it, and two epochs
/// later the three honest validators, a quorum of the new set alone, finalize without it.
#[test]
fn an_equivocating_validator_is_slashed_tombstoned_and_leaves_the_set() {
    with_seed(
        "an_equivocating_validator_is_slashed_tombstoned_and_leaves_the_set",
        seed_or(21),
        |seed| {
            use weft_settlement::staking::{Action, StakeCall, Status};
            let mut net = Testnet::new();
            let chain = weft_types::ChainId::of_genesis(&net.genesis);
            let dir = tempfile::tempdir().unwrap();
            let genesis_keys: Vec<_> = (0..N).map(|i| net.pk(i)).collect();
            let account = |i: usize| weft_settlement::auth::public_key(&net.keys[i]);
            let l1 = Arc::new(
                weft_settlement::EmbeddedL1::open_with(
                    dir.path().join("l1.redb"),
                    Default::default(),
                    chain,
                    Default::default(),
                    Arc::new(weft_settlement::NoWeftData),
                    weft_settlement::StakingDeployment {
                        genesis_accounts: (0..N).map(|i| (account(i), 10_000_000)).collect(),
                        evidence: Some(Arc::new(weft_rollup::l1::WeftEvidence {
                            trust: weft_rollup::l1::WeftTrust {
                                sets: weft_rollup::l1::TrustedSets::Fixed(genesis_keys.clone()),
                                chain,
                                limits: net.limits,
                            },
                            window: 100,
                            min_signed_ppm: 500_000,
                        })),
                    },
                )
                .unwrap(),
            );
            for i in 0..N {
                let call = StakeCall {
                    account: account(i),
                    nonce: 0,
                    action: Action::Bond {
                        validator: account(i),
                        amount: 5_000_000,
                    },
                };
                l1.stake(call.sign(&net.keys[i], &chain)).expect("bond");
            }
            net.stake_table = Some(Arc::new(L1Table(l1.clone())));
            let net = &net;
            deterministic::Runner::new(runtime_config(seed)).start(|context| async move {
                let l = SIM_EPOCH_LENGTH_BLOCKS;
                let byzantine = 0;
                let oracle = net.start_network(&context).await;
                net.start_conflicter(&context, &oracle, byzantine).await;
                let nodes = net.start_honest(&context, &oracle, 1..N).await;
                net.connect_all(&oracle).await;

                // An honest validator's consensus records the conflicting votes.
                wait_until(
                    &context,
                    &nodes,
                    Duration::from_secs(60),
                    "an honest validator to record conflicting votes",
                    |n| !n.store.conflicts(0, 1).expect("conflicts").is_empty(),
                )
                .await;
                // Reported as every validator's slashing loop would (`weft_node::slashing`):
                // the first verified report slashes and tombstones, the rest are refused as
                // the same offence.
                let reporter = account(1);
                let mut slashed = 0;
                for node in nodes.values() {
                    for (_, evidence) in node.store.conflicts(0, 1_000).expect("conflicts") {
                        let report = format!("double-sign:0x{}", hex::encode(&evidence));
                        if l1.slash(report.as_bytes(), reporter).is_ok() {
                            slashed += 1;
                        }
                    }
                }
                assert_eq!(slashed, 1, "one offence, slashed once");
                let status = l1
                    .validators()
                    .unwrap()
                    .into_iter()
                    .find(|v| v.key == account(byzantine))
                    .expect("validator 0 on the L1");
                assert_eq!(status.status, Status::Tombstoned);
                assert!(status.slashed > 0, "the equivocator's bond was slashed");

                // Announced at the boundary of this epoch or (if it was already built) the
                // next, in force two epochs after that.
                let at = head(&nodes[&1]);
                let in_force = (at / l + 3) * l;
                let mut clients = Clients::new(7_000, 3);
                let hashes = submit_rounds(
                    &context,
                    &nodes,
                    &[1, 2, 3],
                    &mut clients,
                    3,
                    Duration::from_millis(100),
                )
                .await;
                wait_until(
                    &context,
                    &nodes,
                    Duration::from_secs(120),
                    "the set without the equivocator in force, and transactions finalized",
                    |n| head(n) > in_force + 2 && all_finalized(n, &hashes),
                )
                .await;
                let mut honest: Vec<_> = (1..N).map(|i| net.pk(i)).collect();
                honest.sort();
                assert_eq!(
                    epoch_set(&nodes[&1], net, in_force / l),
                    honest,
                    "the equivocator left the set"
                );
                // And the honest three alone certify that epoch's blocks.
                let cert = (in_force..=head(&nodes[&1]))
                    .find_map(|h| nodes[&1].store.certificate(h).expect("store read"))
                    .expect("a certificate of the new set's epoch");
                let (_, signers) =
                    weft_finality::certified_signers(&cert, &honest, &chain).expect("verifies");
                assert!(!signers.contains(&net.pk(byzantine)));
                assert_agreement(&nodes, &net.genesis);
            });
        },
    );
}
