//! Settle rollup batches on an L1: the [`L1`] trait, the [settlement contract](contract)'s
//! rules, and [`EmbeddedL1`], a small persisted local chain that runs them.
//!
//! A rollup posts its transactions to its Weft namespace; a prover proves a batch of them;
//! the batch is submitted here. The contract settles it only if it continues the rollup's
//! settled history exactly (next index, contiguous data, the settled root), commits to
//! finalized Weft data, and carries a valid proof. The proof system ([`Program`]) and the
//! Weft data source ([`WeftData`]) are injected, so this crate depends on no other Weft
//! crate. Each rollup also has an L1 inbox, the path for forced inclusion.
//!
//! Only a rollup's owner registers it, and only the submitter it names submits its batches
//! ([`auth`]). Validators' collateral lives here too: the [`staking`] program (accounts,
//! bonds, unbonding, slashing on evidence), and the validator set it offers Weft.

pub mod auth;
mod config;
pub mod contract;
mod embedded;
mod error;
mod l1;
pub mod risk;
pub mod staking;
mod types;

pub use auth::{Deployment, Registration, SignedRegistration};
pub use config::{
    Config, DEFAULT_BATCH_HEIGHTS_MAX, DEFAULT_INBOX_MESSAGES_MAX, DEFAULT_INBOX_PAYLOAD_BYTES_MAX,
    DEFAULT_INBOX_SENDS_PER_SECOND_MAX, DEFAULT_PROOF_BYTES_MAX,
};
pub use embedded::{EmbeddedL1, SlashReceipt, StakeReceipt, StakingDeployment};
pub use error::{DataError, SettlementError};
pub use l1::{NoWeftData, Program, WeftData, L1};
pub use types::{
    BatchHeader, BundleOutcome, Cursor, Hash, InboxMessage, L1Block, L1Tx, NamespaceItem, Outcome,
    Receipt, Reject, RollupStatus, Root, SettledBatch, Submission, SubmitCall,
};
