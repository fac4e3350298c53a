//! A seed sweep of whole-network simulations. Each seed draws a network of 4 to 10
//! validators, up to `f = (n - 1) / 3` faulty ones (conflicting voter, nuller, body forger, offline, or
//! an honest validator that crashes and restarts from its store, or one whose store's disk
//! fails, which must stop itself and restart once the disk is replaced), lossy and jittery
//! links, an optional partition of one honest validator that later heals, and a client
//! load; then checks that:
//! - no two honest validators finalize different blocks (digest and body) at any height;
//! - every acknowledged transaction ends finalized, at the same place everywhere;
//! - the network progresses after healing;
//! - only Byzantine validators get blocked.
//!
//! `WEFT_SIM_SEEDS` seeds from `WEFT_SIM_FIRST_SEED` (defaults 16 and 0, sized for CI). A
//! failure prints the seed, the drawn plan and a one-line replay command. For a large sweep:
//! `WEFT_SIM_SEEDS=10000 cargo test --release -p weft-consensus --test sweep -- --nocapture`.

mod support;

use commonware_p2p::simulated::Link;
use commonware_runtime::{deterministic, Clock as _, Runner as _};
use commonware_utils::Probability;
use rand::{seq::SliceRandom as _, RngExt as _, SeedableRng as _};
use std::{collections::BTreeMap, panic::AssertUnwindSafe, time::Duration};
use support::*;

/// A Byzantine (or faulty) role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Adversary {
    /// Signs a conflicting notarize and finalize next to every vote it sees.
    Conflicter,
    /// Answers every notarize it sees with a nullify (Commonware's nuller); never proposes.
    Nuller,
    /// Runs consensus but forges the bodies of the blocks it broadcasts and serves.
    BodyForger,
    /// Honest consensus, but its proposals put each sender's nonces in reverse order.
    ReorderingLeader,
    /// Honest consensus, but its proposals leave out the first client's transactions.
    CensoringLeader,
    /// Honest consensus, but its proposals are stamped 2 s ahead of its clock.
    FutureStampingLeader,
    /// Honest consensus, but its proposals leave out each bundle's last leg.
    SplittingLeader,
    /// Two honest copies of the validator with one key, each talking to its own (seeded,
    /// possibly overlapping) half of the network: it equivocates whenever its halves differ.
    Twins,
    /// Never comes up (a crashed validator).
    Offline,
    /// Honest, but crashes mid-run (no clean shutdown) and restarts from its store and
    /// journals after a while; checked with the honest ones at the end.
    CrashRestart,
    /// Honest, but its store's disk fails mid-run: it must stop itself (a critical part
    /// stopped) with every acknowledged block intact, and after the disk is replaced it
    /// restarts and is checked with the honest ones at the end.
    FailingDisk,
}

/// One honest validator cut off from everyone for a while.
#[derive(Clone, Copy, Debug)]
struct Partition {
    victim: usize,
    for_ms: u64,
}

/// Everything a seed decides.
#[derive(Clone, Debug)]
struct Plan {
    n: usize,
    adversaries: Vec<(usize, Adversary)>,
    latency_ms: u64,
    jitter_ms: u64,
    delivery_per_mille: u64,
    partition: Option<Partition>,
    down_ms: u64,
    senders: usize,
    rounds: usize,
    bundles: usize,
}

impl Plan {
    fn draw(seed: u64) -> Self {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let n = rng.random_range(4..=10);
        let f = (n - 1) / 3;
        let byzantine = rng.random_range(0..=f);
        let mut ids: Vec<usize> = (0..n).collect();
        ids.shuffle(&mut rng);
        let kinds = [
            Adversary::Conflicter,
            Adversary::Nuller,
            Adversary::BodyForger,
            Adversary::Offline,
            Adversary::CrashRestart,
            Adversary::FailingDisk,
            Adversary::Twins,
            Adversary::ReorderingLeader,
            Adversary::CensoringLeader,
            Adversary::FutureStampingLeader,
            Adversary::SplittingLeader,
        ];
        let adversaries: Vec<(usize, Adversary)> = ids[..byzantine]
            .iter()
            .map(|i| (*i, kinds[rng.random_range(0..kinds.len())]))
            .collect();
        let partition = rng.random_bool(0.4).then(|| Partition {
            victim: ids[byzantine],
            for_ms: rng.random_range(500..4_000),
        });
        Self {
            n,
            adversaries,
            latency_ms: rng.random_range(5..60),
            jitter_ms: rng.random_range(0..15),
            delivery_per_mille: rng.random_range(950..=1_000),
            partition,
            down_ms: rng.random_range(200..3_000),
            senders: rng.random_range(2..6),
            rounds: rng.random_range(4..10),
            bundles: rng.random_range(0..4),
        }
    }

    fn adversary(&self, i: usize) -> Option<Adversary> {
        self.adversaries
            .iter()
            .find(|(j, _)| *j == i)
            .map(|(_, k)| *k)
    }

    fn link(&self) -> impl Fn(usize, usize) -> Link + '_ {
        move |_, _| Link {
            latency: Duration::from_millis(self.latency_ms),
            jitter: Duration::from_millis(self.jitter_ms),
            success_rate: Probability::new(self.delivery_per_mille, 1_000)
                .expect("a rate in [0, 1]"),
        }
    }
}

/// Runs one seed; panics (with the reason) on a violation.
fn run(seed: u64) {
    let plan = Plan::draw(seed);
    let net = &Testnet::with_validators(plan.n);
    let plan = &plan;
    let failing_disks: Vec<usize> = plan
        .adversaries
        .iter()
        .filter(|(_, k)| *k == Adversary::FailingDisk)
        .map(|(i, _)| *i)
        .collect();
    let failing_disks = &failing_disks;
    // A validator whose disk fails panics in its finalizer; the runtime then contains the
    // panic to that validator's task tree (as the OS does a process exit), and every honest
    // validator runs as a life that records any stop, so no other panic goes unseen.
    let contain = !failing_disks.is_empty();
    let cfg = runtime_config(seed).with_catch_panics(contain);
    deterministic::Runner::new(cfg).start(|context| async move {
        let oracle = net.start_network(&context).await;
        for i in 0..plan.n {
            for j in i + 1..plan.n {
                net.connect_with(&oracle, i, j, plan.link()).await;
            }
        }
        let honest: Vec<usize> = (0..plan.n)
            .filter(|i| plan.adversary(*i).is_none())
            .collect();
        let mut nodes = BTreeMap::new();
        let mut honest_lives = Vec::new();
        for i in &honest {
            if contain {
                let (node, life) = net.start_crashable(&context, &oracle, *i).await;
                honest_lives.push(life);
                nodes.insert(*i, node);
            } else {
                nodes.insert(*i, net.start_validator(&context, &oracle, *i).await);
            }
        }
        let mut crashing = Vec::new();
        let mut failing = Vec::new();
        for (i, kind) in &plan.adversaries {
            match kind {
                Adversary::Conflicter => net.start_conflicter(&context, &oracle, *i).await,
                Adversary::Nuller => net.start_nuller(&context, &oracle, *i).await,
                Adversary::BodyForger => {
                    net.start_body_forger(&context, &oracle, *i, true, true)
                        .await;
                }
                Adversary::Twins => {
                    // Each other validator hears one twin, the other, or both.
                    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed ^ (*i as u64) << 40);
                    let (mut primary, mut secondary) = (Vec::new(), Vec::new());
                    for j in (0..plan.n).filter(|j| j != i) {
                        match rng.random_range(0..3) {
                            0 => primary.push(j),
                            1 => secondary.push(j),
                            _ => {
                                primary.push(j);
                                secondary.push(j);
                            }
                        }
                    }
                    net.start_twins(&context, &oracle, *i, &primary, &secondary)
                        .await;
                }
                Adversary::ReorderingLeader
                | Adversary::CensoringLeader
                | Adversary::FutureStampingLeader
                | Adversary::SplittingLeader => {
                    use commonware_cryptography::Signer as _;
                    use weft_consensus::byzantine::Misbehaviour;
                    let victim =
                        Clients::new(1_000_000 + seed * 16, plan.senders).keys[0].public_key();
                    let m = match kind {
                        Adversary::ReorderingLeader => Misbehaviour::Reorder,
                        Adversary::SplittingLeader => Misbehaviour::SplitBundle,
                        Adversary::CensoringLeader => Misbehaviour::Censor(
                            [*victim.as_ref().first_chunk::<32>().expect("32 bytes")].into(),
                        ),
                        _ => Misbehaviour::FutureStamp(2_000),
                    };
                    let node = net.start_validator(&context, &oracle, *i).await;
                    node.misbehaviour
                        .set(weft_consensus::byzantine::ByzantineLeader::new(m))
                        .expect("set once");
                }
                Adversary::Offline => {}
                Adversary::CrashRestart => {
                    crashing.push((*i, net.start_crashable(&context, &oracle, *i).await));
                }
                Adversary::FailingDisk => {
                    failing.push((*i, net.start_crashable(&context, &oracle, *i).await));
                }
            }
        }
        let mut clients = Clients::new(1_000_000 + seed * 16, plan.senders);
        let half = plan.rounds / 2;
        let gap = Duration::from_millis(100);
        let mut hashes = submit_rounds(&context, &nodes, &honest, &mut clients, half, gap).await;
        // Bundles across the first two senders (the censor's victim among them: a censoring
        // leader that drops one leg splits the bundle, and its block must be refused).
        for k in 0..plan.bundles {
            let target = honest[k % honest.len()];
            let valid_until = head(&nodes[&target]) + 800;
            let legs = clients.next_bundle(0, 1, valid_until);
            hashes.extend(submit_bundle(&nodes[&target], legs));
        }
        for (i, _) in &failing {
            net.disks[*i].fail();
        }
        match plan.partition {
            Some(p) => {
                for j in (0..plan.n).filter(|j| *j != p.victim) {
                    net.disconnect(&oracle, p.victim, j).await;
                }
                let others: Vec<usize> =
                    honest.iter().copied().filter(|i| *i != p.victim).collect();
                hashes.extend(
                    submit_rounds(
                        &context,
                        &nodes,
                        &others,
                        &mut clients,
                        plan.rounds - half,
                        gap,
                    )
                    .await,
                );
                context.sleep(Duration::from_millis(p.for_ms)).await;
                for j in (0..plan.n).filter(|j| *j != p.victim) {
                    net.connect_with(&oracle, p.victim, j, plan.link()).await;
                }
            }
            None => hashes.extend(
                submit_rounds(
                    &context,
                    &nodes,
                    &honest,
                    &mut clients,
                    plan.rounds - half,
                    gap,
                )
                .await,
            ),
        }
        // Crash (no clean shutdown) and restart from the same store and journals. Clients
        // never submit to a crashing validator: the simulator's submissions skip the pending
        // log a real node writes before acknowledging.
        let mut lives = Vec::new();
        for (i, (shared, handle)) in crashing {
            let finalized_before = head(&shared);
            handle.abort();
            drop(shared);
            context.sleep(Duration::from_millis(plan.down_ms)).await;
            let (restarted, life) = net.start_crashable(&context, &oracle, i).await;
            assert!(
                head(&restarted) >= finalized_before,
                "validator {i} lost finalized blocks in a crash"
            );
            lives.push(life);
            nodes.insert(i, restarted);
        }
        // A failed disk stops its validator (it keeps finalizing blocks with the others
        // until its next commit fails); a replaced disk brings it back with what it held.
        for (i, (shared, life)) in failing {
            net.wait_stopped(&context, i, Duration::from_secs(60)).await;
            life.await
                .expect("the life of a validator with a failed disk ends");
            let acknowledged = head(&shared);
            drop(shared);
            net.disks[i].replace();
            context.sleep(Duration::from_millis(plan.down_ms)).await;
            let (restarted, life) = net.start_crashable(&context, &oracle, i).await;
            assert!(
                head(&restarted) >= acknowledged,
                "validator {i} lost acknowledged blocks to a failed disk"
            );
            lives.push(life);
            nodes.insert(i, restarted);
        }
        wait_until(
            &context,
            &nodes,
            Duration::from_secs(120),
            "every acknowledged transaction finalized at every honest validator",
            |n| all_finalized(n, &hashes),
        )
        .await;
        // Progress after healing: one more round is finalized everywhere, above the old heads.
        let before = nodes.values().map(|n| head(n)).max().expect("honest nodes");
        let last = submit_rounds(&context, &nodes, &honest, &mut clients, 1, gap).await;
        wait_until(
            &context,
            &nodes,
            Duration::from_secs(60),
            "progress after healing",
            |n| all_finalized(n, &last) && head(n) > before,
        )
        .await;
        assert_agreement(&nodes, &net.genesis);
        assert_same_locations(&nodes, &[hashes, last].concat());
        let stops = net.stopped.lock().unwrap().clone();
        let mut stopped: Vec<usize> = stops.iter().map(|(i, _)| *i).collect();
        stopped.sort_unstable();
        let mut expected = failing_disks.clone();
        expected.sort_unstable();
        assert_eq!(
            stopped, expected,
            "only validators whose disk failed stop, once each: {stops:?}"
        );
        let byzantine: Vec<_> = plan
            .adversaries
            .iter()
            .filter(|(_, k)| !matches!(k, Adversary::CrashRestart | Adversary::FailingDisk))
            .map(|(i, _)| net.pk(*i))
            .collect();
        // What a Byzantine validator blocks is its own affair (twins block each other's peers).
        for (by, whom) in oracle.blocked().await.expect("oracle") {
            assert!(
                byzantine.contains(&by) || byzantine.contains(&whom),
                "an honest validator was blocked by {by:?}"
            );
        }
    });
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a u64, got {v:?}"))
    })
}

#[test]
fn seed_sweep() {
    let first = env_u64("WEFT_SIM_FIRST_SEED", 0);
    let count = env_u64("WEFT_SIM_SEEDS", 16);
    let started = std::time::Instant::now();
    let mut failures = Vec::new();
    // What the seeds drew (so a sweep shows it exercised the adversaries it claims).
    let mut drawn: BTreeMap<String, u64> = BTreeMap::new();
    for seed in first..first + count {
        let plan = Plan::draw(seed);
        *drawn.entry(format!("n={}", plan.n)).or_default() += 1;
        for (_, kind) in &plan.adversaries {
            *drawn.entry(format!("{kind:?}")).or_default() += 1;
        }
        if plan.partition.is_some() {
            *drawn.entry("partition".into()).or_default() += 1;
        }
        if plan.delivery_per_mille < 1_000 {
            *drawn.entry("lossy".into()).or_default() += 1;
        }
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| run(seed)));
        if let Err(payload) = outcome {
            let reason = panic_reason(&*payload);
            eprintln!(
                "VIOLATION seed={seed} plan={:?}: {reason}\n  replay: WEFT_SIM_FIRST_SEED={seed} WEFT_SIM_SEEDS=1 cargo test -p weft-consensus --test sweep -- --nocapture",
                Plan::draw(seed)
            );
            failures.push(seed);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "sweep: {count} seeds from {first} in {secs:.1} s ({:.0} seeds/hour), {} violations; drew {drawn:?}",
        count as f64 / secs.max(1e-9) * 3_600.0,
        failures.len()
    );
    assert!(failures.is_empty(), "violations at seeds {failures:?}");
}
