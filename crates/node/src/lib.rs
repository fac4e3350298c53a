//! Assembles a Weft validator from its configuration and supervises its tasks.
//!
//! [`run`] opens the store, refills the mempool from the durable pending log, starts the
//! authenticated p2p network, the consensus stack and the JSON-RPC server on Commonware's
//! tokio runtime, and stops them all on SIGINT/SIGTERM. A panic in any task stops the
//! process (the runtime does not catch panics), so a broken invariant never leaves a zombie.

mod api;
pub mod bulk;
mod config;
mod error;
pub mod fatal;
mod genesis;
mod keys;
mod metrics;
mod persister;
mod run;
pub mod slashing;
pub mod stake;

pub use config::{
    Config, NodeSection, DEFAULT_BULK_NICE, DEFAULT_BULK_THREADS, DEFAULT_METRICS_PORT_OFFSET,
    DEFAULT_WORKER_THREADS,
};
pub use error::NodeError;
pub use genesis::{Genesis, GenesisValidator, ValidatorSets, DEFAULT_EPOCH_LENGTH_BLOCKS};
pub use keys::{generate_key, read_key, write_key};
pub use run::run;
