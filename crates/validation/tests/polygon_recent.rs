//! Real Polygon mainnet data from after Delhi, Rio, Lisovo and Giugliano
//! (`tests/fixtures/validation/polygon-recent/`, see its README.md), the Bor base-fee and
//! extra-data rules of those forks, and Bor's state-sync receipts before and after Madhugiri
//! (constructed receipts: no public block carries one).

mod common;

use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, Header};
use alloy_primitives::{Address, B256, Bloom, BloomInput, address};
use alloy_trie::root::ordered_trie_root_encoded;
use common::*;
use hypasis_primitives::chain::{ForkCondition, ForkSchedule};
use hypasis_primitives::{ChainSpec, Hardfork, StateSyncReceipts};
use hypasis_validation::bor::{self, BlockExtraError, GiuglianoParams};
use hypasis_validation::header::{encode_header, validate_header_against_parent};
use hypasis_validation::receipts::{
    receipts_in_root, set_aside_state_sync_receipts, validate_receipts,
};
use hypasis_validation::{Anchors, BlockData, SealedHeader, ValidationError as E, Validator};
use secp256k1::SecretKey;

/// Signer of 83,772,960 and 89,174,945 (README of the fixtures).
const RECENT_SIGNER: Address = address!("0e94B9b3fABD95338B8b23C36caAE1d640e1339f");

fn fixture(name: &str) -> Vec<u8> {
    read(&format!("polygon-recent/{name}"))
}

/// `hashes.txt`: `<number> 0x<hash>` per line.
fn known_hash(number: u64) -> B256 {
    let text = String::from_utf8(fixture("hashes.txt")).unwrap();
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(n, _)| n.parse::<u64>().ok() == Some(number))
        .map(|(_, h)| hash(h))
        .unwrap_or_else(|| panic!("{number} not in hashes.txt"))
}

fn header_block(number: u64) -> BlockData {
    BlockData {
        claimed: Some((number, known_hash(number))),
        ..BlockData::header_only(fixture(&format!("h{number}.rlp")))
    }
}

fn real_header(number: u64) -> Header {
    sealed(&header_block(number)).header
}

/// A full block: header, `rlp([txs, uncles])` and the eth/68 receipt list.
fn full_block(number: u64) -> BlockData {
    let block = Rlp::decode(&fixture(&format!("b{number}.rlp")));
    let items = block.items();
    BlockData {
        header: items[0].encode().into(),
        body: Some(
            Rlp::List(vec![items[1].clone(), items[2].clone()])
                .encode()
                .into(),
        ),
        receipts: Some(fixture(&format!("r{number}.rlp")).into()),
        total_difficulty: None,
        claimed: Some((number, known_hash(number))),
    }
}

/// Replaces the 65-byte seal with a signature of `key` over the seal hash.
fn resign(spec: &ChainSpec, mut header: Header, key: &SecretKey) -> Header {
    bor::seal(spec, &mut header, key).unwrap();
    header
}

/// Rebuilds a header's extra-data with a new middle (vanity and seal kept).
fn with_middle(header: &Header, middle: &[u8]) -> Header {
    let extra = &header.extra_data;
    let mut out = extra[..bor::EXTRA_VANITY].to_vec();
    out.extend_from_slice(middle);
    out.extend_from_slice(&extra[extra.len() - bor::EXTRA_SEAL..]);
    Header {
        extra_data: out.into(),
        ..header.clone()
    }
}

fn middle_of(header: &Header) -> &[u8] {
    let extra = &header.extra_data;
    &extra[bor::EXTRA_VANITY..extra.len() - bor::EXTRA_SEAL]
}

fn check_header(spec: &ChainSpec, header: &Header) -> Result<(), E> {
    Validator::new(spec.clone())
        .check_block(
            &BlockData::header_only(encode_header(header)),
            header.number,
        )
        .map(drop)
}

#[test]
fn recent_headers_verify_at_their_forks() {
    let spec = ChainSpec::polygon();
    let v = Validator::new(spec.clone());
    for number in [49_999_999, 50_000_000, 83_772_960, 89_174_945] {
        let checked = v
            .check_block(&header_block(number), number)
            .unwrap_or_else(|e| panic!("{number}: {e}"));
        assert_eq!(checked.header.hash, known_hash(number));
        assert!(checked.bor.is_some(), "{number}");
    }
    // The forks each header is under.
    assert!(spec.is_active(Hardfork::Indore, 50_000_000, 0));
    assert!(!spec.is_active(Hardfork::Agra, 50_000_000, 0));
    assert!(!spec.is_active(Hardfork::Cancun, 50_000_000, 0));
    assert!(spec.is_active(Hardfork::Rio, 83_772_960, 0));
    assert!(spec.is_active(Hardfork::Lisovo, 83_772_960, 0));
    assert!(!spec.is_active(Hardfork::Giugliano, 83_772_960, 0));
    assert!(spec.is_active(Hardfork::Giugliano, 89_174_945, 0));
    assert!(!spec.is_active(Hardfork::Chicago, 86_000_000, 0));

    // 49,999,999 ends a sprint (pre-Napoli: raw validator bytes): 21 validators announced.
    let sprint_end = v.check_block(&header_block(49_999_999), 0).unwrap();
    let announced = sprint_end.bor.unwrap().announced_validators.unwrap();
    assert_eq!(announced.len(), 21);
    assert_eq!(real_header(49_999_999).extra_data.len(), 32 + 21 * 40 + 65);
    let child = v
        .check_block(&header_block(50_000_000), 0)
        .unwrap()
        .bor
        .unwrap();
    assert!(child.announced_validators.is_none());
    assert!(announced.iter().any(|val| val.address == child.signer));

    // 83,772,960 (Lisovo, before Giugliano): BlockExtraData with two fields.
    let lisovo = real_header(83_772_960);
    let extra = bor::decode_block_extra(middle_of(&lisovo)).unwrap();
    assert_eq!(extra.validator_bytes, b"");
    assert_eq!(extra.tx_dependencies, 198);
    assert_eq!(
        (extra.gas_target, extra.base_fee_change_denominator),
        (None, None)
    );
    let info = v
        .check_block(&header_block(83_772_960), 0)
        .unwrap()
        .bor
        .unwrap();
    assert_eq!(info.signer, RECENT_SIGNER);
    assert_eq!(info.giugliano, None);

    // 89,174,945 (Giugliano): the two base fee fields.
    let giugliano = real_header(89_174_945);
    let extra = bor::decode_block_extra(middle_of(&giugliano)).unwrap();
    assert_eq!(extra.tx_dependencies, 106);
    assert_eq!(extra.gas_target, Some(112_000_000));
    assert_eq!(extra.base_fee_change_denominator, Some(64));
    assert_eq!(giugliano.gas_limit, 160_000_000);
    let info = v
        .check_block(&header_block(89_174_945), 0)
        .unwrap()
        .bor
        .unwrap();
    assert_eq!(info.signer, RECENT_SIGNER);
    assert_eq!(
        info.giugliano,
        Some(GiuglianoParams {
            gas_target: 112_000_000,
            denominator: 64
        })
    );
}

#[test]
fn sprint_end_parent_links_and_prices_its_child() {
    let spec = ChainSpec::polygon();
    let parent = sealed(&header_block(49_999_999));
    let child = sealed(&header_block(50_000_000));
    // Hash link, period, gas limit and the exact (Delhi, denominator 16) base fee.
    validate_header_against_parent(&spec, &child, &parent).unwrap();
    let mut wrong = child.header.clone();
    wrong.base_fee_per_gas = wrong.base_fee_per_gas.map(|f| f + 1);
    assert!(matches!(
        validate_header_against_parent(&spec, &SealedHeader::seal_slow(wrong), &parent),
        Err(E::BaseFee { .. })
    ));
}

#[test]
fn sprint_end_validator_list_admits_the_signer_and_refuses_a_forged_one() {
    let spec = ChainSpec::polygon();
    let v = Validator::new(spec.clone());
    let honest = [header_block(49_999_999), header_block(50_000_000)];
    let report = v.validate_range(&honest, &Anchors::default()).unwrap();
    assert_eq!(report.last.hash, known_hash(50_000_000));

    // 50,000,000 re-signed with a key outside the announced set.
    let key =
        SecretKey::from_secret_bytes(alloy_primitives::keccak256(b"not a polygon validator").0)
            .unwrap();
    let forged = resign(&spec, real_header(50_000_000), &key);
    let forged_signer = bor::recover_signer(&spec, &forged).unwrap();
    let announced: Vec<Address> = v
        .check_block(&honest[0], 0)
        .unwrap()
        .announced_signers()
        .unwrap();
    assert!(!announced.contains(&forged_signer));
    let forged_block = BlockData::header_only(encode_header(&forged));
    // Alone, the forged header's rules hold (its seal is valid; nobody says who may sign).
    v.check_block(&forged_block, 50_000_000).unwrap();
    v.validate_range(std::slice::from_ref(&forged_block), &Anchors::default())
        .unwrap();
    // With the sprint-end parent in the range, the signer is refused.
    let err = v
        .validate_range(
            &[header_block(49_999_999), forged_block],
            &Anchors::default(),
        )
        .unwrap_err();
    match err {
        E::BorSignerNotValidator {
            number,
            expected,
            found,
        } => {
            assert_eq!(number, 50_000_000);
            assert_eq!(expected, announced);
            assert_eq!(found, forged_signer);
        }
        other => panic!("expected BorSignerNotValidator, got {other}"),
    }
}

#[test]
fn full_post_delhi_blocks_verify_their_roots() {
    let v = Validator::new(ChainSpec::polygon());
    for number in [40_000_000, 43_200_000] {
        let block = full_block(number);
        v.check_block(&block, number)
            .unwrap_or_else(|e| panic!("{number}: {e}"));
        let header = sealed(&block);
        let n =
            receipts_in_root(v.spec(), &header, block.receipts.as_ref().unwrap(), None).unwrap();
        assert_eq!(n, if number == 40_000_000 { 102 } else { 67 });
        // One transaction fewer: the transactions root no longer matches.
        let mut short = block.clone();
        short.body = Some(mutate_rlp(short.body.as_ref().unwrap(), |b| {
            b.list()[0].list().pop();
        }));
        assert!(matches!(
            v.check_block(&short, number),
            Err(E::TransactionsRoot { .. })
        ));
    }
}

/// A legacy (eth/68 consensus) receipt with one log.
fn legacy_receipt(status: u64, cumulative_gas: u64, log_address: Address) -> Rlp {
    let topic = B256::repeat_byte(0x5a);
    let log = Rlp::List(vec![
        Rlp::Bytes(log_address.to_vec()),
        Rlp::List(vec![Rlp::Bytes(topic.to_vec())]),
        Rlp::Bytes(vec![1, 2, 3]),
    ]);
    let mut bloom = Bloom::ZERO;
    bloom.accrue(BloomInput::Raw(log_address.as_slice()));
    bloom.accrue(BloomInput::Raw(topic.as_slice()));
    Rlp::List(vec![
        uint(status),
        uint(cumulative_gas),
        Rlp::Bytes(bloom.to_vec()),
        Rlp::List(vec![log]),
    ])
}

/// A typed (EIP-2718) consensus receipt: `type ‖ rlp([...])` as an RLP string.
fn typed_receipt(tx_type: u8, inner: Rlp) -> Rlp {
    let mut bytes = vec![tx_type];
    bytes.extend(inner.encode());
    Rlp::Bytes(bytes)
}

/// The state-sync receipt as a pre-Madhugiri Bor peer appends it (type 0, status 1, logs of
/// the state receiver).
fn state_sync_receipt(cumulative_gas: u64) -> Rlp {
    legacy_receipt(
        1,
        cumulative_gas,
        address!("0000000000000000000000000000000000001001"),
    )
}

fn with_extra_receipt(block: &BlockData, receipt: Rlp) -> BlockData {
    let mut out = block.clone();
    out.receipts = Some(mutate_rlp(out.receipts.as_ref().unwrap(), |r| {
        r.list().push(receipt)
    }));
    out
}

fn last_cumulative_gas(block: &BlockData) -> u64 {
    let list = Rlp::decode(block.receipts.as_ref().unwrap());
    let Rlp::Bytes(last) = list.items().last().unwrap().clone() else {
        panic!("typed receipt");
    };
    let inner = Rlp::decode(&last[1..]);
    let Rlp::Bytes(gas) = &inner.items()[1] else {
        panic!("gas");
    };
    gas.iter().fold(0, |acc, b| (acc << 8) | u64::from(*b))
}

#[test]
fn pre_madhugiri_state_sync_receipt_is_set_aside_as_bor_does() {
    let spec = ChainSpec::polygon();
    assert_eq!(
        spec.state_sync_receipts(40_000_000, 0),
        StateSyncReceipts::Separate
    );
    let v = Validator::new(spec.clone());
    let block = full_block(40_000_000);
    let header = sealed(&block);
    let previous = last_cumulative_gas(&block);
    assert_eq!(previous, header.header.gas_used);
    // Bor's own eth/69 server: cumulative gas 0; other peers repeat the previous value.
    for cumulative in [0, previous] {
        let with = with_extra_receipt(&block, state_sync_receipt(cumulative));
        v.check_block(&with, 40_000_000)
            .unwrap_or_else(|e| panic!("cumulative {cumulative}: {e}"));
        let receipts = with.receipts.as_ref().unwrap();
        assert_eq!(
            receipts_in_root(&spec, &header, receipts, None).unwrap(),
            102
        );
    }
    // A trailing receipt that used gas is not a state-sync receipt: refused, as one receipt
    // too many when the transactions are known, by the root otherwise.
    let bogus = with_extra_receipt(&block, state_sync_receipt(previous + 21_000));
    assert!(matches!(
        v.check_block(&bogus, 40_000_000),
        Err(E::ReceiptCount {
            expected: 102,
            found: 103,
            ..
        })
    ));
    assert!(validate_receipts(&spec, &header, bogus.receipts.as_ref().unwrap(), None).is_err());
    // Two state-sync-looking receipts: only one is set aside, the other breaks the root.
    let twice = with_extra_receipt(
        &with_extra_receipt(&block, state_sync_receipt(0)),
        state_sync_receipt(0),
    );
    assert!(v.check_block(&twice, 40_000_000).is_err());
    assert!(validate_receipts(&spec, &header, twice.receipts.as_ref().unwrap(), None).is_err());
}

/// What is stored is what the root covers: the set-aside receipt is removed from fetched
/// blocks, the rest keep their bytes, and the block then passes the store's integrity check.
#[test]
fn set_aside_state_sync_receipt_before_storing() {
    let spec = ChainSpec::polygon();
    let block = full_block(40_000_000);
    let to_raw = |b: &BlockData| hypasis_primitives::RawBlock {
        number: 40_000_000,
        hash: known_hash(40_000_000),
        header: b.header.clone(),
        body: b.body.clone().unwrap(),
        receipts: b.receipts.clone().unwrap(),
    };
    let original = to_raw(&block);
    let mut fetched = vec![
        to_raw(&with_extra_receipt(&block, state_sync_receipt(0))),
        original.clone(),
        to_raw(&with_extra_receipt(&block, state_sync_receipt(1))),
    ];
    assert!(
        fetched[0].check_integrity().is_err(),
        "one receipt too many"
    );
    assert_eq!(set_aside_state_sync_receipts(&spec, &mut fetched), 1);
    assert_eq!(fetched[0], original);
    assert_eq!(fetched[1], original);
    fetched[0].check_integrity().unwrap();
    // A trailing receipt that used gas is left for validation to refuse.
    assert_ne!(fetched[2], original);
    // After Madhugiri nothing is set aside.
    let mut post = vec![to_raw(&with_extra_receipt(&block, state_sync_receipt(0)))];
    assert_eq!(
        set_aside_state_sync_receipts(&madhugiri_from_genesis(), &mut post),
        0
    );
    assert_eq!(
        set_aside_state_sync_receipts(&ChainSpec::mainnet(), &mut post),
        0
    );
}

/// Polygon mainnet with Madhugiri moved to block 0, so block 40,000,000's receipts are judged
/// under the post-Madhugiri rule.
fn madhugiri_from_genesis() -> ChainSpec {
    let mut spec = ChainSpec::polygon();
    spec.forks = ForkSchedule::new(
        spec.forks
            .iter()
            .chain([(Hardfork::Madhugiri, ForkCondition::Block(0))]),
    );
    spec
}

#[test]
fn post_madhugiri_extra_state_sync_receipt_is_refused() {
    let spec = madhugiri_from_genesis();
    assert_eq!(
        spec.state_sync_receipts(40_000_000, 0),
        StateSyncReceipts::InBlock
    );
    let v = Validator::new(spec.clone());
    let block = full_block(40_000_000);
    // The block's own receipts still verify.
    v.check_block(&block, 40_000_000).unwrap();
    let header = sealed(&block);
    let with = with_extra_receipt(&block, state_sync_receipt(0));
    assert!(matches!(
        v.check_block(&with, 40_000_000),
        Err(E::ReceiptCount { .. })
    ));
    // Without the transaction types: the gasless trailing receipt breaks the cumulative gas.
    assert!(matches!(
        validate_receipts(&spec, &header, with.receipts.as_ref().unwrap(), None),
        Err(E::CumulativeGas { index: 102, .. })
    ));
}

/// A post-Madhugiri block whose last transaction is the state-sync transaction (type 0x7F):
/// its receipt (type 0x7F, status 1, cumulative gas repeated) is part of the root and bloom.
#[test]
fn post_madhugiri_state_sync_receipt_is_part_of_the_root() {
    let spec = ChainSpec::polygon();
    let number = 80_084_800 + 16;
    assert_eq!(
        spec.state_sync_receipts(number, 0),
        StateSyncReceipts::InBlock
    );
    let user = typed_receipt(
        2,
        legacy_receipt(
            1,
            21_000,
            address!("1111111111111111111111111111111111111111"),
        ),
    );
    let state_sync = typed_receipt(0x7f, state_sync_receipt(21_000));
    let encodings: Vec<Vec<u8>> = [&user, &state_sync]
        .iter()
        .map(|r| match r {
            Rlp::Bytes(b) => b.clone(),
            Rlp::List(_) => unreachable!(),
        })
        .collect();
    let root = ordered_trie_root_encoded(&encodings);
    let mut bloom = Bloom::ZERO;
    for a in [
        address!("1111111111111111111111111111111111111111"),
        address!("0000000000000000000000000000000000001001"),
    ] {
        bloom.accrue(BloomInput::Raw(a.as_slice()));
    }
    bloom.accrue(BloomInput::Raw(B256::repeat_byte(0x5a).as_slice()));
    let header = SealedHeader::seal_slow(Header {
        number,
        gas_used: 21_000,
        receipts_root: root,
        logs_bloom: bloom,
        ..Default::default()
    });
    let list = Rlp::List(vec![user.clone(), state_sync.clone()]).encode();
    assert_eq!(
        receipts_in_root(&spec, &header, &list, Some(&[2, 0x7f])).unwrap(),
        2
    );
    assert_eq!(receipts_in_root(&spec, &header, &list, None).unwrap(), 2);
    // Without the state-sync receipt: one receipt short, and the root differs.
    let short = Rlp::List(vec![user.clone()]).encode();
    assert!(matches!(
        validate_receipts(&spec, &header, &short, Some(&[2, 0x7f])),
        Err(E::ReceiptCount { .. })
    ));
    assert!(validate_receipts(&spec, &header, &short, None).is_err());
    // Before Madhugiri the same list would have its last receipt set aside (it repeats the
    // cumulative gas), and then the root no longer matches.
    let mut pre = ChainSpec::polygon();
    pre.forks = ForkSchedule::new(
        pre.forks
            .iter()
            .filter(|(f, _)| !matches!(f, Hardfork::Madhugiri | Hardfork::MadhugiriPro)),
    );
    assert!(matches!(
        validate_receipts(&pre, &header, &list, None),
        Err(E::GasUsed { .. } | E::LogsBloom { .. } | E::ReceiptsRoot { .. })
    ));
}

/// A Bor body with `txs` (raw transaction items) under a synthetic header with its roots.
fn bor_body_check(spec: &ChainSpec, number: u64, txs: Vec<Rlp>) -> Result<(), E> {
    let encodings: Vec<Vec<u8>> = txs
        .iter()
        .map(|t| match t {
            Rlp::Bytes(b) => b.clone(),
            Rlp::List(_) => t.encode(),
        })
        .collect();
    let header = SealedHeader::seal_slow(Header {
        number,
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        transactions_root: ordered_trie_root_encoded(&encodings),
        ..Default::default()
    });
    let body = Rlp::List(vec![Rlp::List(txs), Rlp::List(vec![])]).encode();
    hypasis_validation::body::validate_body(spec, &header, 500, &body).map(drop)
}

#[test]
fn state_sync_transaction_only_from_madhugiri_and_last() {
    let spec = ChainSpec::polygon();
    // rlp([]) payloads are enough: the body rules look at the type and position only.
    let user = Rlp::Bytes(vec![0x02, 0xc0]);
    let state_sync = Rlp::Bytes(vec![0x7f, 0xc0]);
    let after = 80_084_800;
    bor_body_check(&spec, after, vec![user.clone(), state_sync.clone()]).unwrap();
    assert!(matches!(
        bor_body_check(&spec, after, vec![state_sync.clone(), user.clone()]),
        Err(E::InvalidTransaction { index: 0, .. })
    ));
    assert!(matches!(
        bor_body_check(&spec, after - 1, vec![user, state_sync]),
        Err(E::InvalidTransaction { index: 1, .. })
    ));
}

/// A synthetic parent for a real header: number − 1, one second earlier, the same gas limit.
fn parent_of(child: &Header, base_fee: u64, gas_used: u64) -> SealedHeader {
    SealedHeader::seal_slow(Header {
        number: child.number - 1,
        timestamp: child.timestamp - 2,
        gas_limit: child.gas_limit,
        gas_used,
        base_fee_per_gas: Some(base_fee),
        ..Default::default()
    })
}

fn child_of(parent: &SealedHeader, mut child: Header, base_fee: u64) -> SealedHeader {
    child.parent_hash = parent.hash;
    child.base_fee_per_gas = Some(base_fee);
    SealedHeader::seal_slow(child)
}

#[test]
fn lisovo_base_fee_six_percent_off_is_refused() {
    let spec = ChainSpec::polygon();
    let real = real_header(83_772_960);
    let parent_fee = 100_000_000_000u64;
    let parent = parent_of(&real, parent_fee, real.gas_limit / 2);
    // Anything within 5 % is Bor-valid after Lisovo (the producer's parameters are its own).
    for fee in [
        parent_fee,
        parent_fee * 104 / 100,
        parent_fee * 95 / 100,
        parent_fee * 105 / 100,
    ] {
        validate_header_against_parent(&spec, &child_of(&parent, real.clone(), fee), &parent)
            .unwrap_or_else(|e| panic!("{fee}: {e}"));
    }
    for fee in [parent_fee * 106 / 100, parent_fee * 94 / 100] {
        let err =
            validate_header_against_parent(&spec, &child_of(&parent, real.clone(), fee), &parent)
                .unwrap_err();
        assert!(
            matches!(
                err,
                E::BaseFeeChange {
                    parent: 100_000_000_000,
                    max_change: 5_000_000_000,
                    ..
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn giugliano_base_fee_follows_the_declared_parameters() {
    let spec = ChainSpec::polygon();
    let real = real_header(89_174_945);
    let parent_fee = real.base_fee_per_gas.unwrap();
    // A parent that used more than the declared 112,000,000 target.
    let parent = parent_of(&real, parent_fee, 150_000_000);
    let expected =
        parent_fee as u128 + parent_fee as u128 * (150_000_000 - 112_000_000) / 112_000_000 / 64;
    let expected = u64::try_from(expected).unwrap();
    validate_header_against_parent(&spec, &child_of(&parent, real.clone(), expected), &parent)
        .unwrap();
    // Within Lisovo's 5 % but not what the declared parameters give.
    for wrong in [expected + 1, expected - 1, parent_fee] {
        let err =
            validate_header_against_parent(&spec, &child_of(&parent, real.clone(), wrong), &parent)
                .unwrap_err();
        assert!(
            matches!(
                err,
                E::BorGiuglianoBaseFee {
                    gas_target: 112_000_000,
                    denominator: 64,
                    expected: e,
                    found,
                    ..
                } if e == expected && found == wrong
            ),
            "{err}"
        );
    }
    // The 5 % bound is checked first.
    assert!(matches!(
        validate_header_against_parent(
            &spec,
            &child_of(&parent, real.clone(), parent_fee * 106 / 100),
            &parent
        ),
        Err(E::BaseFeeChange { .. })
    ));
    // A parent far above target: the declared parameters give more than 5 %, the producer
    // caps the change at 5 %.
    let busy = parent_of(&real, parent_fee, 160_000_000);
    let capped = parent_fee + parent_fee * 5 / 100;
    let uncapped = parent_fee as u128 + parent_fee as u128 * 48_000_000 / 112_000_000 / 64;
    assert!(
        uncapped < capped as u128,
        "the 64 denominator stays under the cap"
    );
    validate_header_against_parent(
        &spec,
        &child_of(&busy, real.clone(), u64::try_from(uncapped).unwrap()),
        &busy,
    )
    .unwrap();
}

#[test]
fn giugliano_cap_applies_with_an_aggressive_declared_denominator() {
    let spec = ChainSpec::polygon();
    let real = real_header(89_174_945);
    // Declared denominator 4 (the producer's choice): the full-block change would be 10.7 %,
    // Bor's producer caps it at 5 %.
    let middle = Rlp::decode(middle_of(&real));
    let mut fields = middle.items().to_vec();
    fields[3] = uint(4);
    let declared = with_middle(&real, &Rlp::List(fields).encode());
    let parent_fee = 1_000_000_000u64;
    let parent = parent_of(&declared, parent_fee, 160_000_000);
    validate_header_against_parent(
        &spec,
        &child_of(&parent, declared.clone(), parent_fee + 50_000_000),
        &parent,
    )
    .unwrap();
    assert!(matches!(
        validate_header_against_parent(
            &spec,
            &child_of(&parent, declared, parent_fee + 49_999_999),
            &parent
        ),
        Err(E::BorGiuglianoBaseFee { .. })
    ));
}

#[test]
fn malformed_giugliano_extra_data_is_refused_with_its_error() {
    let spec = ChainSpec::polygon();
    let real = real_header(89_174_945);
    check_header(&spec, &real).unwrap();
    let fields = Rlp::decode(middle_of(&real)).items().to_vec();
    let rebuild = |fields: Vec<Rlp>| with_middle(&real, &Rlp::List(fields).encode());

    // Without the denominator (as a pre-Giugliano producer would write it).
    let err = check_header(&spec, &rebuild(fields[..3].to_vec())).unwrap_err();
    assert!(
        matches!(
            err,
            E::BorMissingGiuglianoFields {
                number: 89_174_945,
                gas_target: true,
                denominator: false
            }
        ),
        "{err}"
    );
    // Without either field.
    assert!(matches!(
        check_header(&spec, &rebuild(fields[..2].to_vec())),
        Err(E::BorMissingGiuglianoFields {
            gas_target: false,
            denominator: false,
            ..
        })
    ));
    // A non-canonical gas target (leading zero byte).
    let mut bad = fields.clone();
    bad[2] = Rlp::Bytes(vec![0x00, 0x06, 0xad, 0x0f, 0x80]);
    assert!(matches!(
        check_header(&spec, &rebuild(bad)),
        Err(E::BorBlockExtraData {
            reason: BlockExtraError::GasTarget(_),
            ..
        })
    ));
    // A denominator wider than 64 bits.
    let mut bad = fields.clone();
    bad[3] = Rlp::Bytes(vec![1; 9]);
    assert!(matches!(
        check_header(&spec, &rebuild(bad)),
        Err(E::BorBlockExtraData {
            reason: BlockExtraError::BaseFeeChangeDenominator(_),
            ..
        })
    ));
    // Zero parameters.
    let mut bad = fields.clone();
    bad[3] = uint(0);
    assert!(matches!(
        check_header(&spec, &rebuild(bad)),
        Err(E::BorBlockExtraData {
            reason: BlockExtraError::ZeroDenominator,
            ..
        })
    ));
    // A fifth field.
    let mut bad = fields.clone();
    bad.push(uint(1));
    assert!(matches!(
        check_header(&spec, &rebuild(bad)),
        Err(E::BorBlockExtraData {
            reason: BlockExtraError::FieldCount(5),
            ..
        })
    ));
    // Not RLP at all, and a truncated list.
    assert!(matches!(
        check_header(&spec, &with_middle(&real, &[0xff, 0x01])),
        Err(E::BorBlockExtraData {
            reason: BlockExtraError::NotAList(_),
            ..
        })
    ));
    let truncated = &middle_of(&real)[..middle_of(&real).len() - 1];
    assert!(matches!(
        check_header(&spec, &with_middle(&real, truncated)),
        Err(E::BorBlockExtraData { .. })
    ));
    // A dependency list entry that is not a list.
    let mut bad = fields.clone();
    bad[1] = Rlp::List(vec![Rlp::Bytes(vec![1])]);
    assert!(matches!(
        check_header(&spec, &rebuild(bad)),
        Err(E::BorBlockExtraData {
            reason: BlockExtraError::TxDependency(_),
            ..
        })
    ));
    // Before Giugliano the same two-field layout is fine (83,772,960 verifies above), and an
    // undecodable middle counts as no validator bytes, as in Bor.
    let lisovo = real_header(83_772_960);
    let junk = resign(
        &spec,
        with_middle(&lisovo, &[0xff, 0x01]),
        &SecretKey::from_secret_bytes([7u8; 32]).unwrap(),
    );
    check_header(&spec, &junk).unwrap();
}

#[test]
fn block_extra_decoder_is_bounded_on_hostile_input() {
    // A long dependency list is walked, not collected: 100,000 empty entries decode.
    let deps: Vec<Rlp> = (0..100_000).map(|_| Rlp::List(vec![])).collect();
    let middle = Rlp::List(vec![Rlp::Bytes(vec![]), Rlp::List(deps)]).encode();
    let extra = bor::decode_block_extra(&middle).unwrap();
    assert_eq!(extra.tx_dependencies, 100_000);
    // A list header that claims more than there is: a typed error, no panic.
    assert!(matches!(
        bor::decode_block_extra(&[0xf9, 0xff, 0xff, 0x80]),
        Err(BlockExtraError::NotAList(_))
    ));
    assert!(matches!(
        bor::decode_block_extra(&[]),
        Err(BlockExtraError::NotAList(_))
    ));
    assert!(matches!(
        bor::decode_block_extra(&[0xc1, 0x80]),
        Err(BlockExtraError::FieldCount(1))
    ));
}
