//! `hypasis certs generate`.

use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `hypasis certs ...`
#[derive(Debug, Args)]
pub struct CertsArgs {
    #[command(subcommand)]
    command: CertsCommand,
}

#[derive(Debug, Subcommand)]
enum CertsCommand {
    /// Creates a development CA and a certificate per service (store, scheduler, fetcher,
    /// validator, checkpoint) plus `admin`, the operator's client certificate.
    Generate {
        /// Output directory (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Extra subject alternative name for the certificates (DNS name or IP); repeatable.
        #[arg(long = "san", value_name = "NAME")]
        sans: Vec<String>,
    },
}

/// Runs `hypasis certs`.
pub fn run(args: CertsArgs) -> anyhow::Result<()> {
    match args.command {
        CertsCommand::Generate { out, sans } => {
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
    }
}
