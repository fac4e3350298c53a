//! Batch witnesses as provers pull them from the coordinator.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(witness) = weft_prover::token::Witness::decode(data) {
        // What decodes re-encodes and decodes to the same witness.
        let again = weft_prover::token::Witness::decode(&witness.encode()).expect("re-encoded");
        assert_eq!(again.encode(), witness.encode());
    }
});
