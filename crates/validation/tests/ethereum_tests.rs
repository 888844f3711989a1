//! ethereum/tests `BlockchainTests` (synthetic consensus vectors, `_Cancun` variants): every
//! block with an `expectException` whose rule does not need execution is rejected with the
//! matching error; the valid blocks pass and the head ends at `lastblockhash`.

mod common;

use alloy_primitives::{B256, U256};
use common::*;
use hypasis_primitives::chain::{ConsensusKind, ForkCondition, ForkSchedule};
use hypasis_primitives::{ChainSpec, Hardfork};
use hypasis_validation::{BlockData, SealedHeader, ValidationError as E, Validator, input};

/// The ethereum/tests `Cancun` network: every fork through Cancun at genesis, merged at 0.
fn cancun_spec(genesis: SealedHeader) -> ChainSpec {
    let mut forks: Vec<(Hardfork, ForkCondition)> = [
        Hardfork::Frontier,
        Hardfork::Homestead,
        Hardfork::Tangerine,
        Hardfork::SpuriousDragon,
        Hardfork::Byzantium,
        Hardfork::Constantinople,
        Hardfork::Petersburg,
        Hardfork::Istanbul,
        Hardfork::Berlin,
        Hardfork::London,
    ]
    .into_iter()
    .map(|f| (f, ForkCondition::Block(0)))
    .collect();
    forks.push((
        Hardfork::Paris,
        ForkCondition::Ttd {
            total_difficulty: U256::ZERO,
            activation_block: Some(0),
            fork_id_block: None,
        },
    ));
    forks.push((Hardfork::Shanghai, ForkCondition::Timestamp(0)));
    forks.push((Hardfork::Cancun, ForkCondition::Timestamp(0)));
    ChainSpec {
        name: "ethereum-tests-cancun".into(),
        chain_id: 1,
        network_id: 1,
        genesis_hash: genesis.hash,
        genesis_header: genesis.header,
        forks: ForkSchedule::new(forks),
        consensus: ConsensusKind::Ethash {
            terminal_total_difficulty: Some(U256::ZERO),
            merge_block: Some(0),
        },
    }
}

/// Exceptions that need execution (receipts, post-state) and cannot be decided from a header
/// and body alone.
const NEEDS_EXECUTION: [&str; 3] = [
    "BlockException.INVALID_RECEIPTS_ROOT",
    "BlockException.INVALID_GAS_USED",
    "BlockException.INVALID_LOG_BLOOM",
];

fn expected_rule(exception: &str) -> fn(&E) -> bool {
    match exception {
        "BlockException.EXTRA_DATA_TOO_BIG" => |e| matches!(e, E::ExtraDataTooLong { .. }),
        "BlockException.GASLIMIT_TOO_BIG" => |e| matches!(e, E::GasLimitTooHigh { .. }),
        "BlockException.INVALID_BASEFEE_PER_GAS" => |e| matches!(e, E::BaseFee { .. }),
        "BlockException.INVALID_GASLIMIT" => {
            |e| matches!(e, E::GasLimitChange { .. } | E::GasLimitTooLow { .. })
        }
        "BlockException.INVALID_BLOCK_TIMESTAMP_OLDER_THAN_PARENT" => {
            |e| matches!(e, E::Timestamp { .. })
        }
        "BlockException.IMPORT_IMPOSSIBLE_DIFFICULTY_OVER_PARIS" => {
            |e| matches!(e, E::PostMergeDifficulty { .. })
        }
        "BlockException.INVALID_BLOCK_NUMBER" => |e| matches!(e, E::NumberContinuity { .. }),
        "BlockException.UNKNOWN_PARENT_ZERO" | "BlockException.UNKNOWN_PARENT" => {
            |e| matches!(e, E::ParentHash { .. })
        }
        "BlockException.INVALID_TRANSACTIONS_ROOT" => |e| matches!(e, E::TransactionsRoot { .. }),
        "BlockException.IMPORT_IMPOSSIBLE_UNCLES_OVER_PARIS" => {
            |e| matches!(e, E::OmmersNotEmpty { .. })
        }
        other => panic!("no mapping for {other}"),
    }
}

#[test]
fn blockchain_tests() {
    let dir = path("ethereum-tests");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut rejected = 0;
    for file in files {
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        for (name, test) in json.as_object().unwrap() {
            // genesisRLP is the whole genesis block; take its header.
            let (genesis, _) =
                input::split_block(&unhex(test["genesisRLP"].as_str().unwrap())).unwrap();
            let genesis = SealedHeader::decode(&genesis).unwrap();
            let v = Validator::new(cancun_spec(genesis.clone()));
            let mut head = genesis;
            for (i, block) in test["blocks"].as_array().unwrap().iter().enumerate() {
                let exception = block["expectException"].as_str();
                let rlp = unhex(block["rlp"].as_str().unwrap());
                let result = input::split_block(&rlp)
                    .map_err(|e| E::MalformedBody {
                        number: 0,
                        reason: e.to_string(),
                    })
                    .and_then(|(header, body)| {
                        let data = BlockData {
                            header,
                            body: Some(body),
                            ..Default::default()
                        };
                        v.validate_block(&data, Some(&head))
                    });
                match (exception, result) {
                    (None, Ok(checked)) => head = checked.header,
                    (None, Err(e)) => panic!("{name} block {i}: valid block rejected: {e}"),
                    (Some(x), Ok(_)) if NEEDS_EXECUTION.contains(&x) => {}
                    (Some(x), Ok(_)) => panic!("{name} block {i}: {x} not detected"),
                    (Some(x), Err(e)) => {
                        if !NEEDS_EXECUTION.contains(&x) {
                            assert!(
                                expected_rule(x)(&e),
                                "{name} block {i}: {x} reported as {e:?}"
                            );
                        }
                        rejected += 1;
                    }
                }
            }
            let last: B256 = test["lastblockhash"].as_str().unwrap().parse().unwrap();
            assert_eq!(head.hash, last, "{name}");
        }
    }
    assert!(rejected >= 15, "{rejected}");
}
