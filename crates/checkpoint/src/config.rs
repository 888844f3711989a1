//! Command-line selection of checkpoint sources, shared by `hypasis-checkpoint` and
//! `hypasis checkpoint show`.

use crate::beacon::{BeaconNetwork, BeaconSource};
use crate::error::SourceError;
use crate::heimdall::HeimdallSource;
use crate::http::ParseError;
use crate::l1::{L1Finality, POLYGON_MAINNET_ROOT_CHAIN, RootChainSource};
use crate::source::CheckpointSource;
use crate::static_source::StaticSource;
use alloy_primitives::{Address, B256};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Which sources to ask, and how many must agree.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SourceArgs {
    /// Heimdall REST endpoint (heimdall-v2 or v1 format), e.g.
    /// https://heimdall-api.polygon.technology.
    #[arg(long, env = "HYPASIS_HEIMDALL", value_name = "URL")]
    pub heimdall: Option<String>,
    /// Refuse Heimdall checkpoints of another Bor chain (137 = Polygon, 80002 = Amoy).
    #[arg(long, env = "HYPASIS_BOR_CHAIN_ID", value_name = "ID")]
    pub bor_chain_id: Option<String>,
    /// Ethereum L1 JSON-RPC endpoint (http(s):// or ws(s)://) to read the RootChain contract.
    #[arg(long, env = "HYPASIS_L1_RPC", value_name = "URL")]
    pub l1_rpc: Option<String>,
    /// RootChain contract address (default: the Polygon mainnet proxy
    /// 0x86E4Dc95c7FBdBf52e33D563BbDB00823894C287; give Amoy's for Amoy).
    #[arg(long, env = "HYPASIS_ROOT_CHAIN", value_name = "ADDR")]
    pub root_chain: Option<String>,
    /// Accept L1 checkpoints with this many blocks on top instead of the L1 `finalized` block.
    #[arg(long, env = "HYPASIS_L1_CONFIRMATIONS", value_name = "N")]
    pub l1_confirmations: Option<u64>,
    /// Ethereum beacon node API (verified with the light-client protocol).
    #[arg(long, env = "HYPASIS_BEACON", value_name = "URL")]
    pub beacon: Option<String>,
    /// Trusted beacon block root to bootstrap the light client from (required with --beacon).
    #[arg(long, env = "HYPASIS_BEACON_TRUSTED_ROOT", value_name = "0xROOT")]
    pub beacon_trusted_root: Option<String>,
    /// Trusted checkpoint: `NUMBER:0xHASH` (a block) or `ID:START:END:0xROOT` (a Polygon
    /// checkpoint). Repeatable.
    #[arg(long = "trusted", value_name = "CHECKPOINT")]
    pub trusted: Vec<String>,
    /// Checkpoint file (JSON) with trusted checkpoints.
    #[arg(long, env = "HYPASIS_CHECKPOINT_FILE", value_name = "FILE")]
    pub checkpoint_file: Option<PathBuf>,
    /// How many sources must answer and agree (default: every given L1, Heimdall and beacon
    /// source; static checkpoints are checked whenever they cover the checkpoint).
    #[arg(long, env = "HYPASIS_QUORUM", value_name = "N")]
    pub quorum: Option<usize>,
    /// Per-request timeout of the REST and RPC sources, in seconds.
    #[arg(
        long,
        env = "HYPASIS_SOURCE_TIMEOUT",
        value_name = "SECS",
        default_value_t = 20
    )]
    pub source_timeout: u64,
}

/// Parses a 20-byte address.
pub fn parse_address(s: &str) -> Result<Address, ParseError> {
    s.parse::<Address>().map_err(|source| ParseError::FlagHex {
        value: s.to_string(),
        expected: "an address",
        source,
    })
}

/// Parses a 32-byte hash.
pub fn parse_b256(s: &str) -> Result<B256, ParseError> {
    s.parse::<B256>().map_err(|source| ParseError::FlagHex {
        value: s.to_string(),
        expected: "a 32-byte hex hash",
        source,
    })
}

impl SourceArgs {
    /// Whether no source was given.
    pub fn is_empty(&self) -> bool {
        self.heimdall.is_none()
            && self.l1_rpc.is_none()
            && self.beacon.is_none()
            && self.trusted.is_empty()
            && self.checkpoint_file.is_none()
    }

    /// Connects the configured sources, in priority order L1, Heimdall, beacon, static.
    pub async fn build(&self) -> Result<Vec<Arc<dyn CheckpointSource>>, SourceError> {
        let timeout = Duration::from_secs(self.source_timeout.max(1));
        let mut out: Vec<Arc<dyn CheckpointSource>> = Vec::new();
        if let Some(url) = &self.l1_rpc {
            let contract = match &self.root_chain {
                Some(a) => parse_address(a).map_err(|m| {
                    SourceError::config(format!("l1 {url}"), format!("--root-chain: {m}"))
                })?,
                None => POLYGON_MAINNET_ROOT_CHAIN,
            };
            let finality = match self.l1_confirmations {
                Some(n) => L1Finality::Confirmations(n),
                None => L1Finality::Finalized,
            };
            out.push(Arc::new(
                RootChainSource::connect(url, contract, finality).await?,
            ));
        } else if self.root_chain.is_some() {
            return Err(SourceError::config("l1", "--root-chain needs --l1-rpc"));
        }
        if let Some(url) = &self.heimdall {
            let mut h = HeimdallSource::new(url, timeout)?;
            if let Some(id) = &self.bor_chain_id {
                h = h.with_bor_chain_id(id.clone());
            }
            out.push(Arc::new(h));
        }
        if let Some(url) = &self.beacon {
            let origin = format!("beacon {url}");
            let root = self.beacon_trusted_root.as_deref().ok_or_else(|| {
                SourceError::config(
                    &origin,
                    "--beacon needs --beacon-trusted-root 0xROOT (a beacon block root you trust)",
                )
            })?;
            let root = parse_b256(root)
                .map_err(|m| SourceError::config(&origin, format!("--beacon-trusted-root: {m}")))?;
            out.push(Arc::new(BeaconSource::new(
                url,
                root,
                BeaconNetwork::mainnet(),
                timeout,
            )?));
        }
        let mut statics = Vec::new();
        for t in &self.trusted {
            statics.push(
                StaticSource::parse_flag(t)
                    .map_err(|m| SourceError::config("static --trusted", m.to_string()))?,
            );
        }
        if let Some(path) = &self.checkpoint_file {
            let file = StaticSource::from_file(path)?;
            for cp in file.all() {
                statics.push(cp.clone());
            }
        }
        if !statics.is_empty() {
            out.push(Arc::new(StaticSource::new(statics, "static")?));
        }
        if out.is_empty() {
            return Err(SourceError::config(
                "checkpoint",
                "no checkpoint source given: use --heimdall, --l1-rpc, --beacon, --trusted or --checkpoint-file",
            ));
        }
        Ok(out)
    }

    /// The quorum: `--quorum`, or every given live source (L1, Heimdall, beacon); static
    /// checkpoints are checked against whenever they cover the checkpoint but are not required.
    pub fn quorum_for(&self, sources: &[Arc<dyn CheckpointSource>]) -> usize {
        let live = sources
            .iter()
            .filter(|s| s.kind() != hypasis_primitives::CheckpointSource::Static)
            .count();
        self.quorum.unwrap_or(live).clamp(1, sources.len().max(1))
    }
}
