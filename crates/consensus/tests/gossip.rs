//! Transaction gossip under the deterministic simulator: only the gossip actors run (no
//! consensus), so nothing is ever finalized and a transaction can reach a peer only through
//! gossip. Re-run one seed with `WEFT_SIM_SEED=<seed> cargo test -p weft-consensus --test gossip`.

use bytes::Bytes;
use commonware_cryptography::Signer as _;
use commonware_p2p::simulated::{self, Link, Network};
use commonware_runtime::{
    deterministic, Clock as _, Handle, Quota, Runner as _, Spawner as _, Supervisor as _,
};
use commonware_utils::{probability, NZUsize, NZU32};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use weft_consensus::{gossip, ChainState, Shared, CHANNEL_TXS};
use weft_mempool::{Mempool, Status};
use weft_storage::Store;
use weft_types::{
    Block, ChainId, Digest, Limits, NamespaceId, SigningKey, Transaction, TxHash, VerifyingKey,
};

const PEERS: usize = 3;
const QUOTA: Quota = Quota::per_second(NZU32!(10_000));

type Context = deterministic::Context;
type Oracle = simulated::Oracle<VerifyingKey, Context>;

fn seed() -> u64 {
    std::env::var("WEFT_SIM_SEED").map_or(11, |s| s.parse().expect("WEFT_SIM_SEED must be a u64"))
}

/// The one genesis every peer of the test shares.
fn genesis() -> Block {
    Block::genesis(
        Digest::from([3u8; 32]),
        SigningKey::from_seed(0).public_key(),
        0,
    )
}

struct Node {
    shared: Arc<Shared>,
    tasks: Vec<Handle<()>>,
}

/// Starts peer `i`'s gossip actors over a fresh mempool and an empty store at `store`.
async fn start(
    context: &Context,
    oracle: &Oracle,
    key: &SigningKey,
    store: std::path::PathBuf,
) -> Node {
    let limits = Limits::default();
    let store = Store::open(store, limits).expect("open store");
    let genesis = genesis();
    store.commit_finalized(&genesis, b"", 0).expect("genesis");
    let shared = Arc::new(Shared::new(
        Mempool::new(Default::default(), limits),
        Arc::new(store),
        limits,
        ChainId::of_genesis(&genesis),
        Default::default(),
    ));
    let control = oracle.control(key.public_key());
    let (sender, receiver) = control
        .register(CHANNEL_TXS, QUOTA)
        .await
        .expect("register");
    let ae = Arc::new(Mutex::new(gossip::AntiEntropy::default()));
    let (s1, a1, sh1) = (sender.clone(), ae.clone(), shared.clone());
    let out = context
        .child("gossip_out")
        .spawn(move |ctx| gossip::run_outbound(ctx, sh1, a1, s1, 1));
    let sh2 = shared.clone();
    let inb = context
        .child("gossip_in")
        .spawn(move |ctx| gossip::run_inbound(ctx, sh2, ae, receiver, sender, control));
    Node {
        shared,
        tasks: vec![out, inb],
    }
}

fn link() -> Link {
    Link {
        latency: Duration::from_millis(20),
        jitter: Duration::from_millis(5),
        success_rate: probability!(1.0),
    }
}

async fn connect(oracle: &Oracle, a: &VerifyingKey, b: &VerifyingKey) {
    oracle
        .add_link(a.clone(), b.clone(), link())
        .await
        .expect("link");
    oracle
        .add_link(b.clone(), a.clone(), link())
        .await
        .expect("link");
}

fn pending_count(node: &Node, hashes: &[TxHash]) -> usize {
    let mempool = node.shared.mempool.lock();
    hashes
        .iter()
        .filter(|h| mempool.status(h) == Some(Status::Pending))
        .count()
}

/// Peer 0 takes 300 client transactions while only peer 1 is connected; push gossip gets them
/// to peer 1. Then peer 1 restarts with an empty mempool (what it held from gossip is not in
/// its pending log) and peer 2 connects for the first time. Neither can learn anything from
/// push gossip, which already happened; both end holding every pending transaction, through
/// anti-entropy alone.
#[test]
fn late_and_restarted_peers_end_with_every_pending_transaction() {
    let seed = seed();
    let outcome = std::panic::catch_unwind(|| {
        let cfg = deterministic::Config::new()
            .with_seed(seed)
            .with_timeout(Some(Duration::from_secs(120)));
        deterministic::Runner::new(cfg).start(|context| async move {
            let dir = tempfile::tempdir().unwrap();
            let keys: Vec<SigningKey> = (0..PEERS as u64).map(SigningKey::from_seed).collect();
            let pks: Vec<VerifyingKey> = keys.iter().map(|k| k.public_key()).collect();
            let (network, oracle) = Network::new_with_peers(
                context.child("network"),
                simulated::Config {
                    max_size: 8 * 1024 * 1024,
                    max_peers_per_set: NZUsize!(PEERS),
                    disconnect_on_block: true,
                    tracked_peer_sets: NZUsize!(1),
                },
                pks.iter().cloned(),
            )
            .await;
            network.start();
            connect(&oracle, &pks[0], &pks[1]).await;
            let a = start(&context, &oracle, &keys[0], dir.path().join("a.redb")).await;
            let mut b = start(&context, &oracle, &keys[1], dir.path().join("b.redb")).await;
            let c = start(&context, &oracle, &keys[2], dir.path().join("c.redb")).await;

            let mut hashes = Vec::new();
            {
                let chain = ChainState(&a.shared.store);
                let mut mempool = a.shared.mempool.lock();
                for s in 0..6u64 {
                    let key = SigningKey::from_seed(100 + s);
                    for n in 0..50u64 {
                        let tx = Transaction::sign(
                            &key,
                            &ChainId::of_genesis(&genesis()),
                            NamespaceId(1 + s % 2),
                            n,
                            Bytes::from(vec![s as u8; 16]),
                        );
                        hashes.push(tx.hash());
                        mempool.admit(tx, &chain, true).expect("admit");
                    }
                }
            }
            context.sleep(Duration::from_millis(300)).await;
            assert_eq!(
                pending_count(&b, &hashes),
                hashes.len(),
                "push gossip did not reach the connected peer"
            );
            assert_eq!(
                pending_count(&c, &hashes),
                0,
                "an unconnected peer got transactions"
            );

            // Peer 1 restarts empty; peer 2 connects late.
            for t in b.tasks.drain(..) {
                t.abort();
            }
            drop(b);
            context.sleep(Duration::from_millis(50)).await;
            let b = start(&context, &oracle, &keys[1], dir.path().join("b2.redb")).await;
            connect(&oracle, &pks[0], &pks[2]).await;
            connect(&oracle, &pks[1], &pks[2]).await;
            assert_eq!(pending_count(&b, &hashes), 0);

            let deadline = context.current() + Duration::from_secs(10);
            while (pending_count(&b, &hashes) < hashes.len()
                || pending_count(&c, &hashes) < hashes.len())
                && context.current() < deadline
            {
                context.sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(
                pending_count(&b, &hashes),
                hashes.len(),
                "the restarted peer misses pending transactions"
            );
            assert_eq!(
                pending_count(&c, &hashes),
                hashes.len(),
                "the late peer misses pending transactions"
            );
            assert!(a.shared.metrics.gossip_served.get() > 0);
            let blocked = oracle.blocked().await.unwrap();
            assert!(
                blocked.is_empty(),
                "honest gossip got a peer blocked: {blocked:?}"
            );
        });
    });
    if let Err(e) = outcome {
        eprintln!("failed with seed={seed}; replay: WEFT_SIM_SEED={seed} cargo test -p weft-consensus --test gossip");
        std::panic::resume_unwind(e);
    }
}
