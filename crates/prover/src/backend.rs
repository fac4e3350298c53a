//! The proof system seam.

/// A proof system for batch state transitions. Inputs and proofs are opaque bytes whose
/// format the backend defines (the batch witness and its public inputs; the proof).
pub trait ProofBackend: Send + Sync {
    /// A stable identifier, recorded with every proof (e.g. `"winterfell-0.13.1/rpo-merkle"`).
    fn id(&self) -> &'static str;
    /// Proves the batch described by `input`.
    fn prove(&self, input: &[u8]) -> Result<Vec<u8>, String>;
    /// Checks `proof` against `input`'s public inputs.
    fn verify(&self, input: &[u8], proof: &[u8]) -> Result<(), String>;
}
