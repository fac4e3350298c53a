//! The token batch AIR: its trace layout, constraints and public inputs.
//!
//! # Layout
//! One record takes 512 rows: the sender's leaf update (256 rows) then the recipient's (256
//! rows). A leaf update is 32 *slots* of 8 rows, one per tree level: row 0 of a slot holds
//! the Rp64_256 input `[8, 0, 0, 0 | left | right]` and rows 1..7 the state after each of
//! the 7 rounds, so row 7 holds the parent's digest. Columns:
//!
//! | columns | what |
//! |---|---|
//! | `O` (12) | Rp64_256 over the *old* leaf's path |
//! | `N` (12) | Rp64_256 over the *new* leaf's path, sharing `O`'s siblings and bits |
//! | `S` (12) | the commitment sponge: permutes in slot 0 of each update, holds otherwise; its rate at an update's first row is the absorbed half-record |
//! | `B` | the path bit of the slot (0: current node on the left) |
//! | `IDX` | the leaf index shifted right by the slot number; ends as the top bit |
//! | `R1`, `R2` | range accumulators: the two 32-bit limbs of the updated balance, halved each slot, ending in {0, 1} |
//! | `ROOT` (4) | the tree root before the current update |
//! | `A`, `P` | the record is applied; the sender-side conditions hold (constant per record) |
//! | `ZA`, `IA`, `ZB`, `IB` | is-zero gadgets at an update's first row |
//! | `CL`, `CH` | borrow (sender) or carry (recipient) of the low and high limbs |
//!
//! # What the constraints enforce, per record `(from, to, amount, nonce)`
//! - both paths hash correctly level by level, with the same siblings, in the order the
//!   index bits say, and the index equals the absorbed `from.index` (`to.index`) and is
//!   below 2^32;
//! - the old path's root is the previous update's new root, starting from `old_root`; the
//!   last update's new root is `new_root`;
//! - sender side: `ZA = [leaf.tag == from.tag]`, `ZB = [leaf.nonce == nonce]`, the balance
//!   minus the amount with borrows `CL`, `CH` and range-checked limbs, `P = ZA·ZB·(1 − CH)`;
//! - recipient side: `ZA = [leaf.tag ∈ {0, to.tag}]`, the balance plus the amount with carries
//!   and range-checked limbs, `A = P·ZA·(1 − CH)`;
//! - if `A`, the sender's leaf becomes `(tag, diff_lo, diff_hi, nonce + 1)` and the
//!   recipient's `(to.tag, sum_lo, sum_hi, nonce)`; if not, both leaves stay as they are;
//! - the sponge absorbs every half-record and starts from the header digest; its final rate
//!   word is `commitment`.
//!
//! Limb arithmetic is exact: every limb is below 2^32 (stored leaves were range-checked when
//! written, genesis leaves by construction, amounts are split by the verifier), so no limb
//! equation can wrap around the 64-bit field.

use rollup::{Felt, Word};
use weft_rollup_token as rollup;
use winter_crypto::hashers::Rp64_256;
use winterfell::{
    math::{FieldElement, ToElements},
    Air, AirContext, Assertion, EvaluationFrame, ProofOptions, TraceInfo,
    TransitionConstraintDegree,
};

pub(crate) const O: usize = 0;
pub(crate) const N: usize = 12;
pub(crate) const S: usize = 24;
pub(crate) const B: usize = 36;
pub(crate) const IDX: usize = 37;
pub(crate) const R1: usize = 38;
pub(crate) const R2: usize = 39;
pub(crate) const ROOT: usize = 40;
pub(crate) const A: usize = 44;
pub(crate) const P: usize = 45;
pub(crate) const ZA: usize = 46;
pub(crate) const IA: usize = 47;
pub(crate) const ZB: usize = 48;
pub(crate) const IB: usize = 49;
pub(crate) const CL: usize = 50;
pub(crate) const CH: usize = 51;
/// Trace width.
pub(crate) const WIDTH: usize = 52;

/// Rows per slot (one permutation).
pub(crate) const SLOT: usize = 8;
/// Rows per leaf update.
pub(crate) const UPDATE: usize = SLOT * rollup::DEPTH;
/// Rows per record.
pub(crate) const RECORD: usize = 2 * UPDATE;

const TWO32: u64 = 1 << 32;

// Periodic columns.
const K_ROUND: usize = 0; // rows 0..6 of a slot: a round follows
const K_SSTART: usize = 1; // row 0 of a slot
const K_LOAD: usize = 2; // row 7 of slots 0..30: the digest moves up a level
const K_UEND: usize = 3; // last row of an update
const K_PRE_END: usize = 4; // second-to-last row of an update
const K_USTART: usize = 5; // first row of an update
const K_SROUND: usize = 6; // rows 0..6 of an update: a sponge round follows
const K_SHOLD_RATE: usize = 7; // the sponge's rate holds
const K_SHOLD_CAP: usize = 8; // the sponge's capacity holds
const K_SENDER: usize = 9; // first row of a record (sender's update)
const K_RECIPIENT: usize = 10; // first row of the recipient's update
const K_NOT_RECORD_END: usize = 11; // not the last row of a record
const ARK1: usize = 12;
const ARK2: usize = 24; // INV_MDS · ARK2, so the inverse half-round is checked forwards
const PERIODIC: usize = 36;

/// The statement a batch proof proves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicInputs {
    /// Digest of the batch header (rollup, batch index, namespace range).
    pub header: Word,
    /// State root before the batch.
    pub old_root: Word,
    /// State root after the batch.
    pub new_root: Word,
    /// Sponge commitment to the batch's records.
    pub commitment: Word,
}

impl ToElements<Felt> for PublicInputs {
    fn to_elements(&self) -> Vec<Felt> {
        [self.header, self.old_root, self.new_root, self.commitment].concat()
    }
}

/// The AIR.
pub struct TokenAir {
    context: AirContext<Felt>,
    inputs: PublicInputs,
}

fn deg(base: usize, cycle: usize) -> TransitionConstraintDegree {
    TransitionConstraintDegree::with_cycles(base, vec![cycle])
}

impl Air for TokenAir {
    type BaseField = Felt;
    type PublicInputs = PublicInputs;

    fn new(trace_info: TraceInfo, inputs: PublicInputs, options: ProofOptions) -> Self {
        assert_eq!(trace_info.width(), WIDTH, "token trace width");
        let mut d = Vec::new();
        // Hash rounds: O, N, S.
        d.extend((0..24).map(|_| deg(7, SLOT)));
        d.extend((0..12).map(|_| deg(7, UPDATE)));
        // Sponge holds: rate, capacity.
        d.extend((0..12).map(|_| deg(1, UPDATE)));
        // Path capacities at slot starts (O, N).
        d.extend((0..8).map(|_| deg(1, SLOT)));
        // Shared siblings.
        d.extend((0..4).map(|_| deg(2, SLOT)));
        // Digest moves up (O, N).
        d.extend((0..8).map(|_| deg(2, UPDATE)));
        // B constant in a slot, binary.
        d.push(deg(1, SLOT));
        d.push(deg(2, SLOT));
        // IDX: constant in a slot, halving, top bit, loaded from the sponge.
        d.push(deg(1, SLOT));
        d.push(deg(1, UPDATE));
        d.push(deg(1, UPDATE));
        d.push(deg(1, UPDATE));
        // R1, R2: constant in a slot, binary halving, top bit.
        for _ in 0..2 {
            d.push(deg(1, SLOT));
            d.push(deg(2, UPDATE));
            d.push(deg(2, UPDATE));
        }
        // ROOT moves, old root check.
        d.extend((0..8).map(|_| deg(1, UPDATE)));
        // A, P constant per record.
        d.push(deg(1, RECORD));
        d.push(deg(1, RECORD));
        // CL, CH binary at update starts.
        d.push(deg(2, UPDATE));
        d.push(deg(2, UPDATE));
        // Sender side.
        d.extend([3, 3, 3, 3, 2, 2, 3, 2, 3, 3, 2].map(|b| deg(b, RECORD)));
        // Recipient side.
        d.extend([5, 5, 2, 2, 3, 3, 3, 3, 2].map(|b| deg(b, RECORD)));
        assert_eq!(d.len(), CONSTRAINTS);
        Self {
            context: AirContext::new(trace_info, d, 16, options),
            inputs,
        }
    }

    fn context(&self) -> &AirContext<Felt> {
        &self.context
    }

    fn evaluate_transition<E: FieldElement<BaseField = Felt>>(
        &self,
        frame: &EvaluationFrame<E>,
        k: &[E],
        out: &mut [E],
    ) {
        evaluate(frame.current(), frame.next(), k, out);
    }

    fn get_assertions(&self) -> Vec<Assertion<Felt>> {
        let last = self.trace_length() - 1;
        let mut a = Vec::with_capacity(16);
        for i in 0..4 {
            a.push(Assertion::single(ROOT + i, 0, self.inputs.old_root[i]));
            a.push(Assertion::single(S + i, 0, self.inputs.header[i]));
            a.push(Assertion::single(N + 4 + i, last, self.inputs.new_root[i]));
            a.push(Assertion::single(
                S + 4 + i,
                last,
                self.inputs.commitment[i],
            ));
        }
        a
    }

    fn get_periodic_column_values(&self) -> Vec<Vec<Felt>> {
        periodic_columns()
    }
}

/// Number of transition constraints.
pub(crate) const CONSTRAINTS: usize = 24 + 12 + 12 + 8 + 4 + 8 + 2 + 4 + 6 + 8 + 2 + 2 + 11 + 9;

fn flag(len: usize, on: impl Fn(usize) -> bool) -> Vec<Felt> {
    (0..len)
        .map(|r| if on(r) { Felt::ONE } else { Felt::ZERO })
        .collect()
}

/// The periodic columns, in the `K_*` order.
pub(crate) fn periodic_columns() -> Vec<Vec<Felt>> {
    let mut cols = vec![Vec::new(); PERIODIC];
    cols[K_ROUND] = flag(SLOT, |r| r < 7);
    cols[K_SSTART] = flag(SLOT, |r| r == 0);
    cols[K_LOAD] = flag(UPDATE, |r| r % SLOT == 7 && r / SLOT < rollup::DEPTH - 1);
    cols[K_UEND] = flag(UPDATE, |r| r == UPDATE - 1);
    cols[K_PRE_END] = flag(UPDATE, |r| r == UPDATE - 2);
    cols[K_USTART] = flag(UPDATE, |r| r == 0);
    cols[K_SROUND] = flag(UPDATE, |r| r < 7);
    cols[K_SHOLD_RATE] = flag(UPDATE, |r| r >= 7 && r != UPDATE - 1);
    cols[K_SHOLD_CAP] = flag(UPDATE, |r| r >= 7);
    cols[K_SENDER] = flag(RECORD, |r| r == 0);
    cols[K_RECIPIENT] = flag(RECORD, |r| r == UPDATE);
    cols[K_NOT_RECORD_END] = flag(RECORD, |r| r != RECORD - 1);
    for i in 0..12 {
        cols[ARK1 + i] = (0..SLOT)
            .map(|r| {
                if r < 7 {
                    Rp64_256::ARK1[r][i]
                } else {
                    Felt::ZERO
                }
            })
            .collect();
        cols[ARK2 + i] = (0..SLOT)
            .map(|r| {
                if r < 7 {
                    (0..12)
                        .map(|j| Rp64_256::INV_MDS[i][j] * Rp64_256::ARK2[r][j])
                        .fold(Felt::ZERO, |acc, x| acc + x)
                } else {
                    Felt::ZERO
                }
            })
            .collect();
    }
    cols
}

fn exp7<E: FieldElement>(x: E) -> E {
    let x2 = x.square();
    let x4 = x2.square();
    x4 * x2 * x
}

/// `MDS·cur^7 + ARK1 − (INV_MDS·next − INV_MDS·ARK2)^7`, which is zero iff `next` is one
/// Rescue-XLIX round of `cur` (the inverse S-box is checked by raising its output).
fn round<E: FieldElement<BaseField = Felt>>(
    cur: &[E],
    next: &[E],
    k: &[E],
    flag: E,
    out: &mut [E],
) {
    let mut pow = [E::ZERO; 12];
    for i in 0..12 {
        pow[i] = exp7(cur[i]);
    }
    for i in 0..12 {
        let mut fwd = k[ARK1 + i];
        let mut back = -k[ARK2 + i];
        for j in 0..12 {
            fwd += E::from(Rp64_256::MDS[i][j]) * pow[j];
            back += E::from(Rp64_256::INV_MDS[i][j]) * next[j];
        }
        out[i] = flag * (fwd - exp7(back));
    }
}

/// The word at the current node's position (left if `bit` is 0).
fn node<E: FieldElement>(lane: &[E], bit: E, i: usize) -> E {
    lane[4 + i] + bit * (lane[8 + i] - lane[4 + i])
}

/// The word at the sibling's position.
fn sibling<E: FieldElement>(lane: &[E], bit: E, i: usize) -> E {
    lane[8 + i] + bit * (lane[4 + i] - lane[8 + i])
}

pub(crate) fn evaluate<E: FieldElement<BaseField = Felt>>(
    c: &[E],
    n: &[E],
    k: &[E],
    out: &mut [E],
) {
    let one = E::ONE;
    let two = E::from(2u32);
    let two32 = E::from(Felt::new(TWO32));
    let mut at = 0;
    let mut push = |v: E| {
        out[at] = v;
        at += 1;
    };
    let mut rounds = [E::ZERO; 12];
    for (lane, flag) in [(O, k[K_ROUND]), (N, k[K_ROUND]), (S, k[K_SROUND])] {
        round(
            &c[lane..lane + 12],
            &n[lane..lane + 12],
            k,
            flag,
            &mut rounds,
        );
        rounds.iter().for_each(|v| push(*v));
    }
    for i in 0..8 {
        push(k[K_SHOLD_RATE] * (n[S + 4 + i] - c[S + 4 + i]));
    }
    for i in 0..4 {
        push(k[K_SHOLD_CAP] * (n[S + i] - c[S + i]));
    }
    for lane in [O, N] {
        push(k[K_SSTART] * (c[lane] - E::from(8u32)));
        for i in 1..4 {
            push(k[K_SSTART] * c[lane + i]);
        }
    }
    let bit = c[B];
    for i in 0..4 {
        push(k[K_SSTART] * (sibling(&c[O..O + 12], bit, i) - sibling(&c[N..N + 12], bit, i)));
    }
    for lane in [O, N] {
        for i in 0..4 {
            push(k[K_LOAD] * (node(&n[lane..lane + 12], n[B], i) - c[lane + 4 + i]));
        }
    }
    push(k[K_ROUND] * (n[B] - bit));
    push(k[K_SSTART] * (bit * bit - bit));
    push(k[K_ROUND] * (n[IDX] - c[IDX]));
    push(k[K_LOAD] * (c[IDX] - two * n[IDX] - bit));
    push(k[K_UEND] * (c[IDX] - bit));
    push(k[K_USTART] * (c[IDX] - c[S + 4]));
    for r in [R1, R2] {
        let b = c[r] - two * n[r];
        push(k[K_ROUND] * (n[r] - c[r]));
        push(k[K_LOAD] * (b * b - b));
        push(k[K_UEND] * (c[r] * c[r] - c[r]));
    }
    for i in 0..4 {
        push((n[ROOT + i] - c[ROOT + i]) - k[K_UEND] * (c[N + 4 + i] - c[ROOT + i]));
    }
    for i in 0..4 {
        push(k[K_PRE_END] * (n[O + 4 + i] - n[ROOT + i]));
    }
    push(k[K_NOT_RECORD_END] * (n[A] - c[A]));
    push(k[K_NOT_RECORD_END] * (n[P] - c[P]));
    push(k[K_USTART] * (c[CL] * c[CL] - c[CL]));
    push(k[K_USTART] * (c[CH] * c[CH] - c[CH]));

    // Leaves at an update's first row: old from O, new from N.
    let ol: [E; 4] = core::array::from_fn(|i| node(&c[O..O + 12], bit, i));
    let nl: [E; 4] = core::array::from_fn(|i| node(&c[N..N + 12], bit, i));
    let (za, ia, zb, ib, cl, ch) = (c[ZA], c[IA], c[ZB], c[IB], c[CL], c[CH]);
    let (a, p) = (c[A], c[P]);

    // Sender: rate = [from.index, from.tag, nonce, amount_lo, amount_hi, ..].
    let ks = k[K_SENDER];
    let x1 = ol[0] - c[S + 5];
    let x2 = ol[3] - c[S + 6];
    push(ks * (za * x1));
    push(ks * (x1 * ia - one + za));
    push(ks * (zb * x2));
    push(ks * (x2 * ib - one + zb));
    push(ks * (c[R1] - (ol[1] - c[S + 7] + cl * two32)));
    push(ks * (c[R2] - (ol[2] - c[S + 8] - cl + ch * two32)));
    push(ks * (p - za * zb * (one - ch)));
    push(ks * (nl[0] - ol[0]));
    push(ks * (nl[1] - ol[1] - a * (c[R1] - ol[1])));
    push(ks * (nl[2] - ol[2] - a * (c[R2] - ol[2])));
    push(ks * (nl[3] - ol[3] - a));

    // Recipient: rate = [to.index, to.tag, amount_lo, amount_hi, ..].
    let kr = k[K_RECIPIENT];
    let x4 = (ol[0] - c[S + 5]) * ol[0];
    push(kr * (za * x4));
    push(kr * (x4 * ia - one + za));
    push(kr * (c[R1] - (ol[1] + c[S + 6] - cl * two32)));
    push(kr * (c[R2] - (ol[2] + c[S + 7] + cl - ch * two32)));
    push(kr * (a - p * za * (one - ch)));
    push(kr * (nl[0] - ol[0] - a * (c[S + 5] - ol[0])));
    push(kr * (nl[1] - ol[1] - a * (c[R1] - ol[1])));
    push(kr * (nl[2] - ol[2] - a * (c[R2] - ol[2])));
    push(kr * (nl[3] - ol[3]));
    debug_assert_eq!(at, CONSTRAINTS);
}
