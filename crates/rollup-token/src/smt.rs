//! A depth-32 sparse Merkle tree with Rp64_256 nodes.
//!
//! Only non-empty nodes are stored; an absent node at level `l` equals the root of an empty
//! subtree of height `l`, precomputed. Level 0 holds leaves; level [`DEPTH`] is the root.

use crate::Felt;
use std::collections::HashMap;
use winter_crypto::{hashers::Rp64_256, Hasher as _};
use winter_math::FieldElement as _;

/// An Rp64_256 digest: four field elements.
pub type Word = [Felt; 4];
/// A word as canonical integers (the form roots take on the wire and on the L1).
pub fn word_to_u64(w: &Word) -> [u64; 4] {
    w.map(|f| f.as_int())
}

/// A word from integers, refusing non-canonical field elements.
pub fn word_from_u64(x: &[u64; 4]) -> Result<Word, String> {
    use winter_math::StarkField as _;
    let mut w = [Felt::ZERO; 4];
    for (f, v) in w.iter_mut().zip(x) {
        if *v >= Felt::MODULUS {
            return Err(format!("{v} is not a canonical field element"));
        }
        *f = Felt::new(*v);
    }
    Ok(w)
}

/// Tree depth: 2^32 leaves.
pub const DEPTH: usize = 32;
/// The value of an empty leaf.
pub const EMPTY_LEAF: Word = [Felt::ZERO; 4];

/// Parent of two nodes.
pub fn merge(left: &Word, right: &Word) -> Word {
    Rp64_256::merge(&[(*left).into(), (*right).into()]).into()
}

/// The tree.
#[derive(Clone, Debug)]
pub struct SparseMerkleTree {
    nodes: HashMap<(u8, u64), Word>,
    empty: [Word; DEPTH + 1],
}

impl Default for SparseMerkleTree {
    fn default() -> Self {
        let mut empty = [EMPTY_LEAF; DEPTH + 1];
        for level in 1..=DEPTH {
            empty[level] = merge(&empty[level - 1], &empty[level - 1]);
        }
        Self {
            nodes: HashMap::new(),
            empty,
        }
    }
}

impl SparseMerkleTree {
    fn node(&self, level: usize, index: u64) -> Word {
        self.nodes
            .get(&(level as u8, index))
            .copied()
            .unwrap_or(self.empty[level])
    }

    /// The root.
    pub fn root(&self) -> Word {
        self.node(DEPTH, 0)
    }

    /// The leaf at `index`.
    pub fn leaf(&self, index: u32) -> Word {
        self.node(0, index as u64)
    }

    /// Siblings of the leaf at `index`, from the leaf level up.
    pub fn path(&self, index: u32) -> [Word; DEPTH] {
        let mut path = [EMPTY_LEAF; DEPTH];
        let mut i = index as u64;
        for (level, sibling) in path.iter_mut().enumerate() {
            *sibling = self.node(level, i ^ 1);
            i >>= 1;
        }
        path
    }

    /// Sets the leaf at `index` and recomputes its path to the root.
    pub fn set(&mut self, index: u32, value: Word) {
        let mut i = index as u64;
        let mut current = value;
        for level in 0..=DEPTH {
            if current == self.empty[level] {
                self.nodes.remove(&(level as u8, i));
            } else {
                self.nodes.insert((level as u8, i), current);
            }
            if level == DEPTH {
                break;
            }
            let sibling = self.node(level, i ^ 1);
            current = if i & 1 == 0 {
                merge(&current, &sibling)
            } else {
                merge(&sibling, &current)
            };
            i >>= 1;
        }
    }

    /// The root a leaf and its path lead to.
    pub fn root_from_path(leaf: &Word, index: u32, path: &[Word; DEPTH]) -> Word {
        let mut current = *leaf;
        let mut i = index as u64;
        for sibling in path {
            current = if i & 1 == 0 {
                merge(&current, sibling)
            } else {
                merge(sibling, &current)
            };
            i >>= 1;
        }
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(x: u64) -> Word {
        [
            Felt::new(x),
            Felt::new(x + 1),
            Felt::new(x + 2),
            Felt::new(x + 3),
        ]
    }

    #[test]
    fn paths_lead_to_the_root_and_clearing_restores_the_empty_root() {
        let mut tree = SparseMerkleTree::default();
        let empty_root = tree.root();
        let indices = [0u32, 1, 7, 1 << 20, u32::MAX];
        for (k, i) in indices.iter().enumerate() {
            tree.set(*i, word(k as u64 * 10 + 1));
        }
        for (k, i) in indices.iter().enumerate() {
            let path = tree.path(*i);
            assert_eq!(
                SparseMerkleTree::root_from_path(&word(k as u64 * 10 + 1), *i, &path),
                tree.root()
            );
            assert_ne!(
                SparseMerkleTree::root_from_path(&word(999), *i, &path),
                tree.root()
            );
        }
        for i in indices {
            tree.set(i, EMPTY_LEAF);
        }
        assert_eq!(tree.root(), empty_root);
        assert!(tree.nodes.is_empty(), "empty subtrees are not stored");
    }
}
