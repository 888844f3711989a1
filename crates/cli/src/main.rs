//! `hypasis`: the operator command line.
//!
//! Each subcommand lives in its own module; `main` only dispatches.
//!
//! `hypasis standalone` is a long-running node: its flags are layered with `HYPASIS_*` variables
//! and a `--config` TOML file like the services'. The other subcommands are one-shot tools and
//! take flags only (plus the few `env` names their clap definitions declare).

mod certs;
mod chains;
mod checkpoint;
mod devnet;
mod export;
mod p2p;
mod progress;
mod standalone;
mod status;
mod verify;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "hypasis", version, about = "Hypasis Sync operator tool")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// mTLS certificates for the cluster.
    Certs(certs::CertsArgs),
    /// Trusted checkpoints: fetch and cross-check them from L1, Heimdall, a beacon node.
    Checkpoint(checkpoint::CheckpointArgs),
    /// Chain specs known to this build.
    Chains(chains::ChainsArgs),
    /// A local Bor-style devnet: generated chain, devp2p peers, Heimdall-format endpoint.
    Devnet(devnet::DevnetArgs),
    /// Write stored blocks (and receipts) from the embedded store to chain.rlp / receipts.rlp.
    Export(export::ExportArgs),
    /// devp2p tools: fetch blocks from a peer, serve blocks, ping a peer.
    P2p(p2p::P2pArgs),
    /// Sync a chain in one process: all five services on the embedded store, no etcd.
    Standalone(standalone::StandaloneArgs),
    /// The cluster's sync status from the scheduler (and optionally the store).
    Status(status::StatusArgs),
    /// Verify blocks, headers or era1 files against the chain rules and trusted anchors.
    Verify(verify::VerifyArgs),
}

fn main() -> std::process::ExitCode {
    // `hypasis standalone ...`: flag > HYPASIS_* > --config file > default.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "standalone") {
        let args: standalone::StandaloneCli = hypasis_config::load_from_process(argv[1..].to_vec());
        return exit(standalone::run(args.into_args()));
    }
    exit(match Cli::parse().command {
        Command::Certs(args) => certs::run(args),
        Command::Checkpoint(args) => checkpoint::run(args),
        Command::Chains(args) => chains::run(args),
        Command::Devnet(args) => devnet::run(args),
        Command::Export(args) => export::run(args),
        Command::P2p(args) => p2p::run(args),
        Command::Standalone(args) => standalone::run(args),
        Command::Status(args) => status::run(args),
        Command::Verify(args) => verify::run(args),
    })
}

fn exit(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole context chain on one line, without a backtrace.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
