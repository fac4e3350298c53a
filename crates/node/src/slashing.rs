//! Reports the double-signing evidence this validator's consensus records to the L1's
//! staking program, so an equivocating validator is tombstoned without anyone having to
//! look: every honest validator that saw the conflicting votes reports them, the first
//! report slashes (the validator's own key collects the reporter's share), and the L1
//! answers the others that the offence was slashed already.
//!
//! Rules (numbered where enforced):
//! 1. evidence is read from the store in order, at most [`REPORT_PAGE_MAX`] per poll;
//! 2. a report the L1 answered (slashed, or refused for good: already slashed, no stake, not
//!    evidence) is done; one that failed on the way (the L1 down) is tried again next poll,
//!    and nothing after it is reported first;
//! 3. the cursor lives in memory: after a restart everything is reported again, which the
//!    L1 answers as already slashed.

use jsonrpsee::core::client::ClientT as _;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use weft_storage::Store;

/// Default poll interval, in milliseconds.
pub const DEFAULT_POLL_MS: u64 = 2_000;
/// Most conflicts read and reported per poll (rule 1).
pub const REPORT_PAGE_MAX: usize = 64;
/// JSON-RPC code of an L1 refusal that sending again cannot change (`weft_rollup::l1`).
const L1_REFUSED_CODE: i32 = -32010;

/// Default share of its bond a validator's outstanding pre-confirmations may promise, in
/// parts per million (`weft risk --preconf-bond-share`, risk rule 5).
pub const DEFAULT_PRECONF_BOND_SHARE_PPM: u32 = 500_000;

/// `[slashing]`: the L1 this validator is staked on: where it reports the double-signing it
/// sees, and the bond its pre-confirmations are backed by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The L1's RPC URL (its `stake_slash` and `stake_set`); none: nothing is reported.
    pub l1_rpc: Option<String>,
    /// How often the store is read for new evidence, in milliseconds.
    pub poll_ms: u64,
    /// Largest value one pre-confirmation is taken to promise, in the L1's stake unit; 0
    /// turns the bond cap off (`mempool.preconf_txs_max` alone bounds promises). Otherwise
    /// outstanding receipts are capped at `floor(bonded × preconf_bond_share_ppm / 10^6 /
    /// preconf_value_max)` (risk rule 5, `docs/risk.md`), from this validator's bond as the
    /// L1's `stake_set` reports it; with no fresh read (`weft_node::stake` rule 2), or out
    /// of the set, the cap is 0: no receipt is issued that no bond backs.
    pub preconf_value_max: u64,
    /// Share of the bond outstanding pre-confirmations may promise, in parts per million.
    pub preconf_bond_share_ppm: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            l1_rpc: None,
            poll_ms: DEFAULT_POLL_MS,
            preconf_value_max: 0,
            preconf_bond_share_ppm: DEFAULT_PRECONF_BOND_SHARE_PPM,
        }
    }
}

impl Config {
    /// Checks the section.
    pub fn validate(&self) -> Result<(), String> {
        if self.poll_ms == 0 {
            return Err("slashing.poll_ms must be > 0".into());
        }
        if let Some(url) = &self.l1_rpc {
            // Refused at start with the reason, not found out by a poll that gives up (no
            // double-signing reported, no bond read: no receipt issued).
            let rest = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"))
                .ok_or_else(|| {
                    format!("slashing.l1_rpc {url:?} is not an http:// or https:// URL")
                })?;
            if rest.is_empty() || rest.starts_with('/') {
                return Err(format!("slashing.l1_rpc {url:?} names no host"));
            }
            jsonrpsee::http_client::HttpClientBuilder::default()
                .build(url)
                .map_err(|e| format!("slashing.l1_rpc {url:?}: {e}"))?;
        }
        if self.preconf_bond_share_ppm > 1_000_000 {
            return Err(format!(
                "slashing.preconf_bond_share_ppm is {}, more than 1000000 (the whole bond)",
                self.preconf_bond_share_ppm
            ));
        }
        if self.preconf_value_max > 0 && self.l1_rpc.is_none() {
            return Err(
                "slashing.preconf_value_max caps receipts by the bond, which needs slashing.l1_rpc"
                    .into(),
            );
        }
        Ok(())
    }

    /// The bond cap on outstanding receipts for `bonded` stake (none when turned off).
    pub fn receipt_cap(&self, bonded: u64) -> Option<usize> {
        (self.preconf_value_max > 0).then(|| {
            let backing = u128::from(bonded) * u128::from(self.preconf_bond_share_ppm) / 1_000_000;
            usize::try_from(backing / u128::from(self.preconf_value_max)).unwrap_or(usize::MAX)
        })
    }
}

/// What one report came to.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The L1 slashed, or refused for good (rule 2): done.
    Answered,
    /// It did not get there: try again.
    Retry,
}

async fn report(
    l1: &jsonrpsee::http_client::HttpClient,
    evidence: &[u8],
    reporter: &str,
) -> Outcome {
    let evidence = format!("double-sign:{}", weft_types::to_hex(evidence));
    let answer: Result<serde_json::Value, _> = l1
        .request("stake_slash", jsonrpsee::rpc_params![evidence, reporter])
        .await;
    match answer {
        Ok(receipt) => {
            tracing::warn!(target: "weft::slashing", %receipt, "double-signer slashed on the L1");
            Outcome::Answered
        }
        Err(jsonrpsee::core::ClientError::Call(e)) if e.code() == L1_REFUSED_CODE => {
            tracing::info!(target: "weft::slashing", reason = e.message(), "the L1 refused the report");
            Outcome::Answered
        }
        Err(e) => {
            tracing::warn!(target: "weft::slashing", %e, "reporting to the L1 failed; retrying");
            Outcome::Retry
        }
    }
}

/// Reports new evidence from `store` to the L1 at `l1_rpc` every `poll`, with `reporter`
/// (public key) collecting the reward, until the process ends.
pub async fn run(store: Arc<Store>, l1_rpc: String, reporter: [u8; 32], poll: Duration) {
    let l1 = match jsonrpsee::http_client::HttpClientBuilder::default().build(&l1_rpc) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(target: "weft::slashing", %e, l1_rpc, "no L1 client: double-signing is not reported");
            return;
        }
    };
    let reporter = weft_types::to_hex(&reporter);
    let mut next = 0u64;
    loop {
        // Rule 1.
        match store.conflicts(next, REPORT_PAGE_MAX) {
            Ok(page) => {
                for (index, evidence) in page {
                    // Rule 2.
                    if report(&l1, &evidence, &reporter).await == Outcome::Retry {
                        break;
                    }
                    next = index + 1;
                }
            }
            Err(e) => {
                tracing::warn!(target: "weft::slashing", %e, "reading recorded conflicts failed")
            }
        }
        tokio::time::sleep(poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A stand-in L1 endpoint that records what it is asked and answers as told: the first
    /// call fails on the way (no answer), then a slash, then a permanent refusal.
    async fn l1_stub(calls: Arc<Mutex<Vec<(String, String)>>>) -> String {
        let mut module = jsonrpsee::RpcModule::new(calls);
        module
            .register_method("stake_slash", |params, calls, _| {
                let (evidence, reporter): (String, String) = params.parse()?;
                let mut calls = calls.lock().unwrap();
                calls.push((evidence, reporter));
                match calls.len() {
                    1 => Err(jsonrpsee::types::ErrorObject::owned(
                        -32000,
                        "database busy",
                        None::<()>,
                    )),
                    2 => Ok(serde_json::json!({"slashed": 1})),
                    _ => Err(jsonrpsee::types::ErrorObject::owned(
                        L1_REFUSED_CODE,
                        "rule S7: this offence was slashed in L1 block 3",
                        None::<()>,
                    )),
                }
            })
            .unwrap();
        let server = jsonrpsee::server::Server::builder()
            .build("127.0.0.1:0")
            .await
            .unwrap();
        let url = format!("http://{}", server.local_addr().unwrap());
        std::mem::forget(server.start(module));
        url
    }

    /// Rule 2: a report that did not get through is sent again, and in order; answered ones
    /// are not repeated.
    #[tokio::test]
    async fn recorded_conflicts_are_reported_in_order_until_answered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            Store::open(dir.path().join("chain.redb"), weft_types::Limits::default()).unwrap(),
        );
        assert!(store.put_conflict(b"first").unwrap());
        assert!(store.put_conflict(b"second").unwrap());
        assert!(!store.put_conflict(b"first").unwrap(), "kept once");
        let calls = Arc::new(Mutex::new(Vec::new()));
        let url = l1_stub(calls.clone()).await;
        let task = tokio::spawn(run(store, url, [7; 32], Duration::from_millis(20)));
        for _ in 0..500 {
            if calls.lock().unwrap().len() >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        task.abort();
        let calls = calls.lock().unwrap().clone();
        let first = format!("double-sign:{}", weft_types::to_hex(b"first"));
        let second = format!("double-sign:{}", weft_types::to_hex(b"second"));
        let sent: Vec<&str> = calls.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(
            sent,
            vec![&first, &first, &second],
            "retried, in order, once answered"
        );
        assert!(calls
            .iter()
            .all(|(_, r)| *r == weft_types::to_hex(&[7; 32])));
    }
}
