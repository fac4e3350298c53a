//! Prove rollup batches: the [`ProofBackend`] trait and the prover [`Coordinator`].
//!
//! The coordinator persists one proof task per batch and hands tasks to prover workers that
//! **pull** them (the Scroll / Polygon pattern: provers come and go, the coordinator never
//! pushes). Task states: `unassigned -> assigned -> proven`, with deadlines. Provers are
//! registered keys and sign their requests ([`auth`]). A sweeper returns tasks whose deadline
//! passed to `unassigned`; a proof that fails verification is a strike against its prover and
//! the task is retried by another one. A task never fails: strikes suspend provers instead.
//! Time is an argument everywhere, so the logic runs under a simulated clock.

pub mod auth;
mod backend;
mod coordinator;
pub mod token;

pub use backend::ProofBackend;
pub use coordinator::{
    Config, Coordinator, CoordinatorError, ProverRecord, SubmitOutcome, Task, TaskId, TaskState,
    DEFAULT_ASSIGNMENT_TIMEOUT_MS, DEFAULT_STRIKES_MAX, PROVERS_MAX,
};
