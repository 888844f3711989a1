//! The devp2p base protocol (`rlpx.md`, "p2p Capability"): `Hello`, `Disconnect`, `Ping`,
//! `Pong`, capability negotiation, message-id routing and snappy compression.

use alloy_rlp::{Decodable, Encodable};
use bytes::Bytes;

use hypasis_primitives::rlp::{Items, list_payload, share, wrap_list};

use crate::identity::NodeId;

/// The base protocol version we advertise (v5 = snappy compression).
pub const P2P_VERSION: u64 = 5;
/// Number of message ids reserved for the base protocol (`0x00..=0x0f`).
pub const BASE_PROTOCOL_LENGTH: u64 = 0x10;
/// Hard cap on the decompressed size of a message (16 MiB).
pub const MAX_DECOMPRESSED_SIZE: usize = 16 * 1024 * 1024;

/// `Hello` message id.
pub const HELLO_ID: u64 = 0x00;
/// `Disconnect` message id.
pub const DISCONNECT_ID: u64 = 0x01;
/// `Ping` message id.
pub const PING_ID: u64 = 0x02;
/// `Pong` message id.
pub const PONG_ID: u64 = 0x03;

/// Errors decoding a message received from a peer. All of them are peer faults.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Malformed RLP in a message.
    #[error("malformed {message} message: {error}")]
    Rlp {
        /// Message name.
        message: &'static str,
        /// Underlying RLP error.
        error: alloy_rlp::Error,
    },
    /// A message has invalid content (e.g. wrong field length or too many items).
    #[error("invalid {message} message: {reason}")]
    Invalid {
        /// Message name.
        message: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The snappy payload is corrupt.
    #[error("snappy decompression failed: {0}")]
    Snappy(String),
    /// The snappy payload announces a decompressed size above the limit.
    #[error("decompressed message size {size} exceeds limit {max}")]
    DecompressedTooLarge {
        /// Announced decompressed size.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// The frame does not start with a valid message id.
    #[error("frame has an invalid message id")]
    BadMessageId,
    /// The peer's eth/69+ `Status` is laid out in the other dialect (e.g. Bor's, with total
    /// difficulty, on a chain that speaks EIP-7642, or the reverse).
    #[error(
        "Status dialect mismatch: the peer sent a {found} eth/69 Status, this chain speaks the {expected} dialect"
    )]
    StatusDialect {
        /// The dialect of our chain.
        expected: Dialect,
        /// The layout the peer's message fits.
        found: Dialect,
    },
}

impl MessageError {
    /// Maps an RLP error of `message` to [`MessageError::Rlp`].
    pub fn rlp(message: &'static str) -> impl FnOnce(alloy_rlp::Error) -> Self {
        move |error| Self::Rlp { message, error }
    }
}

/// The flavour of the eth protocol spoken on a chain.
///
/// Bor (`0xPolygon/bor`, `eth/protocols/eth/protocol.go`, `StatusPacket69`) kept the total
/// difficulty in its eth/69 `Status`: `[version, networkId, TD, genesis, forkId,
/// earliestBlock, latestBlock, latestBlockHash]`, one field more than EIP-7642. Every other
/// message is the same in both dialects. Which dialect a chain uses is decided by
/// `hypasis_network::chain::dialect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dialect {
    /// The devp2p specification (EIP-7642 `Status` on eth/69 and later).
    #[default]
    Standard,
    /// Bor's eth/69: `Status` keeps the total difficulty.
    Bor,
}

impl Dialect {
    /// Both dialects.
    pub const ALL: [Dialect; 2] = [Dialect::Standard, Dialect::Bor];

    /// A short name (`standard`, `bor`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Bor => "bor",
        }
    }
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A capability: protocol name and version, e.g. `eth/68`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Capability {
    /// Protocol name (ASCII, usually 3 characters).
    pub name: String,
    /// Protocol version.
    pub version: u32,
}

impl Capability {
    /// Creates a capability.
    pub fn new(name: impl Into<String>, version: u32) -> Self {
        Self {
            name: name.into(),
            version,
        }
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        let mut payload = Vec::with_capacity(8);
        self.name.as_bytes().encode(&mut payload);
        self.version.encode(&mut payload);
        out.extend_from_slice(&wrap_list(&payload));
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.name, self.version)
    }
}

/// A locally supported capability and the number of message ids it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolSpec {
    /// The capability.
    pub capability: Capability,
    /// Number of message ids the protocol uses (e.g. 17 for eth/68, 18 for eth/69).
    pub message_count: u64,
}

/// Most characters of a peer's client id kept (geth's are under 100).
pub const MAX_CLIENT_ID_CHARS: usize = 256;

/// A peer's client id as we keep and log it: at most [`MAX_CLIENT_ID_CHARS`] characters,
/// control characters escaped (a remote string must not forge log lines).
fn client_id_text(raw: &[u8]) -> String {
    // At most four bytes per character: nothing past that is even decoded.
    let raw = &raw[..raw.len().min(MAX_CLIENT_ID_CHARS * 4)];
    String::from_utf8_lossy(raw)
        .chars()
        .take(MAX_CLIENT_ID_CHARS)
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// The `Hello` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Base protocol version (we send [`P2P_VERSION`]).
    pub protocol_version: u64,
    /// Client identification string.
    pub client_id: String,
    /// Offered capabilities.
    pub capabilities: Vec<Capability>,
    /// Listening TCP port (0 if not listening); informational only.
    pub listen_port: u16,
    /// The sender's node id.
    pub node_id: NodeId,
}

impl Hello {
    /// Encodes the message payload (without message id).
    pub fn encode(&self) -> Vec<u8> {
        let mut payload = Vec::with_capacity(128);
        self.protocol_version.encode(&mut payload);
        self.client_id.as_bytes().encode(&mut payload);
        let mut caps = Vec::new();
        for cap in &self.capabilities {
            cap.encode_into(&mut caps);
        }
        payload.extend_from_slice(&wrap_list(&caps));
        self.listen_port.encode(&mut payload);
        self.node_id.encode(&mut payload);
        wrap_list(&payload)
    }

    /// Decodes the message payload. Additional list elements are ignored (EIP-8) and
    /// malformed capability entries are skipped; a bad node id is an error.
    pub fn decode(payload: &[u8]) -> Result<Self, MessageError> {
        let err = MessageError::rlp("Hello");
        let mut buf = payload;
        let mut items = Items::new(list_payload(&mut buf).map_err(err)?);
        let protocol_version: u64 = items.require().map_err(MessageError::rlp("Hello"))?;
        let client: alloy_primitives::Bytes =
            items.require().map_err(MessageError::rlp("Hello"))?;
        let caps_raw = items.require_raw().map_err(MessageError::rlp("Hello"))?;
        let mut caps_buf = caps_raw;
        let mut caps_items =
            Items::new(list_payload(&mut caps_buf).map_err(MessageError::rlp("Hello"))?);
        let mut capabilities = Vec::new();
        while let Some(raw) = caps_items.next_raw().map_err(MessageError::rlp("Hello"))? {
            if capabilities.len() >= 256 {
                return Err(MessageError::Invalid {
                    message: "Hello",
                    reason: "too many caps",
                });
            }
            let mut cbuf = raw;
            let Ok(inner) = list_payload(&mut cbuf) else {
                continue;
            };
            let mut fields = Items::new(inner);
            let name: Result<alloy_primitives::Bytes, _> = fields.require();
            let version: Result<u32, _> = fields.require();
            if let (Ok(name), Ok(version)) = (name, version) {
                capabilities.push(Capability {
                    name: String::from_utf8_lossy(&name).into_owned(),
                    version,
                });
            }
        }
        // Some clients encode the port as a larger integer; clamp rather than fail.
        let listen_port: u64 = items.require().map_err(MessageError::rlp("Hello"))?;
        let id: alloy_primitives::Bytes = items.require().map_err(MessageError::rlp("Hello"))?;
        if id.len() != 64 {
            return Err(MessageError::Invalid {
                message: "Hello",
                reason: "node id not 64 bytes",
            });
        }
        Ok(Self {
            protocol_version,
            client_id: client_id_text(&client),
            capabilities,
            listen_port: u16::try_from(listen_port).unwrap_or(0),
            node_id: NodeId::from_slice(&id),
        })
    }
}

/// A capability shared by both peers, with its message-id offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedCapability {
    /// The negotiated capability (highest common version).
    pub capability: Capability,
    /// First message id of this capability.
    pub offset: u64,
    /// Number of message ids.
    pub message_count: u64,
}

/// The result of capability negotiation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedCapabilities {
    caps: Vec<SharedCapability>,
}

impl SharedCapabilities {
    /// Negotiates capabilities: for each protocol name supported by both sides the highest
    /// common version is selected; the shared protocols are ordered alphabetically by name
    /// and assigned consecutive message-id ranges starting at `0x10`.
    pub fn negotiate(local: &[ProtocolSpec], remote: &[Capability]) -> Self {
        let mut best: std::collections::BTreeMap<&str, &ProtocolSpec> = Default::default();
        for spec in local {
            let cap = &spec.capability;
            if !remote.iter().any(|r| r == cap) {
                continue;
            }
            let entry = best.entry(cap.name.as_str()).or_insert(spec);
            if cap.version > entry.capability.version {
                *entry = spec;
            }
        }
        let mut offset = BASE_PROTOCOL_LENGTH;
        let caps = best
            .into_values()
            .map(|spec| {
                let shared = SharedCapability {
                    capability: spec.capability.clone(),
                    offset,
                    message_count: spec.message_count,
                };
                offset = offset.saturating_add(spec.message_count);
                shared
            })
            .collect();
        Self { caps }
    }

    /// Whether no capability is shared.
    pub fn is_empty(&self) -> bool {
        self.caps.is_empty()
    }

    /// All shared capabilities in message-id order.
    pub fn iter(&self) -> impl Iterator<Item = &SharedCapability> {
        self.caps.iter()
    }

    /// The shared capability with the given name.
    pub fn find(&self, name: &str) -> Option<&SharedCapability> {
        self.caps.iter().find(|c| c.capability.name == name)
    }

    /// Maps a wire message id (>= 0x10) to its capability and capability-relative id.
    pub fn route(&self, id: u64) -> Option<(&SharedCapability, u64)> {
        self.caps
            .iter()
            .find(|c| id >= c.offset && id - c.offset < c.message_count)
            .map(|c| (c, id - c.offset))
    }
}

/// Disconnect reasons (`rlpx.md`, "Disconnect (0x01)").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// 0x00: disconnect requested.
    Requested,
    /// 0x01: TCP sub-system error.
    TcpSubsystemError,
    /// 0x02: breach of protocol, e.g. a malformed message or bad RLP.
    ProtocolBreach,
    /// 0x03: useless peer.
    UselessPeer,
    /// 0x04: too many peers.
    TooManyPeers,
    /// 0x05: already connected.
    AlreadyConnected,
    /// 0x06: incompatible p2p protocol version.
    IncompatibleP2pVersion,
    /// 0x07: null node identity received.
    NullNodeIdentity,
    /// 0x08: client quitting.
    ClientQuitting,
    /// 0x09: unexpected identity in handshake.
    UnexpectedIdentity,
    /// 0x0a: identity is the same as this node (connected to self).
    ConnectedToSelf,
    /// 0x0b: ping timeout.
    PingTimeout,
    /// 0x10: some other reason specific to a subprotocol.
    SubprotocolSpecific,
    /// Any other code (kept for diagnostics).
    Unknown(u8),
}

impl DisconnectReason {
    /// The wire code.
    pub fn code(self) -> u8 {
        match self {
            Self::Requested => 0x00,
            Self::TcpSubsystemError => 0x01,
            Self::ProtocolBreach => 0x02,
            Self::UselessPeer => 0x03,
            Self::TooManyPeers => 0x04,
            Self::AlreadyConnected => 0x05,
            Self::IncompatibleP2pVersion => 0x06,
            Self::NullNodeIdentity => 0x07,
            Self::ClientQuitting => 0x08,
            Self::UnexpectedIdentity => 0x09,
            Self::ConnectedToSelf => 0x0a,
            Self::PingTimeout => 0x0b,
            Self::SubprotocolSpecific => 0x10,
            Self::Unknown(c) => c,
        }
    }

    /// Maps a wire code to a reason.
    pub fn from_code(code: u8) -> Self {
        match code {
            0x00 => Self::Requested,
            0x01 => Self::TcpSubsystemError,
            0x02 => Self::ProtocolBreach,
            0x03 => Self::UselessPeer,
            0x04 => Self::TooManyPeers,
            0x05 => Self::AlreadyConnected,
            0x06 => Self::IncompatibleP2pVersion,
            0x07 => Self::NullNodeIdentity,
            0x08 => Self::ClientQuitting,
            0x09 => Self::UnexpectedIdentity,
            0x0a => Self::ConnectedToSelf,
            0x0b => Self::PingTimeout,
            0x10 => Self::SubprotocolSpecific,
            c => Self::Unknown(c),
        }
    }

    /// Encodes the `Disconnect` payload as `[reason]`.
    pub fn encode(self) -> Vec<u8> {
        let mut payload = Vec::with_capacity(2);
        self.code().encode(&mut payload);
        wrap_list(&payload)
    }

    /// Decodes a `Disconnect` payload. Accepts `[reason]`, a bare `reason`, an empty list or
    /// an empty payload (treated as [`DisconnectReason::Requested`]).
    pub fn decode(payload: &[u8]) -> Result<Self, MessageError> {
        let err = MessageError::rlp("Disconnect");
        if payload.is_empty() {
            return Ok(Self::Requested);
        }
        let mut buf = payload;
        let code = if payload[0] >= 0xc0 {
            let mut items = Items::new(list_payload(&mut buf).map_err(err)?);
            match items.next_raw().map_err(MessageError::rlp("Disconnect"))? {
                None => 0,
                Some(raw) => {
                    let mut r = raw;
                    u8::decode(&mut r).map_err(MessageError::rlp("Disconnect"))?
                }
            }
        } else {
            u8::decode(&mut buf).map_err(err)?
        };
        Ok(Self::from_code(code))
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Self::Requested => "disconnect requested",
            Self::TcpSubsystemError => "TCP sub-system error",
            Self::ProtocolBreach => "breach of protocol",
            Self::UselessPeer => "useless peer",
            Self::TooManyPeers => "too many peers",
            Self::AlreadyConnected => "already connected",
            Self::IncompatibleP2pVersion => "incompatible p2p protocol version",
            Self::NullNodeIdentity => "null node identity received",
            Self::ClientQuitting => "client quitting",
            Self::UnexpectedIdentity => "unexpected identity in handshake",
            Self::ConnectedToSelf => "identity is the same as this node",
            Self::PingTimeout => "ping timeout",
            Self::SubprotocolSpecific => "subprotocol-specific reason",
            Self::Unknown(c) => return write!(f, "unknown disconnect reason 0x{c:02x}"),
        };
        f.write_str(s)
    }
}

/// Payload of `Ping` and `Pong`: the empty list.
pub const EMPTY_LIST_PAYLOAD: [u8; 1] = [0xc0];

/// Snappy-compresses a message payload.
pub fn compress(data: &[u8]) -> Vec<u8> {
    // Compression only fails for inputs > ~4 GiB, which the frame cap rules out; fall back to
    // an empty vector is never reached in practice but avoids a panic path.
    snap::raw::Encoder::new()
        .compress_vec(data)
        .unwrap_or_default()
}

/// Snappy-decompresses a payload, checking the announced size against `max` *before*
/// allocating or decompressing.
pub fn decompress(data: &[u8], max: usize) -> Result<Vec<u8>, MessageError> {
    let size = snap::raw::decompress_len(data).map_err(|e| MessageError::Snappy(e.to_string()))?;
    if size > max {
        return Err(MessageError::DecompressedTooLarge { size, max });
    }
    snap::raw::Decoder::new()
        .decompress_vec(data)
        .map_err(|e| MessageError::Snappy(e.to_string()))
}

/// Builds frame data: `rlp(id) || payload`, compressing the payload if requested.
pub fn encode_frame_data(id: u64, payload: &[u8], compressed: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 9);
    id.encode(&mut out);
    if compressed {
        out.extend_from_slice(&compress(payload));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// Splits frame data into the message id and the (still possibly compressed) payload.
pub fn split_frame_data(frame: &Bytes) -> Result<(u64, Bytes), MessageError> {
    let mut buf = &frame[..];
    let id = u64::decode(&mut buf).map_err(|_| MessageError::BadMessageId)?;
    Ok((id, share(frame, buf)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eip8_hello_vector() {
        // EIP-8 "devp2p Base Protocol" test vector: hello with version 22 and extra elements.
        let raw = hex::decode(concat!(
            "f87137916b6e6574682f76302e39312f706c616e39cdc5836574683dc6846d6f726b1682270fb840",
            "fda1cff674c90c9a197539fe3dfb53086ace64f83ed7c6eabec741f7f381cc803e52ab2cd55d5569",
            "bce4347107a310dfd5f88a010cd2ffd1005ca406f1842877c883666f6f836261720304"
        ))
        .unwrap();
        let hello = Hello::decode(&raw).unwrap();
        assert_eq!(hello.protocol_version, 55);
        assert_eq!(hello.client_id, "kneth/v0.91/plan9");
        assert_eq!(
            hello.capabilities,
            vec![Capability::new("eth", 61), Capability::new("mork", 22)]
        );
        assert_eq!(hello.listen_port, 9999);
        let reencoded = Hello::decode(&hello.encode()).unwrap();
        assert_eq!(reencoded, hello);
    }

    #[test]
    fn a_long_or_control_laden_client_id_is_capped_and_escaped() {
        let mut hello = Hello::decode(
            &hex::decode(concat!(
                "f87137916b6e6574682f76302e39312f706c616e39cdc5836574683dc6846d6f726b1682270fb840",
                "fda1cff674c90c9a197539fe3dfb53086ace64f83ed7c6eabec741f7f381cc803e52ab2cd55d5569",
                "bce4347107a310dfd5f88a010cd2ffd1005ca406f1842877c883666f6f836261720304"
            ))
            .unwrap(),
        )
        .unwrap();
        hello.client_id = "x".repeat(100_000);
        let got = Hello::decode(&hello.encode()).unwrap();
        assert_eq!(got.client_id.chars().count(), MAX_CLIENT_ID_CHARS);
        hello.client_id = "geth\nERROR forged line\u{1b}[31m".into();
        let got = Hello::decode(&hello.encode()).unwrap();
        assert!(
            !got.client_id.chars().any(char::is_control),
            "{:?}",
            got.client_id
        );
        assert!(
            got.client_id.starts_with("geth\\nERROR"),
            "{}",
            got.client_id
        );
    }

    #[test]
    fn negotiation() {
        let local = vec![
            ProtocolSpec {
                capability: Capability::new("eth", 68),
                message_count: 17,
            },
            ProtocolSpec {
                capability: Capability::new("eth", 69),
                message_count: 18,
            },
            ProtocolSpec {
                capability: Capability::new("snap", 1),
                message_count: 8,
            },
            ProtocolSpec {
                capability: Capability::new("abc", 1),
                message_count: 3,
            },
        ];
        let remote = vec![
            Capability::new("eth", 67),
            Capability::new("eth", 68),
            Capability::new("snap", 1),
            Capability::new("abc", 1),
            Capability::new("zzz", 9),
        ];
        let shared = SharedCapabilities::negotiate(&local, &remote);
        let v: Vec<_> = shared
            .iter()
            .map(|c| (c.capability.to_string(), c.offset))
            .collect();
        assert_eq!(
            v,
            vec![
                ("abc/1".into(), 0x10),
                ("eth/68".into(), 0x13),
                ("snap/1".into(), 0x24)
            ]
        );
        assert_eq!(shared.route(0x13).unwrap().1, 0);
        assert_eq!(shared.route(0x23).unwrap().0.capability.name, "eth");
        assert_eq!(shared.route(0x24).unwrap().0.capability.name, "snap");
        assert!(shared.route(0x2c).is_none());
        assert!(SharedCapabilities::negotiate(&local, &[Capability::new("les", 4)]).is_empty());
    }

    #[test]
    fn disconnect_forms() {
        assert_eq!(
            DisconnectReason::decode(&[0xc1, 0x04]).unwrap(),
            DisconnectReason::TooManyPeers
        );
        assert_eq!(
            DisconnectReason::decode(&[0x04]).unwrap(),
            DisconnectReason::TooManyPeers
        );
        assert_eq!(
            DisconnectReason::decode(&[0x80]).unwrap(),
            DisconnectReason::Requested
        );
        assert_eq!(
            DisconnectReason::decode(&[0xc1, 0x80]).unwrap(),
            DisconnectReason::Requested
        );
        assert_eq!(
            DisconnectReason::decode(&[0xc0]).unwrap(),
            DisconnectReason::Requested
        );
        assert_eq!(
            DisconnectReason::decode(&[]).unwrap(),
            DisconnectReason::Requested
        );
        assert_eq!(
            DisconnectReason::decode(&[0x10]).unwrap(),
            DisconnectReason::SubprotocolSpecific
        );
        assert_eq!(
            DisconnectReason::decode(&[0x2a]).unwrap(),
            DisconnectReason::Unknown(0x2a)
        );
        assert!(DisconnectReason::decode(&[0xc3, 0x01]).is_err());
        for code in 0..=0x10u8 {
            let r = DisconnectReason::from_code(code);
            assert_eq!(DisconnectReason::decode(&r.encode()).unwrap(), r);
        }
    }

    #[test]
    fn snappy_limits() {
        let data = vec![7u8; 10_000];
        let c = compress(&data);
        assert_eq!(decompress(&c, 10_000).unwrap(), data);
        assert_eq!(
            decompress(&c, 9_999),
            Err(MessageError::DecompressedTooLarge {
                size: 10_000,
                max: 9_999
            })
        );
        // A header claiming 20 MiB is rejected before any decompression.
        let mut evil = Vec::new();
        let mut n = 20u64 * 1024 * 1024;
        while n >= 0x80 {
            evil.push((n as u8) | 0x80);
            n >>= 7;
        }
        evil.push(n as u8);
        evil.extend_from_slice(&[0u8; 8]);
        assert!(matches!(
            decompress(&evil, MAX_DECOMPRESSED_SIZE),
            Err(MessageError::DecompressedTooLarge { .. })
        ));
        assert!(matches!(
            decompress(&[0xff, 0xff, 0xff], 100),
            Err(MessageError::Snappy(_))
        ));
        let frame = Bytes::from(encode_frame_data(0x11, b"abc", false));
        assert_eq!(
            split_frame_data(&frame).unwrap(),
            (0x11, Bytes::from_static(b"abc"))
        );
        let frame = Bytes::from(encode_frame_data(0, b"", false));
        assert_eq!(split_frame_data(&frame).unwrap().0, 0);
    }
}
