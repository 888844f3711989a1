//! Property tests: decoders fed arbitrary remote bytes return errors, never panic.

use bytes::Bytes;
use hypasis_eth_wire::eth::{
    EthMessage, Wire, consensus_receipt_to_eth69, eth69_receipt_to_consensus, logs_bloom,
};
use hypasis_rlpx::{
    ecies,
    frame::frame_states,
    handshake::{Role, Secrets, decode_ack, decode_auth},
    identity::parse_secret_key,
    p2p::{DisconnectReason, Hello, decompress, split_frame_data},
};
use proptest::prelude::*;

fn key() -> hypasis_rlpx::SecretKey {
    parse_secret_key("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291").unwrap()
}

/// Byte strings biased towards RLP-looking prefixes.
fn rlpish() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..200)).prop_map(|(h, mut v)| {
            v.insert(0, 0xc0 | (h & 0x3f));
            v
        }),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|v| {
            let mut out = vec![0xf8, v.len() as u8];
            out.extend(v);
            out
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn handshake_decoders(data in proptest::collection::vec(any::<u8>(), 0..700)) {
        let k = key();
        let _ = decode_auth(&k, &data);
        let _ = decode_ack(&k, &data);
        let _ = ecies::decrypt(&k, &data, &[]);
    }

    #[test]
    fn p2p_decoders(data in rlpish()) {
        let _ = Hello::decode(&data);
        let _ = DisconnectReason::decode(&data);
        let _ = decompress(&data, 1 << 20);
        let _ = split_frame_data(&Bytes::from(data));
    }

    #[test]
    fn eth_decoders(id in 0u64..0x14, data in rlpish()) {
        let payload = Bytes::from(data.clone());
        // Every version (eth/68, 69, 70) in every dialect (standard, Bor).
        for wire in Wire::ALL {
            if let Ok(msg) = EthMessage::decode(wire, id, &payload) {
                // Whatever decodes (other than unknown ids) re-encodes in the same wire.
                let encoded = msg.encode(wire);
                prop_assert!(
                    encoded.is_ok() || matches!(msg, EthMessage::Unknown { .. }),
                    "{msg:?} does not re-encode: {encoded:?}"
                );
            }
        }
        let _ = eth69_receipt_to_consensus(&data);
        let _ = consensus_receipt_to_eth69(&data);
        let _ = logs_bloom(&data);
    }

    #[test]
    fn frame_open(data in proptest::collection::vec(any::<u8>(), 32..200)) {
        let k = key();
        let s = Secrets::derive(Role::Recipient, &k, &k.public_key(), &Default::default(), &Default::default(), b"", b"");
        let (_, mut ingress) = frame_states(&s, 1 << 20);
        let header: [u8; 32] = data[..32].try_into().unwrap();
        if let Ok(size) = ingress.open_header(&header) {
            let mut body = bytes::BytesMut::from(&data[32..]);
            let _ = ingress.open_body(&mut body, size);
        }
    }
}
