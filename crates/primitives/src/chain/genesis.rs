//! Chain specs from geth-format `genesis.json` files.
//!
//! The genesis header is built the way geth's `Genesis.ToBlock` (and Bor's fork of it) does: the
//! state root is the secure Merkle-Patricia root of the `alloc`, and the fork-dependent header
//! fields appear when their fork is active at the genesis block.

use super::bor::parse_bor;
use super::{
    ChainSpec, ChainSpecError, ConsensusKind, ForkCondition, ForkFilterKey, ForkSchedule, Hardfork,
};
use alloy_consensus::Header;
use alloy_consensus::constants::{EMPTY_OMMER_ROOT_HASH, EMPTY_WITHDRAWALS};
use alloy_eips::eip7685::EMPTY_REQUESTS_HASH;
use alloy_genesis::{ChainConfig, Genesis};
use alloy_primitives::{B64, B256, Bloom, U256};
use alloy_trie::EMPTY_ROOT_HASH;
use serde_json::Value;

/// geth `params.GenesisGasLimit`: the gas limit of a genesis that does not set one.
pub const GENESIS_GAS_LIMIT: u64 = 4_712_388;
/// geth `params.GenesisDifficulty`: the difficulty of an Ethash genesis without one.
pub const GENESIS_DIFFICULTY: u64 = 131_072;
/// EIP-1559 `INITIAL_BASE_FEE`: the base fee of a London genesis without `baseFeePerGas`.
pub const INITIAL_BASE_FEE: u64 = 1_000_000_000;

/// State root of a genesis `alloc`: the secure trie over `keccak(address) → rlp(account)` with
/// each account's storage trie over `keccak(slot) → rlp(value)`, zero values omitted.
pub fn genesis_state_root(genesis: &Genesis) -> B256 {
    alloy_trie::root::state_root_ref_unhashed(&genesis.alloc)
}

/// Reads an optional `u64` written as a JSON number, a `0x` hex string or a decimal string.
fn opt_u64(
    obj: &serde_json::Map<String, Value>,
    key: &str,
    ctx: &str,
) -> Result<Option<u64>, ChainSpecError> {
    let Some(v) = obj.get(key) else {
        return Ok(None);
    };
    let invalid = |reason: &str| ChainSpecError::InvalidField {
        field: format!("{ctx}{key}"),
        reason: format!("{reason}, got {v}"),
    };
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| invalid("expected an unsigned 64-bit integer")),
        Value::String(s) => {
            let s = s.trim();
            let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some("") => Ok(0),
                Some(hex) => u64::from_str_radix(hex, 16),
                None => s.parse::<u64>(),
            };
            parsed
                .map(Some)
                .map_err(|_| invalid("expected an unsigned 64-bit integer"))
        }
        _ => Err(invalid("expected a number")),
    }
}

/// Parses a geth-format `genesis.json` into a chain spec named `custom`.
pub(crate) fn spec_from_genesis_json(json: &str) -> Result<ChainSpec, ChainSpecError> {
    let value: Value = serde_json::from_str(json).map_err(|e| ChainSpecError::InvalidJson {
        reason: e.to_string(),
    })?;
    let Some(obj) = value.as_object() else {
        return Err(ChainSpecError::InvalidJson {
            reason: "the top level is not a JSON object".into(),
        });
    };
    let Some(config_value) = obj.get("config") else {
        return Err(ChainSpecError::MissingConfig);
    };
    let Some(config_obj) = config_value.as_object() else {
        return Err(ChainSpecError::InvalidField {
            field: "config".into(),
            reason: format!("expected an object, got {config_value}"),
        });
    };
    if !config_obj.contains_key("chainId") {
        return Err(ChainSpecError::MissingField {
            field: "config.chainId",
        });
    }
    // Parse from the text again (not from `value`) so that errors carry line and column.
    let genesis: Genesis =
        serde_json::from_str(json).map_err(|e| ChainSpecError::InvalidGenesis {
            reason: e.to_string(),
        })?;

    let bor_block = |key: &str| opt_u64(config_obj, key, "config.");
    let shanghai_block = bor_block("shanghaiBlock")?;
    let cancun_block = bor_block("cancunBlock")?;
    let prague_block = bor_block("pragueBlock")?;
    let osaka_block = bor_block("osakaBlock")?;

    let bor = match config_obj.get("bor") {
        Some(Value::Null) | None => None,
        Some(v) => Some(parse_bor(v, shanghai_block, cancun_block)?),
    };
    let forks = fork_schedule(
        &genesis.config,
        [shanghai_block, cancun_block, prague_block, osaka_block],
        bor.as_ref().map(|b| b.forks.as_slice()).unwrap_or_default(),
        genesis.number.unwrap_or(0),
    );
    let consensus = match bor {
        Some(parsed) => ConsensusKind::Bor(parsed.config),
        None => match &genesis.config.clique {
            Some(clique) => ConsensusKind::Clique {
                period: clique.period.unwrap_or(0),
                epoch: clique.epoch.unwrap_or(30_000),
            },
            None => ConsensusKind::Ethash {
                terminal_total_difficulty: genesis.config.terminal_total_difficulty,
                merge_block: forks.condition(Hardfork::Paris).block(),
            },
        },
    };

    let header = genesis_header(
        &genesis,
        obj,
        &forks,
        matches!(consensus, ConsensusKind::Bor(_)),
    )?;
    let chain_id = genesis.config.chain_id;
    Ok(ChainSpec {
        name: "custom".into(),
        chain_id,
        network_id: chain_id,
        genesis_hash: header.hash_slow(),
        genesis_header: header,
        forks,
        consensus,
    })
}

/// The fork schedule of a geth/Bor chain config. `bor_style` holds Bor's block-based
/// `[shanghaiBlock, cancunBlock, pragueBlock, osakaBlock]`, which take precedence over times.
fn fork_schedule(
    c: &ChainConfig,
    bor_style: [Option<u64>; 4],
    bor_forks: &[(Hardfork, u64)],
    genesis_number: u64,
) -> ForkSchedule {
    let block = |b: Option<u64>| b.map_or(ForkCondition::Never, ForkCondition::Block);
    let block_or_time = |b: Option<u64>, t: Option<u64>| match (b, t) {
        (Some(b), _) => ForkCondition::Block(b),
        (None, Some(t)) => ForkCondition::Timestamp(t),
        (None, None) => ForkCondition::Never,
    };
    let time = |t: Option<u64>| t.map_or(ForkCondition::Never, ForkCondition::Timestamp);
    let paris = match (c.terminal_total_difficulty, c.merge_netsplit_block) {
        (Some(ttd), netsplit) => ForkCondition::Ttd {
            total_difficulty: ttd,
            // A zero TTD is reached by the genesis block itself.
            activation_block: ttd.is_zero().then_some(genesis_number),
            fork_id_block: netsplit,
        },
        (None, Some(netsplit)) => ForkCondition::Block(netsplit),
        (None, None) => ForkCondition::Never,
    };
    let [shanghai, cancun, prague, osaka] = bor_style;
    let forks = [
        (Hardfork::Frontier, ForkCondition::Block(0)),
        (Hardfork::Homestead, block(c.homestead_block)),
        (Hardfork::Dao, block(c.dao_fork_block)),
        (Hardfork::Tangerine, block(c.eip150_block)),
        (Hardfork::SpuriousDragon, block(c.eip158_block)),
        (Hardfork::Byzantium, block(c.byzantium_block)),
        (Hardfork::Constantinople, block(c.constantinople_block)),
        // geth: a missing Petersburg block means "together with Constantinople".
        (
            Hardfork::Petersburg,
            block(c.petersburg_block.or(c.constantinople_block)),
        ),
        (Hardfork::Istanbul, block(c.istanbul_block)),
        (Hardfork::MuirGlacier, block(c.muir_glacier_block)),
        (Hardfork::Berlin, block(c.berlin_block)),
        (Hardfork::London, block(c.london_block)),
        (Hardfork::ArrowGlacier, block(c.arrow_glacier_block)),
        (Hardfork::GrayGlacier, block(c.gray_glacier_block)),
        (Hardfork::Paris, paris),
        (Hardfork::Shanghai, block_or_time(shanghai, c.shanghai_time)),
        (Hardfork::Cancun, block_or_time(cancun, c.cancun_time)),
        (Hardfork::Prague, block_or_time(prague, c.prague_time)),
        (Hardfork::Osaka, block_or_time(osaka, c.osaka_time)),
        (Hardfork::Bpo1, time(c.bpo1_time)),
        (Hardfork::Bpo2, time(c.bpo2_time)),
        (Hardfork::Bpo3, time(c.bpo3_time)),
        (Hardfork::Bpo4, time(c.bpo4_time)),
        (Hardfork::Bpo5, time(c.bpo5_time)),
        (Hardfork::Amsterdam, time(c.amsterdam_time)),
    ];
    let bor = bor_forks
        .iter()
        .map(|(f, b)| (*f, ForkCondition::Block(*b)));
    let mut schedule =
        ForkSchedule::new(forks.into_iter().chain(bor)).with_dao_fork_support(c.dao_fork_support);
    // geth checksums every `*Block`/`*Time` field; keep those without a fork of their own.
    if let Some(eip155) = c.eip155_block.filter(|b| Some(*b) != c.eip158_block) {
        schedule
            .extra_fork_id_activations
            .push(ForkFilterKey::Block(eip155));
    }
    if let Some(bogota) = c.bogota_time {
        schedule
            .extra_fork_id_activations
            .push(ForkFilterKey::Time(bogota));
    }
    schedule
}

/// geth `Genesis.toBlockWithRoot` (Bor variant when `is_bor`).
fn genesis_header(
    genesis: &Genesis,
    raw: &serde_json::Map<String, Value>,
    forks: &ForkSchedule,
    is_bor: bool,
) -> Result<Header, ChainSpecError> {
    let number = genesis.number.unwrap_or(0);
    let timestamp = genesis.timestamp;
    let difficulty = if raw.get("difficulty").is_some_and(|v| !v.is_null()) {
        genesis.difficulty
    } else if genesis.config.ethash.is_none() {
        U256::ZERO
    } else if genesis.mix_hash.is_zero() {
        U256::from(GENESIS_DIFFICULTY)
    } else {
        U256::ZERO
    };
    let mut header = Header {
        parent_hash: genesis.parent_hash.unwrap_or_default(),
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: genesis.coinbase,
        state_root: genesis_state_root(genesis),
        transactions_root: EMPTY_ROOT_HASH,
        receipts_root: EMPTY_ROOT_HASH,
        logs_bloom: Bloom::ZERO,
        difficulty,
        number,
        gas_limit: if genesis.gas_limit == 0 {
            GENESIS_GAS_LIMIT
        } else {
            genesis.gas_limit
        },
        gas_used: opt_u64(raw, "gasUsed", "")?.unwrap_or(0),
        timestamp,
        extra_data: genesis.extra_data.clone(),
        mix_hash: genesis.mix_hash,
        nonce: B64::from(genesis.nonce),
        ..Default::default()
    };
    // geth checks London at block 0, not at the genesis number.
    let london = forks.is_active(Hardfork::London, 0, 0);
    if london {
        let base_fee = match genesis.base_fee_per_gas {
            Some(fee) => u64::try_from(fee).map_err(|_| ChainSpecError::InvalidField {
                field: "baseFeePerGas".into(),
                reason: format!("{fee} does not fit in 64 bits"),
            })?,
            None => INITIAL_BASE_FEE,
        };
        header.base_fee_per_gas = Some(base_fee);
    }
    // geth's IsShanghai/IsCancun/IsPrague(num, time) also require London at `num`; Bor's
    // block-based variants do not.
    let active = |fork| {
        forks.is_active(fork, number, timestamp)
            && (is_bor || forks.is_active(Hardfork::London, number, timestamp))
    };
    if active(Hardfork::Shanghai) {
        header.withdrawals_root = Some(EMPTY_WITHDRAWALS);
    }
    if active(Hardfork::Cancun) {
        header.parent_beacon_block_root = Some(B256::ZERO);
        header.excess_blob_gas = Some(genesis.excess_blob_gas.unwrap_or(0));
        header.blob_gas_used = Some(genesis.blob_gas_used.unwrap_or(0));
    } else if let Some(excess) = genesis.excess_blob_gas {
        // geth and Bor keep an explicit pre-Cancun excessBlobGas "for testing purposes".
        header.excess_blob_gas = Some(excess);
    }
    // Bor does not support EIP-7685 requests.
    if active(Hardfork::Prague) && !is_bor {
        header.requests_hash = Some(EMPTY_REQUESTS_HASH);
    }
    if active(Hardfork::Amsterdam) {
        return Err(ChainSpecError::Unsupported {
            reason: "Amsterdam active at genesis (slot number / block access list header fields)"
                .into(),
        });
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{ForkHash, ForkId};
    use alloy_primitives::{Address, B256, address, b256};
    use serde_json::json;

    /// Fixtures copied from ethereum/tests (see tests/fixtures/chain/PROVENANCE.md).
    const FIXTURES: &[(&str, &str)] = &[
        (
            "SimpleTx.json",
            include_str!("../../../../tests/fixtures/chain/SimpleTx.json"),
        ),
        (
            "ExtraData32.json",
            include_str!("../../../../tests/fixtures/chain/ExtraData32.json"),
        ),
        (
            "badBlocks.json",
            include_str!("../../../../tests/fixtures/chain/badBlocks.json"),
        ),
        (
            "wrongParentHash.json",
            include_str!("../../../../tests/fixtures/chain/wrongParentHash.json"),
        ),
        (
            "DifficultyIsZero.json",
            include_str!("../../../../tests/fixtures/chain/DifficultyIsZero.json"),
        ),
    ];

    /// The chain config of an ethereum/tests `network`, as in the tests' own fork definitions.
    fn network_config(network: &str) -> Value {
        assert_eq!(
            network, "Cancun",
            "fixture network not covered by this test"
        );
        json!({
            "chainId": 1,
            "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0, "eip158Block": 0,
            "byzantiumBlock": 0, "constantinopleBlock": 0, "petersburgBlock": 0,
            "istanbulBlock": 0, "berlinBlock": 0, "londonBlock": 0,
            "mergeNetsplitBlock": 0, "terminalTotalDifficulty": 0,
            "shanghaiTime": 0, "cancunTime": 0
        })
    }

    /// Builds a geth `genesis.json` from a BlockchainTest's `pre`, `genesisBlockHeader` and
    /// network.
    fn genesis_json_from_test(test: &Value) -> Value {
        let h = &test["genesisBlockHeader"];
        let mut g = json!({
            "config": network_config(test["network"].as_str().unwrap()),
            "nonce": h["nonce"],
            "timestamp": h["timestamp"],
            "extraData": h["extraData"],
            "gasLimit": h["gasLimit"],
            "difficulty": h["difficulty"],
            "mixHash": h["mixHash"],
            "coinbase": h["coinbase"],
            "number": h["number"],
            "gasUsed": h["gasUsed"],
            "parentHash": h["parentHash"],
            "alloc": test["pre"],
        });
        for key in ["baseFeePerGas", "excessBlobGas", "blobGasUsed"] {
            if let Some(v) = h.get(key) {
                g[key] = v.clone();
            }
        }
        g
    }

    #[test]
    fn ethereum_tests_genesis_hashes() {
        let mut checked = 0;
        for (file, text) in FIXTURES {
            let tests: Value = serde_json::from_str(text).unwrap();
            for (name, test) in tests.as_object().unwrap() {
                let genesis = genesis_json_from_test(test).to_string();
                let spec = ChainSpec::from_genesis_json(&genesis)
                    .unwrap_or_else(|e| panic!("{file}/{name}: {e}"));
                let h = &test["genesisBlockHeader"];
                let want_root: B256 = h["stateRoot"].as_str().unwrap().parse().unwrap();
                let want_hash: B256 = h["hash"].as_str().unwrap().parse().unwrap();
                assert_eq!(
                    spec.genesis_header.state_root, want_root,
                    "{file}/{name}: state root"
                );
                assert_eq!(spec.genesis_hash, want_hash, "{file}/{name}: genesis hash");
                assert_eq!(spec.genesis_header.hash_slow(), want_hash);
                // And the header RLP is the test's genesisRLP's header.
                let rlp = hex::decode(
                    test["genesisRLP"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches("0x"),
                )
                .unwrap();
                let encoded = alloy_rlp::encode(&spec.genesis_header);
                assert!(
                    rlp.windows(encoded.len()).any(|w| w == encoded.as_slice()),
                    "{file}/{name}: RLP"
                );
                checked += 1;
            }
        }
        assert!(checked >= 5, "only {checked} fixtures checked");
    }

    fn minimal(config: Value, extra: Value) -> String {
        let mut g = json!({
            "config": config,
            "difficulty": "0x1",
            "gasLimit": "0x1c9c380",
            "alloc": {}
        });
        for (k, v) in extra.as_object().unwrap() {
            g[k] = v.clone();
        }
        g.to_string()
    }

    #[test]
    fn empty_alloc_has_empty_state_root() {
        let spec =
            ChainSpec::from_genesis_json(&minimal(json!({"chainId": 7}), json!({}))).unwrap();
        assert_eq!(spec.genesis_header.state_root, EMPTY_ROOT_HASH);
        assert_eq!(spec.chain_id, 7);
        assert_eq!(spec.network_id, 7);
        assert_eq!(spec.genesis_header.base_fee_per_gas, None);
        assert_eq!(spec.genesis_header.withdrawals_root, None);
        assert!(matches!(
            spec.consensus,
            ConsensusKind::Ethash {
                terminal_total_difficulty: None,
                ..
            }
        ));
    }

    #[test]
    fn state_root_of_a_single_account() {
        // Hand-computed: one account, secure trie with a single leaf.
        let addr = address!("a94f5374fce5edbc8e2a8697c15331677e6ebf0b");
        let g: Genesis = serde_json::from_value(json!({
            "alloc": {"0xa94f5374fce5edbc8e2a8697c15331677e6ebf0b": {"balance": "0x0de0b6b3a7640000"}}
        }))
        .unwrap();
        let account = alloy_trie::TrieAccount {
            nonce: 0,
            balance: U256::from(10u64).pow(U256::from(18)),
            storage_root: EMPTY_ROOT_HASH,
            code_hash: alloy_trie::KECCAK_EMPTY,
        };
        let mut hb = alloy_trie::HashBuilder::default();
        let key = alloy_trie::Nibbles::unpack(alloy_primitives::keccak256(addr));
        hb.add_leaf(key, &alloy_rlp::encode(account));
        assert_eq!(genesis_state_root(&g), hb.root());
        // Zero storage values are omitted: an all-zero storage map is the empty storage trie.
        let zero_storage: Genesis = serde_json::from_value(json!({
            "alloc": {"0xa94f5374fce5edbc8e2a8697c15331677e6ebf0b": {
                "balance": "0x0de0b6b3a7640000",
                "storage": {"0x01": "0x00"}
            }}
        }))
        .unwrap();
        assert_eq!(genesis_state_root(&zero_storage), genesis_state_root(&g));
    }

    #[test]
    fn fork_dependent_header_fields() {
        let all = json!({
            "chainId": 9, "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0, "eip158Block": 0,
            "byzantiumBlock": 0, "constantinopleBlock": 0, "petersburgBlock": 0, "istanbulBlock": 0,
            "berlinBlock": 0, "londonBlock": 0, "terminalTotalDifficulty": 0,
            "shanghaiTime": 0, "cancunTime": 0, "pragueTime": 0
        });
        let spec = ChainSpec::from_genesis_json(&minimal(all.clone(), json!({}))).unwrap();
        let h = &spec.genesis_header;
        assert_eq!(h.base_fee_per_gas, Some(INITIAL_BASE_FEE));
        assert_eq!(h.withdrawals_root, Some(EMPTY_ROOT_HASH));
        assert_eq!(h.blob_gas_used, Some(0));
        assert_eq!(h.excess_blob_gas, Some(0));
        assert_eq!(h.parent_beacon_block_root, Some(B256::ZERO));
        assert_eq!(
            h.requests_hash,
            Some(b256!(
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            ))
        );
        assert_eq!(spec.consensus.merge_block(), Some(0));

        let spec =
            ChainSpec::from_genesis_json(&minimal(all, json!({"baseFeePerGas": "0x7"}))).unwrap();
        assert_eq!(spec.genesis_header.base_fee_per_gas, Some(7));

        // Shanghai scheduled after genesis: no withdrawals root yet.
        let later = json!({"chainId": 9, "londonBlock": 0, "shanghaiTime": 100});
        let spec =
            ChainSpec::from_genesis_json(&minimal(later, json!({"timestamp": "0x10"}))).unwrap();
        assert_eq!(spec.genesis_header.withdrawals_root, None);
        assert_eq!(spec.genesis_header.base_fee_per_gas, Some(INITIAL_BASE_FEE));
    }

    #[test]
    fn fork_id_counts_every_geth_fork_field() {
        // eip155Block apart from eip158Block is its own fork-id entry, as in geth.
        let config = json!({"chainId": 9, "homesteadBlock": 1, "eip155Block": 2, "eip158Block": 3});
        let spec = ChainSpec::from_genesis_json(&minimal(config, json!({}))).unwrap();
        assert_eq!(spec.fork_id_activations().blocks, [1, 2, 3]);
        let expected = ForkHash::from(spec.genesis_hash) + 1u64 + 2u64;
        assert_eq!(
            spec.fork_id(2, 0),
            ForkId {
                hash: expected,
                next: 3
            }
        );
        // Time forks at or before the genesis timestamp are not part of the fork id.
        let config = json!({"chainId": 9, "londonBlock": 0, "shanghaiTime": 5, "cancunTime": 50});
        let spec =
            ChainSpec::from_genesis_json(&minimal(config, json!({"timestamp": "0x5"}))).unwrap();
        assert_eq!(spec.fork_id_activations().timestamps, [50]);
        assert_eq!(spec.fork_id(0, 5).next, 50);
    }

    #[test]
    fn geth_defaults_for_missing_header_fields() {
        let g = json!({"config": {"chainId": 5, "ethash": {}}, "alloc": {}}).to_string();
        let spec = ChainSpec::from_genesis_json(&g).unwrap();
        assert_eq!(spec.genesis_header.gas_limit, GENESIS_GAS_LIMIT);
        assert_eq!(
            spec.genesis_header.difficulty,
            U256::from(GENESIS_DIFFICULTY)
        );
        let g = json!({"config": {"chainId": 5}, "alloc": {}}).to_string();
        let spec = ChainSpec::from_genesis_json(&g).unwrap();
        assert_eq!(spec.genesis_header.difficulty, U256::ZERO);
    }

    #[test]
    fn bor_style_genesis() {
        let config = json!({
            "chainId": 4242, "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0, "eip158Block": 0,
            "byzantiumBlock": 0, "constantinopleBlock": 0, "petersburgBlock": 0, "istanbulBlock": 0,
            "berlinBlock": 0, "londonBlock": 0, "shanghaiBlock": 0, "cancunBlock": 0, "pragueBlock": 0,
            "bor": {"period": {"0": 1}, "sprint": {"0": 16}, "jaipurBlock": 0, "bhilaiBlock": 0}
        });
        let spec = ChainSpec::from_genesis_json(&minimal(config, json!({}))).unwrap();
        let h = &spec.genesis_header;
        assert!(h.withdrawals_root.is_some() && h.parent_beacon_block_root.is_some());
        assert_eq!(
            h.requests_hash, None,
            "Bor genesis never has a requests hash"
        );
        assert!(spec.is_active(Hardfork::Agra, 0, 0) && spec.is_active(Hardfork::Napoli, 0, 0));
        assert_eq!(
            spec.fork_condition(Hardfork::Shanghai),
            ForkCondition::Block(0)
        );
        assert_eq!(spec.bor_config().unwrap().period_at(5), Some(1));
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        type Check = fn(&ChainSpecError) -> bool;
        let cases: &[(&str, Check)] = &[
            ("{not json", |e| {
                matches!(e, ChainSpecError::InvalidJson { .. })
            }),
            ("[1, 2]", |e| {
                matches!(e, ChainSpecError::InvalidJson { .. })
            }),
            (r#"{"alloc": {}}"#, |e| {
                matches!(e, ChainSpecError::MissingConfig)
            }),
            (r#"{"config": 5}"#, |e| {
                matches!(e, ChainSpecError::InvalidField { .. })
            }),
            (r#"{"config": {}}"#, |e| {
                matches!(
                    e,
                    ChainSpecError::MissingField {
                        field: "config.chainId"
                    }
                )
            }),
            (r#"{"config": {"chainId": 1}, "extraData": "0xzz"}"#, |e| {
                matches!(e, ChainSpecError::InvalidGenesis { .. })
            }),
            (
                r#"{"config": {"chainId": 1}, "alloc": {"0x12": {"balance": "0x1"}}}"#,
                |e| matches!(e, ChainSpecError::InvalidGenesis { .. }),
            ),
            (r#"{"config": {"chainId": 1}, "gasUsed": "0xnope"}"#, |e| {
                matches!(e, ChainSpecError::InvalidField { .. })
            }),
            (r#"{"config": {"chainId": 1, "shanghaiBlock": -3}}"#, |e| {
                matches!(e, ChainSpecError::InvalidField { .. })
            }),
            (
                r#"{"config": {"chainId": 1, "bor": {"period": {"x": 1}, "sprint": {"0": 1}}}}"#,
                |e| matches!(e, ChainSpecError::InvalidBorConfig { .. }),
            ),
            (
                r#"{"config": {"chainId": 1, "londonBlock": 0}, "baseFeePerGas": "0x10000000000000000"}"#,
                |e| matches!(e, ChainSpecError::InvalidField { .. }),
            ),
            (
                r#"{"config": {"chainId": 1, "londonBlock": 0, "amsterdamTime": 0}}"#,
                |e| matches!(e, ChainSpecError::Unsupported { .. }),
            ),
            ("", |e| matches!(e, ChainSpecError::InvalidJson { .. })),
        ];
        for (input, check) in cases {
            let err = ChainSpec::from_genesis_json(input).expect_err(input);
            assert!(check(&err), "{input}: unexpected error {err:?}");
            assert!(!err.to_string().is_empty());
        }
        let err =
            ChainSpec::from_genesis_json(r#"{"config": {"chainId": 1}, "extraData": "0xzz"}"#)
                .unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn genesis_file_errors() {
        let err = ChainSpec::from_genesis_file("/nonexistent/genesis.json").unwrap_err();
        assert!(matches!(err, ChainSpecError::Io { .. }));
        assert!(
            err.to_string().contains("/nonexistent/genesis.json"),
            "{err}"
        );
    }

    #[test]
    fn coinbase_and_parent_hash_are_carried() {
        let spec = ChainSpec::from_genesis_json(&minimal(
            json!({"chainId": 3}),
            json!({
                "coinbase": "0x00000000000000000000000000000000000000ff",
                "parentHash": "0x0101010101010101010101010101010101010101010101010101010101010101"
            }),
        ))
        .unwrap();
        assert_eq!(
            spec.genesis_header.beneficiary,
            Address::with_last_byte(0xff)
        );
        assert_eq!(spec.genesis_header.parent_hash, B256::repeat_byte(1));
    }
}
