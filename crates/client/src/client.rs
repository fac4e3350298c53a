//! Typed calls over HTTP, and namespace subscriptions over WebSocket.

use crate::{verify, ClientError, VerifiedNamespace};
use futures::Stream;
use jsonrpsee::core::client::{ClientT, Subscription, SubscriptionClientT};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use std::time::Duration;
use weft_api::types::*;
use weft_types::Limits;

/// Request timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request or response, in bytes.
const MESSAGE_BYTES_MAX: u32 = 64 * 1024 * 1024;

/// A client of one validator.
#[derive(Clone)]
pub struct Client {
    http: HttpClient,
    url: String,
}

/// Most boundaries one [`Client::learn_sets`] call reads (two RPCs each).
pub const SET_STEPS_MAX: u64 = 1_000;

impl Client {
    /// A client of the validator at `url` (`http://host:port`; subscriptions use `ws://` on
    /// the same port).
    pub fn new(url: &str) -> Result<Self, ClientError> {
        let http = HttpClientBuilder::default()
            .max_request_size(MESSAGE_BYTES_MAX)
            .max_response_size(MESSAGE_BYTES_MAX)
            .request_timeout(REQUEST_TIMEOUT)
            .build(url)?;
        Ok(Self {
            http,
            url: url.to_string(),
        })
    }

    fn ws_url(&self) -> String {
        if let Some(rest) = self.url.strip_prefix("http://") {
            format!("ws://{rest}")
        } else if let Some(rest) = self.url.strip_prefix("https://") {
            format!("wss://{rest}")
        } else {
            self.url.clone()
        }
    }

    /// Submits one encoded transaction (hex); returns its hash.
    pub async fn send_transaction(&self, tx_hex: &str) -> Result<String, ClientError> {
        Ok(self
            .http
            .request("weft_sendTransaction", rpc_params![tx_hex])
            .await?)
    }

    /// Submits one encoded transaction (hex); returns its hash and the validator's signed
    /// pre-confirmation (check it with [`crate::verify_receipt`]).
    pub async fn send_transaction_with_receipt(
        &self,
        tx_hex: &str,
    ) -> Result<AcceptedJson, ClientError> {
        Ok(self
            .http
            .request(
                "weft_sendTransaction",
                rpc_params![tx_hex, SubmitOptions { receipt: true }],
            )
            .await?)
    }

    /// Submits a bundle: its signed legs in index order (see
    /// `weft_types::Transaction::sign_bundle`). Returns the bundle id and each leg's hash
    /// and receipt; a bundle with one bad leg is refused whole, the error naming the leg.
    pub async fn send_bundle(
        &self,
        legs: &[weft_types::Transaction],
    ) -> Result<BundleAcceptedJson, ClientError> {
        use commonware_codec::Encode as _;
        let request = BundleRequest {
            legs: legs
                .iter()
                .map(|t| weft_types::to_hex(&t.encode()))
                .collect(),
            valid_until_height: legs
                .first()
                .and_then(|t| t.leg())
                .map_or(0, |l| l.valid_until),
        };
        Ok(self
            .http
            .request("weft_sendBundle", rpc_params![request])
            .await?)
    }

    /// [`Client::send_transactions`], each accepted result carrying its receipt.
    pub async fn send_transactions_with_receipts(
        &self,
        txs: &[String],
    ) -> Result<Vec<SubmitResult>, ClientError> {
        Ok(self
            .http
            .request(
                "weft_sendTransactions",
                rpc_params![txs, SubmitOptions { receipt: true }],
            )
            .await?)
    }

    /// The pre-confirmation this validator signed for a transaction, if any.
    pub async fn preconfirmation(&self, hash: &str) -> Result<Option<ReceiptJson>, ClientError> {
        Ok(self
            .http
            .request("weft_getPreconfirmation", rpc_params![hash])
            .await?)
    }

    /// What the finalized chain shows about a receipt's promise (`receipt` is its `encoded`
    /// hex), with evidence to check offline ([`crate::judge_preconfirmation`]).
    pub async fn preconfirmation_evidence(
        &self,
        receipt: &str,
    ) -> Result<crate::types::PreconfEvidenceJson, ClientError> {
        Ok(self
            .http
            .request("weft_getPreconfirmationEvidence", rpc_params![receipt])
            .await?)
    }

    /// [`Client::preconfirmation_evidence`] for a bundle leg's receipt: `legs` are the
    /// bundle's signed legs (hex), in index order, whose slots the evidence covers too.
    pub async fn bundle_preconfirmation_evidence(
        &self,
        receipt: &str,
        legs: &[String],
    ) -> Result<crate::types::PreconfEvidenceJson, ClientError> {
        Ok(self
            .http
            .request(
                "weft_getPreconfirmationEvidence",
                rpc_params![receipt, legs],
            )
            .await?)
    }

    /// Submits a batch of encoded transactions (hex); one result per transaction.
    pub async fn send_transactions(
        &self,
        txs: &[String],
    ) -> Result<Vec<SubmitResult>, ClientError> {
        Ok(self
            .http
            .request("weft_sendTransactions", rpc_params![txs])
            .await?)
    }

    /// Status of a transaction.
    pub async fn transaction_status(&self, hash: &str) -> Result<TxStatus, ClientError> {
        Ok(self
            .http
            .request("weft_getTransactionStatus", rpc_params![hash])
            .await?)
    }

    /// The sender's next nonce (hex public key).
    pub async fn next_nonce(&self, sender: &str) -> Result<NonceJson, ClientError> {
        Ok(self
            .http
            .request("weft_getNonce", rpc_params![sender])
            .await?)
    }

    /// Finalized head.
    pub async fn head(&self) -> Result<Option<HeaderJson>, ClientError> {
        Ok(self.http.request("weft_chainHead", rpc_params![]).await?)
    }

    /// Block at a height (`full` includes transactions).
    pub async fn block(&self, height: u64, full: bool) -> Result<Option<BlockJson>, ClientError> {
        Ok(self
            .http
            .request("weft_getBlockByHeight", rpc_params![height, full])
            .await?)
    }

    /// Block by hash.
    pub async fn block_by_hash(
        &self,
        hash: &str,
        full: bool,
    ) -> Result<Option<BlockJson>, ClientError> {
        Ok(self
            .http
            .request("weft_getBlockByHash", rpc_params![hash, full])
            .await?)
    }

    /// A block's canonical encoding (hex).
    pub async fn encoded_block(&self, height: u64) -> Result<Option<String>, ClientError> {
        Ok(self
            .http
            .request("weft_encodedBlock", rpc_params![height])
            .await?)
    }

    /// The validator set.
    pub async fn validators(&self) -> Result<Vec<ValidatorJson>, ClientError> {
        Ok(self.http.request("weft_validators", rpc_params![]).await?)
    }

    /// The epoch the node is in, with its validators and the next epoch's (none from a node
    /// that runs no consensus).
    pub async fn epoch(&self) -> Result<Option<weft_api::types::EpochJson>, ClientError> {
        Ok(self.http.request("weft_epoch", rpc_params![]).await?)
    }

    /// The chain id the node says it serves (its genesis block digest). To trust nothing,
    /// compute it from the genesis file instead (`ChainId::of_genesis`).
    pub async fn chain_id(&self) -> Result<weft_types::ChainId, ClientError> {
        let hex: String = self.http.request("weft_chainId", rpc_params![]).await?;
        let bytes = weft_types::from_hex_fixed::<32>(&hex).map_err(|reason| {
            ClientError::Verify(crate::VerifyError::Malformed {
                what: "chain id",
                reason,
            })
        })?;
        Ok(weft_types::ChainId(bytes.into()))
    }

    /// Finality proof of the block at `height`.
    pub async fn finality(&self, height: u64) -> Result<Option<FinalityJson>, ClientError> {
        Ok(self
            .http
            .request("weft_getFinality", rpc_params![height])
            .await?)
    }

    /// Learns validator sets into `history` from this node's boundary blocks, checking each
    /// against the set before it (`weft_finality::history`, rules 1-4), until the set of
    /// `epoch` is known, at most [`SET_STEPS_MAX`] boundaries per call. A node that serves a
    /// forged set or header fails the check: nothing it says is recorded.
    pub async fn learn_sets(
        &self,
        history: &mut weft_finality::SetHistory,
        epoch: u64,
    ) -> Result<(), ClientError> {
        let mut steps = 0;
        while history.set(epoch).is_none() {
            if steps == SET_STEPS_MAX {
                return Err(ClientError::Invalid(format!(
                    "the set of epoch {epoch} is more than {SET_STEPS_MAX} boundaries away; call again"
                )));
            }
            let e = history.next_to_learn();
            let height = history.boundary(e);
            let missing =
                || ClientError::Invalid(format!("boundary {height} is not finalized yet"));
            let f = self.finality(height).await?.ok_or_else(missing)?;
            let block = self.block(height, false).await?.ok_or_else(missing)?;
            if f.certified_height != height || f.header.is_empty() {
                return Err(ClientError::Invalid(format!(
                    "boundary {height} is served without a certificate of its own"
                )));
            }
            let hex = |what: &str, s: &str| {
                hex::decode(s.trim_start_matches("0x"))
                    .map_err(|e| ClientError::Invalid(format!("{what} of boundary {height}: {e}")))
            };
            let announced = block
                .validators
                .unwrap_or_default()
                .iter()
                .map(|k| {
                    use commonware_codec::DecodeExt as _;
                    weft_types::VerifyingKey::decode(hex("a key", k)?).map_err(|e| {
                        ClientError::Invalid(format!("a key of boundary {height}: {e}"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            history
                .learn(
                    e,
                    &hex("header", &f.header)?,
                    &hex("certificate", &f.certificate)?,
                    &announced,
                )
                .map_err(|err| ClientError::Invalid(format!("boundary {height}: {err}")))?;
            steps += 1;
        }
        Ok(())
    }

    /// Builds evidence that `validator` (hex) was down over the window of `window` blocks
    /// from `first_height` (a multiple of `window`), from each block's own certificate. The
    /// evidence is checked by [`crate::verify_downtime`], not here: a node that serves
    /// something else yields evidence that does not verify.
    pub async fn downtime_evidence(
        &self,
        validator: &str,
        first_height: u64,
        window: u64,
    ) -> Result<crate::DowntimeEvidence, ClientError> {
        if window == 0 || window > crate::downtime::DOWNTIME_WINDOW_MAX {
            return Err(ClientError::Invalid(format!(
                "window {window}, not 1 to {}",
                crate::downtime::DOWNTIME_WINDOW_MAX
            )));
        }
        let mut blocks = Vec::with_capacity(window as usize);
        for height in first_height..first_height + window {
            let f = self.finality(height).await?.ok_or_else(|| {
                ClientError::Invalid(format!("height {height} is not finalized yet"))
            })?;
            if f.certified_height != height || f.header.is_empty() {
                return Err(ClientError::Invalid(format!(
                    "height {height} has no finalization certificate of its own"
                )));
            }
            blocks.push(crate::downtime::CertifiedBlock {
                header: f.header,
                certificate: f.certificate,
            });
        }
        Ok(crate::DowntimeEvidence {
            validator: validator.to_string(),
            first_height,
            blocks,
        })
    }

    /// Up to `limit` (at most 256) conflicts this validator recorded, from index `from`:
    /// double-signing evidence for the L1 (`weft_finality::verify_double_sign`).
    pub async fn conflicts(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<weft_api::types::ConflictJson>, ClientError> {
        Ok(self
            .http
            .request("weft_getConflicts", rpc_params![from, limit])
            .await?)
    }

    /// Namespace proof at `height`.
    pub async fn namespace_proof(
        &self,
        namespace: u64,
        height: u64,
    ) -> Result<Option<NamespaceProofJson>, ClientError> {
        Ok(self
            .http
            .request("weft_getNamespaceProof", rpc_params![namespace, height])
            .await?)
    }

    /// A namespace's transactions in `[from, to]` (bounded; see `next_from`).
    pub async fn namespace_transactions(
        &self,
        namespace: u64,
        from: u64,
        to: u64,
    ) -> Result<NamespaceRangeJson, ClientError> {
        Ok(self
            .http
            .request(
                "weft_getNamespaceTransactions",
                rpc_params![namespace, from, to],
            )
            .await?)
    }

    /// Fetches and verifies a namespace's transactions at `height` against `sets` (the
    /// certificate's epoch's set) of `chain`, trusting nothing the node says.
    pub async fn verified_namespace(
        &self,
        namespace: u64,
        height: u64,
        sets: &(impl weft_finality::Sets + ?Sized + Sync),
        chain: &weft_types::ChainId,
        limits: &Limits,
    ) -> Result<Option<VerifiedNamespace>, ClientError> {
        let Some(proof) = self.namespace_proof(namespace, height).await? else {
            return Ok(None);
        };
        // The proof verifies for the namespace and height it names: they must be the ones
        // asked for, or a node could answer with another namespace's (say, an empty one).
        if proof.namespace != namespace || proof.height != height {
            return Err(crate::VerifyError::Header(format!(
                "asked for namespace {namespace} at height {height}, served namespace {} at height {}",
                proof.namespace, proof.height
            ))
            .into());
        }
        let Some(finality) = self.finality(height).await? else {
            return Ok(None);
        };
        Ok(Some(verify::verify_namespace_proof(
            &proof, &finality, sets, chain, limits,
        )?))
    }

    /// A raw call (for tests of error handling).
    pub async fn raw(
        &self,
        method: &str,
        params: jsonrpsee::core::params::ArrayParams,
    ) -> Result<serde_json::Value, ClientError> {
        Ok(self.http.request(method, params).await?)
    }

    /// Opens one WebSocket connection (for several subscriptions on it).
    pub async fn connect_ws(&self) -> Result<WsClient, ClientError> {
        Ok(WsClientBuilder::default()
            .max_request_size(MESSAGE_BYTES_MAX)
            .max_response_size(MESSAGE_BYTES_MAX)
            .request_timeout(REQUEST_TIMEOUT)
            .build(self.ws_url())
            .await?)
    }

    /// Subscribes on an existing connection to a namespace from `from` (no reconnection).
    pub async fn subscribe_on(
        ws: &WsClient,
        namespace: u64,
        from: u64,
    ) -> Result<Subscription<NamespaceBlockJson>, ClientError> {
        Ok(ws
            .subscribe(
                "weft_subscribeNamespace",
                rpc_params![namespace, from],
                "weft_unsubscribeNamespace",
            )
            .await?)
    }

    /// Subscribes on an existing connection to this validator's preconfirmations in a
    /// namespace: `finalized` events from `from` (default: the next height), then its
    /// outstanding receipts, then live `preconfirmed`, `finalized` and `dropped` events. To
    /// resume after a disconnect, pass the last `finalized` height seen plus one: outstanding
    /// receipts are sent again (key them by transaction hash), and everything finalized
    /// meanwhile comes as `finalized` events, so nothing is missed.
    pub async fn subscribe_preconfirmed_on(
        ws: &WsClient,
        namespace: u64,
        from: Option<u64>,
    ) -> Result<Subscription<crate::types::PreconfEventJson>, ClientError> {
        Ok(ws
            .subscribe(
                "weft_subscribePreconfirmed",
                rpc_params![namespace, from],
                "weft_unsubscribePreconfirmed",
            )
            .await?)
    }

    /// The namespace's finalized transactions from height `from` onward, one item per block
    /// that has some, in order. Reconnects from the next height after a disconnect.
    pub fn subscribe_namespace(&self, namespace: u64, from: u64) -> NamespaceStream {
        NamespaceStream {
            client: self.clone(),
            namespace,
            next_height: from,
            current: None,
        }
    }
}

/// A resuming namespace subscription (see [`Client::subscribe_namespace`]).
pub struct NamespaceStream {
    client: Client,
    namespace: u64,
    next_height: u64,
    current: Option<(WsClient, Subscription<NamespaceBlockJson>)>,
}

/// Reconnection attempts before the stream gives up.
const RECONNECTS_MAX: u32 = 30;
/// Pause between reconnection attempts.
const RECONNECT_DELAY: Duration = Duration::from_millis(500);

impl NamespaceStream {
    /// The next height this stream will deliver from.
    pub fn next_height(&self) -> u64 {
        self.next_height
    }

    /// The next block of the namespace. Errors only when reconnecting keeps failing.
    pub async fn next(&mut self) -> Result<NamespaceBlockJson, ClientError> {
        let mut failures = 0;
        loop {
            if self.current.is_none() {
                match self.client.connect_ws().await {
                    Ok(ws) => {
                        match Client::subscribe_on(&ws, self.namespace, self.next_height).await {
                            Ok(sub) => self.current = Some((ws, sub)),
                            Err(e) if failures >= RECONNECTS_MAX => return Err(e),
                            Err(_) => failures += 1,
                        }
                    }
                    Err(e) if failures >= RECONNECTS_MAX => return Err(e),
                    Err(_) => failures += 1,
                }
                if self.current.is_none() {
                    tokio::time::sleep(RECONNECT_DELAY).await;
                    continue;
                }
            }
            let (_, sub) = self.current.as_mut().expect("connected");
            match sub.next().await {
                // Skip anything at or below what was delivered: no duplicates across reconnects.
                Some(Ok(block)) if block.height >= self.next_height => {
                    self.next_height = block.height + 1;
                    return Ok(block);
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => self.current = None,
            }
        }
    }

    /// As a `Stream`.
    pub fn into_stream(self) -> impl Stream<Item = Result<NamespaceBlockJson, ClientError>> {
        futures::stream::unfold(self, |mut s| async move {
            let item = s.next().await;
            Some((item, s))
        })
    }
}
