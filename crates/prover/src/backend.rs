//! The proof system seam.

/// A proof system for batch state transitions. The input (a batch witness), the statement
/// (the public inputs a proof is checked against) and the proof are opaque bytes whose
/// format the backend defines.
pub trait ProofBackend: Send + Sync {
    /// A stable identifier, recorded with every proof (e.g. `"winterfell-0.13.1/token-rpo-v1"`).
    fn id(&self) -> &'static str;
    /// Proves the batch described by `input`.
    fn prove(&self, input: &[u8]) -> Result<Vec<u8>, String>;
    /// Checks `proof` against `statement`.
    fn verify(&self, statement: &[u8], proof: &[u8]) -> Result<(), String>;
}
