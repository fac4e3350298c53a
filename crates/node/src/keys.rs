//! Validator and client key files: the hex of a 32-byte ed25519 secret, mode 0600.

use crate::NodeError;
use commonware_codec::Encode as _;
use commonware_math::algebra::Random as _;
use std::path::Path;
use weft_types::SigningKey;

/// A fresh key from the operating system's randomness.
pub fn generate_key() -> SigningKey {
    SigningKey::random(commonware_utils::sys_rng())
}

/// Writes a key file readable only by its owner.
pub fn write_key(path: &Path, key: &SigningKey) -> Result<(), NodeError> {
    let hex = hex::encode(key.encode());
    std::fs::write(path, format!("{hex}\n")).map_err(|e| NodeError::io(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| NodeError::io(path, e))?;
    }
    Ok(())
}

/// Reads a key file.
pub fn read_key(path: &Path) -> Result<SigningKey, NodeError> {
    weft_types::keyfile::read_key(path).map_err(|reason| NodeError::config(path, reason))
}
