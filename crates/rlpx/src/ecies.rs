//! ECIES as used by RLPx (`rlpx.md`, "ECIES Encryption").
//!
//! ```text
//! encrypt(K_B, m, s2):
//!   r      = random secret key, R = r * G
//!   S      = x-coordinate of r * K_B
//!   kE||kM = KDF(S, 32)            (NIST SP 800-56 concatenation KDF with SHA-256)
//!   kM     = sha256(kM)
//!   iv     = random 16 bytes
//!   c      = AES-128-CTR(kE, iv, m)
//!   d      = HMAC-SHA256(kM, iv || c || s2)
//!   output = R (65 bytes, uncompressed) || iv || c || d
//! ```

use aes::{
    Aes128,
    cipher::{KeyIvInit, StreamCipher},
};
use hmac::{Hmac, Mac};
use secp256k1::{PublicKey, SecretKey};
use sha2::{Digest, Sha256};

/// Bytes added by ECIES to the plaintext: ephemeral public key (65), IV (16) and MAC (32).
pub const ECIES_OVERHEAD: usize = 65 + 16 + 32;

type Aes128Ctr = ctr::Ctr128BE<Aes128>;
type HmacSha256 = Hmac<Sha256>;

/// ECIES decryption errors. All of them are caused by the remote peer's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EciesError {
    /// The ciphertext is shorter than the ECIES overhead.
    #[error("ECIES message too short ({0} bytes)")]
    TooShort(usize),
    /// The embedded ephemeral public key is invalid.
    #[error("ECIES message contains an invalid ephemeral public key")]
    InvalidPublicKey,
    /// The message authentication code does not match.
    #[error("ECIES message authentication failed")]
    BadMac,
}

/// Returns the x-coordinate of `secret * public` (the "ECDH agree" function of RLPx).
pub(crate) fn ecdh_x(public: &PublicKey, secret: &SecretKey) -> [u8; 32] {
    let point = secp256k1::ecdh::shared_secret_point(public, secret);
    let mut x = [0u8; 32];
    x.copy_from_slice(&point[..32]);
    x
}

/// Derives `(kE, kM)` from the shared secret.
fn derive_keys(shared_x: &[u8; 32]) -> ([u8; 16], [u8; 32]) {
    // Concatenation KDF with a single round: counter = 1 (big-endian u32), no other info.
    let mut h = Sha256::new();
    h.update(1u32.to_be_bytes());
    h.update(shared_x);
    let okm = h.finalize();
    let mut ke = [0u8; 16];
    ke.copy_from_slice(&okm[..16]);
    let km: [u8; 32] = Sha256::digest(&okm[16..32]).into();
    (ke, km)
}

fn mac(km: &[u8; 32], iv: &[u8], ciphertext: &[u8], auth_data: &[u8]) -> HmacSha256 {
    let mut m = <HmacSha256 as Mac>::new_from_slice(km).expect("HMAC accepts any key length");
    m.update(iv);
    m.update(ciphertext);
    m.update(auth_data);
    m
}

/// Encrypts `plaintext` for `remote` using fresh randomness from the thread-local CSPRNG.
/// `auth_data` is authenticated but not included in the output (EIP-8 size prefix).
pub fn encrypt(remote: &PublicKey, plaintext: &[u8], auth_data: &[u8]) -> Vec<u8> {
    let ephemeral = SecretKey::new(&mut rand::rng());
    let iv: [u8; 16] = rand::random();
    encrypt_with(remote, plaintext, auth_data, &ephemeral, iv)
}

/// Deterministic ECIES encryption with a caller-supplied ephemeral key and IV (for tests and
/// test vectors; never reuse `ephemeral`/`iv` in production).
pub fn encrypt_with(
    remote: &PublicKey,
    plaintext: &[u8],
    auth_data: &[u8],
    ephemeral: &SecretKey,
    iv: [u8; 16],
) -> Vec<u8> {
    let shared = ecdh_x(remote, ephemeral);
    let (ke, km) = derive_keys(&shared);
    let mut out = Vec::with_capacity(plaintext.len() + ECIES_OVERHEAD);
    out.extend_from_slice(&ephemeral.public_key().serialize_uncompressed());
    out.extend_from_slice(&iv);
    let start = out.len();
    out.extend_from_slice(plaintext);
    Aes128Ctr::new(&ke.into(), &iv.into()).apply_keystream(&mut out[start..]);
    let tag = mac(&km, &iv, &out[start..], auth_data)
        .finalize()
        .into_bytes();
    out.extend_from_slice(&tag);
    out
}

/// Decrypts an ECIES message addressed to `secret`; the MAC is checked (in constant time)
/// before anything is decrypted.
pub fn decrypt(secret: &SecretKey, data: &[u8], auth_data: &[u8]) -> Result<Vec<u8>, EciesError> {
    if data.len() < ECIES_OVERHEAD {
        return Err(EciesError::TooShort(data.len()));
    }
    let (pubkey, rest) = data.split_at(65);
    let (iv, rest) = rest.split_at(16);
    let (ciphertext, tag) = rest.split_at(rest.len() - 32);
    if pubkey[0] != 0x04 {
        return Err(EciesError::InvalidPublicKey);
    }
    let remote = PublicKey::from_slice(pubkey).map_err(|_| EciesError::InvalidPublicKey)?;
    let shared = ecdh_x(&remote, secret);
    let (ke, km) = derive_keys(&shared);
    mac(&km, iv, ciphertext, auth_data)
        .verify_slice(tag)
        .map_err(|_| EciesError::BadMac)?;
    let mut plain = ciphertext.to_vec();
    let iv: [u8; 16] = iv
        .try_into()
        .map_err(|_| EciesError::TooShort(data.len()))?;
    Aes128Ctr::new(&ke.into(), &iv.into()).apply_keystream(&mut plain);
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_tamper() {
        let key = SecretKey::new(&mut rand::rng());
        let msg = b"hello ecies";
        let enc = encrypt(&key.public_key(), msg, b"ad");
        assert_eq!(enc.len(), msg.len() + ECIES_OVERHEAD);
        assert_eq!(decrypt(&key, &enc, b"ad").unwrap(), msg);
        assert_eq!(decrypt(&key, &enc, b"other"), Err(EciesError::BadMac));
        let mut bad = enc.clone();
        bad[70] ^= 1;
        assert_eq!(decrypt(&key, &bad, b"ad"), Err(EciesError::BadMac));
        let mut bad = enc.clone();
        bad[5] ^= 0xff;
        assert!(decrypt(&key, &bad, b"ad").is_err());
        assert_eq!(
            decrypt(&key, &enc[..50], b"ad"),
            Err(EciesError::TooShort(50))
        );
        let other = SecretKey::new(&mut rand::rng());
        assert_eq!(decrypt(&other, &enc, b"ad"), Err(EciesError::BadMac));
    }
}
