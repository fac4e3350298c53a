//! The JSON-RPC server.

use crate::{codes, types::*, Config};
use commonware_codec::Encode;
use futures::future::BoxFuture;
use jsonrpsee::server::{BatchRequestConfig, Server, ServerConfig, ServerHandle};
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned, Params};
use jsonrpsee::RpcModule;
use std::net::SocketAddr;
use std::sync::Arc;
use weft_mempool::{AdmitError, Status};
use weft_storage::Store;
use weft_types::{to_hex, Block, DecodeError, Header, NamespaceId, Transaction, TxError, TxHash};

/// What the RPC server needs from a validator.
pub trait NodeApi: Send + Sync + 'static {
    /// Checks, admits and durably records transactions; one result per transaction, in order.
    fn submit(
        &self,
        txs: Vec<Result<Transaction, AdmitError>>,
    ) -> BoxFuture<'static, Vec<Result<TxHash, AdmitError>>>;
    /// Mempool status of a transaction not (yet) finalized.
    fn pending_status(&self, hash: &TxHash) -> Option<Status>;
    /// The sender's next nonce, counting its pending transactions.
    fn next_nonce(&self, sender: &[u8; 32]) -> u64;
    /// The finalized chain.
    fn store(&self) -> &Store;
}

struct State {
    node: Arc<dyn NodeApi>,
    cfg: Config,
}

fn err(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObject::owned(code, message.into(), None::<()>)
}

fn internal(e: impl std::fmt::Display) -> ErrorObjectOwned {
    err(codes::INTERNAL, format!("internal error: {e}"))
}

/// Maps an admission error to its stable code.
pub fn admit_error(e: &AdmitError) -> ErrorJson {
    let code = match e {
        AdmitError::Decode(DecodeError::TooLarge { .. })
        | AdmitError::Invalid(TxError::PayloadTooLarge { .. }) => codes::TX_TOO_LARGE,
        AdmitError::Decode(DecodeError::Malformed { .. })
        | AdmitError::Invalid(TxError::BadSender) => codes::MALFORMED_TX,
        AdmitError::Invalid(TxError::BadSignature { .. }) => codes::BAD_SIGNATURE,
        AdmitError::Duplicate { .. } => codes::DUPLICATE,
        AdmitError::AlreadyFinalized { .. } => codes::ALREADY_FINALIZED,
        AdmitError::NonceTooLow { .. } => codes::NONCE_TOO_LOW,
        AdmitError::NonceTooHigh { .. } => codes::NONCE_TOO_HIGH,
        AdmitError::NonceInUse { .. } => codes::NONCE_IN_USE,
        AdmitError::Full { .. } => codes::MEMPOOL_FULL,
    };
    ErrorJson {
        code,
        message: e.to_string(),
    }
}

fn decode_tx_hex(s: &str, store: &Store) -> Result<Transaction, AdmitError> {
    let limits = store.limits();
    let hex_str = s.strip_prefix("0x").unwrap_or(s);
    // Bound before allocating: two hex characters per byte.
    if hex_str.len() / 2 > limits.tx_bytes_max {
        return Err(AdmitError::Decode(DecodeError::TooLarge {
            what: "transaction",
            size: hex_str.len() / 2,
            limit: "tx_bytes_max",
            max: limits.tx_bytes_max,
        }));
    }
    let bytes = hex::decode(hex_str).map_err(|e| {
        AdmitError::Decode(DecodeError::Malformed {
            what: "transaction",
            reason: format!("invalid hex: {e}"),
        })
    })?;
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
        signature: to_hex(tx.signature().as_ref()),
    }
}

fn block_json(block: &Block, full: bool, finalization: Option<Vec<u8>>) -> BlockJson {
    BlockJson {
        header: header_json(&block.header),
        tx_hashes: block.body.txs().map(|t| t.hash().to_string()).collect(),
        transactions: full.then(|| block.body.txs().map(tx_json).collect()),
        finalization: finalization.filter(|c| !c.is_empty()).map(|c| to_hex(&c)),
    }
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
        out.to = from.saturating_sub(1).max(from.min(clamped_to));
        return Ok(out);
    }
    let heights = store
        .namespace_heights(NamespaceId(namespace), from, clamped_to, span as usize)
        .map_err(internal)?;
    for height in heights {
        let block = store
            .block(height)
            .map_err(internal)?
            .ok_or_else(|| internal("indexed block missing"))?;
        let mut offset = 0u32;
        for ns in &block.body.namespaces {
            if ns.namespace.0 == namespace {
                if out.transactions.len() + ns.txs.len() > cfg.namespace_range_txs_max
                    && !out.transactions.is_empty()
                {
                    out.next_from = Some(height);
                    out.to = height - 1;
                    return Ok(out);
                }
                for (i, tx) in ns.txs.iter().enumerate() {
                    out.transactions.push(NamespaceTxJson {
                        height,
                        index: offset + i as u32,
                        tx: tx_json(tx),
                    });
                }
            }
            offset += ns.txs.len() as u32;
        }
    }
    Ok(out)
}

fn build_module(state: State) -> Result<RpcModule<State>, jsonrpsee::core::RegisterMethodError> {
    let mut module = RpcModule::new(state);
    module.register_async_method(
        "weft_sendTransaction",
        |params: Params<'static>, state, _| async move {
            let (tx_hex,): (String,) = params.parse()?;
            let tx = decode_tx_hex(&tx_hex, state.node.store());
            let mut results = state.node.submit(vec![tx]).await;
            match results.pop().expect("one result per transaction") {
                Ok(hash) => Ok::<String, ErrorObjectOwned>(hash.to_string()),
                Err(e) => {
                    let j = admit_error(&e);
                    Err(err(j.code, j.message))
                }
            }
        },
    )?;
    module.register_async_method(
        "weft_sendTransactions",
        |params: Params<'static>, state, _| async move {
            let (txs,): (Vec<String>,) = params.parse()?;
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
                .map(|t| decode_tx_hex(t, state.node.store()))
                .collect();
            let results = state.node.submit(decoded).await;
            Ok::<Vec<SubmitResult>, ErrorObjectOwned>(
                results
                    .into_iter()
                    .map(|r| match r {
                        Ok(hash) => SubmitResult::Accepted {
                            hash: hash.to_string(),
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
        let store = state.node.store();
        let Some(block) = store.block(height).map_err(internal)? else {
            return Ok::<Option<BlockJson>, ErrorObjectOwned>(None);
        };
        let cert = store.certificate(height).map_err(internal)?;
        Ok(Some(block_json(&block, full.unwrap_or(false), cert)))
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
        namespace_range(state, namespace, from, to)
    })?;
    module.register_method("weft_encodedBlock", |params, state, _| {
        let (height,): (u64,) = params.parse()?;
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
        .build();
    let server = Server::builder().set_config(server_cfg).build(addr).await?;
    let bound = server.local_addr()?;
    let module = build_module(State { node, cfg }).map_err(std::io::Error::other)?;
    Ok((bound, server.start(module)))
}
