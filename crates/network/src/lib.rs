//! Weft's authenticated p2p network.
//!
//! Commonware's `authenticated::lookup` network: every connection is an encrypted, mutually
//! authenticated ed25519 session, and only the validators named in genesis may connect. Each
//! protocol runs on its own channel with a per-peer rate quota. This crate is the only place
//! Commonware's p2p types are constructed in production.

use commonware_cryptography::ChaCha20Poly1305;
use commonware_p2p::{authenticated::lookup, Address, AddressableManager as _};
use commonware_runtime::{Clock, Handle, Metrics, Network as RNetwork, Quota, Resolver, Spawner};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{ordered::Map, NZUsize, NZU32};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, time::Duration};
use weft_types::{SigningKey, VerifyingKey};

/// Base of the p2p handshake domain; bound to the chain (`ChainId::domain`) so only peers
/// of the same network can connect.
pub const P2P_NAMESPACE: &[u8] = b"weft/p2p/v1";

/// Default per-peer, per-channel message rate.
pub const DEFAULT_CHANNEL_MESSAGES_PER_SECOND: u32 = 10_000;
/// Default bound on queued outbound messages.
pub const DEFAULT_MAILBOX_SIZE: usize = 16_384;

/// Which of Commonware's p2p presets to start from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// `lookup::Config::recommended`: production cooldowns, handshake rate limits per IP and
    /// subnet, long blocks. The default.
    #[default]
    Recommended,
    /// `lookup::Config::local`: fast reconnects for a single-host devnet. Commonware
    /// documents it as not for production; `weft devnet` is its one user.
    Local,
}

/// Network configuration (`[network]` in the node's TOML).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The p2p preset (`recommended` unless this is a single-host devnet).
    pub profile: Profile,
    /// Per-peer, per-channel message rate quota.
    pub channel_messages_per_second: u32,
    /// Bound on queued outbound messages.
    pub mailbox_size: usize,
    /// Accept peers on private and loopback addresses (off in production; devnets and LANs
    /// turn it on).
    pub allow_private_ips: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            profile: Profile::Recommended,
            channel_messages_per_second: DEFAULT_CHANNEL_MESSAGES_PER_SECOND,
            mailbox_size: DEFAULT_MAILBOX_SIZE,
            allow_private_ips: false,
        }
    }
}

impl Config {
    /// The configuration of a single-host devnet: the local preset, loopback peers allowed.
    pub fn devnet() -> Self {
        Self {
            profile: Profile::Local,
            allow_private_ips: true,
            ..Self::default()
        }
    }
}

impl Config {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), String> {
        if self.channel_messages_per_second == 0 || self.mailbox_size == 0 {
            return Err(
                "network.channel_messages_per_second and network.mailbox_size must be > 0".into(),
            );
        }
        Ok(())
    }
}

/// A lookup-network sender.
pub type P2pSender<E> = lookup::Sender<VerifyingKey, E>;
/// A lookup-network receiver.
pub type P2pReceiver = lookup::Receiver<VerifyingKey>;
/// The lookup network's oracle: peer provider and blocker.
pub type P2pOracle = lookup::Oracle<VerifyingKey>;

/// A started network: channel pairs (in the order asked for), the oracle, and its handle.
pub struct Started<E: Spawner + Clock + Metrics> {
    /// One (sender, receiver) pair per requested channel.
    pub channels: Vec<(P2pSender<E>, P2pReceiver)>,
    /// Peer provider and blocker.
    pub oracle: P2pOracle,
    /// The network task.
    pub handle: Handle<()>,
}

/// Most peers one tracked set holds for a network whose genesis lists `genesis_validators`:
/// the validators of two epochs (`weft_node::stake` rule 3), each about genesis's size. The
/// network's buffers grow with it (a 512-peer bound cost each validator gigabytes), so it is
/// sized from genesis rather than from [`weft_types::VALIDATOR_SET_MAX`].
pub fn peer_set_max(genesis_validators: usize) -> usize {
    2 * genesis_validators + 2
}

/// Starts the network: listens on `listen`, dials `peers` (validator key -> advertised
/// address) and accepts only them, in the handshake domain `namespace` (the chain's).
#[allow(clippy::too_many_arguments)] // each is a distinct, required part of the network
pub fn start<E>(
    context: E,
    cfg: &Config,
    signer: SigningKey,
    listen: SocketAddr,
    peers: Vec<(VerifyingKey, SocketAddr)>,
    max_message_size: u32,
    channels: &[u64],
    namespace: &[u8],
) -> Result<Started<E>, String>
where
    E: Spawner + Clock + Metrics + CryptoRng + RNetwork + Resolver,
{
    cfg.validate()?;
    let handshake = Cups::<_, ChaCha20Poly1305>::new(
        Sake {
            signer,
            synchrony_bound: Duration::from_secs(5),
            max_handshake_age: Duration::from_secs(10),
            version: sake::Version::V1,
        },
        cups::Version::V1,
    );
    let peer_count = NZUsize!(peer_set_max(peers.len()));
    let preset = match cfg.profile {
        Profile::Recommended => lookup::Config::recommended,
        Profile::Local => lookup::Config::local,
    };
    let mut p2p_cfg = preset(
        handshake,
        namespace,
        listen,
        peer_count,
        max_message_size,
        NZUsize!(cfg.mailbox_size.max(1)),
    );
    p2p_cfg.allow_private_ips = cfg.allow_private_ips;
    let map: Map<VerifyingKey, Address> = peers
        .into_iter()
        .map(|(k, a)| (k, Address::from(a)))
        .collect::<Vec<_>>()
        .try_into()
        .map_err(|_| "duplicate validator key in the peer list".to_string())?;
    let (mut network, mut oracle) = lookup::Network::new(context, p2p_cfg);
    let _ = oracle.track(0, map);
    let quota = Quota::per_second(
        std::num::NonZeroU32::new(cfg.channel_messages_per_second).unwrap_or(NZU32!(1)),
    );
    let pairs = channels
        .iter()
        .map(|c| network.register(*c, quota))
        .collect();
    let handle = network.start();
    Ok(Started {
        channels: pairs,
        oracle,
        handle,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_defaults_are_the_recommended_profile() {
        let cfg = Config::default();
        assert_eq!(cfg.profile, Profile::Recommended);
        assert!(!cfg.allow_private_ips);
        let devnet = Config::devnet();
        assert_eq!(devnet.profile, Profile::Local);
        assert!(devnet.allow_private_ips);
    }
}
