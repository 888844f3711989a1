//! The real era1 files from `tests/fixtures/validation/era1` (see PROVENANCE.md there) and
//! no-panic property tests for the decoders.

use hypasis_era::e2store::{E2StoreReader, encode_record};
use hypasis_era::{Era1, EraError};
use proptest::prelude::*;
use std::path::PathBuf;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/validation")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn mainnet_era_files_parse() {
    for (name, start, acc_prefix) in [
        ("era1/mainnet-00000-5ec1ffb8.era1", 0u64, "5ec1ffb8"),
        ("era1/mainnet-00001-a5364e9a.era1", 8192, "a5364e9a"),
        ("era1/sepolia-00021-b8814b14.era1", 172_032, "b8814b14"),
    ] {
        let bytes = fixture(name);
        let era = Era1::parse(&bytes).unwrap();
        assert_eq!(era.start_number, start, "{name}");
        assert_eq!(era.blocks.len(), 8192, "{name}");
        assert_eq!(era.short_root(), acc_prefix, "{name}");
        // Decompress a few blocks fully.
        for b in [&era.blocks[0], &era.blocks[4096], &era.blocks[8191]] {
            let h = b.header().unwrap();
            assert!(h[0] >= 0xf8, "{name}: header is an RLP list");
            assert!(b.body().unwrap()[0] >= 0xc0);
            assert!(b.receipts().unwrap()[0] >= 0xc0);
        }
    }
}

#[test]
fn mainnet_era0_total_difficulty() {
    let bytes = fixture("era1/mainnet-00000-5ec1ffb8.era1");
    let era = Era1::parse(&bytes).unwrap();
    // README: TD at block 8191 is 1344623723034024; genesis TD is its difficulty 2^34.
    assert_eq!(
        era.blocks[0].total_difficulty,
        alloy_primitives::U256::from(17_179_869_184u64)
    );
    assert_eq!(
        era.blocks[8191].total_difficulty,
        alloy_primitives::U256::from(1_344_623_723_034_024u64)
    );
}

#[test]
fn portal_e2s_header_records() {
    // 10 records of type bytes `ff 00` (0x00ff little-endian), each a raw header RLP (blocks 1000001..1000010).
    let bytes = fixture("premerge/1000001-1000010.e2s");
    let records: Vec<_> = E2StoreReader::new(&bytes)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(records.len(), 10);
    assert!(
        records
            .iter()
            .all(|r| r.record_type == 0x00ff && r.data[0] == 0xf9)
    );
}

#[test]
fn flipped_bytes_in_a_real_file_never_panic() {
    let bytes = fixture("era1/mainnet-00001-a5364e9a.era1");
    // Corrupt the index, a record header and compressed data; parse and decompress everything.
    for pos in [
        bytes.len() - 3,
        bytes.len() - 100,
        9,
        20,
        1000,
        bytes.len() / 2,
    ] {
        let mut b = bytes.clone();
        b[pos] ^= 0x55;
        if let Ok(era) = Era1::parse(&b) {
            for block in &era.blocks {
                let _ = block.header();
                let _ = block.body();
                let _ = block.receipts();
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn e2store_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for r in E2StoreReader::new(&bytes) {
            if r.is_err() { break; }
        }
    }

    #[test]
    fn era1_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Era1::parse(&bytes);
    }

    #[test]
    fn era1_with_valid_framing_never_panics(
        records in proptest::collection::vec(
            (prop_oneof![Just(0x3265u16), Just(3), Just(4), Just(5), Just(6), Just(7), Just(0x3266), any::<u16>()],
             proptest::collection::vec(any::<u8>(), 0..48)),
            0..16)
    ) {
        let mut bytes = Vec::new();
        for (t, d) in &records {
            encode_record(*t, d, &mut bytes);
        }
        match Era1::parse(&bytes) {
            Ok(era) => for b in &era.blocks { let _ = b.header(); let _ = b.body(); let _ = b.receipts(); },
            Err(e) => { let _: &EraError = &e; }
        }
    }

    #[test]
    fn snappy_garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let block = hypasis_era::Era1Block {
            number: 0,
            compressed_header: &data,
            compressed_body: &data,
            compressed_receipts: &data,
            total_difficulty: alloy_primitives::U256::ZERO,
        };
        let _ = block.header();
    }
}
