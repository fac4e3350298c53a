//! Atomic cross-rollup bundles: legs that are included together or not at all.
//!
//! A bundle is two or more *legs*, each an ed25519 transaction in its own namespace signed by
//! its own sender. A leg's signed bytes name the bundle: its expiry height
//! (`valid_until`), its index and the content hash of every leg ([`Leg`]). So:
//! - the bundle id ([`BundleId::of`]) is a hash over all legs' contents, and a leg's
//!   transaction hash is `H(kind || bundle id || index)`: it commits to the whole bundle;
//! - a leg is never valid alone: a leader cannot strip one leg into an ordinary transaction
//!   (the sender signed the bundle id), nor swap a leg (the other legs' hashes are signed);
//! - a rollup reading only its own namespace sees its leg's bundle id, index and the other
//!   legs' content hashes (namespace included), and knows from block validity rule 9
//!   (`weft_consensus::app`) that a finalized block holding one leg holds all of them.
//!
//! Bundle rules, enforced by [`Body::check_bundles`](crate::Body::check_bundles) for every
//! block (a body that breaks one does not decode from the wire):
//! - B1. every leg of a bundle that has a leg in the block is in the block, once;
//! - B2. the legs span at least two namespaces;
//! - B3. the block's height is at most the bundle's `valid_until`;
//! - B4. the body's bundle section lists exactly the bundles whose legs it holds, sorted by
//!   id, each with its legs' hashes in index order; `bundles_root` commits to it;
//! - B5. in each namespace list, the legs come after every plain transaction, ordered by
//!   bundle id then leg index.
//!
//! B5 fixes a bundle's *position*: after the block's plain transactions, in bundle-id
//! order, the same point in every namespace. That is where each rollup evaluates a bundle's
//! legs (the outcome rule, `weft_rollup_kit`), and since it is the namespace order too, a
//! rollup's proof covers its transactions in the order it executes them. A leader keeps
//! rule 8 (a sender's nonces in order within a namespace) by ending a leg's sender's
//! transactions for the block at its leg (mempool rule S1).
//!
//! Legs take nonces like any transaction, so they are leaves of the nonce-slot tree; a
//! leg's receipt promises the whole bundle and its evidence shows every leg's slot
//! (`crate::receipt`, `crate::evidence` rule 7).

use crate::{merkle, sha256, Digest, NamespaceId, TxHash};
use bytes::{BufMut, Bytes};
use commonware_codec::{EncodeSize, Error, FixedSize, Read, ReadExt, Write};
use std::fmt;

/// Most legs in one bundle.
pub const BUNDLE_LEGS_MAX: usize = 8;
/// Fewest legs in one bundle.
pub const BUNDLE_LEGS_MIN: usize = 2;
/// Most bytes a leg's bundle fields add to a transaction: `valid_until`, index, count and
/// the legs' content hashes.
pub const LEG_EXTRA_BYTES_MAX: usize = 8 + 1 + 1 + 32 * BUNDLE_LEGS_MAX;

/// Domain of the bundle id. The id is not bound to a chain: every leg's signature is.
const BUNDLE_ID_DOMAIN: &[u8] = b"weft/bundle/v1";
/// Domain of a leg's content hash. Version 2 hashes the payload first, so a leg's slot
/// (namespace, sender, nonce) can be shown against the bundle id without the payload
/// (bundle-leg receipt evidence, `crate::evidence`).
const LEG_CONTENT_DOMAIN: &[u8] = b"weft/leg-content/v2";

/// A bundle's id: SHA-256 over its expiry, its leg count and its legs' content hashes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BundleId(pub Digest);

impl BundleId {
    /// The id of the bundle valid until `valid_until` with these leg contents, in order.
    pub fn of(valid_until: u64, contents: &[Digest]) -> Self {
        let mut parts: Vec<&[u8]> = Vec::with_capacity(3 + contents.len());
        let valid = valid_until.to_be_bytes();
        let count = [contents.len() as u8];
        parts.push(BUNDLE_ID_DOMAIN);
        parts.push(&valid);
        parts.push(&count);
        for c in contents {
            parts.push(c.as_ref());
        }
        Self(sha256(&parts))
    }

    /// Raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0 .0
    }

    /// Parses `0x`-prefixed (or bare) hex.
    pub fn from_hex(s: &str) -> Result<Self, String> {
        Ok(Self(Digest::from(crate::from_hex_fixed::<32>(s)?)))
    }

    /// The transaction hash of leg `index` of this bundle.
    pub fn leg_hash(&self, index: u8) -> TxHash {
        TxHash(sha256(&[&[crate::tx::KIND_LEG], self.as_bytes(), &[index]]))
    }
}

impl fmt::Display for BundleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::to_hex(self.as_bytes()))
    }
}
impl fmt::Debug for BundleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BundleId({self})")
    }
}

/// Content hash of a leg: what its sender puts in the bundle for the others to sign.
pub fn leg_content_hash(
    namespace: NamespaceId,
    sender: &[u8; 32],
    nonce: u64,
    payload: &[u8],
) -> Digest {
    leg_content_hash_of(namespace, sender, nonce, &sha256(&[payload]))
}

/// [`leg_content_hash`] from the payload's SHA-256: what evidence recomputes from a leg's
/// slot without carrying its payload.
pub fn leg_content_hash_of(
    namespace: NamespaceId,
    sender: &[u8; 32],
    nonce: u64,
    payload_hash: &Digest,
) -> Digest {
    sha256(&[
        LEG_CONTENT_DOMAIN,
        &namespace.0.to_be_bytes(),
        sender,
        &nonce.to_be_bytes(),
        payload_hash.as_ref(),
    ])
}

/// A transaction's place in its bundle: the signed bundle fields of a leg.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leg {
    /// Last height at which the bundle may be included (rule B3).
    pub valid_until: u64,
    /// This leg's index in `contents`.
    pub index: u8,
    /// Every leg's content hash ([`leg_content_hash`]), in order: the commitment to the
    /// other legs a rollup reads from its own namespace.
    pub contents: Vec<Digest>,
    /// Cached: [`BundleId::of`] the fields above.
    bundle: BundleId,
}

impl Leg {
    /// The fields of leg `index` of a bundle with these contents. `None` if the index or the
    /// count is out of range.
    pub fn new(valid_until: u64, index: u8, contents: Vec<Digest>) -> Option<Self> {
        if !(BUNDLE_LEGS_MIN..=BUNDLE_LEGS_MAX).contains(&contents.len())
            || index as usize >= contents.len()
        {
            return None;
        }
        let bundle = BundleId::of(valid_until, &contents);
        Some(Self {
            valid_until,
            index,
            contents,
            bundle,
        })
    }

    /// The bundle's id.
    pub fn bundle(&self) -> BundleId {
        self.bundle
    }

    /// Number of legs in the bundle.
    pub fn count(&self) -> usize {
        self.contents.len()
    }

    /// The hashes of every leg of the bundle, in index order (this one's included).
    pub fn leg_hashes(&self) -> Vec<TxHash> {
        (0..self.contents.len() as u8)
            .map(|i| self.bundle.leg_hash(i))
            .collect()
    }

    /// Encoded size of the bundle fields.
    pub(crate) fn encoded_len(&self) -> usize {
        8 + 1 + 1 + 32 * self.contents.len()
    }

    pub(crate) fn write(&self, buf: &mut impl BufMut) {
        buf.put_u64(self.valid_until);
        buf.put_u8(self.index);
        buf.put_u8(self.contents.len() as u8);
        for c in &self.contents {
            c.write(buf);
        }
    }

    pub(crate) fn read(buf: &mut impl commonware_codec::Buf) -> Result<Self, Error> {
        let valid_until = u64::read(buf)?;
        let index = u8::read(buf)?;
        let count = u8::read(buf)? as usize;
        if !(BUNDLE_LEGS_MIN..=BUNDLE_LEGS_MAX).contains(&count) {
            return Err(Error::Invalid(
                "transaction",
                "bundle leg count outside 2..=BUNDLE_LEGS_MAX",
            ));
        }
        let mut contents = Vec::with_capacity(count);
        for _ in 0..count {
            contents.push(Digest::read(buf)?);
        }
        Self::new(valid_until, index, contents).ok_or(Error::Invalid(
            "transaction",
            "bundle leg index out of range",
        ))
    }
}

/// One bundle in a block's bundle section (rule B4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleEntry {
    /// The bundle's id.
    pub id: BundleId,
    /// Its expiry height.
    pub valid_until: u64,
    /// Its legs' transaction hashes, in index order.
    pub legs: Vec<TxHash>,
}

impl BundleEntry {
    /// Its leaf in `bundles_root`.
    pub fn leaf(&self) -> Digest {
        let mut parts: Vec<&[u8]> = Vec::with_capacity(3 + self.legs.len());
        let valid = self.valid_until.to_be_bytes();
        parts.push(b"weft/bundle-entry");
        parts.push(self.id.as_bytes());
        parts.push(&valid);
        for leg in &self.legs {
            parts.push(leg.as_bytes());
        }
        merkle::leaf_hash(&parts)
    }
}

impl Write for BundleEntry {
    fn write(&self, buf: &mut impl BufMut) {
        self.id.0.write(buf);
        buf.put_u64(self.valid_until);
        buf.put_u8(self.legs.len() as u8);
        for leg in &self.legs {
            leg.0.write(buf);
        }
    }
}
impl EncodeSize for BundleEntry {
    fn encode_size(&self) -> usize {
        Digest::SIZE + 8 + 1 + Digest::SIZE * self.legs.len()
    }
}
impl Read for BundleEntry {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, Error> {
        let id = BundleId(Digest::read(buf)?);
        let valid_until = u64::read(buf)?;
        let count = u8::read(buf)? as usize;
        if !(BUNDLE_LEGS_MIN..=BUNDLE_LEGS_MAX).contains(&count) {
            return Err(Error::Invalid(
                "block",
                "bundle entry leg count outside 2..=BUNDLE_LEGS_MAX",
            ));
        }
        let mut legs = Vec::with_capacity(count);
        for _ in 0..count {
            legs.push(TxHash(Digest::read(buf)?));
        }
        Ok(Self {
            id,
            valid_until,
            legs,
        })
    }
}

/// What a leg's sender contributes to a bundle before anyone signs.
#[derive(Clone, Debug)]
pub struct LegSpec {
    /// The leg's namespace.
    pub namespace: NamespaceId,
    /// The sender's nonce for this leg.
    pub nonce: u64,
    /// The leg's payload (its rollup's transaction, with any precondition in it).
    pub payload: Bytes,
}

/// The content hashes of a bundle's legs, from each sender's key and spec: what every
/// sender signs over (through the bundle id).
pub fn bundle_contents(legs: &[([u8; 32], &LegSpec)]) -> Vec<Digest> {
    legs.iter()
        .map(|(sender, spec)| leg_content_hash(spec.namespace, sender, spec.nonce, &spec.payload))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{test_chain, Block, Body, Limits, SigningKey, Transaction, VerifyingKey};
    use commonware_codec::Encode as _;
    use commonware_cryptography::Signer as _;
    use commonware_math::algebra::Random as _;
    use rand_core::SeedableRng as _;

    fn key(seed: u64) -> SigningKey {
        SigningKey::random(rand_chacha::ChaCha20Rng::seed_from_u64(seed))
    }

    fn spec(ns: u64, nonce: u64, payload: &'static [u8]) -> LegSpec {
        LegSpec {
            namespace: NamespaceId(ns),
            nonce,
            payload: Bytes::from_static(payload),
        }
    }

    /// A risk reversal's shape: a leg on the options rollup and one on the token rollup,
    /// from two senders.
    fn two_legs(valid_until: u64) -> Vec<Transaction> {
        let (a, b) = (key(1), key(2));
        Transaction::sign_bundle(
            &test_chain(),
            valid_until,
            &[
                (&a, spec(8, 0, b"buy call, sell put")),
                (&b, spec(7, 3, b"pay premium")),
            ],
        )
        .expect("two legs")
    }

    fn block_of(txs: Vec<Transaction>, height: u64) -> Block {
        let proposer: VerifyingKey = key(9).public_key();
        let mut parent = Block::genesis(sha256(&[b"g"]), proposer.clone(), 0);
        parent.header.height = height - 1;
        let parent = Block::new(parent.header.clone(), parent.body);
        Block::child(&parent, 0, 1, 1, proposer, Body::from_txs(txs))
    }

    #[test]
    fn legs_roundtrip_verify_and_name_their_bundle() {
        let legs = two_legs(50);
        let id = legs[0].leg().unwrap().bundle();
        for (i, leg) in legs.iter().enumerate() {
            let bytes = leg.encode();
            assert_eq!(bytes.len(), leg.encoded_len());
            let back = Transaction::decode_untrusted(&bytes, &Limits::default()).unwrap();
            assert_eq!(&back, leg);
            back.check(&Limits::default(), &test_chain()).unwrap();
            let fields = back.leg().unwrap();
            assert_eq!((fields.bundle(), fields.index as usize), (id, i));
            assert_eq!(back.hash(), id.leg_hash(i as u8));
            assert_eq!(fields.leg_hashes(), vec![legs[0].hash(), legs[1].hash()]);
        }
        assert_eq!(
            Transaction::verify_signatures(&[&legs[0], &legs[1]], &test_chain()),
            vec![true, true]
        );
    }

    /// Golden vector (computed independently with Python hashlib): the bundle id and leg
    /// hash are wire format; changing them forks
    /// every client that signs bundles.
    #[test]
    fn bundle_id_and_leg_hash_golden_vector() {
        let contents = vec![
            leg_content_hash(NamespaceId(8), &[1; 32], 0, b"call"),
            leg_content_hash(NamespaceId(7), &[2; 32], 5, b"pay"),
        ];
        let id = BundleId::of(100, &contents);
        assert_eq!(
            id.to_string(),
            "0x234f2292cf88c9ee72c2aaaceea3633ddfbdfbb049ba3b2a6daf06a974a76b84"
        );
        assert_eq!(
            id.leg_hash(1).to_string(),
            "0x40f4e538daa8d8112e0d7510f7500ff5230f7f529aed0af152dc75b6a4edefeb"
        );
    }

    /// A leader cannot relabel a leg's content: its hash stands for the bundle's commitment.
    #[test]
    fn a_leg_whose_content_differs_from_its_commitment_does_not_decode() {
        let leg = two_legs(50).remove(0);
        let mut bytes = leg.encode().to_vec();
        // The payload's last byte sits just before the leg fields and the signature.
        let payload_end = bytes.len() - 64 - leg.leg().unwrap().encoded_len() - 1;
        bytes[payload_end] ^= 1;
        let err = Transaction::decode_untrusted(&bytes, &Limits::default()).unwrap_err();
        assert!(err.to_string().contains("commitment"), "{err}");
    }

    #[test]
    fn a_whole_bundle_in_time_is_valid_and_its_section_derived() {
        let block = block_of(two_legs(5), 5);
        block.check_commitments().unwrap();
        assert_eq!(block.body.bundles.len(), 1);
        let back = Block::decode_untrusted(&block.encode(), &Limits::default()).unwrap();
        assert_eq!(back, block);
    }

    /// Rule B1: the attack a Byzantine leader would try, one leg without the other.
    #[test]
    fn a_split_bundle_is_invalid_and_does_not_decode() {
        let legs = two_legs(50);
        let block = block_of(vec![legs[0].clone()], 5);
        assert!(matches!(
            block.check_commitments(),
            Err(crate::BlockError::BundleSplit { missing, .. }) if missing == legs[1].hash()
        ));
        assert!(Block::decode_untrusted(&block.encode(), &Limits::default()).is_err());
        // Nor with the section emptied to hide the bundle.
        let mut body = block.body.clone();
        body.bundles.clear();
        let hidden = Block::child(&block_of(vec![], 4), 0, 1, 1, key(9).public_key(), body);
        assert!(hidden.check_commitments().is_err());
    }

    #[test]
    fn section_expiry_and_namespace_rules() {
        // B3: included after valid_until.
        let block = block_of(two_legs(4), 5);
        assert_eq!(
            block.check_commitments().unwrap_err().rule(),
            9,
            "an expired bundle breaks rule 9"
        );
        // B4: a section that lists an extra bundle.
        let mut block = block_of(two_legs(50), 5);
        let extra = block_of(
            Transaction::sign_bundle(
                &test_chain(),
                60,
                &[(&key(3), spec(8, 0, b"x")), (&key(4), spec(7, 0, b"y"))],
            )
            .unwrap(),
            5,
        );
        block.body.bundles.push(extra.body.bundles[0].clone());
        assert_eq!(
            block.body.check_bundles(),
            Err(crate::BlockError::BundleSectionMismatch)
        );
        // B2: both legs in one namespace.
        let one_ns = Transaction::sign_bundle(
            &test_chain(),
            60,
            &[(&key(3), spec(8, 0, b"x")), (&key(4), spec(8, 0, b"y"))],
        )
        .unwrap();
        assert!(matches!(
            block_of(one_ns, 5).check_commitments(),
            Err(crate::BlockError::BundleOneNamespace { .. })
        ));
    }

    /// B5: legs come last in their namespace list, by bundle id; `Body::from_txs` puts
    /// them there, and a body that does not is invalid.
    #[test]
    fn legs_come_last_in_each_namespace() {
        let legs = two_legs(50);
        let plain = Transaction::sign(
            &key(5),
            &test_chain(),
            NamespaceId(8),
            0,
            Bytes::from_static(b"p"),
        );
        let block = block_of(vec![legs[0].clone(), plain.clone(), legs[1].clone()], 5);
        let ns8 = &block
            .body
            .namespaces
            .iter()
            .find(|n| n.namespace == NamespaceId(8))
            .unwrap()
            .txs;
        assert_eq!(ns8, &vec![plain.clone(), legs[0].clone()]);
        block.check_commitments().unwrap();
        let mut body = block.body.clone();
        let list = body
            .namespaces
            .iter_mut()
            .find(|n| n.namespace == NamespaceId(8))
            .unwrap();
        list.txs.swap(0, 1);
        assert_eq!(
            body.check_bundles(),
            Err(crate::BlockError::LegsNotLast {
                namespace: NamespaceId(8),
                tx: plain.hash()
            })
        );
    }

    #[test]
    fn leg_counts_are_bounded() {
        let c = Digest::from([0u8; 32]);
        assert!(Leg::new(1, 0, vec![c]).is_none());
        assert!(Leg::new(1, 2, vec![c, c]).is_none());
        assert!(Leg::new(1, 0, vec![c; BUNDLE_LEGS_MAX + 1]).is_none());
        assert!(Leg::new(1, 7, vec![c; BUNDLE_LEGS_MAX]).is_some());
    }
}
