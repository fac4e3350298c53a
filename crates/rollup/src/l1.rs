//! The embedded L1 as a service: its JSON-RPC server and client, the Weft data it checks
//! batches against, and the token rollup's settlement program.
//!
//! The L1 reads finalized namespace data from a Weft validator's RPC without trusting it:
//! every height of a batch comes with its namespace proof and a finality certificate,
//! checked against the chain of the network's genesis and the validator set of the
//! certificate's epoch ([`WeftTrust`]). A validator that serves anything else makes the
//! fetch fail (no verdict, nothing recorded), never a batch settle on data Weft did not
//! finalize.
//!
//! On a network whose set follows the stake table, the L1 is a light client of Weft: it
//! learns each epoch's set from genesis alone ([`follow_sets`]: the boundary of epoch `e`,
//! certified by `e`'s set, announces the set of `e + 2`, which honest validators read from
//! this L1's own stake table, block rule 10), and the same history backs settlement and every
//! slashing verifier.

use crate::batcher::header_digest;
use jsonrpsee::core::client::ClientT as _;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use jsonrpsee::server::{Server, ServerHandle};
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned};
use jsonrpsee::RpcModule;
use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, sync::Arc};
use tracing::info;
use weft_prover::token::{self, PublicInputs};
use weft_rollup_token::{commitment, word_from_u64, word_to_u64, Record, TransferDomain};
use weft_settlement::{
    BatchHeader, Cursor, DataError, EmbeddedL1, InboxMessage, Program, Receipt, RollupStatus, Root,
    SettledBatch, SignedRegistration, Submission, WeftData, L1,
};

/// Largest request the L1's RPC accepts, in bytes (a proof and its header, hex-encoded).
pub const L1_REQUEST_BYTES_MAX: u32 = 8 << 20;

/// The token rollup's settlement program: derives the records from the Weft payloads
/// (stateless rules 1–3, including the signature checks the proof does not cover, in the
/// rollup's transfer domain) and verifies the batch STARK.
pub struct TokenProgram {
    /// The rollup's transfer domain (its namespace on its Weft chain).
    pub domain: TransferDomain,
}

impl Program for TokenProgram {
    fn id(&self) -> &str {
        token::BACKEND_ID
    }

    fn commitment(
        &self,
        header: &BatchHeader,
        items: &[weft_settlement::NamespaceItem],
    ) -> Result<Root, String> {
        // Executed legs' transfers are signed in the leg domain (the contract left reverted
        // ones out).
        let records: Vec<Record> = items
            .iter()
            .filter_map(|i| match i.bundle {
                None => Record::from_payload(&i.payload, &self.domain).ok(),
                Some(_) => Record::from_leg_payload(&i.payload, &self.domain).ok(),
            })
            .collect();
        Ok(word_to_u64(&commitment::commitment(
            &header_digest(header),
            &records,
        )))
    }

    fn verify(
        &self,
        header: &BatchHeader,
        old_root: &Root,
        new_root: &Root,
        commitment: &Root,
        proof: &[u8],
    ) -> Result<(), String> {
        let inputs = PublicInputs {
            header: header_digest(header),
            old_root: word_from_u64(old_root)?,
            new_root: word_from_u64(new_root)?,
            commitment: word_from_u64(commitment)?,
        };
        token::verify(&inputs, proof)
    }
}

/// What the L1 trusts about Weft: the network's genesis (its validator sets, chain and
/// decoding limits), never a validator's word.
#[derive(Clone)]
pub struct WeftTrust {
    /// The validators whose quorum certifies finality, per epoch.
    pub sets: TrustedSets,
    /// The network.
    pub chain: weft_types::ChainId,
    /// Bounds on decoding what validators serve.
    pub limits: weft_types::Limits,
}

/// Each epoch's validator set, as the L1 knows it.
#[derive(Clone)]
pub enum TrustedSets {
    /// Genesis names the only set (`validator_sets = "genesis"`).
    Fixed(Vec<weft_types::VerifyingKey>),
    /// Sets follow the stake table: learned from genesis, boundary by boundary, each checked
    /// against the one before ([`follow_sets`] keeps it current).
    Learned {
        /// Each epoch's set, learned.
        history: Arc<std::sync::RwLock<weft_finality::SetHistory>>,
        /// Evidence rule E1: evidence about an epoch more than this many behind the newest
        /// learned one is refused ([`evidence_epochs_max`]).
        evidence_epochs_max: u64,
    },
}

/// The fastest an epoch can pass, per block, in milliseconds: consensus paces blocks at
/// least `consensus.block_interval_ms` (default 100) apart.
pub const EPOCH_BLOCK_MS_MIN: u64 = 100;

/// Evidence rule E1's bound for an L1 whose stake unbonds over `unbonding_ms`, on a network
/// of `epoch_length` blocks per epoch: half the unbonding delay, in epochs at their fastest.
///
/// Why: the members of epoch `e`'s set were bonded when it was announced (two epochs
/// before), and whoever unbonds after that keeps its stake here for `unbonding_ms`. Evidence
/// about a recent epoch is therefore certified by a set whose stake is still here (staking
/// rule S11 then counts it); a set that withdrew, and perhaps bonded its keys again with
/// fresh stake, could otherwise certify a made-up history of its old epochs. A chain stalled
/// for longer than the unbonding delay weakens this (its epochs stop advancing while stake
/// can leave).
pub fn evidence_epochs_max(unbonding_ms: u64, epoch_length: u64) -> u64 {
    unbonding_ms / 2 / epoch_length.saturating_mul(EPOCH_BLOCK_MS_MIN).max(1)
}

impl TrustedSets {
    /// A history learned from `genesis` of a network of `epoch_length` blocks per epoch.
    /// A history learned from `genesis` of a network of `epoch_length` blocks per epoch,
    /// refusing evidence more than `evidence_epochs_max` epochs old (rule E1).
    pub fn learned(
        chain: weft_types::ChainId,
        epoch_length: u64,
        genesis: Vec<weft_types::VerifyingKey>,
        evidence_epochs_max: u64,
    ) -> Result<Self, String> {
        let history = weft_finality::SetHistory::new(chain, epoch_length, genesis)
            .map_err(|e| e.to_string())?;
        Ok(Self::Learned {
            history: Arc::new(std::sync::RwLock::new(history)),
            evidence_epochs_max,
        })
    }

    /// Evidence rule E1: evidence about the epoch holding `height` is recent enough (a
    /// fixed set has no epochs to age).
    fn check_age(&self, height: u64) -> Result<(), String> {
        let Self::Learned {
            history,
            evidence_epochs_max,
        } = self
        else {
            return Ok(());
        };
        let history = history.read().expect("set history lock");
        let epoch = history.epoch_of_height(height);
        // The head's epoch is the newest learned but one (`follow_sets`).
        let head = history.known_through().saturating_sub(1);
        if epoch.saturating_add(*evidence_epochs_max) < head {
            return Err(format!(
                "evidence rule E1: epoch {epoch} is more than {evidence_epochs_max} epochs behind the head's ({head}); its validators' stake may have left, so its certificates prove nothing"
            ));
        }
        Ok(())
    }

    /// Runs `f` with the sets as they are now.
    pub fn with<R>(&self, f: impl FnOnce(&dyn weft_finality::Sets) -> R) -> R {
        match self {
            Self::Fixed(keys) => f(keys),
            Self::Learned { history, .. } => f(&*history.read().expect("set history lock")),
        }
    }

    /// The sets from the epoch of `height` on, owned (to verify across awaits without
    /// holding the lock, and without copying the whole history).
    pub fn from_height(&self, height: u64) -> Box<dyn weft_finality::Sets + Send + Sync> {
        match self {
            Self::Fixed(keys) => Box::new(keys.clone()),
            Self::Learned { history, .. } => {
                let history = history.read().expect("set history lock");
                Box::new(history.since(history.epoch_of_height(height)))
            }
        }
    }
}

/// How often [`follow_sets`] asks for new boundaries.
pub const FOLLOW_SETS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Keeps a learned [`TrustedSets`] current (a fixed one needs nothing): every
/// [`FOLLOW_SETS_INTERVAL`] it learns, through `client`, each set up to the epoch after the
/// head's (announced at a finalized boundary). A lying or unreachable validator teaches
/// nothing (every boundary is checked: `weft_finality::history` rules 1-4); it only delays
/// what verifies until another answers. Runs until dropped.
pub async fn follow_sets(sets: TrustedSets, client: weft_client::Client) {
    let TrustedSets::Learned {
        history: shared, ..
    } = sets
    else {
        return;
    };
    let mut mine = shared.read().expect("set history lock").clone();
    loop {
        if let Ok(Some(head)) = client.head().await {
            // The head is the node's word: a huge epoch only makes learning fail (it needs
            // boundaries that are not finalized), never overflow.
            let target = head.epoch.saturating_add(1);
            if mine.set(target).is_none() {
                if let Err(e) = client.learn_sets(&mut mine, target).await {
                    tracing::debug!(target: "weft::l1", error = %e, "learning validator sets");
                }
                // Verifiers hold the read lock while they check evidence: wait for it off the
                // async threads.
                let (shared, learned) = (shared.clone(), mine.clone());
                let merged = tokio::task::spawn_blocking(move || {
                    shared.write().expect("set history lock").merge(&learned)
                })
                .await;
                if let Ok(Err(e)) = merged {
                    tracing::warn!(target: "weft::l1", error = %e, "merging learned validator sets");
                }
            }
        }
        tokio::time::sleep(FOLLOW_SETS_INTERVAL).await;
    }
}

/// Checks evidence of a broken pre-confirmation for the staking program (rule S7) against
/// [`WeftTrust`]: the receipt's signature, the certified headers of its window and the
/// non-inclusion proofs (`weft_client::verify_broken_preconfirmation`). The evidence is its
/// hex, as `weft_getPreconfirmationEvidence` serves it.
pub struct PreconfEvidence(pub WeftTrust);

impl weft_settlement::staking::EvidenceVerifier for PreconfEvidence {
    fn verify(&self, evidence: &[u8]) -> Result<weft_settlement::staking::Offence, String> {
        preconf_offence(&self.0, evidence)
    }
}

/// The offence of `kind` by `validator`, its id the hash of `domain` and `parts` (what
/// makes one offence one: a second report of it slashes nothing).
fn offence(
    kind: weft_settlement::staking::OffenceKind,
    validator: &weft_types::VerifyingKey,
    domain: &[u8],
    parts: &[&[u8]],
) -> Result<weft_settlement::staking::Offence, String> {
    let key: [u8; 32] = validator
        .as_ref()
        .try_into()
        .map_err(|_| "the offender's key is not 32 bytes")?;
    let id = weft_types::sha256(&[&[domain, &key[..]][..], parts].concat());
    Ok(weft_settlement::staking::Offence {
        validator: key,
        kind,
        id: id.as_ref().try_into().expect("32-byte digest"),
        attested: Vec::new(),
    })
}

impl TrustedSets {
    /// The certificates evidence rests on, for staking rule S11 when the sets follow the
    /// stake (a fixed genesis set need not be bonded on this L1: none).
    fn attested(
        &self,
        certificates: Vec<weft_client::Attested>,
    ) -> Vec<weft_settlement::staking::Attestation> {
        match self {
            Self::Fixed(_) => Vec::new(),
            Self::Learned { .. } => certificates
                .into_iter()
                .map(
                    |(signers, set_size)| weft_settlement::staking::Attestation {
                        signers: signers
                            .iter()
                            .filter_map(|k| k.as_ref().try_into().ok())
                            .collect(),
                        set_size,
                    },
                )
                .collect(),
        }
    }
}

/// [`PreconfEvidence`]'s check: one receipt, one offence.
fn preconf_offence(
    t: &WeftTrust,
    evidence: &[u8],
) -> Result<weft_settlement::staking::Offence, String> {
    let hex = std::str::from_utf8(evidence).map_err(|_| "evidence is not hex text")?;
    let (receipt, attested) = t
        .sets
        .with(|sets| {
            weft_client::verify_broken_preconfirmation_attested(hex, &t.chain, sets, &t.limits)
        })
        .map_err(|e| e.to_string())?;
    let p = &receipt.promise;
    t.sets.check_age(p.issued_height.saturating_add(1))?;
    let mut offence = offence(
        weft_settlement::staking::OffenceKind::BrokenPreconfirmation,
        &p.issuer,
        b"weft/offence/broken-preconfirmation",
        &[p.tx.as_bytes(), &p.deadline_height.to_be_bytes()],
    )?;
    offence.attested = t.sets.attested(vec![attested]);
    Ok(offence)
}

/// The L1's evidence verifier (staking rule S7), trusting only [`WeftTrust`]: a JSON
/// object is downtime evidence (`weft_client::downtime`, checked against the L1's window and
/// minimum), `double-sign:` and hex conflicting votes (`weft_finality::verify_double_sign`),
/// anything else the hex of broken pre-confirmation evidence ([`PreconfEvidence`]).
pub struct WeftEvidence {
    /// The validator set, chain and limits.
    pub trust: WeftTrust,
    /// The downtime window, in blocks.
    pub window: u64,
    /// The share of a window a validator must sign, in ppm.
    pub min_signed_ppm: u32,
}

impl weft_settlement::staking::EvidenceVerifier for WeftEvidence {
    fn verify(&self, evidence: &[u8]) -> Result<weft_settlement::staking::Offence, String> {
        use weft_settlement::staking::OffenceKind;
        let t = &self.trust;
        if let Some(hex) = evidence.strip_prefix(DOUBLE_SIGN_PREFIX) {
            let hex = std::str::from_utf8(hex).map_err(|_| "double-sign evidence is not hex")?;
            let bytes = hex::decode(hex.trim_start_matches("0x"))
                .map_err(|e| format!("double-sign evidence: {e}"))?;
            let fault = t
                .sets
                .with(|sets| weft_finality::verify_double_sign(&bytes, sets, &t.chain))
                .map_err(|e| e.to_string())?;
            // One offence per validator per round, whichever pair of votes shows it.
            return offence(
                OffenceKind::DoubleSign,
                &fault.signer,
                b"weft/offence/double-sign",
                &[&fault.epoch.to_be_bytes(), &fault.view.to_be_bytes()],
            );
        }
        if evidence.first() != Some(&b'{') {
            return preconf_offence(t, evidence);
        }
        let downtime: weft_client::DowntimeEvidence =
            serde_json::from_slice(evidence).map_err(|e| format!("downtime evidence: {e}"))?;
        t.sets.check_age(downtime.first_height)?;
        let (validator, _signed, attested) = t
            .sets
            .with(|sets| {
                weft_client::verify_downtime(
                    &downtime,
                    sets,
                    &t.chain,
                    self.window,
                    self.min_signed_ppm,
                )
            })
            .map_err(|e| e.to_string())?;
        // One offence per validator per (aligned) window.
        let mut offence = offence(
            OffenceKind::Downtime,
            &validator,
            b"weft/offence/downtime",
            &[&downtime.first_height.to_be_bytes()],
        )?;
        offence.attested = t.sets.attested(attested);
        Ok(offence)
    }
}

/// How double-signing evidence is marked for [`WeftEvidence`]: `double-sign:` then the hex of
/// the conflict a validator recorded (`weft_getConflicts`).
pub const DOUBLE_SIGN_PREFIX: &[u8] = b"double-sign:";

/// Finalized namespace data read from a Weft validator's RPC and verified against
/// [`WeftTrust`]: each height's namespace proof and finality certificate.
pub struct WeftRpcData {
    client: weft_client::Client,
    trust: WeftTrust,
    handle: tokio::runtime::Handle,
}

impl WeftRpcData {
    /// Reads through `client`, verifying against `trust`; blocking calls run on `handle`
    /// (call them from blocking threads).
    pub fn new(
        client: weft_client::Client,
        trust: WeftTrust,
        handle: tokio::runtime::Handle,
    ) -> Self {
        Self {
            client,
            trust,
            handle,
        }
    }
}

impl WeftData for WeftRpcData {
    fn namespace_payloads(
        &self,
        namespace: u64,
        start: Cursor,
        end: Cursor,
    ) -> Result<Vec<weft_settlement::NamespaceItem>, DataError> {
        let unavailable = |e: weft_client::ClientError| DataError::Unavailable(e.to_string());
        self.handle.block_on(async {
            let head = self
                .client
                .head()
                .await
                .map_err(unavailable)?
                .map(|h| h.height);
            if head.is_none_or(|h| h < end.height) {
                return Err(DataError::NotFinalized { head });
            }
            // Every height of the range, verified: the namespace's complete transactions in
            // that block (its proof against the block's namespace table root) and the
            // block's finality (a quorum certificate and the headers down to it).
            let t = &self.trust;
            let sets = t.sets.from_height(start.height);
            let mut out = Vec::new();
            for height in start.height..=end.height {
                let verified = self
                    .client
                    .verified_namespace(namespace, height, &*sets, &t.chain, &t.limits)
                    .await
                    .map_err(|e| {
                        DataError::Unavailable(format!(
                            "height {height} failed verification against its epoch's validators: {e}"
                        ))
                    })?
                    .ok_or_else(|| {
                        DataError::Unavailable(format!(
                            "height {height} is below the head but the validator serves no proof of it"
                        ))
                    })?;
                for (j, tx) in verified.transactions.iter().enumerate() {
                    let at = Cursor::new(height, j as u32);
                    if at >= start && at < end {
                        let bundle = tx.leg().map(|l| {
                            <[u8; 32]>::try_from(l.bundle().0.as_ref()).expect("32-byte digest")
                        });
                        out.push(weft_settlement::NamespaceItem {
                            payload: tx.payload().to_vec(),
                            bundle,
                        });
                    }
                }
            }
            Ok(out)
        })
    }
}

/// A settlement transaction on the wire (the proof hex-encoded).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SubmissionJson {
    /// Rollup, batch index and range.
    pub header: BatchHeader,
    /// Root before.
    pub old_root: Root,
    /// Root after.
    pub new_root: Root,
    /// Records commitment.
    pub commitment: Root,
    /// Proof (hex).
    pub proof: String,
    /// Outcome of each bundle with a leg in the batch, sorted by bundle.
    #[serde(default)]
    pub bundle_outcomes: Vec<weft_settlement::BundleOutcome>,
    /// The rollup's registered submitter's signature (hex; `Submission::sign`).
    #[serde(default)]
    pub signature: String,
}

impl SubmissionJson {
    /// The submission on the wire.
    pub fn of(s: &Submission) -> Self {
        Self {
            header: s.header,
            old_root: s.old_root,
            new_root: s.new_root,
            commitment: s.commitment,
            proof: hex::encode(&s.proof),
            bundle_outcomes: s.bundle_outcomes.clone(),
            signature: hex::encode(&s.signature),
        }
    }

    /// The submission, or what is wrong with its hex.
    pub fn decode(self) -> Result<Submission, String> {
        let proof =
            hex::decode(self.proof.trim_start_matches("0x")).map_err(|e| format!("proof: {e}"))?;
        let signature = self.signature.trim_start_matches("0x");
        if signature.len() > 2 * SIGNATURE_BYTES {
            return Err(format!(
                "signature: {} hex characters, more than {}",
                signature.len(),
                2 * SIGNATURE_BYTES
            ));
        }
        let signature = hex::decode(signature).map_err(|e| format!("signature: {e}"))?;
        Ok(Submission {
            header: self.header,
            old_root: self.old_root,
            new_root: self.new_root,
            commitment: self.commitment,
            proof,
            bundle_outcomes: self.bundle_outcomes,
            signature,
        })
    }
}

/// Bytes of an ed25519 signature.
const SIGNATURE_BYTES: usize = 64;

fn rpc_err(code: i32, message: impl ToString) -> ErrorObjectOwned {
    ErrorObject::owned(code, message.to_string(), None::<()>)
}

/// JSON-RPC error code of an L1 call refused for good: sending it again cannot help (the
/// wrong key, a conflicting or malformed registration, a rollup the L1 does not run).
pub const L1_REFUSED_CODE: i32 = -32010;
/// JSON-RPC error code of a replayed submission ([`SettlementError::Duplicate`]).
pub const L1_DUPLICATE_CODE: i32 = -32011;

/// The JSON-RPC error for a settlement error: [`L1_REFUSED_CODE`] for the permanent ones.
fn l1_err(e: weft_settlement::SettlementError) -> ErrorObjectOwned {
    use weft_settlement::SettlementError as E;
    let code = match &e {
        E::Unauthorized { .. }
        | E::RegistrationConflict { .. }
        | E::BadRegistration { .. }
        | E::NoProgram { .. }
        | E::UnknownRollup { .. }
        | E::Stake(_) => L1_REFUSED_CODE,
        E::Duplicate { .. } => L1_DUPLICATE_CODE,
        _ => -32000,
    };
    rpc_err(code, e)
}

/// Why an L1 call failed, as its client sees it.
#[derive(Debug)]
pub struct L1CallError {
    /// The L1 refused it for good ([`L1_REFUSED_CODE`]); otherwise retrying may help.
    pub refused: bool,
    /// It was a replay of a recorded submission ([`L1_DUPLICATE_CODE`]).
    pub duplicate: bool,
    /// What the L1 or the transport said.
    pub message: String,
}

impl std::fmt::Display for L1CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<jsonrpsee::core::ClientError> for L1CallError {
    fn from(e: jsonrpsee::core::ClientError) -> Self {
        let code = match &e {
            jsonrpsee::core::ClientError::Call(o) => Some(o.code()),
            _ => None,
        };
        Self {
            refused: code == Some(L1_REFUSED_CODE),
            duplicate: code == Some(L1_DUPLICATE_CODE),
            message: e.to_string(),
        }
    }
}

/// Serves the embedded L1: `l1_submit`, `l1_status`, `l1_batch`, `l1_head`,
/// `l1_registerRollup`, `l1_inboxSend`, `l1_inbox`.
pub async fn serve(
    l1: Arc<EmbeddedL1>,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let cfg = jsonrpsee::server::ServerConfig::builder()
        .max_request_body_size(L1_REQUEST_BYTES_MAX)
        .max_response_body_size(64 << 20)
        .build();
    let server = Server::builder().set_config(cfg).build(addr).await?;
    let bound = server.local_addr()?;
    let mut m = RpcModule::new(l1);
    let io = std::io::Error::other;
    m.register_blocking_method("l1_submit", |p, l1, _| {
        let (s,): (SubmissionJson,) = p.parse()?;
        let submission = s.decode().map_err(|e| rpc_err(-32602, e))?;
        l1.submit(submission).map_err(l1_err)
    })
    .map_err(io)?;
    m.register_blocking_method("l1_status", |_p, l1, _| {
        l1.status().map_err(|e| rpc_err(-32000, e))
    })
    .map_err(io)?;
    m.register_blocking_method("l1_batch", |p, l1, _| {
        let (rollup, index): (u64, u64) = p.parse()?;
        l1.batch(rollup, index).map_err(|e| rpc_err(-32000, e))
    })
    .map_err(io)?;
    m.register_blocking_method("l1_head", |_p, l1, _| {
        l1.head().map_err(|e| rpc_err(-32000, e))
    })
    .map_err(io)?;
    m.register_blocking_method("l1_registerRollup", |p, l1, _| {
        let (registration,): (SignedRegistration,) = p.parse()?;
        l1.register_rollup(registration).map_err(l1_err)
    })
    .map_err(io)?;
    m.register_blocking_method("l1_inboxSend", |p, l1, _| {
        let (rollup, payload): (u64, String) = p.parse()?;
        let payload = hex::decode(payload.trim_start_matches("0x"))
            .map_err(|e| rpc_err(-32602, format!("payload: {e}")))?;
        l1.inbox_send(rollup, payload).map_err(l1_err)
    })
    .map_err(io)?;
    m.register_blocking_method("l1_inbox", |p, l1, _| {
        let (rollup, from, limit): (u64, u64, usize) = p.parse()?;
        l1.inbox(rollup, from, limit)
            .map_err(|e| rpc_err(-32000, e))
    })
    .map_err(io)?;
    m.register_blocking_method("stake_call", |p, l1, _| {
        let (call,): (weft_settlement::staking::SignedStakeCall,) = p.parse()?;
        l1.stake(call).map_err(l1_err)
    })
    .map_err(io)?;
    m.register_blocking_method("stake_slash", |p, l1, _| {
        let (evidence, reporter): (String, String) = p.parse()?;
        let reporter = weft_types::from_hex_fixed::<32>(&reporter)
            .map_err(|e| rpc_err(-32602, format!("reporter: {e}")))?;
        l1.slash(evidence.as_bytes(), reporter).map_err(l1_err)
    })
    .map_err(io)?;
    m.register_blocking_method("stake_account", |p, l1, _| {
        let (account,): (String,) = p.parse()?;
        let account = weft_types::from_hex_fixed::<32>(&account)
            .map_err(|e| rpc_err(-32602, format!("account: {e}")))?;
        l1.account(&account).map_err(l1_err)
    })
    .map_err(io)?;
    m.register_blocking_method("stake_validators", |_p, l1, _| {
        l1.validators().map_err(l1_err)
    })
    .map_err(io)?;
    m.register_blocking_method("stake_set", |_p, l1, _| {
        let set = l1.validator_set().map_err(l1_err)?;
        Ok::<_, ErrorObjectOwned>(
            set.into_iter()
                .map(|(key, bonded, p2p_address)| SetMemberJson {
                    key: weft_types::to_hex(&key),
                    bonded,
                    p2p_address,
                })
                .collect::<Vec<_>>(),
        )
    })
    .map_err(io)?;
    info!(target: "weft::l1", %bound, "embedded L1 rpc listening");
    Ok((bound, server.start(m)))
}

/// One member of the validator set the staking program offers (`stake_set`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SetMemberJson {
    /// Its consensus key (hex).
    pub key: String,
    /// Its bonded stake.
    pub bonded: u64,
    /// Where it listens for Weft's p2p network (staking rule S10), if its operator said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p2p_address: Option<String>,
}

/// A client of the L1's RPC.
#[derive(Clone)]
pub struct L1Client {
    http: HttpClient,
}

impl L1Client {
    /// A client of `url`.
    pub fn new(url: &str) -> Result<Self, String> {
        let http = HttpClientBuilder::default()
            .max_request_size(L1_REQUEST_BYTES_MAX)
            .build(url)
            .map_err(|e| e.to_string())?;
        Ok(Self { http })
    }

    /// Submits a batch.
    pub async fn submit(&self, s: &SubmissionJson) -> Result<Receipt, L1CallError> {
        Ok(self.http.request("l1_submit", rpc_params![s]).await?)
    }

    /// Every rollup's settlement status.
    pub async fn status(&self) -> Result<Vec<RollupStatus>, String> {
        self.http
            .request("l1_status", rpc_params![])
            .await
            .map_err(|e| e.to_string())
    }

    /// A settled batch.
    pub async fn batch(&self, rollup: u64, index: u64) -> Result<Option<SettledBatch>, String> {
        self.http
            .request("l1_batch", rpc_params![rollup, index])
            .await
            .map_err(|e| e.to_string())
    }

    /// Registers a rollup, as its owner signed it (idempotent).
    pub async fn register(&self, registration: &SignedRegistration) -> Result<(), L1CallError> {
        Ok(self
            .http
            .request("l1_registerRollup", rpc_params![registration])
            .await?)
    }

    /// Executes a signed staking call.
    pub async fn stake(
        &self,
        call: &weft_settlement::staking::SignedStakeCall,
    ) -> Result<weft_settlement::StakeReceipt, L1CallError> {
        Ok(self.http.request("stake_call", rpc_params![call]).await?)
    }

    /// Reports evidence (hex) of an offence; `reporter` collects the reward.
    pub async fn slash(
        &self,
        evidence_hex: &str,
        reporter: &[u8; 32],
    ) -> Result<weft_settlement::SlashReceipt, L1CallError> {
        Ok(self
            .http
            .request(
                "stake_slash",
                rpc_params![evidence_hex, weft_types::to_hex(reporter)],
            )
            .await?)
    }

    /// An account of the staking program.
    pub async fn account(
        &self,
        account: &[u8; 32],
    ) -> Result<weft_settlement::staking::Account, L1CallError> {
        Ok(self
            .http
            .request("stake_account", rpc_params![weft_types::to_hex(account)])
            .await?)
    }

    /// Every validator key with stake.
    pub async fn validators(
        &self,
    ) -> Result<Vec<weft_settlement::staking::Validator>, L1CallError> {
        Ok(self.http.request("stake_validators", rpc_params![]).await?)
    }

    /// The validator set the staking program offers Weft now.
    pub async fn validator_set(&self) -> Result<Vec<SetMemberJson>, L1CallError> {
        Ok(self.http.request("stake_set", rpc_params![]).await?)
    }

    /// Sends an inbox message.
    pub async fn inbox_send(&self, rollup: u64, payload: &[u8]) -> Result<InboxMessage, String> {
        self.http
            .request("l1_inboxSend", rpc_params![rollup, hex::encode(payload)])
            .await
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_consensus::simplex::scheme::ed25519 as simplex_ed25519;
    use commonware_consensus::simplex::types::{Activity, ConflictingNotarize, Notarize, Proposal};
    use commonware_consensus::types::{Epoch, Round, View};
    use commonware_cryptography::Signer as _;
    use weft_settlement::staking::{Action, StakeCall, StakeError, Status};
    use weft_settlement::{SettlementError, StakingDeployment};
    use weft_types::SigningKey;

    use weft_settlement::NoWeftData as NoData;

    /// Two notarizes of different blocks in one view, signed by `key`.
    fn double_vote(
        key: &SigningKey,
        keys: &[SigningKey],
        chain: &weft_types::ChainId,
        view: u64,
        salt: u8,
    ) -> String {
        let set: commonware_utils::ordered::Set<weft_types::VerifyingKey> = keys
            .iter()
            .map(|k| k.public_key())
            .collect::<Vec<_>>()
            .try_into()
            .unwrap();
        let scheme = simplex_ed25519::Scheme::signer(
            &weft_finality::consensus_namespace(chain),
            set,
            key.clone(),
        )
        .unwrap();
        let vote = |payload: u8| {
            let proposal = Proposal::new(
                Round::new(Epoch::new(0), View::new(view)),
                View::new(view - 1),
                weft_types::sha256(&[&[payload, salt]]),
            );
            Notarize::sign(&scheme, proposal).unwrap()
        };
        let evidence = weft_finality::conflict_evidence(&Activity::ConflictingNotarize(
            ConflictingNotarize::new(vote(1), vote(2)),
        ))
        .unwrap();
        format!("double-sign:0x{}", hex::encode(evidence))
    }

    /// Double-signing end to end on the L1: conflicting votes verified against the validator
    /// set tombstone their signer, who leaves the set for good; the same round reported again
    /// (even with another pair of votes) slashes nothing, and votes from outside the set or
    /// for another network prove nothing.
    #[test]
    fn double_signing_tombstones_the_signer() {
        let keys: Vec<SigningKey> = (0..4).map(SigningKey::from_seed).collect();
        let chain = weft_types::ChainId(weft_types::sha256(&[b"double-sign on the L1"]));
        let trust = WeftTrust {
            sets: TrustedSets::Fixed(keys.iter().map(|k| k.public_key()).collect()),
            chain,
            limits: weft_types::Limits::default(),
        };
        let byz = &keys[1];
        let byz_pk = weft_settlement::auth::public_key(byz);
        let dir = tempfile::tempdir().unwrap();
        let l1 = EmbeddedL1::open_with(
            dir.path().join("l1.redb"),
            weft_settlement::Config::default(),
            chain,
            Default::default(),
            std::sync::Arc::new(NoData),
            StakingDeployment {
                genesis_accounts: vec![(byz_pk, 10_000_000)],
                evidence: Some(std::sync::Arc::new(WeftEvidence {
                    trust,
                    window: 100,
                    min_signed_ppm: 500_000,
                })),
            },
        )
        .unwrap();
        let bond = StakeCall {
            account: byz_pk,
            nonce: 0,
            action: Action::Bond {
                validator: byz_pk,
                amount: 4_000_000,
            },
        };
        l1.stake(bond.sign(byz, &chain)).unwrap();
        let reporter = [0xd5; 32];
        // Not the network's: another chain's votes, or a stranger's.
        let elsewhere = weft_types::ChainId(weft_types::sha256(&[b"elsewhere"]));
        let stranger = SigningKey::from_seed(99);
        let mut outsiders = keys.clone();
        outsiders[3] = stranger.clone();
        for evidence in [
            double_vote(byz, &keys, &elsewhere, 5, 0),
            double_vote(&stranger, &outsiders, &chain, 5, 0),
        ] {
            assert!(matches!(
                l1.slash(evidence.as_bytes(), reporter),
                Err(SettlementError::Stake(StakeError::Evidence(_)))
            ));
        }
        let slashed = l1
            .slash(double_vote(byz, &keys, &chain, 5, 0).as_bytes(), reporter)
            .unwrap();
        assert_eq!(slashed.slashed, 200_000, "5% of 4,000,000");
        assert_eq!(slashed.validator.status, Status::Tombstoned);
        assert!(l1.validator_set().unwrap().is_empty());
        // Another pair of votes from the same round is the same offence.
        assert!(matches!(
            l1.slash(double_vote(byz, &keys, &chain, 5, 9).as_bytes(), reporter),
            Err(SettlementError::Stake(StakeError::Evidence(m))) if m.contains("slashed in L1 block")
        ));
        // Tombstoned: it cannot come back.
        let unjail = StakeCall {
            account: byz_pk,
            nonce: 1,
            action: Action::Unjail { validator: byz_pk },
        };
        assert!(matches!(
            l1.stake(unjail.sign(byz, &chain)),
            Err(SettlementError::Stake(StakeError::Status(_)))
        ));
    }

    /// Evidence rule E1's bound: half the unbonding delay in epochs at their fastest, and a
    /// fresh history (nothing learned) ages nothing.
    #[test]
    fn evidence_ages_out_within_half_the_unbonding_delay() {
        // 21 days over 36,000-block epochs of at least 3,600 s: 252 epochs.
        assert_eq!(
            evidence_epochs_max(weft_settlement::staking::DEFAULT_UNBONDING_MS, 36_000),
            252
        );
        assert_eq!(evidence_epochs_max(120_000, 600), 1);
        assert_eq!(evidence_epochs_max(0, 600), 0);
        let sets = TrustedSets::learned(
            weft_types::ChainId(weft_types::sha256(&[b"e1"])),
            10,
            vec![SigningKey::from_seed(1).public_key()],
            0,
        )
        .unwrap();
        assert!(sets.check_age(0).is_ok());
        assert!(TrustedSets::Fixed(Vec::new()).check_age(0).is_ok());
    }
}
