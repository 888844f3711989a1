//! Hard forks, their activation conditions and a chain's fork schedule.

use alloy_eips::eip2124::ForkFilterKey;
use alloy_primitives::U256;
use std::fmt;

/// A named protocol upgrade, Ethereum's or Bor's (Polygon PoS).
///
/// The variants are declared in activation order on Ethereum mainnet, then Bor's own forks in
/// their activation order on Polygon mainnet. Bor chains also activate the Ethereum forks, by
/// block number (Bor's `ShanghaiBlock`, `CancunBlock` and `PragueBlock` instead of timestamps).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Hardfork {
    /// Launch rules.
    Frontier,
    /// EIP-2, EIP-7, EIP-8.
    Homestead,
    /// The DAO irregular state change (only meaningful with [`ForkSchedule::dao_fork_support`]).
    Dao,
    /// Tangerine Whistle, EIP-150.
    Tangerine,
    /// Spurious Dragon, EIP-155/158/160/161/170 (geth's `eip158Block`).
    SpuriousDragon,
    /// Byzantium.
    Byzantium,
    /// Constantinople.
    Constantinople,
    /// Petersburg (Constantinople without EIP-1283).
    Petersburg,
    /// Istanbul.
    Istanbul,
    /// Muir Glacier (difficulty bomb delay).
    MuirGlacier,
    /// Berlin.
    Berlin,
    /// London (EIP-1559 base fee).
    London,
    /// Arrow Glacier (difficulty bomb delay).
    ArrowGlacier,
    /// Gray Glacier (difficulty bomb delay).
    GrayGlacier,
    /// Paris, the merge: proof of stake from the terminal total difficulty on.
    Paris,
    /// Shanghai / Capella (withdrawals). On Bor chains: block-based, the same block as Agra.
    Shanghai,
    /// Cancun / Deneb (blobs, beacon root). On Bor chains: block-based, the same block as Napoli.
    Cancun,
    /// Prague / Electra (requests hash). On Bor chains: block-based, the same block as Bhilai.
    Prague,
    /// Osaka / Fulu.
    Osaka,
    /// Blob-parameter-only fork 1.
    Bpo1,
    /// Blob-parameter-only fork 2.
    Bpo2,
    /// Blob-parameter-only fork 3.
    Bpo3,
    /// Blob-parameter-only fork 4.
    Bpo4,
    /// Blob-parameter-only fork 5.
    Bpo5,
    /// Amsterdam / Glamsterdam.
    Amsterdam,
    /// Bor: Jaipur (EIP-1559 on Polygon; same block as London on mainnet).
    Jaipur,
    /// Bor: Delhi (sprint length 64 → 16, producer delay 6 → 4 on mainnet).
    Delhi,
    /// Bor: Indore (state-sync confirmation delay).
    Indore,
    /// Bor: Agra (PIP-28, Shanghai without withdrawals; Bor's `ShanghaiBlock`).
    Agra,
    /// Bor: Napoli (PIP-33, Cancun EIPs; Bor's `CancunBlock`).
    Napoli,
    /// Bor: Ahmedabad.
    Ahmedabad,
    /// Bor: Bhilai (Prague EIPs; Bor's `PragueBlock`).
    Bhilai,
    /// Bor: Rio.
    Rio,
    /// Bor: Madhugiri (PIP-74: the state-sync transaction, type `0x7F`, enters the body and
    /// its receipt the receipts root; before it the state-sync receipt is kept apart).
    Madhugiri,
    /// Bor: Madhugiri Pro.
    MadhugiriPro,
    /// Bor: Dandeli (gas target 65 % of the gas limit).
    Dandeli,
    /// Bor: Lisovo (PIP-79: the base fee only has to stay within 5 % of the parent's).
    Lisovo,
    /// Bor: Lisovo Pro.
    LisovoPro,
    /// Bor: Giugliano (PIP-84: the block extra-data carries `GasTarget` and
    /// `BaseFeeChangeDenominator`).
    Giugliano,
    /// Bor: Chicago (PIP-88: gas repricing; execution only, no header rule).
    Chicago,
    /// Bor: Valencia (state-sync budgets; execution only, no header rule).
    Valencia,
}

impl Hardfork {
    /// Every fork, in declaration order.
    pub const ALL: [Hardfork; 41] = [
        Self::Frontier,
        Self::Homestead,
        Self::Dao,
        Self::Tangerine,
        Self::SpuriousDragon,
        Self::Byzantium,
        Self::Constantinople,
        Self::Petersburg,
        Self::Istanbul,
        Self::MuirGlacier,
        Self::Berlin,
        Self::London,
        Self::ArrowGlacier,
        Self::GrayGlacier,
        Self::Paris,
        Self::Shanghai,
        Self::Cancun,
        Self::Prague,
        Self::Osaka,
        Self::Bpo1,
        Self::Bpo2,
        Self::Bpo3,
        Self::Bpo4,
        Self::Bpo5,
        Self::Amsterdam,
        Self::Jaipur,
        Self::Delhi,
        Self::Indore,
        Self::Agra,
        Self::Napoli,
        Self::Ahmedabad,
        Self::Bhilai,
        Self::Rio,
        Self::Madhugiri,
        Self::MadhugiriPro,
        Self::Dandeli,
        Self::Lisovo,
        Self::LisovoPro,
        Self::Giugliano,
        Self::Chicago,
        Self::Valencia,
    ];

    /// Lower-case name, as in geth/Bor configs without the `Block`/`Time` suffix.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Frontier => "frontier",
            Self::Homestead => "homestead",
            Self::Dao => "dao",
            Self::Tangerine => "tangerine",
            Self::SpuriousDragon => "spuriousDragon",
            Self::Byzantium => "byzantium",
            Self::Constantinople => "constantinople",
            Self::Petersburg => "petersburg",
            Self::Istanbul => "istanbul",
            Self::MuirGlacier => "muirGlacier",
            Self::Berlin => "berlin",
            Self::London => "london",
            Self::ArrowGlacier => "arrowGlacier",
            Self::GrayGlacier => "grayGlacier",
            Self::Paris => "paris",
            Self::Shanghai => "shanghai",
            Self::Cancun => "cancun",
            Self::Prague => "prague",
            Self::Osaka => "osaka",
            Self::Bpo1 => "bpo1",
            Self::Bpo2 => "bpo2",
            Self::Bpo3 => "bpo3",
            Self::Bpo4 => "bpo4",
            Self::Bpo5 => "bpo5",
            Self::Amsterdam => "amsterdam",
            Self::Jaipur => "jaipur",
            Self::Delhi => "delhi",
            Self::Indore => "indore",
            Self::Agra => "agra",
            Self::Napoli => "napoli",
            Self::Ahmedabad => "ahmedabad",
            Self::Bhilai => "bhilai",
            Self::Rio => "rio",
            Self::Madhugiri => "madhugiri",
            Self::MadhugiriPro => "madhugiriPro",
            Self::Dandeli => "dandeli",
            Self::Lisovo => "lisovo",
            Self::LisovoPro => "lisovoPro",
            Self::Giugliano => "giugliano",
            Self::Chicago => "chicago",
            Self::Valencia => "valencia",
        }
    }

    /// Whether this is one of Bor's own forks (configured in the `bor` section).
    pub const fn is_bor(self) -> bool {
        (self as u8) >= (Self::Jaipur as u8)
    }

    /// Whether the fork takes part in the EIP-2124 fork id.
    ///
    /// geth and Bor checksum every `*Block`/`*Time` field of the top-level chain config; Bor's own
    /// forks live in the nested `bor` config and are not part of the fork id (checked against the
    /// fork ids Polygon nodes announce, see the tests). Frontier is the genesis rule set.
    pub const fn in_fork_id(self) -> bool {
        !self.is_bor() && !matches!(self, Self::Frontier)
    }
}

impl fmt::Display for Hardfork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// When a fork activates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForkCondition {
    /// At this block number (inclusive).
    Block(u64),
    /// At the first block whose timestamp is at or after this Unix time.
    Timestamp(u64),
    /// When the chain's total difficulty reaches `total_difficulty` (the merge).
    Ttd {
        /// Terminal total difficulty.
        total_difficulty: U256,
        /// First proof-of-stake block, when known (mainnet 15537394, sepolia 1450409).
        activation_block: Option<u64>,
        /// geth's `mergeNetsplitBlock`: the block number that enters the fork id, if any.
        fork_id_block: Option<u64>,
    },
    /// Not scheduled.
    Never,
}

impl ForkCondition {
    /// Whether a block with this number and timestamp is under the fork's rules.
    ///
    /// For [`ForkCondition::Ttd`] without a known activation block this answers from the
    /// netsplit block only (blocks at or after it are certainly merged); before that the answer
    /// needs the total difficulty, see [`ForkCondition::is_active_with_td`].
    pub fn is_active_at(&self, block_number: u64, timestamp: u64) -> bool {
        match *self {
            Self::Block(b) => block_number >= b,
            Self::Timestamp(t) => timestamp >= t,
            Self::Ttd {
                activation_block,
                fork_id_block,
                ..
            } => match (activation_block, fork_id_block) {
                (Some(b), _) => block_number >= b,
                (None, Some(netsplit)) => block_number >= netsplit,
                (None, None) => false,
            },
            Self::Never => false,
        }
    }

    /// Like [`ForkCondition::is_active_at`], but decides a TTD fork from the parent's total
    /// difficulty when the activation block is not known: a block is proof-of-stake if its
    /// parent's total difficulty reached the terminal total difficulty.
    pub fn is_active_with_td(
        &self,
        block_number: u64,
        timestamp: u64,
        parent_td: Option<U256>,
    ) -> bool {
        match (*self, parent_td) {
            (
                Self::Ttd {
                    total_difficulty,
                    activation_block: None,
                    ..
                },
                Some(td),
            ) => td >= total_difficulty || self.is_active_at(block_number, timestamp),
            _ => self.is_active_at(block_number, timestamp),
        }
    }

    /// Whether the fork is scheduled at all.
    pub const fn is_scheduled(&self) -> bool {
        !matches!(self, Self::Never)
    }

    /// The activation block, if the fork activates by block number (or at a known merge block).
    pub const fn block(&self) -> Option<u64> {
        match *self {
            Self::Block(b) => Some(b),
            Self::Ttd {
                activation_block, ..
            } => activation_block,
            _ => None,
        }
    }

    /// The activation timestamp, if the fork activates by time.
    pub const fn timestamp(&self) -> Option<u64> {
        match *self {
            Self::Timestamp(t) => Some(t),
            _ => None,
        }
    }

    /// The value this condition contributes to the EIP-2124 fork id, if any.
    pub const fn fork_id_key(&self) -> Option<ForkFilterKey> {
        match *self {
            Self::Block(b) => Some(ForkFilterKey::Block(b)),
            Self::Timestamp(t) => Some(ForkFilterKey::Time(t)),
            Self::Ttd {
                fork_id_block: Some(b),
                ..
            } => Some(ForkFilterKey::Block(b)),
            Self::Ttd {
                fork_id_block: None,
                ..
            }
            | Self::Never => None,
        }
    }

    /// Sort key for activation order: block forks (and merges with a known block) by number,
    /// then merges at an unknown block, then time forks by timestamp.
    fn activation_key(&self) -> (u8, u64) {
        match *self {
            Self::Block(b) => (0, b),
            Self::Ttd {
                activation_block: Some(b),
                ..
            } => (0, b),
            Self::Ttd {
                activation_block: None,
                ..
            } => (1, 0),
            Self::Timestamp(t) => (2, t),
            Self::Never => (3, 0),
        }
    }
}

/// A chain's forks with their activation conditions, in activation order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ForkSchedule {
    forks: Vec<(Hardfork, ForkCondition)>,
    /// Whether the chain follows the DAO irregular state change at [`Hardfork::Dao`]
    /// (geth's `daoForkSupport`: header extra-data must then be `dao-hard-fork` for 10 blocks).
    pub dao_fork_support: bool,
    /// Activations that enter the EIP-2124 fork id without a [`Hardfork`] of their own (from
    /// custom configs: geth's `eip155Block` when it differs from `eip158Block`, `bogotaTime`).
    pub extra_fork_id_activations: Vec<ForkFilterKey>,
}

impl ForkSchedule {
    /// Builds a schedule; [`ForkCondition::Never`] entries are dropped, a fork listed twice keeps
    /// its last condition, and the result is sorted in activation order (ties by fork order).
    pub fn new(forks: impl IntoIterator<Item = (Hardfork, ForkCondition)>) -> Self {
        let mut by_fork = std::collections::BTreeMap::new();
        for (fork, condition) in forks {
            by_fork.insert(fork, condition);
        }
        let mut forks: Vec<_> = by_fork
            .into_iter()
            .filter(|(_, c)| c.is_scheduled())
            .collect();
        forks.sort_by_key(|(fork, condition)| (condition.activation_key(), *fork));
        Self {
            forks,
            dao_fork_support: false,
            extra_fork_id_activations: Vec::new(),
        }
    }

    /// Sets [`ForkSchedule::dao_fork_support`].
    pub fn with_dao_fork_support(mut self, support: bool) -> Self {
        self.dao_fork_support = support;
        self
    }

    /// The activation condition of `fork` ([`ForkCondition::Never`] if not scheduled).
    pub fn condition(&self, fork: Hardfork) -> ForkCondition {
        self.forks
            .iter()
            .find(|(f, _)| *f == fork)
            .map_or(ForkCondition::Never, |(_, c)| *c)
    }

    /// Whether `fork` applies to a block with this number and timestamp.
    pub fn is_active(&self, fork: Hardfork, block_number: u64, timestamp: u64) -> bool {
        self.condition(fork).is_active_at(block_number, timestamp)
    }

    /// Scheduled forks with their conditions, in activation order.
    pub fn iter(&self) -> impl Iterator<Item = (Hardfork, ForkCondition)> + '_ {
        self.forks.iter().copied()
    }

    /// Forks active for a block with this number and timestamp, in activation order.
    pub fn active_at(
        &self,
        block_number: u64,
        timestamp: u64,
    ) -> impl Iterator<Item = Hardfork> + '_ {
        self.forks
            .iter()
            .filter(move |(_, c)| c.is_active_at(block_number, timestamp))
            .map(|(f, _)| *f)
    }

    /// Number of scheduled forks.
    pub fn len(&self) -> usize {
        self.forks.len()
    }

    /// Whether no fork is scheduled.
    pub fn is_empty(&self) -> bool {
        self.forks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_complete_and_ordered() {
        for pair in Hardfork::ALL.windows(2) {
            assert!(pair[0] < pair[1]);
        }
        assert_eq!(Hardfork::ALL.last(), Some(&Hardfork::Valencia));
        assert!(Hardfork::Giugliano.is_bor() && !Hardfork::Chicago.in_fork_id());
        assert!(Hardfork::Jaipur.is_bor() && !Hardfork::Amsterdam.is_bor());
        assert!(!Hardfork::Frontier.in_fork_id() && Hardfork::Dao.in_fork_id());
        assert!(!Hardfork::Rio.in_fork_id());
    }

    #[test]
    fn schedule_orders_by_activation() {
        let schedule = ForkSchedule::new([
            (Hardfork::Shanghai, ForkCondition::Timestamp(100)),
            (Hardfork::London, ForkCondition::Block(10)),
            (Hardfork::Berlin, ForkCondition::Block(10)),
            (
                Hardfork::Paris,
                ForkCondition::Ttd {
                    total_difficulty: U256::from(5),
                    activation_block: None,
                    fork_id_block: None,
                },
            ),
            (Hardfork::Cancun, ForkCondition::Never),
            (Hardfork::Frontier, ForkCondition::Block(0)),
        ]);
        let order: Vec<_> = schedule.iter().map(|(f, _)| f).collect();
        assert_eq!(
            order,
            [
                Hardfork::Frontier,
                Hardfork::Berlin,
                Hardfork::London,
                Hardfork::Paris,
                Hardfork::Shanghai
            ]
        );
        assert!(schedule.is_active(Hardfork::London, 10, 0));
        assert!(!schedule.is_active(Hardfork::London, 9, 1_000));
        assert!(schedule.is_active(Hardfork::Shanghai, 0, 100));
        assert!(!schedule.is_active(Hardfork::Cancun, u64::MAX, u64::MAX));
        assert_eq!(schedule.condition(Hardfork::Cancun), ForkCondition::Never);
        assert_eq!(schedule.active_at(10, 0).count(), 3);
    }

    #[test]
    fn ttd_condition() {
        let c = ForkCondition::Ttd {
            total_difficulty: U256::from(100),
            activation_block: None,
            fork_id_block: Some(50),
        };
        assert!(!c.is_active_at(49, 0));
        assert!(c.is_active_at(50, 0));
        assert!(c.is_active_with_td(10, 0, Some(U256::from(100))));
        assert!(!c.is_active_with_td(10, 0, Some(U256::from(99))));
        assert_eq!(c.fork_id_key(), Some(ForkFilterKey::Block(50)));
        let known = ForkCondition::Ttd {
            total_difficulty: U256::from(100),
            activation_block: Some(7),
            fork_id_block: None,
        };
        assert!(known.is_active_at(7, 0) && !known.is_active_at(6, 0));
        assert_eq!(known.fork_id_key(), None);
        assert_eq!(known.block(), Some(7));
    }
}
