//! Bor (Polygon PoS) consensus parameters.

use super::{ChainSpecError, Hardfork};
use alloy_primitives::Address;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A value that changes at given block numbers (Bor's `{"<block>": value}` maps).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BlockSchedule<T> {
    /// `(from_block, value)`, ascending by block.
    entries: Vec<(u64, T)>,
}

impl<T> BlockSchedule<T> {
    /// Builds a schedule from `(from_block, value)` pairs (any order; a repeated block keeps the
    /// last value).
    pub fn new(entries: impl IntoIterator<Item = (u64, T)>) -> Self {
        let map: BTreeMap<u64, T> = entries.into_iter().collect();
        Self {
            entries: map.into_iter().collect(),
        }
    }

    /// The value in force at `block`: the entry with the largest `from_block <= block`.
    ///
    /// `None` below the first entry. (Bor's `borKeyValueConfigHelper` returns the *last* entry
    /// there; no caller in Bor queries a map below its first key.)
    pub fn get(&self, block: u64) -> Option<&T> {
        let idx = self.entries.partition_point(|(from, _)| *from <= block);
        idx.checked_sub(1).map(|i| &self.entries[i].1)
    }

    /// All `(from_block, value)` entries, ascending.
    pub fn entries(&self) -> &[(u64, T)] {
        &self.entries
    }

    /// Whether the schedule has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Bor consensus parameters (the `bor` section of a Bor `genesis.json`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BorConfig {
    /// Block period in seconds.
    pub period: BlockSchedule<u64>,
    /// Sprint length in blocks (the producer rotates and validators may change at sprint ends).
    pub sprint: BlockSchedule<u64>,
    /// Extra delay in seconds before the first block of a sprint.
    pub producer_delay: BlockSchedule<u64>,
    /// Multiplier for the backup (out-of-turn) producer delay.
    pub backup_multiplier: BlockSchedule<u64>,
    /// Confirmation delay in seconds for state-sync events (Indore).
    pub state_sync_confirmation_delay: BlockSchedule<u64>,
    /// Validator-set genesis contract.
    pub validator_contract: Address,
    /// State-receiver genesis contract.
    pub state_receiver_contract: Address,
    /// Receiver of the burnt base fee (from Jaipur on).
    pub burnt_contract: BlockSchedule<Address>,
    /// Block beneficiary override (Rio: fees go to a fixed coinbase).
    pub coinbase: BlockSchedule<Address>,
}

impl BorConfig {
    /// Block period (seconds) at `block`.
    pub fn period_at(&self, block: u64) -> Option<u64> {
        self.period.get(block).copied()
    }

    /// Sprint length at `block`.
    pub fn sprint_at(&self, block: u64) -> Option<u64> {
        self.sprint.get(block).copied()
    }

    /// Producer delay (seconds) at `block`.
    pub fn producer_delay_at(&self, block: u64) -> Option<u64> {
        self.producer_delay.get(block).copied()
    }

    /// Backup multiplier at `block`.
    pub fn backup_multiplier_at(&self, block: u64) -> Option<u64> {
        self.backup_multiplier.get(block).copied()
    }

    /// Whether `block` starts a sprint (`block % sprint == 0`, Bor's `IsSprintStart`).
    pub fn is_sprint_start(&self, block: u64) -> bool {
        self.sprint_at(block)
            .is_some_and(|s| s != 0 && block.is_multiple_of(s))
    }

    /// Whether `block` ends a sprint: the next block starts one (Bor writes the validator set
    /// into the extra-data of these blocks).
    pub fn is_sprint_end(&self, block: u64) -> bool {
        block
            .checked_add(1)
            .is_some_and(|next| self.is_sprint_start(next))
    }
}

/// Fork blocks and parameters parsed from a `bor` JSON section.
#[derive(Debug)]
pub(crate) struct ParsedBor {
    pub(crate) config: BorConfig,
    pub(crate) forks: Vec<(Hardfork, u64)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBor {
    #[serde(default)]
    period: BTreeMap<String, u64>,
    #[serde(default)]
    producer_delay: BTreeMap<String, u64>,
    #[serde(default)]
    sprint: BTreeMap<String, u64>,
    #[serde(default)]
    backup_multiplier: BTreeMap<String, u64>,
    #[serde(default)]
    state_sync_confirmation_delay: BTreeMap<String, u64>,
    #[serde(default)]
    validator_contract: Option<String>,
    #[serde(default)]
    state_receiver_contract: Option<String>,
    #[serde(default)]
    burnt_contract: BTreeMap<String, String>,
    #[serde(default)]
    coinbase: BTreeMap<String, String>,
    jaipur_block: Option<u64>,
    delhi_block: Option<u64>,
    indore_block: Option<u64>,
    agra_block: Option<u64>,
    napoli_block: Option<u64>,
    ahmedabad_block: Option<u64>,
    bhilai_block: Option<u64>,
    rio_block: Option<u64>,
    madhugiri_block: Option<u64>,
    madhugiri_pro_block: Option<u64>,
    dandeli_block: Option<u64>,
    lisovo_block: Option<u64>,
    lisovo_pro_block: Option<u64>,
    giugliano_block: Option<u64>,
    chicago_block: Option<u64>,
    valencia_block: Option<u64>,
}

fn invalid(reason: impl Into<String>) -> ChainSpecError {
    ChainSpecError::InvalidBorConfig {
        reason: reason.into(),
    }
}

fn schedule<T: Clone>(
    name: &str,
    map: &BTreeMap<String, T>,
) -> Result<BlockSchedule<T>, ChainSpecError> {
    map.iter()
        .map(|(k, v)| {
            k.trim()
                .parse::<u64>()
                .map(|b| (b, v.clone()))
                .map_err(|_| invalid(format!("`{name}`: key `{k}` is not a block number")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(BlockSchedule::new)
}

fn address(name: &str, s: &str) -> Result<Address, ChainSpecError> {
    s.trim().parse::<Address>().map_err(|e| {
        invalid(format!(
            "`{name}`: `{s}` is not a 20-byte hex address ({e})"
        ))
    })
}

fn address_schedule(
    name: &str,
    map: &BTreeMap<String, String>,
) -> Result<BlockSchedule<Address>, ChainSpecError> {
    let raw = schedule(name, map)?;
    raw.entries
        .iter()
        .map(|(b, s)| address(name, s).map(|a| (*b, a)))
        .collect::<Result<Vec<_>, _>>()
        .map(BlockSchedule::new)
}

/// Parses a `bor` section. `shanghai_block`/`cancun_block` are the chain config's Bor-style
/// `shanghaiBlock`/`cancunBlock`, which define Agra/Napoli when the section does not.
pub(crate) fn parse_bor(
    value: &serde_json::Value,
    shanghai_block: Option<u64>,
    cancun_block: Option<u64>,
) -> Result<ParsedBor, ChainSpecError> {
    let raw: RawBor = serde_json::from_value(value.clone()).map_err(|e| invalid(e.to_string()))?;
    let config = BorConfig {
        period: schedule("period", &raw.period)?,
        sprint: schedule("sprint", &raw.sprint)?,
        producer_delay: schedule("producerDelay", &raw.producer_delay)?,
        backup_multiplier: schedule("backupMultiplier", &raw.backup_multiplier)?,
        state_sync_confirmation_delay: schedule(
            "stateSyncConfirmationDelay",
            &raw.state_sync_confirmation_delay,
        )?,
        validator_contract: raw
            .validator_contract
            .as_deref()
            .map(|s| address("validatorContract", s))
            .transpose()?
            .unwrap_or_default(),
        state_receiver_contract: raw
            .state_receiver_contract
            .as_deref()
            .map(|s| address("stateReceiverContract", s))
            .transpose()?
            .unwrap_or_default(),
        burnt_contract: address_schedule("burntContract", &raw.burnt_contract)?,
        coinbase: address_schedule("coinbase", &raw.coinbase)?,
    };
    if config.period.is_empty() || config.sprint.is_empty() {
        return Err(invalid(
            "`period` and `sprint` must each have at least one entry",
        ));
    }
    if config.sprint.entries().iter().any(|(_, s)| *s == 0) {
        return Err(invalid("`sprint` lengths must be non-zero"));
    }
    let forks = [
        (Hardfork::Jaipur, raw.jaipur_block),
        (Hardfork::Delhi, raw.delhi_block),
        (Hardfork::Indore, raw.indore_block),
        (Hardfork::Agra, raw.agra_block.or(shanghai_block)),
        (Hardfork::Napoli, raw.napoli_block.or(cancun_block)),
        (Hardfork::Ahmedabad, raw.ahmedabad_block),
        (Hardfork::Bhilai, raw.bhilai_block),
        (Hardfork::Rio, raw.rio_block),
        (Hardfork::Madhugiri, raw.madhugiri_block),
        (Hardfork::MadhugiriPro, raw.madhugiri_pro_block),
        (Hardfork::Dandeli, raw.dandeli_block),
        (Hardfork::Lisovo, raw.lisovo_block),
        (Hardfork::LisovoPro, raw.lisovo_pro_block),
        (Hardfork::Giugliano, raw.giugliano_block),
        (Hardfork::Chicago, raw.chicago_block),
        (Hardfork::Valencia, raw.valencia_block),
    ]
    .into_iter()
    .filter_map(|(f, b)| b.map(|b| (f, b)))
    .collect();
    Ok(ParsedBor { config, forks })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn block_schedule_lookup() {
        let s = BlockSchedule::new([(38_189_056, 16u64), (0, 64)]);
        assert_eq!(s.get(0), Some(&64));
        assert_eq!(s.get(38_189_055), Some(&64));
        assert_eq!(s.get(38_189_056), Some(&16));
        assert_eq!(s.get(u64::MAX), Some(&16));
        let late = BlockSchedule::new([(100, 1u64)]);
        assert_eq!(late.get(99), None);
    }

    #[test]
    fn sprint_boundaries() {
        let cfg = BorConfig {
            sprint: BlockSchedule::new([(0, 64), (128, 16)]),
            ..Default::default()
        };
        assert!(cfg.is_sprint_start(0) && cfg.is_sprint_start(64) && !cfg.is_sprint_start(65));
        assert!(cfg.is_sprint_end(63) && cfg.is_sprint_end(127) && cfg.is_sprint_end(143));
        assert!(!cfg.is_sprint_end(128));
    }

    #[test]
    fn parse_section() {
        let v = json!({
            "period": {"0": 2, "80084800": 1},
            "sprint": {"0": 64, "38189056": 16},
            "producerDelay": {"0": 6},
            "backupMultiplier": {"0": 2},
            "validatorContract": "0x0000000000000000000000000000000000001000",
            "stateReceiverContract": "0x0000000000000000000000000000000000001001",
            "burntContract": {"23850000": "0x70bca57f4579f58670ab2d18ef16e02c17553c38"},
            "jaipurBlock": 23850000,
            "blockAlloc": {"1": {}},
            "overrideStateSyncRecords": {"14949120": 8}
        });
        let parsed = parse_bor(&v, Some(50_523_000), None).unwrap();
        assert_eq!(parsed.config.period_at(80_084_800), Some(1));
        assert_eq!(parsed.config.sprint_at(1), Some(64));
        assert_eq!(
            parsed.forks,
            [(Hardfork::Jaipur, 23_850_000), (Hardfork::Agra, 50_523_000)]
        );
    }

    /// The fork fields after Dandeli (names as in Bor's `BorConfig` JSON tags) are read.
    #[test]
    fn parse_forks_after_dandeli() {
        let v = json!({
            "period": {"0": 2},
            "sprint": {"0": 16},
            "dandeliBlock": 31890000,
            "lisovoBlock": 33634700,
            "lisovoProBlock": 34062000,
            "giuglianoBlock": 35573500,
            "chicagoBlock": 38358000,
            "valenciaBlock": 40720000
        });
        let parsed = parse_bor(&v, None, None).unwrap();
        assert_eq!(
            parsed.forks,
            [
                (Hardfork::Dandeli, 31_890_000),
                (Hardfork::Lisovo, 33_634_700),
                (Hardfork::LisovoPro, 34_062_000),
                (Hardfork::Giugliano, 35_573_500),
                (Hardfork::Chicago, 38_358_000),
                (Hardfork::Valencia, 40_720_000),
            ]
        );
    }

    #[test]
    fn parse_errors_are_typed() {
        let bad_key = json!({"period": {"zero": 2}, "sprint": {"0": 16}});
        let err = parse_bor(&bad_key, None, None).unwrap_err();
        assert!(err.to_string().contains("`period`"), "{err}");
        let bad_addr =
            json!({"period": {"0": 2}, "sprint": {"0": 16}, "validatorContract": "0x12"});
        assert!(matches!(
            parse_bor(&bad_addr, None, None),
            Err(ChainSpecError::InvalidBorConfig { .. })
        ));
        let no_sprint = json!({"period": {"0": 2}});
        assert!(parse_bor(&no_sprint, None, None).is_err());
        let wrong_type = json!({"period": {"0": "two"}, "sprint": {"0": 16}});
        assert!(parse_bor(&wrong_type, None, None).is_err());
    }
}
