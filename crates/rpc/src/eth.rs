//! Ethereum ingress: the `eth_*` methods an unmodified wallet or script needs to submit.
//!
//! `eth_sendRawTransaction` takes a signed Ethereum transaction (legacy EIP-155, EIP-2930,
//! EIP-1559, EIP-7702); its chain id selects the namespace, the signer is recovered from the
//! signature, and the answer is the Ethereum transaction hash. `eth_chainId`,
//! `net_version` and `eth_getTransactionCount` answer for `rpc.eth_chain_id`. Weft orders
//! and does not execute, so execution methods (`eth_call`, receipts, balances) belong to the
//! rollup's own node.

use crate::{
    codes,
    server::{admit_error, bounded_hex, State},
};
use bytes::Bytes;
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned, Params};
use jsonrpsee::RpcModule;
use weft_mempool::AdmitError;
use weft_types::{eth, Transaction};

fn err(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObject::owned(code, message.into(), None::<()>)
}

fn quantity(n: u64) -> String {
    format!("0x{n:x}")
}

fn default_chain(state: &State) -> Result<u64, ErrorObjectOwned> {
    state.cfg.eth_chain_id.ok_or_else(|| {
        err(
            codes::UNKNOWN_CHAIN_ID,
            "this validator has no default Ethereum chain: set rpc.eth_chain_id",
        )
    })
}

/// Decodes `raw_hex` into an Ethereum transaction.
fn decode(state: &State, raw_hex: &str) -> Result<Transaction, AdmitError> {
    let max = state.node.store().limits().payload_bytes_max;
    let raw = bounded_hex(raw_hex, "Ethereum transaction", "payload_bytes_max", max)?;
    Ok(Transaction::ethereum(Bytes::from(raw))?)
}

pub(crate) fn register(
    module: &mut RpcModule<State>,
) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    module.register_async_method(
        "eth_sendRawTransaction",
        |params: Params<'static>, state, _| async move {
            let (raw_hex,): (String,) = params.parse()?;
            let tx = match decode(&state, &raw_hex) {
                Ok(tx) => tx,
                Err(e) => {
                    let j = admit_error(&e);
                    return Err(err(j.code, j.message));
                }
            };
            let chain = tx.namespace().0;
            if !state.cfg.eth_chain_ids.is_empty() && !state.cfg.eth_chain_ids.contains(&chain) {
                return Err(err(
                    codes::UNKNOWN_CHAIN_ID,
                    format!(
                        "unknown chain id {chain}: this network accepts rpc.eth_chain_ids = {:?}",
                        state.cfg.eth_chain_ids
                    ),
                ));
            }
            let mut results = state.node.submit(vec![Ok(tx)]).await;
            match results.pop().expect("one result per transaction") {
                Ok(hash) => Ok::<String, ErrorObjectOwned>(hash.to_string()),
                Err(e) => {
                    let j = admit_error(&e);
                    Err(err(j.code, j.message))
                }
            }
        },
    )?;
    module.register_method("eth_chainId", |_params, state, _| {
        default_chain(state).map(quantity)
    })?;
    module.register_method("net_version", |_params, state, _| {
        default_chain(state).map(|c| c.to_string())
    })?;
    module.register_method("eth_getTransactionCount", |params, state, _| {
        let (address, _block): (String, Option<serde_json::Value>) = params.parse()?;
        let address = weft_types::from_hex_fixed::<20>(&address)
            .map_err(|e| err(codes::INVALID_PARAMS, format!("address: {e}")))?;
        let sender = eth::sender_id(default_chain(state)?, &address);
        Ok::<String, ErrorObjectOwned>(quantity(state.node.next_nonce(&sender)))
    })?;
    Ok(())
}
