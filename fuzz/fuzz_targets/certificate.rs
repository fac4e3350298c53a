//! Finalization certificates as clients and the RPC's finality proofs carry them.
#![no_main]
use commonware_cryptography::Signer as _;
use libfuzzer_sys::fuzz_target;
use weft_types::{sha256, ChainId, SigningKey, VerifyingKey};

fuzz_target!(|data: &[u8]| {
    let validators: Vec<VerifyingKey> = (0..4u64)
        .map(|i| SigningKey::from_seed(i).public_key())
        .collect();
    let chain = ChainId(sha256(&[b"fuzz"]));
    let _ = weft_consensus::verify_finalization(data, &validators, &chain);
});
