//! Key files: the hex of a 32-byte ed25519 secret on one line (written mode 0600 by
//! `weft keys`). Read here so every binary and service parses them the same way.

use crate::SigningKey;
use commonware_codec::DecodeExt as _;
use std::path::Path;

/// Largest key file read, in bytes: 64 hex characters, a `0x` and whitespace fit easily.
pub const KEY_FILE_BYTES_MAX: u64 = 256;

/// Reads the key in `path`, saying what is wrong with a bad one.
pub fn read_key(path: &Path) -> Result<SigningKey, String> {
    let at = |reason: String| format!("{}: {reason}", path.display());
    let len = std::fs::metadata(path)
        .map_err(|e| at(e.to_string()))?
        .len();
    if len > KEY_FILE_BYTES_MAX {
        return Err(at(format!(
            "a key file is at most {KEY_FILE_BYTES_MAX} bytes, this one is {len}"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| at(e.to_string()))?;
    let bytes = hex::decode(text.trim().trim_start_matches("0x"))
        .map_err(|e| at(format!("key file is not hex: {e}")))?;
    if bytes.len() != 32 {
        return Err(at(format!("key must be 32 bytes, found {}", bytes.len())));
    }
    SigningKey::decode(bytes).map_err(|e| at(format!("invalid ed25519 key: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::Encode as _;
    use commonware_cryptography::Signer as _;

    #[test]
    fn a_key_file_round_trips_and_bad_ones_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let key = SigningKey::from_seed(9);
        std::fs::write(&path, format!("0x{}\n", hex::encode(key.encode()))).unwrap();
        assert_eq!(read_key(&path).unwrap().public_key(), key.public_key());
        std::fs::write(&path, "zz").unwrap();
        assert!(read_key(&path).unwrap_err().contains("not hex"));
        std::fs::write(&path, "0011").unwrap();
        assert!(read_key(&path).unwrap_err().contains("32 bytes, found 2"));
        std::fs::write(&path, vec![b'0'; 1000]).unwrap();
        assert!(read_key(&path).unwrap_err().contains("at most 256 bytes"));
        assert!(read_key(&dir.path().join("missing")).is_err());
    }
}
