//! Stable-toolchain smoke run of every fuzz target (`hypasis_downloader::fuzzing`): a small
//! mutation fuzzer seeded with valid encodings feeds each target for `FUZZ_SMOKE_SECS`
//! seconds (default 1). The coverage-guided targets in `fuzz/` run the same functions under
//! libFuzzer (`cargo +nightly fuzz run <target>`).

use std::time::{Duration, Instant};

use alloy_primitives::B256;
use hypasis_discv4::packet::{
    Endpoint, Enr, Message, NodeRecord, encode as discv4_encode, unix_now,
};
use hypasis_downloader::fuzzing::TARGETS;
use hypasis_eth_wire::eth::{BlockId, EthMessage, GetBlockHeaders, Wire};
use hypasis_network::{LocalStatus, testchain};
use hypasis_rlpx::{
    handshake::{HandshakeFormat, create_ack, create_auth, create_auth_legacy},
    identity::{NodeId, generate_secret_key, parse_secret_key},
    p2p::{Capability, DisconnectReason, Hello, compress, encode_frame_data},
};
use rand::{Rng, SeedableRng, rngs::StdRng};

fn recipient_key() -> hypasis_rlpx::SecretKey {
    parse_secret_key("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291").unwrap()
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let k = recipient_key();
    let other = generate_secret_key();
    let eph = generate_secret_key();
    match target {
        "ecies_auth" => vec![
            create_auth(&other, &k.public_key(), &eph, &B256::repeat_byte(1)),
            create_auth_legacy(&other, &k.public_key(), &eph, &B256::repeat_byte(2)),
        ],
        "ecies_ack" => vec![
            create_ack(
                &k.public_key(),
                &eph,
                &B256::repeat_byte(3),
                HandshakeFormat::Eip8,
            ),
            create_ack(
                &k.public_key(),
                &eph,
                &B256::repeat_byte(3),
                HandshakeFormat::Legacy,
            ),
        ],
        "p2p" | "frame" => {
            let hello = Hello {
                protocol_version: 5,
                client_id: "fuzz".into(),
                capabilities: vec![
                    Capability::new("eth", 68),
                    Capability::new("eth", 69),
                    Capability::new("eth", 70),
                ],
                listen_port: 30303,
                node_id: NodeId::repeat_byte(9),
            };
            let mut v = vec![
                hello.encode(),
                DisconnectReason::TooManyPeers.encode(),
                compress(&hello.encode()),
                encode_frame_data(0, &hello.encode(), false),
            ];
            v.extend(
                eth_seeds()
                    .into_iter()
                    .map(|(id, p)| encode_frame_data(0x10 + id, &p, true)),
            );
            v
        }
        "eth" => eth_seeds()
            .into_iter()
            .map(|(id, p)| {
                let mut out = vec![id as u8];
                out.extend(p);
                out
            })
            .collect(),
        "discv4" => {
            let ep = Endpoint {
                ip: "10.1.2.3".parse().unwrap(),
                udp_port: 30303,
                tcp_port: 30303,
            };
            let msgs = [
                Message::Ping {
                    version: 4,
                    from: ep,
                    to: ep,
                    expiration: unix_now() + 20,
                    enr_seq: Some(1),
                },
                Message::Neighbours {
                    nodes: vec![
                        NodeRecord {
                            endpoint: ep,
                            id: NodeId::repeat_byte(4)
                        };
                        3
                    ],
                    expiration: 5,
                },
                Message::EnrResponse {
                    request_hash: B256::ZERO,
                    enr: Enr::build(&other, 3, ep.ip, 1, 2),
                },
            ];
            msgs.iter().map(|m| discv4_encode(&other, m).0).collect()
        }
        _ => vec![Vec::new()],
    }
}

fn eth_seeds() -> Vec<(u64, Vec<u8>)> {
    let blocks = testchain::generate(3, 3, Some(1));
    let msgs = [
        EthMessage::GetBlockHeaders {
            request_id: 7,
            request: GetBlockHeaders {
                origin: BlockId::Number(5),
                amount: 3,
                skip: 0,
                reverse: false,
            },
        },
        EthMessage::BlockHeaders {
            request_id: 7,
            headers: blocks.iter().map(|b| b.header.clone()).collect(),
        },
        EthMessage::BlockBodies {
            request_id: 8,
            bodies: blocks.iter().map(|b| b.body.clone()).collect(),
        },
        EthMessage::Receipts {
            request_id: 9,
            last_block_incomplete: false,
            receipts: blocks.iter().map(|b| b.receipts.clone()).collect(),
        },
        EthMessage::GetReceipts {
            request_id: 9,
            first_block_receipt_index: 0,
            hashes: vec![B256::repeat_byte(1); 2],
        },
    ];
    // eth/70 only: partial receipts.
    let eth70 = [
        EthMessage::Receipts {
            request_id: 9,
            last_block_incomplete: true,
            receipts: blocks.iter().map(|b| b.receipts.clone()).collect(),
        },
        EthMessage::GetReceipts {
            request_id: 9,
            first_block_receipt_index: 2,
            hashes: vec![B256::repeat_byte(1); 2],
        },
    ];
    let status = LocalStatus {
        network_id: 137,
        genesis: B256::repeat_byte(2),
        fork_id: hypasis_eth_wire::ForkId {
            hash: hypasis_eth_wire::eth::ForkHash([1, 2, 3, 4]),
            next: 5,
        },
        total_difficulty: alloy_primitives::U256::from(77),
        head_hash: B256::repeat_byte(3),
        earliest_block: 0,
        latest_block: 9,
    };
    let mut out = Vec::new();
    // Every version in every dialect, with its own Status (Bor's eth/69 layout included).
    for wire in Wire::ALL {
        let status = EthMessage::Status(status.to_status(wire));
        for m in msgs.iter().chain(std::iter::once(&status)) {
            out.push(m.encode(wire).unwrap());
        }
        if wire.version.has_partial_receipts() {
            for m in &eth70 {
                out.push(m.encode(wire).unwrap());
            }
        }
    }
    out
}

fn mutate(rng: &mut StdRng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut d = corpus[rng.random_range(0..corpus.len())].clone();
    for _ in 0..rng.random_range(1..=4) {
        match rng.random_range(0..6) {
            0 if !d.is_empty() => {
                let i = rng.random_range(0..d.len());
                d[i] ^= 1 << rng.random_range(0..8);
            }
            1 if !d.is_empty() => {
                let i = rng.random_range(0..d.len());
                d[i] = rng.random();
            }
            2 => {
                let i = rng.random_range(0..=d.len());
                d.insert(i, rng.random());
            }
            3 if !d.is_empty() => {
                let i = rng.random_range(0..d.len());
                d.remove(i);
            }
            4 => {
                let n = rng.random_range(0..=d.len());
                d.truncate(n);
            }
            _ => {
                let other = &corpus[rng.random_range(0..corpus.len())];
                let n = rng.random_range(0..=other.len());
                d.extend_from_slice(&other[..n]);
            }
        }
    }
    d
}

#[test]
fn fuzz_smoke_all_targets() {
    let secs: f64 = std::env::var("FUZZ_SMOKE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let seed: u64 = std::env::var("FUZZ_SMOKE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("fuzz smoke: {secs}s per target, FUZZ_SMOKE_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    for (name, target) in TARGETS {
        let mut corpus = seeds(name);
        corpus.push(Vec::new());
        for s in corpus.clone() {
            target(&s);
        }
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        let mut runs = 0u64;
        while Instant::now() < deadline {
            let input = if rng.random_range(0..8) == 0 {
                let n = rng.random_range(0..600);
                (0..n).map(|_| rng.random()).collect()
            } else {
                mutate(&mut rng, &corpus)
            };
            target(&input);
            if corpus.len() < 256 && rng.random_range(0..32) == 0 {
                corpus.push(input);
            }
            runs += 1;
        }
        eprintln!("  {name}: {runs} inputs");
        assert!(runs > 0);
    }
}
