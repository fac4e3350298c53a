//! Validator and client key files: the hex of a 32-byte ed25519 secret, mode 0600.

use crate::NodeError;
use commonware_codec::{DecodeExt as _, Encode as _};
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
    let text = std::fs::read_to_string(path).map_err(|e| NodeError::io(path, e))?;
    let bytes = hex::decode(text.trim().trim_start_matches("0x"))
        .map_err(|e| NodeError::config(path, format!("key file is not hex: {e}")))?;
    if bytes.len() != 32 {
        return Err(NodeError::config(
            path,
            format!("key must be 32 bytes, found {}", bytes.len()),
        ));
    }
    SigningKey::decode(bytes)
        .map_err(|e| NodeError::config(path, format!("invalid ed25519 key: {e}")))
}
