//! Where an acknowledgement's group commit spends its time, on this machine's disk: signing
//! the receipts, and the durable write of the pending entries with their receipts, for group
//! sizes from one submission (express lane) to a 500-transaction batch (bulk lane), with and
//! without finalized blocks being committed on another thread at the same time.
//!
//! `cargo run --release -p weft-storage --example ack_commit`

use bytes::Bytes;
use commonware_math::algebra::Random as _;
use rand_core::SeedableRng as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft_storage::{AckLane, Store};
use weft_types::{
    Block, Body, ChainId, Digest, Limits, NamespaceId, Promise, SigningKey, Transaction,
};

const ROUNDS: usize = 50;

fn key(seed: u64) -> SigningKey {
    SigningKey::random(rand_chacha::ChaCha20Rng::seed_from_u64(seed))
}

fn percentile(mut v: Vec<Duration>, p: f64) -> f64 {
    v.sort();
    v[((v.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3
}

fn main() {
    use commonware_cryptography::Signer as _;
    let chain = ChainId(weft_types::sha256(&[b"ack commit example"]));
    let issuer = key(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        Arc::new(Store::open(dir.path().join("chain.redb"), Limits::default()).expect("open"));
    let genesis = Block::genesis(Digest::from([1u8; 32]), issuer.public_key(), 0);
    store.commit_finalized(&genesis, b"", 0).expect("genesis");
    let senders: Vec<SigningKey> = (0..256).map(|i| key(100 + i)).collect();
    let mut nonce = 0u64;
    let mut next_txs = |n: usize| -> Vec<Transaction> {
        nonce += 1;
        (0..n)
            .map(|i| {
                Transaction::sign(
                    &senders[i % senders.len()],
                    &chain,
                    NamespaceId(1),
                    nonce * 1_000 + i as u64,
                    Bytes::from(vec![7u8; 100]),
                )
            })
            .collect()
    };
    // A writer committing 5,000-transaction blocks back to back, when asked.
    let blocks: Vec<Block> = {
        let mut out = vec![genesis.clone()];
        for h in 1..=40u64 {
            let txs = next_txs(5_000);
            let parent = out.last().expect("parent");
            out.push(Block::child(
                parent,
                0,
                h,
                h,
                issuer.public_key(),
                Body::from_txs(txs),
            ));
        }
        out
    };
    for (load, label) in [(false, "idle"), (true, "while 5,000-tx blocks commit")] {
        let stop = Arc::new(AtomicBool::new(false));
        let writer = load.then(|| {
            let (store, stop, blocks) = (store.clone(), stop.clone(), blocks.clone());
            std::thread::spawn(move || {
                for b in &blocks[1..] {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    store.commit_finalized(b, b"", 0).expect("commit");
                }
            })
        });
        for group in [1usize, 50, 500] {
            // The node's rule: a lone submission is express, a batch bulk.
            let lane = if group == 1 {
                AckLane::Express
            } else {
                AckLane::Bulk
            };
            let (mut sign, mut write) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                let txs = next_txs(group);
                let t0 = Instant::now();
                let receipts: Vec<_> = txs
                    .iter()
                    .map(|tx| Promise::for_tx(chain, tx, 1, 40, issuer.public_key()).sign(&issuer))
                    .collect();
                let t1 = Instant::now();
                store
                    .persist_pending_with_receipts(lane, &txs, &receipts)
                    .expect("persist");
                write.push(t1.elapsed());
                sign.push(t1 - t0);
            }
            println!(
                "{label:>30}: group of {group:>3}: sign p50 {:.2} ms  p99 {:.2} ms | durable write p50 {:.2} ms  p99 {:.2} ms",
                percentile(sign.clone(), 0.5),
                percentile(sign, 0.99),
                percentile(write.clone(), 0.5),
                percentile(write, 0.99),
            );
        }
        stop.store(true, Ordering::Relaxed);
        if let Some(w) = writer {
            w.join().expect("writer");
        }
    }
}
