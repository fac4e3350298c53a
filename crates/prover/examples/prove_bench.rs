//! Proving throughput, proof size and verify time of the token batch STARK.
//!
//! `cargo run --release -p weft-prover --example prove_bench -- 64 256 1024`
//! (prefix `RAYON_NUM_THREADS=1` for one core, `RUSTFLAGS="-C target-cpu=native"` for
//! native code). Every batch is all valid transfers among 4,096 funded accounts.

use commonware_cryptography::Signer as _;
use std::time::Instant;
use weft_prover::token::{self, Witness};
use weft_rollup_token::{commitment, Address, Record, TokenState};
use weft_types::SigningKey;

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("batch sizes"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![64, 256, 1024]
    } else {
        sizes
    };
    let accounts: Vec<[u8; 32]> = (0..4096u64)
        .map(|i| {
            SigningKey::from_seed(i)
                .public_key()
                .as_ref()
                .try_into()
                .unwrap()
        })
        .collect();
    let alloc: Vec<([u8; 32], u64)> = accounts.iter().map(|k| (*k, 1_000_000)).collect();
    let addresses: Vec<Address> = accounts.iter().map(Address::of).collect();
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    println!("threads={threads}");
    println!("transfers | prove s | transfers/s | proof bytes | verify ms");
    for n in sizes {
        let mut state = TokenState::genesis(&alloc);
        let mut nonces = vec![0u32; accounts.len()];
        let records: Vec<Record> = (0..n)
            .map(|i| {
                let from = (i * 13) % accounts.len();
                let to = (i * 7 + 1) % accounts.len();
                let to = if to == from {
                    (to + 1) % accounts.len()
                } else {
                    to
                };
                let r = Record {
                    from: addresses[from],
                    to: addresses[to],
                    amount: 1 + i as u64,
                    nonce: nonces[from],
                };
                nonces[from] += 1;
                r
            })
            .collect();
        let header = commitment::header_digest(7, 0, (1, 0), (2, 0));
        let (witness, outcomes) = Witness::build(header, &mut state, &records);
        assert!(outcomes.iter().all(|o| o.is_ok()));
        let start = Instant::now();
        let (inputs, proof) = token::prove(&witness).expect("prove");
        let prove_s = start.elapsed().as_secs_f64();
        let bytes = proof.to_bytes();
        let start = Instant::now();
        token::verify(&inputs, &bytes).expect("verify");
        let verify_ms = start.elapsed().as_secs_f64() * 1e3;
        assert_eq!(inputs.new_root, state.root());
        println!(
            "{n} | {prove_s:.2} | {:.1} | {} | {verify_ms:.1}",
            n as f64 / prove_s,
            bytes.len()
        );
    }
}
