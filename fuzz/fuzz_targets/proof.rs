//! Batch STARKs and their statements, as the coordinator and the L1 verify what provers send.
#![no_main]
use libfuzzer_sys::fuzz_target;
use weft_prover::token::{verify, PublicInputs};

fuzz_target!(|data: &[u8]| {
    // First two bytes: the statement's length; then the statement; the rest is the proof.
    if data.len() < 2 {
        return;
    }
    let len = u16::from_be_bytes([data[0], data[1]]) as usize;
    let rest = &data[2..];
    let (statement, proof) = rest.split_at(len.min(rest.len()));
    if let Ok(inputs) = PublicInputs::decode(statement) {
        assert!(verify(&inputs, proof).is_err(), "a fuzzed proof verified");
    }
});
