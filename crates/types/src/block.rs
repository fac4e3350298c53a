//! Blocks: a fixed-size header committing to a body of per-namespace transaction lists.
//!
//! The header commits to the body through roots, so a header plus its finalization
//! certificate is enough to verify any one namespace's data (see [`Body::namespace_table`]).
//! Bundle legs live in their namespaces' lists; the body's bundle section lists each bundle
//! once (rules B1-B4 in [`crate::bundle`]). The encrypted lane has typed room; until it
//! lands, consensus rejects blocks that use it.

use crate::bundle::{BundleEntry, BundleId};
use crate::{
    merkle, sha256, BlockError, DecodeError, Digest, Limits, NamespaceId, Transaction, TxHash,
    VerifyingKey,
};
use bytes::{Buf, BufMut, Bytes};
use commonware_codec::{Decode, Encode, EncodeSize, Error, FixedSize, Read, ReadExt, Write};
use std::collections::HashMap;
use std::fmt;

/// Encoded size of a [`Header`], in bytes.
pub const HEADER_BYTES: usize = 8 * 3 + 32 + 8 + 32 + 32 * 5 + 8 + 4;

/// A block's id: SHA-256 of its encoded header.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockDigest(pub Digest);

impl fmt::Display for BlockDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::to_hex(self.0.as_ref()))
    }
}
impl fmt::Debug for BlockDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockDigest({self})")
    }
}

/// Block header. Fixed size; its hash is the block's id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Height: parent's height + 1; genesis is 0.
    pub height: u64,
    /// Consensus epoch (validator-set generation).
    pub epoch: u64,
    /// Consensus view in which the block was proposed.
    pub view: u64,
    /// Parent block's digest.
    pub parent: BlockDigest,
    /// Proposer's wall clock, in milliseconds since the Unix epoch; never below the parent's.
    pub timestamp_ms: u64,
    /// Proposer's validator key.
    pub proposer: VerifyingKey,
    /// Merkle root over per-namespace leaves, sorted by namespace.
    pub namespace_table_root: Digest,
    /// Merkle root over the block's nonce slots sorted by `(sender, nonce)` ([`Slot`]): proves
    /// a transaction's inclusion, or that no transaction holds its `(sender, nonce)`.
    pub inclusion_root: Digest,
    /// Merkle root over the bundle section ([`BundleEntry::leaf`], sorted by bundle id).
    pub bundles_root: Digest,
    /// Merkle root over encrypted-lane entries.
    pub encrypted_root: Digest,
    /// Commitment to the validator set the block announces ([`Body::validators_root`]; zero
    /// when it announces none): an epoch's boundary block names the set of the epoch after
    /// next, read from the L1's stake table.
    pub state_root: Digest,
    /// Number of L1 inbox messages consumed up to this block (forced inclusion).
    pub l1_inbox_index: u64,
    /// Number of transactions in the body (namespaced lists only).
    pub tx_count: u32,
}

impl Header {
    /// The block id.
    pub fn digest(&self) -> BlockDigest {
        BlockDigest(sha256(&[&self.encode()]))
    }
}

impl Write for Header {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u64(self.height);
        buf.put_u64(self.epoch);
        buf.put_u64(self.view);
        self.parent.0.write(buf);
        buf.put_u64(self.timestamp_ms);
        self.proposer.write(buf);
        self.namespace_table_root.write(buf);
        self.inclusion_root.write(buf);
        self.bundles_root.write(buf);
        self.encrypted_root.write(buf);
        self.state_root.write(buf);
        buf.put_u64(self.l1_inbox_index);
        buf.put_u32(self.tx_count);
    }
}
impl FixedSize for Header {
    const SIZE: usize = HEADER_BYTES;
}
impl Read for Header {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            height: u64::read(buf)?,
            epoch: u64::read(buf)?,
            view: u64::read(buf)?,
            parent: BlockDigest(Digest::read(buf)?),
            timestamp_ms: u64::read(buf)?,
            proposer: VerifyingKey::read(buf)?,
            namespace_table_root: Digest::read(buf)?,
            inclusion_root: Digest::read(buf)?,
            bundles_root: Digest::read(buf)?,
            encrypted_root: Digest::read(buf)?,
            state_root: Digest::read(buf)?,
            l1_inbox_index: u64::read(buf)?,
            tx_count: u32::read(buf)?,
        })
    }
}

/// A transaction's nonce slot: its `(sender, nonce)` and the transaction holding it. Leaves
/// of a header's `inclusion_root`, sorted by `(sender, nonce)`. A valid block holds each
/// `(sender, nonce)` at most once (nonces are consecutive per sender), so adjacent leaves
/// bracketing a slot prove no transaction holds it: neither a promised transaction nor a
/// conflicting one with the same nonce (`crate::evidence`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot {
    /// The sender (ed25519 key or Ethereum address, left-padded).
    pub sender: [u8; 32],
    /// The sender's nonce.
    pub nonce: u64,
    /// The transaction in the slot.
    pub tx: TxHash,
}

/// Encoded size of a [`Slot`], in bytes.
pub const SLOT_BYTES: usize = 32 + 8 + 32;

impl Slot {
    /// The slot `tx` takes.
    pub fn of(tx: &Transaction) -> Self {
        Self {
            sender: *tx.sender(),
            nonce: tx.nonce(),
            tx: tx.hash(),
        }
    }

    /// Its leaf in the inclusion tree.
    pub fn leaf(&self) -> Digest {
        merkle::leaf_hash(&[&self.sender, &self.nonce.to_be_bytes(), self.tx.as_bytes()])
    }

    /// The `(sender, nonce)` key the tree is sorted by.
    pub fn key(&self) -> ([u8; 32], u64) {
        (self.sender, self.nonce)
    }
}

impl Write for Slot {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.sender);
        buf.put_u64(self.nonce);
        buf.put_slice(self.tx.as_bytes());
    }
}
impl FixedSize for Slot {
    const SIZE: usize = SLOT_BYTES;
}
impl Read for Slot {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            sender: <[u8; 32]>::read(buf)?,
            nonce: u64::read(buf)?,
            tx: TxHash(Digest::read(buf)?),
        })
    }
}

/// One namespace's transactions in a block, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceTxs {
    /// The namespace.
    pub namespace: NamespaceId,
    /// Its transactions, in block order. Never empty.
    pub txs: Vec<Transaction>,
}

impl NamespaceTxs {
    /// Leaf of the namespace table: commits to the namespace id, the count and every
    /// transaction's full encoding (signature included).
    pub fn leaf(&self) -> Digest {
        Self::leaf_from_parts(self.namespace, self.txs.len() as u32, &self.txs_root())
    }

    /// Leaf from its parts (used by proof verifiers).
    pub fn leaf_from_parts(namespace: NamespaceId, count: u32, txs_root: &Digest) -> Digest {
        merkle::leaf_hash(&[
            b"weft/ns",
            &namespace.0.to_be_bytes(),
            &count.to_be_bytes(),
            txs_root.as_ref(),
        ])
    }
}

/// An encrypted-lane item, timelock-encrypted to a target view.
/// Reserved: consensus rejects blocks with encrypted items until the feature lands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptedItem {
    /// View whose threshold signature decrypts the item.
    pub target_view: u64,
    /// Ciphertext.
    pub ciphertext: Bytes,
}

/// Block body.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Body {
    /// Per-namespace lists, strictly ascending by namespace, none empty.
    pub namespaces: Vec<NamespaceTxs>,
    /// The bundle section: one entry per bundle whose legs the namespaced lists hold,
    /// sorted by id (rule B4).
    pub bundles: Vec<BundleEntry>,
    /// Encrypted lane (reserved).
    pub encrypted: Vec<EncryptedItem>,
    /// The validator set this block announces, strictly ascending; empty unless the block is
    /// an epoch's boundary (consensus rule 11), at most [`VALIDATOR_SET_MAX`] keys.
    pub validators: Vec<VerifyingKey>,
}

/// The commitment to an announced validator set ([`Body::validators`]): zero for none, else
/// the hash of the keys in order under a domain of its own. A light client checks a set it
/// is served against a boundary header's `state_root` with it.
pub fn validators_root(validators: &[VerifyingKey]) -> Digest {
    if validators.is_empty() {
        return Digest::from([0u8; 32]);
    }
    let mut parts: Vec<&[u8]> = vec![b"weft/validator-set/v1"];
    parts.extend(validators.iter().map(|k| k.as_ref()));
    sha256(&parts)
}

/// Most validators one epoch's set may hold (a decoding bound).
pub const VALIDATOR_SET_MAX: usize = 256;

impl Body {
    /// A body of namespaced transactions: grouped by namespace (ascending), each namespace's
    /// transactions in the order given.
    pub fn from_txs(txs: impl IntoIterator<Item = Transaction>) -> Self {
        let mut by_ns: std::collections::BTreeMap<NamespaceId, Vec<Transaction>> =
            Default::default();
        for tx in txs {
            by_ns.entry(tx.namespace()).or_default().push(tx);
        }
        let mut body = Self {
            namespaces: by_ns
                .into_iter()
                .map(|(namespace, mut txs)| {
                    // B5: plain transactions in the order given, then legs by bundle.
                    txs.sort_by_key(|t| t.leg().map(|l| (l.bundle(), l.index)));
                    NamespaceTxs { namespace, txs }
                })
                .collect(),
            ..Self::default()
        };
        body.bundles = body.derive_bundles();
        body
    }

    /// The bundle section the namespaced lists call for: one entry per bundle with a leg
    /// here, sorted by id (rule B4). Derived from any one leg: a leg names every leg's hash.
    pub fn derive_bundles(&self) -> Vec<BundleEntry> {
        let mut entries: std::collections::BTreeMap<BundleId, BundleEntry> = Default::default();
        for tx in self.txs() {
            if let Some(leg) = tx.leg() {
                entries.entry(leg.bundle()).or_insert_with(|| BundleEntry {
                    id: leg.bundle(),
                    valid_until: leg.valid_until,
                    legs: leg.leg_hashes(),
                });
            }
        }
        entries.into_values().collect()
    }

    /// Rules B1, B2, B4 and B5 ([`crate::bundle`]): every bundle with a leg here is whole,
    /// spans two namespaces or more, the section lists exactly these bundles, and in each
    /// namespace list the legs come last, by bundle id then leg index.
    pub fn check_bundles(&self) -> Result<(), BlockError> {
        for list in &self.namespaces {
            let keys: Vec<Option<(BundleId, u8)>> = list
                .txs
                .iter()
                .map(|t| t.leg().map(|l| (l.bundle(), l.index)))
                .collect();
            // `None` (plain) sorts first: the keys must be non-decreasing.
            if let Some(i) = keys.windows(2).position(|w| w[0] > w[1]) {
                return Err(BlockError::LegsNotLast {
                    namespace: list.namespace,
                    tx: list.txs[i + 1].hash(),
                });
            }
        }
        let mut legs: HashMap<TxHash, NamespaceId> = HashMap::new();
        for tx in self.txs() {
            if tx.leg().is_some() {
                legs.insert(tx.hash(), tx.namespace());
            }
        }
        let derived = self.derive_bundles();
        for entry in &derived {
            let mut namespaces = Vec::with_capacity(entry.legs.len());
            for hash in &entry.legs {
                match legs.get(hash) {
                    Some(ns) => namespaces.push(*ns),
                    None => {
                        return Err(BlockError::BundleSplit {
                            bundle: entry.id,
                            missing: *hash,
                        })
                    }
                }
            }
            namespaces.sort_unstable();
            namespaces.dedup();
            if namespaces.len() < 2 {
                return Err(BlockError::BundleOneNamespace { bundle: entry.id });
            }
        }
        if derived != self.bundles {
            return Err(BlockError::BundleSectionMismatch);
        }
        Ok(())
    }

    /// Number of namespaced transactions.
    pub fn tx_count(&self) -> usize {
        self.namespaces.iter().map(|n| n.txs.len()).sum()
    }

    /// All namespaced transactions in block order (namespace order, then list order).
    pub fn txs(&self) -> impl Iterator<Item = &Transaction> {
        self.namespaces.iter().flat_map(|n| n.txs.iter())
    }

    /// Leaves of the namespace table, in namespace order.
    pub fn namespace_table(&self) -> Vec<Digest> {
        self.namespaces.iter().map(NamespaceTxs::leaf).collect()
    }

    /// The block's nonce slots, sorted: one per transaction (see [`Slot`]). Bundle legs are
    /// in the namespaced lists, so they have slots too; the encrypted lane, which would also
    /// take nonces, must join the slot tree when consensus enables it, or a kept promise
    /// could look broken.
    pub fn slots(&self) -> Vec<Slot> {
        let mut slots: Vec<Slot> = self.txs().map(Slot::of).collect();
        slots.sort_unstable();
        slots
    }

    /// Root over the sorted nonce slots ([`Body::slots`]): proves that a transaction, or
    /// any transaction with its `(sender, nonce)`, is or is not in the block.
    pub fn inclusion_root(&self) -> Digest {
        let leaves: Vec<Digest> = self.slots().iter().map(Slot::leaf).collect();
        merkle::root(&leaves)
    }

    /// Root over the bundle section.
    pub fn bundles_root(&self) -> Digest {
        let leaves: Vec<Digest> = self.bundles.iter().map(BundleEntry::leaf).collect();
        merkle::root(&leaves)
    }

    /// Root over encrypted items.
    pub fn encrypted_root(&self) -> Digest {
        let leaves: Vec<Digest> = self
            .encrypted
            .iter()
            .map(|e| merkle::leaf_hash(&[&e.target_view.to_be_bytes(), &e.ciphertext]))
            .collect();
        merkle::root(&leaves)
    }

    /// The commitment to [`Body::validators`]: zero for none, else the hash of the keys in
    /// order under a domain of its own.
    pub fn validators_root(&self) -> Digest {
        validators_root(&self.validators)
    }

    /// Structural checks that do not need the header: namespace order, non-empty lists, and
    /// an announced validator set strictly ascending.
    pub fn check_structure(&self) -> Result<(), BlockError> {
        if self.validators.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err(BlockError::ValidatorsNotAscending);
        }
        for pair in self.namespaces.windows(2) {
            if pair[0].namespace >= pair[1].namespace {
                return Err(BlockError::NamespacesNotAscending {
                    first: pair[0].namespace,
                    second: pair[1].namespace,
                });
            }
        }
        for ns in &self.namespaces {
            if ns.txs.is_empty() {
                return Err(BlockError::EmptyNamespace {
                    namespace: ns.namespace,
                });
            }
            if let Some(tx) = ns.txs.iter().find(|t| t.namespace() != ns.namespace) {
                return Err(BlockError::MisfiledTx {
                    tx: tx.hash(),
                    namespace: tx.namespace(),
                    listed: ns.namespace,
                });
            }
        }
        self.check_bundles()
    }
}

/// Where one namespace's transaction list lies in an encoded block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamespaceSpan {
    /// The namespace.
    pub namespace: NamespaceId,
    /// Its transactions.
    pub count: u32,
    /// Block-order index of its first transaction.
    pub first_index: u32,
    /// Byte offset of its encoded list (length prefix included).
    pub start: u32,
    /// Byte offset just past its list.
    pub end: u32,
}

/// A full block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// The body.
    pub body: Body,
    /// Cached header digest.
    digest: BlockDigest,
}

impl Block {
    /// Assembles a block, caching its digest.
    pub fn new(header: Header, body: Body) -> Self {
        let digest = header.digest();
        Self {
            header,
            body,
            digest,
        }
    }

    /// The genesis block of a network: height 0, empty, committing to `genesis_hash`
    /// (a hash of the genesis file) through its parent field.
    pub fn genesis(genesis_hash: Digest, proposer: VerifyingKey, timestamp_ms: u64) -> Self {
        let body = Body::default();
        let header = Header {
            height: 0,
            epoch: 0,
            view: 0,
            parent: BlockDigest(genesis_hash),
            timestamp_ms,
            proposer,
            namespace_table_root: merkle::root(&[]),
            inclusion_root: merkle::root(&[]),
            bundles_root: merkle::root(&[]),
            encrypted_root: merkle::root(&[]),
            state_root: Digest::from([0u8; 32]),
            l1_inbox_index: 0,
            tx_count: 0,
        };
        Self::new(header, body)
    }

    /// Seals `body` as the child of `parent`: height, parent link, every root and the count
    /// are derived from the body; `l1_inbox_index` carries over from the parent.
    pub fn child(
        parent: &Block,
        epoch: u64,
        view: u64,
        timestamp_ms: u64,
        proposer: VerifyingKey,
        body: Body,
    ) -> Self {
        let header = Header {
            height: parent.height() + 1,
            epoch,
            view,
            parent: parent.digest(),
            timestamp_ms,
            proposer,
            namespace_table_root: merkle::root(&body.namespace_table()),
            inclusion_root: body.inclusion_root(),
            bundles_root: body.bundles_root(),
            encrypted_root: body.encrypted_root(),
            state_root: body.validators_root(),
            l1_inbox_index: parent.header.l1_inbox_index,
            tx_count: body.tx_count() as u32,
        };
        Self::new(header, body)
    }

    /// The block id.
    pub fn digest(&self) -> BlockDigest {
        self.digest
    }

    /// Height.
    pub fn height(&self) -> u64 {
        self.header.height
    }

    /// Decodes untrusted bytes, enforcing `limits` and naming the one broken.
    pub fn decode_untrusted(bytes: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        if bytes.len() > limits.block_bytes_max {
            return Err(DecodeError::TooLarge {
                what: "block",
                size: bytes.len(),
                limit: "block_bytes_max",
                max: limits.block_bytes_max,
            });
        }
        Self::decode_cfg(commonware_codec::Copying(bytes), limits).map_err(|e| {
            DecodeError::Malformed {
                what: "block",
                reason: e.to_string(),
            }
        })
    }

    /// Decodes a block this node stored itself after checking it (its own database): the
    /// limits are enforced but the body-to-header commitments are not recomputed. Never use it
    /// for bytes from the network; [`Block::decode_untrusted`] binds the body to the header.
    pub fn decode_stored(bytes: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        let mut buf = commonware_codec::Copying(bytes);
        let block = Self::read_unbound(&mut buf, limits).map_err(|e| DecodeError::Malformed {
            what: "block",
            reason: e.to_string(),
        })?;
        if bytes::Buf::has_remaining(&buf) {
            return Err(DecodeError::Malformed {
                what: "block",
                reason: "trailing bytes".into(),
            });
        }
        Ok(block)
    }

    /// Where each namespace's transaction list lies in this block's encoding: (namespace,
    /// count, index of its first transaction in block order, byte range of the encoded list).
    /// Lets a store read one namespace's transactions without decoding the rest.
    pub fn namespace_spans(&self) -> Vec<NamespaceSpan> {
        let items: usize = self.body.namespaces.iter().map(|n| n.encode_size()).sum();
        let mut pos = HEADER_BYTES + (self.body.namespaces.encode_size() - items);
        let mut first_index = 0u32;
        self.body
            .namespaces
            .iter()
            .map(|ns| {
                let start = pos + NamespaceId::SIZE;
                let end = start + ns.txs.encode_size();
                pos = end;
                let span = NamespaceSpan {
                    namespace: ns.namespace,
                    count: ns.txs.len() as u32,
                    first_index,
                    start: start as u32,
                    end: end as u32,
                };
                first_index += ns.txs.len() as u32;
                span
            })
            .collect()
    }

    /// Decodes one namespace's transaction list from a span of an encoded block.
    pub fn decode_namespace_span(
        bytes: &[u8],
        limits: &Limits,
    ) -> Result<Vec<Transaction>, DecodeError> {
        Vec::<Transaction>::decode_cfg(
            commonware_codec::Copying(bytes),
            &((1..=limits.block_txs_max).into(), *limits),
        )
        .map_err(|e| DecodeError::Malformed {
            what: "namespace transactions",
            reason: e.to_string(),
        })
    }

    fn read_unbound(buf: &mut impl commonware_codec::Buf, limits: &Limits) -> Result<Self, Error> {
        let start = buf.remaining();
        let header = Header::read(buf)?;
        let body = Body::read_cfg(buf, limits)?;
        if start - buf.remaining() > limits.block_bytes_max {
            return Err(Error::Invalid(
                "block",
                "encoding larger than block_bytes_max",
            ));
        }
        Ok(Self::new(header, body))
    }

    /// Checks that the header's roots and counts match the body, and the body's structure.
    /// A block whose body passes is the only body its digest can stand for.
    pub fn check_commitments(&self) -> Result<(), BlockError> {
        self.body.check_structure()?;
        let count = self.body.tx_count();
        if count != self.header.tx_count as usize {
            return Err(BlockError::TxCountMismatch {
                header: self.header.tx_count,
                body: count,
            });
        }
        let roots = [
            (
                "namespace_table_root",
                merkle::root(&self.body.namespace_table()),
                self.header.namespace_table_root,
            ),
            (
                "inclusion_root",
                self.body.inclusion_root(),
                self.header.inclusion_root,
            ),
            (
                "bundles_root",
                self.body.bundles_root(),
                self.header.bundles_root,
            ),
            (
                "encrypted_root",
                self.body.encrypted_root(),
                self.header.encrypted_root,
            ),
            (
                "state_root",
                self.body.validators_root(),
                self.header.state_root,
            ),
        ];
        for (root, body, header) in roots {
            if body != header {
                return Err(BlockError::RootMismatch { root });
            }
        }
        // Rule B3: no bundle after its expiry.
        if let Some(b) = self
            .body
            .bundles
            .iter()
            .find(|b| b.valid_until < self.header.height)
        {
            return Err(BlockError::BundleExpired {
                bundle: b.id,
                valid_until: b.valid_until,
                height: self.header.height,
            });
        }
        Ok(())
    }
}

impl Write for NamespaceTxs {
    fn write(&self, buf: &mut impl BufMut) {
        self.namespace.write(buf);
        self.txs.write(buf);
    }
}
impl EncodeSize for NamespaceTxs {
    fn encode_size(&self) -> usize {
        NamespaceId::SIZE + self.txs.encode_size()
    }
}
impl Read for NamespaceTxs {
    type Cfg = Limits;
    fn read_cfg(buf: &mut impl commonware_codec::Buf, limits: &Limits) -> Result<Self, Error> {
        let namespace = NamespaceId::read(buf)?;
        let txs = Vec::<Transaction>::read_cfg(buf, &((1..=limits.block_txs_max).into(), *limits))
            .map_err(|e| match e {
                Error::InvalidLength(_) => {
                    Error::Invalid("block", "namespace list empty or above block_txs_max")
                }
                e => e,
            })?;
        Ok(Self { namespace, txs })
    }
}

impl Write for EncryptedItem {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u64(self.target_view);
        self.ciphertext.write(buf);
    }
}
impl EncodeSize for EncryptedItem {
    fn encode_size(&self) -> usize {
        8 + self.ciphertext.encode_size()
    }
}
impl Read for EncryptedItem {
    type Cfg = Limits;
    fn read_cfg(buf: &mut impl commonware_codec::Buf, limits: &Limits) -> Result<Self, Error> {
        let target_view = u64::read(buf)?;
        let ciphertext = Bytes::read_cfg(buf, &(0..=limits.tx_bytes_max).into())?;
        Ok(Self {
            target_view,
            ciphertext,
        })
    }
}

impl Write for Body {
    fn write(&self, buf: &mut impl BufMut) {
        self.namespaces.write(buf);
        self.bundles.write(buf);
        self.encrypted.write(buf);
        self.validators.write(buf);
    }
}
impl EncodeSize for Body {
    fn encode_size(&self) -> usize {
        self.namespaces.encode_size()
            + self.bundles.encode_size()
            + self.encrypted.encode_size()
            + self.validators.encode_size()
    }
}
impl Read for Body {
    type Cfg = Limits;
    fn read_cfg(buf: &mut impl commonware_codec::Buf, limits: &Limits) -> Result<Self, Error> {
        let namespaces = Vec::<NamespaceTxs>::read_cfg(
            buf,
            &((0..=limits.namespaces_per_block_max).into(), *limits),
        )
        .map_err(|e| match e {
            Error::InvalidLength(_) => {
                Error::Invalid("block", "more namespaces than namespaces_per_block_max")
            }
            e => e,
        })?;
        let total: usize = namespaces.iter().map(|n| n.txs.len()).sum();
        if total > limits.block_txs_max {
            return Err(Error::Invalid(
                "block",
                "more transactions than block_txs_max",
            ));
        }
        // Each bundle has two legs or more among the block's transactions.
        let bundles =
            Vec::<BundleEntry>::read_cfg(buf, &((0..=limits.block_txs_max / 2).into(), ()))?;
        let encrypted =
            Vec::<EncryptedItem>::read_cfg(buf, &((0..=limits.block_txs_max).into(), *limits))?;
        let validators = Vec::<VerifyingKey>::read_cfg(buf, &((0..=VALIDATOR_SET_MAX).into(), ()))
            .map_err(|e| match e {
                Error::InvalidLength(_) => {
                    Error::Invalid("block", "more validators than VALIDATOR_SET_MAX")
                }
                e => e,
            })?;
        Ok(Self {
            namespaces,
            bundles,
            encrypted,
            validators,
        })
    }
}

impl Write for Block {
    fn write(&self, buf: &mut impl BufMut) {
        self.header.write(buf);
        self.body.write(buf);
    }
}
impl EncodeSize for Block {
    fn encode_size(&self) -> usize {
        HEADER_BYTES + self.body.encode_size()
    }
}
impl Read for Block {
    type Cfg = Limits;
    fn read_cfg(buf: &mut impl commonware_codec::Buf, limits: &Limits) -> Result<Self, Error> {
        let block = Self::read_unbound(buf, limits)?;
        // Bind the body to the id: the digest covers only the header, so a body decoded from
        // the wire (a broadcast, a backfill answer) is accepted only if it is the one the
        // header commits to. Nothing downstream can then hold a forged body.
        block
            .check_commitments()
            .map_err(|_| Error::Invalid("block", "body does not match the header's commitments"))?;
        Ok(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::test_chain;
    use crate::SigningKey;
    use commonware_cryptography::Signer as _;
    use commonware_math::algebra::Random as _;
    use rand_core::SeedableRng as _;

    fn key(seed: u64) -> SigningKey {
        SigningKey::random(rand_chacha::ChaCha20Rng::seed_from_u64(seed))
    }

    fn sample_block() -> Block {
        let k = key(9);
        let body = Body {
            namespaces: vec![
                NamespaceTxs {
                    namespace: NamespaceId(1),
                    txs: vec![Transaction::sign(
                        &k,
                        &test_chain(),
                        NamespaceId(1),
                        0,
                        Bytes::from_static(b"a"),
                    )],
                },
                NamespaceTxs {
                    namespace: NamespaceId(5),
                    txs: vec![
                        Transaction::sign(
                            &k,
                            &test_chain(),
                            NamespaceId(5),
                            1,
                            Bytes::from_static(b"b"),
                        ),
                        Transaction::sign(
                            &k,
                            &test_chain(),
                            NamespaceId(5),
                            2,
                            Bytes::from_static(b"c"),
                        ),
                    ],
                },
            ],
            ..Body::default()
        };
        let header = Header {
            height: 1,
            epoch: 0,
            view: 1,
            parent: BlockDigest(Digest::from([0u8; 32])),
            timestamp_ms: 1_000,
            proposer: k.public_key(),
            namespace_table_root: merkle::root(&body.namespace_table()),
            inclusion_root: body.inclusion_root(),
            bundles_root: body.bundles_root(),
            encrypted_root: body.encrypted_root(),
            state_root: Digest::from([0u8; 32]),
            l1_inbox_index: 0,
            tx_count: body.tx_count() as u32,
        };
        Block::new(header, body)
    }

    #[test]
    fn block_roundtrip_and_commitments() {
        let block = sample_block();
        block.check_commitments().unwrap();
        let bytes = block.encode();
        assert_eq!(bytes.len(), block.encode_size());
        assert_eq!(block.header.encode().len(), HEADER_BYTES);
        let back = Block::decode_untrusted(&bytes, &Limits::default()).unwrap();
        assert_eq!(back, block);
        assert_eq!(back.digest(), block.digest());
    }

    #[test]
    fn broken_limits_are_named() {
        let bytes = sample_block().encode();
        let tight = Limits {
            block_txs_max: 2,
            ..Limits::default()
        };
        let err = Block::decode_untrusted(&bytes, &tight).unwrap_err();
        assert!(err.to_string().contains("block_txs_max"), "{err}");
        let tight = Limits {
            namespaces_per_block_max: 1,
            ..Limits::default()
        };
        let err = Block::decode_untrusted(&bytes, &tight).unwrap_err();
        assert!(
            err.to_string().contains("namespaces_per_block_max"),
            "{err}"
        );
        let tight = Limits {
            block_bytes_max: 100,
            ..Limits::default()
        };
        let err = Block::decode_untrusted(&bytes, &tight).unwrap_err();
        assert!(err.to_string().contains("block_bytes_max"), "{err}");
    }

    #[test]
    fn tampered_body_breaks_commitments() {
        let mut block = sample_block();
        block.body.namespaces[1].txs.swap(0, 1);
        assert_eq!(
            block.check_commitments().unwrap_err(),
            BlockError::RootMismatch {
                root: "namespace_table_root"
            }
        );
        // A forged body never decodes: the wire form of a real header with another body.
        let err = Block::decode_untrusted(&block.encode(), &Limits::default()).unwrap_err();
        assert!(err.to_string().contains("commitments"), "{err}");
        let mut block = sample_block();
        block.body.namespaces.swap(0, 1);
        assert!(matches!(
            block.check_commitments().unwrap_err(),
            BlockError::NamespacesNotAscending { .. }
        ));
    }

    #[test]
    fn namespace_spans_decode_to_the_namespace_lists() {
        let block = sample_block();
        let bytes = block.encode();
        let spans = block.namespace_spans();
        assert_eq!(spans.len(), 2);
        for (span, ns) in spans.iter().zip(&block.body.namespaces) {
            let txs = Block::decode_namespace_span(
                &bytes[span.start as usize..span.end as usize],
                &Limits::default(),
            )
            .unwrap();
            assert_eq!(txs, ns.txs);
        }
        assert_eq!((spans[1].first_index, spans[1].count), (1, 2));
        assert_eq!(
            Block::decode_stored(&bytes, &Limits::default()).unwrap(),
            block
        );
    }

    #[test]
    fn truncated_blocks_never_panic() {
        let bytes = sample_block().encode();
        for cut in (0..bytes.len()).step_by(7) {
            assert!(Block::decode_untrusted(&bytes[..cut], &Limits::default()).is_err());
        }
    }
}
