//! `hypasis-fetcher`: the fetcher service.
//!
//! Runs the devp2p peer pool, takes leases from the scheduler (`--scheduler URL`), downloads,
//! validates and writes the blocks to the store (`--store URL`), and serves `hypasis.v1.Fetcher`
//! (status, peers, bans) over the shared service plumbing (mTLS, health, metrics). With
//! `--etcd` it registers under the `fetcher` membership kind with its announcement (address,
//! tip from its peers' heads, peer count), refreshed as they change.

use anyhow::Context;
use clap::Parser;
use hypasis_config::{CommonArgs, TlsMode};
use hypasis_coordination::{Coordinator, EtcdCoordinator, EtcdOptions};
use hypasis_fetcher::{
    Fetcher, FetcherConfig, FetcherGrpc, FetcherMetrics, GrpcLeases, GrpcStoreSink,
};
use hypasis_network::chain::{Head, session_config};
use hypasis_network::pool::{Pool, PoolConfig};
use hypasis_primitives::ChainSpec;
use hypasis_proto::v1;
use hypasis_rlpx::Enode;
use hypasis_rlpx::identity::{generate_secret_key, load_or_generate_secret_key, node_id};
use hypasis_server::ServiceRuntime;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "hypasis-fetcher", version, about = "Hypasis fetcher service")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Scheduler gRPC URL(s): the leader and its standbys, comma-separated and/or repeated.
    /// A standby's leader hint is followed; otherwise the next URL is tried when one fails.
    #[arg(
        long,
        env = "HYPASIS_SCHEDULER",
        value_delimiter = ',',
        required = true
    )]
    scheduler: Vec<String>,
    /// Store gRPC URL.
    #[arg(long, env = "HYPASIS_STORE")]
    store: String,
    /// Validator service gRPC URL: validate there instead of in process.
    #[arg(long, env = "HYPASIS_VALIDATOR", value_name = "URL")]
    validator: Option<String>,
    /// Chain name (mainnet, sepolia, polygon, amoy, devnet).
    #[arg(long, env = "HYPASIS_CHAIN", conflicts_with = "genesis")]
    chain: Option<String>,
    /// A geth-format genesis.json for a custom chain.
    #[arg(long, value_name = "FILE")]
    genesis: Option<PathBuf>,
    /// Static peer (repeatable).
    #[arg(long = "peer", value_name = "ENODE")]
    peers: Vec<String>,
    /// Bootnode (repeatable; dialed like static peers).
    #[arg(long = "bootnode", value_name = "ENODE")]
    bootnodes: Vec<String>,
    /// Do not run discovery (static peers only).
    #[arg(long)]
    no_discovery: bool,
    /// discv4 UDP listen address (discovery mode).
    #[arg(long, value_name = "HOST:PORT", default_value = "0.0.0.0:30303")]
    discovery_listen: SocketAddr,
    /// devp2p listen address (inbound peers).
    #[arg(long, value_name = "HOST:PORT")]
    p2p_listen: Option<SocketAddr>,
    /// etcd endpoint for fetcher membership (repeatable).
    #[arg(long = "etcd", value_name = "URL")]
    etcd: Vec<String>,
    /// Key prefix in etcd.
    #[arg(long, default_value = "/hypasis")]
    etcd_prefix: String,
    /// Maximum connected peers.
    #[arg(long, default_value_t = 50)]
    max_peers: usize,
    /// Memory budget for blocks in flight, MiB.
    #[arg(long, default_value_t = 256)]
    memory_budget_mb: u64,
    /// Units worked on at once.
    #[arg(long, default_value_t = 4)]
    parallel_units: u32,
    /// This fetcher's id (default: derived from its node id).
    #[arg(long)]
    id: Option<String>,
    /// Address announced to the scheduler (default: the listen address).
    #[arg(long)]
    advertise: Option<String>,
    /// Data directory: the devp2p node key is kept in `DIR/nodekey` (created on first start),
    /// so the enode survives restarts. Without it (and without --nodekey) the key is new at
    /// every start.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// devp2p node key file (64 hex characters, geth's format); created when missing.
    /// Overrides DATA_DIR/nodekey.
    #[arg(long, value_name = "FILE")]
    nodekey: Option<PathBuf>,
}

/// The devp2p secret key: `--nodekey FILE`, else `DATA_DIR/nodekey`, each loaded or created;
/// without either a fresh key (logged, since the enode then changes at every start).
fn node_secret(args: &Args) -> anyhow::Result<hypasis_rlpx::identity::SecretKey> {
    let path = match (&args.nodekey, &args.data_dir) {
        (Some(p), _) => p.clone(),
        (None, Some(dir)) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            dir.join("nodekey")
        }
        (None, None) => {
            tracing::warn!(
                "no --data-dir or --nodekey: using a fresh devp2p node key (the enode changes at every start)"
            );
            return Ok(generate_secret_key());
        }
    };
    load_or_generate_secret_key(&path)
        .with_context(|| format!("devp2p node key {}", path.display()))
}

/// Dials a service, retrying while it is not reachable yet (it may start after us).
async fn connect(
    url: &str,
    tls: &TlsMode,
    server: &str,
) -> anyhow::Result<tonic::transport::Channel> {
    loop {
        match hypasis_server::client_channel(url, tls, "fetcher", server).await {
            Ok(c) => return Ok(c),
            Err(e @ hypasis_server::ServerError::Endpoint { .. })
            | Err(e @ hypasis_server::ServerError::Tls(_)) => {
                return Err(anyhow::Error::new(e).context(format!("connecting to the {server}")));
            }
            Err(e) => {
                tracing::warn!(url, error = %e, "{server} not reachable yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Leases from the schedulers at `urls` (dialed lazily; the leader hint is followed).
fn scheduler_leases(urls: &[String], tls: &TlsMode) -> anyhow::Result<GrpcLeases> {
    let urls: Vec<String> = urls
        .iter()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .collect();
    let scheme = match tls {
        TlsMode::Mutual(_) => "https://",
        TlsMode::Insecure => "http://",
    };
    for u in &urls {
        anyhow::ensure!(
            u.starts_with(scheme) && u.parse::<tonic::transport::Uri>().is_ok(),
            "bad --scheduler URL `{u}`: expected {scheme}HOST:PORT"
        );
    }
    let tls = tls.clone();
    let dial = move |url: String| {
        let tls = tls.clone();
        async move {
            hypasis_server::client_channel(&url, &tls, "fetcher", "scheduler")
                .await
                .map_err(|e| e.to_string())
        }
    };
    GrpcLeases::with_endpoints(urls, dial).map_err(|e| anyhow::anyhow!("--scheduler: {e}"))
}

fn main() -> anyhow::Result<()> {
    let args: Args = hypasis_config::load();
    let config = args.common.resolve(
        SocketAddr::from(([127, 0, 0, 1], 7003)),
        SocketAddr::from(([127, 0, 0, 1], 9103)),
    )?;
    let format = hypasis_server::log_format(config.log_format);
    let spec = match (&args.chain, &args.genesis) {
        (_, Some(g)) => ChainSpec::from_genesis_file(g)?,
        (Some(c), None) => ChainSpec::by_name(c)?,
        (None, None) => anyhow::bail!("one of --chain NAME or --genesis FILE is required"),
    };
    let mut static_peers = Vec::new();
    for e in args.peers.iter().chain(&args.bootnodes) {
        static_peers.push(
            e.parse::<Enode>()
                .map_err(|err| anyhow::anyhow!("bad enode `{e}`: {err}"))?,
        );
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let _telemetry = hypasis_telemetry::init("hypasis-fetcher", format)?;
            let advertise = args.advertise.clone().unwrap_or_else(|| {
                let scheme = match config.tls {
                    TlsMode::Mutual(_) => "https",
                    TlsMode::Insecure => "http",
                };
                format!("{scheme}://{}", config.listen)
            });
            let tls = config.tls.clone();
            let rt = ServiceRuntime::new("fetcher", hypasis_proto::service_names::FETCHER, config)?;
            let metrics = FetcherMetrics::new(&rt.metrics.registry);

            let secret = node_secret(&args)?;
            let id = args
                .id
                .clone()
                .unwrap_or_else(|| format!("fetcher-{}", &format!("{:x}", node_id(&secret))[..12]));
            let mut pool_cfg = PoolConfig::new(session_config(&spec, &Head::genesis(&spec)));
            pool_cfg.head_bound =
                hypasis_network::pool::HeadBound::for_genesis(spec.genesis_timestamp());
            pool_cfg.max_peers = args.max_peers.max(1);
            pool_cfg.static_peers = static_peers;
            let listener = match args.p2p_listen {
                Some(a) => Some(
                    tokio::net::TcpListener::bind(a)
                        .await
                        .with_context(|| format!("binding --p2p-listen {a}"))?,
                ),
                None => None,
            };
            let tcp_port = listener
                .as_ref()
                .and_then(|l| l.local_addr().ok())
                .map_or(0, |a| a.port());
            tracing::info!(
                enode = %format!("enode://{:x}@127.0.0.1:{tcp_port}", node_id(&secret)),
                "devp2p identity"
            );
            let pool = Pool::start(pool_cfg, secret, listener);
            if args.no_discovery {
                tracing::info!(
                    "discovery disabled (--no-discovery): static peers and inbound only"
                );
            } else {
                let bootnodes = args
                    .bootnodes
                    .iter()
                    .filter_map(|e| e.parse::<Enode>().ok())
                    .collect();
                let disc = hypasis_discv4::Discv4::bind(
                    args.discovery_listen,
                    secret,
                    hypasis_discv4::Discv4Config {
                        bootnodes,
                        tcp_port,
                        ..Default::default()
                    },
                )
                .await
                .with_context(|| {
                    format!(
                        "binding discv4 on UDP {} (or pass --no-discovery)",
                        args.discovery_listen
                    )
                })?;
                tracing::info!(enode = %disc.local_enode(), "discv4 running");
                pool.discover_from(Arc::new(disc));
            }

            let scheduler = scheduler_leases(&args.scheduler, &tls)?;
            let store = connect(&args.store, &tls, "store").await?;
            let store_channel = store.clone();
            let mut fc = FetcherConfig::new(id.clone());
            fc.fetch = hypasis_downloader::fetch::FetchConfig::for_chain(&spec);
            fc.memory_budget = args.memory_budget_mb.max(1) * 1024 * 1024;
            fc.parallel_units = args.parallel_units.max(1);
            if let Some(url) = &args.validator {
                let channel = connect(url, &tls, "validator").await?;
                tracing::info!(validator = %url, "validating through the validator service");
                fc.validator_service = Some((
                    channel,
                    v1::ChainId {
                        chain_id: spec.chain_id,
                        name: spec.name.clone(),
                        genesis_hash: spec.genesis_hash.to_vec(),
                    },
                ));
            }
            let fetcher = Fetcher::new(
                fc,
                Arc::new(scheduler),
                Arc::new(GrpcStoreSink::new(store, rt.max_message_bytes)),
                pool.clone(),
                hypasis_validation::Validator::new(spec.clone()),
                metrics,
            );

            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            let worker = tokio::spawn({
                let f = fetcher.clone();
                let rx = stop_rx.clone();
                async move { f.run(rx).await }
            });

            // Checkpoints from the store: units of a known checkpoint are checked against its root.
            let checkpoints = tokio::spawn({
                let f = fetcher.clone();
                let mut rx = stop_rx.clone();
                let mut client = v1::store_client::StoreClient::new(store_channel.clone())
                    .max_decoding_message_size(rt.max_message_bytes);
                async move {
                    let mut next = 0u64;
                    loop {
                        let req = v1::ListCheckpointsRequest {
                            from_id: Some(next),
                            to_id: None,
                            limit: 1000,
                            latest_only: false,
                        };
                        let mut more = false;
                        match client.list_checkpoints(req).await {
                            Ok(r) => {
                                let list = r.into_inner().checkpoints;
                                more = list.len() >= 1000;
                                for c in list {
                                    if let Ok(cp) = hypasis_primitives::Checkpoint::try_from(c) {
                                        next = next.max(cp.id + 1);
                                        f.add_checkpoint(cp);
                                    }
                                }
                            }
                            Err(e) => tracing::debug!(error = %e, "listing checkpoints failed"),
                        }
                        if more {
                            continue;
                        }
                        tokio::select! {
                            _ = rx.wait_for(|s| *s) => break,
                            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                        }
                    }
                }
            });

            // Membership: re-register whenever the announcement changes.
            let membership = if args.etcd.is_empty() {
                None
            } else {
                let coord: Arc<dyn Coordinator> = Arc::new(
                    EtcdCoordinator::connect(
                        &args.etcd,
                        EtcdOptions {
                            prefix: args.etcd_prefix.clone(),
                            ..EtcdOptions::default()
                        },
                    )
                    .await
                    .context("connecting to etcd")?,
                );
                Some(tokio::spawn(hypasis_fetcher::announce_membership(
                    fetcher.clone(),
                    coord,
                    id.clone(),
                    advertise,
                    stop_rx.clone(),
                )))
            };

            rt.set_serving(true).await;
            let service = FetcherGrpc::new(
                fetcher.clone(),
                id,
                v1::ChainId {
                    chain_id: spec.chain_id,
                    name: spec.name.clone(),
                    genesis_hash: spec.genesis_hash.to_vec(),
                },
            )
            .into_server();
            let routes = tonic::service::Routes::new(service);
            rt.serve(routes, hypasis_server::shutdown_signal()).await?;
            let _ = stop_tx.send(true);
            let _ = worker.await;
            let _ = checkpoints.await;
            if let Some(m) = membership {
                let _ = m.await;
            }
            pool.shutdown().await;
            Ok(())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flag is settable from the TOML file and from `HYPASIS_*`.
    #[test]
    fn every_flag_is_configurable() {
        hypasis_config::harness::assert_every_arg_configurable::<Args>(&[
            ("scheduler", "http://127.0.0.1:7002"),
            ("store", "http://127.0.0.1:7001"),
        ]);
    }
}
