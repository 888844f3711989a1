//! Fuzz entry points: one function per decoder of remote bytes. Each must return without
//! panicking for any input. They are driven by the cargo-fuzz targets in `fuzz/` (nightly,
//! coverage-guided) and by the stable smoke runner `tests/fuzz_smoke.rs`.

use bytes::{Bytes, BytesMut};

use crate::{
    discv4::packet::{self as discv4, Enr, Message},
    ecies,
    eth::{EthMessage, Wire, consensus_receipt_to_eth69, eth69_receipt_to_consensus, logs_bloom},
    frame::frame_states,
    handshake::{Role, Secrets, decode_ack, decode_auth},
    identity::{SecretKey, parse_secret_key},
    p2p::{DisconnectReason, Hello, decompress, split_frame_data},
};

fn key() -> SecretKey {
    // The EIP-8 test key "B".
    parse_secret_key("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291")
        .expect("valid test key")
}

/// ECIES `auth` packets (EIP-8 and legacy) as received by a recipient.
pub fn ecies_auth(data: &[u8]) {
    let k = key();
    let _ = decode_auth(&k, data);
    let _ = ecies::decrypt(&k, data, &[]);
}

/// ECIES `ack` packets as received by an initiator.
pub fn ecies_ack(data: &[u8]) {
    let _ = decode_ack(&key(), data);
}

fn secrets() -> Secrets {
    let k = key();
    Secrets::derive(
        Role::Recipient,
        &k,
        &k.public_key(),
        &Default::default(),
        &Default::default(),
        b"auth",
        b"ack",
    )
}

/// Frame opening: raw bytes as header + body (MAC checks), and the input sealed by a matching
/// peer and opened again, with the plaintext fed through the message-id split, snappy and
/// the p2p/eth decoders (the paths behind a valid MAC).
pub fn frame(data: &[u8]) {
    let s = secrets();
    let (_, mut ingress) = frame_states(&s, 1 << 20);
    if data.len() >= 32 {
        let header: [u8; 32] = data[..32].try_into().expect("32 bytes");
        if let Ok(size) = ingress.open_header(&header) {
            let mut body = BytesMut::from(&data[32..]);
            let _ = ingress.open_body(&mut body, size);
        }
    }
    // The mirror side: our egress is their ingress when roles are swapped.
    let mut mirror = s.clone();
    std::mem::swap(&mut mirror.egress_mac, &mut mirror.ingress_mac);
    let (mut egress, _) = frame_states(&mirror, 1 << 20);
    let (_, mut ingress) = frame_states(&s, 1 << 20);
    if let Ok(sealed) = egress.seal(data) {
        let header: [u8; 32] = sealed[..32].try_into().expect("32 bytes");
        if let Ok(size) = ingress.open_header(&header) {
            let mut body = BytesMut::from(&sealed[32..]);
            if ingress.open_body(&mut body, size).is_ok() {
                message_frame(&body.freeze());
            }
        }
    }
}

fn message_frame(frame: &Bytes) {
    if let Ok((id, payload)) = split_frame_data(frame) {
        let plain = decompress(&payload, 1 << 20)
            .map(Bytes::from)
            .unwrap_or(payload);
        match id {
            0 => {
                let _ = Hello::decode(&plain);
            }
            1 => {
                let _ = DisconnectReason::decode(&plain);
            }
            id => eth_message((id.saturating_sub(0x10)) % 0x14, &plain),
        }
    }
}

/// p2p base-protocol messages: `Hello`, `Disconnect`, snappy and the frame-data split.
pub fn p2p(data: &[u8]) {
    let _ = Hello::decode(data);
    let _ = DisconnectReason::decode(data);
    let _ = decompress(data, 1 << 20);
    let _ = split_frame_data(&Bytes::copy_from_slice(data));
}

fn eth_message(id: u64, payload: &Bytes) {
    // Every version (eth/68, 69, 70) in every dialect (standard, Bor).
    for wire in Wire::ALL {
        if let Ok(msg) = EthMessage::decode(wire, id, payload) {
            // Whatever decodes must re-encode without panicking.
            let _ = msg.encode(wire);
        }
    }
}

/// eth messages: the first byte selects the message id, the rest is the payload; also the
/// receipt conversions and bloom computation.
pub fn eth(data: &[u8]) {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let payload = Bytes::copy_from_slice(rest);
    eth_message(u64::from(*first % 0x14), &payload);
    let _ = eth69_receipt_to_consensus(rest);
    let _ = consensus_receipt_to_eth69(rest);
    let _ = logs_bloom(rest);
    let _ = crate::blockfile::parse_receipts(rest);
    let _ = hypasis_validation::body::decode_body(rest);
}

/// discv4 packets (hash, signature, data), packet data of every type without the signature
/// gate (first byte = type), and ENRs.
pub fn discv4(data: &[u8]) {
    let _ = discv4::decode(data);
    if let Some((t, rest)) = data.split_first() {
        if let Ok(m) = Message::decode_data(t % 8, rest) {
            let _ = discv4::encode(&key(), &m);
        }
        let _ = Enr::decode(rest);
    }
}

/// A fuzz entry point.
pub type Target = fn(&[u8]);

/// Every target by name (used by the smoke runner and documented fuzz commands).
pub const TARGETS: &[(&str, Target)] = &[
    ("ecies_auth", ecies_auth),
    ("ecies_ack", ecies_ack),
    ("frame", frame),
    ("p2p", p2p),
    ("eth", eth),
    ("discv4", discv4),
];
