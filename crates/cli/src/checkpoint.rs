//! `hypasis checkpoint show`: fetch a checkpoint from the given sources, cross-check it and print
//! one JSON object.

use clap::{Args, Subcommand};
use hypasis_checkpoint::config::SourceArgs;
use hypasis_checkpoint::quorum::SourceReport;
use hypasis_checkpoint::{CrossCheckError, CrossChecker};
use serde_json::{Value, json};

/// `hypasis checkpoint ...`
#[derive(Debug, Args)]
pub struct CheckpointArgs {
    #[command(subcommand)]
    command: CheckpointCommand,
}

#[derive(Debug, Subcommand)]
enum CheckpointCommand {
    /// Fetches the latest checkpoint (or checkpoint --id N) from every given source,
    /// cross-checks them and prints one JSON object: id, start, end, root, proposer, sources,
    /// agreed. Exits non-zero when the sources disagree or fail.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
struct ShowArgs {
    #[command(flatten)]
    sources: SourceArgs,
    /// Checkpoint number (Heimdall's numbering; the L1 header-block id is N × 10,000). For a
    /// beacon anchor: the execution block number. Default: the latest one all sources have.
    #[arg(long, value_name = "N")]
    id: Option<u64>,
}

fn report_json(r: &SourceReport) -> Value {
    match &r.result {
        Ok(c) => json!({
            "source": r.kind.to_string(),
            "name": r.name,
            "ok": true,
            "id": c.id,
            "start": c.range.start,
            "end": c.range.end,
            "root": c.root.to_string(),
        }),
        Err(e) => json!({
            "source": r.kind.to_string(),
            "name": r.name,
            "ok": false,
            "error_kind": e.kind.as_str(),
            "error": e.to_string(),
        }),
    }
}

/// Runs `hypasis checkpoint`.
pub fn run(args: CheckpointArgs) -> anyhow::Result<()> {
    match args.command {
        CheckpointCommand::Show(a) => show(a),
    }
}

fn show(args: ShowArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let sources = args.sources.build().await?;
        let quorum = args.sources.quorum_for(&sources);
        let checker = CrossChecker::new(sources, quorum);
        let result = match args.id {
            Some(id) => checker.by_id(id).await,
            None => checker.latest().await,
        };
        match result {
            Ok(a) => {
                let c = &a.checkpoint;
                let out = json!({
                    "id": c.id,
                    "start": c.range.start,
                    "end": c.range.end,
                    "root": c.root.to_string(),
                    "end_block_hash": c.end_block_hash.map(|h| h.to_string()),
                    "proposer": c.proposer.map(|p| p.to_checksum(None)),
                    "created_at": c.created_at,
                    "l1_tx_hash": c.l1_tx_hash.map(|h| h.to_string()),
                    "sources": c.verified_by.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                    "agreed": true,
                    "quorum": quorum,
                    "reports": a.reports.iter().map(report_json).collect::<Vec<_>>(),
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
                Ok(())
            }
            Err(e) => {
                let reason = match &e {
                    CrossCheckError::Disagreement { .. } => "disagreement",
                    CrossCheckError::InvalidData { .. } => "invalid_data",
                    CrossCheckError::NoQuorum { .. } => "no_quorum",
                };
                let out = json!({
                    "id": args.id,
                    "start": null,
                    "end": null,
                    "root": null,
                    "proposer": null,
                    "sources": e.reports().iter().filter(|r| r.result.is_ok()).map(|r| r.kind.to_string()).collect::<Vec<_>>(),
                    "agreed": false,
                    "quorum": quorum,
                    "failure": reason,
                    "error": e.to_string(),
                    "reports": e.reports().iter().map(report_json).collect::<Vec<_>>(),
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
                Err(anyhow::anyhow!(e))
            }
        }
    })
}
