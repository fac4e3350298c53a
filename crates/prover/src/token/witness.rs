//! The prover's input (a batch witness) and the statement a proof proves, with their
//! bounded binary encodings (little-endian `u64`s).

use super::air::PublicInputs;
use rollup::{
    commitment::{self, PaddedRecord},
    Address, Felt, Record, Skip, Step, TokenState, Word, DEPTH,
};
use weft_rollup_token as rollup;
use winter_math::{FieldElement as _, StarkField as _};

/// Most records (after padding) a witness may hold.
pub const WITNESS_RECORDS_MAX: usize = 4096;
/// Encoded size of a statement.
pub const STATEMENT_BYTES: usize = 16 * 8;

const STEP_WORDS: usize = 2 * (1 + DEPTH);
const RECORD_U64S: usize = 6;

/// Everything the prover needs for one batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Witness {
    /// Header digest ([`commitment::header_digest`]).
    pub header: Word,
    /// Root before the batch.
    pub old_root: Word,
    /// The records, padded to a power of two.
    pub records: Vec<PaddedRecord>,
    /// One step per (padded) record.
    pub steps: Vec<Step>,
}

impl Witness {
    /// Executes `records` on `state` and collects the witness; also returns each real
    /// record's outcome. `state` ends as the batch's post-state.
    pub fn build(
        header: Word,
        state: &mut TokenState,
        records: &[Record],
    ) -> (Self, Vec<Result<(), Skip>>) {
        let old_root = state.root();
        let mut steps = Vec::with_capacity(commitment::padded_len(records.len()));
        let mut outcomes = Vec::with_capacity(records.len());
        for r in records {
            let (step, outcome) = state.step(r);
            steps.push(step);
            outcomes.push(outcome);
        }
        let witness = Self::from_steps(header, old_root, records, steps, state.padding_step());
        (witness, outcomes)
    }

    /// The witness of `records` already executed from `old_root` with their `steps`;
    /// `padding` is the padding step in the post-state.
    pub fn from_steps(
        header: Word,
        old_root: Word,
        records: &[Record],
        mut steps: Vec<Step>,
        padding: Step,
    ) -> Self {
        assert_eq!(steps.len(), records.len(), "one step per record");
        let records = commitment::padded(records);
        steps.resize(records.len(), padding);
        Self {
            header,
            old_root,
            records,
            steps,
        }
    }

    /// The encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(8 * (9 + self.records.len() * (RECORD_U64S + 4 * STEP_WORDS)));
        let mut put = |x: u64| out.extend_from_slice(&x.to_le_bytes());
        self.header
            .iter()
            .chain(&self.old_root)
            .for_each(|f| put(f.as_int()));
        put(self.records.len() as u64);
        for (r, s) in self.records.iter().zip(&self.steps) {
            for x in [
                r.from.index as u64,
                r.from.tag,
                r.to.index as u64,
                r.to.tag,
                r.amount,
                r.nonce,
            ] {
                put(x);
            }
            for w in std::iter::once(&s.sender_leaf)
                .chain(&s.sender_path)
                .chain(std::iter::once(&s.recipient_leaf))
                .chain(&s.recipient_path)
            {
                w.iter().for_each(|f| put(f.as_int()));
            }
        }
        out
    }

    /// Decodes a witness, refusing more than [`WITNESS_RECORDS_MAX`] records, a count that
    /// is not a power of two, non-canonical field elements and trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut r = Reader { bytes, at: 0 };
        let header = r.word()?;
        let old_root = r.word()?;
        let n = r.u64()? as usize;
        if n == 0 || !n.is_power_of_two() || n > WITNESS_RECORDS_MAX {
            return Err(format!(
                "witness has {n} records; expected a power of two in 1..={WITNESS_RECORDS_MAX}"
            ));
        }
        let need = n * 8 * (RECORD_U64S + 4 * STEP_WORDS);
        if bytes.len() - r.at != need {
            return Err(format!(
                "witness body is {} bytes, expected {need} for {n} records",
                bytes.len() - r.at
            ));
        }
        let mut records = Vec::with_capacity(n);
        let mut steps = Vec::with_capacity(n);
        for _ in 0..n {
            let index =
                |x: u64| u32::try_from(x).map_err(|_| format!("leaf index {x} exceeds 32 bits"));
            let from_index = index(r.u64()?)?;
            let from_tag = r.u64()?;
            let to_index = index(r.u64()?)?;
            let to_tag = r.u64()?;
            let amount = r.u64()?;
            let nonce = r.u64()?;
            records.push(PaddedRecord {
                from: Address {
                    index: from_index,
                    tag: from_tag,
                },
                to: Address {
                    index: to_index,
                    tag: to_tag,
                },
                amount,
                nonce,
            });
            let sender_leaf = r.word()?;
            let sender_path = r.path()?;
            let recipient_leaf = r.word()?;
            let recipient_path = r.path()?;
            steps.push(Step {
                sender_leaf,
                sender_path,
                recipient_leaf,
                recipient_path,
            });
        }
        Ok(Self {
            header,
            old_root,
            records,
            steps,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn u64(&mut self) -> Result<u64, String> {
        let b = self
            .bytes
            .get(self.at..self.at + 8)
            .ok_or_else(|| format!("truncated at byte {}", self.at))?;
        self.at += 8;
        Ok(u64::from_le_bytes(b.try_into().expect("8")))
    }

    fn felt(&mut self) -> Result<Felt, String> {
        let x = self.u64()?;
        if x >= Felt::MODULUS {
            return Err(format!("{x} is not a canonical field element"));
        }
        Ok(Felt::new(x))
    }

    fn word(&mut self) -> Result<Word, String> {
        Ok([self.felt()?, self.felt()?, self.felt()?, self.felt()?])
    }

    fn path(&mut self) -> Result<[Word; DEPTH], String> {
        let mut p = [[Felt::ZERO; 4]; DEPTH];
        for w in &mut p {
            *w = self.word()?;
        }
        Ok(p)
    }
}

impl PublicInputs {
    /// The 128-byte encoding.
    pub fn encode(&self) -> Vec<u8> {
        [self.header, self.old_root, self.new_root, self.commitment]
            .iter()
            .flatten()
            .flat_map(|f| f.as_int().to_le_bytes())
            .collect()
    }

    /// Decodes a statement.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() != STATEMENT_BYTES {
            return Err(format!(
                "a statement is {STATEMENT_BYTES} bytes, got {}",
                bytes.len()
            ));
        }
        let mut r = Reader { bytes, at: 0 };
        Ok(Self {
            header: r.word()?,
            old_root: r.word()?,
            new_root: r.word()?,
            commitment: r.word()?,
        })
    }
}
