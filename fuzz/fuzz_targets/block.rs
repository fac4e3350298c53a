//! Blocks from the wire (broadcast, backfill): decoding binds the body to the header.
#![no_main]
use commonware_codec::Encode as _;
use libfuzzer_sys::fuzz_target;
use weft_types::{Block, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        payload_bytes_max: 512,
        tx_bytes_max: 512 + weft_types::TX_OVERHEAD_BYTES,
        block_bytes_max: 1 << 16,
        block_txs_max: 64,
        namespaces_per_block_max: 16,
        ..Limits::default()
    };
    if let Ok(block) = Block::decode_untrusted(data, &limits) {
        assert_eq!(block.encode().as_ref(), data);
        // Bound on decode: the body is the one the header commits to.
        block.check_commitments().expect("decoded block is bound");
        // The store's span index decodes each namespace's own list.
        for (span, ns) in block.namespace_spans().iter().zip(&block.body.namespaces) {
            let txs = Block::decode_namespace_span(
                &data[span.start as usize..span.end as usize],
                &limits,
            )
            .expect("span of a decoded block");
            assert_eq!(txs, ns.txs);
        }
        assert_eq!(
            Block::decode_stored(data, &limits).expect("stored form"),
            block
        );
    }
});
