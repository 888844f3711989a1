//! discv4 packets (`discv4.md`): `hash ‖ signature ‖ type ‖ rlp(data)`, where
//! `hash = keccak256(signature ‖ type ‖ data)` and the signature is a recoverable secp256k1
//! signature of `keccak256(type ‖ data)` identifying the sender. Extra list elements are
//! ignored (EIP-8).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_rlp::{Encodable, Header};
use secp256k1::{
    Message as SecpMessage,
    ecdsa::{RecoverableSignature, RecoveryId},
};

use hypasis_primitives::rlp::{Items, decode_exact, list_payload, wrap_list};
use hypasis_rlpx::identity::{NodeId, SecretKey, pubkey_to_id};

/// Maximum discv4 packet size.
pub const MAX_PACKET_SIZE: usize = 1280;
/// Header length: 32-byte hash + 65-byte signature.
const HEADER_LEN: usize = 97;
/// Maximum size of an ENR.
pub const MAX_ENR_SIZE: usize = 300;

/// Packet types.
pub mod types {
    /// Ping.
    pub const PING: u8 = 0x01;
    /// Pong.
    pub const PONG: u8 = 0x02;
    /// FindNode.
    pub const FIND_NODE: u8 = 0x03;
    /// Neighbors.
    pub const NEIGHBOURS: u8 = 0x04;
    /// ENRRequest.
    pub const ENR_REQUEST: u8 = 0x05;
    /// ENRResponse.
    pub const ENR_RESPONSE: u8 = 0x06;
}

/// Errors decoding a packet. All are faults of the sender; drop the packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Shorter than the header or longer than 1280 bytes.
    #[error("packet size {0} out of range")]
    Size(usize),
    /// The hash does not match.
    #[error("packet hash mismatch")]
    HashMismatch,
    /// The signature does not recover a public key.
    #[error("invalid packet signature")]
    BadSignature,
    /// Unknown packet type.
    #[error("unknown packet type {0}")]
    UnknownType(u8),
    /// Malformed RLP.
    #[error("malformed packet data: {0}")]
    Rlp(alloy_rlp::Error),
    /// A field has an invalid value.
    #[error("invalid packet: {0}")]
    Invalid(&'static str),
    /// The packet has expired.
    #[error("packet expired at {expiration} (now {now})")]
    Expired {
        /// Expiration (unix seconds).
        expiration: u64,
        /// Local time.
        now: u64,
    },
}

impl From<alloy_rlp::Error> for PacketError {
    fn from(e: alloy_rlp::Error) -> Self {
        Self::Rlp(e)
    }
}

/// A node endpoint: `[ip, udp-port, tcp-port]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// IP address.
    pub ip: IpAddr,
    /// UDP (discovery) port.
    pub udp_port: u16,
    /// TCP (RLPx) port.
    pub tcp_port: u16,
}

impl Endpoint {
    fn encode_fields(&self, out: &mut Vec<u8>) {
        match self.ip {
            IpAddr::V4(ip) => ip.octets()[..].encode(out),
            IpAddr::V6(ip) => ip.octets()[..].encode(out),
        }
        self.udp_port.encode(out);
        self.tcp_port.encode(out);
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let mut p = Vec::with_capacity(24);
        self.encode_fields(&mut p);
        out.extend_from_slice(&wrap_list(&p));
    }

    fn decode_fields(it: &mut Items<'_>) -> Result<Self, PacketError> {
        let ip = decode_ip(it.require_raw()?)?;
        // Ports: accept any integer that fits (some nodes send 0-length or overlong values).
        let udp_port: u16 = it.require()?;
        let tcp_port: u16 = it.require()?;
        Ok(Self {
            ip,
            udp_port,
            tcp_port,
        })
    }

    fn decode(raw: &[u8]) -> Result<Self, PacketError> {
        let mut b = raw;
        let mut it = Items::new(list_payload(&mut b)?);
        Self::decode_fields(&mut it)
    }
}

fn decode_ip(raw: &[u8]) -> Result<IpAddr, PacketError> {
    let mut b = raw;
    let bytes = Header::decode_bytes(&mut b, false)?;
    match bytes.len() {
        4 => Ok(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        ))),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(bytes);
            Ok(IpAddr::V6(Ipv6Addr::from(a)))
        }
        // Some implementations send an empty IP for "unknown".
        0 => Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        _ => Err(PacketError::Invalid("IP address must be 4 or 16 bytes")),
    }
}

/// A node in a `Neighbors` packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeRecord {
    /// Endpoint.
    pub endpoint: Endpoint,
    /// Node id.
    pub id: NodeId,
}

/// A discv4 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// `[version, from, to, expiration, enr-seq?]`.
    Ping {
        /// Protocol version (4).
        version: u64,
        /// Sender endpoint.
        from: Endpoint,
        /// Recipient endpoint.
        to: Endpoint,
        /// Expiration (unix seconds).
        expiration: u64,
        /// Sender's ENR sequence number.
        enr_seq: Option<u64>,
    },
    /// `[to, ping-hash, expiration, enr-seq?]`.
    Pong {
        /// The ping's sender endpoint as seen by us.
        to: Endpoint,
        /// Hash of the ping being answered.
        ping_hash: B256,
        /// Expiration.
        expiration: u64,
        /// Sender's ENR sequence number.
        enr_seq: Option<u64>,
    },
    /// `[target, expiration]`.
    FindNode {
        /// Target public key.
        target: NodeId,
        /// Expiration.
        expiration: u64,
    },
    /// `[[node...], expiration]`.
    Neighbours {
        /// Nodes close to the target.
        nodes: Vec<NodeRecord>,
        /// Expiration.
        expiration: u64,
    },
    /// `[expiration]`.
    EnrRequest {
        /// Expiration.
        expiration: u64,
    },
    /// `[request-hash, enr]`.
    EnrResponse {
        /// Hash of the request.
        request_hash: B256,
        /// The record (decoded and signature-checked).
        enr: Enr,
    },
}

impl Message {
    /// The packet type.
    pub fn packet_type(&self) -> u8 {
        match self {
            Self::Ping { .. } => types::PING,
            Self::Pong { .. } => types::PONG,
            Self::FindNode { .. } => types::FIND_NODE,
            Self::Neighbours { .. } => types::NEIGHBOURS,
            Self::EnrRequest { .. } => types::ENR_REQUEST,
            Self::EnrResponse { .. } => types::ENR_RESPONSE,
        }
    }

    /// The expiration, if the message has one.
    pub fn expiration(&self) -> Option<u64> {
        match self {
            Self::Ping { expiration, .. }
            | Self::Pong { expiration, .. }
            | Self::FindNode { expiration, .. }
            | Self::Neighbours { expiration, .. }
            | Self::EnrRequest { expiration } => Some(*expiration),
            Self::EnrResponse { .. } => None,
        }
    }

    fn encode_data(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(128);
        match self {
            Self::Ping {
                version,
                from,
                to,
                expiration,
                enr_seq,
            } => {
                version.encode(&mut p);
                from.encode(&mut p);
                to.encode(&mut p);
                expiration.encode(&mut p);
                if let Some(s) = enr_seq {
                    s.encode(&mut p);
                }
            }
            Self::Pong {
                to,
                ping_hash,
                expiration,
                enr_seq,
            } => {
                to.encode(&mut p);
                ping_hash.encode(&mut p);
                expiration.encode(&mut p);
                if let Some(s) = enr_seq {
                    s.encode(&mut p);
                }
            }
            Self::FindNode { target, expiration } => {
                target.encode(&mut p);
                expiration.encode(&mut p);
            }
            Self::Neighbours { nodes, expiration } => {
                let mut list = Vec::new();
                for n in nodes {
                    let mut f = Vec::with_capacity(90);
                    n.endpoint.encode_fields(&mut f);
                    n.id.encode(&mut f);
                    list.extend_from_slice(&wrap_list(&f));
                }
                p.extend_from_slice(&wrap_list(&list));
                expiration.encode(&mut p);
            }
            Self::EnrRequest { expiration } => expiration.encode(&mut p),
            Self::EnrResponse { request_hash, enr } => {
                request_hash.encode(&mut p);
                p.extend_from_slice(&enr.raw);
            }
        }
        wrap_list(&p)
    }

    /// Decodes the RLP data of a packet of type `ptype` (without hash and signature checks;
    /// [`decode`] does those first).
    pub fn decode_data(ptype: u8, data: &[u8]) -> Result<Self, PacketError> {
        let mut b = data;
        // Trailing bytes after the list are allowed (EIP-8 "additional random data").
        let mut it = Items::new(list_payload(&mut b)?);
        Ok(match ptype {
            types::PING => {
                let version: u64 = it.require()?;
                let from = Endpoint::decode(it.require_raw()?)?;
                let to = Endpoint::decode(it.require_raw()?)?;
                let expiration: u64 = it.require()?;
                let enr_seq = it.next_raw()?.and_then(|r| decode_exact::<u64>(r).ok());
                Self::Ping {
                    version,
                    from,
                    to,
                    expiration,
                    enr_seq,
                }
            }
            types::PONG => {
                let to = Endpoint::decode(it.require_raw()?)?;
                let ping_hash: B256 = it.require()?;
                let expiration: u64 = it.require()?;
                let enr_seq = it.next_raw()?.and_then(|r| decode_exact::<u64>(r).ok());
                Self::Pong {
                    to,
                    ping_hash,
                    expiration,
                    enr_seq,
                }
            }
            types::FIND_NODE => {
                let raw = it.require_raw()?;
                let mut rb = raw;
                let t = Header::decode_bytes(&mut rb, false)?;
                if t.len() != 64 {
                    return Err(PacketError::Invalid("findnode target must be 64 bytes"));
                }
                Self::FindNode {
                    target: NodeId::from_slice(t),
                    expiration: it.require()?,
                }
            }
            types::NEIGHBOURS => {
                let mut lb = it.require_raw()?;
                let mut nodes_it = Items::new(list_payload(&mut lb)?);
                let mut nodes = Vec::new();
                while let Some(n) = nodes_it.next_raw()? {
                    if nodes.len() >= 32 {
                        return Err(PacketError::Invalid("too many neighbours"));
                    }
                    let mut nb = n;
                    let mut f = Items::new(list_payload(&mut nb)?);
                    let endpoint = Endpoint::decode_fields(&mut f)?;
                    let mut idb = f.require_raw()?;
                    let id = Header::decode_bytes(&mut idb, false)?;
                    if id.len() != 64 {
                        return Err(PacketError::Invalid("node id must be 64 bytes"));
                    }
                    nodes.push(NodeRecord {
                        endpoint,
                        id: NodeId::from_slice(id),
                    });
                }
                Self::Neighbours {
                    nodes,
                    expiration: it.require()?,
                }
            }
            types::ENR_REQUEST => Self::EnrRequest {
                expiration: it.require()?,
            },
            types::ENR_RESPONSE => Self::EnrResponse {
                request_hash: it.require()?,
                enr: Enr::decode(it.require_raw()?)?,
            },
            other => return Err(PacketError::UnknownType(other)),
        })
    }
}

/// A decoded packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The message.
    pub message: Message,
    /// The sender's node id (recovered from the signature).
    pub node_id: NodeId,
    /// The packet hash (used in `Pong` and `ENRResponse`).
    pub hash: B256,
}

/// Encodes and signs `message`; returns the packet and its hash.
pub fn encode(secret: &SecretKey, message: &Message) -> (Vec<u8>, B256) {
    let mut signed = Vec::with_capacity(256);
    signed.push(message.packet_type());
    signed.extend_from_slice(&message.encode_data());
    let digest = keccak256(&signed);
    let (recid, compact) =
        RecoverableSignature::sign_ecdsa_recoverable(SecpMessage::from_digest(digest.0), secret)
            .serialize_compact();
    let mut packet = Vec::with_capacity(HEADER_LEN + signed.len());
    packet.extend_from_slice(&[0u8; 32]);
    packet.extend_from_slice(&compact);
    packet.push(recid.to_u8());
    packet.extend_from_slice(&signed);
    let hash = keccak256(&packet[32..]);
    packet[..32].copy_from_slice(hash.as_slice());
    (packet, hash)
}

/// Decodes a packet, checking size, hash and signature (not the expiration; see
/// [`check_expiration`]).
pub fn decode(packet: &[u8]) -> Result<Packet, PacketError> {
    if packet.len() <= HEADER_LEN || packet.len() > MAX_PACKET_SIZE {
        return Err(PacketError::Size(packet.len()));
    }
    let hash = keccak256(&packet[32..]);
    if hash.as_slice() != &packet[..32] {
        return Err(PacketError::HashMismatch);
    }
    let sig = &packet[32..HEADER_LEN];
    let signed = &packet[HEADER_LEN..];
    let recid = RecoveryId::try_from(i32::from(sig[64])).map_err(|_| PacketError::BadSignature)?;
    let rsig = RecoverableSignature::from_compact(&sig[..64], recid)
        .map_err(|_| PacketError::BadSignature)?;
    let pubkey = rsig
        .recover_ecdsa(SecpMessage::from_digest(keccak256(signed).0))
        .map_err(|_| PacketError::BadSignature)?;
    let message = Message::decode_data(signed[0], &signed[1..])?;
    Ok(Packet {
        message,
        node_id: pubkey_to_id(&pubkey),
        hash,
    })
}

/// Rejects messages whose expiration is in the past.
pub fn check_expiration(message: &Message, now: u64) -> Result<(), PacketError> {
    match message.expiration() {
        Some(expiration) if expiration < now => Err(PacketError::Expired { expiration, now }),
        _ => Ok(()),
    }
}

/// Current unix time in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An Ethereum Node Record (`enr.md`), "v4" identity scheme, signature checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enr {
    /// Raw RLP `[signature, seq, k, v, ...]`.
    pub raw: Bytes,
    /// Sequence number.
    pub seq: u64,
    /// The node id (from the `secp256k1` key).
    pub id: NodeId,
    /// IPv4 or IPv6 address, if present.
    pub ip: Option<IpAddr>,
    /// TCP port, if present.
    pub tcp: Option<u16>,
    /// UDP port, if present.
    pub udp: Option<u16>,
    /// Raw `eth` entry (fork id), if present.
    pub eth: Option<Bytes>,
}

impl Enr {
    /// Decodes and verifies a record (`enr` crate: size cap, sorted unique keys, "v4"
    /// identity scheme, signature).
    pub fn decode(raw: &[u8]) -> Result<Self, PacketError> {
        if raw.len() > MAX_ENR_SIZE {
            return Err(PacketError::Invalid("ENR larger than 300 bytes"));
        }
        let mut b = raw;
        let record = <enr::Enr<SecretKey> as alloy_rlp::Decodable>::decode(&mut b)
            .map_err(PacketError::Rlp)?;
        if !b.is_empty() {
            return Err(PacketError::Invalid("trailing bytes after ENR"));
        }
        Ok(Self::from_record(&record, Bytes::copy_from_slice(raw)))
    }

    /// Builds and signs a record with `ip`, `tcp` and `udp`.
    pub fn build(secret: &SecretKey, seq: u64, ip: IpAddr, tcp: u16, udp: u16) -> Self {
        let record = enr::Enr::builder()
            .seq(seq)
            .ip(ip)
            .tcp4(tcp)
            .udp4(udp)
            .build(secret)
            // Signing a record of four entries, far below 300 bytes, cannot fail.
            .expect("an ENR with ip, tcp and udp fits and signs");
        let raw = Bytes::from(alloy_rlp::encode(&record));
        Self::from_record(&record, raw)
    }

    fn from_record(record: &enr::Enr<SecretKey>, raw: Bytes) -> Self {
        Self {
            raw,
            seq: record.seq(),
            id: pubkey_to_id(&record.public_key()),
            ip: record
                .ip4()
                .map(IpAddr::V4)
                .or(record.ip6().map(IpAddr::V6)),
            tcp: record.tcp4(),
            udp: record.udp4(),
            eth: record.get_raw_rlp("eth").map(Bytes::copy_from_slice),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::hex;

    fn vector(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).unwrap()
    }

    /// EIP-8 discovery test packets, signed with key
    /// b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291.
    const PING1: &str =
        "e9614ccfd9fc3e74360018522d30e1419a143407ffcce748de3e22116b7e8dc92ff74788c0b6663a
        aa3d67d641936511c8f8d6ad8698b820a7cf9e1be7155e9a241f556658c55428ec0563514365799a
        4be2be5a685a80971ddcfa80cb422cdd0101ec04cb847f000001820cfa8215a8d790000000000000
        000000000000000000018208ae820d058443b9a3550102";
    const PING2: &str =
        "577be4349c4dd26768081f58de4c6f375a7a22f3f7adda654d1428637412c3d7fe917cadc56d4e5e
        7ffae1dbe3efffb9849feb71b262de37977e7c7a44e677295680e9e38ab26bee2fcbae207fba3ff3
        d74069a50b902a82c9903ed37cc993c50001f83e82022bd79020010db83c4d001500000000abcdef
        12820cfa8215a8d79020010db885a308d313198a2e037073488208ae82823a8443b9a355c5010203
        040531b9019afde696e582a78fa8d95ea13ce3297d4afb8ba6433e4154caa5ac6431af1b80ba7602
        3fa4090c408f6b4bc3701562c031041d4702971d102c9ab7fa5eed4cd6bab8f7af956f7d565ee191
        7084a95398b6a21eac920fe3dd1345ec0a7ef39367ee69ddf092cbfe5b93e5e568ebc491983c09c7
        6d922dc3";
    const PONG: &str =
        "09b2428d83348d27cdf7064ad9024f526cebc19e4958f0fdad87c15eb598dd61d08423e0bf66b206
        9869e1724125f820d851c136684082774f870e614d95a2855d000f05d1648b2d5945470bc187c2d2
        216fbe870f43ed0909009882e176a46b0102f846d79020010db885a308d313198a2e037073488208
        ae82823aa0fbc914b16819237dcd8801d7e53f69e9719adecb3cc0e790c57e91ca4461c9548443b9
        a355c6010203c2040506a0c969a58f6f9095004c0177a6b47f451530cab38966a25cca5cb58f0555
        42124e";
    const FIND_NODE: &str =
        "c7c44041b9f7c7e41934417ebac9a8e1a4c6298f74553f2fcfdcae6ed6fe53163eb3d2b52e39fe91
        831b8a927bf4fc222c3902202027e5e9eb812195f95d20061ef5cd31d502e47ecb61183f74a504fe
        04c51e73df81f25c4d506b26db4517490103f84eb840ca634cae0d49acb401d8a4c6b6fe8c55b70d
        115bf400769cc1400f3258cd31387574077f301b421bc84df7266c44e9e6d569fc56be0081290476
        7bf5ccd1fc7f8443b9a35582999983999999280dc62cc8255c73471e0a61da0c89acdc0e035e260a
        dd7fc0c04ad9ebf3919644c91cb247affc82b69bd2ca235c71eab8e49737c937a2c396";
    const NEIGHBOURS: &str =
        "c679fc8fe0b8b12f06577f2e802d34f6fa257e6137a995f6f4cbfc9ee50ed3710faf6e66f932c4c8
        d81d64343f429651328758b47d3dbc02c4042f0fff6946a50f4a49037a72bb550f3a7872363a83e1
        b9ee6469856c24eb4ef80b7535bcf99c0004f9015bf90150f84d846321163782115c82115db84031
        55e1427f85f10a5c9a7755877748041af1bcd8d474ec065eb33df57a97babf54bfd2103575fa8291
        15d224c523596b401065a97f74010610fce76382c0bf32f84984010203040101b840312c55512422
        cf9b8a4097e9a6ad79402e87a15ae909a4bfefa22398f03d20951933beea1e4dfa6f968212385e82
        9f04c2d314fc2d4e255e0d3bc08792b069dbf8599020010db83c4d001500000000abcdef12820d05
        820d05b84038643200b172dcfef857492156971f0e6aa2c538d8b74010f8e140811d53b98c765dd2
        d96126051913f44582e8c199ad7c6d6819e9a56483f637feaac9448aacf8599020010db885a308d3
        13198a2e037073488203e78203e8b8408dcab8618c3253b558d459da53bd8fa68935a719aff8b811
        197101a4b2b47dd2d47295286fc00cc081bb542d760717d1bdd6bec2c37cd72eca367d6dd3b9df73
        8443b9a355010203b525a138aa34383fec3d2719a0";

    fn signer() -> NodeId {
        let key = hypasis_rlpx::identity::parse_secret_key(
            "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291",
        )
        .unwrap();
        hypasis_rlpx::identity::node_id(&key)
    }

    #[test]
    fn eip8_vectors() {
        let id = signer();
        let p = decode(&vector(PING1)).unwrap();
        assert_eq!(p.node_id, id);
        let Message::Ping {
            version,
            from,
            to,
            expiration,
            ..
        } = p.message
        else {
            panic!("not a ping: {:?}", p.message)
        };
        assert_eq!(version, 4);
        assert_eq!(expiration, 1136239445);
        assert_eq!(from.ip, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!((from.udp_port, from.tcp_port), (3322, 5544));
        assert_eq!(to.ip, "::1".parse::<IpAddr>().unwrap());
        assert_eq!((to.udp_port, to.tcp_port), (2222, 3333));
        assert!(matches!(
            check_expiration(&p.message, unix_now()),
            Err(PacketError::Expired { .. })
        ));

        let p = decode(&vector(PING2)).unwrap();
        assert_eq!(p.node_id, id);
        assert!(matches!(p.message, Message::Ping { version: 555, .. }));

        let p = decode(&vector(PONG)).unwrap();
        assert_eq!(p.node_id, id);
        let Message::Pong { ping_hash, to, .. } = p.message else {
            panic!("not a pong")
        };
        assert_eq!(
            ping_hash,
            B256::from(hex!(
                "fbc914b16819237dcd8801d7e53f69e9719adecb3cc0e790c57e91ca4461c954"
            ))
        );
        assert_eq!(to.udp_port, 2222);

        let p = decode(&vector(FIND_NODE)).unwrap();
        assert_eq!(p.node_id, id);
        let Message::FindNode { target, .. } = p.message else {
            panic!("not findnode")
        };
        assert_eq!(target, id);

        let p = decode(&vector(NEIGHBOURS)).unwrap();
        assert_eq!(p.node_id, id);
        let Message::Neighbours { nodes, .. } = p.message else {
            panic!("not neighbours")
        };
        assert_eq!(nodes.len(), 4);
        assert_eq!(
            nodes[0].endpoint.ip,
            "99.33.22.55".parse::<IpAddr>().unwrap()
        );
        assert_eq!(nodes[0].endpoint.udp_port, 4444);
        assert_eq!(nodes[0].endpoint.tcp_port, 4445);
        assert_eq!(nodes[3].endpoint.udp_port, 999);
        assert_eq!(nodes[3].endpoint.tcp_port, 1000);
    }

    #[test]
    fn roundtrip_and_tampering() {
        let key = hypasis_rlpx::identity::generate_secret_key();
        let ep = Endpoint {
            ip: "10.0.0.1".parse().unwrap(),
            udp_port: 30303,
            tcp_port: 30304,
        };
        let msgs = vec![
            Message::Ping {
                version: 4,
                from: ep,
                to: ep,
                expiration: unix_now() + 20,
                enr_seq: Some(3),
            },
            Message::Pong {
                to: ep,
                ping_hash: B256::repeat_byte(5),
                expiration: unix_now() + 20,
                enr_seq: None,
            },
            Message::FindNode {
                target: NodeId::repeat_byte(7),
                expiration: 9,
            },
            Message::Neighbours {
                nodes: vec![NodeRecord {
                    endpoint: ep,
                    id: NodeId::repeat_byte(8),
                }],
                expiration: 9,
            },
            Message::EnrRequest { expiration: 10 },
            Message::EnrResponse {
                request_hash: B256::repeat_byte(1),
                enr: Enr::build(&key, 2, ep.ip, 30304, 30303),
            },
        ];
        for m in msgs {
            let (packet, hash) = encode(&key, &m);
            let p = decode(&packet).unwrap();
            assert_eq!(p.message, m);
            assert_eq!(p.hash, hash);
            assert_eq!(p.node_id, hypasis_rlpx::identity::node_id(&key));
            let mut bad = packet.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert_eq!(decode(&bad), Err(PacketError::HashMismatch));
            // Re-hash after tampering with the signed data: signature recovers another key
            // or the data no longer decodes.
            let mut resigned = packet.clone();
            resigned[HEADER_LEN + 1] ^= 0x01;
            let h = keccak256(&resigned[32..]);
            resigned[..32].copy_from_slice(h.as_slice());
            if let Ok(p) = decode(&resigned) {
                assert_ne!(p.node_id, hypasis_rlpx::identity::node_id(&key));
            }
        }
        assert!(matches!(decode(&[0u8; 10]), Err(PacketError::Size(10))));
        assert!(matches!(decode(&[0u8; 2000]), Err(PacketError::Size(2000))));
    }

    #[test]
    fn enr_checks() {
        let key = hypasis_rlpx::identity::generate_secret_key();
        let enr = Enr::build(&key, 1, "127.0.0.1".parse().unwrap(), 30303, 30301);
        let d = Enr::decode(&enr.raw).unwrap();
        assert_eq!(d.id, hypasis_rlpx::identity::node_id(&key));
        assert_eq!((d.tcp, d.udp), (Some(30303), Some(30301)));
        let mut bad = enr.raw.to_vec();
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert!(Enr::decode(&bad).is_err());
    }
}
