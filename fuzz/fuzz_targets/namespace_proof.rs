//! Namespace proofs (`weft_getNamespaceProof`), decoded and checked by rollups.
#![no_main]
use commonware_codec::{Decode as _, Encode as _};
use libfuzzer_sys::fuzz_target;
use weft_types::{sha256, Limits, NamespaceId, NamespaceProof};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        block_txs_max: 64,
        namespaces_per_block_max: 16,
        ..Limits::default()
    };
    if let Ok(proof) = NamespaceProof::decode_cfg(commonware_codec::Copying(data), &limits) {
        assert_eq!(proof.encode().as_ref(), data);
        let root = sha256(&[b"some root"]);
        let _ = proof.verify(NamespaceId(1), &root);
    }
});
