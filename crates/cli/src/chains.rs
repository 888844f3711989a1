//! `hypasis chains show`.

use anyhow::Context;
use clap::{Args, Subcommand};
use hypasis_primitives::chain::ChainSpec;
use std::path::PathBuf;

/// `hypasis chains ...`
#[derive(Debug, Args)]
pub struct ChainsArgs {
    #[command(subcommand)]
    command: ChainsCommand,
}

#[derive(Debug, Subcommand)]
enum ChainsCommand {
    /// Prints a chain's ids, genesis hash and current fork id.
    Show(ChainArg),
}

/// `--chain NAME | --genesis genesis.json`, shared by every command that needs a chain.
#[derive(Debug, Clone, Args)]
pub struct ChainArg {
    /// Built-in chain: mainnet, sepolia, polygon, amoy, devnet.
    #[arg(long, conflicts_with = "genesis", required_unless_present = "genesis")]
    pub chain: Option<String>,
    /// A geth-format genesis.json (custom chain).
    #[arg(long, value_name = "FILE")]
    pub genesis: Option<PathBuf>,
}

impl ChainArg {
    /// Resolves the chain spec.
    pub fn spec(&self) -> anyhow::Result<ChainSpec> {
        match (&self.chain, &self.genesis) {
            (Some(name), _) => Ok(ChainSpec::by_name(name)?),
            (None, Some(path)) => ChainSpec::from_genesis_file(path)
                .with_context(|| format!("reading genesis file {}", path.display())),
            (None, None) => anyhow::bail!("pass --chain NAME or --genesis FILE"),
        }
    }
}

/// Runs `hypasis chains`.
pub fn run(args: ChainsArgs) -> anyhow::Result<()> {
    match args.command {
        ChainsCommand::Show(chain) => {
            let spec = chain.spec()?;
            println!("name:         {}", spec.name);
            println!("chain id:     {}", spec.chain_id);
            println!("network id:   {}", spec.network_id);
            println!("genesis hash: {}", spec.genesis_hash);
            let fork_id = spec.fork_id(u64::MAX / 2, u64::MAX / 2);
            println!(
                "fork id:      0x{} (next {})",
                hex(&fork_id.hash.0),
                fork_id.next
            );
            Ok(())
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
