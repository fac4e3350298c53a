//! Weft's client-facing API: what the JSON-RPC server answers ([`types`]) and the stable
//! error codes it answers with ([`codes`]). Client-side code (the SDK, the CLI, rollups)
//! depends on this crate, never on the server.

pub mod codes;
pub mod types;
