//! Evidence that a pre-confirmation was broken, checkable offline by anyone with the
//! validator set.
//!
//! A [`BrokenPreconfirmation`] holds the receipt, the finalized headers from the height
//! after the receipt's `issued_height` up to a certified one at or past its deadline, the
//! finalization certificate of the last of them, and for each height in the window a
//! [`SlotProof`] against that header's `inclusion_root`. The inclusion tree's leaves are the
//! block's nonce slots sorted by `(sender, nonce)` ([`crate::Slot`]), so one proof answers
//! both questions the promise raises: is the promised transaction in the block, and is a
//! *different* transaction with its `(sender, nonce)` (the sender's own conflict, which the
//! promise exempts)?
//!
//! [`BrokenPreconfirmation::judge`] returns what the evidence shows. Only
//! [`Verdict::Broken`] is a fault, and [`BrokenPreconfirmation::verify`] accepts nothing
//! else, so evidence verifies if and only if the promise was broken. Rules, numbered as
//! their errors say:
//! 1. the receipt is valid (receipt rules 1 to 5, `crate::receipt`);
//! 2. the first header is at `issued_height + 1`, each next one extends the previous (its
//!    parent and height), and there are at most `deadline - issued +`
//!    [`EVIDENCE_HEADERS_EXTRA_MAX`] of them;
//! 3. the certificate finalizes the last header under the validator set (so every header
//!    below it, by rule 2, is final too);
//! 4. there is one slot proof per header from the first, none past the deadline, and each
//!    checks against its header's `inclusion_root` and `tx_count`;
//! 5. a proof that shows the slot held ends the window: by the promised transaction the
//!    promise was kept, by another one the sender conflicted; nothing may follow it;
//! 6. the promise was broken if every height in `(issued, deadline]` is finalized and shows
//!    the slot empty. Fewer finalized heights is not a fault: the network stalled, and no
//!    issuer can be blamed for that.
//! 7. a bundle leg's receipt (`crate::receipt::RECEIPT_VERSION_LEG`) comes with a
//!    [`BundleWitness`], and only it does: the slot of every leg, from which the bundle id
//!    is recomputed (the receipt's transaction must be one of its legs, in the receipt's
//!    slot), and for every other leg one slot proof per height, like the receipt's own.
//!    At each height the window ends if *any* leg's slot is held: by its own leg, the bundle
//!    is in (kept; block rule B1 puts all legs in one block); by another transaction, that
//!    leg's sender voided the bundle (a conflict, exempt like the sender's own). A bundle
//!    whose counterparty voids it is the trader's counterparty risk, not the issuer's fault.
//!
//! The promise covers the window only. An honest issuer reads its finalized head (which the
//! store moves only after a block's transaction commits) before it checks the sender's
//! finalized nonce, so the nonce it checks is at least as new as `issued_height`, and it
//! never promises a slot already consumed at or below it.

use crate::{
    leg_content_hash_of, merkle, BlockDigest, BundleId, ChainId, Digest, Header, Limits,
    NamespaceId, Receipt, ReceiptError, Slot, Transaction, TxHash, VerifyingKey, BUNDLE_LEGS_MAX,
    BUNDLE_LEGS_MIN, PROOF_DEPTH_MAX,
};
use bytes::BufMut;
use commonware_codec::{EncodeSize, Error, RangeCfg, Read, ReadExt, Write};
use thiserror::Error as ThisError;

/// The evidence format for a plain transaction's receipt.
pub const EVIDENCE_VERSION: u8 = 1;
/// The evidence format for a bundle leg's receipt: version 1 followed by its
/// [`BundleWitness`].
pub const EVIDENCE_VERSION_BUNDLE: u8 = 2;
/// Most headers past the deadline that evidence may carry to reach a certified one (not
/// every finalized height has its own certificate stored).
pub const EVIDENCE_HEADERS_EXTRA_MAX: u64 = 1024;
/// Largest finalization certificate evidence may carry, in bytes.
pub const EVIDENCE_CERTIFICATE_BYTES_MAX: usize = 256 * 1024;

/// A leaf of a header's inclusion tree, with its audit path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotLeaf {
    /// The slot at this leaf.
    pub slot: Slot,
    /// Its index among the block's sorted slots.
    pub index: u32,
    /// Siblings from the leaf upward.
    pub path: Vec<Digest>,
}

/// What one block's inclusion tree says about one `(sender, nonce)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotProof {
    /// No transaction holds it: the adjacent leaves that bracket it (none past an edge; both
    /// none for an empty block).
    Empty {
        /// The leaf just below the slot's key.
        below: Option<SlotLeaf>,
        /// The leaf just above it.
        above: Option<SlotLeaf>,
    },
    /// The transaction that holds it.
    Held(SlotLeaf),
}

impl SlotProof {
    /// The proof for `key` in a block whose sorted slots are `slots` ([`crate::Body::slots`]).
    pub fn build(slots: &[Slot], key: ([u8; 32], u64)) -> Self {
        Self::build_many(slots, &[key]).remove(0)
    }

    /// The proofs for several keys in one block, hashing its tree once (a bundle leg's
    /// evidence proves every leg's slot at each height).
    pub fn build_many(slots: &[Slot], keys: &[([u8; 32], u64)]) -> Vec<Self> {
        let leaves: Vec<Digest> = slots.iter().map(Slot::leaf).collect();
        // Per key: the held leaf, or the two that bracket it.
        let found: Vec<Result<usize, usize>> = keys
            .iter()
            .map(|key| slots.binary_search_by(|s| s.key().cmp(key)))
            .collect();
        let mut wanted: Vec<usize> = Vec::new();
        for f in &found {
            match *f {
                Ok(i) => wanted.push(i),
                Err(i) => {
                    wanted.extend(i.checked_sub(1));
                    wanted.extend((i < slots.len()).then_some(i));
                }
            }
        }
        wanted.sort_unstable();
        wanted.dedup();
        let paths: std::collections::HashMap<usize, Vec<Digest>> = wanted
            .iter()
            .copied()
            .zip(merkle::prove_many(&leaves, &wanted))
            .collect();
        let leaf = |i: usize| SlotLeaf {
            slot: slots[i],
            index: i as u32,
            path: paths[&i].clone(),
        };
        found
            .into_iter()
            .map(|f| match f {
                Ok(i) => Self::Held(leaf(i)),
                Err(i) => Self::Empty {
                    below: i.checked_sub(1).map(leaf),
                    above: (i < slots.len()).then(|| leaf(i)),
                },
            })
            .collect()
    }

    /// Checks the proof for `key` against `header`: the transaction in the slot, or `None`
    /// if it is empty.
    pub fn check(&self, header: &Header, key: ([u8; 32], u64)) -> Result<Option<TxHash>, String> {
        let count = header.tx_count as usize;
        let proves = |l: &SlotLeaf| {
            merkle::verify(
                &l.slot.leaf(),
                l.index as usize,
                count,
                &l.path,
                &header.inclusion_root,
            )
        };
        match self {
            Self::Held(l) => {
                if l.slot.key() != key {
                    return Err("the held leaf is another slot".into());
                }
                if !proves(l) {
                    return Err("the held leaf is not in the inclusion tree".into());
                }
                Ok(Some(l.slot.tx))
            }
            Self::Empty { below, above } => {
                for l in below.iter().chain(above.iter()) {
                    if !proves(l) {
                        return Err(format!(
                            "leaf {} is not in the inclusion tree of {count} leaves",
                            l.index
                        ));
                    }
                }
                let adjacent = match (below, above) {
                    (None, None) => count == 0 && header.inclusion_root == merkle::empty_root(),
                    (Some(b), None) => b.index as usize + 1 == count,
                    (None, Some(a)) => a.index == 0,
                    (Some(b), Some(a)) => b.index.checked_add(1) == Some(a.index),
                };
                if !adjacent {
                    return Err("the bracketing leaves are not adjacent".into());
                }
                // Leaves are sorted by key, so adjacent ones strictly around `key` leave no
                // room for a leaf with it.
                let brackets = below.as_ref().is_none_or(|b| b.slot.key() < key)
                    && above.as_ref().is_none_or(|a| key < a.slot.key());
                if !brackets {
                    return Err("the bracketing leaves do not bracket the slot".into());
                }
                Ok(None)
            }
        }
    }
}

/// One leg's slot, with the hash of its payload: enough to recompute the leg's content
/// hash (`crate::bundle`) without the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegSlot {
    /// The leg's namespace.
    pub namespace: NamespaceId,
    /// Its sender.
    pub sender: [u8; 32],
    /// Its nonce.
    pub nonce: u64,
    /// SHA-256 of its payload.
    pub payload_hash: Digest,
}

/// Encoded size of a [`LegSlot`], in bytes.
pub const LEG_SLOT_BYTES: usize = 8 + 32 + 8 + 32;

impl LegSlot {
    /// The slot of a leg transaction.
    pub fn of(tx: &Transaction) -> Self {
        Self {
            namespace: tx.namespace(),
            sender: *tx.sender(),
            nonce: tx.nonce(),
            payload_hash: crate::sha256(&[tx.payload()]),
        }
    }

    fn key(&self) -> ([u8; 32], u64) {
        (self.sender, self.nonce)
    }

    fn content(&self) -> Digest {
        leg_content_hash_of(self.namespace, &self.sender, self.nonce, &self.payload_hash)
    }
}

/// What a bundle leg's evidence adds (rule 7): the bundle's legs and their slot proofs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleWitness {
    /// The bundle's expiry (part of its id).
    pub valid_until: u64,
    /// Every leg's slot, in index order (the receipt's own included).
    pub legs: Vec<LegSlot>,
    /// For every leg but the receipt's, in index order: one proof per height, as many as
    /// the evidence's own `slots`.
    pub others: Vec<Vec<SlotProof>>,
}

impl BundleWitness {
    /// The witness for a receipt on one of `legs` (the whole bundle, in index order), with
    /// no proofs yet. `None` if `legs` are not one bundle's legs in order.
    pub fn for_legs(legs: &[Transaction]) -> Option<Self> {
        let first = legs.first()?.leg()?;
        let ok = legs.len() == first.count()
            && legs.iter().enumerate().all(|(i, t)| {
                t.leg()
                    .is_some_and(|l| l.bundle() == first.bundle() && l.index as usize == i)
            });
        ok.then(|| Self {
            valid_until: first.valid_until,
            legs: legs.iter().map(LegSlot::of).collect(),
            others: Vec::new(),
        })
    }

    /// Rule 7's check that these legs are `promise`'s bundle: a bundle's leg count, and the
    /// promised transaction is one of its legs, in the promise's slot. Returns that leg's
    /// index.
    pub fn leg_of(&self, promise: &crate::Promise) -> Result<usize, String> {
        let n = self.legs.len();
        if !(BUNDLE_LEGS_MIN..=BUNDLE_LEGS_MAX).contains(&n) {
            return Err(format!(
                "{n} legs, a bundle has {BUNDLE_LEGS_MIN} to {BUNDLE_LEGS_MAX}"
            ));
        }
        let id = self.bundle_id();
        let Some(own) = (0..n).find(|&i| id.leg_hash(i as u8) == promise.tx) else {
            return Err(format!(
                "the receipt's transaction is not a leg of bundle {id}"
            ));
        };
        let slot = &self.legs[own];
        if slot.namespace != promise.namespace || slot.key() != (promise.sender, promise.nonce) {
            return Err(format!(
                "leg {own} of bundle {id} is not in the receipt's slot"
            ));
        }
        Ok(own)
    }

    /// The slot keys proofs must be built for, in [`BundleWitness::others`] order: every leg
    /// but leg `own`.
    pub fn other_keys(&self, own: usize) -> Vec<([u8; 32], u64)> {
        (0..self.legs.len())
            .filter(|&i| i != own)
            .map(|i| self.legs[i].key())
            .collect()
    }

    /// The id of the bundle these legs make.
    pub fn bundle_id(&self) -> BundleId {
        let contents: Vec<Digest> = self.legs.iter().map(LegSlot::content).collect();
        BundleId::of(self.valid_until, &contents)
    }
}

/// What evidence shows about a receipt's promise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every height of the window is finalized and none holds the slot: the promise was
    /// broken, and the issuer is at fault.
    Broken,
    /// The promised transaction is finalized at `height`, inside the window.
    Kept {
        /// Where.
        height: u64,
    },
    /// A different transaction with the same `(sender, nonce)` was finalized first, at
    /// `height`: the sender's conflict, which the promise exempts. For a bundle leg's
    /// receipt, the slot may be any leg's (that leg's sender voided the bundle).
    Conflict {
        /// Where.
        height: u64,
        /// The transaction that took the slot.
        tx: TxHash,
    },
}

/// Why evidence shows no broken promise (the numbers are the module's rules).
#[derive(Debug, ThisError, Clone, PartialEq, Eq)]
pub enum EvidenceError {
    /// Rule 1.
    #[error("rule 1: {0}")]
    Receipt(#[from] ReceiptError),
    /// Rule 2.
    #[error("rule 2: header {index} (height {height}): {reason}")]
    Headers {
        /// Index among the evidence's headers.
        index: usize,
        /// The height it should have.
        height: u64,
        /// What is wrong.
        reason: String,
    },
    /// Rule 3.
    #[error("rule 3: the certificate does not finalize the last header: {0}")]
    Certificate(String),
    /// Rule 4.
    #[error("rule 4: slot proof at height {height}: {reason}")]
    Slot {
        /// The height it is for.
        height: u64,
        /// What is wrong.
        reason: String,
    },
    /// Rule 5.
    #[error("rule 5: slot proofs continue after the slot was held at height {height}")]
    AfterHeld {
        /// Where the slot was held.
        height: u64,
    },
    /// Rule 6.
    #[error(
        "rule 6: heights up to {shown} are shown, the deadline is {deadline}: the window is not shown finalized (a stall is no fault)"
    )]
    WindowNotShown {
        /// The last height with a slot proof (the issued height if none).
        shown: u64,
        /// The receipt's deadline.
        deadline: u64,
    },
    /// Rule 7.
    #[error("rule 7: {0}")]
    Bundle(String),
    /// The evidence is sound but shows no broken promise.
    #[error("the promise was not broken: {0:?}")]
    NotBroken(Verdict),
}

/// Evidence that a receipt's promise was broken (module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenPreconfirmation {
    /// The receipt.
    pub receipt: Receipt,
    /// Finalized headers from `issued_height + 1` up to a certified one.
    pub headers: Vec<Header>,
    /// The finalization certificate of the last header.
    pub certificate: Vec<u8>,
    /// One proof per header from the first, for the receipt's `(sender, nonce)`.
    pub slots: Vec<SlotProof>,
    /// For a bundle leg's receipt, the bundle's legs and their proofs (rule 7); `None` for
    /// a plain transaction's.
    pub bundle: Option<BundleWitness>,
}

/// Another leg's slot as rule 7 checks it: its key, its leg hash and its proofs.
type OtherLeg<'a> = (([u8; 32], u64), TxHash, &'a [SlotProof]);

impl BrokenPreconfirmation {
    /// What the evidence shows, checked against the network's chain, validator set and
    /// receipt window. `certified` checks a finalization certificate against the validator
    /// set and returns the block it finalizes (the client SDK passes Weft's certificate
    /// verifier; this crate does not depend on consensus).
    pub fn judge(
        &self,
        chain: &ChainId,
        validators: &[VerifyingKey],
        window_max: u64,
        certified: impl FnOnce(&[u8]) -> Result<BlockDigest, String>,
    ) -> Result<Verdict, EvidenceError> {
        // Rule 1.
        self.receipt.verify(chain, validators, window_max)?;
        let p = &self.receipt.promise;
        let (issued, deadline) = (p.issued_height, p.deadline_height);
        // Rule 2. Heights below stay below `deadline + 1 + EVIDENCE_HEADERS_EXTRA_MAX`, which
        // must not overflow (a Byzantine issuer may sign any deadline).
        if deadline
            .checked_add(EVIDENCE_HEADERS_EXTRA_MAX + 1)
            .is_none()
        {
            return Err(EvidenceError::Headers {
                index: 0,
                height: issued + 1,
                reason: format!("deadline {deadline} is beyond any height"),
            });
        }
        let headers_max = (deadline - issued) + EVIDENCE_HEADERS_EXTRA_MAX;
        if self.headers.is_empty() || self.headers.len() as u64 > headers_max {
            return Err(EvidenceError::Headers {
                index: 0,
                height: issued + 1,
                reason: format!(
                    "{} headers, expected 1 to {headers_max}",
                    self.headers.len()
                ),
            });
        }
        let mut parent: Option<BlockDigest> = None;
        for (i, h) in self.headers.iter().enumerate() {
            let height = issued + 1 + i as u64;
            let reason = if h.height != height {
                Some(format!("header is at height {}", h.height))
            } else if parent.is_some_and(|d| d != h.parent) {
                Some("header does not extend the previous one".into())
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(EvidenceError::Headers {
                    index: i,
                    height,
                    reason,
                });
            }
            parent = Some(h.digest());
        }
        // Rule 3.
        let last = parent.expect("at least one header");
        let finalized = certified(&self.certificate).map_err(EvidenceError::Certificate)?;
        if finalized != last {
            return Err(EvidenceError::Certificate(format!(
                "it finalizes {finalized}, the last header is {last}"
            )));
        }
        // Rule 7, before the proofs it adds are read.
        let others = self.other_legs()?;
        // Rules 4 and 5.
        let window = (deadline - issued) as usize;
        if self.slots.len() > self.headers.len().min(window) {
            return Err(EvidenceError::Slot {
                height: issued + 1 + self.slots.len() as u64 - 1,
                reason: format!(
                    "{} slot proofs for {} headers and a {window}-height window",
                    self.slots.len(),
                    self.headers.len()
                ),
            });
        }
        let key = (p.sender, p.nonce);
        for (i, (proof, header)) in self.slots.iter().zip(&self.headers).enumerate() {
            let height = header.height;
            let held = proof
                .check(header, key)
                .map_err(|reason| EvidenceError::Slot { height, reason })?;
            // Each slot held at this height: by its own transaction, or by another one.
            let mut outcomes: Vec<(bool, TxHash)> =
                held.map(|tx| (tx == p.tx, tx)).into_iter().collect();
            for (other_key, leg_hash, proofs) in &others {
                let held =
                    proofs[i]
                        .check(header, *other_key)
                        .map_err(|reason| EvidenceError::Slot {
                            height,
                            reason: format!("another leg's slot: {reason}"),
                        })?;
                outcomes.extend(held.map(|tx| (tx == *leg_hash, tx)));
            }
            if !outcomes.is_empty() {
                if i + 1 != self.slots.len() {
                    return Err(EvidenceError::AfterHeld { height });
                }
                // Any leg in means the whole bundle is in (B1), so a kept leg wins.
                return Ok(if outcomes.iter().any(|(own, _)| *own) {
                    Verdict::Kept { height }
                } else {
                    Verdict::Conflict {
                        height,
                        tx: outcomes[0].1,
                    }
                });
            }
        }
        // Rule 6.
        if self.slots.len() < window {
            return Err(EvidenceError::WindowNotShown {
                shown: issued + self.slots.len() as u64,
                deadline,
            });
        }
        Ok(Verdict::Broken)
    }

    /// Rule 7: the other legs' slots and proofs for a leg's receipt, none for a plain one.
    fn other_legs(&self) -> Result<Vec<OtherLeg<'_>>, EvidenceError> {
        let p = &self.receipt.promise;
        let leg_receipt = p.version == crate::receipt::RECEIPT_VERSION_LEG;
        let bad = |reason: String| Err(EvidenceError::Bundle(reason));
        let w = match (&self.bundle, leg_receipt) {
            (None, false) => return Ok(Vec::new()),
            (Some(_), false) => {
                return bad("a plain transaction's receipt carries a bundle witness".into())
            }
            (None, true) => return bad("a bundle leg's receipt needs the bundle's witness".into()),
            (Some(w), true) => w,
        };
        let own = w.leg_of(p).map_err(EvidenceError::Bundle)?;
        let (n, id) = (w.legs.len(), w.bundle_id());
        if w.others.len() != n - 1 {
            return bad(format!(
                "{} proof lists for {} other legs",
                w.others.len(),
                n - 1
            ));
        }
        if let Some(k) = w.others.iter().position(|o| o.len() != self.slots.len()) {
            return bad(format!(
                "{} proofs for another leg (list {k}), {} for the receipt's own slot",
                w.others[k].len(),
                self.slots.len()
            ));
        }
        let mut lists = w.others.iter();
        Ok((0..n)
            .filter(|&i| i != own)
            .map(|i| {
                let proofs = lists.next().expect("n - 1 lists");
                (w.legs[i].key(), id.leg_hash(i as u8), proofs.as_slice())
            })
            .collect())
    }

    /// Accepts the evidence only if it shows the promise broken ([`Verdict::Broken`]).
    pub fn verify(
        &self,
        chain: &ChainId,
        validators: &[VerifyingKey],
        window_max: u64,
        certified: impl FnOnce(&[u8]) -> Result<BlockDigest, String>,
    ) -> Result<(), EvidenceError> {
        match self.judge(chain, validators, window_max, certified)? {
            Verdict::Broken => Ok(()),
            other => Err(EvidenceError::NotBroken(other)),
        }
    }

    /// Decodes untrusted bytes, bounded by the network's receipt window.
    pub fn decode_bytes(bytes: &[u8], limits: &Limits) -> Result<Self, crate::DecodeError> {
        use commonware_codec::Decode as _;
        Self::decode_cfg(commonware_codec::Copying(bytes), limits).map_err(|e| {
            crate::DecodeError::Malformed {
                what: "broken pre-confirmation evidence",
                reason: e.to_string(),
            }
        })
    }
}

impl Write for SlotLeaf {
    fn write(&self, buf: &mut impl BufMut) {
        self.slot.write(buf);
        buf.put_u32(self.index);
        self.path.write(buf);
    }
}
impl EncodeSize for SlotLeaf {
    fn encode_size(&self) -> usize {
        crate::SLOT_BYTES + 4 + self.path.encode_size()
    }
}
impl Read for SlotLeaf {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            slot: Slot::read(buf)?,
            index: u32::read(buf)?,
            path: Vec::<Digest>::read_cfg(buf, &((0..=PROOF_DEPTH_MAX).into(), ()))?,
        })
    }
}

impl Write for SlotProof {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Empty { below, above } => {
                buf.put_u8(0);
                below.write(buf);
                above.write(buf);
            }
            Self::Held(l) => {
                buf.put_u8(1);
                l.write(buf);
            }
        }
    }
}
impl EncodeSize for SlotProof {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Empty { below, above } => below.encode_size() + above.encode_size(),
            Self::Held(l) => l.encode_size(),
        }
    }
}
impl Read for SlotProof {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Self::Empty {
                below: Option::<SlotLeaf>::read(buf)?,
                above: Option::<SlotLeaf>::read(buf)?,
            }),
            1 => Ok(Self::Held(SlotLeaf::read(buf)?)),
            tag => Err(Error::InvalidEnum(tag)),
        }
    }
}

impl Write for LegSlot {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u64(self.namespace.0);
        buf.put_slice(&self.sender);
        buf.put_u64(self.nonce);
        self.payload_hash.write(buf);
    }
}
impl EncodeSize for LegSlot {
    fn encode_size(&self) -> usize {
        LEG_SLOT_BYTES
    }
}
impl Read for LegSlot {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            namespace: NamespaceId(u64::read(buf)?),
            sender: <[u8; 32]>::read(buf)?,
            nonce: u64::read(buf)?,
            payload_hash: Digest::read(buf)?,
        })
    }
}

impl Write for BundleWitness {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u64(self.valid_until);
        self.legs.write(buf);
        self.others.write(buf);
    }
}
impl EncodeSize for BundleWitness {
    fn encode_size(&self) -> usize {
        8 + self.legs.encode_size() + self.others.encode_size()
    }
}
impl Read for BundleWitness {
    /// The most slot proofs per leg (the receipt window).
    type Cfg = usize;
    fn read_cfg(buf: &mut impl commonware_codec::Buf, window: &usize) -> Result<Self, Error> {
        let proofs = (RangeCfg::from(0..=*window), ());
        Ok(Self {
            valid_until: u64::read(buf)?,
            legs: Vec::<LegSlot>::read_cfg(
                buf,
                &(RangeCfg::from(BUNDLE_LEGS_MIN..=BUNDLE_LEGS_MAX), ()),
            )?,
            others: Vec::<Vec<SlotProof>>::read_cfg(
                buf,
                &(RangeCfg::from(0..=BUNDLE_LEGS_MAX - 1), proofs),
            )?,
        })
    }
}

impl Write for BrokenPreconfirmation {
    fn write(&self, buf: &mut impl BufMut) {
        // Version 1 stays byte-for-byte what it was; a leg's evidence appends its witness.
        buf.put_u8(if self.bundle.is_some() {
            EVIDENCE_VERSION_BUNDLE
        } else {
            EVIDENCE_VERSION
        });
        self.receipt.write(buf);
        self.headers.write(buf);
        self.certificate.write(buf);
        self.slots.write(buf);
        if let Some(w) = &self.bundle {
            w.write(buf);
        }
    }
}
impl EncodeSize for BrokenPreconfirmation {
    fn encode_size(&self) -> usize {
        1 + crate::RECEIPT_BYTES
            + self.headers.encode_size()
            + self.certificate.encode_size()
            + self.slots.encode_size()
            + self.bundle.as_ref().map_or(0, EncodeSize::encode_size)
    }
}
impl Read for BrokenPreconfirmation {
    type Cfg = Limits;
    fn read_cfg(buf: &mut impl commonware_codec::Buf, limits: &Limits) -> Result<Self, Error> {
        let version = u8::read(buf)?;
        if version != EVIDENCE_VERSION && version != EVIDENCE_VERSION_BUNDLE {
            return Err(Error::Invalid(
                "BrokenPreconfirmation",
                "unknown evidence version",
            ));
        }
        let window = limits.preconf_window_heights as usize;
        let headers_max = window.saturating_add(EVIDENCE_HEADERS_EXTRA_MAX as usize);
        Ok(Self {
            receipt: Receipt::read(buf)?,
            headers: Vec::<Header>::read_cfg(buf, &(RangeCfg::from(1..=headers_max), ()))?,
            certificate: Vec::<u8>::read_cfg(
                buf,
                &(RangeCfg::from(0..=EVIDENCE_CERTIFICATE_BYTES_MAX), ()),
            )?,
            slots: Vec::<SlotProof>::read_cfg(buf, &(RangeCfg::from(0..=window), ()))?,
            bundle: if version == EVIDENCE_VERSION_BUNDLE {
                Some(BundleWitness::read_cfg(buf, &window)?)
            } else {
                None
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Block, Body, NamespaceId, Promise, SigningKey, Transaction};
    use commonware_codec::Encode as _;
    use commonware_cryptography::Signer as _;

    const WINDOW: u64 = 16;

    struct Chain {
        blocks: Vec<Block>,
        issuer: SigningKey,
        sender: SigningKey,
    }

    fn tx(key: &SigningKey, nonce: u64, payload: &'static [u8]) -> Transaction {
        Transaction::sign(
            key,
            &crate::test_chain(),
            NamespaceId(8),
            nonce,
            bytes::Bytes::from_static(payload),
        )
    }

    /// Blocks 0..=top; `at` places extra transactions at a height. Every block also holds
    /// other senders' transactions around the promised slot, so proofs are not trivial.
    fn chain(top: u64, at: &[(u64, Transaction)]) -> Chain {
        let proposer = SigningKey::from_seed(1).public_key();
        let mut blocks = vec![Block::genesis(crate::sha256(&[b"g"]), proposer.clone(), 0)];
        for h in 1..=top {
            let mut txs: Vec<Transaction> = (0..(h % 5))
                .map(|i| tx(&SigningKey::from_seed(100 + i), h, b"other"))
                .collect();
            txs.extend(at.iter().filter(|(x, _)| *x == h).map(|(_, t)| t.clone()));
            let body = Body::from_txs(txs);
            let parent = blocks.last().unwrap();
            blocks.push(Block::child(parent, 0, h, h, proposer.clone(), body));
        }
        Chain {
            blocks,
            issuer: SigningKey::from_seed(2),
            sender: SigningKey::from_seed(3),
        }
    }

    impl Chain {
        /// The receipt for `promised`, issued at `issued`, due `WINDOW` heights later.
        fn receipt(&self, promised: &Transaction, issued: u64) -> Receipt {
            Promise::for_tx(
                crate::test_chain(),
                promised,
                issued,
                issued + WINDOW,
                self.issuer.public_key(),
            )
            .sign(&self.issuer)
        }

        /// Evidence as an honest builder makes it: slot proofs up to the deadline or the
        /// first held slot, headers up to `certified`.
        fn evidence(&self, receipt: &Receipt, certified: u64) -> BrokenPreconfirmation {
            let p = &receipt.promise;
            let mut slots = Vec::new();
            for h in p.issued_height + 1..=p.deadline_height.min(certified) {
                let proof =
                    SlotProof::build(&self.blocks[h as usize].body.slots(), (p.sender, p.nonce));
                let held = matches!(proof, SlotProof::Held(_));
                slots.push(proof);
                if held {
                    break;
                }
            }
            BrokenPreconfirmation {
                receipt: receipt.clone(),
                headers: self.blocks[p.issued_height as usize + 1..=certified as usize]
                    .iter()
                    .map(|b| b.header.clone())
                    .collect(),
                certificate: self.blocks[certified as usize].digest().0.as_ref().to_vec(),
                slots,
                bundle: None,
            }
        }

        fn validators(&self) -> Vec<VerifyingKey> {
            vec![self.issuer.public_key()]
        }
    }

    /// Stands in for Weft's certificate verifier (which needs consensus): a "certificate"
    /// here is the finalized digest itself. The process tests check real certificates.
    fn certified(bytes: &[u8]) -> Result<BlockDigest, String> {
        let d: [u8; 32] = bytes.try_into().map_err(|_| "not 32 bytes".to_string())?;
        Ok(BlockDigest(d.into()))
    }

    fn judge(c: &Chain, e: &BrokenPreconfirmation) -> Result<Verdict, EvidenceError> {
        e.judge(&crate::test_chain(), &c.validators(), WINDOW, certified)
    }

    #[test]
    fn a_withheld_transaction_is_a_broken_promise() {
        let c = chain(40, &[]);
        let promised = tx(&c.sender, 0, b"withheld");
        let r = c.receipt(&promised, 10);
        for certified_at in [26, 30] {
            let e = c.evidence(&r, certified_at);
            assert_eq!(judge(&c, &e), Ok(Verdict::Broken));
            assert_eq!(
                e.verify(&crate::test_chain(), &c.validators(), WINDOW, certified),
                Ok(())
            );
            let bytes = e.encode();
            let limits = Limits {
                preconf_window_heights: WINDOW,
                ..Limits::default()
            };
            assert_eq!(
                BrokenPreconfirmation::decode_bytes(&bytes, &limits).unwrap(),
                e
            );
        }
    }

    #[test]
    fn a_kept_promise_or_the_senders_conflict_does_not_verify() {
        let c = chain(40, &[]);
        let promised = tx(&c.sender, 0, b"promised");
        let kept = chain(40, &[(15, promised.clone())]);
        let r = kept.receipt(&promised, 10);
        let e = kept.evidence(&r, 26);
        assert_eq!(judge(&kept, &e), Ok(Verdict::Kept { height: 15 }));
        assert_eq!(
            e.verify(&crate::test_chain(), &kept.validators(), WINDOW, certified),
            Err(EvidenceError::NotBroken(Verdict::Kept { height: 15 }))
        );
        // Another transaction of the sender's with the same nonce, at height 13.
        let other = tx(&c.sender, 0, b"the sender changed its mind");
        let conflicted = chain(40, &[(13, other.clone())]);
        let e = conflicted.evidence(&r, 26);
        assert_eq!(
            judge(&conflicted, &e),
            Ok(Verdict::Conflict {
                height: 13,
                tx: other.hash()
            })
        );
    }

    /// A Byzantine issuer may sign any heights: arithmetic near the top of the range is an
    /// error, not an overflow.
    #[test]
    fn heights_near_the_end_of_the_range_are_refused_not_overflowed() {
        let c = chain(12, &[]);
        let promised = tx(&c.sender, 0, b"withheld");
        let r = Promise::for_tx(
            crate::test_chain(),
            &promised,
            u64::MAX - 3,
            u64::MAX - 1,
            c.issuer.public_key(),
        )
        .sign(&c.issuer);
        let mut e = c.evidence(&c.receipt(&promised, 10), 12);
        e.receipt = r;
        assert!(matches!(
            e.judge(&crate::test_chain(), &c.validators(), WINDOW, certified),
            Err(EvidenceError::Headers { .. })
        ));
    }

    #[test]
    fn a_stall_is_no_fault() {
        let c = chain(20, &[]);
        let promised = tx(&c.sender, 0, b"withheld");
        let r = c.receipt(&promised, 10);
        // Finalized only up to 20 of a window ending at 26.
        let e = c.evidence(&r, 20);
        assert_eq!(
            judge(&c, &e),
            Err(EvidenceError::WindowNotShown {
                shown: 20,
                deadline: 26
            })
        );
    }

    /// Each way an accuser could dress up a kept promise as broken is refused.
    #[test]
    fn forged_evidence_is_refused_by_its_rule() {
        let promised = tx(&SigningKey::from_seed(3), 0, b"promised");
        let c = chain(40, &[(15, promised.clone())]);
        let r = c.receipt(&promised, 10);
        let honest = c.evidence(&r, 26);
        let at_15 = 4; // index of height 15's proof
        let slot_err = |e: Result<Verdict, EvidenceError>, height: u64| {
            assert!(
                matches!(&e, Err(EvidenceError::Slot { height: h, .. }) if *h == height),
                "{e:?}"
            );
        };

        // Hide the held leaf: claim the neighbours around it are adjacent.
        let slots = c.blocks[15].body.slots();
        let i = slots
            .binary_search_by(|s| s.key().cmp(&(*promised.sender(), 0)))
            .unwrap();
        let leaves: Vec<Digest> = slots.iter().map(Slot::leaf).collect();
        let leaf = |j: usize| SlotLeaf {
            slot: slots[j],
            index: j as u32,
            path: merkle::prove(&leaves, j),
        };
        let mut forged = honest.clone();
        forged.slots[at_15] = SlotProof::Empty {
            below: i.checked_sub(1).map(leaf),
            above: (i + 1 < slots.len()).then(|| leaf(i + 1)),
        };
        slot_err(judge(&c, &forged), 15);
        // Relabel the neighbours' indices to look adjacent: their paths no longer prove.
        if let SlotProof::Empty { above: Some(a), .. } = &mut forged.slots[at_15] {
            a.index -= 1;
        }
        slot_err(judge(&c, &forged), 15);
        // Claim the block is empty.
        forged.slots[at_15] = SlotProof::Empty {
            below: None,
            above: None,
        };
        slot_err(judge(&c, &forged), 15);
        // Present the held leaf as another transaction.
        let mut l = leaf(i);
        l.slot.tx = TxHash(crate::sha256(&[b"another"]));
        forged.slots[at_15] = SlotProof::Held(l);
        slot_err(judge(&c, &forged), 15);

        // Drop the proof at 15 and shift the rest: the proofs no longer match their headers.
        let mut shifted = c.evidence(&r, 26);
        shifted.slots = (11..=26)
            .filter(|h| *h != 15)
            .map(|h| SlotProof::build(&c.blocks[h].body.slots(), (*promised.sender(), 0)))
            .collect();
        assert!(matches!(
            judge(&c, &shifted),
            Err(EvidenceError::Slot { .. })
        ));

        // Headers from a different (unfinalized) fork at 15: the chain no longer links.
        let fork = chain(40, &[]);
        let mut forked = honest.clone();
        forked.headers[at_15] = fork.blocks[15].header.clone();
        assert!(matches!(
            judge(&c, &forked),
            Err(EvidenceError::Headers { index: 5, .. })
        ));
        // The whole fork, with its own last header: the certificate finalizes another block.
        let mut other = fork.evidence(&r, 26);
        other.certificate = honest.certificate.clone();
        assert!(matches!(
            judge(&c, &other),
            Err(EvidenceError::Certificate(_))
        ));
        // Headers that start elsewhere.
        let mut late = honest.clone();
        late.headers.remove(0);
        assert!(matches!(
            judge(&c, &late),
            Err(EvidenceError::Headers { index: 0, .. })
        ));
        // Proofs past the held slot.
        let mut more = honest.clone();
        more.slots.push(SlotProof::build(
            &c.blocks[16].body.slots(),
            (*promised.sender(), 0),
        ));
        assert_eq!(
            judge(&c, &more),
            Err(EvidenceError::AfterHeld { height: 15 })
        );
        // A receipt edited to a later issued height (to skip height 15): its signature fails.
        let mut edited = honest.clone();
        edited.receipt.promise.issued_height = 15;
        assert!(matches!(
            judge(&c, &edited),
            Err(EvidenceError::Receipt(ReceiptError::BadSignature))
        ));
    }

    /// Slot proofs say exactly whether a key is in a block, for blocks of many sizes, keys
    /// below, between, equal to and above the block's.
    #[test]
    fn slot_proofs_agree_with_membership() {
        let proposer = SigningKey::from_seed(1).public_key();
        let g = Block::genesis(crate::sha256(&[b"g"]), proposer.clone(), 0);
        for n in 0..24u64 {
            let txs: Vec<Transaction> = (0..n)
                .map(|i| tx(&SigningKey::from_seed(200 + i), 2 * i + 1, b"x"))
                .collect();
            let b = Block::child(&g, 0, 1, 1, proposer.clone(), Body::from_txs(txs));
            let slots = b.body.slots();
            let mut keys: Vec<([u8; 32], u64)> = slots.iter().map(Slot::key).collect();
            for s in &slots {
                keys.push((s.sender, s.nonce - 1));
                keys.push((s.sender, s.nonce + 1));
            }
            keys.push(([0; 32], 0));
            keys.push(([0xff; 32], u64::MAX));
            // Built together, the proofs are the ones built one by one.
            let together = SlotProof::build_many(&slots, &keys);
            for (key, shared) in keys.into_iter().zip(together) {
                let member = slots.iter().find(|s| s.key() == key).map(|s| s.tx);
                let proof = SlotProof::build(&slots, key);
                assert_eq!(shared, proof);
                assert_eq!(proof.check(&b.header, key), Ok(member), "n={n}");
                let encoded = proof.encode();
                use commonware_codec::DecodeExt as _;
                assert_eq!(SlotProof::decode(encoded).unwrap(), proof);
            }
        }
    }

    /// The encoding is fixed: changing it breaks evidence already filed (a new version).
    #[test]
    fn golden_vector() {
        let promised = tx(&SigningKey::from_seed(3), 0, b"withheld");
        let c = chain(28, &[]);
        let e = c.evidence(&c.receipt(&promised, 10), 28);
        assert_eq!(fingerprint(&e), (GOLDEN_LEN, GOLDEN_SHA256.to_string()));
    }

    /// An encoding's length and SHA-256, what a golden vector pins.
    fn fingerprint(e: &BrokenPreconfirmation) -> (usize, String) {
        let bytes = e.encode();
        assert_eq!(bytes.len(), e.encode_size());
        (
            bytes.len(),
            crate::to_hex(crate::sha256(&[&bytes]).as_ref()),
        )
    }

    const GOLDEN_LEN: usize = 6941;
    const GOLDEN_SHA256: &str =
        "0x0de2e2244f8f1bd50cea64a25f27c4f2e415947878da63a410488b285e2dfd07";

    #[test]
    fn decoding_is_bounded_by_the_window() {
        let promised = tx(&SigningKey::from_seed(3), 0, b"withheld");
        let c = chain(40, &[]);
        let e = c.evidence(&c.receipt(&promised, 10), 26);
        let bytes = e.encode();
        let small = Limits {
            preconf_window_heights: 8,
            ..Limits::default()
        };
        // 16 slot proofs are more than an 8-height window holds.
        assert!(BrokenPreconfirmation::decode_bytes(&bytes, &small).is_err());
        let limits = Limits {
            preconf_window_heights: WINDOW,
            ..Limits::default()
        };
        for cut in [0, 1, 100, bytes.len() - 1] {
            assert!(BrokenPreconfirmation::decode_bytes(&bytes[..cut], &limits).is_err());
        }
        let mut versioned = bytes.to_vec();
        versioned[0] = 3;
        assert!(BrokenPreconfirmation::decode_bytes(&versioned, &limits).is_err());
        // Relabelled as a bundle leg's evidence, it lacks the witness that version appends.
        versioned[0] = EVIDENCE_VERSION_BUNDLE;
        assert!(BrokenPreconfirmation::decode_bytes(&versioned, &limits).is_err());
    }

    /// A risk reversal's two legs: a call on the options rollup (8) by `a`, the premium on
    /// the token rollup (7) by `b`, both at nonce 0, valid until height 100.
    fn bundle(a: &SigningKey, b: &SigningKey) -> Vec<Transaction> {
        let spec = |ns: u64, payload: &'static [u8]| crate::LegSpec {
            namespace: NamespaceId(ns),
            nonce: 0,
            payload: bytes::Bytes::from_static(payload),
        };
        Transaction::sign_bundle(
            &crate::test_chain(),
            100,
            &[(a, spec(8, b"buy call")), (b, spec(7, b"pay premium"))],
        )
        .expect("a valid bundle")
    }

    impl Chain {
        /// Evidence for a leg's receipt as an honest builder makes it: proofs for every
        /// leg's slot up to the deadline or the first height where any is held.
        fn leg_evidence(
            &self,
            receipt: &Receipt,
            legs: &[Transaction],
            certified: u64,
        ) -> BrokenPreconfirmation {
            let p = &receipt.promise;
            let mut w = BundleWitness::for_legs(legs).expect("one bundle");
            let keys = w.other_keys(w.leg_of(p).expect("the receipt's bundle"));
            w.others = vec![Vec::new(); keys.len()];
            let mut slots = Vec::new();
            for h in p.issued_height + 1..=p.deadline_height.min(certified) {
                let block_slots = self.blocks[h as usize].body.slots();
                let own = SlotProof::build(&block_slots, (p.sender, p.nonce));
                let mut held = matches!(own, SlotProof::Held(_));
                slots.push(own);
                for (list, key) in w.others.iter_mut().zip(&keys) {
                    let proof = SlotProof::build(&block_slots, *key);
                    held |= matches!(proof, SlotProof::Held(_));
                    list.push(proof);
                }
                if held {
                    break;
                }
            }
            BrokenPreconfirmation {
                slots,
                bundle: Some(w),
                ..self.evidence(receipt, certified)
            }
        }
    }

    /// Rule 7: a leg's receipt promises the whole bundle. Withheld, it is broken; included,
    /// kept; voided by the other leg's sender, a conflict the issuer is not blamed for.
    #[test]
    fn a_bundle_legs_receipt_is_judged_on_every_legs_slot() {
        let (a, b) = (SigningKey::from_seed(3), SigningKey::from_seed(4));
        let legs = bundle(&a, &b);
        let c = chain(40, &[]);
        let r = c.receipt(&legs[0], 10);
        assert_eq!(r.promise.version, crate::receipt::RECEIPT_VERSION_LEG);

        let withheld = c.leg_evidence(&r, &legs, 26);
        assert_eq!(judge(&c, &withheld), Ok(Verdict::Broken));
        let limits = Limits {
            preconf_window_heights: WINDOW,
            ..Limits::default()
        };
        let bytes = withheld.encode();
        assert_eq!(bytes[0], EVIDENCE_VERSION_BUNDLE);
        assert_eq!(bytes.len(), withheld.encode_size());
        assert_eq!(
            BrokenPreconfirmation::decode_bytes(&bytes, &limits).unwrap(),
            withheld
        );

        let included = chain(40, &[(15, legs[0].clone()), (15, legs[1].clone())]);
        let e = included.leg_evidence(&r, &legs, 26);
        assert_eq!(judge(&included, &e), Ok(Verdict::Kept { height: 15 }));

        // The premium payer spends its nonce 0 elsewhere at height 13: the bundle can never
        // be included, by its own counterparty's doing.
        let spent = Transaction::sign(
            &b,
            &crate::test_chain(),
            NamespaceId(7),
            0,
            bytes::Bytes::from_static(b"changed its mind"),
        );
        let voided = chain(40, &[(13, spent.clone())]);
        let e = voided.leg_evidence(&r, &legs, 26);
        assert_eq!(
            judge(&voided, &e),
            Ok(Verdict::Conflict {
                height: 13,
                tx: spent.hash()
            })
        );
        // Judged on its own slot alone (the witness stripped), the conflict is hidden, and
        // rule 7 refuses it.
        let mut stripped = e.clone();
        stripped.bundle = None;
        assert!(matches!(
            judge(&voided, &stripped),
            Err(EvidenceError::Bundle(_))
        ));
        // An accuser that hides the conflict with an "empty" proof at 13 fails rule 4.
        let mut hidden = voided.leg_evidence(&r, &legs, 12);
        let w = hidden.bundle.as_mut().unwrap();
        let key = (*legs[1].sender(), 0);
        for h in 13..=26usize {
            hidden.slots.push(SlotProof::build(
                &voided.blocks[h].body.slots(),
                (*legs[0].sender(), 0),
            ));
            // Proofs built against a block without the conflicting leaf.
            w.others[0].push(SlotProof::build(&c.blocks[h].body.slots(), key));
        }
        hidden.headers = voided.evidence(&r, 26).headers;
        hidden.certificate = voided.evidence(&r, 26).certificate;
        assert!(matches!(
            judge(&voided, &hidden),
            Err(EvidenceError::Slot { height: 13, .. })
        ));
    }

    /// Rule 7 refuses a witness that is not the receipt's bundle, or is incomplete.
    #[test]
    fn a_forged_bundle_witness_is_refused() {
        let (a, b) = (SigningKey::from_seed(3), SigningKey::from_seed(4));
        let legs = bundle(&a, &b);
        let c = chain(40, &[]);
        let r = c.receipt(&legs[0], 10);
        let honest = c.leg_evidence(&r, &legs, 26);
        let refused = |e: &BrokenPreconfirmation| {
            let v = judge(&c, e);
            assert!(matches!(v, Err(EvidenceError::Bundle(_))), "{v:?}");
        };
        // Another leg swapped for one the accuser prefers: the bundle id no longer matches.
        let mut swapped = honest.clone();
        swapped.bundle.as_mut().unwrap().legs[1].nonce = 7;
        refused(&swapped);
        let mut expiry = honest.clone();
        expiry.bundle.as_mut().unwrap().valid_until = 99;
        refused(&expiry);
        // The other leg's proofs missing or short.
        let mut missing = honest.clone();
        missing.bundle.as_mut().unwrap().others.clear();
        refused(&missing);
        let mut short = honest.clone();
        short.bundle.as_mut().unwrap().others[0].pop();
        refused(&short);
        // A witness on a plain transaction's receipt.
        let plain = tx(&a, 0, b"plain");
        let mut on_plain = c.evidence(&c.receipt(&plain, 10), 26);
        on_plain.bundle = honest.bundle.clone();
        refused(&on_plain);
        // The receipt relabelled as a plain one to drop the witness: its signature fails.
        let mut relabelled = honest.clone();
        relabelled.receipt.promise.version = crate::receipt::RECEIPT_VERSION;
        relabelled.bundle = None;
        assert!(matches!(
            judge(&c, &relabelled),
            Err(EvidenceError::Receipt(ReceiptError::BadSignature))
        ));
        // Leg 1's receipt judged with the witness: its own slot is leg 1's.
        let r1 = c.receipt(&legs[1], 10);
        assert_eq!(
            judge(&c, &c.leg_evidence(&r1, &legs, 26)),
            Ok(Verdict::Broken)
        );
    }

    /// The bundle evidence encoding is fixed too (version 2 appends the witness).
    #[test]
    fn bundle_golden_vector() {
        let legs = bundle(&SigningKey::from_seed(3), &SigningKey::from_seed(4));
        let c = chain(28, &[]);
        let e = c.leg_evidence(&c.receipt(&legs[0], 10), &legs, 28);
        assert_eq!(
            fingerprint(&e),
            (BUNDLE_GOLDEN_LEN, BUNDLE_GOLDEN_SHA256.to_string())
        );
    }

    const BUNDLE_GOLDEN_LEN: usize = 8641;
    const BUNDLE_GOLDEN_SHA256: &str =
        "0x35bd8f53153c6de728590c6e140c7986d6c99eec0eb552f84681410ccc3d7009";
}
