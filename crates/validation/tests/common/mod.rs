//! Fixture helpers for the validation tests. Files live in `tests/fixtures/validation/` (see
//! its PROVENANCE.md); nothing is read from outside the repository.
#![allow(dead_code)]

use alloy_primitives::{B256, Bytes};
use hypasis_validation::{BlockData, SealedHeader, split_concatenated};
use std::path::PathBuf;

pub fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/validation")
        .join(name)
}

pub fn read(name: &str) -> Vec<u8> {
    let p = path(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.trim().trim_start_matches("0x")).expect("hex")
}

/// A `block-data-<n>.yaml` file (portal-spec-tests): header, body, eth/69 slim receipts.
pub fn block_data(number: u64) -> BlockData {
    let text = String::from_utf8(read(&format!(
        "eth-mainnet/block-data/block-data-{number}.yaml"
    )))
    .unwrap();
    let field = |key: &str| {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{key}:")))
            .unwrap_or_else(|| panic!("{key} in block-data-{number}"));
        Bytes::from(unhex(line.split_once(':').unwrap().1))
    };
    BlockData {
        header: field("header"),
        body: Some(field("body")),
        receipts: Some(field("receipts")),
        total_difficulty: None,
        claimed: None,
    }
}

/// The 13 fork-boundary blocks of `block-data/` with their hashes (fixtures README 1d).
pub const BLOCK_DATA: [(u64, &str); 13] = [
    (
        14764013,
        "720704f3aa11c53cf344ea069db95cecb81ad7453c8f276b2a1062979611f09c",
    ),
    (
        15537393,
        "55b11b918355b1ef9c5db810302ebad0bf2544255b530cdce90674d5887bb286",
    ),
    (
        15537394,
        "56a9bb0302da44b8c0b3df540781424684c3af04d0b7a38d72842b762076a664",
    ),
    (
        15547621,
        "96a9313cd506e32893d46c82358569ad242bb32786bd5487833e0f77767aec2a",
    ),
    (
        17034869,
        "c2558f8143d5f5acb8382b8cb2b8e2f1a10c8bdfeededad850eaca048ed85d8f",
    ),
    (
        17034870,
        "e22c56f211f03baadcc91e4eb9a24344e6848c5df4473988f893b58223f5216c",
    ),
    (
        17062257,
        "059771c1aa04d33c99edffbb19044a6189721f339775e46bcb1b1c60edbfe79b",
    ),
    (
        19426586,
        "db672c41cfd47c84ddb478ffde5a09b76964f77dceca0e62bdf719c965d73e7f",
    ),
    (
        19426587,
        "f8e2f40d98fe5862bc947c8c83d34799c50fb344d7445d020a8a946d891b62ee",
    ),
    (
        22162263,
        "fbf884a87d9b41c39363242970cea015afbc9b5ba6ab1ed34f407b2621987353",
    ),
    (
        22431083,
        "28fb2c1d988435955e569451c6ad772f7fb5e61cddd7463c7b60e933ed5ff237",
    ),
    (
        22431084,
        "50c8cab760b2948349c590461b166773c45d8f4858cccf5a43025ab2960152e8",
    ),
    (
        22869878,
        "50985684c5e97edaf7a3f7e67ab3a74e21bcf18555ec7bfe4cef50f5464f63b5",
    ),
];

pub fn hash(s: &str) -> B256 {
    s.trim_start_matches("0x").parse().unwrap()
}

/// Blocks 1000000..=1000030 (headers, bodies `[txs, uncles]`, pre-Byzantium receipts).
pub fn mainnet_1000000() -> Vec<BlockData> {
    let dir = "eth-mainnet/blocks-1000000-1000030";
    let headers = read(&format!("{dir}/headers.rlp"));
    let bodies = read(&format!("{dir}/bodies.rlp"));
    let receipts = read(&format!("{dir}/receipts.rlp"));
    let h = split_concatenated(&headers).unwrap();
    let b = split_concatenated(&bodies).unwrap();
    let r = split_concatenated(&receipts).unwrap();
    assert_eq!((h.len(), b.len(), r.len()), (31, 31, 31));
    (0..31)
        .map(|i| BlockData {
            header: Bytes::copy_from_slice(h[i]),
            body: Some(Bytes::copy_from_slice(b[i])),
            receipts: Some(Bytes::copy_from_slice(r[i])),
            total_difficulty: None,
            claimed: None,
        })
        .collect()
}

/// Blocks 22431080..=22431090 (headers, bodies with withdrawals; no receipts).
pub fn mainnet_22431080() -> Vec<BlockData> {
    let dir = "eth-mainnet/blocks-22431080-22431090";
    let headers = read(&format!("{dir}/headers.rlp"));
    let bodies = read(&format!("{dir}/bodies.rlp"));
    let h = split_concatenated(&headers).unwrap();
    let b = split_concatenated(&bodies).unwrap();
    assert_eq!((h.len(), b.len()), (11, 11));
    (0..11)
        .map(|i| BlockData {
            header: Bytes::copy_from_slice(h[i]),
            body: Some(Bytes::copy_from_slice(b[i])),
            receipts: None,
            total_difficulty: None,
            claimed: None,
        })
        .collect()
}

/// The 1280 headers of Polygon checkpoint 9693 (blocks 9825948..=9827227).
pub fn polygon_checkpoint_headers() -> Vec<BlockData> {
    let bytes = read("polygon/checkpoint-9693/headers_9825948_9827227.rlp");
    split_concatenated(&bytes)
        .unwrap()
        .into_iter()
        .map(|h| BlockData::header_only(Bytes::copy_from_slice(h)))
        .collect()
}

pub const CHECKPOINT_9693_ROOT: &str =
    "e459e9f7439f54989ee693ba93802793c02880a824979d476544378d3f66d174";

pub fn sealed(b: &BlockData) -> SealedHeader {
    SealedHeader::decode(&b.header).unwrap()
}

/// A minimal RLP tree for building mutated copies of real encodings in tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rlp {
    Bytes(Vec<u8>),
    List(Vec<Rlp>),
}

impl Rlp {
    pub fn decode(bytes: &[u8]) -> Rlp {
        let mut buf = bytes;
        let r = Self::decode_one(&mut buf);
        assert!(buf.is_empty(), "trailing bytes");
        r
    }

    fn decode_one(buf: &mut &[u8]) -> Rlp {
        let h = alloy_rlp::Header::decode(buf).expect("rlp header");
        let (payload, rest) = buf.split_at(h.payload_length);
        *buf = rest;
        if h.list {
            let mut p = payload;
            let mut items = Vec::new();
            while !p.is_empty() {
                items.push(Self::decode_one(&mut p));
            }
            Rlp::List(items)
        } else {
            Rlp::Bytes(payload.to_vec())
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Rlp::Bytes(b) => alloy_rlp::Encodable::encode(&b.as_slice(), &mut out),
            Rlp::List(items) => {
                let payload: Vec<u8> = items.iter().flat_map(|i| i.encode()).collect();
                alloy_rlp::Header {
                    list: true,
                    payload_length: payload.len(),
                }
                .encode(&mut out);
                out.extend_from_slice(&payload);
            }
        }
        out
    }

    pub fn list(&mut self) -> &mut Vec<Rlp> {
        match self {
            Rlp::List(l) => l,
            Rlp::Bytes(_) => panic!("not a list"),
        }
    }

    pub fn items(&self) -> &[Rlp] {
        match self {
            Rlp::List(l) => l,
            Rlp::Bytes(_) => panic!("not a list"),
        }
    }

    pub fn bytes(&mut self) -> &mut Vec<u8> {
        match self {
            Rlp::Bytes(b) => b,
            Rlp::List(_) => panic!("not bytes"),
        }
    }
}

/// Applies `f` to the decoded tree of `bytes` and re-encodes.
pub fn mutate_rlp(bytes: &Bytes, f: impl FnOnce(&mut Rlp)) -> Bytes {
    let mut tree = Rlp::decode(bytes);
    f(&mut tree);
    tree.encode().into()
}

pub fn uint(n: u64) -> Rlp {
    let b = n.to_be_bytes();
    let skip = b.iter().take_while(|x| **x == 0).count();
    Rlp::Bytes(b[skip..].to_vec())
}
