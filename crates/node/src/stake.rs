//! Where a validator of a stake-driven network (genesis `validator_sets = "stake"`) reads the
//! validator set its boundary blocks announce, and how it keeps its p2p network on the
//! validators of the current and next epochs.
//!
//! Rules (numbered where enforced):
//! 1. The set is the L1 staking program's `stake_set` (top validators by stake, neither jailed
//!    nor tombstoned), read every `poll_ms`; an answer of more than [`VALIDATOR_SET_MAX`]
//!    members, or with a key that does not decode, is no answer.
//! 2. A read older than [`SET_STALE_MS`] is none: the validator then announces no change and
//!    accepts only that (block rule 10), so an L1 it cannot reach never decides for it.
//! 3. Peers: in epoch `e` this validator tracks the validators of `e` and `e + 1` (known from
//!    the chain, `weft_consensus::epochs` rule 5), at the addresses genesis names or, for
//!    validators the stake table added, the addresses their operators named on the L1
//!    (staking rule S10), at most `weft_network::peer_set_max` of them. A validator with no
//!    known address is reachable only by dialing us.
//! 4. Bond cap: with `[slashing] preconf_value_max` set, outstanding receipts are capped by
//!    this validator's bond in the latest fresh read (`slashing::Config::receipt_cap`); with
//!    no fresh read, or out of the set, the cap is 0.

use jsonrpsee::core::client::ClientT as _;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weft_types::{VerifyingKey, VALIDATOR_SET_MAX};

/// Default interval between reads of the L1's set, in milliseconds.
pub const DEFAULT_SET_POLL_MS: u64 = 1_000;
/// Age past which a read of the L1's set no longer counts (rule 2), in milliseconds.
pub const SET_STALE_MS: u64 = 5_000;
/// How often the peer tracker looks for a new epoch.
pub const TRACK_POLL: Duration = Duration::from_millis(250);

/// One member of the L1's `stake_set` answer.
#[derive(Deserialize)]
struct Member {
    key: String,
    #[serde(default)]
    bonded: u64,
    #[serde(default)]
    p2p_address: Option<String>,
}

/// Validators as the L1 offers them: keys, the addresses their operators named and their
/// bonded stake.
type Located = Vec<(VerifyingKey, Option<SocketAddr>, u64)>;

/// The latest good read of the L1's validator set.
#[derive(Default)]
pub struct L1Sets {
    latest: Mutex<Option<(Instant, Located)>>,
}

impl L1Sets {
    /// The address the L1 names for `key` (staking rule S10), from the latest read.
    pub fn address(&self, key: &VerifyingKey) -> Option<SocketAddr> {
        let latest = self.latest.lock().expect("sets lock");
        latest
            .as_ref()?
            .1
            .iter()
            .find(|(k, _, _)| k == key)
            .and_then(|(_, a, _)| *a)
    }

    /// `key`'s bonded stake in the latest read, if that read is fresh (rule 2) and `key` is
    /// in the set.
    pub fn bonded(&self, key: &VerifyingKey) -> Option<u64> {
        let latest = self.latest.lock().expect("sets lock");
        let (at, members) = latest.as_ref()?;
        if at.elapsed() > Duration::from_millis(SET_STALE_MS) {
            return None;
        }
        members
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, b)| *b)
    }

    fn record(&self, members: Located) {
        *self.latest.lock().expect("sets lock") = Some((Instant::now(), members));
    }
}

impl weft_consensus::epochs::SetSource for L1Sets {
    fn next_set(&self) -> Result<Vec<VerifyingKey>, String> {
        let latest = self.latest.lock().expect("sets lock");
        match latest.as_ref() {
            None => Err("the L1's validator set has not been read yet".into()),
            // Rule 2.
            Some((at, _)) if at.elapsed() > Duration::from_millis(SET_STALE_MS) => Err(format!(
                "the last read of the L1's validator set is {} ms old",
                at.elapsed().as_millis()
            )),
            Some((_, members)) => Ok(members.iter().map(|(k, _, _)| k.clone()).collect()),
        }
    }
}

/// Decodes a `stake_set` answer (rule 1).
fn decode(members: Vec<Member>) -> Result<Located, String> {
    use commonware_codec::DecodeExt as _;
    if members.len() > VALIDATOR_SET_MAX {
        return Err(format!(
            "{} members, more than {VALIDATOR_SET_MAX}",
            members.len()
        ));
    }
    members
        .into_iter()
        .map(|m| {
            let bytes = weft_types::from_hex_fixed::<32>(&m.key)
                .map_err(|e| format!("key {}: {e}", m.key))?;
            let key =
                VerifyingKey::decode(bytes.to_vec()).map_err(|e| format!("key {}: {e}", m.key))?;
            // An unusable address is left out, not the member: it can still dial us.
            let address = m.p2p_address.and_then(|a| a.parse().ok());
            Ok((key, address, m.bonded))
        })
        .collect()
}

/// Reads the L1's set every `every` into `sets` (rule 1), forever.
pub async fn poll(sets: Arc<L1Sets>, l1_rpc: String, every: Duration) {
    let client = match jsonrpsee::http_client::HttpClientBuilder::default()
        .request_timeout(every.max(Duration::from_secs(2)))
        .build(&l1_rpc)
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(target: "weft::stake", %e, l1_rpc, "cannot build the L1 client: announcing no change");
            return;
        }
    };
    loop {
        let answer: Result<Vec<Member>, _> =
            client.request("stake_set", jsonrpsee::rpc_params![]).await;
        match answer.map_err(|e| e.to_string()).and_then(decode) {
            Ok(members) => sets.record(members),
            Err(e) => {
                tracing::warn!(target: "weft::stake", %e, "reading the L1's validator set failed")
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// Keeps the mempool's bond cap on outstanding receipts current (rule 4), every `every`,
/// forever.
pub async fn cap_receipts(
    shared: Arc<weft_consensus::Shared>,
    sets: Arc<L1Sets>,
    me: VerifyingKey,
    cfg: crate::slashing::Config,
    every: Duration,
) {
    loop {
        let cap = match sets.bonded(&me) {
            Some(bonded) => cfg.receipt_cap(bonded).map(|cap| {
                (
                    cap,
                    format!(
                        "bonded {bonded} x {} ppm / {} per receipt",
                        cfg.preconf_bond_share_ppm, cfg.preconf_value_max
                    ),
                )
            }),
            None => cfg.receipt_cap(0).map(|cap| {
                (
                    cap,
                    "no fresh read of this validator's bond on the L1, or not in its set".into(),
                )
            }),
        };
        shared.mempool.lock().set_bond_cap(cap);
        tokio::time::sleep(every).await;
    }
}

/// Keeps the p2p network tracking the validators of the current and next epochs (rule 3).
pub async fn track_peers(
    shared: Arc<weft_consensus::Shared>,
    mut oracle: weft_network::P2pOracle,
    genesis: HashMap<VerifyingKey, SocketAddr>,
    sets: Option<Arc<L1Sets>>,
) {
    // The network's bound on a tracked set: the current epoch's validators come first.
    let peers_max = weft_network::peer_set_max(genesis.len());
    use commonware_consensus::types::Epoch;
    use commonware_p2p::AddressableManager as _;
    // Genesis's set is tracked at 0 when the network starts.
    let mut tracked = 0u64;
    loop {
        tokio::time::sleep(TRACK_POLL).await;
        let Some(schedule) = shared.schedule.get() else {
            continue;
        };
        let head = shared.store.head_height().unwrap_or(0);
        let epoch = schedule.epoch_after(head);
        let id = epoch.get() + 1;
        if id <= tracked {
            continue;
        }
        let mut peers: Vec<(VerifyingKey, commonware_p2p::Address)> = Vec::new();
        let mut members: Vec<VerifyingKey> = Vec::new();
        for e in [epoch, Epoch::new(epoch.get() + 1)] {
            let Some(set) = schedule.participants(e) else {
                continue;
            };
            for key in set.iter() {
                if members.contains(key) {
                    continue;
                }
                members.push(key.clone());
                let address = genesis
                    .get(key)
                    .copied()
                    .or_else(|| sets.as_ref().and_then(|s| s.address(key)));
                match address {
                    Some(a) => peers.push((key.clone(), commonware_p2p::Address::from(a))),
                    None => {
                        tracing::warn!(target: "weft::stake", validator = %key, epoch = e.get(), "no p2p address known for a validator: it must dial us")
                    }
                }
            }
        }
        if peers.len() > peers_max {
            tracing::warn!(target: "weft::stake", peers = peers.len(), peers_max, "more validators than the p2p network tracks: the next epoch's last ones are left out");
            peers.truncate(peers_max);
        }
        let Ok(map) =
            commonware_utils::ordered::Map::<VerifyingKey, commonware_p2p::Address>::try_from(
                peers,
            )
        else {
            continue;
        };
        let _ = oracle.track(id, map);
        tracked = id;
        // Acks of validators no longer tracked can never count again (gossip rule 6).
        shared.holders.retain_peers(|k| members.contains(k));
        tracing::info!(target: "weft::stake", id, epoch = epoch.get(), "tracking the validators of this epoch and the next");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer as _;
    use weft_consensus::epochs::SetSource as _;

    fn member(seed: u64, address: Option<&str>) -> Member {
        Member {
            key: weft_types::to_hex(
                weft_types::SigningKey::from_seed(seed)
                    .public_key()
                    .as_ref(),
            ),
            bonded: 1_000 * seed,
            p2p_address: address.map(String::from),
        }
    }

    #[test]
    fn answers_are_bounded_and_a_stale_read_is_none() {
        let sets = L1Sets::default();
        assert!(sets.next_set().is_err(), "nothing read yet");
        let members = decode(vec![
            member(1, Some("127.0.0.1:9040")),
            member(2, Some("nowhere")),
        ])
        .unwrap();
        let k1 = weft_types::SigningKey::from_seed(1).public_key();
        let k2 = weft_types::SigningKey::from_seed(2).public_key();
        sets.record(members);
        assert_eq!(sets.next_set().unwrap(), vec![k1.clone(), k2.clone()]);
        assert_eq!(sets.address(&k1), Some("127.0.0.1:9040".parse().unwrap()));
        assert_eq!(sets.address(&k2), None, "an unusable address is left out");
        // Rule 4's input: the bond as read, while fresh.
        assert_eq!(
            (sets.bonded(&k1), sets.bonded(&k2)),
            (Some(1_000), Some(2_000))
        );
        let k9 = weft_types::SigningKey::from_seed(9).public_key();
        assert_eq!(sets.bonded(&k9), None, "not in the set");
        // Rule 1: too many members, or a key that does not decode.
        let many: Vec<Member> = (0..=VALIDATOR_SET_MAX as u64)
            .map(|i| member(i, None))
            .collect();
        assert!(decode(many).unwrap_err().contains("more than"));
        let bad = Member {
            key: "0x1234".into(),
            bonded: 0,
            p2p_address: None,
        };
        assert!(decode(vec![bad]).is_err());
        // Rule 2: an old read is no read.
        *sets.latest.lock().unwrap() = Some((
            Instant::now() - Duration::from_millis(SET_STALE_MS + 1),
            vec![(k1.clone(), None, 1_000)],
        ));
        assert!(sets.next_set().unwrap_err().contains("old"));
        assert_eq!(sets.bonded(&k1), None, "a stale bond backs nothing");
    }

    /// Rule 4: the cap is the bond's share over the value one receipt promises, 0 with no
    /// bond known, and none when turned off.
    #[test]
    fn the_receipt_cap_follows_the_bond() {
        let mut cfg = crate::slashing::Config {
            l1_rpc: Some("http://127.0.0.1:1".into()),
            ..Default::default()
        };
        assert_eq!(cfg.receipt_cap(5_000_000), None, "off by default");
        cfg.preconf_value_max = 1_000;
        assert_eq!(
            cfg.receipt_cap(5_000_000),
            Some(2_500),
            "half of 5M over 1k"
        );
        assert_eq!(cfg.receipt_cap(0), Some(0));
        assert_eq!(
            cfg.receipt_cap(u64::MAX),
            Some((u64::MAX / 2 / 1_000) as usize)
        );
        assert!(cfg.validate().is_ok());
        cfg.preconf_bond_share_ppm = 1_000_001;
        assert!(cfg.validate().unwrap_err().contains("whole bond"));
        cfg.preconf_bond_share_ppm = 500_000;
        cfg.l1_rpc = None;
        assert!(cfg
            .validate()
            .unwrap_err()
            .contains("needs slashing.l1_rpc"));
        // A URL the client could never use is refused at start, with the reason.
        for bad in ["127.0.0.1:9200", "ftp://x", "http://", "http:///path"] {
            cfg.l1_rpc = Some(bad.into());
            assert!(
                cfg.validate().unwrap_err().contains("slashing.l1_rpc"),
                "{bad} accepted"
            );
        }
        cfg.l1_rpc = Some("http://127.0.0.1:9200".into());
        assert!(cfg.validate().is_ok());
    }
}
