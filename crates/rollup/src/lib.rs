//! Runs a rollup beside Weft: follows its namespace from finalized blocks, executes it,
//! cuts batches, hands them to provers through the coordinator, and settles proven batches
//! on the L1. The reference (and so far only) rollup is the token rollup.

pub mod batcher;
pub mod l1;
pub mod pipeline;
pub mod service;
pub mod worker;
