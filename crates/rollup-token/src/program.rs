//! The token rollup as a [`Program`] of a rollup world (`weft_rollup_kit`).
//!
//! A plain transaction is a transfer (the rules of [`crate::state`]). A bundle leg is a
//! transfer too, executed only if its bundle executes (the outcome rule): it is applied
//! tentatively and undone if another leg fails. A leg carries no precondition of its own:
//! its validity (signature, nonce, balance) is the check.
//!
//! With witnesses on, every record that the batch proof covers yields its witness: plain
//! transfers that pass the stateless rules (applied or skipped by a stateful rule), and legs
//! of bundles that executed. A leg of a reverted bundle is no record: the settlement
//! contract leaves it out of the batch by the outcome the batch exposes.

use crate::{Account, Record, Skip, Step, TokenState, TransferDomain};
use std::collections::BTreeMap;
use weft_rollup_kit::{ExecTx, Program};
use weft_types::{NamespaceId, TxHash};

/// The token rollup's program.
pub struct TokenProgram {
    /// The state.
    pub state: TokenState,
    domain: TransferDomain,
    witnesses: bool,
    /// Slots touched by the open bundle's legs, with what they held before (oldest first).
    undo: Vec<(u32, Option<Account>)>,
    /// The open bundle's witnesses, kept only if it executes.
    tentative: Vec<(TxHash, Record, Step)>,
    /// This block's witnesses so far, by transaction.
    block: BTreeMap<TxHash, (Record, Step)>,
}

impl TokenProgram {
    /// The program for the rollup `domain` names, from `state`; `witnesses` collects the
    /// prover's witnesses (a batching rollup).
    pub fn new(state: TokenState, domain: TransferDomain, witnesses: bool) -> Self {
        Self {
            state,
            domain,
            witnesses,
            undo: Vec::new(),
            tentative: Vec::new(),
            block: BTreeMap::new(),
        }
    }

    /// Takes the witness of a transaction just executed, if the batch proof covers it (a
    /// record: see the module docs).
    pub fn take_witness(&mut self, tx: &TxHash) -> Option<(Record, Step)> {
        self.block.remove(tx)
    }

    /// Drops witnesses nobody took (a rollup not batching this block).
    pub fn clear_witnesses(&mut self) {
        self.block.clear();
    }
}

fn reason(skip: Skip) -> String {
    skip.to_string()
}

impl Program for TokenProgram {
    fn namespace(&self) -> NamespaceId {
        self.domain.rollup
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn apply(&mut self, tx: &ExecTx) -> Result<(), String> {
        let record = Record::from_payload(&tx.payload, &self.domain).map_err(reason)?;
        if self.witnesses {
            let (step, outcome) = self.state.step(&record);
            self.block.insert(tx.hash, (record, step));
            outcome.map_err(reason)
        } else {
            self.state.apply_record(&record).map_err(reason)
        }
    }

    fn apply_leg(&mut self, tx: &ExecTx, _bundle: &[&ExecTx]) -> Result<(), String> {
        // Signed in the leg domain, and placed in the bundle by the payer itself: nobody
        // else can spend a payer's transfer in a bundle of theirs.
        let record = Record::from_leg_payload(&tx.payload, &self.domain).map_err(reason)?;
        let payer = crate::Transfer::decode(&tx.payload).map_or([0; 32], |t| t.from);
        if payer != tx.sender {
            return Err(format!(
                "the transfer's payer {} is not the leg's sender {}",
                weft_types::to_hex(&payer[..8]),
                weft_types::to_hex(&tx.sender[..8])
            ));
        }
        let before = [
            (record.from.index, self.state.slot(record.from.index)),
            (record.to.index, self.state.slot(record.to.index)),
        ];
        if self.witnesses {
            let (step, outcome) = self.state.step(&record);
            outcome.map_err(reason)?;
            self.tentative.push((tx.hash, record, step));
        } else {
            self.state.apply_record(&record).map_err(reason)?;
        }
        self.undo.extend(before);
        Ok(())
    }

    fn commit_bundle(&mut self) {
        self.undo.clear();
        for (hash, record, step) in self.tentative.drain(..) {
            self.block.insert(hash, (record, step));
        }
    }

    fn abort_bundle(&mut self) {
        // Newest first, so each slot ends as it was before the bundle's first leg.
        for (index, account) in self.undo.drain(..).rev() {
            self.state.restore(index, account);
        }
        self.tentative.clear();
    }

    fn state_root(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, e) in self.state.root().iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&e.as_int().to_le_bytes());
        }
        out
    }
}
