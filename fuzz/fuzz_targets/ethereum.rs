//! Raw Ethereum transactions (`eth_sendRawTransaction`, and Ethereum payloads in blocks).
#![no_main]
use libfuzzer_sys::fuzz_target;
use weft_types::{sha256, ChainId, Limits, Transaction};

fuzz_target!(|data: &[u8]| {
    let _ = weft_types::eth::decode(data);
    if let Ok(tx) = Transaction::ethereum(bytes::Bytes::copy_from_slice(data)) {
        // A transaction built from raw bytes authenticates as itself.
        let chain = ChainId(sha256(&[b"fuzz"]));
        assert_eq!(Transaction::verify_signatures(&[&tx], &chain), vec![true]);
        let _ = tx.check(&Limits::default(), &chain);
    }
});
