//! Weft's core types and their wire format.
//!
//! Everything a validator, client or rollup exchanges is defined here: namespace ids,
//! signed transactions, block headers and bodies, pre-confirmation receipts and the evidence
//! that one was broken, and the Merkle commitments that let a
//! rollup verify its namespace's data against a header. Every decoder of untrusted bytes
//! takes a [`Limits`] and reports which limit was broken.

mod block;
pub mod bundle;
mod config;
mod error;
pub mod eth;
pub mod evidence;
pub mod keyfile;
pub mod merkle;
mod namespace;
mod proof;
pub mod receipt;
mod sigcache;
mod tx;

pub use block::{
    validators_root, Block, BlockDigest, Body, EncryptedItem, Header, NamespaceSpan, NamespaceTxs,
    Slot, HEADER_BYTES, SLOT_BYTES, VALIDATOR_SET_MAX,
};
pub use bundle::{
    leg_content_hash_of, BundleEntry, BundleId, Leg, LegSpec, BUNDLE_LEGS_MAX, BUNDLE_LEGS_MIN,
};
pub use config::{
    Limits, DEFAULT_BLOCK_BYTES_MAX, DEFAULT_BLOCK_TXS_MAX, DEFAULT_GOSSIP_BATCH_TXS_MAX,
    DEFAULT_GOSSIP_HASHES_MAX, DEFAULT_NAMESPACES_PER_BLOCK_MAX, DEFAULT_PAYLOAD_BYTES_MAX,
    DEFAULT_PRECONF_WINDOW_HEIGHTS, DEFAULT_TIMESTAMP_DRIFT_MS_MAX, DEFAULT_TX_BYTES_MAX,
    PRECONF_LAG_HEIGHTS_MAX, PRECONF_WINDOW_HEIGHTS_MAX,
};
pub use error::{BlockError, DecodeError, TxError};
pub use evidence::{
    BrokenPreconfirmation, BundleWitness, EvidenceError, LegSlot, SlotLeaf, SlotProof, Verdict,
};
pub use namespace::NamespaceId;
pub use proof::{LeafParts, LeafPath, NamespaceProof, ProofError, PROOF_DEPTH_MAX};
pub use receipt::{Promise, Receipt, ReceiptError, RECEIPT_BYTES};
pub use sigcache::{SignatureCache, VerifyStats, DEFAULT_PASSED_MAX, DEFAULT_SENDER_KEYS_MAX};
pub use tx::{
    Auth, SigningKey, Transaction, TxHash, VerifyingKey, TX_OVERHEAD_BYTES, TX_SIGNING_NAMESPACE,
};

/// The 32-byte SHA-256 digest used for every commitment in Weft.
pub type Digest = commonware_cryptography::sha256::Digest;

/// A network's identity: the digest of its genesis block (which commits to the genesis
/// file). Every signing domain names it, so nothing signed for one network (a vote, a
/// certificate, a p2p handshake) is valid on another.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ChainId(pub Digest);

impl ChainId {
    /// The chain whose genesis block is `genesis`.
    pub fn of_genesis(genesis: &Block) -> Self {
        Self(genesis.digest().0)
    }

    /// `base` bound to this chain: `base@0x<chain id hex>`.
    pub fn domain(&self, base: &[u8]) -> Vec<u8> {
        [base, b"@", to_hex(self.0.as_ref()).as_bytes()].concat()
    }
}

/// A chain for this crate's unit tests.
#[cfg(test)]
pub(crate) fn test_chain() -> ChainId {
    ChainId(sha256(&[b"weft-types unit tests"]))
}

impl std::fmt::Display for ChainId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&to_hex(self.0.as_ref()))
    }
}

/// Hashes the concatenation of `parts` with SHA-256.
pub fn sha256(parts: &[&[u8]]) -> Digest {
    use commonware_cryptography::Hasher as _;
    commonware_cryptography::Sha256::hash(parts)
}

/// Renders bytes as lowercase hex with a `0x` prefix (the form used by the RPC API).
pub fn to_hex(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// Parses hex with or without a `0x` prefix into exactly `N` bytes.
pub fn from_hex_fixed<const N: usize>(s: &str) -> Result<[u8; N], String> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if s.len() != N * 2 {
        return Err(format!(
            "expected {} hex characters, got {}",
            N * 2,
            s.len()
        ));
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|e| format!("invalid hex: {e}"))?;
    Ok(out)
}
