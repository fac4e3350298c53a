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
    server::{bounded_hex, err, submit_one, State},
};
use bytes::Bytes;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::RpcModule;
use weft_mempool::AdmitError;
use weft_types::{eth, Transaction};

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
            let tx = decode(&state, &raw_hex);
            // Wallets expect the bare hash; the receipt is at `weft_getPreconfirmation`.
            submit_one(&state, tx).await.map(|a| a.hash.to_string())
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
