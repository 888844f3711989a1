//! Connection/session layer over tokio: RLPx handshake, `Hello` exchange, eth `Status`
//! exchange and a background driver that answers pings, serves requests from a
//! [`BlockSource`] and matches responses to requests by request id.

use std::{
    collections::HashMap,
    fmt,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use alloy_primitives::{B256, Bytes, U256};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{
        TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::{mpsc, oneshot, watch},
    task::JoinHandle,
};
use tracing::{debug, trace, warn};

use crate::{
    enode::{Enode, EnodeError},
    eth::{
        BlockHashNumber, BlockRangeUpdate, Dialect, EncodeError, EthMessage, EthVersion,
        ForkFilter, ForkId, GetBlockHeaders, NewBlock, Status, Status68, Status69, Wire,
    },
    frame::{FrameError, FrameReader, FrameWriter, MAX_FRAME_SIZE, frame_states},
    handshake::{HandshakeError, initiator_handshake, recipient_handshake},
    identity::{NodeId, SecretKey, node_id},
    p2p::{
        DISCONNECT_ID, DisconnectReason, EMPTY_LIST_PAYLOAD, HELLO_ID, Hello,
        MAX_DECOMPRESSED_SIZE, MessageError, P2P_VERSION, PING_ID, PONG_ID, SharedCapabilities,
        decompress, encode_frame_data, split_frame_data,
    },
    receipts::{PartialReceiptsError, Reassembly, ReceiptLimits, Step},
    source::{
        BlockSource, ServeLimits, serve_bodies, serve_headers, serve_receipts,
        serve_receipts_partial,
    },
};

/// Who is to blame for a session error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The peer misbehaved (bad crypto, malformed or unexpected messages, timeouts):
    /// disconnect and lower its score.
    Peer,
    /// The peer is well-behaved but not useful to us (other network, no shared
    /// capability, it disconnected us): disconnect, do not penalise heavily.
    Incompatible,
    /// Transport failure (connection reset, refused, EOF).
    Network,
    /// A local problem (bad configuration, bad local data, session already closed).
    Local,
}

/// Errors of the session layer.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Socket error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The RLPx handshake failed.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// Framing failed (bad MAC, oversized frame, I/O).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The peer sent a malformed message.
    #[error(transparent)]
    Message(#[from] MessageError),
    /// The handshake (crypto + Hello + Status) did not complete in time.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// A message arrived that is not allowed at this point.
    #[error("unexpected message id 0x{got:02x}, expected {expected}")]
    UnexpectedMessage {
        /// What we were waiting for.
        expected: &'static str,
        /// The message id received.
        got: u64,
    },
    /// The node id in `Hello` does not match the handshake identity.
    #[error("peer identity mismatch: handshake {handshake}, hello {hello}")]
    UnexpectedIdentity {
        /// Identity proven in the handshake.
        handshake: NodeId,
        /// Identity claimed in `Hello`.
        hello: NodeId,
    },
    /// We connected to ourselves.
    #[error("connected to self")]
    ConnectedToSelf,
    /// No capability in common.
    #[error("no shared capabilities")]
    NoSharedCapabilities,
    /// The peer's `Status` is incompatible (network, genesis, fork id, version).
    #[error("status mismatch: {0}")]
    StatusMismatch(#[from] StatusMismatch),
    /// The peer disconnected us.
    #[error("peer disconnected: {0}")]
    Disconnected(DisconnectReason),
    /// The peer did not answer pings / sent nothing for the idle timeout.
    #[error("peer idle timeout")]
    PingTimeout,
    /// The peer did not answer a request in time.
    #[error("request timed out")]
    RequestTimeout,
    /// The peer's response does not fit the request (wrong type, too many items).
    #[error("invalid response: {0}")]
    InvalidResponse(&'static str),
    /// The peer's eth/70 partial receipts break EIP-7975's rules (a block kept incomplete,
    /// more receipts than the block can have, ...).
    #[error("partial receipts: {0}")]
    PartialReceipts(#[from] PartialReceiptsError),
    /// A local message could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The enode URL is unusable.
    #[error(transparent)]
    Enode(#[from] EnodeError),
    /// We ended the session with `Disconnect(reason)`.
    #[error("disconnected locally: {0}")]
    LocalDisconnect(DisconnectReason),
    /// The session is closed (locally or after an error reported elsewhere).
    #[error("session closed: {0}")]
    Closed(String),
}

impl SessionError {
    /// Who is to blame.
    pub fn blame(&self) -> Blame {
        match self {
            Self::Io(_) => Blame::Network,
            Self::Handshake(e) if e.is_peer_fault() => Blame::Peer,
            Self::Handshake(_) => Blame::Network,
            Self::Frame(e) if e.is_peer_fault() => Blame::Peer,
            Self::Frame(FrameError::OutgoingTooLarge { .. }) => Blame::Local,
            Self::Frame(_) => Blame::Network,
            // The peer speaks the other dialect of the chain: not useful, not malicious.
            Self::Message(MessageError::StatusDialect { .. }) => Blame::Incompatible,
            Self::Message(_)
            | Self::PartialReceipts(_)
            | Self::HandshakeTimeout
            | Self::UnexpectedMessage { .. }
            | Self::UnexpectedIdentity { .. }
            | Self::PingTimeout
            | Self::RequestTimeout
            | Self::InvalidResponse(_) => Blame::Peer,
            Self::NoSharedCapabilities | Self::StatusMismatch(_) | Self::Disconnected(_) => {
                Blame::Incompatible
            }
            Self::ConnectedToSelf
            | Self::Encode(_)
            | Self::Enode(_)
            | Self::LocalDisconnect(_)
            | Self::Closed(_) => Blame::Local,
        }
    }

    /// Whether the peer misbehaved (disconnect and lower its score).
    pub fn is_peer_fault(&self) -> bool {
        self.blame() == Blame::Peer
    }

    /// The reason to send in a `Disconnect` for this error, if one should be sent.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        Some(match self {
            Self::Frame(e) if e.is_peer_fault() => DisconnectReason::ProtocolBreach,
            Self::Message(MessageError::StatusDialect { .. }) => DisconnectReason::UselessPeer,
            Self::Message(_) | Self::UnexpectedMessage { .. } | Self::InvalidResponse(_) => {
                DisconnectReason::ProtocolBreach
            }
            Self::UnexpectedIdentity { .. } => DisconnectReason::UnexpectedIdentity,
            Self::ConnectedToSelf => DisconnectReason::ConnectedToSelf,
            Self::NoSharedCapabilities => DisconnectReason::UselessPeer,
            Self::StatusMismatch(_) => DisconnectReason::SubprotocolSpecific,
            Self::PingTimeout => DisconnectReason::PingTimeout,
            Self::HandshakeTimeout | Self::RequestTimeout => DisconnectReason::Requested,
            Self::LocalDisconnect(reason) => *reason,
            Self::Closed(_) | Self::Encode(_) => DisconnectReason::ClientQuitting,
            _ => return None,
        })
    }
}

/// Local chain information used to build our `Status` for the negotiated eth version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalStatus {
    /// Network id.
    pub network_id: u64,
    /// Genesis hash.
    pub genesis: B256,
    /// Our current fork id.
    pub fork_id: ForkId,
    /// Total difficulty of our head (eth/68 only).
    pub total_difficulty: U256,
    /// Our head / latest block hash.
    pub head_hash: B256,
    /// Earliest block we serve (eth/69).
    pub earliest_block: u64,
    /// Latest block we have (eth/69).
    pub latest_block: u64,
}

impl LocalStatus {
    /// Builds the `Status` message for the negotiated version in the chain's dialect (an
    /// [`EthVersion`] alone means the standard dialect).
    pub fn to_status(&self, wire: impl Into<Wire>) -> Status {
        let Wire { version, dialect } = wire.into();
        match version {
            EthVersion::Eth68 => Status::Eth68(Status68 {
                version: 68,
                network_id: self.network_id,
                total_difficulty: self.total_difficulty,
                head_hash: self.head_hash,
                genesis: self.genesis,
                fork_id: self.fork_id,
            }),
            EthVersion::Eth69 | EthVersion::Eth70 => Status::Eth69(Status69 {
                version: version.number(),
                network_id: self.network_id,
                total_difficulty: (dialect == Dialect::Bor).then_some(self.total_difficulty),
                genesis: self.genesis,
                fork_id: self.fork_id,
                earliest_block: self.earliest_block,
                latest_block: self.latest_block,
                latest_hash: self.head_hash,
            }),
        }
    }
}

/// How a peer's `Status` does not fit ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusMismatch {
    /// The Status names another eth version than the one negotiated in Hello.
    #[error("status version {got} does not match negotiated eth/{negotiated}")]
    Version {
        /// The Status's version.
        got: u32,
        /// The negotiated one.
        negotiated: u32,
    },
    /// Another network.
    #[error("network id {got} (ours {ours})")]
    NetworkId {
        /// Theirs.
        got: u64,
        /// Ours.
        ours: u64,
    },
    /// Another genesis.
    #[error("genesis {got} (ours {ours})")]
    Genesis {
        /// Theirs.
        got: B256,
        /// Ours.
        ours: B256,
    },
    /// An eth/69 block range whose earliest block is above its latest.
    #[error("earliest block above latest block")]
    InvertedRange,
    /// The fork id is incompatible with ours (EIP-2124).
    #[error("fork id: {0}")]
    ForkId(#[from] hypasis_eth_wire::eth::ForkValidationError),
    /// A caller's [`StatusCheck`] refused it, for the reason given.
    #[error("refused: {0}")]
    Refused(&'static str),
}

/// Caller-supplied check of the remote `Status`, run after the built-in version, network id
/// and genesis checks (typically: fork id compatibility). Return the mismatch to reject.
pub type StatusCheck = Arc<dyn Fn(&Status) -> Result<(), StatusMismatch> + Send + Sync>;

/// A [`StatusCheck`] validating the remote fork id with an EIP-2124 [`ForkFilter`].
pub fn fork_filter_check(filter: ForkFilter) -> StatusCheck {
    Arc::new(move |status: &Status| Ok(filter.validate(status.fork_id())?))
}

/// Session configuration.
#[derive(Clone)]
pub struct SessionConfig {
    /// Client id sent in `Hello`.
    pub client_id: String,
    /// Listening port advertised in `Hello` (0 if none).
    pub listen_port: u16,
    /// eth versions offered; the highest shared one is used. Per chain, set by
    /// [`SessionConfig::for_chain`].
    pub eth_versions: Vec<EthVersion>,
    /// The chain's wire dialect (Bor's eth/69 `Status` keeps the total difficulty). Per
    /// chain, set by [`SessionConfig::for_chain`].
    pub dialect: Dialect,
    /// Our chain status.
    pub status: LocalStatus,
    /// Extra check of the remote status (fork id compatibility etc.).
    pub status_check: Option<StatusCheck>,
    /// Source used to answer the peer's requests; if `None`, empty responses are sent.
    pub block_source: Option<Arc<dyn BlockSource>>,
    /// Serving limits.
    pub serve_limits: ServeLimits,
    /// Time allowed for TCP connect, RLPx handshake, `Hello` and `Status`.
    pub handshake_timeout: Duration,
    /// Interval between our pings.
    pub ping_interval: Duration,
    /// Disconnect if nothing is received from the peer for this long.
    pub idle_timeout: Duration,
    /// Default timeout for a request.
    pub request_timeout: Duration,
    /// Maximum message size (frame and decompressed), capped at 16 MiB.
    pub max_message_size: usize,
    /// Capacity of the event channel; events are dropped when it is full.
    pub event_buffer: usize,
    /// Outbound bandwidth cap of this connection in bytes per second (token bucket with a
    /// 64 KiB burst); `None` = unlimited.
    pub outbound_rate: Option<u64>,
    /// Artificial delay before answering each request (emulates a slow or far-away peer in
    /// tests and benchmarks; a very long delay makes a stalling peer). Zero in production.
    pub response_delay: Duration,
    /// A live view of our chain status (head number / hash, total difficulty, fork id,
    /// earliest block) for a node whose head moves. When set, the `Status` sent at the
    /// handshake is read from it instead of [`Self::status`] (network id and genesis checks
    /// of the remote status still use [`Self::status`]), and established sessions announce
    /// head changes: `BlockRangeUpdate` on eth/69, `NewBlockHashes` on eth/68 if
    /// [`Self::announce_block_hashes`] is set. See [`SessionConfig::with_live_status`].
    pub live_status: Option<watch::Receiver<LocalStatus>>,
    /// Announce a head change once the head moved at least this many blocks since the last
    /// announcement (EIP-7642 and geth: at most once per 32 blocks), or at once when it
    /// moved back. Default 32.
    pub head_update_blocks: u64,
    /// Announce any other head change once this long has passed since the last
    /// announcement (so slow chains are still announced). Default 2 minutes.
    pub head_update_interval: Duration,
    /// On eth/68 sessions, announce head changes with a one-entry `NewBlockHashes`
    /// `[latest hash, latest number]` (Bor peers announce blocks this way; post-merge geth
    /// disconnects on block announcements, so this is off by default).
    pub announce_block_hashes: bool,
}

impl fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionConfig")
            .field("client_id", &self.client_id)
            .field("listen_port", &self.listen_port)
            .field("eth_versions", &self.eth_versions)
            .field("dialect", &self.dialect)
            .field("status", &self.status)
            .field("status_check", &self.status_check.is_some())
            .field("block_source", &self.block_source.is_some())
            .field("serve_limits", &self.serve_limits)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("ping_interval", &self.ping_interval)
            .field("idle_timeout", &self.idle_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_message_size", &self.max_message_size)
            .field("outbound_rate", &self.outbound_rate)
            .field("response_delay", &self.response_delay)
            .field(
                "live_status",
                &self.live_status.as_ref().map(|rx| rx.borrow().clone()),
            )
            .field("head_update_blocks", &self.head_update_blocks)
            .field("head_update_interval", &self.head_update_interval)
            .field("announce_block_hashes", &self.announce_block_hashes)
            .finish_non_exhaustive()
    }
}

impl SessionConfig {
    /// A configuration with default timeouts, the standard dialect and the versions we offer
    /// on Ethereum chains (eth/70, eth/69, eth/68). For a chain spec use
    /// [`SessionConfig::for_chain`] (Bor chains differ).
    pub fn new(status: LocalStatus) -> Self {
        Self {
            client_id: concat!("hypasis/v", env!("CARGO_PKG_VERSION")).to_string(),
            listen_port: 0,
            eth_versions: vec![EthVersion::Eth70, EthVersion::Eth69, EthVersion::Eth68],
            dialect: Dialect::Standard,
            status,
            status_check: None,
            block_source: None,
            serve_limits: ServeLimits::default(),
            handshake_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(45),
            request_timeout: Duration::from_secs(20),
            max_message_size: MAX_FRAME_SIZE,
            event_buffer: 256,
            outbound_rate: None,
            response_delay: Duration::ZERO,
            live_status: None,
            head_update_blocks: 32,
            head_update_interval: Duration::from_secs(120),
            announce_block_hashes: false,
        }
    }

    /// Sets [`Self::live_status`]: the status sent at handshakes and announced to
    /// established sessions follows `live` (create it with
    /// `tokio::sync::watch::channel(status)` and `send` a new [`LocalStatus`] whenever the
    /// head moves).
    pub fn with_live_status(mut self, live: watch::Receiver<LocalStatus>) -> Self {
        self.live_status = Some(live);
        self
    }

    /// Our current status: the latest value of [`Self::live_status`], else [`Self::status`].
    pub fn current_status(&self) -> LocalStatus {
        match &self.live_status {
            Some(rx) => rx.borrow().clone(),
            None => self.status.clone(),
        }
    }
}

/// Information about an established session.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// Authenticated remote node id.
    pub remote_id: NodeId,
    /// Remote socket address, if known.
    pub remote_addr: Option<SocketAddr>,
    /// The remote `Hello`.
    pub remote_hello: Hello,
    /// Negotiated capabilities.
    pub shared_capabilities: SharedCapabilities,
    /// Negotiated eth version.
    pub eth_version: EthVersion,
    /// The chain's wire dialect used on this session.
    pub dialect: Dialect,
    /// The remote `Status`.
    pub remote_status: Status,
    /// Whether snappy compression is active.
    pub snappy: bool,
}

/// Unsolicited notifications from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// `NewBlockHashes` announcement.
    NewBlockHashes(Vec<BlockHashNumber>),
    /// `NewBlock` announcement.
    NewBlock(NewBlock),
    /// eth/69 `BlockRangeUpdate`.
    BlockRangeUpdate(BlockRangeUpdate),
    /// A response carrying a request id this session never issued: unrequested data. (A late
    /// response to a request that already timed out is not reported; it is dropped silently.)
    UnrequestedResponse {
        /// The request id the peer used.
        request_id: u64,
    },
}

/// A decoded incoming message.
#[derive(Debug)]
enum Incoming {
    Hello,
    Disconnect(DisconnectReason),
    Ping,
    Pong,
    Eth(EthMessage),
    Ignored(u64),
}

/// Framed, possibly compressed connection state shared by the handshake and the driver.
struct Codec {
    snappy: bool,
    max_message: usize,
    eth_offset: u64,
    eth_version: EthVersion,
    dialect: Dialect,
    shared: SharedCapabilities,
}

impl Codec {
    fn wire(&self) -> Wire {
        Wire::new(self.eth_version, self.dialect)
    }

    fn encode_eth(&self, msg: &EthMessage) -> Result<Vec<u8>, SessionError> {
        let (id, payload) = msg.encode(self.wire())?;
        Ok(encode_frame_data(
            self.eth_offset + id,
            &payload,
            self.snappy,
        ))
    }

    fn encode_p2p(&self, id: u64, payload: &[u8]) -> Vec<u8> {
        encode_frame_data(id, payload, self.snappy && id != HELLO_ID)
    }

    fn decode(&self, frame: &bytes::Bytes) -> Result<Incoming, SessionError> {
        let (id, raw) = split_frame_data(frame)?;
        let payload = if self.snappy && id != HELLO_ID {
            match decompress(&raw, self.max_message) {
                Ok(p) => bytes::Bytes::from(p),
                // Some clients send Disconnect uncompressed; accept that.
                Err(_) if id == DISCONNECT_ID => raw,
                Err(e) => return Err(e.into()),
            }
        } else {
            raw
        };
        Ok(match id {
            HELLO_ID => Incoming::Hello,
            DISCONNECT_ID => Incoming::Disconnect(DisconnectReason::decode(&payload)?),
            PING_ID => Incoming::Ping,
            PONG_ID => Incoming::Pong,
            id => match self.shared.route(id) {
                Some((cap, rel)) if cap.offset == self.eth_offset => {
                    Incoming::Eth(EthMessage::decode(self.wire(), rel, &payload)?)
                }
                _ => Incoming::Ignored(id),
            },
        })
    }
}

/// Whether we dial or accept.
enum Side {
    Initiator(secp256k1::PublicKey),
    Recipient,
}

/// Dials `enode`, performs the full handshake (RLPx, `Hello`, eth `Status`) and returns an
/// established session.
pub async fn connect(
    secret: &SecretKey,
    enode: &Enode,
    config: SessionConfig,
) -> Result<Session, SessionError> {
    let remote = enode.public_key()?;
    let timeout = config.handshake_timeout;
    let addr = enode.tcp_addr();
    let started = Instant::now();
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| SessionError::HandshakeTimeout)??;
    let remaining = timeout.saturating_sub(started.elapsed());
    establish(stream, secret, config, Side::Initiator(remote), remaining).await
}

/// Completes the handshake on an already connected outgoing `stream` to the node with
/// id `remote_id`.
pub async fn connect_stream(
    stream: TcpStream,
    secret: &SecretKey,
    remote_id: &NodeId,
    config: SessionConfig,
) -> Result<Session, SessionError> {
    let remote = crate::identity::id_to_pubkey(remote_id).map_err(|_| EnodeError::NotOnCurve)?;
    let timeout = config.handshake_timeout;
    establish(stream, secret, config, Side::Initiator(remote), timeout).await
}

/// Performs the recipient side of the handshake on an accepted `stream`.
pub async fn accept(
    stream: TcpStream,
    secret: &SecretKey,
    config: SessionConfig,
) -> Result<Session, SessionError> {
    let timeout = config.handshake_timeout;
    establish(stream, secret, config, Side::Recipient, timeout).await
}

async fn establish(
    mut stream: TcpStream,
    secret: &SecretKey,
    config: SessionConfig,
    side: Side,
    timeout: Duration,
) -> Result<Session, SessionError> {
    let _ = stream.set_nodelay(true);
    let remote_addr = stream.peer_addr().ok();
    // The status we announce at the handshake; later head changes are announced by the driver.
    let mut live = config.live_status.clone();
    let local = match &mut live {
        Some(rx) => rx.borrow_and_update().clone(),
        None => config.status.clone(),
    };
    let fut = async {
        let outcome = match side {
            Side::Initiator(remote) => initiator_handshake(&mut stream, secret, &remote).await?,
            Side::Recipient => recipient_handshake(&mut stream, secret).await?,
        };
        let (egress, ingress) = frame_states(&outcome.secrets, config.max_message_size);
        let (rd, wr) = stream.into_split();
        let mut reader = FrameReader::new(rd, ingress);
        let mut writer = FrameWriter::new(wr, egress);
        let local_id = node_id(secret);
        let res = protocol_handshake(
            &mut reader,
            &mut writer,
            &config,
            &local,
            local_id,
            outcome.remote_id,
            remote_addr,
        )
        .await;
        match res {
            Ok((info, codec)) => Ok((reader, writer, info, codec)),
            Err(e) => {
                if let Some(reason) = e.disconnect_reason() {
                    // Best effort; the handshake already failed.
                    let frame = encode_frame_data(DISCONNECT_ID, &reason.encode(), false);
                    let _ = writer.write_frame(&frame).await;
                }
                Err(e)
            }
        }
    };
    let (reader, writer, info, codec) = tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| SessionError::HandshakeTimeout)??;
    debug!(
        remote = %info.remote_id,
        client = %info.remote_hello.client_id,
        version = info.eth_version.number(),
        dialect = %info.dialect,
        "devp2p session established"
    );
    let head = live.map(|rx| HeadAnnouncer {
        rx,
        announced: (local.latest_block, local.head_hash),
        announced_at: Instant::now(),
        min_blocks: config.head_update_blocks.max(1),
        interval: config.head_update_interval,
        due: None,
    });
    Ok(spawn_session(reader, writer, info, codec, &config, head))
}

async fn protocol_handshake<R, W>(
    reader: &mut FrameReader<R>,
    writer: &mut FrameWriter<W>,
    config: &SessionConfig,
    local: &LocalStatus,
    local_id: NodeId,
    remote_id: NodeId,
    remote_addr: Option<SocketAddr>,
) -> Result<(SessionInfo, Codec), SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    if remote_id == local_id {
        return Err(SessionError::ConnectedToSelf);
    }
    let hello = Hello {
        protocol_version: P2P_VERSION,
        client_id: config.client_id.clone(),
        capabilities: config.eth_versions.iter().map(|v| v.capability()).collect(),
        listen_port: config.listen_port,
        node_id: local_id,
    };
    writer
        .write_frame(&encode_frame_data(HELLO_ID, &hello.encode(), false))
        .await?;

    let frame = reader.read_frame().await?;
    let (id, payload) = split_frame_data(&frame)?;
    let remote_hello = match id {
        HELLO_ID => Hello::decode(&payload)?,
        DISCONNECT_ID => {
            // May or may not be compressed depending on the peer.
            let reason = DisconnectReason::decode(&payload).or_else(|_| {
                let raw = decompress(&payload, 1024)?;
                DisconnectReason::decode(&raw)
            })?;
            return Err(SessionError::Disconnected(reason));
        }
        got => {
            return Err(SessionError::UnexpectedMessage {
                expected: "Hello",
                got,
            });
        }
    };
    if remote_hello.node_id != remote_id {
        return Err(SessionError::UnexpectedIdentity {
            handshake: remote_id,
            hello: remote_hello.node_id,
        });
    }
    let specs: Vec<_> = config.eth_versions.iter().map(|v| v.spec()).collect();
    let shared = SharedCapabilities::negotiate(&specs, &remote_hello.capabilities);
    let Some(eth) = shared.find("eth") else {
        return Err(SessionError::NoSharedCapabilities);
    };
    let eth_version = EthVersion::from_number(eth.capability.version)
        .ok_or(SessionError::NoSharedCapabilities)?;
    let codec = Codec {
        snappy: remote_hello.protocol_version >= 5,
        max_message: config.max_message_size.min(MAX_DECOMPRESSED_SIZE),
        eth_offset: eth.offset,
        eth_version,
        dialect: config.dialect,
        shared: shared.clone(),
    };

    let status = EthMessage::Status(local.to_status(codec.wire()));
    writer.write_frame(&codec.encode_eth(&status)?).await?;
    let remote_status = loop {
        let frame = reader.read_frame().await?;
        match codec.decode(&frame)? {
            Incoming::Eth(EthMessage::Status(s)) => break s,
            Incoming::Ping => {
                writer
                    .write_frame(&codec.encode_p2p(PONG_ID, &EMPTY_LIST_PAYLOAD))
                    .await?;
            }
            Incoming::Pong | Incoming::Ignored(_) => {}
            Incoming::Disconnect(reason) => return Err(SessionError::Disconnected(reason)),
            Incoming::Hello => {
                return Err(SessionError::UnexpectedMessage {
                    expected: "Status",
                    got: HELLO_ID,
                });
            }
            Incoming::Eth(other) => {
                return Err(SessionError::UnexpectedMessage {
                    expected: "Status",
                    got: eth.offset + other.id(),
                });
            }
        }
    };
    check_status(config, eth_version, &remote_status)?;
    let info = SessionInfo {
        remote_id,
        remote_addr,
        remote_hello,
        shared_capabilities: shared,
        eth_version,
        dialect: config.dialect,
        remote_status,
        snappy: codec.snappy,
    };
    Ok((info, codec))
}

fn check_status(
    config: &SessionConfig,
    version: EthVersion,
    remote: &Status,
) -> Result<(), SessionError> {
    let local = &config.status;
    if remote.version() != version.number() {
        return Err(StatusMismatch::Version {
            got: remote.version(),
            negotiated: version.number(),
        }
        .into());
    }
    if remote.network_id() != local.network_id {
        return Err(StatusMismatch::NetworkId {
            got: remote.network_id(),
            ours: local.network_id,
        }
        .into());
    }
    if remote.genesis() != local.genesis {
        return Err(StatusMismatch::Genesis {
            got: remote.genesis(),
            ours: local.genesis,
        }
        .into());
    }
    if let Some(range) = remote.block_range()
        && range.earliest > range.latest
    {
        return Err(StatusMismatch::InvertedRange.into());
    }
    if let Some(check) = &config.status_check {
        check(remote)?;
    }
    Ok(())
}

/// Kinds of requests that expect a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestKind {
    Headers,
    Bodies,
    Receipts,
}

type Reply = oneshot::Sender<Result<EthMessage, SessionError>>;

enum Command {
    Request {
        message: EthMessage,
        kind: RequestKind,
        limit: usize,
        reply: Reply,
    },
    Send(EthMessage, oneshot::Sender<Result<(), SessionError>>),
    Disconnect(DisconnectReason),
}

struct Pending {
    kind: RequestKind,
    limit: usize,
    reply: Reply,
}

fn spawn_session(
    mut reader: FrameReader<OwnedReadHalf>,
    writer: FrameWriter<OwnedWriteHalf>,
    info: SessionInfo,
    codec: Codec,
    config: &SessionConfig,
    head: Option<HeadAnnouncer>,
) -> Session {
    let codec = Arc::new(codec);
    let (in_tx, in_rx) = mpsc::channel::<Result<Incoming, SessionError>>(16);
    let reader_codec = codec.clone();
    let reader_task = tokio::spawn(async move {
        loop {
            let item = match reader.read_frame().await {
                Ok(frame) => reader_codec.decode(&frame),
                Err(e) => Err(e.into()),
            };
            let stop = item.is_err();
            if in_tx.send(item).await.is_err() || stop {
                break;
            }
        }
    });
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let (ev_tx, ev_rx) = mpsc::channel(config.event_buffer.max(1));
    let first_request_id = u64::from(rand::random::<u32>());
    // Only eth/69 (`BlockRangeUpdate`) and, if enabled, eth/68 (`NewBlockHashes`) sessions
    // announce head changes.
    let head = head.filter(|_| info.eth_version.has_block_range() || config.announce_block_hashes);
    let driver = Driver {
        writer,
        codec,
        incoming: in_rx,
        commands: cmd_rx,
        events: ev_tx,
        pending: HashMap::new(),
        first_request_id,
        next_request_id: first_request_id,
        source: config.block_source.clone(),
        limits: config.serve_limits,
        ping_interval: config.ping_interval,
        idle_timeout: config.idle_timeout,
        remote_id: info.remote_id,
        bucket: config.outbound_rate.map(TokenBucket::new),
        response_delay: config.response_delay,
        head,
    };
    let driver_task = tokio::spawn(async move {
        let err = driver.run().await;
        reader_task.abort();
        err
    });
    let info = Arc::new(info);
    Session {
        handle: SessionHandle {
            info: info.clone(),
            commands: cmd_tx,
            request_timeout: config.request_timeout,
        },
        events: ev_rx,
        driver: Some(driver_task),
    }
}

struct Driver {
    writer: FrameWriter<OwnedWriteHalf>,
    codec: Arc<Codec>,
    incoming: mpsc::Receiver<Result<Incoming, SessionError>>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<SessionEvent>,
    pending: HashMap<u64, Pending>,
    /// First request id this session issued (ids are issued consecutively from here).
    first_request_id: u64,
    next_request_id: u64,
    source: Option<Arc<dyn BlockSource>>,
    limits: ServeLimits,
    ping_interval: Duration,
    idle_timeout: Duration,
    remote_id: NodeId,
    bucket: Option<TokenBucket>,
    response_delay: Duration,
    head: Option<HeadAnnouncer>,
}

/// Follows [`SessionConfig::live_status`] on an established session and decides when to
/// announce the head (rate-limited as geth does: every `min_blocks` blocks, at once when
/// the head moves back, otherwise after `interval`).
struct HeadAnnouncer {
    rx: watch::Receiver<LocalStatus>,
    /// Last announced (or handshake) head number and hash.
    announced: (u64, B256),
    announced_at: Instant,
    min_blocks: u64,
    interval: Duration,
    /// When a pending (not yet announced) head change becomes due.
    due: Option<Instant>,
}

impl HeadAnnouncer {
    /// The status to announce now, if any; otherwise arms `due` for a pending change.
    fn poll(&mut self, now: Instant) -> Option<LocalStatus> {
        let status = self.rx.borrow_and_update().clone();
        let (number, hash) = (status.latest_block, status.head_hash);
        if (number, hash) == self.announced {
            self.due = None;
            return None;
        }
        let last = self.announced.0;
        let due_at = self.announced_at + self.interval;
        if number < last || number - last >= self.min_blocks || now >= due_at {
            self.announced = (number, hash);
            self.announced_at = now;
            self.due = None;
            Some(status)
        } else {
            self.due = Some(due_at);
            None
        }
    }
}

/// Waits for a change of the live status; pending forever without one (or once its sender
/// is gone, after which `head` is cleared by the caller).
async fn head_changed(head: &mut Option<HeadAnnouncer>) -> bool {
    match head {
        Some(h) => h.rx.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

/// Sleeps until a pending head announcement is due; pending forever without one.
async fn head_due(due: Option<Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// A token bucket in virtual time: every write of `n` bytes moves `next_free` forward by
/// `n / rate` and waits until `next_free` is at most one burst (64 KiB) ahead of now, so a
/// message is paid for before it is sent.
#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    burst: Duration,
    next_free: Instant,
}

impl TokenBucket {
    fn new(bytes_per_sec: u64) -> Self {
        let rate = bytes_per_sec.max(1) as f64;
        Self {
            rate,
            burst: Duration::from_secs_f64(65536.0 / rate),
            next_free: Instant::now(),
        }
    }

    /// Accounts `n` bytes and returns how long to wait before sending them.
    fn take(&mut self, n: usize) -> Duration {
        let now = Instant::now();
        let start = self.next_free.max(now);
        self.next_free = start + Duration::from_secs_f64(n as f64 / self.rate);
        self.next_free
            .saturating_duration_since(now)
            .saturating_sub(self.burst)
    }
}

impl Driver {
    async fn run(mut self) -> SessionError {
        let err = self.run_inner().await;
        if let Some(reason) = err.disconnect_reason() {
            let frame = self.codec.encode_p2p(DISCONNECT_ID, &reason.encode());
            let _ =
                tokio::time::timeout(Duration::from_secs(2), self.writer.write_frame(&frame)).await;
        }
        let _ = self.writer.shutdown().await;
        for (_, p) in self.pending.drain() {
            let _ = p.reply.send(Err(SessionError::Closed(err.to_string())));
        }
        debug!(remote = %self.remote_id, error = %err, "devp2p session closed");
        err
    }

    async fn run_inner(&mut self) -> SessionError {
        let tick_every = self
            .ping_interval
            .min(self.idle_timeout / 2)
            .max(Duration::from_millis(10));
        let mut tick = tokio::time::interval(tick_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_received = Instant::now();
        let mut last_ping = Instant::now();
        loop {
            let head_due_at = self.head.as_ref().and_then(|h| h.due);
            let step: Result<(), SessionError> = tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    None => return SessionError::Closed("session handle dropped".into()),
                    Some(Command::Disconnect(reason)) => {
                        // The Disconnect frame is sent by `run`.
                        return SessionError::LocalDisconnect(reason);
                    }
                    Some(cmd) => self.handle_command(cmd).await,
                },
                item = self.incoming.recv() => match item {
                    None => Err(SessionError::Closed("reader stopped".into())),
                    Some(Err(e)) => Err(e),
                    Some(Ok(msg)) => {
                        last_received = Instant::now();
                        self.handle_incoming(msg).await
                    }
                },
                alive = head_changed(&mut self.head) => {
                    if alive {
                        self.announce_head().await
                    } else {
                        // The live status is gone: nothing more to announce.
                        self.head = None;
                        Ok(())
                    }
                },
                _ = head_due(head_due_at) => self.announce_head().await,
                _ = tick.tick() => {
                    let now = Instant::now();
                    self.pending.retain(|_, p| !p.reply.is_closed());
                    if now.duration_since(last_received) >= self.idle_timeout {
                        Err(SessionError::PingTimeout)
                    } else if now.duration_since(last_ping) >= self.ping_interval {
                        last_ping = now;
                        self.write(self.codec.encode_p2p(PING_ID, &EMPTY_LIST_PAYLOAD)).await
                    } else {
                        Ok(())
                    }
                }
            };
            if let Err(e) = step {
                return e;
            }
        }
    }

    async fn write(&mut self, frame: Vec<u8>) -> Result<(), SessionError> {
        if let Some(bucket) = &mut self.bucket {
            let wait = bucket.take(frame.len());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        // A peer that stops reading must not block the session forever.
        match tokio::time::timeout(self.idle_timeout, self.writer.write_frame(&frame)).await {
            Ok(res) => res.map_err(SessionError::from),
            Err(_) => Err(SessionError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "write to peer timed out",
            ))),
        }
    }

    /// Announces our head if a change is due (see [`HeadAnnouncer`]).
    async fn announce_head(&mut self) -> Result<(), SessionError> {
        let Some(status) = self.head.as_mut().and_then(|h| h.poll(Instant::now())) else {
            return Ok(());
        };
        let msg = match self.codec.eth_version {
            EthVersion::Eth69 | EthVersion::Eth70 => {
                EthMessage::BlockRangeUpdate(BlockRangeUpdate {
                    earliest: status.earliest_block.min(status.latest_block),
                    latest: status.latest_block,
                    latest_hash: status.head_hash,
                })
            }
            EthVersion::Eth68 => EthMessage::NewBlockHashes(vec![BlockHashNumber {
                hash: status.head_hash,
                number: status.latest_block,
            }]),
        };
        trace!(remote = %self.remote_id, number = status.latest_block, "announcing head");
        self.send_eth(&msg).await
    }

    async fn send_eth(&mut self, msg: &EthMessage) -> Result<(), SessionError> {
        let frame = self.codec.encode_eth(msg)?;
        self.write(frame).await
    }

    async fn handle_command(&mut self, cmd: Command) -> Result<(), SessionError> {
        match cmd {
            Command::Request {
                mut message,
                kind,
                limit,
                reply,
            } => {
                let id = self.next_request_id;
                self.next_request_id = self.next_request_id.wrapping_add(1);
                match &mut message {
                    EthMessage::GetBlockHeaders { request_id, .. }
                    | EthMessage::GetBlockBodies { request_id, .. }
                    | EthMessage::GetReceipts { request_id, .. } => *request_id = id,
                    _ => {
                        let _ = reply.send(Err(SessionError::Closed("not a request".into())));
                        return Ok(());
                    }
                }
                let frame = match self.codec.encode_eth(&message) {
                    Ok(f) => f,
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        return Ok(());
                    }
                };
                self.pending.insert(id, Pending { kind, limit, reply });
                self.write(frame).await
            }
            Command::Send(message, reply) => {
                match self.codec.encode_eth(&message) {
                    Ok(frame) => {
                        let res = self.write(frame).await;
                        let failed = res.as_ref().err().map(|e| e.to_string());
                        let _ = reply.send(res.map_err(|e| SessionError::Closed(e.to_string())));
                        if let Some(e) = failed {
                            return Err(SessionError::Closed(e));
                        }
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
                Ok(())
            }
            Command::Disconnect(_) => Ok(()),
        }
    }

    fn complete(
        &mut self,
        request_id: u64,
        kind: RequestKind,
        len: usize,
        msg: EthMessage,
    ) -> Result<(), SessionError> {
        let Some(pending) = self.pending.remove(&request_id) else {
            if (self.first_request_id..self.next_request_id).contains(&request_id) {
                // A late response to a request that already timed out: normal on slow links.
                trace!(remote = %self.remote_id, request_id, "dropping late response");
            } else {
                debug!(remote = %self.remote_id, request_id, "response to a request never made");
                self.emit(SessionEvent::UnrequestedResponse { request_id });
            }
            return Ok(());
        };
        if pending.kind != kind {
            let _ = pending
                .reply
                .send(Err(SessionError::InvalidResponse("wrong response type")));
            return Err(SessionError::InvalidResponse("wrong response type"));
        }
        if len > pending.limit {
            let _ = pending
                .reply
                .send(Err(SessionError::InvalidResponse("too many items")));
            return Err(SessionError::InvalidResponse("too many items"));
        }
        let _ = pending.reply.send(Ok(msg));
        Ok(())
    }

    fn emit(&self, event: SessionEvent) {
        if self.events.try_send(event).is_err() {
            trace!(remote = %self.remote_id, "event channel full or closed; dropping event");
        }
    }

    async fn handle_incoming(&mut self, msg: Incoming) -> Result<(), SessionError> {
        match msg {
            Incoming::Ping => {
                self.write(self.codec.encode_p2p(PONG_ID, &EMPTY_LIST_PAYLOAD))
                    .await
            }
            Incoming::Pong => Ok(()),
            Incoming::Ignored(id) => {
                trace!(remote = %self.remote_id, id, "ignoring message of unknown capability");
                Ok(())
            }
            Incoming::Disconnect(reason) => Err(SessionError::Disconnected(reason)),
            Incoming::Hello => Err(SessionError::UnexpectedMessage {
                expected: "eth message",
                got: HELLO_ID,
            }),
            Incoming::Eth(msg) => self.handle_eth(msg).await,
        }
    }

    async fn handle_eth(&mut self, msg: EthMessage) -> Result<(), SessionError> {
        if !self.response_delay.is_zero()
            && matches!(
                msg,
                EthMessage::GetBlockHeaders { .. }
                    | EthMessage::GetBlockBodies { .. }
                    | EthMessage::GetReceipts { .. }
            )
        {
            tokio::time::sleep(self.response_delay).await;
        }
        match msg {
            EthMessage::Status(_) => Err(SessionError::UnexpectedMessage {
                expected: "eth message",
                got: self.codec.eth_offset,
            }),
            EthMessage::GetBlockHeaders {
                request_id,
                request,
            } => {
                let headers = match &self.source {
                    Some(s) => serve_headers(s.as_ref(), &request, &self.limits),
                    None => Vec::new(),
                };
                self.send_eth(&EthMessage::BlockHeaders {
                    request_id,
                    headers,
                })
                .await
            }
            EthMessage::GetBlockBodies { request_id, hashes } => {
                let bodies = match &self.source {
                    Some(s) => serve_bodies(s.as_ref(), &hashes, &self.limits),
                    None => Vec::new(),
                };
                self.send_eth(&EthMessage::BlockBodies { request_id, bodies })
                    .await
            }
            EthMessage::GetReceipts {
                request_id,
                first_block_receipt_index,
                hashes,
            } => {
                let (receipts, last_block_incomplete) = match &self.source {
                    // eth/70: cut the last block's list at the response size limit.
                    Some(s) if self.codec.eth_version.has_partial_receipts() => {
                        serve_receipts_partial(
                            s.as_ref(),
                            &hashes,
                            first_block_receipt_index,
                            &self.limits,
                        )
                    }
                    Some(s) => (serve_receipts(s.as_ref(), &hashes, &self.limits), false),
                    None => (Vec::new(), false),
                };
                let msg = EthMessage::Receipts {
                    request_id,
                    last_block_incomplete,
                    receipts,
                };
                match self.codec.encode_eth(&msg) {
                    Ok(frame) => self.write(frame).await,
                    Err(e) => {
                        warn!(error = %e, "cannot encode stored receipts; sending empty response");
                        let empty = EthMessage::Receipts {
                            request_id,
                            last_block_incomplete: false,
                            receipts: Vec::new(),
                        };
                        self.send_eth(&empty).await
                    }
                }
            }
            EthMessage::GetPooledTransactions { request_id } => {
                self.send_eth(&EthMessage::PooledTransactions { request_id })
                    .await
            }
            EthMessage::BlockHeaders {
                request_id,
                ref headers,
            } => {
                let len = headers.len();
                self.complete(request_id, RequestKind::Headers, len, msg)
            }
            EthMessage::BlockBodies {
                request_id,
                ref bodies,
            } => {
                let len = bodies.len();
                self.complete(request_id, RequestKind::Bodies, len, msg)
            }
            EthMessage::Receipts {
                request_id,
                ref receipts,
                ..
            } => {
                let len = receipts.len();
                self.complete(request_id, RequestKind::Receipts, len, msg)
            }
            EthMessage::NewBlockHashes(list) => {
                self.emit(SessionEvent::NewBlockHashes(list));
                Ok(())
            }
            EthMessage::NewBlock(block) => {
                self.emit(SessionEvent::NewBlock(block));
                Ok(())
            }
            EthMessage::BlockRangeUpdate(update) => {
                self.emit(SessionEvent::BlockRangeUpdate(update));
                Ok(())
            }
            EthMessage::Transactions
            | EthMessage::NewPooledTransactionHashes
            | EthMessage::PooledTransactions { .. }
            | EthMessage::Unknown { .. } => Ok(()),
        }
    }
}

/// A cloneable handle to send requests on a session from several tasks.
///
/// The session stays open while any handle (or the [`Session`]) is alive.
#[derive(Clone)]
pub struct SessionHandle {
    info: Arc<SessionInfo>,
    commands: mpsc::Sender<Command>,
    request_timeout: Duration,
}

impl fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionHandle")
            .field("remote_id", &self.info.remote_id)
            .finish()
    }
}

impl SessionHandle {
    /// Session information (remote id, hello, status, negotiated version).
    pub fn info(&self) -> &SessionInfo {
        &self.info
    }

    /// Whether the session has terminated.
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }

    async fn request(
        &self,
        message: EthMessage,
        kind: RequestKind,
        limit: usize,
    ) -> Result<EthMessage, SessionError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Request {
                message,
                kind,
                limit,
                reply,
            })
            .await
            .map_err(|_| SessionError::Closed("session terminated".into()))?;
        match tokio::time::timeout(self.request_timeout, rx).await {
            Err(_) => Err(SessionError::RequestTimeout),
            Ok(Err(_)) => Err(SessionError::Closed("session terminated".into())),
            Ok(Ok(res)) => res,
        }
    }

    /// Requests block headers; returns raw header RLP (at most `request.amount` items).
    pub async fn get_block_headers(
        &self,
        request: GetBlockHeaders,
    ) -> Result<Vec<Bytes>, SessionError> {
        let limit = usize::try_from(request.amount).unwrap_or(usize::MAX);
        let msg = EthMessage::GetBlockHeaders {
            request_id: 0,
            request,
        };
        match self.request(msg, RequestKind::Headers, limit).await? {
            EthMessage::BlockHeaders { headers, .. } => Ok(headers),
            _ => Err(SessionError::InvalidResponse("wrong response type")),
        }
    }

    /// Requests block bodies by hash; returns raw body RLP in request order (possibly fewer).
    pub async fn get_block_bodies(&self, hashes: Vec<B256>) -> Result<Vec<Bytes>, SessionError> {
        let limit = hashes.len();
        let msg = EthMessage::GetBlockBodies {
            request_id: 0,
            hashes,
        };
        match self.request(msg, RequestKind::Bodies, limit).await? {
            EthMessage::BlockBodies { bodies, .. } => Ok(bodies),
            _ => Err(SessionError::InvalidResponse("wrong response type")),
        }
    }

    /// Requests receipts by block hash; returns per block the receipts in consensus
    /// encoding (for eth/69+ peers the bloom is recomputed), for a prefix of `hashes`.
    /// Without header information; see [`Self::get_receipts_with`].
    pub async fn get_receipts(&self, hashes: Vec<B256>) -> Result<Vec<Vec<Bytes>>, SessionError> {
        self.get_receipts_with(hashes, Vec::new()).await
    }

    /// Like [`Self::get_receipts`], with `limits[i]` bounding block `i`'s receipts. On eth/70
    /// a block's list cut by the peer (`lastBlockIncomplete`) is checked against its limits
    /// and completed with continuation requests to this peer (see [`crate::receipts`]);
    /// only complete lists are returned. A peer that breaks the rules gets
    /// [`SessionError::PartialReceipts`].
    pub async fn get_receipts_with(
        &self,
        hashes: Vec<B256>,
        limits: Vec<ReceiptLimits>,
    ) -> Result<Vec<Vec<Bytes>>, SessionError> {
        let mut assembly = Reassembly::new(hashes, limits);
        let mut next = (assembly.hashes().to_vec(), 0u64);
        loop {
            let (hashes, first_block_receipt_index) = next;
            let limit = hashes.len();
            let msg = EthMessage::GetReceipts {
                request_id: 0,
                first_block_receipt_index,
                hashes,
            };
            let (receipts, incomplete) =
                match self.request(msg, RequestKind::Receipts, limit).await? {
                    EthMessage::Receipts {
                        receipts,
                        last_block_incomplete,
                        ..
                    } => (receipts, last_block_incomplete),
                    _ => return Err(SessionError::InvalidResponse("wrong response type")),
                };
            match assembly.on_response(receipts, incomplete)? {
                Step::Done(lists) => return Ok(lists),
                Step::Continue {
                    hashes,
                    first_block_receipt_index,
                } => next = (hashes, first_block_receipt_index),
            }
        }
    }

    /// Sends an eth message that expects no response (announcements, `BlockRangeUpdate`).
    pub async fn send(&self, message: EthMessage) -> Result<(), SessionError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Send(message, reply))
            .await
            .map_err(|_| SessionError::Closed("session terminated".into()))?;
        rx.await
            .map_err(|_| SessionError::Closed("session terminated".into()))?
    }

    /// Sends `Disconnect(reason)` and closes the session.
    pub async fn disconnect(&self, reason: DisconnectReason) {
        let _ = self.commands.send(Command::Disconnect(reason)).await;
    }
}

/// An established devp2p session with eth/68, eth/69 or eth/70 negotiated.
pub struct Session {
    handle: SessionHandle,
    events: mpsc::Receiver<SessionEvent>,
    driver: Option<JoinHandle<SessionError>>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("info", &self.handle.info)
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for Session {
    type Target = SessionHandle;

    fn deref(&self) -> &SessionHandle {
        &self.handle
    }
}

impl Session {
    /// A cloneable request handle.
    pub fn handle(&self) -> SessionHandle {
        self.handle.clone()
    }

    /// The next unsolicited event, or `None` once the session has terminated.
    pub async fn next_event(&mut self) -> Option<SessionEvent> {
        self.events.recv().await
    }

    /// Waits until the session terminates and returns the reason. Note that the session
    /// only terminates on its own on errors, remote disconnects or idle timeouts; drop all
    /// handles or call [`SessionHandle::disconnect`] to end it locally.
    pub async fn closed(mut self) -> SessionError {
        let Some(driver) = self.driver.take() else {
            return SessionError::Closed("already awaited".into());
        };
        let SessionHandle { info, commands, .. } = self.handle;
        drop(info);
        // Keep our own command sender alive so the driver does not stop just because we
        // are waiting; it is dropped after the driver exits.
        let res = driver.await;
        drop(commands);
        res.unwrap_or_else(|e| SessionError::Closed(format!("session task failed: {e}")))
    }
}
