//! The embedded L1: a small local chain, persisted in one redb file, that runs the
//! [settlement contract](crate::contract) and the rollup inboxes.

use crate::auth::{Deployment, SignedRegistration};
use crate::contract::{self, Refused, RollupState};
use crate::staking::{self, EvidenceVerifier, SignedStakeCall, StakeError};
use crate::{
    Config, Hash, InboxMessage, L1Block, L1Tx, Outcome, Program, Receipt, Reject, RollupStatus,
    SettledBatch, SettlementError, Submission, SubmitCall, WeftData, L1,
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::info;

/// Block number -> JSON [`L1Block`].
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
/// Rollup id -> JSON contract state.
const ROLLUPS: TableDefinition<u64, &[u8]> = TableDefinition::new("rollups");
/// (rollup, batch index) -> JSON [`SettledBatch`].
const BATCHES: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("batches");
/// (rollup, message index) -> JSON [`InboxMessage`].
const INBOX: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("inbox");
/// Digest of every recorded signed submission ([`Submission::digest`]) -> the L1 block
/// that recorded it: a replayed copy is answered without being done again. (Submissions
/// refused as not finalized yet are not kept: the rollup sends the same one again.)
const SUBMISSIONS: TableDefinition<&[u8; 32], u64> = TableDefinition::new("submissions");
/// Account key -> JSON [`staking::Account`].
const ACCOUNTS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("accounts");
/// Validator key -> JSON [`staking::Validator`].
const VALIDATORS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("validators");
/// Offence id -> the L1 block that slashed it (staking rule S7).
const OFFENCES: TableDefinition<&[u8; 32], u64> = TableDefinition::new("offences");
/// Chain metadata: [`HEAD`] and [`SCHEMA`].
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Bundle id -> (rollup that settled it first, executed as 0/1): rule 5b's memory.
const BUNDLE_OUTCOMES: TableDefinition<&[u8; 32], (u64, u8)> =
    TableDefinition::new("bundle_outcomes");

/// Meta key of the latest block number.
const HEAD: &str = "head";
/// Meta key of the schema version, so a future layout change is detected, not misread.
const SCHEMA: &str = "schema";
/// 2: a rollup's state names its submitter (auth rule A2).
const SCHEMA_VERSION: u64 = 2;

/// The embedded L1: a small local chain, persisted in one redb file, that runs the
/// [settlement contract](crate::contract) and the rollup inboxes.
///
/// Blocks are sealed instantly (like anvil's automine): every state-changing call is one L1
/// transaction in its own new block, written (fsync) before the call returns. The contract's
/// state change and the block that records it are one write transaction, so a crash leaves
/// either both or neither. Calls that write are serialized by one lock held across the
/// final check and the write, so two submissions of the same batch index cannot both
/// settle; a submission's data fetch and proof verification run before it, and only for
/// calls signed by the key allowed to make them ([auth](crate::auth) rule A3).
pub struct EmbeddedL1 {
    db: Database,
    cfg: Config,
    /// The Weft chain whose rollups this L1 settles: named by every signing domain.
    chain: weft_types::ChainId,
    rollups: BTreeMap<u64, Deployment>,
    weft: Arc<dyn WeftData>,
    /// Held across every final check and write: the chain has one writer at a time.
    write: Mutex<()>,
    /// Inbox sends in the current second, per registered rollup: (second since the Unix
    /// epoch, count).
    inbox_window: Mutex<BTreeMap<u64, (u64, u32)>>,
    /// Checks slashing evidence (none: the L1 slashes nothing).
    evidence: Option<Arc<dyn EvidenceVerifier>>,
}

/// The staking side of an L1's deployment.
#[derive(Clone, Default)]
pub struct StakingDeployment {
    /// Accounts funded by the genesis block: (public key, balance). Fixed when the chain is
    /// created; reopening it with others is an error.
    pub genesis_accounts: Vec<([u8; 32], u64)>,
    /// Checks slashing evidence against the validator set (staking rule S7).
    pub evidence: Option<Arc<dyn EvidenceVerifier>>,
}

/// What a staking call did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StakeReceipt {
    /// The block that recorded it.
    pub l1_block: u64,
    /// The account after it.
    pub account: staking::Account,
    /// The validator after it.
    pub validator: staking::Validator,
}

/// What a slash did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SlashReceipt {
    /// The block that recorded it.
    pub l1_block: u64,
    /// The offence.
    pub kind: staking::OffenceKind,
    /// The validator after it.
    pub validator: staking::Validator,
    /// Amount taken.
    pub slashed: u64,
    /// Paid to the reporter.
    pub reward: u64,
}

/// The block a write transaction is building.
struct Pending {
    number: u64,
    parent_hash: Hash,
    timestamp_ms: u64,
}

impl EmbeddedL1 {
    /// Opens (or creates, with a genesis block) the chain at `path`, settling rollups of the
    /// Weft `chain`. `rollups` are the rollups it is deployed with (proof program and owner
    /// each); `weft` is the finalized Weft data batches are checked against.
    pub fn open(
        path: impl AsRef<Path>,
        cfg: Config,
        chain: weft_types::ChainId,
        rollups: BTreeMap<u64, Deployment>,
        weft: Arc<dyn WeftData>,
    ) -> Result<Self, SettlementError> {
        Self::open_with(
            path,
            cfg,
            chain,
            rollups,
            weft,
            StakingDeployment::default(),
        )
    }

    /// [`EmbeddedL1::open`], with the staking program's genesis accounts and evidence
    /// verifier.
    pub fn open_with(
        path: impl AsRef<Path>,
        cfg: Config,
        chain: weft_types::ChainId,
        rollups: BTreeMap<u64, Deployment>,
        weft: Arc<dyn WeftData>,
        staking: StakingDeployment,
    ) -> Result<Self, SettlementError> {
        cfg.validate().map_err(SettlementError::Config)?;
        if staking.genesis_accounts.len() > staking::GENESIS_ACCOUNTS_MAX {
            return Err(SettlementError::Config(format!(
                "{} genesis accounts, more than {}",
                staking.genesis_accounts.len(),
                staking::GENESIS_ACCOUNTS_MAX
            )));
        }
        let mut funds = staking.genesis_accounts.clone();
        funds.sort();
        if funds.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(SettlementError::Config(
                "a genesis account is funded twice".into(),
            ));
        }
        let funding: Vec<L1Tx> = funds
            .iter()
            .map(|(account, balance)| L1Tx::Fund {
                account: *account,
                balance: *balance,
            })
            .collect();
        let db = Database::create(path.as_ref())?;
        let txn = db.begin_write()?;
        {
            txn.open_table(ACCOUNTS)?;
            txn.open_table(VALIDATORS)?;
            txn.open_table(OFFENCES)?;
            txn.open_table(ROLLUPS)?;
            txn.open_table(BATCHES)?;
            txn.open_table(INBOX)?;
            txn.open_table(SUBMISSIONS)?;
            let mut blocks = txn.open_table(BLOCKS)?;
            let mut meta = txn.open_table(META)?;
            let schema = meta.get(SCHEMA)?.map(|v| v.value());
            match schema {
                None => {
                    // A fixed genesis (timestamp 0, the funded accounts in key order) has the
                    // same hash on every machine given the same accounts.
                    let mut accounts = txn.open_table(ACCOUNTS)?;
                    for (account, balance) in &funds {
                        let a = staking::Account {
                            balance: *balance,
                            nonce: 0,
                        };
                        accounts.insert(account, encode(&a).as_slice())?;
                    }
                    let mut genesis = L1Block {
                        number: 0,
                        parent_hash: [0; 32],
                        timestamp_ms: 0,
                        txs: funding,
                        hash: [0; 32],
                    };
                    genesis.hash = genesis.compute_hash();
                    blocks.insert(0, encode(&genesis).as_slice())?;
                    meta.insert(HEAD, 0)?;
                    meta.insert(SCHEMA, SCHEMA_VERSION)?;
                }
                Some(SCHEMA_VERSION) => {
                    let genesis: L1Block = match blocks.get(0)? {
                        Some(v) => decode("block", 0, v.value())?,
                        None => {
                            return Err(SettlementError::Corrupt {
                                what: "block",
                                key: "0".into(),
                                reason: "genesis missing".into(),
                            })
                        }
                    };
                    if !staking.genesis_accounts.is_empty() && genesis.txs != funding {
                        return Err(SettlementError::Config(
                            "this L1's genesis funds other accounts than the ones given".into(),
                        ));
                    }
                }
                Some(other) => {
                    return Err(SettlementError::Corrupt {
                        what: "schema version",
                        key: SCHEMA.into(),
                        reason: format!("found {other}, this build reads {SCHEMA_VERSION}"),
                    })
                }
            }
        }
        txn.commit()?;
        Ok(Self {
            db,
            cfg,
            chain,
            rollups,
            weft,
            write: Mutex::new(()),
            inbox_window: Mutex::new(BTreeMap::new()),
            evidence: staking.evidence,
        })
    }

    /// Executes a signed staking call in a new block (staking rules S1 to S6).
    pub fn stake(&self, signed: SignedStakeCall) -> Result<StakeReceipt, SettlementError> {
        let call = &signed.call;
        // S1, before the lock.
        if !signed.signed(&self.chain) {
            return Err(StakeError::BadSignature {
                account: weft_types::to_hex(&call.account),
            }
            .into());
        }
        let key = match &call.action {
            staking::Action::Bond { validator, .. }
            | staking::Action::Unbond { validator, .. }
            | staking::Action::Withdraw { validator }
            | staking::Action::Unjail { validator }
            | staking::Action::Locate { validator, .. } => *validator,
        };
        let _write = self.lock();
        let txn = self.db.begin_write()?;
        let account: staking::Account =
            read_json(&txn, ACCOUNTS, &call.account, "account")?.unwrap_or_default();
        if call.nonce != account.nonce {
            return Err(StakeError::Nonce {
                expected: account.nonce,
                got: call.nonce,
            }
            .into());
        }
        let validator: Option<staking::Validator> = read_json(&txn, VALIDATORS, &key, "validator")?;
        let pending = pending_block(&txn)?;
        let (mut account, validator) = staking::apply(
            &self.cfg.staking,
            account,
            validator,
            call,
            pending.timestamp_ms,
        )?;
        account.nonce += 1;
        txn.open_table(ACCOUNTS)?
            .insert(&call.account, encode(&account).as_slice())?;
        txn.open_table(VALIDATORS)?
            .insert(&key, encode(&validator).as_slice())?;
        let block = seal(&txn, pending, vec![L1Tx::Stake { call: call.clone() }])?;
        txn.commit()?;
        info!(target: "weft::settlement", account = %weft_types::to_hex(&call.account), validator = %weft_types::to_hex(&key), action = ?call.action, l1_block = block.number, "staking call");
        Ok(StakeReceipt {
            l1_block: block.number,
            account,
            validator,
        })
    }

    /// Slashes the validator `evidence` proves at fault, paying `reporter`'s account its
    /// share (staking rules S7, S8). Open to anyone: the evidence is the authority.
    pub fn slash(
        &self,
        evidence: &[u8],
        reporter: [u8; 32],
    ) -> Result<SlashReceipt, SettlementError> {
        let verifier = self.evidence.as_ref().ok_or_else(|| {
            StakeError::Evidence("this L1 is deployed without an evidence verifier".into())
        })?;
        // S7, before the lock: the verifier checks signatures and certificates.
        let offence = verifier.verify(evidence).map_err(StakeError::Evidence)?;
        let _write = self.lock();
        let txn = self.db.begin_write()?;
        if let Some(block) = txn.open_table(OFFENCES)?.get(&offence.id)? {
            return Err(StakeError::Evidence(format!(
                "this offence was slashed in L1 block {}",
                block.value()
            ))
            .into());
        }
        // S11: the certificates the evidence rests on are signed by a quorum with stake here.
        {
            let validators = txn.open_table(VALIDATORS)?;
            let mut slashable = std::collections::HashMap::new();
            for a in &offence.attested {
                for key in &a.signers {
                    if slashable.contains_key(key) {
                        continue;
                    }
                    let v: Option<staking::Validator> = validators
                        .get(key)?
                        .map(|v| decode("validator", weft_types::to_hex(key), v.value()))
                        .transpose()?;
                    let staked =
                        v.is_some_and(|v| v.bonded > 0 || v.unbonding.iter().any(|u| u.amount > 0));
                    slashable.insert(*key, staked);
                }
            }
            staking::check_attested(&offence.attested, |k| slashable[k])?;
        }
        let Some(mut validator): Option<staking::Validator> =
            read_json(&txn, VALIDATORS, &offence.validator, "validator")?
        else {
            return Err(StakeError::Evidence(format!(
                "validator {} has no stake on this L1",
                weft_types::to_hex(&offence.validator)
            ))
            .into());
        };
        let pending = pending_block(&txn)?;
        let (slashed, reward) = staking::slash(
            &self.cfg.staking,
            &mut validator,
            offence.kind,
            pending.timestamp_ms,
        );
        let mut account: staking::Account =
            read_json(&txn, ACCOUNTS, &reporter, "account")?.unwrap_or_default();
        account.balance = account.balance.saturating_add(reward);
        txn.open_table(ACCOUNTS)?
            .insert(&reporter, encode(&account).as_slice())?;
        txn.open_table(VALIDATORS)?
            .insert(&offence.validator, encode(&validator).as_slice())?;
        txn.open_table(OFFENCES)?
            .insert(&offence.id, pending.number)?;
        let tx = L1Tx::Slash {
            validator: offence.validator,
            kind: offence.kind,
            offence: offence.id,
            slashed,
            reward,
            reporter,
        };
        let block = seal(&txn, pending, vec![tx])?;
        txn.commit()?;
        tracing::warn!(target: "weft::settlement", validator = %weft_types::to_hex(&offence.validator), kind = ?offence.kind, slashed, reward, l1_block = block.number, "validator slashed");
        Ok(SlashReceipt {
            l1_block: block.number,
            kind: offence.kind,
            validator,
            slashed,
            reward,
        })
    }

    /// An account (default: empty) of the staking program.
    pub fn account(&self, key: &[u8; 32]) -> Result<staking::Account, SettlementError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ACCOUNTS)?;
        let value = table.get(key)?;
        Ok(value
            .map(|v| decode("account", weft_types::to_hex(key), v.value()))
            .transpose()?
            .unwrap_or_default())
    }

    /// Every validator key with stake, by key.
    pub fn validators(&self) -> Result<Vec<staking::Validator>, SettlementError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(VALIDATORS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            out.push(decode(
                "validator",
                weft_types::to_hex(k.value()),
                v.value(),
            )?);
        }
        Ok(out)
    }

    /// The validator set offered to Weft now (staking rules S9, S10): keys, bonded stake and
    /// p2p addresses.
    pub fn validator_set(&self) -> Result<Vec<staking::SetMember>, SettlementError> {
        Ok(staking::validator_set_located(
            &self.cfg.staking,
            &self.validators()?,
        ))
    }

    /// The block `number`, if the chain has it.
    pub fn block(&self, number: u64) -> Result<Option<L1Block>, SettlementError> {
        let txn = self.db.begin_read()?;
        let blocks = txn.open_table(BLOCKS)?;
        let block = blocks.get(number)?;
        block
            .map(|v| decode("block", number, v.value()))
            .transpose()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        // A poisoned lock means a writer panicked on a broken invariant: stop, don't go on.
        self.write.lock().expect("settlement writer panicked")
    }

    fn program(&self, rollup: u64) -> Option<&dyn Program> {
        self.rollups.get(&rollup).map(|d| d.program.as_ref())
    }

    /// Rules 5 and 6 on `sub`, without the write lock: `Ok` with the contract's verdict, or
    /// the data source's failure (no verdict).
    fn check_data(
        &self,
        state: &RollupState,
        program: &dyn Program,
        sub: &Submission,
    ) -> Result<Result<(), Reject>, SettlementError> {
        match contract::check_data(state, program, &*self.weft, sub) {
            Ok(()) => Ok(Ok(())),
            Err(Refused::Contract(reject)) => Ok(Err(reject)),
            Err(Refused::Unavailable(source)) => Err(SettlementError::Data {
                rollup: sub.header.rollup,
                end: sub.header.end,
                source,
            }),
        }
    }

    /// Settles or rejects `sub` in a new block.
    fn execute(&self, sub: Submission) -> Result<Receipt, SettlementError> {
        let rollup = sub.header.rollup;
        let program = self.program(rollup);
        // Auth rules A2 and A3: the signature first, against the registered submitter (fixed
        // at registration, so a read snapshot is enough); nothing else is done for, or
        // recorded of, a call without it.
        let digest = sub.digest();
        let snapshot = {
            let txn = self.db.begin_read()?;
            let rollups = txn.open_table(ROLLUPS)?;
            let state = rollups.get(rollup)?;
            let snapshot = state
                .map(|v| decode::<RollupState>("rollup", rollup, v.value()))
                .transpose()?
                .ok_or(SettlementError::UnknownRollup { rollup })?;
            if !sub.signed_by(&snapshot.submitter, &self.chain) {
                return Err(SettlementError::Unauthorized {
                    rollup,
                    reason: format!(
                        "the submission is not signed by the registered submitter {} for Weft chain {}",
                        weft_types::to_hex(&snapshot.submitter),
                        self.chain
                    ),
                });
            }
            // A replay of a recorded submission costs a lookup, not a block.
            if let Some(l1_block) = txn.open_table(SUBMISSIONS)?.get(&digest)? {
                return Err(SettlementError::Duplicate {
                    l1_block: l1_block.value(),
                });
            }
            snapshot
        };
        // Rules 5 and 6 outside the lock, if the snapshot passes rules 1 to 4.
        let mut data = match contract::check_cheap(&self.cfg, Some(&snapshot), program, &sub) {
            Ok((state, program)) => Some(self.check_data(state, program, &sub)?),
            Err(_) => None,
        };
        // At most two rounds: the second only if rules 1 to 4 fail on the snapshot but pass
        // under the lock (the previous batch settled meanwhile), with the data then checked.
        loop {
            let guard = self.lock();
            let txn = self.db.begin_write()?;
            if let Some(l1_block) = txn.open_table(SUBMISSIONS)?.get(&digest)? {
                return Err(SettlementError::Duplicate {
                    l1_block: l1_block.value(),
                });
            }
            let state = read_rollup(&txn, rollup)?;
            let verdict = match contract::check_cheap(&self.cfg, state.as_ref(), program, &sub) {
                Err(reject) => Err(reject),
                Ok((state, program)) => match &data {
                    None => {
                        let state = state.clone();
                        drop(txn);
                        drop(guard);
                        data = Some(self.check_data(&state, program, &sub)?);
                        continue;
                    }
                    Some(Err(reject)) => Err(reject.clone()),
                    Some(Ok(())) => {
                        // Read up front so a storage error fails the call instead of
                        // passing rule 5b.
                        let outcomes = txn.open_table(BUNDLE_OUTCOMES)?;
                        let mut known: BTreeMap<Hash, (u64, bool)> = BTreeMap::new();
                        for o in &sub.bundle_outcomes {
                            if let Some(v) = outcomes.get(&o.bundle)? {
                                known.insert(o.bundle, (v.value().0, v.value().1 == 1));
                            }
                        }
                        let settled = |b: &Hash| known.get(b).copied();
                        contract::check_conflicts(rollup, &settled, &sub)
                    }
                },
            };
            let pending = pending_block(&txn)?;
            if !matches!(verdict, Err(Reject::NotFinalized { .. })) {
                txn.open_table(SUBMISSIONS)?
                    .insert(&digest, pending.number)?;
            }
            let outcome = match verdict {
                Ok(()) => {
                    let state = state.expect("a passed check implies a registered rollup");
                    Outcome::Settled {
                        batch: settle(&txn, state, &sub, &pending)?,
                    }
                }
                Err(reject) => Outcome::Rejected { reject },
            };
            let call = SubmitCall {
                header: sub.header,
                old_root: sub.old_root,
                new_root: sub.new_root,
                commitment: sub.commitment,
                proof_bytes: sub.proof.len() as u64,
                proof_sha256: Sha256::digest(&sub.proof).into(),
            };
            let tx = L1Tx::Submit {
                call: Box::new(call),
                outcome: outcome.clone(),
            };
            let block = seal(&txn, pending, vec![tx])?;
            txn.commit()?;
            drop(guard);
            return Ok(Receipt {
                l1_block: block.number,
                l1_block_hash: block.hash,
                tx_index: 0,
                outcome,
            });
        }
    }
}

/// Rule 7: records `sub` as settled and advances the rollup's state. Returns the record.
fn settle(
    txn: &WriteTransaction,
    mut state: RollupState,
    sub: &Submission,
    pending: &Pending,
) -> Result<SettledBatch, SettlementError> {
    let index = state.settled_batches;
    state.settle(sub);
    // Rule 5b: the first rollup to settle a bundle fixes its outcome for the others.
    let mut outcomes = txn.open_table(BUNDLE_OUTCOMES)?;
    for o in &sub.bundle_outcomes {
        if outcomes.get(&o.bundle)?.is_none() {
            outcomes.insert(&o.bundle, (sub.header.rollup, o.executed as u8))?;
        }
    }
    drop(outcomes);
    let batch = SettledBatch {
        header: sub.header,
        old_root: sub.old_root,
        new_root: sub.new_root,
        commitment: sub.commitment,
        proof_bytes: sub.proof.len() as u64,
        l1_block: pending.number,
        settled_at_ms: pending.timestamp_ms,
    };
    let replaced = txn
        .open_table(BATCHES)?
        .insert((state.rollup, index), encode(&batch).as_slice())?
        .is_some();
    // A settled batch is never replaced: an existing record at the next index means the
    // count and the table disagree.
    assert!(
        !replaced,
        "batch {index} of rollup {} already recorded",
        state.rollup
    );
    write_rollup(txn, &state)?;
    Ok(batch)
}

impl L1 for EmbeddedL1 {
    fn register_rollup(&self, signed: SignedRegistration) -> Result<(), SettlementError> {
        let rollup = signed.registration.rollup;
        let deployment = self
            .rollups
            .get(&rollup)
            .ok_or(SettlementError::NoProgram { rollup })?;
        // Auth rules A1 and A3: only the owner named by the deployment registers, checked
        // before the lock.
        if signed.registration.program.len() > crate::auth::PROGRAM_ID_BYTES_MAX {
            return Err(SettlementError::BadRegistration {
                rollup,
                reason: format!(
                    "a program id is at most {} bytes",
                    crate::auth::PROGRAM_ID_BYTES_MAX
                ),
            });
        }
        if !signed.signed_by(&deployment.owner, &self.chain) {
            return Err(SettlementError::Unauthorized {
                rollup,
                reason: format!(
                    "the registration is not signed by the rollup's owner {} for Weft chain {}",
                    weft_types::to_hex(&deployment.owner),
                    self.chain
                ),
            });
        }
        let r = signed.registration;
        let program = deployment.program.id().to_string();
        let bad = |reason: String| SettlementError::BadRegistration { rollup, reason };
        if r.program != program {
            return Err(bad(format!(
                "the registration names proof program {:?}, the L1 runs {program:?} for it",
                r.program
                    .chars()
                    .take(crate::auth::PROGRAM_ID_BYTES_MAX)
                    .collect::<String>()
            )));
        }
        if !crate::auth::is_public_key(&r.submitter) {
            return Err(bad(format!(
                "submitter {} is not an ed25519 public key",
                weft_types::to_hex(&r.submitter)
            )));
        }
        let (genesis_root, start) = (r.genesis_root, r.start);
        let _write = self.lock();
        let txn = self.db.begin_write()?;
        if let Some(existing) = read_rollup(&txn, rollup)? {
            let field = if existing.program != program {
                "program"
            } else if existing.genesis_root != genesis_root {
                "genesis_root"
            } else if existing.start != start {
                "start"
            } else if existing.submitter != r.submitter {
                "submitter"
            } else {
                return Ok(());
            };
            return Err(SettlementError::RegistrationConflict { rollup, field });
        }
        let state = RollupState::new(rollup, program.clone(), r.submitter, genesis_root, start);
        write_rollup(&txn, &state)?;
        let pending = pending_block(&txn)?;
        let tx = L1Tx::RegisterRollup {
            rollup,
            program: program.clone(),
            genesis_root,
            start,
            submitter: r.submitter,
        };
        let block = seal(&txn, pending, vec![tx])?;
        txn.commit()?;
        info!(target: "weft::settlement", rollup, program, %start, l1_block = block.number, "rollup registered");
        Ok(())
    }

    fn submit(&self, submission: Submission) -> Result<Receipt, SettlementError> {
        let header = submission.header;
        let receipt = self.execute(submission)?;
        match &receipt.outcome {
            Outcome::Settled { batch } => info!(
                target: "weft::settlement",
                rollup = header.rollup,
                batch_index = header.batch_index,
                start = %header.start,
                end = %header.end,
                new_root = ?batch.new_root,
                l1_block = receipt.l1_block,
                "batch settled"
            ),
            Outcome::Rejected { reject } => info!(
                target: "weft::settlement",
                rollup = header.rollup,
                batch_index = header.batch_index,
                code = reject.code(),
                %reject,
                l1_block = receipt.l1_block,
                "batch rejected"
            ),
        }
        Ok(receipt)
    }

    fn status(&self) -> Result<Vec<RollupStatus>, SettlementError> {
        let txn = self.db.begin_read()?;
        let rollups = txn.open_table(ROLLUPS)?;
        let batches = txn.open_table(BATCHES)?;
        let mut out = Vec::new();
        for entry in rollups.iter()? {
            let (key, value) = entry?;
            let state: RollupState = decode("rollup", key.value(), value.value())?;
            let last_batch = match state.settled_batches.checked_sub(1) {
                None => None,
                Some(last) => {
                    let key = (state.rollup, last);
                    let value = batches.get(key)?.ok_or_else(|| SettlementError::Corrupt {
                        what: "batch",
                        key: format!("{key:?}"),
                        reason: "counted as settled but missing".into(),
                    })?;
                    Some(decode("batch", format!("{key:?}"), value.value())?)
                }
            };
            out.push(RollupStatus {
                rollup: state.rollup,
                program: state.program,
                submitter: state.submitter,
                genesis_root: state.genesis_root,
                settled_batches: state.settled_batches,
                last_batch,
                root: state.root,
                next_start: state.next_start,
                inbox_messages: state.inbox_messages,
            });
        }
        Ok(out)
    }

    fn batch(
        &self,
        rollup: u64,
        batch_index: u64,
    ) -> Result<Option<SettledBatch>, SettlementError> {
        let txn = self.db.begin_read()?;
        let batches = txn.open_table(BATCHES)?;
        let key = (rollup, batch_index);
        let batch = batches.get(key)?;
        batch
            .map(|v| decode("batch", format!("{key:?}"), v.value()))
            .transpose()
    }

    fn inbox_send(&self, rollup: u64, payload: Vec<u8>) -> Result<InboxMessage, SettlementError> {
        if payload.len() > self.cfg.inbox_payload_bytes_max {
            return Err(SettlementError::PayloadTooLarge {
                bytes: payload.len(),
                bytes_max: self.cfg.inbox_payload_bytes_max,
            });
        }
        // Only a registered rollup's inbox takes messages (and so has a budget below).
        {
            let txn = self.db.begin_read()?;
            if txn.open_table(ROLLUPS)?.get(rollup)?.is_none() {
                return Err(SettlementError::UnknownRollup { rollup });
            }
        }
        // Sending is open to anyone (it is the forced-inclusion path) and costs the L1 a
        // durable block: bounded per second and per rollup, so flooding one rollup's inbox
        // does not close another's. (Within one rollup, a flood competes with honest sends
        // until sends carry a fee.)
        {
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let mut windows = self
                .inbox_window
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let window = windows.entry(rollup).or_insert((0, 0));
            if window.0 != now_ms / 1000 {
                *window = (now_ms / 1000, 0);
            }
            if window.1 >= self.cfg.inbox_sends_per_second_max {
                return Err(SettlementError::Busy {
                    what: "inbox sends",
                    per_second_max: self.cfg.inbox_sends_per_second_max,
                    retry_after_ms: 1000 - now_ms % 1000,
                });
            }
            window.1 += 1;
        }
        let _write = self.lock();
        let txn = self.db.begin_write()?;
        let mut state =
            read_rollup(&txn, rollup)?.ok_or(SettlementError::UnknownRollup { rollup })?;
        let pending = pending_block(&txn)?;
        let message = InboxMessage {
            index: state.inbox_messages,
            rollup,
            l1_block: pending.number,
            payload,
        };
        let replaced = txn
            .open_table(INBOX)?
            .insert((rollup, message.index), encode(&message).as_slice())?
            .is_some();
        assert!(
            !replaced,
            "inbox message {} of rollup {rollup} already recorded",
            message.index
        );
        state.inbox_messages += 1;
        write_rollup(&txn, &state)?;
        let tx = L1Tx::InboxSend {
            message: message.clone(),
        };
        seal(&txn, pending, vec![tx])?;
        txn.commit()?;
        info!(target: "weft::settlement", rollup, index = message.index, bytes = message.payload.len(), l1_block = message.l1_block, "inbox message");
        Ok(message)
    }

    fn inbox(
        &self,
        rollup: u64,
        from: u64,
        limit: usize,
    ) -> Result<Vec<InboxMessage>, SettlementError> {
        let limit = limit.min(self.cfg.inbox_messages_max);
        let txn = self.db.begin_read()?;
        let rollups = txn.open_table(ROLLUPS)?;
        if rollups.get(rollup)?.is_none() {
            return Err(SettlementError::UnknownRollup { rollup });
        }
        let inbox = txn.open_table(INBOX)?;
        let mut out = Vec::with_capacity(limit);
        for entry in inbox
            .range((rollup, from)..=(rollup, u64::MAX))?
            .take(limit)
        {
            let (key, value) = entry?;
            out.push(decode(
                "inbox message",
                format!("{:?}", key.value()),
                value.value(),
            )?);
        }
        Ok(out)
    }

    fn head(&self) -> Result<u64, SettlementError> {
        let txn = self.db.begin_read()?;
        read_head(&txn.open_table(META)?)
    }
}

fn read_head(meta: &impl ReadableTable<&'static str, u64>) -> Result<u64, SettlementError> {
    meta.get(HEAD)?
        .map(|v| v.value())
        .ok_or_else(|| SettlementError::Corrupt {
            what: "meta",
            key: HEAD.into(),
            reason: "missing".into(),
        })
}

/// The next block: number, parent hash, and a timestamp that never goes below the parent's
/// (the wall clock may step back).
fn pending_block(txn: &WriteTransaction) -> Result<Pending, SettlementError> {
    let head = read_head(&txn.open_table(META)?)?;
    let blocks = txn.open_table(BLOCKS)?;
    let parent: L1Block = match blocks.get(head)? {
        Some(v) => decode("block", head, v.value())?,
        None => {
            return Err(SettlementError::Corrupt {
                what: "block",
                key: head.to_string(),
                reason: "head block missing".into(),
            })
        }
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Ok(Pending {
        number: head + 1,
        parent_hash: parent.hash,
        timestamp_ms: now_ms.max(parent.timestamp_ms),
    })
}

/// Writes the block and advances the head, in `txn`.
fn seal(
    txn: &WriteTransaction,
    pending: Pending,
    txs: Vec<L1Tx>,
) -> Result<L1Block, SettlementError> {
    let mut block = L1Block {
        number: pending.number,
        parent_hash: pending.parent_hash,
        timestamp_ms: pending.timestamp_ms,
        txs,
        hash: [0; 32],
    };
    block.hash = block.compute_hash();
    let mut meta = txn.open_table(META)?;
    let head = read_head(&meta)?;
    assert_eq!(
        block.number,
        head + 1,
        "sealing a block that is not the head's child"
    );
    let replaced = txn
        .open_table(BLOCKS)?
        .insert(block.number, encode(&block).as_slice())?
        .is_some();
    assert!(!replaced, "block {} already sealed", block.number);
    meta.insert(HEAD, block.number)?;
    Ok(block)
}

fn read_rollup(
    txn: &WriteTransaction,
    rollup: u64,
) -> Result<Option<RollupState>, SettlementError> {
    let rollups = txn.open_table(ROLLUPS)?;
    let state = rollups.get(rollup)?;
    state
        .map(|v| decode("rollup", rollup, v.value()))
        .transpose()
}

fn read_json<T: DeserializeOwned>(
    txn: &WriteTransaction,
    table: TableDefinition<&[u8; 32], &[u8]>,
    key: &[u8; 32],
    what: &'static str,
) -> Result<Option<T>, SettlementError> {
    let table = txn.open_table(table)?;
    let value = table.get(key)?;
    value
        .map(|v| decode(what, weft_types::to_hex(key), v.value()))
        .transpose()
}

fn write_rollup(txn: &WriteTransaction, state: &RollupState) -> Result<(), SettlementError> {
    txn.open_table(ROLLUPS)?
        .insert(state.rollup, encode(state).as_slice())?;
    Ok(())
}

fn encode(value: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("settlement records serialize")
}

fn decode<T: DeserializeOwned>(
    what: &'static str,
    key: impl ToString,
    bytes: &[u8],
) -> Result<T, SettlementError> {
    serde_json::from_slice(bytes).map_err(|e| SettlementError::Corrupt {
        what,
        key: key.to_string(),
        reason: e.to_string(),
    })
}
