//! Talk to Weft from Rust: typed calls, namespace streams, and offline verification.
//!
//! - [`Client`]: every JSON-RPC method over HTTP (and WebSocket for subscriptions).
//! - [`Client::subscribe_namespace`]: a namespace's finalized transactions as a `Stream`, from
//!   any past height; if the connection drops it reconnects from the next height, so the
//!   stream has no gaps and no duplicates.
//! - [`verify_finality`] and [`verify_namespace_proof`]: check what a node served against a
//!   known validator set, without trusting the node; [`verify_receipt`] checks a signed
//!   pre-confirmation the same way ([`verify_receipt_for`] also against the transaction sent), and [`verify_broken_preconfirmation`] checks evidence
//!   that one was broken (it verifies only if the promise was broken).

mod client;
pub mod downtime;
mod error;
mod verify;

pub use client::{Client, NamespaceStream, SET_STEPS_MAX};
pub use downtime::{verify_downtime, DowntimeEvidence};
pub use error::{ClientError, VerifyError};
pub use verify::{
    judge_preconfirmation, verify_broken_preconfirmation, verify_broken_preconfirmation_attested,
    verify_finality, verify_namespace_proof, verify_receipt, verify_receipt_for, Attested,
    VerifiedNamespace,
};
pub use weft_api::{codes, types};
/// The validator sets verification runs against: a fixed list, or each epoch's as learned.
pub use weft_finality::{SetHistory, Sets};
