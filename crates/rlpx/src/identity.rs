//! Node identity: secp256k1 node keys, key files and node ids.
//!
//! A node id is the 64-byte uncompressed secp256k1 public key without the `0x04` prefix, as
//! used in `enode://` URLs, the RLPx handshake and the p2p `Hello` message.
//!
//! Key files use the same format as geth's `nodekey`: the 32-byte secret key as 64 hex
//! characters (no `0x` prefix, no trailing newline). Loading is lenient and accepts an
//! optional `0x` prefix and surrounding whitespace.

use std::{io, path::Path};

use alloy_primitives::B512;
pub use secp256k1::{PublicKey, SecretKey};

/// A devp2p node id: the uncompressed public key without the leading `0x04` byte.
pub type NodeId = B512;

/// Errors from loading or saving a node key file. These are always local faults.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or writing the file failed.
    #[error("node key file I/O error: {0}")]
    Io(#[from] io::Error),
    /// The file does not contain 64 hex characters.
    #[error("node key file must contain 64 hex characters, found {0} characters")]
    BadLength(usize),
    /// The file contains non-hex characters.
    #[error("node key file is not valid hex")]
    BadHex,
    /// The 32 bytes are not a valid secp256k1 secret key (zero or above the curve order).
    #[error("node key is not a valid secp256k1 secret key")]
    InvalidKey,
}

/// Generates a fresh random secret key from the thread-local CSPRNG.
pub fn generate_secret_key() -> SecretKey {
    SecretKey::new(&mut rand::rng())
}

/// Parses a hex-encoded secret key (optional `0x` prefix and surrounding whitespace allowed).
pub fn parse_secret_key(text: &str) -> Result<SecretKey, KeyFileError> {
    let text = text.trim();
    let text = text.strip_prefix("0x").unwrap_or(text);
    if text.len() != 64 {
        return Err(KeyFileError::BadLength(text.len()));
    }
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text, &mut bytes).map_err(|_| KeyFileError::BadHex)?;
    SecretKey::from_secret_bytes(bytes).map_err(|_| KeyFileError::InvalidKey)
}

/// Loads a secret key from a geth-style `nodekey` file.
pub fn load_secret_key(path: impl AsRef<Path>) -> Result<SecretKey, KeyFileError> {
    let text = std::fs::read_to_string(path)?;
    parse_secret_key(&text)
}

/// Saves `key` to `path` as 64 hex characters. On Unix the file is created with mode `0600`,
/// and an existing file is set to `0600` before the key is written.
pub fn save_secret_key(path: impl AsRef<Path>, key: &SecretKey) -> Result<(), KeyFileError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        // An existing file keeps no wider mode: tightened before the key is written into it.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(hex::encode(key.to_secret_bytes()).as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// Loads the key at `path`, or generates and saves a new one if the file does not exist.
pub fn load_or_generate_secret_key(path: impl AsRef<Path>) -> Result<SecretKey, KeyFileError> {
    let path = path.as_ref();
    match load_secret_key(path) {
        Ok(key) => Ok(key),
        Err(KeyFileError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
            let key = generate_secret_key();
            save_secret_key(path, &key)?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

/// Returns the node id for a public key.
pub fn pubkey_to_id(key: &PublicKey) -> NodeId {
    let full = key.serialize_uncompressed();
    NodeId::from_slice(&full[1..])
}

/// Returns the node id of a secret key.
pub fn node_id(key: &SecretKey) -> NodeId {
    pubkey_to_id(&key.public_key())
}

/// Converts a node id back to a public key; fails if the point is not on the curve.
pub fn id_to_pubkey(id: &NodeId) -> Result<PublicKey, secp256k1::Error> {
    let mut full = [0u8; 65];
    full[0] = 0x04;
    full[1..].copy_from_slice(id.as_slice());
    PublicKey::from_byte_array_uncompressed(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_roundtrip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nodekey");
        let key = load_or_generate_secret_key(&path).unwrap();
        let again = load_or_generate_secret_key(&path).unwrap();
        assert_eq!(key.to_secret_bytes(), again.to_secret_bytes());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            // A key saved over a world-readable file leaves it 0600.
            let wide = dir.path().join("wide");
            std::fs::write(&wide, "x").unwrap();
            std::fs::set_permissions(&wide, std::fs::Permissions::from_mode(0o644)).unwrap();
            save_secret_key(&wide, &key).unwrap();
            let mode = std::fs::metadata(&wide).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        assert!(matches!(
            parse_secret_key("abcd"),
            Err(KeyFileError::BadLength(4))
        ));
        assert!(matches!(
            parse_secret_key(&"zz".repeat(32)),
            Err(KeyFileError::BadHex)
        ));
        assert!(matches!(
            parse_secret_key(&"00".repeat(32)),
            Err(KeyFileError::InvalidKey)
        ));
        let k = parse_secret_key(
            " 0xb71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291\n",
        )
        .unwrap();
        let id = node_id(&k);
        assert_eq!(pubkey_to_id(&id_to_pubkey(&id).unwrap()), id);
    }
}
