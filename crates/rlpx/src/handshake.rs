//! The RLPx cryptographic handshake (`rlpx.md`, "Initial Handshake", and EIP-8).
//!
//! The initiator always sends an EIP-8 `auth` packet. The recipient accepts both EIP-8 and
//! legacy (pre-EIP-8, 307 byte) `auth` packets and answers in the same format. Both sides
//! accept EIP-8 and legacy (210 byte) `ack` packets.

use std::io;

use alloy_primitives::{B256, keccak256};
use alloy_rlp::Encodable;
use rand::Rng;
use secp256k1::{
    Message, PublicKey, SecretKey,
    ecdsa::{RecoverableSignature, RecoveryId},
};
use sha3::{Digest, Keccak256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use hypasis_primitives::rlp::{Items, list_payload, wrap_list};

use crate::{
    ecies::{self, ECIES_OVERHEAD, EciesError, ecdh_x},
    identity::{NodeId, id_to_pubkey, pubkey_to_id},
};

/// Size of a legacy (pre-EIP-8) encrypted auth packet.
pub const AUTH_LEGACY_LEN: usize = 194 + ECIES_OVERHEAD;
/// Size of a legacy (pre-EIP-8) encrypted ack packet.
pub const ACK_LEGACY_LEN: usize = 97 + ECIES_OVERHEAD;
/// The RLPx handshake version we send (`auth-vsn` / `ack-vsn`).
pub const HANDSHAKE_VERSION: u64 = 4;

/// Handshake failures. Everything except [`HandshakeError::Io`] is a peer fault.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// Socket error or the peer closed the connection.
    #[error("handshake I/O error: {0}")]
    Io(#[from] io::Error),
    /// The packet could not be decrypted.
    #[error("handshake decryption failed: {0}")]
    Ecies(#[from] EciesError),
    /// The decrypted body is not valid RLP.
    #[error("handshake body is malformed RLP: {0}")]
    Rlp(#[from] alloy_rlp::Error),
    /// The EIP-8 size prefix does not match the packet or is too small.
    #[error("handshake packet size prefix {0} is invalid")]
    BadSize(usize),
    /// A field has the wrong length.
    #[error("handshake field {field} has invalid length {len}")]
    BadFieldLength {
        /// Field name.
        field: &'static str,
        /// Length found.
        len: usize,
    },
    /// A public key in the handshake is not on the curve.
    #[error("handshake contains an invalid public key")]
    InvalidPublicKey,
    /// The auth signature is malformed or does not recover a public key.
    #[error("handshake signature is invalid")]
    InvalidSignature,
}

impl HandshakeError {
    /// Whether the error was caused by the remote peer's data (vs. transport failure).
    pub fn is_peer_fault(&self) -> bool {
        !matches!(self, Self::Io(_))
    }
}

/// The encoding of a handshake packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFormat {
    /// Fixed-size pre-EIP-8 encoding.
    Legacy,
    /// EIP-8 size-prefixed RLP encoding.
    Eip8,
}

/// A decoded `auth` packet, as seen by the recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthMessage {
    /// The initiator's static public key.
    pub initiator_pubkey: PublicKey,
    /// The initiator's ephemeral public key, recovered from the signature.
    pub ephemeral_pubkey: PublicKey,
    /// The initiator's nonce.
    pub nonce: B256,
    /// `auth-vsn` (ignored for compatibility; legacy packets report 4).
    pub version: u64,
    /// The packet encoding.
    pub format: HandshakeFormat,
}

impl AuthMessage {
    /// The initiator's node id.
    pub fn initiator_id(&self) -> NodeId {
        pubkey_to_id(&self.initiator_pubkey)
    }
}

/// A decoded `ack` packet, as seen by the initiator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckMessage {
    /// The recipient's ephemeral public key.
    pub ephemeral_pubkey: PublicKey,
    /// The recipient's nonce.
    pub nonce: B256,
    /// `ack-vsn` (ignored; legacy packets report 4).
    pub version: u64,
    /// The packet encoding.
    pub format: HandshakeFormat,
}

fn xor32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (o, (x, y)) in out.iter_mut().zip(a.iter().zip(b.iter())) {
        *o = x ^ y;
    }
    out
}

fn fixed<const N: usize>(field: &'static str, bytes: &[u8]) -> Result<[u8; N], HandshakeError> {
    bytes
        .try_into()
        .map_err(|_| HandshakeError::BadFieldLength {
            field,
            len: bytes.len(),
        })
}

fn id_bytes_to_pubkey(bytes: &[u8]) -> Result<PublicKey, HandshakeError> {
    let arr: [u8; 64] = fixed("public key", bytes)?;
    id_to_pubkey(&NodeId::from(arr)).map_err(|_| HandshakeError::InvalidPublicKey)
}

fn sign_auth(
    secret: &SecretKey,
    remote: &PublicKey,
    ephemeral: &SecretKey,
    nonce: &B256,
) -> [u8; 65] {
    let shared = ecdh_x(remote, secret);
    let msg = Message::from_digest(xor32(&shared, &nonce.0));
    let (recid, compact) =
        RecoverableSignature::sign_ecdsa_recoverable(msg, ephemeral).serialize_compact();
    let mut sig = [0u8; 65];
    sig[..64].copy_from_slice(&compact);
    sig[64] = recid.to_u8();
    sig
}

fn random_padding() -> Vec<u8> {
    let mut rng = rand::rng();
    let len = rng.random_range(100..=300);
    let mut pad = vec![0u8; len];
    rng.fill(&mut pad[..]);
    pad
}

/// Encrypts an EIP-8 body: `size || ecies.encrypt(remote, body, size)`.
fn seal_eip8(remote: &PublicKey, mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&random_padding());
    let size = body.len() + ECIES_OVERHEAD;
    let prefix = u16::try_from(size).unwrap_or(u16::MAX).to_be_bytes();
    let mut packet = prefix.to_vec();
    packet.extend_from_slice(&ecies::encrypt(remote, &body, &prefix));
    packet
}

/// Builds an EIP-8 `auth` packet (initiator side).
pub fn create_auth(
    secret: &SecretKey,
    remote: &PublicKey,
    ephemeral: &SecretKey,
    nonce: &B256,
) -> Vec<u8> {
    let sig = sign_auth(secret, remote, ephemeral, nonce);
    let mut payload = Vec::with_capacity(180);
    sig[..].encode(&mut payload);
    pubkey_to_id(&secret.public_key()).0[..].encode(&mut payload);
    nonce.encode(&mut payload);
    HANDSHAKE_VERSION.encode(&mut payload);
    seal_eip8(remote, wrap_list(&payload))
}

/// Builds a legacy (pre-EIP-8) `auth` packet. Only used to test the recipient's
/// backwards compatibility; initiators always send EIP-8.
pub fn create_auth_legacy(
    secret: &SecretKey,
    remote: &PublicKey,
    ephemeral: &SecretKey,
    nonce: &B256,
) -> Vec<u8> {
    let sig = sign_auth(secret, remote, ephemeral, nonce);
    let mut body = Vec::with_capacity(194);
    body.extend_from_slice(&sig);
    body.extend_from_slice(keccak256(pubkey_to_id(&ephemeral.public_key())).as_slice());
    body.extend_from_slice(pubkey_to_id(&secret.public_key()).as_slice());
    body.extend_from_slice(nonce.as_slice());
    body.push(0);
    ecies::encrypt(remote, &body, &[])
}

/// Builds an `ack` packet in `format` (recipient side).
pub fn create_ack(
    remote: &PublicKey,
    ephemeral: &SecretKey,
    nonce: &B256,
    format: HandshakeFormat,
) -> Vec<u8> {
    let eph_id = pubkey_to_id(&ephemeral.public_key());
    match format {
        HandshakeFormat::Legacy => {
            let mut body = Vec::with_capacity(97);
            body.extend_from_slice(eph_id.as_slice());
            body.extend_from_slice(nonce.as_slice());
            body.push(0);
            ecies::encrypt(remote, &body, &[])
        }
        HandshakeFormat::Eip8 => {
            let mut payload = Vec::with_capacity(110);
            eph_id.0[..].encode(&mut payload);
            nonce.encode(&mut payload);
            HANDSHAKE_VERSION.encode(&mut payload);
            seal_eip8(remote, wrap_list(&payload))
        }
    }
}

/// Decrypts a complete handshake packet (legacy or EIP-8).
fn open_packet(
    secret: &SecretKey,
    packet: &[u8],
    legacy_len: usize,
) -> Result<(Vec<u8>, HandshakeFormat), HandshakeError> {
    if packet.len() == legacy_len
        && packet[0] == 0x04
        && let Ok(plain) = ecies::decrypt(secret, packet, &[])
    {
        return Ok((plain, HandshakeFormat::Legacy));
    }
    if packet.len() < 2 {
        return Err(HandshakeError::BadSize(packet.len()));
    }
    let (prefix, body) = packet.split_at(2);
    let size = u16::from_be_bytes([prefix[0], prefix[1]]) as usize;
    if size != body.len() {
        return Err(HandshakeError::BadSize(size));
    }
    Ok((ecies::decrypt(secret, body, prefix)?, HandshakeFormat::Eip8))
}

/// Decrypts and decodes an `auth` packet addressed to `secret` (recipient side).
pub fn decode_auth(secret: &SecretKey, packet: &[u8]) -> Result<AuthMessage, HandshakeError> {
    let (plain, format) = open_packet(secret, packet, AUTH_LEGACY_LEN)?;
    let (sig, pubkey, nonce, version) = match format {
        HandshakeFormat::Legacy => {
            if plain.len() != 194 {
                return Err(HandshakeError::BadFieldLength {
                    field: "auth body",
                    len: plain.len(),
                });
            }
            // sig(65) || keccak(ephemeral-pubk)(32) || pubk(64) || nonce(32) || token-flag(1)
            (
                fixed::<65>("signature", &plain[..65])?,
                id_bytes_to_pubkey(&plain[97..161])?,
                B256::from_slice(&plain[161..193]),
                HANDSHAKE_VERSION,
            )
        }
        HandshakeFormat::Eip8 => {
            let mut buf = &plain[..];
            // Trailing data after the list (padding) and extra list elements are ignored.
            let mut items = Items::new(list_payload(&mut buf)?);
            let sig: alloy_primitives::Bytes = items.require()?;
            let pk: alloy_primitives::Bytes = items.require()?;
            let nonce: B256 = items.require()?;
            let version: u64 = items.require()?;
            (
                fixed::<65>("signature", &sig)?,
                id_bytes_to_pubkey(&pk)?,
                nonce,
                version,
            )
        }
    };
    let shared = ecdh_x(&pubkey, secret);
    let msg = Message::from_digest(xor32(&shared, &nonce.0));
    let recid =
        RecoveryId::try_from(i32::from(sig[64])).map_err(|_| HandshakeError::InvalidSignature)?;
    let rsig = RecoverableSignature::from_compact(&sig[..64], recid)
        .map_err(|_| HandshakeError::InvalidSignature)?;
    let ephemeral_pubkey = rsig
        .recover_ecdsa(msg)
        .map_err(|_| HandshakeError::InvalidSignature)?;
    Ok(AuthMessage {
        initiator_pubkey: pubkey,
        ephemeral_pubkey,
        nonce,
        version,
        format,
    })
}

/// Decrypts and decodes an `ack` packet addressed to `secret` (initiator side).
pub fn decode_ack(secret: &SecretKey, packet: &[u8]) -> Result<AckMessage, HandshakeError> {
    let (plain, format) = open_packet(secret, packet, ACK_LEGACY_LEN)?;
    match format {
        HandshakeFormat::Legacy => {
            if plain.len() != 97 {
                return Err(HandshakeError::BadFieldLength {
                    field: "ack body",
                    len: plain.len(),
                });
            }
            Ok(AckMessage {
                ephemeral_pubkey: id_bytes_to_pubkey(&plain[..64])?,
                nonce: B256::from_slice(&plain[64..96]),
                version: HANDSHAKE_VERSION,
                format,
            })
        }
        HandshakeFormat::Eip8 => {
            let mut buf = &plain[..];
            let mut items = Items::new(list_payload(&mut buf)?);
            let pk: alloy_primitives::Bytes = items.require()?;
            let nonce: B256 = items.require()?;
            let version: u64 = items.require()?;
            Ok(AckMessage {
                ephemeral_pubkey: id_bytes_to_pubkey(&pk)?,
                nonce,
                version,
                format,
            })
        }
    }
}

/// A running Keccak-256 state used as an RLPx ingress/egress MAC.
#[derive(Clone)]
pub struct KeccakMac {
    state: Keccak256,
}

impl std::fmt::Debug for KeccakMac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeccakMac").finish_non_exhaustive()
    }
}

impl KeccakMac {
    /// Initialises the state with `(mac_secret ^ nonce) || packet`.
    pub fn new(mac_secret: &B256, nonce: &B256, packet: &[u8]) -> Self {
        let mut state = Keccak256::new();
        state.update(xor32(&mac_secret.0, &nonce.0));
        state.update(packet);
        Self { state }
    }

    /// Absorbs `data` into the running state.
    pub fn update(&mut self, data: &[u8]) {
        self.state.update(data);
    }

    /// Returns the hash of everything absorbed so far without resetting the state.
    pub fn digest(&self) -> B256 {
        B256::from_slice(&self.state.clone().finalize())
    }
}

/// Session secrets derived from the handshake (their `Debug` shows no key material).
#[derive(Clone)]
pub struct Secrets {
    /// AES-256-CTR key for frame encryption.
    pub aes_secret: B256,
    /// AES-256 key used in the MAC construction.
    pub mac_secret: B256,
    /// MAC state for bytes we send.
    pub egress_mac: KeccakMac,
    /// MAC state for bytes we receive.
    pub ingress_mac: KeccakMac,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("aes_secret", &"<redacted>")
            .field("mac_secret", &"<redacted>")
            .field("egress_mac", &"<redacted>")
            .field("ingress_mac", &"<redacted>")
            .finish()
    }
}

/// Which side of the handshake we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We dialled the connection and sent `auth`.
    Initiator,
    /// We accepted the connection and sent `ack`.
    Recipient,
}

impl Secrets {
    /// Derives the session secrets. `auth_packet`/`ack_packet` are the complete packets as
    /// sent on the wire (including the EIP-8 size prefix).
    #[allow(clippy::too_many_arguments)]
    pub fn derive(
        role: Role,
        ephemeral: &SecretKey,
        remote_ephemeral: &PublicKey,
        initiator_nonce: &B256,
        recipient_nonce: &B256,
        auth_packet: &[u8],
        ack_packet: &[u8],
    ) -> Self {
        let ecdhe = ecdh_x(remote_ephemeral, ephemeral);
        let mut nonces = [0u8; 64];
        nonces[..32].copy_from_slice(recipient_nonce.as_slice());
        nonces[32..].copy_from_slice(initiator_nonce.as_slice());
        let shared = keccak256([&ecdhe[..], keccak256(nonces).as_slice()].concat());
        let aes_secret = keccak256([&ecdhe[..], shared.as_slice()].concat());
        let mac_secret = keccak256([&ecdhe[..], aes_secret.as_slice()].concat());
        let (egress_mac, ingress_mac) = match role {
            Role::Initiator => (
                KeccakMac::new(&mac_secret, recipient_nonce, auth_packet),
                KeccakMac::new(&mac_secret, initiator_nonce, ack_packet),
            ),
            Role::Recipient => (
                KeccakMac::new(&mac_secret, initiator_nonce, ack_packet),
                KeccakMac::new(&mac_secret, recipient_nonce, auth_packet),
            ),
        };
        Self {
            aes_secret,
            mac_secret,
            egress_mac,
            ingress_mac,
        }
    }
}

/// Result of a completed cryptographic handshake.
#[derive(Debug, Clone)]
pub struct HandshakeOutcome {
    /// Derived session secrets.
    pub secrets: Secrets,
    /// The authenticated remote node id.
    pub remote_id: NodeId,
    /// The format of the remote's handshake packet.
    pub remote_format: HandshakeFormat,
}

/// Reads one handshake packet (legacy or EIP-8) from `reader`.
///
/// Legacy packets always start with `0x04` (the ECIES ephemeral key prefix). If the first
/// byte is `0x04` we read `legacy_len` bytes and try legacy decryption; otherwise (or if that
/// fails) the first two bytes are the EIP-8 size prefix.
async fn read_packet<R: AsyncRead + Unpin>(
    reader: &mut R,
    secret: &SecretKey,
    legacy_len: usize,
) -> Result<Vec<u8>, HandshakeError> {
    let mut packet = vec![0u8; 2];
    reader.read_exact(&mut packet).await?;
    let size = u16::from_be_bytes([packet[0], packet[1]]) as usize;
    if packet[0] == 0x04 {
        packet.resize(legacy_len, 0);
        reader.read_exact(&mut packet[2..]).await?;
        if ecies::decrypt(secret, &packet, &[]).is_ok() {
            return Ok(packet);
        }
        // An EIP-8 packet whose size prefix starts with 0x04 is at least 1026 bytes long.
        if size + 2 < legacy_len {
            return Err(HandshakeError::BadSize(size));
        }
        let have = packet.len();
        packet.resize(size + 2, 0);
        reader.read_exact(&mut packet[have..]).await?;
        return Ok(packet);
    }
    if size < ECIES_OVERHEAD {
        return Err(HandshakeError::BadSize(size));
    }
    packet.resize(size + 2, 0);
    reader.read_exact(&mut packet[2..]).await?;
    Ok(packet)
}

/// Performs the initiator side of the handshake on `stream` with the node `remote`.
pub async fn initiator_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &SecretKey,
    remote: &PublicKey,
) -> Result<HandshakeOutcome, HandshakeError> {
    let ephemeral = SecretKey::new(&mut rand::rng());
    let nonce = B256::from(rand::random::<[u8; 32]>());
    let auth = create_auth(secret, remote, &ephemeral, &nonce);
    stream.write_all(&auth).await?;
    stream.flush().await?;
    let ack_packet = read_packet(stream, secret, ACK_LEGACY_LEN).await?;
    let ack = decode_ack(secret, &ack_packet)?;
    let secrets = Secrets::derive(
        Role::Initiator,
        &ephemeral,
        &ack.ephemeral_pubkey,
        &nonce,
        &ack.nonce,
        &auth,
        &ack_packet,
    );
    Ok(HandshakeOutcome {
        secrets,
        remote_id: pubkey_to_id(remote),
        remote_format: ack.format,
    })
}

/// Performs the recipient side of the handshake on an accepted `stream`.
pub async fn recipient_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &SecretKey,
) -> Result<HandshakeOutcome, HandshakeError> {
    let auth_packet = read_packet(stream, secret, AUTH_LEGACY_LEN).await?;
    let auth = decode_auth(secret, &auth_packet)?;
    let ephemeral = SecretKey::new(&mut rand::rng());
    let nonce = B256::from(rand::random::<[u8; 32]>());
    let ack = create_ack(&auth.initiator_pubkey, &ephemeral, &nonce, auth.format);
    stream.write_all(&ack).await?;
    stream.flush().await?;
    let secrets = Secrets::derive(
        Role::Recipient,
        &ephemeral,
        &auth.ephemeral_pubkey,
        &auth.nonce,
        &nonce,
        &auth_packet,
        &ack,
    );
    Ok(HandshakeOutcome {
        secrets,
        remote_id: auth.initiator_id(),
        remote_format: auth.format,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print_key_material() {
        let (a, b) = (
            crate::identity::generate_secret_key(),
            crate::identity::generate_secret_key(),
        );
        let secrets = Secrets::derive(
            Role::Initiator,
            &a,
            &b.public_key(),
            &B256::repeat_byte(1),
            &B256::repeat_byte(2),
            b"auth",
            b"ack",
        );
        let text = format!("{secrets:?}");
        assert!(text.contains("<redacted>"), "{text}");
        assert!(
            !text.contains(&format!("{:x}", secrets.aes_secret)[2..10]),
            "{text}"
        );
        assert!(
            !text.contains(&hex::encode(&secrets.mac_secret[..4])),
            "{text}"
        );
    }
    use crate::frame::frame_states;

    #[tokio::test]
    async fn eip8_handshake_over_duplex() {
        let a = SecretKey::new(&mut rand::rng());
        let b = SecretKey::new(&mut rand::rng());
        let (mut ca, mut cb) = tokio::io::duplex(4096);
        let b_pub = b.public_key();
        let (ra, rb) = tokio::join!(
            initiator_handshake(&mut ca, &a, &b_pub),
            recipient_handshake(&mut cb, &b)
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(ra.remote_id, pubkey_to_id(&b.public_key()));
        assert_eq!(rb.remote_id, pubkey_to_id(&a.public_key()));
        assert_eq!(rb.remote_format, HandshakeFormat::Eip8);
        assert_eq!(ra.secrets.aes_secret, rb.secrets.aes_secret);
        assert_eq!(
            ra.secrets.egress_mac.digest(),
            rb.secrets.ingress_mac.digest()
        );
        assert_eq!(
            ra.secrets.ingress_mac.digest(),
            rb.secrets.egress_mac.digest()
        );
    }

    #[tokio::test]
    async fn legacy_auth_gets_legacy_ack() {
        let a = SecretKey::new(&mut rand::rng());
        let b = SecretKey::new(&mut rand::rng());
        let eph = SecretKey::new(&mut rand::rng());
        let nonce = B256::repeat_byte(9);
        let auth = create_auth_legacy(&a, &b.public_key(), &eph, &nonce);
        assert_eq!(auth.len(), AUTH_LEGACY_LEN);
        let (mut ca, mut cb) = tokio::io::duplex(4096);
        ca.write_all(&auth).await.unwrap();
        let rb = recipient_handshake(&mut cb, &b).await.unwrap();
        assert_eq!(rb.remote_format, HandshakeFormat::Legacy);
        let mut ack = vec![0u8; ACK_LEGACY_LEN];
        ca.read_exact(&mut ack).await.unwrap();
        let decoded = decode_ack(&a, &ack).unwrap();
        assert_eq!(decoded.format, HandshakeFormat::Legacy);
        let sa = Secrets::derive(
            Role::Initiator,
            &eph,
            &decoded.ephemeral_pubkey,
            &nonce,
            &decoded.nonce,
            &auth,
            &ack,
        );
        let (mut egress, _) = frame_states(&sa, 1 << 20);
        let (_, mut ingress) = frame_states(&rb.secrets, 1 << 20);
        let frame = egress.seal(b"legacy works").unwrap();
        let size = ingress
            .open_header(frame[..32].try_into().unwrap())
            .unwrap();
        let mut body = bytes::BytesMut::from(&frame[32..]);
        ingress.open_body(&mut body, size).unwrap();
        assert_eq!(&body[..], b"legacy works");
    }

    #[test]
    fn garbage_packets_are_errors() {
        let b = SecretKey::new(&mut rand::rng());
        for packet in [
            vec![],
            vec![0x04],
            vec![0x00, 0x05, 1, 2, 3, 4, 5],
            vec![0x04; AUTH_LEGACY_LEN],
            [&[0x01, 0x00][..], &[0x42; 256][..]].concat(),
        ] {
            let err = decode_auth(&b, &packet).unwrap_err();
            assert!(err.is_peer_fault());
            assert!(decode_ack(&b, &packet).is_err());
        }
        // Valid ECIES but garbage body.
        let body = ecies::encrypt(&b.public_key(), &[0xc1, 0x80, 0, 0], &[0x00, 0x75]);
        let packet = [&[0x00, 0x75][..], &body[..]].concat();
        assert!(matches!(
            decode_auth(&b, &packet),
            Err(HandshakeError::Rlp(_))
        ));
    }
}
