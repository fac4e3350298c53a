//! Runs a rollup world beside Weft: follows its namespaces from finalized blocks, executes
//! them together (`weft_rollup_kit`, the bundle outcome rule), cuts the token rollup's
//! batches, hands them to provers through the coordinator, and settles proven batches on the
//! L1. A world is launched from one [`config::Config`] ([`launch::run`]). The reference
//! rollups are the token rollup and the options rollup.

pub mod batcher;
pub mod clock;
pub mod config;
pub mod l1;
pub mod launch;
pub mod pipeline;
pub mod service;
pub mod worker;
