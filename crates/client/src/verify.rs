//! Offline verification of finality and namespace proofs.

use crate::VerifyError;
use commonware_codec::{Decode as _, DecodeExt as _};
use weft_rpc::types::{FinalityJson, NamespaceProofJson};
use weft_types::{
    BlockDigest, ChainId, Header, Limits, NamespaceId, NamespaceProof, Transaction, VerifyingKey,
};

fn unhex(what: &'static str, s: &str) -> Result<Vec<u8>, VerifyError> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s)).map_err(|e| VerifyError::Malformed {
        what,
        reason: e.to_string(),
    })
}

fn digest(what: &'static str, s: &str) -> Result<BlockDigest, VerifyError> {
    let bytes = weft_types::from_hex_fixed::<32>(s)
        .map_err(|reason| VerifyError::Malformed { what, reason })?;
    Ok(BlockDigest(bytes.into()))
}

/// Checks that the block `finality.block_hash` is final under `validators` on `chain`: the certificate
/// is signed by a quorum of them, and the served headers link the certified block down to it.
/// Returns the verified block hash.
pub fn verify_finality(
    finality: &FinalityJson,
    validators: &[VerifyingKey],
    chain: &ChainId,
) -> Result<BlockDigest, VerifyError> {
    let block = digest("block_hash", &finality.block_hash)?;
    let certified = weft_consensus::verify_finalization(
        &unhex("certificate", &finality.certificate)?,
        validators,
        chain,
    )?;
    if finality.headers.len() as u64 != finality.certified_height.saturating_sub(finality.height) {
        return Err(VerifyError::Chain {
            height: finality.height,
            reason: format!(
                "{} headers for heights {}..={}",
                finality.headers.len(),
                finality.height + 1,
                finality.certified_height
            ),
        });
    }
    // Walk up from the block: each header must name the previous one as its parent.
    let mut previous = block;
    for (i, hex) in finality.headers.iter().enumerate() {
        let height = finality.height + 1 + i as u64;
        let header = Header::decode(unhex("header", hex)?).map_err(|e| VerifyError::Malformed {
            what: "header",
            reason: e.to_string(),
        })?;
        if header.height != height || header.parent != previous {
            return Err(VerifyError::Chain {
                height,
                reason: "header does not extend the previous block".into(),
            });
        }
        previous = header.digest();
    }
    if previous != certified.block {
        return Err(VerifyError::Chain {
            height: finality.certified_height,
            reason: format!(
                "certificate finalizes {}, chain ends at {previous}",
                certified.block
            ),
        });
    }
    Ok(block)
}

/// A namespace's transactions in one block, verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedNamespace {
    /// The block's header (its hash is final under the validator set).
    pub header: Header,
    /// The namespace's transactions in block order (empty if it has none in this block).
    pub transactions: Vec<Transaction>,
}

/// Checks a namespace proof and the block's finality. `limits` bounds decoding (use the
/// network's genesis limits).
pub fn verify_namespace_proof(
    proof: &NamespaceProofJson,
    finality: &FinalityJson,
    validators: &[VerifyingKey],
    chain: &ChainId,
    limits: &Limits,
) -> Result<VerifiedNamespace, VerifyError> {
    let header =
        Header::decode(unhex("header", &proof.header)?).map_err(|e| VerifyError::Malformed {
            what: "header",
            reason: e.to_string(),
        })?;
    let hash = header.digest();
    if hash != digest("block_hash", &proof.block_hash)? || header.height != proof.height {
        return Err(VerifyError::Header(format!(
            "header {hash} at height {} is not the block served ({} at {})",
            header.height, proof.block_hash, proof.height
        )));
    }
    if finality.block_hash != proof.block_hash {
        return Err(VerifyError::Header(
            "finality proof is for another block".into(),
        ));
    }
    verify_finality(finality, validators, chain)?;
    let decoded =
        NamespaceProof::decode_cfg(unhex("proof", &proof.proof)?, limits).map_err(|e| {
            VerifyError::Malformed {
                what: "namespace proof",
                reason: e.to_string(),
            }
        })?;
    let transactions =
        decoded.verify(NamespaceId(proof.namespace), &header.namespace_table_root)?;
    Ok(VerifiedNamespace {
        header,
        transactions,
    })
}

/// Checks a receipt a validator served, offline: decodes its signed bytes, checks that the
/// JSON fields say what the bytes say, and checks the receipt's rules against the network's
/// chain, validator set and receipt window (`limits.preconf_window_heights` of genesis).
pub fn verify_receipt(
    json: &crate::types::ReceiptJson,
    chain: &weft_types::ChainId,
    validators: &[weft_types::VerifyingKey],
    window_heights: u64,
) -> Result<weft_types::Receipt, VerifyError> {
    let bytes = weft_types::from_hex_fixed::<{ weft_types::RECEIPT_BYTES }>(&json.encoded)
        .map_err(|reason| VerifyError::Malformed {
            what: "receipt",
            reason,
        })?;
    let receipt =
        weft_types::Receipt::decode_bytes(&bytes).map_err(|e| VerifyError::Malformed {
            what: "receipt",
            reason: e.to_string(),
        })?;
    if crate::types::ReceiptJson::of(&receipt) != *json {
        return Err(VerifyError::Malformed {
            what: "receipt",
            reason: "its fields differ from its signed bytes".into(),
        });
    }
    receipt.verify(chain, validators, window_heights)?;
    Ok(receipt)
}
