//! `hypasis`: the operator command line.
//!
//! Each subcommand lives in its own module; `main` only dispatches.

mod certs;
mod chains;

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
    /// Chain specs known to this build.
    Chains(chains::ChainsArgs),
}

fn main() -> std::process::ExitCode {
    let result = match Cli::parse().command {
        Command::Certs(args) => certs::run(args),
        Command::Chains(args) => chains::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole context chain on one line, without a backtrace.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
