//! Building the execution trace of a batch from its witness.

use super::air::*;
use super::witness::Witness;
use rollup::{commitment, Felt, Word, DEPTH};
use weft_rollup_token as rollup;
use winter_crypto::hashers::Rp64_256;
use winterfell::{math::FieldElement, TraceTable};

/// A deliberate deviation from the rules, for soundness tests: the trace is built as a
/// cheating prover would, and the verifier must refuse the proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "test-utils"), allow(dead_code))]
pub enum Tamper {
    /// Apply record `i` although the rules skip it: claim the tags and nonce match and
    /// that neither limb borrows or carries.
    ForceApply(usize),
    /// Skip record `i` although the rules apply it (censorship): claim the sender's tag
    /// does not match.
    ForceSkip(usize),
}

/// What one record does, computed from its leaves.
struct Sides {
    sender: Start,
    recipient: Start,
    applied: bool,
    sender_ok: bool,
}

/// The values of an update's first row beyond the lanes.
#[derive(Clone, Copy)]
struct Start {
    za: Felt,
    ia: Felt,
    zb: Felt,
    ib: Felt,
    cl: Felt,
    ch: Felt,
    r1: u64,
    r2: u64,
    new_leaf: Word,
}

fn is_zero(x: Felt) -> (Felt, Felt) {
    if x == Felt::ZERO {
        (Felt::ONE, Felt::ZERO)
    } else {
        (Felt::ZERO, x.inv())
    }
}

fn bit(b: bool) -> Felt {
    if b {
        Felt::ONE
    } else {
        Felt::ZERO
    }
}

/// The sender side: tag and nonce checks, balance minus amount with borrows.
fn sender_side(leaf: &Word, tag: u64, nonce: u64, amount: u64) -> (Start, bool) {
    let (za, ia) = is_zero(leaf[0] - Felt::new(tag));
    let (zb, ib) = is_zero(leaf[3] - Felt::new(nonce));
    let (lo, hi) = (leaf[1].as_int(), leaf[2].as_int());
    let (a_lo, a_hi) = (amount & 0xffff_ffff, amount >> 32);
    let cl = lo < a_lo;
    let r1 = lo + if cl { 1 << 32 } else { 0 } - a_lo;
    let need = a_hi + cl as u64;
    let ch = hi < need;
    let r2 = hi + if ch { 1 << 32 } else { 0 } - need;
    let ok = za == Felt::ONE && zb == Felt::ONE && !ch;
    let start = Start {
        za,
        ia,
        zb,
        ib,
        cl: bit(cl),
        ch: bit(ch),
        r1,
        r2,
        new_leaf: [leaf[0], Felt::new(r1), Felt::new(r2), leaf[3] + Felt::ONE],
    };
    (start, ok)
}

/// The recipient side: free or own slot, balance plus amount with carries.
fn recipient_side(leaf: &Word, tag: u64, amount: u64) -> (Start, bool) {
    let (za, ia) = is_zero((leaf[0] - Felt::new(tag)) * leaf[0]);
    let (lo, hi) = (leaf[1].as_int(), leaf[2].as_int());
    let (a_lo, a_hi) = (amount & 0xffff_ffff, amount >> 32);
    let s1 = lo + a_lo;
    let cl = s1 >= 1 << 32;
    let r1 = s1 & 0xffff_ffff;
    let s2 = hi + a_hi + cl as u64;
    let ch = s2 >= 1 << 32;
    let r2 = s2 & 0xffff_ffff;
    let ok = za == Felt::ONE && !ch;
    let start = Start {
        za,
        ia,
        zb: Felt::ZERO,
        ib: Felt::ZERO,
        cl: bit(cl),
        ch: bit(ch),
        r1,
        r2,
        new_leaf: [Felt::new(tag), Felt::new(r1), Felt::new(r2), leaf[3]],
    };
    (start, ok)
}

fn sides(w: &Witness, i: usize, tamper: Option<Tamper>) -> Sides {
    let (r, step) = (&w.records[i], &w.steps[i]);
    let (mut sender, sender_ok) = sender_side(&step.sender_leaf, r.from.tag, r.nonce, r.amount);
    let (mut recipient, recipient_ok) = recipient_side(&step.recipient_leaf, r.to.tag, r.amount);
    let mut applied = sender_ok && recipient_ok;
    let mut sender_ok = sender_ok;
    if tamper == Some(Tamper::ForceApply(i)) {
        applied = true;
        sender_ok = true;
        for s in [&mut sender, &mut recipient] {
            s.za = Felt::ONE;
            s.zb = Felt::ONE;
            s.ch = Felt::ZERO;
        }
    }
    if tamper == Some(Tamper::ForceSkip(i)) {
        applied = false;
        sender_ok = false;
        sender.za = Felt::ZERO;
    }
    Sides {
        sender,
        recipient,
        applied,
        sender_ok,
    }
}

/// Fills one lane's 32 slots for a leaf's path and returns the root.
fn fill_path(
    t: &mut [Vec<Felt>],
    row0: usize,
    col: usize,
    leaf: &Word,
    index: u32,
    path: &[Word; DEPTH],
) -> Word {
    let mut cur = *leaf;
    for (level, sib) in path.iter().enumerate() {
        let right = (index >> level) & 1 == 1;
        let mut state = [Felt::ZERO; 12];
        state[0] = Felt::new(8);
        let (l, r) = if right { (sib, &cur) } else { (&cur, sib) };
        state[4..8].copy_from_slice(l);
        state[8..12].copy_from_slice(r);
        for k in 0..SLOT {
            let row = row0 + level * SLOT + k;
            for (j, v) in state.iter().enumerate() {
                t[col + j][row] = *v;
            }
            if k < 7 {
                Rp64_256::apply_round(&mut state, k);
            }
        }
        cur = state[4..8].try_into().expect("4");
    }
    cur
}

/// Builds the trace; returns it with the new root and the commitment it computes.
pub(crate) fn build(
    w: &Witness,
    tamper: Option<Tamper>,
) -> Result<(TraceTable<Felt>, Word, Word), String> {
    let records = w.records.len();
    let mut t = vec![vec![Felt::ZERO; records * RECORD]; WIDTH];
    let mut root = w.old_root;
    let mut sponge = commitment::initial_state(&w.header);
    for i in 0..records {
        let r = &w.records[i];
        let step = &w.steps[i];
        let s = sides(w, i, tamper);
        let (a, p) = (bit(s.applied), bit(s.sender_ok));
        let updates = [
            (
                &step.sender_leaf,
                &s.sender,
                r.from.index,
                &step.sender_path,
                r.sender_rate(),
            ),
            (
                &step.recipient_leaf,
                &s.recipient,
                r.to.index,
                &step.recipient_path,
                r.recipient_rate(),
            ),
        ];
        for (u, (old_leaf, start, index, path, rate)) in updates.into_iter().enumerate() {
            let row0 = i * RECORD + u * UPDATE;
            let new_leaf = if s.applied { start.new_leaf } else { *old_leaf };
            let old_root = fill_path(&mut t, row0, O, old_leaf, index, path);
            if old_root != root && tamper.is_none() {
                return Err(format!(
                    "witness of record {i} ({}) does not lead to the running root",
                    ["sender", "recipient"][u]
                ));
            }
            let new_root = fill_path(&mut t, row0, N, &new_leaf, index, path);
            // Sponge: absorb at the first row, permute through slot 0, then hold.
            sponge[4..].copy_from_slice(&rate);
            for k in 0..UPDATE {
                let row = row0 + k;
                for (j, v) in sponge.iter().enumerate() {
                    t[S + j][row] = *v;
                }
                if k < 7 {
                    Rp64_256::apply_round(&mut sponge, k);
                }
                let level = k / SLOT;
                t[B][row] = Felt::new(((index >> level) & 1) as u64);
                t[IDX][row] = Felt::new((index as u64) >> level);
                t[R1][row] = Felt::new(start.r1 >> level);
                t[R2][row] = Felt::new(start.r2 >> level);
                for j in 0..4 {
                    t[ROOT + j][row] = root[j];
                }
                t[A][row] = a;
                t[P][row] = p;
            }
            for (col, v) in [
                (ZA, start.za),
                (IA, start.ia),
                (ZB, start.zb),
                (IB, start.ib),
                (CL, start.cl),
                (CH, start.ch),
            ] {
                t[col][row0] = v;
            }
            root = new_root;
        }
    }
    let commitment = sponge[4..8].try_into().expect("4");
    Ok((TraceTable::init(t), root, commitment))
}
