//! RLPx framing (`rlpx.md`, "Framing"): AES-256-CTR encryption and Keccak-256 MACs.
//!
//! ```text
//! frame = header-ciphertext || header-mac || frame-ciphertext || frame-mac
//! header = frame-size (3 bytes BE) || rlp([capability-id, context-id]) || zero padding to 16
//! frame-data = rlp(msg-id) || msg-data, zero-padded to a multiple of 16 bytes
//! ```
//!
//! The MACs are computed over the ciphertext; both MACs are verified before the
//! corresponding ciphertext is decrypted or used.

use std::io;

use aes::{
    Aes256,
    cipher::{BlockEncrypt, KeyInit, KeyIvInit, StreamCipher},
};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::handshake::{KeccakMac, Secrets};

/// Hard cap on the size of a single frame / message (16 MiB). The 24-bit size field cannot
/// express more than `2^24 - 1` bytes anyway.
pub const MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;
/// Largest value expressible in the 24-bit frame-size field.
const MAX_ENCODABLE_FRAME_SIZE: usize = (1 << 24) - 1;
/// The header data we send: `rlp([0, 0])` (capability-id and context-id are unused).
const HEADER_DATA: [u8; 3] = [0xc2, 0x80, 0x80];
/// Size of the encrypted header plus its MAC.
pub const HEADER_LEN: usize = 32;
const MAC_LEN: usize = 16;

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// Frame-level errors.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The header MAC did not verify (peer fault).
    #[error("frame header MAC mismatch")]
    BadHeaderMac,
    /// The frame body MAC did not verify (peer fault).
    #[error("frame body MAC mismatch")]
    BadFrameMac,
    /// The peer announced a frame larger than our limit (peer fault).
    #[error("incoming frame of {size} bytes exceeds limit of {max} bytes")]
    FrameTooLarge {
        /// Announced size.
        size: usize,
        /// Configured limit.
        max: usize,
    },
    /// We tried to send a frame larger than the limit (local fault).
    #[error("outgoing frame of {size} bytes exceeds limit of {max} bytes")]
    OutgoingTooLarge {
        /// Size we tried to send.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// Transport error or connection closed.
    #[error("frame I/O error: {0}")]
    Io(#[from] io::Error),
}

impl FrameError {
    /// Whether the remote peer caused the error.
    pub fn is_peer_fault(&self) -> bool {
        matches!(
            self,
            Self::BadHeaderMac | Self::BadFrameMac | Self::FrameTooLarge { .. }
        )
    }
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn padded_len(size: usize) -> usize {
    size.div_ceil(16) * 16
}

/// One direction's MAC: Keccak state plus the AES-256 cipher keyed with `mac-secret`.
#[derive(Clone)]
struct FrameMac {
    cipher: Aes256,
    state: KeccakMac,
}

impl FrameMac {
    fn new(mac_secret: &[u8; 32], state: KeccakMac) -> Self {
        Self {
            cipher: Aes256::new(mac_secret.into()),
            state,
        }
    }

    fn encrypted_digest_prefix(&self) -> ([u8; 16], [u8; 16]) {
        let digest = self.state.digest();
        let mut prefix = [0u8; 16];
        prefix.copy_from_slice(&digest[..16]);
        let mut block = aes::Block::from(prefix);
        self.cipher.encrypt_block(&mut block);
        (prefix, block.into())
    }

    /// Updates with the header ciphertext and returns the header MAC.
    fn header(&mut self, header_ct: &[u8]) -> [u8; 16] {
        let (_, mut seed) = self.encrypted_digest_prefix();
        for (s, c) in seed.iter_mut().zip(header_ct) {
            *s ^= c;
        }
        self.state.update(&seed);
        self.prefix()
    }

    /// Updates with the frame ciphertext and returns the frame MAC.
    fn body(&mut self, body_ct: &[u8]) -> [u8; 16] {
        self.state.update(body_ct);
        let (prefix, mut seed) = self.encrypted_digest_prefix();
        for (s, p) in seed.iter_mut().zip(prefix) {
            *s ^= p;
        }
        self.state.update(&seed);
        self.prefix()
    }

    fn prefix(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out.copy_from_slice(&self.state.digest()[..16]);
        out
    }
}

/// Outgoing frame state (encryption + egress MAC).
pub struct EgressState {
    cipher: Aes256Ctr,
    mac: FrameMac,
    max_frame_size: usize,
}

impl std::fmt::Debug for EgressState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressState")
            .field("max_frame_size", &self.max_frame_size)
            .finish()
    }
}

/// Incoming frame state (decryption + ingress MAC).
pub struct IngressState {
    cipher: Aes256Ctr,
    mac: FrameMac,
    max_frame_size: usize,
}

impl std::fmt::Debug for IngressState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngressState")
            .field("max_frame_size", &self.max_frame_size)
            .finish()
    }
}

/// Creates the egress and ingress frame states from the handshake secrets. `max_frame_size`
/// is clamped to [`MAX_FRAME_SIZE`].
pub fn frame_states(secrets: &Secrets, max_frame_size: usize) -> (EgressState, IngressState) {
    let max_frame_size = max_frame_size.min(MAX_FRAME_SIZE);
    let iv = [0u8; 16];
    let key = secrets.aes_secret.0;
    let egress = EgressState {
        cipher: Aes256Ctr::new(&key.into(), &iv.into()),
        mac: FrameMac::new(&secrets.mac_secret.0, secrets.egress_mac.clone()),
        max_frame_size,
    };
    let ingress = IngressState {
        cipher: Aes256Ctr::new(&key.into(), &iv.into()),
        mac: FrameMac::new(&secrets.mac_secret.0, secrets.ingress_mac.clone()),
        max_frame_size,
    };
    (egress, ingress)
}

impl EgressState {
    /// Encrypts and authenticates one frame carrying `frame_data` (`rlp(msg-id) || msg-data`).
    pub fn seal(&mut self, frame_data: &[u8]) -> Result<Vec<u8>, FrameError> {
        let size = frame_data.len();
        let max = self.max_frame_size.min(MAX_ENCODABLE_FRAME_SIZE);
        if size > max {
            return Err(FrameError::OutgoingTooLarge { size, max });
        }
        let body_len = padded_len(size);
        let mut out = Vec::with_capacity(HEADER_LEN + body_len + MAC_LEN);
        let size_bytes = (size as u32).to_be_bytes();
        out.extend_from_slice(&size_bytes[1..]);
        out.extend_from_slice(&HEADER_DATA);
        out.resize(16, 0);
        self.cipher.apply_keystream(&mut out[..16]);
        let header_mac = self.mac.header(&out[..16]);
        out.extend_from_slice(&header_mac);
        out.extend_from_slice(frame_data);
        out.resize(HEADER_LEN + body_len, 0);
        self.cipher.apply_keystream(&mut out[HEADER_LEN..]);
        let frame_mac = self.mac.body(&out[HEADER_LEN..]);
        out.extend_from_slice(&frame_mac);
        Ok(out)
    }
}

impl IngressState {
    /// Verifies and decrypts a 32-byte header, returning the frame-data size. The caller
    /// must then read [`IngressState::body_len`] bytes and pass them to
    /// [`IngressState::open_body`].
    pub fn open_header(&mut self, header: &[u8; HEADER_LEN]) -> Result<usize, FrameError> {
        let (ct, mac) = header.split_at(16);
        let expected = self.mac.header(ct);
        if !ct_eq(&expected, mac) {
            return Err(FrameError::BadHeaderMac);
        }
        let mut plain = [0u8; 16];
        plain.copy_from_slice(ct);
        self.cipher.apply_keystream(&mut plain);
        let size = u32::from_be_bytes([0, plain[0], plain[1], plain[2]]) as usize;
        // The header-data (capability-id, context-id) is unused and ignored.
        if size > self.max_frame_size {
            return Err(FrameError::FrameTooLarge {
                size,
                max: self.max_frame_size,
            });
        }
        Ok(size)
    }

    /// Number of bytes following the header for a frame of `size` bytes (padded
    /// ciphertext plus MAC).
    pub fn body_len(size: usize) -> usize {
        padded_len(size) + MAC_LEN
    }

    /// Verifies and decrypts the frame body in place and truncates it to `size`.
    pub fn open_body(&mut self, body: &mut BytesMut, size: usize) -> Result<(), FrameError> {
        if body.len() != Self::body_len(size) {
            return Err(FrameError::BadFrameMac);
        }
        let ct_len = body.len() - MAC_LEN;
        let expected = self.mac.body(&body[..ct_len]);
        if !ct_eq(&expected, &body[ct_len..]) {
            return Err(FrameError::BadFrameMac);
        }
        body.truncate(ct_len);
        self.cipher.apply_keystream(&mut body[..]);
        body.truncate(size);
        Ok(())
    }
}

/// Reads RLPx frames from an async reader.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    state: IngressState,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, state: IngressState) -> Self {
        Self { inner, state }
    }

    /// Reads one frame and returns its frame-data (`rlp(msg-id) || msg-data`).
    ///
    /// Not cancellation safe: if the future is dropped mid-frame the stream is unusable.
    pub async fn read_frame(&mut self) -> Result<Bytes, FrameError> {
        let mut header = [0u8; HEADER_LEN];
        self.inner.read_exact(&mut header).await?;
        let size = self.state.open_header(&header)?;
        let mut body = BytesMut::zeroed(IngressState::body_len(size));
        self.inner.read_exact(&mut body).await?;
        self.state.open_body(&mut body, size)?;
        Ok(body.freeze())
    }
}

/// Writes RLPx frames to an async writer.
#[derive(Debug)]
pub struct FrameWriter<W> {
    inner: W,
    state: EgressState,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W, state: EgressState) -> Self {
        Self { inner, state }
    }

    /// Encrypts and writes one frame, then flushes.
    pub async fn write_frame(&mut self, frame_data: &[u8]) -> Result<(), FrameError> {
        let frame = self.state.seal(frame_data)?;
        self.inner.write_all(&frame).await?;
        self.inner.flush().await?;
        Ok(())
    }

    /// Shuts down the write side of the transport.
    pub async fn shutdown(&mut self) -> Result<(), FrameError> {
        self.inner.shutdown().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{Role, Secrets};
    use alloy_primitives::B256;
    use secp256k1::SecretKey;

    fn pair(max: usize) -> ((EgressState, IngressState), (EgressState, IngressState)) {
        pair2(max, max)
    }

    fn pair2(
        max_a: usize,
        max_b: usize,
    ) -> ((EgressState, IngressState), (EgressState, IngressState)) {
        let ea = SecretKey::new(&mut rand::rng());
        let eb = SecretKey::new(&mut rand::rng());
        let na = B256::repeat_byte(1);
        let nb = B256::repeat_byte(2);
        let a = Secrets::derive(
            Role::Initiator,
            &ea,
            &eb.public_key(),
            &na,
            &nb,
            b"auth",
            b"ack",
        );
        let b = Secrets::derive(
            Role::Recipient,
            &eb,
            &ea.public_key(),
            &na,
            &nb,
            b"auth",
            b"ack",
        );
        (frame_states(&a, max_a), frame_states(&b, max_b))
    }

    fn open(ingress: &mut IngressState, frame: &[u8]) -> Result<Vec<u8>, FrameError> {
        let header: [u8; 32] = frame[..32].try_into().unwrap();
        let size = ingress.open_header(&header)?;
        let mut body = BytesMut::from(&frame[32..]);
        ingress.open_body(&mut body, size)?;
        Ok(body.to_vec())
    }

    #[test]
    fn roundtrip_both_directions() {
        let ((mut a_out, mut a_in), (mut b_out, mut b_in)) = pair(MAX_FRAME_SIZE);
        for len in [0usize, 1, 15, 16, 17, 1000] {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let f = a_out.seal(&data).unwrap();
            assert_eq!(open(&mut b_in, &f).unwrap(), data);
            let g = b_out.seal(&data).unwrap();
            assert_eq!(open(&mut a_in, &g).unwrap(), data);
        }
    }

    #[test]
    fn bad_macs_detected() {
        let ((mut a_out, _), (_, mut b_in)) = pair(MAX_FRAME_SIZE);
        let mut f = a_out.seal(b"hello world").unwrap();
        f[3] ^= 1;
        assert!(matches!(open(&mut b_in, &f), Err(FrameError::BadHeaderMac)));

        let ((mut a_out, _), (_, mut b_in)) = pair(MAX_FRAME_SIZE);
        let mut f = a_out.seal(b"hello world").unwrap();
        f[40] ^= 1;
        assert!(matches!(open(&mut b_in, &f), Err(FrameError::BadFrameMac)));

        let ((mut a_out, _), (_, mut b_in)) = pair(MAX_FRAME_SIZE);
        let mut f = a_out.seal(b"hello world").unwrap();
        let last = f.len() - 1;
        f[last] ^= 1;
        assert!(matches!(open(&mut b_in, &f), Err(FrameError::BadFrameMac)));
    }

    #[test]
    fn oversized_frames_rejected() {
        let ((mut a_out, _), (_, mut b_in)) = pair(1024);
        assert!(matches!(
            a_out.seal(&[0u8; 2000]),
            Err(FrameError::OutgoingTooLarge {
                size: 2000,
                max: 1024
            })
        ));
        // A sender with a larger limit produces a frame the receiver rejects from the header.
        let ((mut big_out, _), (_, mut small_in)) = pair2(MAX_FRAME_SIZE, 1024);
        let f = big_out.seal(&[7u8; 2000]).unwrap();
        assert!(matches!(
            open(&mut small_in, &f),
            Err(FrameError::FrameTooLarge {
                size: 2000,
                max: 1024
            })
        ));
        let _ = &mut b_in;
        let ((mut a_out, _), (_, _)) = pair(MAX_FRAME_SIZE);
        let _ = a_out.seal(&vec![0u8; MAX_ENCODABLE_FRAME_SIZE]).unwrap();
        assert!(
            a_out
                .seal(&vec![0u8; MAX_ENCODABLE_FRAME_SIZE + 1])
                .is_err()
        );
    }
}
