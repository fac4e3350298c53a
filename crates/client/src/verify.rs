//! Offline verification of finality and namespace proofs.

use crate::VerifyError;
use commonware_codec::{Decode as _, DecodeExt as _};
use weft_api::types::{FinalityJson, NamespaceProofJson};
use weft_finality::Sets;
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

/// Checks that the block `finality.block_hash` is final on `chain`: the certificate is
/// signed by a quorum of its epoch's set in `sets` (a fixed list of keys, or a
/// [`weft_finality::SetHistory`] on a network whose set follows the stake), and the served
/// headers link the certified block down to it. Returns the verified block hash.
pub fn verify_finality(
    finality: &FinalityJson,
    sets: &(impl Sets + ?Sized),
    chain: &ChainId,
) -> Result<BlockDigest, VerifyError> {
    let block = digest("block_hash", &finality.block_hash)?;
    let certified = weft_finality::verify_finalization(
        &unhex("certificate", &finality.certificate)?,
        sets,
        chain,
    )?;
    // The certified block's height is the block's plus the headers linking them: it must
    // lie in the certificate's epoch (`weft_finality::check_epoch`).
    let certified_height = finality
        .height
        .saturating_add(finality.headers.len() as u64);
    weft_finality::check_epoch(sets, certified_height, certified.epoch)?;
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
        weft_finality::check_epoch(sets, height, header.epoch)?;
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
    sets: &(impl Sets + ?Sized),
    chain: &ChainId,
    limits: &Limits,
) -> Result<VerifiedNamespace, VerifyError> {
    let header =
        Header::decode(unhex("header", &proof.header)?).map_err(|e| VerifyError::Malformed {
            what: "header",
            reason: e.to_string(),
        })?;
    let hash = header.digest();
    weft_finality::check_epoch(sets, header.height, header.epoch)?;
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
    verify_finality(finality, sets, chain)?;
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

/// The validators that may issue a receipt at `issued` (the issuer's finalized head): those
/// of both the epoch after it and the one after that, as the node's receipt window requires
/// (the later one is always known by then: the boundary before `issued + 1` announced it).
fn issuers(sets: &(impl Sets + ?Sized), issued: u64) -> Result<Vec<VerifyingKey>, VerifyError> {
    let Some(epoch) = sets.epoch_of(issued.saturating_add(1)) else {
        return Ok(sets.set_of(0).unwrap_or_default().to_vec());
    };
    let set = |e: u64| {
        sets.set_of(e)
            .ok_or(weft_finality::CertificateError::UnknownEpoch(e))
    };
    let (now, next) = (set(epoch)?, set(epoch.saturating_add(1))?);
    Ok(now.iter().filter(|k| next.contains(k)).cloned().collect())
}

/// Checks a receipt a validator served, offline: decodes its signed bytes, checks that the
/// JSON fields say what the bytes say, and checks the receipt's rules against the network's
/// chain, the issuing epoch's validators in `sets` and the receipt window
/// (`limits.preconf_window_heights` of genesis).
pub fn verify_receipt(
    json: &crate::types::ReceiptJson,
    chain: &weft_types::ChainId,
    sets: &(impl Sets + ?Sized),
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
    let validators = issuers(sets, receipt.promise.issued_height)?;
    receipt.verify(chain, &validators, window_heights)?;
    Ok(receipt)
}

// Decodes evidence hex, bounding the text before decoding it: the receipt window fixes how
// many headers and slot proofs evidence may hold.
fn decode_evidence(
    evidence: &str,
    limits: &Limits,
) -> Result<weft_types::BrokenPreconfirmation, VerifyError> {
    use weft_types::evidence::{EVIDENCE_CERTIFICATE_BYTES_MAX, EVIDENCE_HEADERS_EXTRA_MAX};
    // A header, and a slot proof of two leaves with full paths, per height.
    let per_height = weft_types::HEADER_BYTES
        + 2 * (weft_types::SLOT_BYTES + 8 + (weft_types::PROOF_DEPTH_MAX + 1) * 32);
    let heights = limits.preconf_window_heights as usize + EVIDENCE_HEADERS_EXTRA_MAX as usize;
    let max = 1 + weft_types::RECEIPT_BYTES + EVIDENCE_CERTIFICATE_BYTES_MAX + heights * per_height;
    let hex_str = evidence.strip_prefix("0x").unwrap_or(evidence);
    if hex_str.len() / 2 > max {
        return Err(VerifyError::Malformed {
            what: "evidence",
            reason: format!(
                "{} bytes, above the {max} this window allows",
                hex_str.len() / 2
            ),
        });
    }
    weft_types::BrokenPreconfirmation::decode_bytes(&unhex("evidence", evidence)?, limits).map_err(
        |e| VerifyError::Malformed {
            what: "evidence",
            reason: e.to_string(),
        },
    )
}

/// A certificate's signers and the size of the set that signed it.
pub type Attested = (Vec<VerifyingKey>, usize);

fn judge(
    evidence: &weft_types::BrokenPreconfirmation,
    chain: &ChainId,
    sets: &(impl Sets + ?Sized),
    limits: &Limits,
) -> Result<(weft_types::Verdict, Option<Attested>), VerifyError> {
    let validators = issuers(sets, evidence.receipt.promise.issued_height)?;
    // Every header lies in the epoch it names, and the certificate (of the last header) is
    // of that header's epoch: an old set cannot certify a made-up window of a later epoch.
    for header in &evidence.headers {
        weft_finality::check_epoch(sets, header.height, header.epoch)?;
    }
    let last_epoch = evidence.headers.last().map(|h| h.epoch);
    let mut attested = None;
    let verdict = evidence.judge(
        chain,
        &validators,
        limits.preconf_window_heights,
        |certificate| {
            let (f, signers) = weft_finality::certified_signers(certificate, sets, chain)
                .map_err(|e| e.to_string())?;
            if last_epoch.is_some_and(|e| e != f.epoch) {
                return Err(format!(
                    "the certificate is of epoch {}, its header of {last_epoch:?}",
                    f.epoch
                ));
            }
            let size = sets.set_of(f.epoch).map_or(0, <[_]>::len);
            attested = Some((signers, size));
            Ok(f.block)
        },
    )?;
    Ok((verdict, attested))
}

/// [`verify_receipt`] for the submitter, who holds the transaction: also checks that the
/// receipt names this transaction's hash, namespace, sender and nonce (receipt rule 6).
/// Refuse a receipt that fails it at once: its issuer could void the promise.
pub fn verify_receipt_for(
    json: &crate::types::ReceiptJson,
    tx: &weft_types::Transaction,
    chain: &ChainId,
    sets: &(impl Sets + ?Sized),
    window_heights: u64,
) -> Result<weft_types::Receipt, VerifyError> {
    let receipt = verify_receipt(json, chain, sets, window_heights)?;
    receipt.verify_tx(tx)?;
    Ok(receipt)
}

/// What evidence from `weft_getPreconfirmationEvidence` (hex of an encoded
/// `BrokenPreconfirmation`) shows, checked offline against the network's chain, validator
/// set and genesis limits (its receipt window bounds the decoding): the promise broken,
/// kept, or voided by the sender's conflict.
pub fn judge_preconfirmation(
    evidence: &str,
    chain: &ChainId,
    sets: &(impl Sets + ?Sized),
    limits: &Limits,
) -> Result<weft_types::Verdict, VerifyError> {
    judge(&decode_evidence(evidence, limits)?, chain, sets, limits).map(|(verdict, _)| verdict)
}

/// Checks evidence that a pre-confirmation was broken: `Ok` (with the broken receipt) only if
/// it shows the promise broken (every height of the window finalized, the slot empty in
/// each), so its issuer is at fault; a kept promise, the sender's conflict or a stalled
/// window is an error saying so.
pub fn verify_broken_preconfirmation(
    evidence: &str,
    chain: &ChainId,
    sets: &(impl Sets + ?Sized),
    limits: &Limits,
) -> Result<weft_types::Receipt, VerifyError> {
    verify_broken_preconfirmation_attested(evidence, chain, sets, limits).map(|(r, _)| r)
}

/// [`verify_broken_preconfirmation`], and the signers of the certificate the evidence rests
/// on (with its set's size): what the L1 checks against the stake still slashable there
/// (staking rule S11).
pub fn verify_broken_preconfirmation_attested(
    evidence: &str,
    chain: &ChainId,
    sets: &(impl Sets + ?Sized),
    limits: &Limits,
) -> Result<(weft_types::Receipt, Attested), VerifyError> {
    let evidence = decode_evidence(evidence, limits)?;
    match judge(&evidence, chain, sets, limits)? {
        (weft_types::Verdict::Broken, Some(attested)) => Ok((evidence.receipt, attested)),
        (weft_types::Verdict::Broken, None) => Err(VerifyError::Header(
            "broken evidence without a certificate".into(),
        )),
        (other, _) => Err(weft_types::EvidenceError::NotBroken(other).into()),
    }
}
