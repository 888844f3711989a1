//! Chain specs: chain id, genesis header, fork schedule and consensus parameters.
//!
//! Built-in chains ([`ChainSpec::BUILTIN_NAMES`]): `mainnet` and `sepolia` (Ethereum),
//! `polygon` and `amoy` (Polygon PoS / Bor), and `devnet` (a local Bor-style chain for our tests,
//! defined by an embedded `genesis.json`). Any other chain comes from a geth-format genesis file
//! ([`ChainSpec::from_genesis_file`]), whose genesis header (including the state root of its
//! `alloc`) is computed like geth's `Genesis.ToBlock`.
//!
//! The fork schedule answers "is fork X active for this block" ([`ChainSpec::is_active`]) and
//! gives the EIP-2124 fork id ([`ChainSpec::fork_id`]) and fork filter for devp2p.

mod bor;
mod builtin;
mod forkid;
mod genesis;
mod hardfork;

pub use alloy_eips::eip2124::{ForkFilter, ForkFilterKey, ForkHash, ForkId};
pub use bor::{BlockSchedule, BorConfig};
pub use forkid::ForkIdActivations;
pub use genesis::{GENESIS_DIFFICULTY, GENESIS_GAS_LIMIT, INITIAL_BASE_FEE, genesis_state_root};
pub use hardfork::{ForkCondition, ForkSchedule, Hardfork};

use alloy_consensus::Header;
use alloy_eips::eip2124::Head;
use alloy_primitives::{B256, U256};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// How blocks are sealed and which consensus rules apply besides the fork schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsensusKind {
    /// Ethash proof of work, then proof of stake from the merge (terminal total difficulty) on.
    Ethash {
        /// Total difficulty at which the chain switched to proof of stake, if it did.
        terminal_total_difficulty: Option<U256>,
        /// First proof-of-stake block, when known.
        merge_block: Option<u64>,
    },
    /// Clique proof of authority.
    Clique {
        /// Block period in seconds.
        period: u64,
        /// Checkpoint epoch length in blocks.
        epoch: u64,
    },
    /// Bor (Polygon PoS): proof of authority by the Heimdall validator set.
    Bor(BorConfig),
}

impl ConsensusKind {
    /// Terminal total difficulty (Ethash chains that merged).
    pub fn terminal_total_difficulty(&self) -> Option<U256> {
        match self {
            Self::Ethash {
                terminal_total_difficulty,
                ..
            } => *terminal_total_difficulty,
            _ => None,
        }
    }

    /// First proof-of-stake block (Ethash chains whose merge block is known).
    pub fn merge_block(&self) -> Option<u64> {
        match self {
            Self::Ethash { merge_block, .. } => *merge_block,
            _ => None,
        }
    }
}

/// Where a block's Bor state-sync receipt lives, by fork (Bor PIP-74, Madhugiri).
///
/// Facts from Bor `eth/protocols/eth/receipt.go` / `handlers.go` (`ExcludeStateSyncReceipt`,
/// `ServiceGetReceiptsQuery69`) and `core/types/tx_state_sync.go`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateSyncReceipts {
    /// Not a Bor chain: there are no state-sync receipts.
    None,
    /// Before Madhugiri: the state-sync ("bor") receipt is stored apart and is not part of the
    /// receipts root, the logs bloom or the gas used. A Bor peer answering `GetReceipts` may
    /// append it after the block's receipts (eth/69: type 0, cumulative gas 0; other peers
    /// repeat the previous cumulative gas), and Bor drops such a trailing receipt before it
    /// checks the root.
    Separate,
    /// From Madhugiri: the state-sync transaction (type `0x7F`) is the body's last transaction
    /// and its receipt an ordinary one, in the receipts root, bloom and transaction count.
    InBlock,
}

/// Why a chain spec could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ChainSpecError {
    /// The name is not one of [`ChainSpec::BUILTIN_NAMES`].
    #[error(
        "unknown chain `{name}`; valid chains are: mainnet, sepolia, polygon, amoy, devnet \
         (or give a geth-format genesis.json)"
    )]
    UnknownChain {
        /// The name given.
        name: String,
    },
    /// The genesis file could not be read.
    #[error("cannot read genesis file `{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The input is not JSON, or not a JSON object.
    #[error("genesis.json is not valid JSON: {reason}")]
    InvalidJson {
        /// Parser message.
        reason: String,
    },
    /// The genesis has no `config` section.
    #[error("genesis.json has no `config` section (chain id and fork schedule)")]
    MissingConfig,
    /// A required field is missing.
    #[error("genesis.json is missing `{field}`")]
    MissingField {
        /// Dotted path of the field.
        field: &'static str,
    },
    /// A field has the wrong type or an out-of-range value.
    #[error("genesis.json field `{field}` is invalid: {reason}")]
    InvalidField {
        /// Dotted path of the field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The genesis does not decode as a geth genesis (bad hex, bad address, unknown account
    /// field, ...).
    #[error("genesis.json is not a valid geth genesis: {reason}")]
    InvalidGenesis {
        /// Decoder message (with line and column).
        reason: String,
    },
    /// The `config.bor` section is invalid.
    #[error("genesis.json has an invalid `config.bor` section: {reason}")]
    InvalidBorConfig {
        /// What is wrong.
        reason: String,
    },
    /// The genesis uses a feature this crate cannot build a genesis header for.
    #[error("unsupported genesis: {reason}")]
    Unsupported {
        /// What is not supported.
        reason: String,
    },
}

/// Everything chain-specific the sync needs: identity, genesis and the rules per block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainSpec {
    /// Command-line name (`mainnet`, `polygon`, ...; `custom` for genesis files).
    pub name: String,
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// devp2p `Status` network id.
    pub network_id: u64,
    /// The genesis block header.
    pub genesis_header: Header,
    /// `keccak256(rlp(genesis_header))`.
    pub genesis_hash: B256,
    /// Forks and their activation conditions.
    pub forks: ForkSchedule,
    /// Consensus engine and its parameters.
    pub consensus: ConsensusKind,
}

impl ChainSpec {
    /// Names accepted by [`ChainSpec::by_name`].
    pub const BUILTIN_NAMES: [&'static str; 5] =
        ["mainnet", "sepolia", "polygon", "amoy", "devnet"];

    /// A built-in chain by its command-line name (ASCII case-insensitive).
    pub fn by_name(name: &str) -> Result<Self, ChainSpecError> {
        let trimmed = name.trim();
        let lower = trimmed.to_ascii_lowercase();
        match lower.as_str() {
            "mainnet" => Ok(Self::mainnet()),
            "sepolia" => Ok(Self::sepolia()),
            "polygon" => Ok(Self::polygon()),
            "amoy" => Ok(Self::amoy()),
            "devnet" => Ok(Self::devnet()),
            _ => Err(ChainSpecError::UnknownChain {
                name: trimmed.to_owned(),
            }),
        }
    }

    /// Ethereum mainnet (chain id 1).
    pub fn mainnet() -> Self {
        builtin::mainnet()
    }

    /// Ethereum Sepolia testnet (chain id 11155111).
    pub fn sepolia() -> Self {
        builtin::sepolia()
    }

    /// Polygon PoS mainnet (chain id 137).
    pub fn polygon() -> Self {
        builtin::polygon()
    }

    /// Polygon Amoy testnet (chain id 80002).
    pub fn amoy() -> Self {
        builtin::amoy()
    }

    /// Local Bor-style devnet (chain id 1337), from the embedded `devnet.json`.
    pub fn devnet() -> Self {
        builtin::devnet()
    }

    /// The embedded `genesis.json` of [`ChainSpec::devnet`].
    pub const DEVNET_GENESIS_JSON: &'static str = builtin::DEVNET_GENESIS_JSON;

    /// A chain from a geth-format `genesis.json` (alloy-genesis `Genesis`, plus Bor's
    /// block-based `shanghaiBlock`/`cancunBlock`/`pragueBlock` and `bor` section). The spec is
    /// named `custom`, its network id is its chain id.
    pub fn from_genesis_json(json: &str) -> Result<Self, ChainSpecError> {
        genesis::spec_from_genesis_json(json)
    }

    /// [`ChainSpec::from_genesis_json`] on the contents of a file.
    pub fn from_genesis_file(path: impl AsRef<Path>) -> Result<Self, ChainSpecError> {
        let path = path.as_ref();
        let json = std::fs::read_to_string(path).map_err(|source| ChainSpecError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_genesis_json(&json)
    }

    /// Renames the spec (e.g. after the file it came from).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the devp2p network id.
    pub fn with_network_id(mut self, network_id: u64) -> Self {
        self.network_id = network_id;
        self
    }

    /// The activation condition of `fork` on this chain.
    pub fn fork_condition(&self, fork: Hardfork) -> ForkCondition {
        self.forks.condition(fork)
    }

    /// Whether `fork`'s rules apply to a block with this number and timestamp.
    pub fn is_active(&self, fork: Hardfork, block_number: u64, timestamp: u64) -> bool {
        self.forks.is_active(fork, block_number, timestamp)
    }

    /// Genesis block timestamp.
    pub fn genesis_timestamp(&self) -> u64 {
        self.genesis_header.timestamp
    }

    /// Bor parameters, for Bor chains.
    pub fn bor_config(&self) -> Option<&BorConfig> {
        match &self.consensus {
            ConsensusKind::Bor(cfg) => Some(cfg),
            _ => None,
        }
    }

    /// Whether the chain runs Bor consensus.
    pub fn is_bor(&self) -> bool {
        self.bor_config().is_some()
    }

    /// How this block's state-sync receipt, if any, takes part in its receipts (the era rule
    /// receipt validation follows; see [`StateSyncReceipts`]).
    pub fn state_sync_receipts(&self, block_number: u64, timestamp: u64) -> StateSyncReceipts {
        if !self.is_bor() {
            StateSyncReceipts::None
        } else if self.is_active(Hardfork::Madhugiri, block_number, timestamp) {
            StateSyncReceipts::InBlock
        } else {
            StateSyncReceipts::Separate
        }
    }

    /// Terminal total difficulty, for chains that merged.
    pub fn terminal_total_difficulty(&self) -> Option<U256> {
        self.consensus.terminal_total_difficulty()
    }

    /// The fork activations that make up this chain's EIP-2124 fork id (Bor's own forks are
    /// not part of it, matching Bor's `core/forkid`).
    pub fn fork_id_activations(&self) -> ForkIdActivations {
        let mut blocks = Vec::new();
        let mut times = Vec::new();
        for (fork, condition) in self.forks.iter() {
            if !fork.in_fork_id() {
                continue;
            }
            match condition.fork_id_key() {
                Some(ForkFilterKey::Block(b)) => blocks.push(b),
                Some(ForkFilterKey::Time(t)) => times.push(t),
                None => {}
            }
        }
        for key in &self.forks.extra_fork_id_activations {
            match *key {
                ForkFilterKey::Block(b) => blocks.push(b),
                ForkFilterKey::Time(t) => times.push(t),
            }
        }
        ForkIdActivations::new(blocks, times, self.genesis_timestamp())
    }

    /// The EIP-2124 fork id announced by a node whose head has this number and timestamp.
    pub fn fork_id(&self, head_number: u64, head_timestamp: u64) -> ForkId {
        self.fork_id_activations()
            .fork_id(self.genesis_hash, head_number, head_timestamp)
    }

    /// An EIP-2124 fork filter to validate peers' fork ids against a local head.
    pub fn fork_filter(&self, head_number: u64, head_timestamp: u64) -> ForkFilter {
        let activations = self.fork_id_activations();
        let keys = activations
            .blocks
            .iter()
            .map(|b| ForkFilterKey::Block(*b))
            .chain(
                activations
                    .timestamps
                    .iter()
                    .map(|t| ForkFilterKey::Time(*t)),
            );
        let head = Head {
            number: head_number,
            timestamp: head_timestamp,
            ..Default::default()
        };
        ForkFilter::new(head, self.genesis_hash, self.genesis_timestamp(), keys)
    }
}

impl fmt::Display for ChainSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl FromStr for ChainSpec {
    type Err = ChainSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::by_name(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_name_and_display_round_trip() {
        for name in ChainSpec::BUILTIN_NAMES {
            let spec = ChainSpec::by_name(name).unwrap();
            assert_eq!(spec.to_string(), name);
            assert_eq!(name.parse::<ChainSpec>().unwrap(), spec);
        }
        assert_eq!(ChainSpec::by_name(" Polygon ").unwrap().chain_id, 137);
    }

    #[test]
    fn unknown_name_lists_valid_names() {
        let err = ChainSpec::by_name("goerli").unwrap_err();
        assert!(matches!(&err, ChainSpecError::UnknownChain { name } if name == "goerli"));
        let msg = err.to_string();
        for name in ChainSpec::BUILTIN_NAMES {
            assert!(msg.contains(name), "{msg}");
        }
        assert!("".parse::<ChainSpec>().is_err());
    }

    #[test]
    fn ids() {
        let ids: Vec<_> = ChainSpec::BUILTIN_NAMES
            .iter()
            .map(|n| {
                let s = ChainSpec::by_name(n).unwrap();
                (s.chain_id, s.network_id)
            })
            .collect();
        assert_eq!(
            ids,
            [
                (1, 1),
                (11155111, 11155111),
                (137, 137),
                (80002, 80002),
                (1337, 1337)
            ]
        );
    }

    #[test]
    fn state_sync_receipt_era_follows_madhugiri() {
        let polygon = ChainSpec::polygon();
        assert_eq!(
            polygon.state_sync_receipts(80_084_799, 0),
            StateSyncReceipts::Separate
        );
        assert_eq!(
            polygon.state_sync_receipts(80_084_800, 0),
            StateSyncReceipts::InBlock
        );
        let amoy = ChainSpec::amoy();
        assert_eq!(
            amoy.state_sync_receipts(28_899_615, 0),
            StateSyncReceipts::Separate
        );
        assert_eq!(
            amoy.state_sync_receipts(28_899_616, 0),
            StateSyncReceipts::InBlock
        );
        assert_eq!(
            ChainSpec::mainnet().state_sync_receipts(u64::MAX, u64::MAX),
            StateSyncReceipts::None
        );
    }

    #[test]
    fn fork_filter_accepts_own_fork_id() {
        for name in ChainSpec::BUILTIN_NAMES {
            let spec = ChainSpec::by_name(name).unwrap();
            for (head, time) in [(0, 0), (100_000_000, 2_000_000_000)] {
                let filter = spec.fork_filter(head, time);
                let id = spec.fork_id(head, time);
                assert_eq!(filter.current(), id, "{name} at {head}/{time}");
                assert!(filter.validate(id).is_ok());
            }
        }
    }
}
