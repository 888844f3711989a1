//! End-to-end tests: our client and our server over 127.0.0.1.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rlp::Encodable;
use hypasis_eth_wire::{
    EthVersion,
    eth::{BlockId, BlockRangeUpdate, EthMessage, ForkHash, ForkId, GetBlockHeaders},
};
use hypasis_network::{
    Blame, LocalStatus, MemoryBlockSource, SessionConfig, SessionError, SessionEvent, accept,
    connect, session::fork_filter_check, testchain,
};
use hypasis_primitives::rlp::wrap_list;
use hypasis_rlpx::{
    Enode,
    frame::{FrameError, FrameReader, FrameWriter, frame_states},
    handshake::initiator_handshake,
    identity::{generate_secret_key, node_id},
    p2p::{
        DISCONNECT_ID, DisconnectReason, HELLO_ID, Hello, P2P_VERSION, decompress,
        encode_frame_data, split_frame_data,
    },
};
use tokio::{
    io::AsyncWriteExt,
    net::{TcpListener, TcpStream},
    sync::mpsc,
};

/// A receipt in consensus encoding with one log, so the eth/69 bloom path is exercised.
fn receipt(tx_type: u8, gas: u64, seed: u8) -> Bytes {
    testchain::receipt_with_log(
        tx_type,
        gas,
        Address::repeat_byte(seed),
        B256::repeat_byte(seed.wrapping_add(1)),
        &[seed; 3],
    )
    .into()
}

fn fixture(n: u64) -> MemoryBlockSource {
    let mut s = MemoryBlockSource::new();
    for i in 0..n {
        // Fake but well-formed header: [number, padding string].
        let mut h = Vec::new();
        i.encode(&mut h);
        Bytes::from(vec![0xab; 100]).encode(&mut h);
        let header = Bytes::from(wrap_list(&h));
        let body = Bytes::from(wrap_list(&[0xc0, 0xc0]));
        let receipts = (0..(i % 3))
            .map(|j| receipt((j % 3) as u8, 21_000 * (j + 1), i as u8))
            .collect();
        s.insert(i, header, body, receipts);
    }
    s
}

fn local_status(network_id: u64) -> LocalStatus {
    LocalStatus {
        network_id,
        genesis: B256::repeat_byte(0x42),
        fork_id: ForkId {
            hash: ForkHash([1, 2, 3, 4]),
            next: 0,
        },
        total_difficulty: U256::from(1000),
        head_hash: B256::repeat_byte(0x77),
        earliest_block: 0,
        latest_block: 63,
    }
}

fn config(network_id: u64, versions: Vec<EthVersion>) -> SessionConfig {
    let mut c = SessionConfig::new(local_status(network_id));
    c.eth_versions = versions;
    c.handshake_timeout = Duration::from_secs(5);
    c.request_timeout = Duration::from_secs(5);
    c
}

type ServerResult = (
    Result<(), SessionError>,
    Vec<SessionEvent>,
    Option<SessionError>,
);

/// Spawns a server accepting one connection; reports handshake result, events and close
/// reason.
async fn spawn_server(
    cfg: SessionConfig,
) -> (
    SocketAddr,
    hypasis_rlpx::SecretKey,
    mpsc::Receiver<ServerResult>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let key = generate_secret_key();
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        match accept(stream, &key, cfg).await {
            Err(e) => {
                let _ = tx.send((Err(e), vec![], None)).await;
            }
            Ok(mut session) => {
                let mut events = Vec::new();
                while let Some(ev) = session.next_event().await {
                    events.push(ev);
                }
                let reason = session.closed().await;
                let _ = tx.send((Ok(()), events, Some(reason))).await;
            }
        }
    });
    (addr, key, rx)
}

fn enode_for(key: &hypasis_rlpx::SecretKey, addr: SocketAddr) -> Enode {
    Enode::new(&key.public_key(), addr.ip(), addr.port(), addr.port())
}

async fn full_exchange(
    client_versions: Vec<EthVersion>,
    server_versions: Vec<EthVersion>,
    expect: EthVersion,
) {
    let source = Arc::new(fixture(64));
    let mut server_cfg = config(137, server_versions);
    server_cfg.block_source = Some(source.clone());
    let (addr, server_key, mut server_rx) = spawn_server(server_cfg).await;

    let client_key = generate_secret_key();
    let mut client_cfg = config(137, client_versions);
    let filter_ok = local_status(137).fork_id;
    client_cfg.status_check = Some(Arc::new(move |s: &hypasis_eth_wire::Status| {
        if s.fork_id() == filter_ok {
            Ok(())
        } else {
            Err(hypasis_network::session::StatusMismatch::Refused("fork id"))
        }
    }));
    let session = connect(&client_key, &enode_for(&server_key, addr), client_cfg)
        .await
        .unwrap();
    assert_eq!(session.info().eth_version, expect);
    assert_eq!(session.info().remote_id, node_id(&server_key));
    assert!(session.info().snappy);
    assert_eq!(session.info().remote_hello.protocol_version, P2P_VERSION);
    assert_eq!(session.info().remote_status.version(), expect.number());
    if expect == EthVersion::Eth69 {
        let range = session.info().remote_status.block_range().unwrap();
        assert_eq!(range.latest, 63);
    }

    // Headers by number, ascending.
    let headers = session
        .get_block_headers(GetBlockHeaders {
            origin: BlockId::Number(10),
            amount: 5,
            skip: 0,
            reverse: false,
        })
        .await
        .unwrap();
    let expected: Vec<Bytes> = (10..15).map(|n| source.header_by_number_pub(n)).collect();
    assert_eq!(headers, expected);

    // Headers by hash, descending with skip.
    let h20 = source.hash_of(20).unwrap();
    let headers = session
        .get_block_headers(GetBlockHeaders {
            origin: BlockId::Hash(h20),
            amount: 4,
            skip: 4,
            reverse: true,
        })
        .await
        .unwrap();
    let expected: Vec<Bytes> = [20, 15, 10, 5]
        .iter()
        .map(|n| source.header_by_number_pub(*n))
        .collect();
    assert_eq!(headers, expected);

    // Beyond the head: truncated.
    let headers = session
        .get_block_headers(GetBlockHeaders {
            origin: BlockId::Number(60),
            amount: 10,
            skip: 0,
            reverse: false,
        })
        .await
        .unwrap();
    assert_eq!(headers.len(), 4);

    // Bodies and receipts.
    let hashes: Vec<B256> = (0..8).map(|n| source.hash_of(n).unwrap()).collect();
    let bodies = session.get_block_bodies(hashes.clone()).await.unwrap();
    assert_eq!(bodies.len(), 8);
    assert!(bodies.iter().all(|b| b[..] == wrap_list(&[0xc0, 0xc0])[..]));
    let receipts = session.get_receipts(hashes.clone()).await.unwrap();
    assert_eq!(receipts.len(), 8);
    for (n, block) in receipts.iter().enumerate() {
        use hypasis_network::BlockSource;
        let stored = source.receipts_by_hash(&hashes[n]).unwrap();
        // Byte-identical consensus encoding, including the recomputed bloom for eth/69.
        assert_eq!(block, &stored, "block {n}");
    }

    // Concurrent requests are matched by request id.
    let handle = session.handle();
    let (a, b) = tokio::join!(
        handle.get_block_headers(GetBlockHeaders {
            origin: BlockId::Number(1),
            amount: 1,
            skip: 0,
            reverse: false
        }),
        handle.get_block_headers(GetBlockHeaders {
            origin: BlockId::Number(2),
            amount: 1,
            skip: 0,
            reverse: false
        }),
    );
    assert_eq!(a.unwrap(), vec![source.header_by_number_pub(1)]);
    assert_eq!(b.unwrap(), vec![source.header_by_number_pub(2)]);

    if expect == EthVersion::Eth69 {
        let update = BlockRangeUpdate {
            earliest: 0,
            latest: 64,
            latest_hash: B256::repeat_byte(9),
        };
        session
            .send(EthMessage::BlockRangeUpdate(update))
            .await
            .unwrap();
    }
    session.disconnect(DisconnectReason::ClientQuitting).await;
    drop(handle);
    let client_reason = session.closed().await;
    assert!(
        matches!(
            client_reason,
            SessionError::LocalDisconnect(DisconnectReason::ClientQuitting)
        ),
        "{client_reason:?}"
    );

    let (res, events, reason) = tokio::time::timeout(Duration::from_secs(5), server_rx.recv())
        .await
        .unwrap()
        .unwrap();
    res.unwrap();
    if expect == EthVersion::Eth69 {
        assert!(
            matches!(events.as_slice(), [SessionEvent::BlockRangeUpdate(u)] if u.latest == 64),
            "{events:?}"
        );
    }
    let reason = reason.unwrap();
    assert!(
        matches!(
            reason,
            SessionError::Disconnected(DisconnectReason::ClientQuitting)
        ),
        "{reason:?}"
    );
    assert_eq!(reason.blame(), Blame::Incompatible);
}

trait HeaderByNumber {
    fn header_by_number_pub(&self, n: u64) -> Bytes;
}

impl HeaderByNumber for MemoryBlockSource {
    fn header_by_number_pub(&self, n: u64) -> Bytes {
        use hypasis_network::BlockSource;
        self.header_by_number(n).unwrap()
    }
}

#[tokio::test]
async fn full_session_eth68() {
    full_exchange(
        vec![EthVersion::Eth68],
        vec![EthVersion::Eth68, EthVersion::Eth69],
        EthVersion::Eth68,
    )
    .await;
}

#[tokio::test]
async fn full_session_eth69() {
    full_exchange(
        vec![EthVersion::Eth68, EthVersion::Eth69],
        vec![EthVersion::Eth69, EthVersion::Eth68],
        EthVersion::Eth69,
    )
    .await;
}

#[tokio::test]
async fn highest_common_version_is_negotiated() {
    full_exchange(
        vec![EthVersion::Eth68, EthVersion::Eth69],
        vec![EthVersion::Eth68],
        EthVersion::Eth68,
    )
    .await;
}

#[tokio::test]
async fn status_mismatch_is_incompatible() {
    let (addr, server_key, mut server_rx) = spawn_server(config(1, vec![EthVersion::Eth69])).await;
    let client_key = generate_secret_key();
    let err = connect(
        &client_key,
        &enode_for(&server_key, addr),
        config(137, vec![EthVersion::Eth69]),
    )
    .await
    .unwrap_err();
    assert_eq!(err.blame(), Blame::Incompatible, "{err:?}");
    let (res, _, _) = server_rx.recv().await.unwrap();
    assert_eq!(res.unwrap_err().blame(), Blame::Incompatible);

    // Fork id rejected by the caller's hook.
    let (addr, server_key, _rx) = spawn_server(config(137, vec![EthVersion::Eth69])).await;
    let mut cfg = config(137, vec![EthVersion::Eth69]);
    let filter = hypasis_eth_wire::eth::ForkFilter::new(
        alloy_eips::eip2124::Head::default(),
        B256::repeat_byte(0x42),
        0,
        Vec::<alloy_eips::eip2124::ForkFilterKey>::new(),
    );
    cfg.status_check = Some(fork_filter_check(filter));
    let err = connect(&client_key, &enode_for(&server_key, addr), cfg)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SessionError::StatusMismatch(hypasis_network::session::StatusMismatch::ForkId(_))
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn garbage_auth_is_peer_fault() {
    let (addr, _key, mut server_rx) = spawn_server(config(137, vec![EthVersion::Eth69])).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut garbage = vec![0x01, 0x00];
    garbage.extend((0..256).map(|i| (i * 7 + 3) as u8));
    stream.write_all(&garbage).await.unwrap();
    let (res, _, _) = server_rx.recv().await.unwrap();
    let err = res.unwrap_err();
    assert!(matches!(err, SessionError::Handshake(_)), "{err:?}");
    assert!(err.is_peer_fault());

    // A stalled peer hits the handshake timeout.
    let mut cfg = config(137, vec![EthVersion::Eth69]);
    cfg.handshake_timeout = Duration::from_millis(200);
    let (addr, _key, mut server_rx) = spawn_server(cfg).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&[0x01]).await.unwrap();
    let (res, _, _) = server_rx.recv().await.unwrap();
    assert!(matches!(res.unwrap_err(), SessionError::HandshakeTimeout));
    drop(stream);
}

type RawReader = FrameReader<tokio::net::tcp::OwnedReadHalf>;
type RawWriter = FrameWriter<tokio::net::tcp::OwnedWriteHalf>;

/// Performs the crypto handshake as a raw initiator and returns framed halves.
async fn raw_client(
    addr: SocketAddr,
    server_key: &hypasis_rlpx::SecretKey,
    max: usize,
) -> (hypasis_rlpx::SecretKey, RawReader, RawWriter) {
    let key = generate_secret_key();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let outcome = initiator_handshake(&mut stream, &key, &server_key.public_key())
        .await
        .unwrap();
    let (egress, ingress) = frame_states(&outcome.secrets, max);
    let (rd, wr) = stream.into_split();
    (
        key,
        FrameReader::new(rd, ingress),
        FrameWriter::new(wr, egress),
    )
}

/// Sends the `Hello` of a raw eth/69 client with `key`.
async fn send_hello(writer: &mut RawWriter, key: &hypasis_rlpx::SecretKey) {
    let hello = Hello {
        protocol_version: P2P_VERSION,
        client_id: "raw".into(),
        capabilities: vec![EthVersion::Eth69.capability()],
        listen_port: 0,
        node_id: node_id(key),
    };
    writer
        .write_frame(&encode_frame_data(HELLO_ID, &hello.encode(), false))
        .await
        .unwrap();
}

/// Sends an eth/69 `Status` (eth offset 0x10) for network 137, snappy compressed.
async fn send_status(writer: &mut RawWriter) {
    let status = EthMessage::Status(local_status(137).to_status(EthVersion::Eth69));
    let (id, payload) = status.encode(EthVersion::Eth69).unwrap();
    writer
        .write_frame(&encode_frame_data(0x10 + id, &payload, true))
        .await
        .unwrap();
}

#[tokio::test]
async fn bad_mac_is_peer_fault() {
    let (addr, server_key, mut server_rx) =
        spawn_server(config(137, vec![EthVersion::Eth69])).await;
    let key = generate_secret_key();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    initiator_handshake(&mut stream, &key, &server_key.public_key())
        .await
        .unwrap();
    stream.write_all(&[0x5a; 64]).await.unwrap();
    let (res, _, _) = server_rx.recv().await.unwrap();
    let err = res.unwrap_err();
    assert!(
        matches!(err, SessionError::Frame(FrameError::BadHeaderMac)),
        "{err:?}"
    );
    assert!(err.is_peer_fault());
}

#[tokio::test]
async fn oversized_frame_is_peer_fault() {
    let mut cfg = config(137, vec![EthVersion::Eth69]);
    cfg.max_message_size = 1024;
    let (addr, server_key, mut server_rx) = spawn_server(cfg).await;
    let (_key, _reader, mut writer) = raw_client(addr, &server_key, 16 << 20).await;
    writer.write_frame(&vec![0u8; 4096]).await.unwrap();
    let (res, _, _) = server_rx.recv().await.unwrap();
    let err = res.unwrap_err();
    assert!(
        matches!(
            err,
            SessionError::Frame(FrameError::FrameTooLarge {
                size: 4096,
                max: 1024
            })
        ),
        "{err:?}"
    );
    assert!(err.is_peer_fault());
}

#[tokio::test]
async fn malformed_eth_message_is_peer_fault() {
    let (addr, server_key, mut server_rx) =
        spawn_server(config(137, vec![EthVersion::Eth69])).await;
    let (key, mut reader, mut writer) = raw_client(addr, &server_key, 16 << 20).await;
    send_hello(&mut writer, &key).await;
    let frame = reader.read_frame().await.unwrap();
    let (id, payload) = split_frame_data(&frame).unwrap();
    assert_eq!(id, HELLO_ID);
    let server_hello = Hello::decode(&payload).unwrap();
    assert_eq!(server_hello.node_id, node_id(&server_key));

    // Status (eth offset 0x10), snappy compressed.
    send_status(&mut writer).await;
    let frame = reader.read_frame().await.unwrap();
    let (id, payload) = split_frame_data(&frame).unwrap();
    assert_eq!(id, 0x10);
    let payload = decompress(&payload, 1 << 20).unwrap();
    assert!(matches!(
        EthMessage::decode(EthVersion::Eth69, 0, &payload.into()).unwrap(),
        EthMessage::Status(_)
    ));

    // An unknown message id is ignored ...
    writer
        .write_frame(&encode_frame_data(0x10 + 0x0d, b"\xc0", true))
        .await
        .unwrap();
    writer
        .write_frame(&encode_frame_data(0x7f, b"\xc0", true))
        .await
        .unwrap();
    // ... a request is still answered ...
    let req = EthMessage::GetBlockHeaders {
        request_id: 99,
        request: GetBlockHeaders {
            origin: BlockId::Number(0),
            amount: 1,
            skip: 0,
            reverse: false,
        },
    };
    let (rid, rp) = req.encode(EthVersion::Eth69).unwrap();
    writer
        .write_frame(&encode_frame_data(0x10 + rid, &rp, true))
        .await
        .unwrap();
    let frame = reader.read_frame().await.unwrap();
    let (id, payload) = split_frame_data(&frame).unwrap();
    assert_eq!(id, 0x10 + 0x04);
    let payload = decompress(&payload, 1 << 20).unwrap();
    assert_eq!(
        EthMessage::decode(EthVersion::Eth69, 0x04, &payload.into()).unwrap(),
        EthMessage::BlockHeaders {
            request_id: 99,
            headers: vec![]
        }
    );

    // ... but a malformed BlockHeaders is a protocol breach.
    writer
        .write_frame(&encode_frame_data(
            0x10 + 0x04,
            &[0xc3, 0x01, 0xc1, 0x05],
            true,
        ))
        .await
        .unwrap();
    let frame = reader.read_frame().await.unwrap();
    let (id, payload) = split_frame_data(&frame).unwrap();
    assert_eq!(id, DISCONNECT_ID);
    let payload = decompress(&payload, 1024).unwrap();
    assert_eq!(
        DisconnectReason::decode(&payload).unwrap(),
        DisconnectReason::ProtocolBreach
    );

    let (res, _, reason) = server_rx.recv().await.unwrap();
    res.unwrap();
    let reason = reason.unwrap();
    assert!(matches!(reason, SessionError::Message(_)), "{reason:?}");
    assert!(reason.is_peer_fault());

    // Oversized snappy payload (announced size > 16 MiB) is rejected before decompressing.
    let (addr, server_key, mut server_rx) =
        spawn_server(config(137, vec![EthVersion::Eth69])).await;
    let (key, mut reader, mut writer) = raw_client(addr, &server_key, 16 << 20).await;
    send_hello(&mut writer, &key).await;
    reader.read_frame().await.unwrap();
    send_status(&mut writer).await;
    reader.read_frame().await.unwrap();
    let mut bomb = vec![0x10 + 0x04];
    bomb.extend_from_slice(&[0x80, 0x80, 0x80, 0x0a]); // varint 20 MiB
    bomb.extend_from_slice(&[0u8; 16]);
    writer.write_frame(&bomb).await.unwrap();
    let (res, _, reason) = server_rx.recv().await.unwrap();
    res.unwrap();
    let reason = reason.unwrap();
    assert!(
        matches!(
            reason,
            SessionError::Message(hypasis_rlpx::p2p::MessageError::DecompressedTooLarge { .. })
        ),
        "{reason:?}"
    );
}

#[tokio::test]
async fn idle_peer_times_out() {
    let mut cfg = config(137, vec![EthVersion::Eth69]);
    cfg.ping_interval = Duration::from_millis(50);
    cfg.idle_timeout = Duration::from_millis(300);
    let (addr, server_key, mut server_rx) = spawn_server(cfg).await;
    let (key, mut reader, mut writer) = raw_client(addr, &server_key, 16 << 20).await;
    send_hello(&mut writer, &key).await;
    reader.read_frame().await.unwrap();
    send_status(&mut writer).await;
    // Never answer pings.
    let (res, _, reason) = tokio::time::timeout(Duration::from_secs(5), server_rx.recv())
        .await
        .unwrap()
        .unwrap();
    res.unwrap();
    assert!(matches!(reason.unwrap(), SessionError::PingTimeout));
    drop(reader);
}
