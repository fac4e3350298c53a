//! Namespace proofs: a namespace's transactions in a block, or their absence, proven against
//! the header's `namespace_table_root`.
//!
//! The namespace table is a Merkle tree with one leaf per namespace present, sorted by
//! namespace: `leaf = H(0x00 || "weft/ns" || namespace || count || txs_root)`. A proof of
//! presence carries the namespace's transactions (the verifier recomputes `count` and
//! `txs_root` from them) and the leaf's path. A proof of absence carries the neighbouring
//! leaves, by their parts, with their paths: adjacent positions that bracket the namespace
//! (or the first or last leaf, or an empty table). A proof touches no other namespace's
//! transactions, so it never depends on another namespace's data being well-formed.

use crate::{merkle, Body, Digest, Limits, NamespaceId, NamespaceTxs, Transaction};
use bytes::{Buf as _, BufMut};
use commonware_codec::{Encode, EncodeSize, Error, Read, ReadExt, Write};
use thiserror::Error as ThisError;

/// Most siblings in a path: trees hold at most 2^32 leaves.
pub const PROOF_DEPTH_MAX: usize = 32;

/// A namespace-table leaf given by its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafParts {
    /// Namespace of the leaf.
    pub namespace: NamespaceId,
    /// Its transaction count.
    pub count: u32,
    /// Root over its transactions' encodings.
    pub txs_root: Digest,
}

impl LeafParts {
    fn leaf(&self) -> Digest {
        NamespaceTxs::leaf_from_parts(self.namespace, self.count, &self.txs_root)
    }
}

/// A leaf with its position and path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafPath {
    /// The leaf.
    pub parts: LeafParts,
    /// Position in the table.
    pub index: u32,
    /// Siblings from the leaf up.
    pub siblings: Vec<Digest>,
}

/// Proof about one namespace in one block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamespaceProof {
    /// The namespace has transactions in the block: here they are.
    Present {
        /// Number of leaves in the table.
        leaf_count: u32,
        /// The namespace's leaf position.
        index: u32,
        /// Siblings from the leaf up.
        siblings: Vec<Digest>,
        /// The namespace's transactions, in block order.
        txs: Vec<Transaction>,
    },
    /// The namespace has no transactions in the block.
    Absent {
        /// Number of leaves in the table.
        leaf_count: u32,
        /// The greatest namespace below it, if any.
        left: Option<LeafPath>,
        /// The least namespace above it, if any.
        right: Option<LeafPath>,
    },
}

/// Why a proof was refused.
#[derive(Debug, ThisError, Clone, PartialEq, Eq)]
pub enum ProofError {
    /// A Merkle path does not lead to the root.
    #[error("{0} does not lead to the header's namespace_table_root")]
    BadPath(&'static str),
    /// A listed transaction belongs to another namespace.
    #[error("transaction {hash} belongs to namespace {found}, not {expected}")]
    WrongNamespace {
        /// The transaction.
        hash: String,
        /// Its namespace.
        found: NamespaceId,
        /// The namespace proven.
        expected: NamespaceId,
    },
    /// The neighbours do not bracket the namespace.
    #[error("absence proof does not bracket namespace {0}: {1}")]
    NotBracketed(NamespaceId, &'static str),
    /// The proof shape is inconsistent (e.g. presence with no transactions).
    #[error("malformed proof: {0}")]
    Malformed(&'static str),
}

impl Body {
    /// Proves `namespace`'s presence (with its transactions) or absence.
    pub fn namespace_proof(&self, namespace: NamespaceId) -> NamespaceProof {
        let leaves = self.namespace_table();
        let leaf_count = leaves.len() as u32;
        let path = |i: usize| LeafPath {
            parts: LeafParts {
                namespace: self.namespaces[i].namespace,
                count: self.namespaces[i].txs.len() as u32,
                txs_root: self.namespaces[i].txs_root(),
            },
            index: i as u32,
            siblings: merkle::prove(&leaves, i),
        };
        match self
            .namespaces
            .binary_search_by_key(&namespace, |n| n.namespace)
        {
            Ok(i) => NamespaceProof::Present {
                leaf_count,
                index: i as u32,
                siblings: merkle::prove(&leaves, i),
                txs: self.namespaces[i].txs.clone(),
            },
            Err(i) => NamespaceProof::Absent {
                leaf_count,
                left: (i > 0).then(|| path(i - 1)),
                right: (i < self.namespaces.len()).then(|| path(i)),
            },
        }
    }
}

impl NamespaceTxs {
    /// Root over the encodings of the namespace's transactions.
    pub fn txs_root(&self) -> Digest {
        let leaves: Vec<Digest> = self
            .txs
            .iter()
            .map(|tx| merkle::leaf_hash(&[&tx.encode()]))
            .collect();
        merkle::root(&leaves)
    }
}

fn check_path(
    leaf: &Digest,
    index: u32,
    leaf_count: u32,
    siblings: &[Digest],
    root: &Digest,
    what: &'static str,
) -> Result<(), ProofError> {
    if merkle::verify(leaf, index as usize, leaf_count as usize, siblings, root) {
        Ok(())
    } else {
        Err(ProofError::BadPath(what))
    }
}

/// A neighbour of an absent namespace must lie on the right side of it and be in the tree.
fn check_neighbour(
    n: &LeafPath,
    namespace: NamespaceId,
    below: bool,
    leaf_count: u32,
    root: &Digest,
) -> Result<(), ProofError> {
    let (side_ok, what, side) = if below {
        (
            n.parts.namespace < namespace,
            "the left neighbour",
            "left neighbour is not below it",
        )
    } else {
        (
            n.parts.namespace > namespace,
            "the right neighbour",
            "right neighbour is not above it",
        )
    };
    if !side_ok {
        return Err(ProofError::NotBracketed(namespace, side));
    }
    check_path(
        &n.parts.leaf(),
        n.index,
        leaf_count,
        &n.siblings,
        root,
        what,
    )
}

impl NamespaceProof {
    /// Checks the proof for `namespace` against a header's `namespace_table_root`. Returns the
    /// namespace's transactions (empty when absent).
    pub fn verify(
        &self,
        namespace: NamespaceId,
        root: &Digest,
    ) -> Result<Vec<Transaction>, ProofError> {
        match self {
            NamespaceProof::Present {
                leaf_count,
                index,
                siblings,
                txs,
            } => {
                if txs.is_empty() {
                    return Err(ProofError::Malformed("presence proof with no transactions"));
                }
                if let Some(tx) = txs.iter().find(|t| t.namespace() != namespace) {
                    return Err(ProofError::WrongNamespace {
                        hash: tx.hash().to_string(),
                        found: tx.namespace(),
                        expected: namespace,
                    });
                }
                let ns = NamespaceTxs {
                    namespace,
                    txs: txs.clone(),
                };
                let leaf =
                    NamespaceTxs::leaf_from_parts(namespace, txs.len() as u32, &ns.txs_root());
                check_path(
                    &leaf,
                    *index,
                    *leaf_count,
                    siblings,
                    root,
                    "the namespace's leaf",
                )?;
                Ok(txs.clone())
            }
            NamespaceProof::Absent {
                leaf_count,
                left,
                right,
            } => {
                if *leaf_count == 0 {
                    return if left.is_none() && right.is_none() && *root == merkle::empty_root() {
                        Ok(Vec::new())
                    } else {
                        Err(ProofError::NotBracketed(
                            namespace,
                            "an empty table must have the empty root and no neighbours",
                        ))
                    };
                }
                if let Some(l) = left {
                    check_neighbour(l, namespace, true, *leaf_count, root)?;
                }
                if let Some(r) = right {
                    check_neighbour(r, namespace, false, *leaf_count, root)?;
                }
                let adjacent = match (left, right) {
                    (Some(l), Some(r)) => r.index == l.index + 1,
                    (None, Some(r)) => r.index == 0,
                    (Some(l), None) => l.index + 1 == *leaf_count,
                    (None, None) => false,
                };
                if adjacent {
                    Ok(Vec::new())
                } else {
                    Err(ProofError::NotBracketed(
                        namespace,
                        "neighbours are not adjacent table positions",
                    ))
                }
            }
        }
    }
}

// Encoding: tag (0 present, 1 absent), then fields; lengths bounded on decode.

impl Write for LeafPath {
    fn write(&self, buf: &mut impl BufMut) {
        self.parts.namespace.write(buf);
        buf.put_u32(self.parts.count);
        self.parts.txs_root.write(buf);
        buf.put_u32(self.index);
        self.siblings.write(buf);
    }
}
impl EncodeSize for LeafPath {
    fn encode_size(&self) -> usize {
        8 + 4 + 32 + 4 + self.siblings.encode_size()
    }
}
impl Read for LeafPath {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, Error> {
        let namespace = NamespaceId::read(buf)?;
        let count = u32::read(buf)?;
        let txs_root = Digest::read(buf)?;
        let index = u32::read(buf)?;
        let siblings = Vec::<Digest>::read_cfg(buf, &((0..=PROOF_DEPTH_MAX).into(), ()))?;
        Ok(Self {
            parts: LeafParts {
                namespace,
                count,
                txs_root,
            },
            index,
            siblings,
        })
    }
}

impl Write for NamespaceProof {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            NamespaceProof::Present {
                leaf_count,
                index,
                siblings,
                txs,
            } => {
                buf.put_u8(0);
                buf.put_u32(*leaf_count);
                buf.put_u32(*index);
                siblings.write(buf);
                txs.write(buf);
            }
            NamespaceProof::Absent {
                leaf_count,
                left,
                right,
            } => {
                buf.put_u8(1);
                buf.put_u32(*leaf_count);
                left.write(buf);
                right.write(buf);
            }
        }
    }
}
impl EncodeSize for NamespaceProof {
    fn encode_size(&self) -> usize {
        1 + 4
            + match self {
                NamespaceProof::Present { siblings, txs, .. } => {
                    4 + siblings.encode_size() + txs.encode_size()
                }
                NamespaceProof::Absent { left, right, .. } => {
                    left.encode_size() + right.encode_size()
                }
            }
    }
}
impl Read for NamespaceProof {
    type Cfg = Limits;
    fn read_cfg(buf: &mut impl commonware_codec::Buf, limits: &Limits) -> Result<Self, Error> {
        if !buf.has_remaining() {
            return Err(Error::EndOfBuffer);
        }
        match buf.get_u8() {
            0 => Ok(NamespaceProof::Present {
                leaf_count: u32::read(buf)?,
                index: u32::read(buf)?,
                siblings: Vec::<Digest>::read_cfg(buf, &((0..=PROOF_DEPTH_MAX).into(), ()))?,
                txs: Vec::<Transaction>::read_cfg(
                    buf,
                    &((1..=limits.block_txs_max).into(), *limits),
                )?,
            }),
            1 => Ok(NamespaceProof::Absent {
                leaf_count: u32::read(buf)?,
                left: Option::<LeafPath>::read(buf)?,
                right: Option::<LeafPath>::read(buf)?,
            }),
            tag => Err(Error::InvalidEnum(tag)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::test_chain;
    use crate::{Block, SigningKey};
    use bytes::Bytes;
    use commonware_codec::Decode as _;
    use commonware_cryptography::Signer as _;

    fn body() -> Body {
        let k = SigningKey::from_seed(1);
        let txs = [3u64, 3, 7, 9, 9, 9, 20].iter().enumerate().map(|(i, ns)| {
            Transaction::sign(
                &k,
                &test_chain(),
                NamespaceId(*ns),
                i as u64,
                Bytes::from(vec![i as u8; 4]),
            )
        });
        Body::from_txs(txs)
    }

    fn root(b: &Body) -> Digest {
        merkle::root(&b.namespace_table())
    }

    fn roundtrip(p: &NamespaceProof) -> NamespaceProof {
        NamespaceProof::decode_cfg(p.encode(), &Limits::default()).unwrap()
    }

    #[test]
    fn presence_and_absence_verify_for_every_namespace() {
        let b = body();
        let r = root(&b);
        for ns in 0..25u64 {
            let proof = roundtrip(&b.namespace_proof(NamespaceId(ns)));
            let txs = proof
                .verify(NamespaceId(ns), &r)
                .unwrap_or_else(|e| panic!("ns {ns}: {e}"));
            let expected: Vec<_> = b.txs().filter(|t| t.namespace().0 == ns).cloned().collect();
            assert_eq!(txs, expected, "ns {ns}");
        }
        let empty = Body::default();
        assert!(empty
            .namespace_proof(NamespaceId(1))
            .verify(NamespaceId(1), &root(&empty))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn tampered_proofs_are_refused() {
        let b = body();
        let r = root(&b);
        // A changed transaction.
        let NamespaceProof::Present {
            leaf_count,
            index,
            siblings,
            mut txs,
        } = b.namespace_proof(NamespaceId(9))
        else {
            panic!()
        };
        txs[1] = Transaction::sign(
            &SigningKey::from_seed(2),
            &test_chain(),
            NamespaceId(9),
            99,
            Bytes::from_static(b"evil"),
        );
        let forged = NamespaceProof::Present {
            leaf_count,
            index,
            siblings: siblings.clone(),
            txs: txs.clone(),
        };
        assert!(matches!(
            forged.verify(NamespaceId(9), &r),
            Err(ProofError::BadPath(_))
        ));
        // A dropped transaction.
        let NamespaceProof::Present { txs: mut all, .. } = b.namespace_proof(NamespaceId(9)) else {
            panic!()
        };
        all.pop();
        let short = NamespaceProof::Present {
            leaf_count,
            index,
            siblings,
            txs: all,
        };
        assert!(short.verify(NamespaceId(9), &r).is_err());
        // A proof presented for another namespace.
        assert!(matches!(
            b.namespace_proof(NamespaceId(9)).verify(NamespaceId(7), &r),
            Err(ProofError::WrongNamespace { .. })
        ));
        // A wrong root.
        let other = Block::genesis(
            Digest::from([1u8; 32]),
            SigningKey::from_seed(0).public_key(),
            0,
        );
        assert!(b
            .namespace_proof(NamespaceId(3))
            .verify(NamespaceId(3), &other.header.namespace_table_root)
            .is_err());
        // Absence claimed for a present namespace: neighbours are not adjacent.
        let NamespaceProof::Absent {
            leaf_count, left, ..
        } = b.namespace_proof(NamespaceId(8))
        else {
            panic!()
        };
        let NamespaceProof::Absent { right, .. } = b.namespace_proof(NamespaceId(10)) else {
            panic!()
        };
        let lie = NamespaceProof::Absent {
            leaf_count,
            left,
            right,
        };
        assert!(matches!(
            lie.verify(NamespaceId(9), &r),
            Err(ProofError::NotBracketed(..))
        ));
        // Absence with no neighbours on a non-empty table.
        let bare = NamespaceProof::Absent {
            leaf_count,
            left: None,
            right: None,
        };
        assert!(bare.verify(NamespaceId(9), &r).is_err());
    }

    #[test]
    fn malformed_proof_bytes_are_errors() {
        let bytes = body().namespace_proof(NamespaceId(9)).encode();
        for cut in 0..bytes.len() {
            assert!(NamespaceProof::decode_cfg(bytes.slice(..cut), &Limits::default()).is_err());
        }
        assert!(
            NamespaceProof::decode_cfg(bytes::Bytes::from_static(&[7]), &Limits::default())
                .is_err()
        );
    }
}
