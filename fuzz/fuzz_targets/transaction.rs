//! Transactions as every ingress path decodes them (RPC, gossip, blocks).
#![no_main]
use commonware_codec::Encode as _;
use libfuzzer_sys::fuzz_target;
use weft_types::{sha256, ChainId, Limits, Transaction};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(tx) = Transaction::decode_untrusted(data, &limits) {
        // One encoding per transaction: what decodes re-encodes to the same bytes.
        assert_eq!(tx.encode().as_ref(), data);
        let chain = ChainId(sha256(&[b"fuzz"]));
        let single = tx.check(&limits, &chain).is_ok();
        let batch = Transaction::verify_signatures(&[&tx], &chain);
        // Batch verification agrees with the single check.
        if tx.check_size(&limits).is_ok() {
            assert_eq!(batch, vec![single]);
        }
    }
});
