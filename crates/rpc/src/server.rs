//! The JSON-RPC server.

use crate::{codes, types::*, Config};
use commonware_codec::{Encode, EncodeSize};
use futures::future::BoxFuture;
use jsonrpsee::server::{
    BatchRequestConfig, PendingSubscriptionSink, Server, ServerConfig, ServerHandle,
    SubscriptionSink,
};
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned, Params};
use jsonrpsee::RpcModule;
use std::net::SocketAddr;
use std::sync::Arc;
use weft_mempool::{AdmitError, Status};
use weft_storage::Store;
use weft_types::{
    eth::EthError, to_hex, Block, DecodeError, Header, NamespaceId, Receipt, Transaction, TxError,
    TxHash,
};

/// An accepted submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// Its hash.
    pub hash: TxHash,
    /// The validator's signed pre-confirmation, stored before it was returned; `None` for a
    /// transaction held back by a missing lower nonce of its sender.
    pub receipt: Option<Receipt>,
}

/// A batch of receipts just issued, with their transactions.
pub type Preconfirmed = Arc<Vec<(Transaction, Receipt)>>;

/// What the RPC server needs from a validator.
pub trait NodeApi: Send + Sync + 'static {
    /// Checks, admits and durably records transactions, pre-confirming each one accepted as
    /// includable; one result per transaction, in order.
    fn submit(
        &self,
        txs: Vec<Result<Transaction, AdmitError>>,
    ) -> BoxFuture<'static, Vec<Result<Accepted, AdmitError>>>;
    /// Checks, admits and durably records a whole bundle (its legs in index order), or
    /// refuses it whole naming the leg at fault; pre-confirms every leg or none.
    fn submit_bundle(
        &self,
        legs: Vec<Transaction>,
    ) -> BoxFuture<'static, Result<Vec<Accepted>, AdmitError>>;
    /// Mempool status of a transaction not (yet) finalized.
    fn pending_status(&self, hash: &TxHash) -> Option<Status>;
    /// The sender's next nonce, counting its pending transactions.
    fn next_nonce(&self, sender: &[u8; 32]) -> u64;
    /// Receipts this validator issues, with their transactions, each batch published once
    /// it is on disk (a lagging receiver misses batches and must resynchronise).
    fn preconfirmed(&self) -> tokio::sync::broadcast::Receiver<Preconfirmed>;
    /// This validator's outstanding receipts in `namespace`: promised, not yet finalized.
    fn outstanding(&self, namespace: NamespaceId) -> Vec<(Transaction, Receipt)>;
    /// Which of `hashes` the mempool holds as pending.
    fn pending_among(&self, hashes: &[TxHash]) -> Vec<bool>;
    /// The finalized chain.
    fn store(&self) -> &Store;
    /// The validator set (genesis order).
    fn validators(&self) -> Vec<weft_types::VerifyingKey>;
    /// The chain this node serves.
    fn chain_id(&self) -> weft_types::ChainId;
    /// The epoch this node is in and its validators (`weft_epoch`); none where it runs no
    /// consensus.
    fn epoch(&self) -> Option<weft_api::types::EpochJson> {
        None
    }
}

pub(crate) struct State {
    pub(crate) node: Arc<dyn NodeApi>,
    pub(crate) cfg: Config,
    /// Heavy reads in flight (`rpc.read_requests_max`).
    reads: tokio::sync::Semaphore,
    /// Subscription backfill reads in flight (`rpc.subscription_reads_max`).
    subscription_reads: tokio::sync::Semaphore,
}

/// A permit for one heavy read, or `BUSY`: reads beyond the bound are refused, not queued,
/// so a read flood can hold at most `read_requests_max` threads' worth of work.
fn read_permit(state: &State) -> Result<tokio::sync::SemaphorePermit<'_>, ErrorObjectOwned> {
    try_permit(&state.reads, state.cfg.read_requests_max)
}

fn try_permit(
    reads: &tokio::sync::Semaphore,
    max: usize,
) -> Result<tokio::sync::SemaphorePermit<'_>, ErrorObjectOwned> {
    reads.try_acquire().map_err(|_| {
        err(
            codes::BUSY,
            format!("busy: rpc.read_requests_max = {max} heavy reads are in flight; retry shortly"),
        )
    })
}

/// Builds the RPC server's own multi-threaded runtime (`rpc.worker_threads`), apart from the
/// consensus runtime, so RPC work cannot starve consensus of its threads.
pub fn runtime(cfg: &Config) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.worker_threads)
        .thread_name("weft-rpc")
        .enable_all()
        .build()
}

/// Submits one transaction (or reports why it could not be decoded): its hash, or its
/// admission error with the stable code.
pub(crate) async fn submit_one(
    state: &State,
    tx: Result<Transaction, AdmitError>,
) -> Result<Accepted, ErrorObjectOwned> {
    let tx = ingress(&state.cfg, tx);
    let mut results = state.node.submit(vec![tx]).await;
    match results.pop().expect("one result per transaction") {
        Ok(accepted) => Ok(accepted),
        Err(e) => {
            let j = admit_error(&e);
            Err(err(j.code, j.message))
        }
    }
}

pub(crate) fn err(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObject::owned(code, message.into(), None::<()>)
}

fn internal(e: impl std::fmt::Display) -> ErrorObjectOwned {
    err(codes::INTERNAL, format!("internal error: {e}"))
}

/// The ingress rule every submission path applies before admission (`weft_sendTransaction`,
/// `weft_sendTransactions` and `eth_sendRawTransaction` alike): an Ethereum-authenticated
/// transaction must name a chain in `rpc.eth_chain_ids` when the list is set. (Namespace 0
/// is refused by the mempool itself, for clients and peers alike.)
pub(crate) fn ingress(
    cfg: &Config,
    tx: Result<Transaction, AdmitError>,
) -> Result<Transaction, AdmitError> {
    let tx = tx?;
    if matches!(tx.auth(), weft_types::Auth::Ethereum) {
        let chain = tx.namespace().0;
        let allowed = &cfg.eth_chain_ids;
        if !allowed.is_empty() && !allowed.contains(&chain) {
            return Err(AdmitError::ChainNotServed {
                chain,
                allowed: allowed.clone(),
            });
        }
    }
    Ok(tx)
}

/// Maps an admission error to its stable code: the one table of RPC error codes.
pub fn admit_error(e: &AdmitError) -> ErrorJson {
    let code = match e {
        AdmitError::Decode(DecodeError::TooLarge { .. })
        | AdmitError::Invalid(TxError::PayloadTooLarge { .. }) => codes::TX_TOO_LARGE,
        AdmitError::Decode(DecodeError::Malformed { .. })
        | AdmitError::Invalid(TxError::BadSender) => codes::MALFORMED_TX,
        AdmitError::Invalid(TxError::BadSignature { .. }) => codes::BAD_SIGNATURE,
        AdmitError::Invalid(TxError::Ethereum(EthError::NoChainId)) => codes::UNKNOWN_CHAIN_ID,
        AdmitError::Invalid(TxError::Ethereum(EthError::Unsupported(_))) => {
            codes::UNSUPPORTED_TX_TYPE
        }
        AdmitError::Invalid(
            TxError::Ethereum(EthError::BadSignature(_)) | TxError::EthMismatch,
        ) => codes::BAD_SIGNATURE,
        AdmitError::Invalid(TxError::Ethereum(EthError::Malformed(_))) => codes::MALFORMED_TX,
        AdmitError::Duplicate { .. } => codes::DUPLICATE,
        AdmitError::AlreadyFinalized { .. } => codes::ALREADY_FINALIZED,
        AdmitError::NonceTooLow { .. } => codes::NONCE_TOO_LOW,
        AdmitError::NonceTooHigh { .. } => codes::NONCE_TOO_HIGH,
        AdmitError::NonceInUse { .. } => codes::NONCE_IN_USE,
        AdmitError::Full { .. } => codes::MEMPOOL_FULL,
        AdmitError::SystemNamespace => codes::SYSTEM_NAMESPACE,
        AdmitError::ChainNotServed { .. } => codes::UNKNOWN_CHAIN_ID,
        AdmitError::Preconf { .. } => codes::PRECONF_UNAVAILABLE,
        AdmitError::LegAlone { .. } => codes::LEG_ALONE,
        AdmitError::BadBundle { .. } => codes::BAD_BUNDLE,
        AdmitError::BundleLeg { reason, .. } => admit_error(reason).code,
    };
    ErrorJson {
        code,
        message: e.to_string(),
    }
}

/// Decodes hex of at most `max` bytes, checking the bound before allocating (two hex
/// characters per byte).
pub(crate) fn bounded_hex(
    s: &str,
    what: &'static str,
    limit: &'static str,
    max: usize,
) -> Result<Vec<u8>, DecodeError> {
    let hex_str = s.strip_prefix("0x").unwrap_or(s);
    if hex_str.len() / 2 > max {
        return Err(DecodeError::TooLarge {
            what,
            size: hex_str.len() / 2,
            limit,
            max,
        });
    }
    hex::decode(hex_str).map_err(|e| DecodeError::Malformed {
        what,
        reason: format!("invalid hex: {e}"),
    })
}

fn decode_tx_hex(s: &str, store: &Store) -> Result<Transaction, AdmitError> {
    let limits = store.limits();
    let bytes = bounded_hex(s, "transaction", "tx_bytes_max", limits.tx_bytes_max)?;
    Ok(Transaction::decode_untrusted(&bytes, limits)?)
}

/// JSON of a header.
pub fn header_json(h: &Header) -> HeaderJson {
    HeaderJson {
        hash: h.digest().to_string(),
        height: h.height,
        epoch: h.epoch,
        view: h.view,
        parent: h.parent.to_string(),
        timestamp_ms: h.timestamp_ms,
        proposer: to_hex(h.proposer.as_ref()),
        namespace_table_root: to_hex(h.namespace_table_root.as_ref()),
        inclusion_root: to_hex(h.inclusion_root.as_ref()),
        bundles_root: to_hex(h.bundles_root.as_ref()),
        encrypted_root: to_hex(h.encrypted_root.as_ref()),
        state_root: to_hex(h.state_root.as_ref()),
        l1_inbox_index: h.l1_inbox_index,
        tx_count: h.tx_count,
    }
}

/// JSON of a transaction.
pub fn tx_json(tx: &Transaction) -> TxJson {
    TxJson {
        hash: tx.hash().to_string(),
        namespace: tx.namespace().0,
        sender: to_hex(tx.sender().as_ref()),
        nonce: tx.nonce(),
        payload: to_hex(tx.payload()),
        kind: match tx.auth() {
            weft_types::Auth::Ed25519(_) => "ed25519",
            weft_types::Auth::Ethereum => "ethereum",
        }
        .into(),
        signature: tx.signature().map(|s| to_hex(s.as_ref())),
        leg: tx.leg().map(|l| LegJson {
            bundle_id: l.bundle().to_string(),
            index: l.index,
            valid_until: l.valid_until,
            contents: l.contents.iter().map(|c| to_hex(c.as_ref())).collect(),
        }),
    }
}

fn block_json(
    block: &Block,
    full: bool,
    finalization: Option<Vec<u8>>,
    finalized_at_ms: Option<u64>,
) -> BlockJson {
    BlockJson {
        header: header_json(&block.header),
        tx_hashes: block.body.txs().map(|t| t.hash().to_string()).collect(),
        transactions: full.then(|| block.body.txs().map(tx_json).collect()),
        finalization: finalization.filter(|c| !c.is_empty()).map(|c| to_hex(&c)),
        finalized_at_ms,
        validators: (!block.body.validators.is_empty()).then(|| {
            block
                .body
                .validators
                .iter()
                .map(|k| to_hex(k.as_ref()))
                .collect()
        }),
    }
}

/// A namespace's transactions in a block, with their positions in block order.
fn chunk_json(chunk: &weft_storage::NamespaceChunk) -> Vec<NamespaceTxJson> {
    chunk
        .txs
        .iter()
        .enumerate()
        .map(|(i, tx)| NamespaceTxJson {
            height: chunk.height,
            index: chunk.first_index + i as u32,
            tx: tx_json(tx),
        })
        .collect()
}

fn parse_hash(s: &str) -> Result<TxHash, ErrorObjectOwned> {
    TxHash::from_hex(s).map_err(|e| err(codes::INVALID_PARAMS, format!("hash: {e}")))
}

fn status(state: &State, hash: TxHash) -> Result<TxStatus, ErrorObjectOwned> {
    let store = state.node.store();
    if let Some(loc) = store.tx_location(&hash).map_err(internal)? {
        let header = store
            .header(loc.height)
            .map_err(internal)?
            .ok_or_else(|| internal("indexed block missing"))?;
        return Ok(TxStatus::Finalized {
            height: loc.height,
            index: loc.index,
            block_hash: header.digest().to_string(),
        });
    }
    Ok(match state.node.pending_status(&hash) {
        Some(Status::Pending) => TxStatus::Pending,
        Some(Status::Rejected(reason)) => TxStatus::Rejected { reason },
        None => TxStatus::Unknown,
    })
}

fn namespace_range(
    state: &State,
    namespace: u64,
    from: u64,
    to: u64,
) -> Result<NamespaceRangeJson, ErrorObjectOwned> {
    let cfg = &state.cfg;
    if to < from {
        return Err(err(
            codes::INVALID_PARAMS,
            format!("to ({to}) is below from ({from})"),
        ));
    }
    let span = to - from + 1;
    if span > cfg.namespace_range_heights_max {
        return Err(err(
            codes::RANGE_TOO_LARGE,
            format!(
                "range spans {span} heights, above namespace_range_heights_max = {}",
                cfg.namespace_range_heights_max
            ),
        ));
    }
    let store = state.node.store();
    let head = store.head_height();
    let clamped_to = head.map_or(from, |h| to.min(h));
    let mut out = NamespaceRangeJson {
        namespace,
        from,
        to: clamped_to,
        head,
        next_from: None,
        transactions: Vec::new(),
    };
    if head.is_none_or(|h| from > h) {
        // Nothing finalized in range yet: an empty answer ending just below `from`.
        out.to = from.saturating_sub(1);
        return Ok(out);
    }
    let chunks = store
        .namespace_txs(NamespaceId(namespace), from, clamped_to, span as usize)
        .map_err(internal)?;
    let mut bytes = 0usize;
    for chunk in chunks {
        let txs_bytes: usize = chunk.txs.iter().map(EncodeSize::encode_size).sum();
        let over = out.transactions.len() + chunk.txs.len() > cfg.namespace_range_txs_max
            || bytes + txs_bytes > cfg.namespace_range_bytes_max;
        if over && !out.transactions.is_empty() {
            // Stop at a block boundary; the client resumes from `next_from`.
            out.next_from = Some(chunk.height);
            out.to = chunk.height - 1;
            return Ok(out);
        }
        bytes += txs_bytes;
        out.transactions.extend(chunk_json(&chunk));
    }
    Ok(out)
}

fn finality(state: &State, height: u64) -> Result<Option<FinalityJson>, ErrorObjectOwned> {
    let store = state.node.store();
    let Some(header) = store.header(height).map_err(internal)? else {
        return Ok(None);
    };
    let head = store.head_height().unwrap_or(0);
    let last = head.min(height.saturating_add(state.cfg.finality_scan_heights_max));
    let mut headers = Vec::new();
    for h in height..=last {
        if h > height {
            let hd = store
                .header(h)
                .map_err(internal)?
                .ok_or_else(|| internal("finalized header missing"))?;
            headers.push(to_hex(&hd.encode()));
        }
        if let Some(cert) = store
            .certificate(h)
            .map_err(internal)?
            .filter(|c| !c.is_empty())
        {
            return Ok(Some(FinalityJson {
                height,
                block_hash: header.digest().to_string(),
                certified_height: h,
                certificate: to_hex(&cert),
                headers,
                header: to_hex(&header.encode()),
            }));
        }
    }
    Err(err(
        codes::NOT_FOUND,
        format!(
            "no finalization certificate within finality_scan_heights_max = {} heights from {height} (genesis has none: it is final by definition)",
            state.cfg.finality_scan_heights_max
        ),
    ))
}

/// What the finalized chain shows about `receipt`'s promise, with the evidence for it
/// (`weft_types::evidence`). A bundle leg's receipt needs the bundle's signed legs (`legs`,
/// in index order; the receipt holder has them), whose slots the evidence covers too (rule
/// 7). Reads at most the receipt window plus `EVIDENCE_HEADERS_EXTRA_MAX` blocks (both
/// bounded by genesis), under a read permit.
fn preconf_evidence(
    state: &State,
    receipt: &str,
    legs: Option<Vec<String>>,
) -> Result<PreconfEvidenceJson, ErrorObjectOwned> {
    use weft_types::evidence::{BundleWitness, SlotProof, Verdict, EVIDENCE_HEADERS_EXTRA_MAX};
    let store = state.node.store();
    let limits = store.limits();
    let invalid = |m: String| err(codes::INVALID_PARAMS, m);
    let bytes = bounded_hex(
        receipt,
        "receipt",
        "RECEIPT_BYTES",
        weft_types::RECEIPT_BYTES,
    )
    .map_err(|e| invalid(e.to_string()))?;
    let receipt = Receipt::decode_bytes(&bytes).map_err(|e| invalid(e.to_string()))?;
    let (chain, validators) = (state.node.chain_id(), state.node.validators());
    receipt
        .verify(&chain, &validators, limits.preconf_window_heights)
        .map_err(|e| invalid(format!("receipt: {e}")))?;
    let p = &receipt.promise;
    let leg_receipt = p.version == weft_types::receipt::RECEIPT_VERSION_LEG;
    let witness = match (legs, leg_receipt) {
        (None, false) => None,
        (Some(_), false) => {
            return Err(invalid(
                "legs were given for a plain transaction's receipt".into(),
            ))
        }
        (None, true) => {
            return Err(invalid(
                "a bundle leg's receipt needs its bundle's legs (second parameter: the signed legs' hex, in index order)".into(),
            ))
        }
        (Some(legs), true) => {
            if legs.len() > weft_types::BUNDLE_LEGS_MAX {
                return Err(invalid(format!(
                    "{} legs, a bundle has at most BUNDLE_LEGS_MAX = {}",
                    legs.len(),
                    weft_types::BUNDLE_LEGS_MAX
                )));
            }
            let legs = legs
                .iter()
                .enumerate()
                .map(|(i, hex)| {
                    decode_tx_hex(hex, store).map_err(|e| invalid(format!("leg {i}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let w = BundleWitness::for_legs(&legs).ok_or_else(|| {
                invalid("the legs are not one bundle's, whole and in index order".into())
            })?;
            let own = w.leg_of(p).map_err(|e| invalid(format!("legs: {e}")))?;
            Some((w, own))
        }
    };
    let head = store.head_height().unwrap_or(0);
    let pending = |height| PreconfEvidenceJson {
        verdict: "pending".into(),
        height,
        tx: None,
        evidence: None,
    };
    // The receipt's own slot first, then every other leg's (rule 7).
    let mut keys = vec![(p.sender, p.nonce)];
    if let Some((w, own)) = &witness {
        keys.extend(w.other_keys(*own));
    }
    let mut proofs: Vec<Vec<SlotProof>> = vec![Vec::new(); keys.len()];
    let mut decided = None;
    for h in p.issued_height + 1..=p.deadline_height.min(head) {
        let block = store
            .block(h)
            .map_err(internal)?
            .ok_or_else(|| internal("finalized block missing"))?;
        // Every leg's proof from one hashing of the block's tree.
        let built = SlotProof::build_many(&block.body.slots(), &keys);
        for (list, proof) in proofs.iter_mut().zip(built) {
            if matches!(proof, SlotProof::Held(_)) {
                decided = Some(h);
            }
            list.push(proof);
        }
        if decided.is_some() {
            break;
        }
    }
    let last = match decided {
        Some(h) => h,
        None if head < p.deadline_height => return Ok(pending(head)),
        None => p.deadline_height,
    };
    // Headers up to the first stored certificate at or above the deciding height.
    let mut headers = Vec::new();
    let mut certificate = None;
    for h in p.issued_height + 1..=head.min(last.saturating_add(EVIDENCE_HEADERS_EXTRA_MAX)) {
        headers.push(
            store
                .header(h)
                .map_err(internal)?
                .ok_or_else(|| internal("finalized header missing"))?,
        );
        if h >= last {
            if let Some(cert) = store
                .certificate(h)
                .map_err(internal)?
                .filter(|c| !c.is_empty())
            {
                certificate = Some(cert);
                break;
            }
        }
    }
    let Some(certificate) = certificate else {
        if head >= last.saturating_add(EVIDENCE_HEADERS_EXTRA_MAX) {
            return Err(err(
                codes::NOT_FOUND,
                format!("no finalization certificate within {EVIDENCE_HEADERS_EXTRA_MAX} heights above {last}"),
            ));
        }
        return Ok(pending(head));
    };
    let mut lists = proofs.into_iter();
    let slots = lists.next().expect("the receipt's own slot");
    let witness = witness.map(|(mut w, _)| {
        w.others = lists.collect();
        w
    });
    let last_header = headers.last().expect("at least one header").digest();
    let evidence = weft_types::BrokenPreconfirmation {
        receipt: receipt.clone(),
        headers,
        certificate,
        slots,
        bundle: witness,
    };
    // The verdict is the evidence's own, judged as a client would (our store holds only
    // finalized blocks, so its certificate is taken as given here).
    let verdict = evidence
        .judge(&chain, &validators, limits.preconf_window_heights, |_| {
            Ok(last_header)
        })
        .map_err(|e| internal(format!("evidence built from the store does not judge: {e}")))?;
    let (verdict, tx) = match verdict {
        Verdict::Broken => ("broken", None),
        Verdict::Kept { .. } => ("kept", None),
        Verdict::Conflict { tx, .. } => ("conflict", Some(tx.to_string())),
    };
    Ok(PreconfEvidenceJson {
        verdict: verdict.into(),
        height: last,
        tx,
        evidence: Some(to_hex(&evidence.encode())),
    })
}

fn namespace_proof(
    state: &State,
    namespace: u64,
    height: u64,
) -> Result<Option<NamespaceProofJson>, ErrorObjectOwned> {
    let Some(block) = state.node.store().block(height).map_err(internal)? else {
        return Ok(None);
    };
    let proof = block.body.namespace_proof(NamespaceId(namespace));
    let transactions = match &proof {
        weft_types::NamespaceProof::Present { txs, .. } => txs.iter().map(tx_json).collect(),
        weft_types::NamespaceProof::Absent { .. } => Vec::new(),
    };
    Ok(Some(NamespaceProofJson {
        namespace,
        height,
        block_hash: block.digest().to_string(),
        header: to_hex(&block.header.encode()),
        proof: to_hex(&proof.encode()),
        transactions,
    }))
}

/// Streams a namespace's finalized transactions from `from`: backfill from storage, then
/// live as blocks finalize. Returns when the client goes away.
async fn stream_namespace(state: Arc<State>, sink: SubscriptionSink, namespace: u64, from: u64) {
    let store = state.node.store();
    let mut head_rx = store.subscribe_head();
    let mut cursor = from;
    loop {
        while let Some(head) = store.head_height().filter(|h| cursor <= *h) {
            // Bounded chunks keep one subscriber from holding a long read.
            let upto = head.min(cursor.saturating_add(state.cfg.namespace_range_heights_max - 1));
            let chunks = {
                // Backfill reads wait their turn, so subscribers cannot crowd out each other
                // or the request path.
                let Ok(_permit) = state.subscription_reads.acquire().await else {
                    return;
                };
                let Ok(chunks) =
                    store.namespace_txs(NamespaceId(namespace), cursor, upto, usize::MAX)
                else {
                    return;
                };
                chunks
            };
            for chunk in chunks {
                let Ok(Some(header)) = store.header(chunk.height) else {
                    return;
                };
                let note = NamespaceBlockJson {
                    namespace,
                    height: chunk.height,
                    block_hash: header.digest().to_string(),
                    finalized_at_ms: store.finalized_at_ms(chunk.height).ok().flatten(),
                    transactions: chunk_json(&chunk),
                };
                let Ok(msg) = serde_json::value::to_raw_value(&note) else {
                    return;
                };
                // Waits while the client's buffer is full: a slow reader slows only itself.
                if sink.send(msg).await.is_err() {
                    return;
                }
            }
            cursor = upto + 1;
        }
        tokio::select! {
            changed = head_rx.changed() => if changed.is_err() { return },
            _ = sink.closed() => return,
        }
    }
}

/// Most preconfirmed transactions one stream follows to their outcome. Outstanding receipts
/// are bounded by the issuer's liability bound, far below this; a stream past it is closed
/// (the client resubscribes and resynchronises).
pub const PRECONF_STREAM_TRACKED_MAX: usize = 65_536;

/// Most conflicts one `weft_getConflicts` call returns.
pub const CONFLICTS_PAGE_MAX: usize = 256;

/// Receipt index entries one page of a resumed preconfirmed stream reads (per
/// acknowledgement lane) before it yields the store to other readers.
pub const PRECONF_RESUME_PAGE_MAX: usize = 4_096;

/// A preconfirmed transaction a stream follows to its outcome.
#[derive(Clone, Copy)]
struct Tracked {
    sender: [u8; 32],
    nonce: u64,
    deadline: u64,
    /// For a bundle leg, when its bundle expires (or a bound below that: see `resumed`).
    leg: Option<u64>,
    /// Whether this stream sent its `preconfirmed` event.
    announced: bool,
}

impl Tracked {
    fn announced(p: &weft_types::Promise, leg: Option<u64>) -> Self {
        Self {
            sender: p.sender,
            nonce: p.nonce,
            deadline: p.deadline_height,
            leg,
            announced: true,
        }
    }

    /// A receipt found unresolved when a stream resumes, its transaction perhaps gone. A
    /// leg's bundle expiry is then unknown, but a leg is promised only if its bundle is valid
    /// until the deadline at least (mempool P4), so the deadline stands in for it: a leg
    /// gone before then was voided (`conflict`), after it the reason given is `deadline`.
    fn resumed(p: &weft_types::Promise) -> Self {
        let leg =
            (p.version == weft_types::receipt::RECEIPT_VERSION_LEG).then_some(p.deadline_height);
        Self {
            announced: false,
            ..Self::announced(p, leg)
        }
    }
}

/// `weft_subscribePreconfirmed`: finalized events from `from`, then this validator's
/// outstanding receipts, then live receipts and finalizations. Every transaction this
/// validator preconfirms appears as `preconfirmed` before the `finalized` event that lists
/// it, or only in that event if it landed before the stream saw its receipt; a promise that
/// can no longer be kept is reported `dropped`, so no entry is left hanging.
/// A resumed stream also reports `dropped` for receipts it sent before a disconnect that
/// were dropped while the subscriber was away.
async fn stream_preconfirmed(state: Arc<State>, sink: SubscriptionSink, namespace: u64, from: u64) {
    use std::collections::HashMap;
    use tokio::sync::broadcast::error::RecvError;
    let ns = NamespaceId(namespace);
    let store = state.node.store();
    // Subscribed before anything is read, so no receipt issued from here on is missed.
    let mut head_rx = store.subscribe_head();
    let mut receipts = state.node.preconfirmed();
    // Preconfirmed, not yet finalized.
    let mut tracked: HashMap<TxHash, Tracked> = HashMap::new();
    // Never past the next height: heights above the head are not final, and treating them
    // as streamed would drop promises that are still running.
    let mut cursor = from.min(store.head_height().map_or(0, |h| h + 1));
    // A resumed stream follows every receipt this validator signed in the namespace that
    // was still unresolved as of `from`, so one seen before a disconnect and dropped while
    // away is reported `dropped` now, not left hanging (its transaction may be gone: it is
    // followed without being announced again). Finalized ones are in `finalized` events.
    {
        let mut key = Some((cursor.saturating_sub(1), [0u8; 32]));
        while let Some(at) = key {
            let page = {
                let Ok(_permit) = state.subscription_reads.acquire().await else {
                    return;
                };
                match store.receipts_from(ns, at, PRECONF_RESUME_PAGE_MAX) {
                    Ok(page) => page,
                    Err(_) => return,
                }
            };
            for receipt in page.0 {
                let p = &receipt.promise;
                if !matches!(store.tx_location(&p.tx), Ok(None)) {
                    continue;
                }
                if tracked.len() >= PRECONF_STREAM_TRACKED_MAX {
                    tracing::warn!(target: "weft::rpc", "preconfirmed stream follows {PRECONF_STREAM_TRACKED_MAX} transactions; closing it");
                    return;
                }
                tracked.insert(p.tx, Tracked::resumed(p));
            }
            key = page.1;
        }
    }
    let send = |event: PreconfEventJson| {
        let sink = &sink;
        async move {
            let Ok(msg) = serde_json::value::to_raw_value(&event) else {
                return false;
            };
            // Waits while the client's buffer is full: a slow reader slows only itself.
            sink.send(msg).await.is_ok()
        }
    };
    // Announces receipts not yet announced, unless their transaction was already streamed
    // as finalized (below the cursor).
    macro_rules! announce {
        ($pairs:expr) => {
            for (tx, receipt) in $pairs {
                let hash = tx.hash();
                if tx.namespace() != ns || tracked.get(&hash).is_some_and(|t| t.announced) {
                    continue;
                }
                if let Ok(Some(at)) = store.tx_location(&hash) {
                    if at.height < cursor {
                        continue;
                    }
                }
                if tracked.len() >= PRECONF_STREAM_TRACKED_MAX {
                    tracing::warn!(target: "weft::rpc", "preconfirmed stream follows {PRECONF_STREAM_TRACKED_MAX} transactions; closing it");
                    return;
                }
                let p = &receipt.promise;
                tracked.insert(hash, Tracked::announced(p, tx.leg().map(|l| l.valid_until)));
                let event = PreconfEventJson::Preconfirmed {
                    transaction: tx_json(&tx),
                    receipt: Box::new(ReceiptJson::of(&receipt)),
                };
                if !send(event).await {
                    return;
                }
            }
        };
    }
    let mut synced = false;
    loop {
        let before = cursor;
        // Finalized heights up to the head, in bounded chunks.
        while let Some(head) = store.head_height().filter(|h| cursor <= *h) {
            let upto = head.min(cursor.saturating_add(state.cfg.namespace_range_heights_max - 1));
            let chunks = {
                let Ok(_permit) = state.subscription_reads.acquire().await else {
                    return;
                };
                let Ok(chunks) = store.namespace_txs(ns, cursor, upto, usize::MAX) else {
                    return;
                };
                chunks
            };
            for chunk in chunks {
                let Ok(Some(header)) = store.header(chunk.height) else {
                    return;
                };
                let txs: Vec<String> = chunk
                    .txs
                    .iter()
                    .map(|t| {
                        tracked.remove(&t.hash());
                        t.hash().to_string()
                    })
                    .collect();
                let event = PreconfEventJson::Finalized {
                    height: chunk.height,
                    block_hash: header.digest().to_string(),
                    txs,
                };
                if !send(event).await {
                    return;
                }
            }
            cursor = upto + 1;
        }
        let streamed = cursor.saturating_sub(1);
        // What can no longer be kept, checked once per advance of the head: its nonce taken
        // by another finalized transaction, or its deadline streamed without it. The store
        // decides (the mempool lets a transaction go only after the store commits the block
        // that finalizes it or takes its nonce, so one still pending and short of its
        // deadline needs no store read).
        if cursor > before && !tracked.is_empty() {
            let hashes: Vec<TxHash> = tracked.keys().copied().collect();
            let pending = state.node.pending_among(&hashes);
            for (hash, pending) in hashes.into_iter().zip(pending) {
                let Tracked {
                    sender,
                    nonce,
                    deadline,
                    leg,
                    ..
                } = tracked[&hash];
                if pending && streamed < deadline {
                    continue;
                }
                let conflict = match store.tx_location(&hash) {
                    Ok(Some(_)) => continue, // finalized above the cursor: next round
                    // A promised leg leaves the mempool unfinalized when its bundle can no
                    // longer be included (mempool rule S2): some leg's nonce was taken by
                    // another transaction, or the bundle expired. Read after the mempool, a
                    // head below the expiry rules the expiry out (a promised bundle is ready,
                    // so it is never evicted or expired held back).
                    Ok(None) => match leg {
                        Some(valid_until) if !pending => {
                            store.head_height().unwrap_or(0) < valid_until
                        }
                        _ => store
                            .sender_nonce(&sender)
                            .ok()
                            .flatten()
                            .is_some_and(|n| n >= nonce),
                    },
                    Err(_) => return,
                };
                let reason = if conflict {
                    "conflict"
                } else if streamed >= deadline {
                    "deadline"
                } else {
                    continue;
                };
                tracked.remove(&hash);
                let event = PreconfEventJson::Dropped {
                    tx: hash.to_string(),
                    height: streamed,
                    reason: reason.into(),
                };
                if !send(event).await {
                    return;
                }
            }
        }
        if !synced {
            // Outstanding receipts once the backfill is done (and again after a lag).
            announce!(state.node.outstanding(ns));
            synced = true;
            continue;
        }
        tokio::select! {
            changed = head_rx.changed() => if changed.is_err() { return },
            batch = receipts.recv() => match batch {
                Ok(batch) => announce!(batch.iter().cloned()),
                Err(RecvError::Lagged(_)) => synced = false,
                Err(RecvError::Closed) => return,
            },
            _ = sink.closed() => return,
        }
    }
}

/// Parses `(namespace, from_height?)` and accepts the subscription, or rejects it with the
/// parse error (both namespace subscriptions take these parameters).
async fn accept_namespace_subscription(
    params: Params<'static>,
    pending: PendingSubscriptionSink,
) -> Option<(SubscriptionSink, u64, Option<u64>)> {
    let parsed: Result<(u64, Option<u64>), _> = params.parse();
    match parsed {
        Ok((namespace, from)) => pending
            .accept()
            .await
            .ok()
            .map(|sink| (sink, namespace, from)),
        Err(e) => {
            pending.reject(e).await;
            None
        }
    }
}

fn build_module(state: State) -> Result<RpcModule<State>, jsonrpsee::core::RegisterMethodError> {
    let mut module = RpcModule::new(state);
    module.register_async_method(
        "weft_sendTransaction",
        |params: Params<'static>, state, _| async move {
            let mut seq = params.sequence();
            let tx_hex: String = seq.next()?;
            let opts: Option<SubmitOptions> = seq.optional_next()?;
            let accepted = submit_one(&state, decode_tx_hex(&tx_hex, state.node.store())).await?;
            // Plain form: the hash. With `{"receipt": true}`: the hash and the receipt.
            Ok::<serde_json::Value, ErrorObjectOwned>(if opts.unwrap_or_default().receipt {
                serde_json::to_value(AcceptedJson {
                    hash: accepted.hash.to_string(),
                    receipt: accepted.receipt.as_ref().map(ReceiptJson::of),
                })
                .map_err(internal)?
            } else {
                serde_json::Value::String(accepted.hash.to_string())
            })
        },
    )?;
    module.register_async_method(
        "weft_sendBundle",
        |params: Params<'static>, state, _| async move {
            let (request,): (BundleRequest,) = params.parse()?;
            let bad = |reason: String| {
                let e = AdmitError::BadBundle { reason };
                let j = admit_error(&e);
                err(j.code, j.message)
            };
            if request.legs.len() > weft_types::BUNDLE_LEGS_MAX {
                return Err(bad(format!(
                    "{} legs, above BUNDLE_LEGS_MAX = {}",
                    request.legs.len(),
                    weft_types::BUNDLE_LEGS_MAX
                )));
            }
            let mut legs = Vec::with_capacity(request.legs.len());
            for (i, hex) in request.legs.iter().enumerate() {
                let leg = decode_tx_hex(hex, state.node.store()).map_err(|e| {
                    let j = admit_error(&e);
                    err(j.code, format!("bundle leg {i} refused: {}", j.message))
                })?;
                if leg
                    .leg()
                    .is_some_and(|l| l.valid_until != request.valid_until_height)
                {
                    return Err(bad(format!(
                        "valid_until_height is {} but leg {i} signs {}",
                        request.valid_until_height,
                        leg.leg().map_or(0, |l| l.valid_until)
                    )));
                }
                legs.push(leg);
            }
            let bundle_id = legs
                .first()
                .and_then(|t| t.leg())
                .map(|l| l.bundle().to_string())
                .unwrap_or_default();
            let accepted = state.node.submit_bundle(legs).await.map_err(|e| {
                let j = admit_error(&e);
                err(j.code, j.message)
            })?;
            Ok::<BundleAcceptedJson, ErrorObjectOwned>(BundleAcceptedJson {
                bundle_id,
                legs: accepted
                    .iter()
                    .map(|a| AcceptedJson {
                        hash: a.hash.to_string(),
                        receipt: a.receipt.as_ref().map(ReceiptJson::of),
                    })
                    .collect(),
            })
        },
    )?;
    module.register_method("weft_getPreconfirmation", |params, state, _| {
        let (hash,): (String,) = params.parse()?;
        let receipt = state
            .node
            .store()
            .receipt(&parse_hash(&hash)?)
            .map_err(internal)?;
        Ok::<Option<ReceiptJson>, ErrorObjectOwned>(receipt.as_ref().map(ReceiptJson::of))
    })?;
    module.register_async_method(
        "weft_sendTransactions",
        |params: Params<'static>, state, _| async move {
            let mut seq = params.sequence();
            let txs: Vec<String> = seq.next()?;
            let opts: Option<SubmitOptions> = seq.optional_next()?;
            let with_receipts = opts.unwrap_or_default().receipt;
            let max = state.cfg.submit_batch_txs_max;
            if txs.len() > max {
                return Err(err(
                    codes::BATCH_TOO_LARGE,
                    format!(
                        "batch holds {} transactions, above submit_batch_txs_max = {max}",
                        txs.len()
                    ),
                ));
            }
            let decoded = txs
                .iter()
                .map(|t| ingress(&state.cfg, decode_tx_hex(t, state.node.store())))
                .collect();
            let results = state.node.submit(decoded).await;
            Ok::<Vec<SubmitResult>, ErrorObjectOwned>(
                results
                    .into_iter()
                    .map(|r| match r {
                        Ok(accepted) => SubmitResult::Accepted {
                            hash: accepted.hash.to_string(),
                            receipt: with_receipts
                                .then(|| accepted.receipt.as_ref().map(ReceiptJson::of)),
                        },
                        Err(e) => SubmitResult::Error {
                            error: admit_error(&e),
                        },
                    })
                    .collect(),
            )
        },
    )?;
    module.register_method("weft_getTransactionStatus", |params, state, _| {
        let (hash,): (String,) = params.parse()?;
        status(state, parse_hash(&hash)?)
    })?;
    module.register_method("weft_getBlockByHeight", |params, state, _| {
        let (height, full): (u64, Option<bool>) = params.parse()?;
        let _permit = read_permit(state)?;
        let store = state.node.store();
        let Some(block) = store.block(height).map_err(internal)? else {
            return Ok::<Option<BlockJson>, ErrorObjectOwned>(None);
        };
        let cert = store.certificate(height).map_err(internal)?;
        let at = store.finalized_at_ms(height).map_err(internal)?;
        Ok(Some(block_json(&block, full.unwrap_or(false), cert, at)))
    })?;
    module.register_method("weft_getNonce", |params, state, _| {
        let (sender,): (String,) = params.parse()?;
        let sender = weft_types::from_hex_fixed::<32>(&sender)
            .map_err(|e| err(codes::INVALID_PARAMS, format!("sender: {e}")))?;
        let finalized = state.node.store().sender_nonce(&sender).map_err(internal)?;
        Ok::<NonceJson, ErrorObjectOwned>(NonceJson {
            next: state.node.next_nonce(&sender),
            finalized_next: finalized.map_or(0, |n| n + 1),
        })
    })?;
    module.register_method("weft_getBlockByHash", |params, state, _| {
        let (hash, full): (String, Option<bool>) = params.parse()?;
        let _permit = read_permit(state)?;
        let digest = weft_types::from_hex_fixed::<32>(&hash)
            .map_err(|e| err(codes::INVALID_PARAMS, format!("hash: {e}")))?;
        let store = state.node.store();
        let Some(height) = store
            .height_of(&weft_types::BlockDigest(digest.into()))
            .map_err(internal)?
        else {
            return Ok::<Option<BlockJson>, ErrorObjectOwned>(None);
        };
        let block = store
            .block(height)
            .map_err(internal)?
            .ok_or_else(|| internal("indexed block missing"))?;
        let cert = store.certificate(height).map_err(internal)?;
        let at = store.finalized_at_ms(height).map_err(internal)?;
        Ok(Some(block_json(&block, full.unwrap_or(false), cert, at)))
    })?;
    module.register_method("weft_validators", |_params, state, _| {
        Ok::<Vec<ValidatorJson>, ErrorObjectOwned>(
            state
                .node
                .validators()
                .iter()
                .map(|k| ValidatorJson {
                    public_key: to_hex(k.as_ref()),
                })
                .collect(),
        )
    })?;
    module.register_method("weft_epoch", |_params, state, _| {
        Ok::<Option<weft_api::types::EpochJson>, ErrorObjectOwned>(state.node.epoch())
    })?;
    module.register_method("weft_chainId", |_params, state, _| {
        Ok::<String, ErrorObjectOwned>(state.node.chain_id().to_string())
    })?;
    module.register_method("weft_getFinality", |params, state, _| {
        let (height,): (u64,) = params.parse()?;
        let _permit = read_permit(state)?;
        finality(state, height)
    })?;
    // Blocking pool: it decodes up to a window of blocks, which must not hold an async
    // worker of the RPC runtime.
    module.register_blocking_method("weft_getPreconfirmationEvidence", |params, state, _| {
        let mut seq = params.sequence();
        let receipt: String = seq.next()?;
        let legs: Option<Vec<String>> = seq.optional_next()?;
        let _permit = read_permit(&state)?;
        preconf_evidence(&state, &receipt, legs)
    })?;
    module.register_method("weft_getNamespaceProof", |params, state, _| {
        let (namespace, height): (u64, u64) = params.parse()?;
        let _permit = read_permit(state)?;
        namespace_proof(state, namespace, height)
    })?;
    module.register_subscription(
        "weft_subscribeNamespace",
        "weft_namespace",
        "weft_unsubscribeNamespace",
        |params: Params<'static>, pending: PendingSubscriptionSink, state: Arc<State>, _| async move {
            let Some((sink, namespace, from)) = accept_namespace_subscription(params, pending).await
            else {
                return;
            };
            stream_namespace(state, sink, namespace, from.unwrap_or(0)).await;
        },
    )?;
    module.register_subscription(
        "weft_subscribePreconfirmed",
        "weft_preconfirmed",
        "weft_unsubscribePreconfirmed",
        |params: Params<'static>, pending: PendingSubscriptionSink, state: Arc<State>, _| async move {
            let Some((sink, namespace, from)) = accept_namespace_subscription(params, pending).await
            else {
                return;
            };
            // From the next height by default: what is already final is history.
            let from = from.unwrap_or_else(|| state.node.store().head_height().map_or(0, |h| h + 1));
            stream_preconfirmed(state, sink, namespace, from).await;
        },
    )?;
    crate::eth::register(&mut module)?;
    module.register_method("weft_chainHead", |_params, state, _| {
        let store = state.node.store();
        let Some(height) = store.head_height() else {
            return Ok::<Option<HeaderJson>, ErrorObjectOwned>(None);
        };
        Ok(store
            .header(height)
            .map_err(internal)?
            .map(|h| header_json(&h)))
    })?;
    module.register_method("weft_getNamespaceTransactions", |params, state, _| {
        let (namespace, from, to): (u64, u64, u64) = params.parse()?;
        let _permit = read_permit(state)?;
        namespace_range(state, namespace, from, to)
    })?;
    module.register_method("weft_getConflicts", |params, state, _| {
        let mut seq = params.sequence();
        let from: Option<u64> = seq.optional_next()?;
        let limit: Option<usize> = seq.optional_next()?;
        let _permit = read_permit(state)?;
        let limit = limit.unwrap_or(CONFLICTS_PAGE_MAX).min(CONFLICTS_PAGE_MAX);
        let conflicts = state
            .node
            .store()
            .conflicts(from.unwrap_or(0), limit)
            .map_err(internal)?;
        Ok::<_, ErrorObjectOwned>(
            conflicts
                .into_iter()
                .map(|(index, evidence)| ConflictJson {
                    index,
                    evidence: to_hex(&evidence),
                })
                .collect::<Vec<_>>(),
        )
    })?;
    module.register_method("weft_encodedBlock", |params, state, _| {
        let (height,): (u64,) = params.parse()?;
        let _permit = read_permit(state)?;
        Ok::<Option<String>, ErrorObjectOwned>(
            state
                .node
                .store()
                .block(height)
                .map_err(internal)?
                .map(|b| to_hex(&b.encode())),
        )
    })?;
    Ok(module)
}

/// Starts the server on `addr` (inside a tokio runtime). Returns the bound address and handle.
pub async fn start(
    addr: SocketAddr,
    cfg: Config,
    node: Arc<dyn NodeApi>,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let server_cfg = ServerConfig::builder()
        .max_request_body_size(cfg.request_body_bytes_max)
        .max_response_body_size(cfg.response_body_bytes_max)
        .max_connections(cfg.connections_max)
        .set_batch_request_config(BatchRequestConfig::Limit(cfg.submit_batch_txs_max as u32))
        .max_subscriptions_per_connection(cfg.subscriptions_per_connection_max)
        .build();
    let server = Server::builder().set_config(server_cfg).build(addr).await?;
    let bound = server.local_addr()?;
    let methods = methods(cfg, node).map_err(std::io::Error::other)?;
    Ok((bound, server.start(methods)))
}

/// Every method the server serves, over `node`: what [`start`] serves, and what tests and
/// fuzzers call in process (`Methods::raw_json_request`).
pub fn methods(
    cfg: Config,
    node: Arc<dyn NodeApi>,
) -> Result<jsonrpsee::Methods, jsonrpsee::core::RegisterMethodError> {
    let state = State {
        node,
        reads: tokio::sync::Semaphore::new(cfg.read_requests_max),
        subscription_reads: tokio::sync::Semaphore::new(cfg.subscription_reads_max),
        cfg,
    };
    Ok(build_module(state)?.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_beyond_the_bound_are_refused_busy_not_queued() {
        let reads = tokio::sync::Semaphore::new(2);
        let a = try_permit(&reads, 2).unwrap();
        let _b = try_permit(&reads, 2).unwrap();
        let refused = try_permit(&reads, 2).unwrap_err();
        assert_eq!(refused.code(), codes::BUSY);
        assert!(refused.message().contains("read_requests_max = 2"));
        drop(a);
        let _c = try_permit(&reads, 2).unwrap();
    }

    #[test]
    fn ingress_errors_have_their_codes_in_the_one_table() {
        let cfg = Config {
            eth_chain_ids: vec![1],
            ..Config::default()
        };
        // An earlier error passes through untouched (the chain rule is tested end to end).
        let e = ingress(&cfg, Err(AdmitError::SystemNamespace)).unwrap_err();
        assert_eq!(e, AdmitError::SystemNamespace);
        assert_eq!(admit_error(&e).code, codes::SYSTEM_NAMESPACE);
        let e = AdmitError::ChainNotServed {
            chain: 5,
            allowed: vec![1],
        };
        assert_eq!(admit_error(&e).code, codes::UNKNOWN_CHAIN_ID);
    }
}
