//! The built-in chains.
//!
//! Sources (facts, not code): geth `params/config.go` and `core/genesis.go` for mainnet and
//! sepolia; Bor `internal/cli/server/chains/{mainnet,amoy}.go`, `builder/files/genesis-*.json`
//! and `core/genesis.go` for polygon and amoy. The genesis allocs are not shipped: each genesis
//! header is stored field by field (with its state root), and the tests check that it hashes to
//! the chain's well-known genesis hash.

use super::bor::{BlockSchedule, BorConfig};
use super::{ChainSpec, ConsensusKind, ForkCondition, ForkSchedule, Hardfork};
use alloy_consensus::Header;
use alloy_primitives::{Address, B64, B256, Bytes, U256, address, b256, bytes};

/// Ethereum mainnet genesis hash.
pub(crate) const MAINNET_GENESIS_HASH: B256 =
    b256!("d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3");
/// Sepolia genesis hash.
pub(crate) const SEPOLIA_GENESIS_HASH: B256 =
    b256!("25a5cc106eea7138acab33231d7160d69cb777ee0c2c553fcddf5138993e6dd9");
/// Polygon PoS mainnet genesis hash.
pub(crate) const POLYGON_GENESIS_HASH: B256 =
    b256!("a9c28ce2141b56c474f1dc504bee9b01eb1bd7d1a507580d5519d4437a97de1b");
/// Amoy genesis hash.
pub(crate) const AMOY_GENESIS_HASH: B256 =
    b256!("7202b2b53c5a0836e773e319d18922cc756dd67432f9a1f65352b61f4406c697");

/// The embedded devnet `genesis.json`.
pub(crate) const DEVNET_GENESIS_JSON: &str = include_str!("devnet.json");

/// The fields in which built-in genesis headers differ; the rest are those of an empty block.
struct GenesisFields {
    state_root: B256,
    timestamp: u64,
    extra_data: Bytes,
    gas_limit: u64,
    difficulty: u64,
    nonce: u64,
    base_fee: Option<u64>,
}

impl GenesisFields {
    fn header(self) -> Header {
        Header {
            state_root: self.state_root,
            timestamp: self.timestamp,
            extra_data: self.extra_data,
            gas_limit: self.gas_limit,
            difficulty: U256::from(self.difficulty),
            nonce: B64::from(self.nonce),
            base_fee_per_gas: self.base_fee,
            ..Default::default()
        }
    }
}

/// The Ethereum forks every geth chain config lists, by block number.
fn blocks(forks: &[(Hardfork, u64)]) -> impl Iterator<Item = (Hardfork, ForkCondition)> + '_ {
    forks.iter().map(|(f, b)| (*f, ForkCondition::Block(*b)))
}

fn times(forks: &[(Hardfork, u64)]) -> impl Iterator<Item = (Hardfork, ForkCondition)> + '_ {
    forks
        .iter()
        .map(|(f, t)| (*f, ForkCondition::Timestamp(*t)))
}

/// Ethereum mainnet. geth `MainnetChainConfig` / `DefaultGenesisBlock`.
pub(crate) fn mainnet() -> ChainSpec {
    let ttd = U256::from(58_750_000_000_000_000_000_000u128);
    let forks = ForkSchedule::new(
        blocks(&[
            (Hardfork::Frontier, 0),
            (Hardfork::Homestead, 1_150_000),
            (Hardfork::Dao, 1_920_000),
            (Hardfork::Tangerine, 2_463_000),
            (Hardfork::SpuriousDragon, 2_675_000),
            (Hardfork::Byzantium, 4_370_000),
            (Hardfork::Constantinople, 7_280_000),
            (Hardfork::Petersburg, 7_280_000),
            (Hardfork::Istanbul, 9_069_000),
            (Hardfork::MuirGlacier, 9_200_000),
            (Hardfork::Berlin, 12_244_000),
            (Hardfork::London, 12_965_000),
            (Hardfork::ArrowGlacier, 13_773_000),
            (Hardfork::GrayGlacier, 15_050_000),
        ])
        .chain([(
            Hardfork::Paris,
            // First PoS block 15537394 (its parent 15537393 is the last PoW block).
            ForkCondition::Ttd {
                total_difficulty: ttd,
                activation_block: Some(15_537_394),
                fork_id_block: None,
            },
        )])
        .chain(times(&[
            (Hardfork::Shanghai, 1_681_338_455),
            (Hardfork::Cancun, 1_710_338_135),
            (Hardfork::Prague, 1_746_612_311),
            (Hardfork::Osaka, 1_764_798_551),
            (Hardfork::Bpo1, 1_765_290_071),
            (Hardfork::Bpo2, 1_767_747_671),
        ])),
    )
    .with_dao_fork_support(true);
    ChainSpec {
        name: "mainnet".into(),
        chain_id: 1,
        network_id: 1,
        genesis_header: GenesisFields {
            state_root: b256!("d7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544"),
            timestamp: 0,
            extra_data: bytes!("11bbe8db4e347b4e8c937c1c8370e4b5ed33adb3db69cbdb7a38e1e50b1b82fa"),
            gas_limit: 5_000,
            difficulty: 17_179_869_184,
            nonce: 66,
            base_fee: None,
        }
        .header(),
        genesis_hash: MAINNET_GENESIS_HASH,
        forks,
        consensus: ConsensusKind::Ethash {
            terminal_total_difficulty: Some(ttd),
            merge_block: Some(15_537_394),
        },
    }
}

/// Sepolia. geth `SepoliaChainConfig` / `DefaultSepoliaGenesisBlock`.
pub(crate) fn sepolia() -> ChainSpec {
    let ttd = U256::from(17_000_000_000_000_000u64);
    let forks = ForkSchedule::new(
        blocks(&[
            (Hardfork::Frontier, 0),
            (Hardfork::Homestead, 0),
            (Hardfork::Tangerine, 0),
            (Hardfork::SpuriousDragon, 0),
            (Hardfork::Byzantium, 0),
            (Hardfork::Constantinople, 0),
            (Hardfork::Petersburg, 0),
            (Hardfork::Istanbul, 0),
            (Hardfork::MuirGlacier, 0),
            (Hardfork::Berlin, 0),
            (Hardfork::London, 0),
        ])
        .chain([(
            Hardfork::Paris,
            // First PoS block 1450409; `mergeNetsplitBlock` 1735371 is what enters the fork id.
            ForkCondition::Ttd {
                total_difficulty: ttd,
                activation_block: Some(1_450_409),
                fork_id_block: Some(1_735_371),
            },
        )])
        .chain(times(&[
            (Hardfork::Shanghai, 1_677_557_088),
            (Hardfork::Cancun, 1_706_655_072),
            (Hardfork::Prague, 1_741_159_776),
            (Hardfork::Osaka, 1_760_427_360),
            (Hardfork::Bpo1, 1_761_017_184),
            (Hardfork::Bpo2, 1_761_607_008),
        ])),
    );
    ChainSpec {
        name: "sepolia".into(),
        chain_id: 11_155_111,
        network_id: 11_155_111,
        genesis_header: GenesisFields {
            state_root: b256!("5eb6e371a698b8d68f665192350ffcecbbbf322916f4b51bd79bb6887da3f494"),
            timestamp: 1_633_267_481,
            extra_data: Bytes::from_static(b"Sepolia, Athens, Attica, Greece!"),
            gas_limit: 30_000_000,
            difficulty: 0x20000,
            nonce: 0,
            // London at genesis: geth's default initial base fee.
            base_fee: Some(super::INITIAL_BASE_FEE),
        }
        .header(),
        genesis_hash: SEPOLIA_GENESIS_HASH,
        forks,
        consensus: ConsensusKind::Ethash {
            terminal_total_difficulty: Some(ttd),
            merge_block: Some(1_450_409),
        },
    }
}

const VALIDATOR_CONTRACT: Address = address!("0000000000000000000000000000000000001000");
const STATE_RECEIVER_CONTRACT: Address = address!("0000000000000000000000000000000000001001");
/// Rio's fixed block beneficiary on both Polygon chains.
const RIO_COINBASE: Address = address!("7Ee41D8A25641000661B1EF5E6AE8A00400466B0");

/// Polygon PoS mainnet. Bor `internal/cli/server/chains/mainnet.go`, `DefaultBorMainnetGenesisBlock`.
pub(crate) fn polygon() -> ChainSpec {
    let forks = ForkSchedule::new(blocks(&[
        (Hardfork::Frontier, 0),
        (Hardfork::Homestead, 0),
        (Hardfork::Tangerine, 0),
        (Hardfork::SpuriousDragon, 0),
        (Hardfork::Byzantium, 0),
        (Hardfork::Constantinople, 0),
        (Hardfork::Petersburg, 0),
        (Hardfork::Istanbul, 3_395_000),
        (Hardfork::MuirGlacier, 3_395_000),
        (Hardfork::Berlin, 14_750_000),
        (Hardfork::London, 23_850_000),
        (Hardfork::Shanghai, 50_523_000),
        (Hardfork::Cancun, 54_876_000),
        (Hardfork::Prague, 73_440_256),
        (Hardfork::Jaipur, 23_850_000),
        (Hardfork::Delhi, 38_189_056),
        (Hardfork::Indore, 44_934_656),
        (Hardfork::Agra, 50_523_000),
        (Hardfork::Napoli, 54_876_000),
        (Hardfork::Ahmedabad, 62_278_656),
        (Hardfork::Bhilai, 73_440_256),
        (Hardfork::Rio, 77_414_656),
        (Hardfork::Madhugiri, 80_084_800),
        (Hardfork::MadhugiriPro, 80_084_800),
        (Hardfork::Dandeli, 81_424_000),
        // The forks after Dandeli. Bor's `internal/cli/server/chains/mainnet.go` in the newest
        // stored version (0xPolygon/bor @ 18358b909c701d49da62d7c6505de3e162959f67) still has
        // `LisovoBlock: nil`; the values below are Polygon's own client config for the same
        // chain, 0xPolygon/erigon `polygon/chain/chainspecs/bor-mainnet.json`
        // @ 231d67e50b737b94a819652664eb6b9a3676481c (`lisovoBlock`, `lisovoProBlock`,
        // `giuglianoBlock`, `chicagoBlock`), and the Bor PRs that set them:
        // Lisovo / Lisovo Pro 83,756,500 (0xPolygon/bor#2064).
        (Hardfork::Lisovo, 83_756_500),
        (Hardfork::LisovoPro, 83_756_500),
        // Giugliano 85,268,500: 0xPolygon/bor#2164 ("added giugliano block for mainnet", cited
        // by 0xPolygon/erigon#140 with the polygonscan countdown for 85268500). The PIP-84 text
        // names 85,245,000, an earlier plan that no client config uses.
        (Hardfork::Giugliano, 85_268_500),
        // Chicago 87,218,600: 0xPolygon/bor#2219 and PIP-88.
        (Hardfork::Chicago, 87_218_600),
    ]));
    let bor = BorConfig {
        period: BlockSchedule::new([(0, 2), (80_084_800, 1)]),
        sprint: BlockSchedule::new([(0, 64), (38_189_056, 16)]),
        producer_delay: BlockSchedule::new([(0, 6), (38_189_056, 4)]),
        backup_multiplier: BlockSchedule::new([(0, 2)]),
        state_sync_confirmation_delay: BlockSchedule::new([(44_934_656, 128)]),
        validator_contract: VALIDATOR_CONTRACT,
        state_receiver_contract: STATE_RECEIVER_CONTRACT,
        burnt_contract: BlockSchedule::new([
            (
                23_850_000,
                address!("70bca57f4579f58670ab2d18ef16e02c17553c38"),
            ),
            (
                50_523_000,
                address!("7A8ed27F4C30512326878652d20fC85727401854"),
            ),
            // From Lisovo (0xPolygon/erigon `bor-mainnet.json` @ 231d67e5, `burntContract`).
            (
                83_756_500,
                address!("3ef57def668054dd750bd260526105c4eeef104f"),
            ),
        ]),
        coinbase: BlockSchedule::new([(0, Address::ZERO), (77_414_656, RIO_COINBASE)]),
    };
    ChainSpec {
        name: "polygon".into(),
        chain_id: 137,
        network_id: 137,
        genesis_header: GenesisFields {
            state_root: b256!("654f28d19b44239d1012f27038f1f71b3d4465dc415a382fb2b7009cba1527c8"),
            timestamp: 1_590_824_836,
            extra_data: Bytes::new(),
            gas_limit: 10_000_000,
            difficulty: 1,
            nonce: 0,
            base_fee: None,
        }
        .header(),
        genesis_hash: POLYGON_GENESIS_HASH,
        forks,
        consensus: ConsensusKind::Bor(bor),
    }
}

/// Polygon Amoy testnet. Bor `internal/cli/server/chains/amoy.go`, `builder/files/genesis-amoy.json`.
pub(crate) fn amoy() -> ChainSpec {
    let forks = ForkSchedule::new(blocks(&[
        (Hardfork::Frontier, 0),
        (Hardfork::Homestead, 0),
        (Hardfork::Tangerine, 0),
        (Hardfork::SpuriousDragon, 0),
        (Hardfork::Byzantium, 0),
        (Hardfork::Constantinople, 0),
        (Hardfork::Petersburg, 0),
        (Hardfork::Istanbul, 0),
        (Hardfork::MuirGlacier, 0),
        (Hardfork::Berlin, 0),
        (Hardfork::London, 73_100),
        (Hardfork::Shanghai, 73_100),
        (Hardfork::Cancun, 5_423_600),
        (Hardfork::Prague, 22_765_056),
        (Hardfork::Jaipur, 73_100),
        (Hardfork::Delhi, 73_100),
        (Hardfork::Indore, 73_100),
        (Hardfork::Agra, 73_100),
        (Hardfork::Napoli, 5_423_600),
        (Hardfork::Ahmedabad, 11_865_856),
        (Hardfork::Bhilai, 22_765_056),
        (Hardfork::Rio, 26_272_256),
        // The forks after Rio. Bor's `internal/cli/server/chains/amoy.go` in the newest stored
        // version (0xPolygon/bor @ 0dcc55a8cb9322bd393e6e67750cf39214a2e636) stops at Rio; the
        // values are Polygon's own client config for Amoy, 0xPolygon/erigon
        // `polygon/chain/chainspecs/amoy.json` @ 0c73526cff80ff6f7d44d290224928f4a1444608
        // (Madhugiri 28,899,616 is also PIP-76's, Giugliano 35,573,500 0xPolygon/bor#2141's and
        // PIP-84's, Chicago 38,358,000 0xPolygon/bor#2219's and PIP-88's).
        (Hardfork::Madhugiri, 28_899_616),
        (Hardfork::MadhugiriPro, 29_287_400),
        (Hardfork::Dandeli, 31_890_000),
        (Hardfork::Lisovo, 33_634_700),
        (Hardfork::LisovoPro, 34_062_000),
        (Hardfork::Giugliano, 35_573_500),
        (Hardfork::Chicago, 38_358_000),
        (Hardfork::Valencia, 40_720_000),
    ]));
    let bor = BorConfig {
        // 1-second blocks from Madhugiri (same amoy.json, `period`).
        period: BlockSchedule::new([(0, 2), (28_899_616, 1)]),
        sprint: BlockSchedule::new([(0, 16)]),
        producer_delay: BlockSchedule::new([(0, 4)]),
        backup_multiplier: BlockSchedule::new([(0, 2)]),
        state_sync_confirmation_delay: BlockSchedule::new([(0, 128)]),
        validator_contract: VALIDATOR_CONTRACT,
        state_receiver_contract: STATE_RECEIVER_CONTRACT,
        burnt_contract: BlockSchedule::new([
            (0, address!("000000000000000000000000000000000000dead")),
            (73_100, address!("eCDD77cE6f146cCf5dab707941d318Bd50eeD2C9")),
        ]),
        coinbase: BlockSchedule::new([(0, Address::ZERO), (26_272_256, RIO_COINBASE)]),
    };
    ChainSpec {
        name: "amoy".into(),
        chain_id: 80_002,
        network_id: 80_002,
        genesis_header: GenesisFields {
            state_root: AMOY_STATE_ROOT,
            timestamp: 1_700_225_065,
            extra_data: Bytes::new(),
            gas_limit: 10_000_000,
            difficulty: 1,
            nonce: 0,
            base_fee: None,
        }
        .header(),
        genesis_hash: AMOY_GENESIS_HASH,
        forks,
        consensus: ConsensusKind::Bor(bor),
    }
}

/// State root of the Amoy genesis alloc (`0x…1000` validator set, `0x…1001` state receiver,
/// `0x…1010` MRC20 and one funded account), computed from Bor's `builder/files/genesis-amoy.json`;
/// the genesis-hash test confirms it.
const AMOY_STATE_ROOT: B256 =
    b256!("3cfe247720ff1d26dfc97de26f6be0047b93d6fe47f77f4f36beff9fabe68cce");

/// The local devnet, from the embedded genesis.
pub(crate) fn devnet() -> ChainSpec {
    ChainSpec::from_genesis_json(DEVNET_GENESIS_JSON)
        .expect("embedded devnet.json is valid (checked by tests)")
        .with_name("devnet")
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_eips::eip2124::{ForkHash, ForkId};

    fn id(hash: u32, next: u64) -> ForkId {
        ForkId {
            hash: ForkHash(hash.to_be_bytes()),
            next,
        }
    }

    #[test]
    fn builtin_genesis_headers_hash_to_the_known_genesis_hashes() {
        for spec in [mainnet(), sepolia(), polygon(), amoy(), devnet()] {
            assert_eq!(
                spec.genesis_header.hash_slow(),
                spec.genesis_hash,
                "{}",
                spec.name
            );
            assert_eq!(spec.genesis_header.number, 0);
        }
        assert_eq!(mainnet().genesis_hash, MAINNET_GENESIS_HASH);
        assert_eq!(sepolia().genesis_hash, SEPOLIA_GENESIS_HASH);
        assert_eq!(polygon().genesis_hash, POLYGON_GENESIS_HASH);
        assert_eq!(amoy().genesis_hash, AMOY_GENESIS_HASH);
    }

    /// EIP-2124 / geth `core/forkid` TestCreation vectors for mainnet.
    #[test]
    fn mainnet_fork_ids() {
        let spec = mainnet();
        let cases: &[(u64, u64, u32, u64)] = &[
            (0, 0, 0xfc64ec04, 1_150_000),
            (1_149_999, 0, 0xfc64ec04, 1_150_000),
            (1_150_000, 0, 0x97c2c34c, 1_920_000),
            (1_919_999, 0, 0x97c2c34c, 1_920_000),
            (1_920_000, 0, 0x91d1f948, 2_463_000),
            (2_462_999, 0, 0x91d1f948, 2_463_000),
            (2_463_000, 0, 0x7a64da13, 2_675_000),
            (2_674_999, 0, 0x7a64da13, 2_675_000),
            (2_675_000, 0, 0x3edd5b10, 4_370_000),
            (4_369_999, 0, 0x3edd5b10, 4_370_000),
            (4_370_000, 0, 0xa00bc324, 7_280_000),
            (7_279_999, 0, 0xa00bc324, 7_280_000),
            (7_280_000, 0, 0x668db0af, 9_069_000),
            (9_068_999, 0, 0x668db0af, 9_069_000),
            (9_069_000, 0, 0x879d6e30, 9_200_000),
            (9_199_999, 0, 0x879d6e30, 9_200_000),
            (9_200_000, 0, 0xe029e991, 12_244_000),
            (12_243_999, 0, 0xe029e991, 12_244_000),
            (12_244_000, 0, 0x0eb440f6, 12_965_000),
            (12_964_999, 0, 0x0eb440f6, 12_965_000),
            (12_965_000, 0, 0xb715077d, 13_773_000),
            (13_772_999, 0, 0xb715077d, 13_773_000),
            (13_773_000, 0, 0x20c327fc, 15_050_000),
            (15_049_999, 0, 0x20c327fc, 15_050_000),
            (15_050_000, 0, 0xf0afd0e3, 1_681_338_455),
            (20_000_000, 1_681_338_454, 0xf0afd0e3, 1_681_338_455),
            (20_000_000, 1_681_338_455, 0xdce96c2d, 1_710_338_135),
            (30_000_000, 1_710_338_134, 0xdce96c2d, 1_710_338_135),
            (30_000_000, 1_710_338_135, 0x9f3d2254, 1_746_612_311),
            (30_000_000, 1_746_022_486, 0x9f3d2254, 1_746_612_311),
            (30_000_000, 1_746_612_311, 0xc376cf8b, 1_764_798_551),
            (30_000_000, 1_764_798_550, 0xc376cf8b, 1_764_798_551),
            (30_000_000, 1_764_798_551, 0x5167e2a6, 1_765_290_071),
            (30_000_000, 1_765_290_070, 0x5167e2a6, 1_765_290_071),
            (30_000_000, 1_765_290_071, 0xcba2a1c0, 1_767_747_671),
            (30_000_000, 1_767_747_670, 0xcba2a1c0, 1_767_747_671),
            (30_000_000, 1_767_747_671, 0x07c9462e, 0),
            (50_000_000, 2_000_000_000, 0x07c9462e, 0),
        ];
        for &(head, time, hash, next) in cases {
            assert_eq!(
                spec.fork_id(head, time),
                id(hash, next),
                "head {head}, time {time}"
            );
        }
    }

    /// Sepolia vectors (erigon `execution/forkid` tests, which stop at Prague; after Prague the
    /// next fork is Osaka here).
    #[test]
    fn sepolia_fork_ids() {
        let spec = sepolia();
        let cases: &[(u64, u64, u32, u64)] = &[
            (0, 1_633_267_481, 0xfe3366e7, 1_735_371),
            (1_735_370, 1_661_130_096, 0xfe3366e7, 1_735_371),
            (1_735_371, 1_661_130_108, 0xb96cbd13, 1_677_557_088),
            (2_990_907, 1_677_557_076, 0xb96cbd13, 1_677_557_088),
            (2_990_908, 1_677_557_088, 0xf7f9bc08, 1_706_655_072),
            (5_187_022, 1_706_655_060, 0xf7f9bc08, 1_706_655_072),
            (5_187_023, 1_706_655_072, 0x88cf81d9, 1_741_159_776),
            (7_844_466, 1_741_159_764, 0x88cf81d9, 1_741_159_776),
            (7_844_467, 1_741_159_776, 0xed88b5fd, 1_760_427_360),
        ];
        for &(head, time, hash, next) in cases {
            assert_eq!(
                spec.fork_id(head, time),
                id(hash, next),
                "head {head}, time {time}"
            );
        }
        assert_eq!(spec.fork_id(12_000_000, 2_000_000_000).next, 0);
        // The actual merge block is not part of the fork id; the netsplit block is.
        assert_eq!(
            spec.fork_id(1_450_409, 1_657_000_000),
            id(0xfe3366e7, 1_735_371)
        );
    }

    /// Polygon fork ids as announced by Bor nodes (polygon-cli `p2p sensor` docs: the default
    /// `--fork-id F097BC13` and `22d523b2` for mainnet, `8b7e4175` for Amoy). They show that only
    /// the Ethereum forks (Bor's `shanghaiBlock`/`cancunBlock`/`pragueBlock` included) count.
    #[test]
    fn polygon_fork_ids() {
        let polygon = polygon();
        assert_eq!(polygon.fork_id(60_000_000, 0), id(0xf097bc13, 73_440_256));
        assert_eq!(polygon.fork_id(80_000_000, 0), id(0x22d523b2, 0));
        assert_eq!(polygon.fork_id(0, 0).next, 3_395_000);
        let amoy = amoy();
        assert_eq!(amoy.fork_id(30_000_000, 0), id(0x8b7e4175, 0));
        assert_eq!(amoy.fork_id(0, 0).next, 73_100);
    }

    #[test]
    fn mainnet_schedule_queries() {
        let spec = mainnet();
        assert!(!spec.is_active(Hardfork::Homestead, 1_149_999, 0));
        assert!(spec.is_active(Hardfork::Homestead, 1_150_000, 0));
        assert!(spec.is_active(Hardfork::Paris, 15_537_394, 0));
        assert!(!spec.is_active(Hardfork::Paris, 15_537_393, 0));
        assert!(spec.is_active(Hardfork::Shanghai, 17_034_870, 1_681_338_479));
        assert!(!spec.is_active(Hardfork::Shanghai, 17_034_869, 1_681_338_443));
        assert!(spec.is_active(Hardfork::Cancun, 19_426_587, 1_710_338_135));
        assert!(spec.is_active(Hardfork::Prague, 22_431_084, 1_746_612_311));
        assert!(!spec.is_active(Hardfork::Jaipur, u64::MAX, u64::MAX));
        assert!(spec.forks.dao_fork_support);
        assert_eq!(
            spec.terminal_total_difficulty(),
            Some(U256::from(58_750_000_000_000_000_000_000u128))
        );
        let order: Vec<_> = spec.forks.iter().map(|(f, _)| f).collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(
            order, sorted,
            "mainnet activation order is declaration order"
        );
    }

    #[test]
    fn polygon_schedule_queries() {
        let spec = polygon();
        let bor = spec.bor_config().unwrap();
        assert_eq!(bor.sprint_at(38_189_055), Some(64));
        assert_eq!(bor.sprint_at(38_189_056), Some(16));
        assert_eq!(bor.period_at(80_084_799), Some(2));
        assert_eq!(bor.period_at(80_084_800), Some(1));
        assert_eq!(bor.producer_delay_at(0), Some(6));
        assert_eq!(bor.burnt_contract.get(23_849_999), None);
        assert_eq!(bor.coinbase.get(77_414_656), Some(&RIO_COINBASE));
        assert!(spec.is_active(Hardfork::London, 23_850_000, 0));
        assert!(spec.is_active(Hardfork::Jaipur, 23_850_000, 0));
        assert!(!spec.is_active(Hardfork::Delhi, 38_189_055, 0));
        assert!(spec.is_active(Hardfork::Agra, 50_523_000, 0));
        assert!(spec.is_active(Hardfork::Shanghai, 50_523_000, 0));
        assert!(!spec.is_active(Hardfork::Shanghai, 50_522_999, u64::MAX));
        assert!(!spec.is_active(Hardfork::Paris, u64::MAX, u64::MAX));
        assert!(spec.is_bor() && amoy().is_bor() && devnet().is_bor() && !mainnet().is_bor());
    }

    /// Bor's own Amoy genesis file (excerpt, see tests/fixtures/chain/PROVENANCE.md) through the
    /// generic genesis.json path: the computed genesis hash is Amoy's, and the schedule and Bor
    /// parameters equal the built-in spec's.
    #[test]
    fn amoy_genesis_file_matches_builtin() {
        let json = include_str!("../../../../tests/fixtures/chain/genesis-amoy-excerpt.json");
        let from_file = ChainSpec::from_genesis_json(json)
            .unwrap()
            .with_name("amoy");
        let builtin = amoy();
        assert_eq!(from_file.genesis_hash, AMOY_GENESIS_HASH);
        assert_eq!(from_file.genesis_header, builtin.genesis_header);
        assert_eq!(from_file.genesis_header.state_root, AMOY_STATE_ROOT);
        assert_eq!(
            (from_file.chain_id, from_file.network_id),
            (builtin.chain_id, builtin.network_id)
        );
        // The excerpt is Bor's file as of Rio: every fork it lists has the built-in condition,
        // and the built-in spec adds exactly the forks after Rio.
        for (fork, condition) in from_file.forks.iter() {
            assert_eq!(builtin.fork_condition(fork), condition, "{fork}");
        }
        let later: Vec<_> = builtin
            .forks
            .iter()
            .filter(|(f, _)| !from_file.fork_condition(*f).is_scheduled())
            .map(|(f, _)| f)
            .collect();
        assert_eq!(
            later,
            [
                Hardfork::Madhugiri,
                Hardfork::MadhugiriPro,
                Hardfork::Dandeli,
                Hardfork::Lisovo,
                Hardfork::LisovoPro,
                Hardfork::Giugliano,
                Hardfork::Chicago,
                Hardfork::Valencia,
            ]
        );
        // Bor parameters: equal but for the 1-second period from Madhugiri.
        let (ConsensusKind::Bor(mut file_bor), ConsensusKind::Bor(builtin_bor)) =
            (from_file.consensus.clone(), builtin.consensus.clone())
        else {
            panic!("both are Bor chains");
        };
        assert_eq!(builtin_bor.period_at(28_899_616), Some(1));
        assert_eq!(file_bor.period_at(28_899_616), Some(2));
        file_bor.period = builtin_bor.period.clone();
        assert_eq!(file_bor, builtin_bor);
    }

    /// The forks after Dandeli on both Polygon chains, at their blocks (see the comments in
    /// [`polygon`] and [`amoy`] for the sources), and the fork ids they leave alone.
    #[test]
    fn polygon_forks_after_dandeli() {
        let polygon = polygon();
        for (fork, block) in [
            (Hardfork::Lisovo, 83_756_500),
            (Hardfork::LisovoPro, 83_756_500),
            (Hardfork::Giugliano, 85_268_500),
            (Hardfork::Chicago, 87_218_600),
        ] {
            assert_eq!(polygon.fork_condition(fork), ForkCondition::Block(block));
            assert!(!polygon.is_active(fork, block - 1, u64::MAX), "{fork}");
            assert!(polygon.is_active(fork, block, 0), "{fork}");
        }
        assert!(!polygon.fork_condition(Hardfork::Valencia).is_scheduled());
        let bor = polygon.bor_config().unwrap();
        assert_eq!(
            bor.burnt_contract.get(83_756_500),
            Some(&address!("3ef57def668054dd750bd260526105c4eeef104f"))
        );
        assert_eq!(
            bor.burnt_contract.get(83_756_499),
            Some(&address!("7A8ed27F4C30512326878652d20fC85727401854"))
        );
        let amoy = amoy();
        for (fork, block) in [
            (Hardfork::Madhugiri, 28_899_616),
            (Hardfork::MadhugiriPro, 29_287_400),
            (Hardfork::Dandeli, 31_890_000),
            (Hardfork::Lisovo, 33_634_700),
            (Hardfork::LisovoPro, 34_062_000),
            (Hardfork::Giugliano, 35_573_500),
            (Hardfork::Chicago, 38_358_000),
            (Hardfork::Valencia, 40_720_000),
        ] {
            assert_eq!(amoy.fork_condition(fork), ForkCondition::Block(block));
        }
        // Bor's fork id only checksums the top-level chain config's `*Block` fields; its own
        // forks live in the `bor` section (Bor `core/forkid/forkid.go`, `gatherForks`), so the
        // announced ids stay those of Prague.
        assert_eq!(polygon.fork_id(90_000_000, 0), id(0x22d523b2, 0));
        assert_eq!(amoy.fork_id(41_000_000, 0), id(0x8b7e4175, 0));
    }

    #[test]
    fn devnet_round_trips() {
        let spec = devnet();
        assert_eq!(spec.name, "devnet");
        assert_eq!(spec.chain_id, 1337);
        // Re-parsing the same JSON gives the same spec (and the same computed hash).
        let again = ChainSpec::from_genesis_json(DEVNET_GENESIS_JSON)
            .unwrap()
            .with_name("devnet");
        assert_eq!(again, spec);
        // Re-serialising through alloy's Genesis keeps the hash.
        let genesis: alloy_genesis::Genesis = serde_json::from_str(DEVNET_GENESIS_JSON).unwrap();
        let mut value = serde_json::to_value(&genesis).unwrap();
        let raw: serde_json::Value = serde_json::from_str(DEVNET_GENESIS_JSON).unwrap();
        value["config"] = raw["config"].clone();
        value["difficulty"] = raw["difficulty"].clone();
        let reparsed = ChainSpec::from_genesis_json(&value.to_string()).unwrap();
        assert_eq!(reparsed.genesis_hash, spec.genesis_hash);
        // Fork-dependent genesis fields: London, Shanghai and Cancun at 0, Bor (no requests hash).
        let h = &spec.genesis_header;
        assert_eq!(h.base_fee_per_gas, Some(super::super::INITIAL_BASE_FEE));
        assert_eq!(h.withdrawals_root, Some(alloy_trie::EMPTY_ROOT_HASH));
        assert_eq!((h.blob_gas_used, h.excess_blob_gas), (Some(0), Some(0)));
        assert_eq!(h.parent_beacon_block_root, Some(B256::ZERO));
        assert_eq!(h.requests_hash, None);
        assert_ne!(h.state_root, alloy_trie::EMPTY_ROOT_HASH);
        for fork in [
            Hardfork::Cancun,
            Hardfork::Napoli,
            Hardfork::Agra,
            Hardfork::Ahmedabad,
        ] {
            assert!(spec.is_active(fork, 0, 0), "{fork}");
        }
        assert!(!spec.is_active(Hardfork::Prague, u64::MAX, u64::MAX));
        let bor = spec.bor_config().unwrap();
        assert_eq!((bor.period_at(0), bor.sprint_at(0)), (Some(1), Some(16)));
        // All forks at genesis: the fork id is the bare genesis checksum.
        assert_eq!(spec.fork_id(100, 0).next, 0);
        assert_eq!(spec.fork_id(0, 0).hash, ForkHash::from(spec.genesis_hash));
    }
}
