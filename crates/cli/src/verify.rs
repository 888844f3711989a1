//! `hypasis verify`: checks exported blocks, headers or era1 archives against the chain rules
//! and trusted anchors, and prints the verification level each range reaches.
//!
//! ```text
//! hypasis verify (--chain NAME | --genesis genesis.json)
//!     (--blocks chain.rlp [--receipts receipts.rlp] | --headers headers.rlp | --era1 FILE...)
//!     [--trusted NUMBER:HASH]... [--checkpoint START:END:ROOT]... [--accumulator]
//!     [--validators FILE]
//! ```
//!
//! Exit status 0 when every block passes (each range is printed with its level, or
//! `unverified` when no anchor covers it); on the first failure the block number, the rule and
//! the field, the expected and found values are printed and the exit status is 1. The chain's
//! genesis hash is always a trusted anchor. Levels: `linked` (hash-linked to a `--trusted`
//! hash), `checkpoint-root` (linked and inside a `--checkpoint` whose root recomputes),
//! `accumulator` (pre-merge epochs matching the built-in accumulator), `unverified` (the rules
//! pass but no anchor covers the blocks).

use crate::chains::ChainArg;
use alloy_primitives::{Address, B256};
use anyhow::{Context, bail};
use clap::Args;
use hypasis_era::Era1;
use hypasis_validation::input::{blocks_from_chain_rlp, blocks_from_era1, blocks_from_headers_rlp};
use hypasis_validation::{
    Anchors, CheckpointAnchor, HistoricalAccumulator, RangeReport, SealedHeader, ValidationError,
    Validator,
};
use std::path::PathBuf;
use std::str::FromStr;

/// `hypasis verify ...`
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["blocks", "headers", "era1"])))]
pub struct VerifyArgs {
    #[command(flatten)]
    chain: ChainArg,
    /// Concatenated blocks `rlp([header, txs, ommers(, withdrawals)])` (as `geth export`).
    #[arg(long, value_name = "chain.rlp")]
    blocks: Option<PathBuf>,
    /// Receipts for `--blocks`: one RLP receipt list per block (as in an eth `Receipts`
    /// message; consensus or eth/69 slim receipts).
    #[arg(long, value_name = "receipts.rlp", requires = "blocks")]
    receipts: Option<PathBuf>,
    /// Concatenated header RLP.
    #[arg(long, value_name = "headers.rlp")]
    headers: Option<PathBuf>,
    /// era1 archives (pre-merge Ethereum), in any order; contiguous files are chained.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    era1: Vec<PathBuf>,
    /// A trusted block hash (hash linkage), `NUMBER:HASH`. Repeatable.
    #[arg(long, value_name = "NUMBER:HASH")]
    trusted: Vec<TrustedArg>,
    /// A Polygon checkpoint, `START:END:ROOT`. Repeatable. The root must recompute; the range
    /// reaches `checkpoint-root` when it is also hash-linked (e.g. `--trusted END:HASH`).
    #[arg(long, value_name = "START:END:ROOT")]
    checkpoint: Vec<CheckpointArg>,
    /// Check pre-merge epochs against the built-in historical accumulator (mainnet).
    #[arg(long)]
    accumulator: bool,
    /// Bor: the signers allowed to seal the input's blocks, a JSON file: an array of
    /// addresses, or Heimdall's `/stake/validators-set` answer. A block sealed by anyone else
    /// fails (without it, only the validator lists announced by sprint-end headers in the
    /// input are checked against).
    #[arg(long, value_name = "FILE")]
    validators: Option<PathBuf>,
}

/// The signer addresses in a `--validators` file: `["0x…", …]`, or Heimdall's
/// `{"validator_set": {"validators": [{"signer": "0x…", …}, …]}}`.
fn read_validators(path: &std::path::Path) -> anyhow::Result<Vec<Address>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--validators: reading {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("--validators: {} is not JSON", path.display()))?;
    let items = match &value {
        serde_json::Value::Array(items) => items.iter().collect::<Vec<_>>(),
        v => v
            .pointer("/validator_set/validators")
            .and_then(|v| v.as_array())
            .with_context(|| {
                format!(
                    "--validators: {} is neither an array of addresses nor Heimdall's validator set",
                    path.display()
                )
            })?
            .iter()
            .map(|v| v.get("signer").unwrap_or(v))
            .collect(),
    };
    let signers = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str()
                .and_then(|s| s.parse::<Address>().ok())
                .with_context(|| format!("--validators: entry {i} ({item}) is not an address"))
        })
        .collect::<anyhow::Result<Vec<Address>>>()?;
    if signers.is_empty() {
        bail!("--validators: {} names no signer", path.display());
    }
    Ok(signers)
}

/// `NUMBER:HASH`.
#[derive(Debug, Clone, Copy)]
struct TrustedArg(u64, B256);

impl FromStr for TrustedArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (n, h) = s
            .split_once(':')
            .ok_or_else(|| format!("`{s}` is not NUMBER:HASH"))?;
        let n = n
            .trim()
            .parse()
            .map_err(|e| format!("`{n}` is not a block number: {e}"))?;
        let h = h
            .trim()
            .parse()
            .map_err(|e| format!("`{h}` is not a 32-byte hex hash: {e}"))?;
        Ok(Self(n, h))
    }
}

/// `START:END:ROOT`.
#[derive(Debug, Clone, Copy)]
struct CheckpointArg(CheckpointAnchor);

impl FromStr for CheckpointArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.splitn(3, ':');
        let (Some(a), Some(b), Some(r)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("`{s}` is not START:END:ROOT"));
        };
        let start: u64 = a
            .trim()
            .parse()
            .map_err(|e| format!("`{a}` is not a block number: {e}"))?;
        let end: u64 = b
            .trim()
            .parse()
            .map_err(|e| format!("`{b}` is not a block number: {e}"))?;
        if start > end {
            return Err(format!("checkpoint start {start} is after its end {end}"));
        }
        let root = r
            .trim()
            .parse()
            .map_err(|e| format!("`{r}` is not a 32-byte hex root: {e}"))?;
        Ok(Self(CheckpointAnchor { start, end, root }))
    }
}

fn read(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// A validation failure, printed as the command's error: block, rule, field, expected, found.
fn failure(e: ValidationError) -> anyhow::Error {
    let at = e
        .block_number()
        .map_or_else(String::new, |n| format!("block {n}: "));
    let fault = if e.is_peer_fault() {
        "the data is invalid"
    } else {
        "the anchor or fork cannot be checked"
    };
    let d = e.details();
    anyhow::anyhow!(
        "verification failed: {at}rule `{}`, field {}: expected {}, found {} ({fault})",
        e.rule(),
        d.field,
        d.expected,
        d.found
    )
}

fn print_report(report: &RangeReport) {
    for r in &report.ranges {
        let level = r.level.map_or("unverified", |l| l.as_str());
        let range = format!("{}..={}", r.range.start, r.range.end);
        println!("  {range:<24} {level}");
    }
    for note in &report.notes {
        eprintln!("warning: {note}");
    }
}

/// Runs `hypasis verify`.
pub fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let spec = args.chain.spec()?;
    let accumulator = if args.accumulator {
        if spec.genesis_hash != hypasis_primitives::ChainSpec::mainnet().genesis_hash {
            bail!(
                "--accumulator: the built-in historical accumulator is Ethereum mainnet's, not {}'s",
                spec.name
            );
        }
        Some(HistoricalAccumulator::mainnet())
    } else {
        None
    };
    let mut trusted: Vec<(u64, B256)> = args.trusted.iter().map(|t| (t.0, t.1)).collect();
    trusted.push((0, spec.genesis_hash));
    let checkpoints: Vec<CheckpointAnchor> = args.checkpoint.iter().map(|c| c.0).collect();
    let bor_validators = match &args.validators {
        Some(path) => vec![(0, read_validators(path)?)],
        None => Vec::new(),
    };
    let base = Anchors {
        trusted,
        checkpoints: checkpoints.clone(),
        accumulator,
        bor_validators,
        ..Default::default()
    };
    let validator = Validator::new(spec.clone());
    println!("chain {} (chain id {})", spec.name, spec.chain_id);

    let mut used_trusted = Vec::new();
    let mut used_checkpoints = Vec::new();
    let mut total = 0u64;
    if !args.era1.is_empty() {
        let mut files = Vec::new();
        for path in &args.era1 {
            files.push((path.clone(), read(path)?));
        }
        let mut parsed = Vec::new();
        for (path, bytes) in &files {
            let era = Era1::parse(bytes).with_context(|| format!("{}", path.display()))?;
            parsed.push((path, era));
        }
        parsed.sort_by_key(|(_, e)| e.start_number);
        let mut parent: Option<(SealedHeader, Option<alloy_primitives::U256>)> = None;
        for (path, era) in &parsed {
            let blocks = blocks_from_era1(era).with_context(|| format!("{}", path.display()))?;
            let linked_parent = parent
                .take()
                .filter(|(p, _)| p.number().checked_add(1) == Some(era.start_number));
            let anchors = Anchors {
                parent: linked_parent,
                era_accumulators: vec![(era.epoch(), era.accumulator)],
                ..base.clone()
            };
            println!(
                "{}: blocks {}..={}",
                path.display(),
                era.start_number,
                era.end_number()
            );
            let report = validator
                .validate_range(&blocks, &anchors)
                .map_err(failure)?;
            print_report(&report);
            total += blocks.len() as u64;
            used_trusted.extend(report.used_trusted.iter().copied());
            used_checkpoints.extend(report.used_checkpoints.iter().copied());
            parent = Some((report.last, report.last_total_difficulty));
        }
    } else {
        let blocks = if let Some(path) = &args.blocks {
            let chain = read(path)?;
            let receipts = args.receipts.as_ref().map(read).transpose()?;
            blocks_from_chain_rlp(&chain, receipts.as_deref())?
        } else if let Some(path) = &args.headers {
            blocks_from_headers_rlp(&read(path)?)?
        } else {
            bail!("pass --blocks, --headers or --era1");
        };
        if blocks.is_empty() {
            bail!("the input holds no blocks");
        }
        let report = validator.validate_range(&blocks, &base).map_err(failure)?;
        print_report(&report);
        total += blocks.len() as u64;
        used_trusted = report.used_trusted;
        used_checkpoints = report.used_checkpoints;
    }
    for t in &args.trusted {
        if !used_trusted.contains(&t.0) {
            eprintln!(
                "warning: --trusted {}:{} is not at or next to the input's blocks; not applied",
                t.0, t.1
            );
        }
    }
    for c in &checkpoints {
        if !used_checkpoints.contains(c) {
            eprintln!(
                "warning: --checkpoint {}:{}:{} is not inside the input's blocks; not applied",
                c.start, c.end, c.root
            );
        }
    }
    println!("ok: {total} blocks pass");
    Ok(())
}
