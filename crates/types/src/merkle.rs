//! Binary Merkle trees over SHA-256 (RFC 6962 shape, domain-separated leaves and nodes).
//!
//! A tree of `n` leaves splits at the largest power of two below `n`, so proofs are at most
//! `ceil(log2 n)` siblings and no leaf is ever duplicated (no CVE-2012-2459 style ambiguity).

use crate::{sha256, Digest};

const LEAF: &[u8] = &[0];
const NODE: &[u8] = &[1];

/// The root of an empty tree.
pub fn empty_root() -> Digest {
    sha256(&[b"weft/merkle/empty"])
}

/// Hashes leaf data with the leaf domain tag.
pub fn leaf_hash(parts: &[&[u8]]) -> Digest {
    let mut all: Vec<&[u8]> = Vec::with_capacity(parts.len() + 1);
    all.push(LEAF);
    all.extend_from_slice(parts);
    sha256(&all)
}

fn node_hash(left: &Digest, right: &Digest) -> Digest {
    sha256(&[NODE, left.as_ref(), right.as_ref()])
}

fn split(n: usize) -> usize {
    debug_assert!(n > 1);
    let k = n.next_power_of_two() / 2;
    if k == n {
        n / 2
    } else {
        k
    }
}

/// Root over already-hashed leaves.
pub fn root(leaves: &[Digest]) -> Digest {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// Audit path for leaf `index` (siblings from the leaf upward).
pub fn prove(leaves: &[Digest], index: usize) -> Vec<Digest> {
    prove_many(leaves, &[index]).remove(0)
}

/// Audit paths for several leaves of one tree, sharing the work: each subtree root is hashed
/// once, so the cost is about one tree's hashing however many leaves are proven.
pub fn prove_many(leaves: &[Digest], indices: &[usize]) -> Vec<Vec<Digest>> {
    let mut memo = std::collections::HashMap::new();
    indices
        .iter()
        .map(|&index| {
            assert!(
                index < leaves.len(),
                "merkle proof index {index} out of {} leaves",
                leaves.len()
            );
            let mut path = Vec::new();
            prove_memo(leaves, 0, index, &mut path, &mut memo);
            path
        })
        .collect()
}

type Memo = std::collections::HashMap<(usize, usize), Digest>;

fn root_memo(leaves: &[Digest], offset: usize, memo: &mut Memo) -> Digest {
    let n = leaves.len();
    if n <= 1 {
        return root(leaves);
    }
    if let Some(d) = memo.get(&(offset, n)) {
        return *d;
    }
    let k = split(n);
    let d = node_hash(
        &root_memo(&leaves[..k], offset, memo),
        &root_memo(&leaves[k..], offset + k, memo),
    );
    memo.insert((offset, n), d);
    d
}

fn prove_memo(
    leaves: &[Digest],
    offset: usize,
    index: usize,
    path: &mut Vec<Digest>,
    memo: &mut Memo,
) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if index < k {
        prove_memo(&leaves[..k], offset, index, path, memo);
        path.push(root_memo(&leaves[k..], offset + k, memo));
    } else {
        prove_memo(&leaves[k..], offset + k, index - k, path, memo);
        path.push(root_memo(&leaves[..k], offset, memo));
    }
}

/// Verifies that `leaf` is at `index` of a tree of `count` leaves with root `expected`.
pub fn verify(
    leaf: &Digest,
    index: usize,
    count: usize,
    path: &[Digest],
    expected: &Digest,
) -> bool {
    if index >= count {
        return false;
    }
    match compute(leaf, index, count, path) {
        Some((computed, rest)) => rest.is_empty() && computed == *expected,
        None => false,
    }
}

// Recomputes the root bottom-up by replaying the top-down split in reverse.
fn compute<'a>(
    leaf: &Digest,
    index: usize,
    count: usize,
    path: &'a [Digest],
) -> Option<(Digest, &'a [Digest])> {
    if count == 1 {
        return Some((*leaf, path));
    }
    let k = split(count);
    if index < k {
        let (sub, rest) = compute(leaf, index, k, path)?;
        let (sibling, rest) = rest.split_first()?;
        Some((node_hash(&sub, sibling), rest))
    } else {
        let (sub, rest) = compute(leaf, index - k, count - k, path)?;
        let (sibling, rest) = rest.split_first()?;
        Some((node_hash(sibling, &sub), rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_leaf_proves_for_many_sizes() {
        for n in 1..40usize {
            let leaves: Vec<Digest> = (0..n).map(|i| leaf_hash(&[&i.to_be_bytes()])).collect();
            let r = root(&leaves);
            for i in 0..n {
                let p = prove(&leaves, i);
                assert!(verify(&leaves[i], i, n, &p, &r), "n={n} i={i}");
                // Wrong index, wrong leaf and truncated path fail.
                if n > 1 {
                    assert!(!verify(&leaves[i], (i + 1) % n, n, &p, &r));
                    assert!(!verify(&leaves[(i + 1) % n], i, n, &p, &r));
                    assert!(!verify(&leaves[i], i, n, &p[..p.len() - 1], &r));
                }
            }
        }
    }

    #[test]
    fn leaves_and_nodes_are_domain_separated() {
        let a = leaf_hash(&[b"a"]);
        let b = leaf_hash(&[b"b"]);
        let two = root(&[a, b]);
        // A node can not be presented as a leaf of a one-leaf tree with the same root bytes.
        assert_ne!(leaf_hash(&[a.as_ref(), b.as_ref()]), two);
        assert_ne!(root(&[]), root(&[a]));
    }
}
