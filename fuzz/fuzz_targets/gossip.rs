//! Gossip messages from peers: pushes, announcements and requests.
#![no_main]
use commonware_codec::{Decode as _, Encode as _};
use libfuzzer_sys::fuzz_target;
use weft_consensus::gossip::Gossip;
use weft_types::Limits;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        gossip_batch_txs_max: 64,
        gossip_hashes_max: 64,
        ..Limits::default()
    };
    if let Ok(message) = Gossip::decode_cfg(commonware_codec::Copying(data), &limits) {
        assert_eq!(message.encode().as_ref(), data);
    }
});
