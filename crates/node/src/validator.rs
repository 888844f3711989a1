//! The validator service: the validation library behind `hypasis.v1.Validator`.

use crate::{ConfigError, NodeError};
use hypasis_config::CommonConfig;
use hypasis_primitives::ChainSpec;
use hypasis_server::ServiceRuntime;
use hypasis_validator::{ValidatorMetrics, ValidatorService};
use std::path::PathBuf;

/// Custom chains from geth-format genesis files, each named after its file stem.
pub fn load_genesis_files(paths: &[PathBuf]) -> Result<Vec<ChainSpec>, ConfigError> {
    paths
        .iter()
        .map(|path| {
            let name = path
                .file_stem()
                .map_or_else(|| "custom".into(), |s| s.to_string_lossy().into_owned());
            Ok(ChainSpec::from_genesis_file(path)?.with_name(name))
        })
        .collect()
}

/// Runs the validator service (the built-in chains plus `extra`) until SIGTERM/SIGINT.
pub async fn serve(common: CommonConfig, extra: Vec<ChainSpec>) -> Result<(), NodeError> {
    let rt = ServiceRuntime::new("validator", hypasis_proto::service_names::VALIDATOR, common)?;
    let metrics = ValidatorMetrics::register(&rt.metrics.registry)?;
    for spec in &extra {
        tracing::info!(chain = %spec.name, chain_id = spec.chain_id, "custom chain loaded");
    }
    let service = ValidatorService::new(extra, metrics);
    let routes = tonic::service::Routes::new(service.into_server(rt.max_message_bytes));
    rt.set_serving(true).await;
    rt.serve(routes, hypasis_server::shutdown_signal()).await?;
    Ok(())
}
