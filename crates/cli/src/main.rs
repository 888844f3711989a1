//! `hypasis`: the operator command line.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "hypasis", version, about = "Hypasis Sync operator tool")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// mTLS certificates for the cluster.
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// Chain specs known to this build.
    Chains {
        #[command(subcommand)]
        command: ChainsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum CertsCommand {
    /// Creates a development CA and a certificate per service (store, scheduler, fetcher,
    /// validator, checkpoint) plus `admin`, the operator's client certificate.
    Generate {
        /// Output directory (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Extra subject alternative name for the service certificates (DNS name or IP); repeatable.
        #[arg(long = "san", value_name = "NAME")]
        sans: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ChainsCommand {
    /// Prints a chain's id and genesis hash (a built-in name, or `--genesis genesis.json`).
    Show {
        /// Built-in chain: mainnet, sepolia, polygon, amoy, devnet.
        #[arg(long, conflicts_with = "genesis", required_unless_present = "genesis")]
        chain: Option<String>,
        /// A geth-format genesis.json.
        #[arg(long, value_name = "FILE")]
        genesis: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Certs {
            command: CertsCommand::Generate { out, sans },
        } => {
            let generated = hypasis_tls::generate(&out, &sans)
                .with_context(|| format!("generating certificates in {}", out.display()))?;
            println!("CA certificate: {}", generated.ca.display());
            for (name, cert, key) in &generated.certs {
                println!("{name:<10} {} {}", cert.display(), key.display());
            }
            println!(
                "start a service with `--tls-dir {}`; grpcurl/buf curl use ca.pem + admin.pem/admin.key",
                out.display()
            );
            Ok(())
        }
        Command::Chains {
            command: ChainsCommand::Show { chain, genesis },
        } => chains_show(chain, genesis),
    }
}

fn chains_show(chain: Option<String>, genesis: Option<PathBuf>) -> anyhow::Result<()> {
    let spec = match (chain, genesis) {
        (Some(name), _) => hypasis_primitives::chain::ChainSpec::by_name(&name)?,
        (None, Some(path)) => hypasis_primitives::chain::ChainSpec::from_genesis_file(&path)
            .with_context(|| format!("reading {}", path.display()))?,
        (None, None) => anyhow::bail!("pass --chain NAME or --genesis FILE"),
    };
    println!("name:         {}", spec.name);
    println!("chain id:     {}", spec.chain_id);
    println!("genesis hash: {}", spec.genesis_hash);
    Ok(())
}
