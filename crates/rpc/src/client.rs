//! A minimal typed client over HTTP (the CLI and tests use it).

use crate::types::*;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;

pub use jsonrpsee::core::client::Error;

/// A client of one validator.
#[derive(Clone)]
pub struct Client {
    inner: HttpClient,
}

impl Client {
    /// Connects to `url` (e.g. `http://127.0.0.1:8545`).
    pub fn new(url: &str) -> Result<Self, Error> {
        let inner = HttpClientBuilder::default()
            .max_request_size(64 * 1024 * 1024)
            .max_response_size(64 * 1024 * 1024)
            .request_timeout(std::time::Duration::from_secs(30))
            .build(url)?;
        Ok(Self { inner })
    }

    /// Submits one encoded transaction (hex); returns its hash.
    pub async fn send_transaction(&self, tx_hex: &str) -> Result<String, Error> {
        self.inner
            .request("weft_sendTransaction", rpc_params![tx_hex])
            .await
    }

    /// Submits a batch of encoded transactions (hex).
    pub async fn send_transactions(&self, txs: &[String]) -> Result<Vec<SubmitResult>, Error> {
        self.inner
            .request("weft_sendTransactions", rpc_params![txs])
            .await
    }

    /// Status of a transaction.
    pub async fn transaction_status(&self, hash: &str) -> Result<TxStatus, Error> {
        self.inner
            .request("weft_getTransactionStatus", rpc_params![hash])
            .await
    }

    /// Block at a height (`full` includes transactions).
    pub async fn block(&self, height: u64, full: bool) -> Result<Option<BlockJson>, Error> {
        self.inner
            .request("weft_getBlockByHeight", rpc_params![height, full])
            .await
    }

    /// The sender's next nonce (hex public key).
    pub async fn next_nonce(&self, sender: &str) -> Result<NonceJson, Error> {
        self.inner
            .request("weft_getNonce", rpc_params![sender])
            .await
    }

    /// Finalized head.
    pub async fn head(&self) -> Result<Option<HeaderJson>, Error> {
        self.inner.request("weft_chainHead", rpc_params![]).await
    }

    /// A namespace's transactions in `[from, to]`.
    pub async fn namespace_transactions(
        &self,
        namespace: u64,
        from: u64,
        to: u64,
    ) -> Result<NamespaceRangeJson, Error> {
        self.inner
            .request(
                "weft_getNamespaceTransactions",
                rpc_params![namespace, from, to],
            )
            .await
    }

    /// A raw call (for tests of error handling).
    pub async fn raw(
        &self,
        method: &str,
        params: jsonrpsee::core::params::ArrayParams,
    ) -> Result<serde_json::Value, Error> {
        self.inner.request(method, params).await
    }
}
