//! The batch commitment: an Rp64_256 sponge over the batch's records, which the batch STARK
//! recomputes in its trace so that one digest in its public inputs binds every record.
//!
//! The sponge's capacity starts as the digest of the batch header (rollup, batch index and
//! the namespace range), so a proof for one batch cannot be presented for another. Each
//! record is absorbed in two permutations, each overwriting the rate: the sender's half
//! `[from.index, from.tag, nonce, amount_lo, amount_hi, 0, 0, 0]`, then the recipient's half
//! `[to.index, to.tag, amount_lo, amount_hi, 0, 0, 0, 0]`. The record list is padded to a
//! power of two with [`padding`] records, which no account can execute (their nonce is the
//! field's largest element). The commitment is the rate's first word after the last
//! permutation.

use crate::{Address, Felt, Record, Word};
use winter_crypto::{hashers::Rp64_256, ElementHasher as _};
use winter_math::FieldElement as _;

/// Elements of a sponge state.
pub type SpongeState = [Felt; 12];

/// The nonce of padding records: `p - 1`, which no account nonce (a `u32`) reaches.
pub const PADDING_NONCE: u64 = 0xFFFF_FFFF_0000_0000;

/// Number of records a batch of `n` is padded to.
pub fn padded_len(n: usize) -> usize {
    n.max(1).next_power_of_two()
}

/// The padding record.
pub fn padding() -> PaddedRecord {
    PaddedRecord {
        from: Address { index: 0, tag: 0 },
        to: Address { index: 0, tag: 0 },
        amount: 0,
        nonce: PADDING_NONCE,
    }
}

/// A record as the proof sees it (padding records carry a nonce outside `u32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaddedRecord {
    /// Sender.
    pub from: Address,
    /// Recipient.
    pub to: Address,
    /// Amount.
    pub amount: u64,
    /// Nonce.
    pub nonce: u64,
}

impl From<&Record> for PaddedRecord {
    fn from(r: &Record) -> Self {
        Self {
            from: r.from,
            to: r.to,
            amount: r.amount,
            nonce: r.nonce as u64,
        }
    }
}

impl PaddedRecord {
    /// The sender half of the rate.
    pub fn sender_rate(&self) -> [Felt; 8] {
        [
            Felt::new(self.from.index as u64),
            Felt::new(self.from.tag),
            Felt::new(self.nonce),
            Felt::new(self.amount & 0xffff_ffff),
            Felt::new(self.amount >> 32),
            Felt::ZERO,
            Felt::ZERO,
            Felt::ZERO,
        ]
    }

    /// The recipient half of the rate.
    pub fn recipient_rate(&self) -> [Felt; 8] {
        [
            Felt::new(self.to.index as u64),
            Felt::new(self.to.tag),
            Felt::new(self.amount & 0xffff_ffff),
            Felt::new(self.amount >> 32),
            Felt::ZERO,
            Felt::ZERO,
            Felt::ZERO,
            Felt::ZERO,
        ]
    }
}

/// The records padded to [`padded_len`].
pub fn padded(records: &[Record]) -> Vec<PaddedRecord> {
    let mut out: Vec<PaddedRecord> = records.iter().map(PaddedRecord::from).collect();
    out.resize(padded_len(records.len()), padding());
    out
}

/// Digest of a batch header: rollup, batch index, and the namespace range `[start, end)` as
/// `(height, index)` cursors. Every integer is split into 32-bit limbs so the encoding is
/// injective.
pub fn header_digest(rollup: u64, batch_index: u64, start: (u64, u32), end: (u64, u32)) -> Word {
    let limbs = |x: u64| [Felt::new(x & 0xffff_ffff), Felt::new(x >> 32)];
    let mut e = Vec::with_capacity(10);
    e.extend(limbs(rollup));
    e.extend(limbs(batch_index));
    e.extend(limbs(start.0));
    e.push(Felt::new(start.1 as u64));
    e.extend(limbs(end.0));
    e.push(Felt::new(end.1 as u64));
    Rp64_256::hash_elements(&e).into()
}

/// The sponge's state before the first absorption.
pub fn initial_state(header: &Word) -> SpongeState {
    let mut s = [Felt::ZERO; 12];
    s[..4].copy_from_slice(header);
    s
}

/// Overwrites the rate with `rate` and permutes.
pub fn absorb(state: &mut SpongeState, rate: &[Felt; 8]) {
    state[4..].copy_from_slice(rate);
    Rp64_256::apply_permutation(state);
}

/// The commitment to `records` under `header` (see the module docs).
pub fn commitment(header: &Word, records: &[Record]) -> Word {
    let mut state = initial_state(header);
    for r in padded(records) {
        absorb(&mut state, &r.sender_rate());
        absorb(&mut state, &r.recipient_rate());
    }
    state[4..8].try_into().expect("4")
}
