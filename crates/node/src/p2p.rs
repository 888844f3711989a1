//! The devp2p side of a fetcher: its node key, the peer pool and discovery.

use crate::{ConfigError, NodeError};
use hypasis_network::chain::{Head, session_config};
use hypasis_network::pool::{HeadBound, Pool, PoolConfig};
use hypasis_primitives::ChainSpec;
use hypasis_rlpx::identity::{NodeId, SecretKey, generate_secret_key, load_or_generate_secret_key};
use hypasis_rlpx::{Enode, identity::node_id};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the devp2p node key comes from.
#[derive(Debug, Clone, Default)]
pub struct NodeKey {
    /// `--nodekey FILE`: loaded, or created when missing.
    pub file: Option<PathBuf>,
    /// The data directory: `DIR/nodekey`, loaded or created.
    pub data_dir: Option<PathBuf>,
}

impl NodeKey {
    /// The key file in use (`--nodekey`, else `DATA_DIR/nodekey`), if any.
    pub fn path(&self) -> Option<PathBuf> {
        self.file
            .clone()
            .or_else(|| self.data_dir.as_ref().map(|d| d.join("nodekey")))
    }

    /// The secret key: loaded or created at [`Self::path`]; without a path a fresh key (logged,
    /// since the enode then changes at every start).
    pub fn load(&self) -> Result<SecretKey, NodeError> {
        let Some(path) = self.path() else {
            tracing::warn!(
                "no --data-dir or --nodekey: using a fresh devp2p node key (the enode changes at every start)"
            );
            return Ok(generate_secret_key());
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_dir(dir)?;
        }
        load_or_generate_secret_key(&path).map_err(|source| NodeError::NodeKey { path, source })
    }
}

/// Creates `dir` and its parents.
pub fn create_dir(dir: &Path) -> Result<(), NodeError> {
    std::fs::create_dir_all(dir).map_err(|source| NodeError::Dir {
        path: dir.to_path_buf(),
        source,
    })
}

/// Parses enode URLs given on the command line.
pub fn parse_enodes<'a>(
    list: impl IntoIterator<Item = &'a String>,
) -> Result<Vec<Enode>, ConfigError> {
    list.into_iter()
        .map(|e| {
            e.parse::<Enode>().map_err(|source| ConfigError::BadEnode {
                input: e.clone(),
                source,
            })
        })
        .collect()
}

/// How a fetcher meets peers.
#[derive(Debug, Clone)]
pub struct P2pConfig {
    /// Static peers (dialed and kept).
    pub peers: Vec<Enode>,
    /// Bootnodes (dialed like static peers and, with discovery, asked for more).
    pub bootnodes: Vec<Enode>,
    /// discv4 UDP address; `None`: static peers and inbound only.
    pub discovery: Option<SocketAddr>,
    /// devp2p TCP listen address for inbound peers.
    pub listen: Option<SocketAddr>,
    /// Most connected peers.
    pub max_peers: usize,
}

/// The devp2p flags of every process that meets peers (the fetcher service and
/// `hypasis standalone`), flattened into their arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct P2pArgs {
    /// Static peer (repeatable).
    #[arg(long = "peer", value_name = "ENODE")]
    pub peers: Vec<String>,
    /// Bootnode for discovery (repeatable; also dialed like a static peer).
    #[arg(long = "bootnode", value_name = "ENODE")]
    pub bootnodes: Vec<String>,
    /// Do not run discv4 discovery (static peers and bootnodes only).
    #[arg(long)]
    pub no_discovery: bool,
    /// discv4 UDP listen address.
    #[arg(long, value_name = "HOST:PORT", default_value = "0.0.0.0:30303")]
    pub discovery_listen: SocketAddr,
    /// devp2p TCP listen address for inbound peers.
    #[arg(long, value_name = "HOST:PORT")]
    pub p2p_listen: Option<SocketAddr>,
    /// Most connected peers.
    #[arg(long, default_value_t = 50)]
    pub max_peers: usize,
}

impl P2pArgs {
    /// The pool settings these flags give; a malformed enode is refused.
    pub fn config(&self) -> Result<P2pConfig, ConfigError> {
        Ok(P2pConfig {
            peers: parse_enodes(&self.peers)?,
            bootnodes: parse_enodes(&self.bootnodes)?,
            discovery: (!self.no_discovery).then_some(self.discovery_listen),
            listen: self.p2p_listen,
            max_peers: self.max_peers,
        })
    }
}

impl P2pConfig {
    /// Whether any way to meet a peer is configured (static peers, bootnodes or discovery).
    pub fn has_peer_source(&self) -> bool {
        !self.peers.is_empty() || !self.bootnodes.is_empty() || self.discovery.is_some()
    }
}

impl Default for P2pConfig {
    fn default() -> Self {
        Self {
            peers: Vec::new(),
            bootnodes: Vec::new(),
            discovery: None,
            listen: None,
            max_peers: 50,
        }
    }
}

/// A running peer pool.
#[derive(Debug, Clone)]
pub struct P2p {
    /// The pool the fetcher takes sessions from.
    pub pool: Pool,
    /// Our node id (the `enode://` id).
    pub node_id: NodeId,
    /// The devp2p TCP port bound (0 without a listener).
    pub tcp_port: u16,
}

/// Starts the peer pool for `spec` (our `Status` per chain, the peers' head bound from its
/// genesis time) and, when configured, discv4 feeding it.
pub async fn start(spec: &ChainSpec, cfg: &P2pConfig, secret: SecretKey) -> Result<P2p, NodeError> {
    let mut pool_cfg = PoolConfig::new(session_config(spec, &Head::genesis(spec)));
    pool_cfg.head_bound = HeadBound::for_genesis(spec.genesis_timestamp());
    pool_cfg.max_peers = cfg.max_peers.max(1);
    pool_cfg.static_peers = cfg.peers.iter().chain(&cfg.bootnodes).cloned().collect();
    let listener = match cfg.listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| NodeError::Bind {
                    what: "the devp2p listener",
                    addr,
                    source,
                })?,
        ),
        None => None,
    };
    let tcp_port = listener
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map_or(0, |a| a.port());
    let id = node_id(&secret);
    tracing::info!(enode = %format!("enode://{id:x}@127.0.0.1:{tcp_port}"), "devp2p identity");
    let pool = Pool::start(pool_cfg, secret, listener);
    match cfg.discovery {
        None => tracing::info!("discovery disabled: static peers and inbound only"),
        Some(addr) => {
            let disc = hypasis_discv4::Discv4::bind(
                addr,
                secret,
                hypasis_discv4::Discv4Config {
                    bootnodes: cfg.bootnodes.clone(),
                    tcp_port,
                    ..Default::default()
                },
            )
            .await
            .map_err(|source| NodeError::Bind {
                what: "discv4 (UDP; or disable discovery)",
                addr,
                source,
            })?;
            tracing::info!(enode = %disc.local_enode(), "discv4 running");
            pool.discover_from(Arc::new(disc));
        }
    }
    Ok(P2p {
        pool,
        node_id: id,
        tcp_port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_survives_restarts_and_nodekey_overrides_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let in_dir = NodeKey {
            file: None,
            data_dir: Some(dir.path().join("data")),
        };
        let first = node_id(&in_dir.load().unwrap());
        assert_eq!(first, node_id(&in_dir.load().unwrap()));
        assert!(dir.path().join("data/nodekey").exists());
        let own = NodeKey {
            file: Some(dir.path().join("keys/own")),
            data_dir: Some(dir.path().join("data")),
        };
        let other = node_id(&own.load().unwrap());
        assert_ne!(other, first);
        assert_eq!(other, node_id(&own.load().unwrap()));
        // A file that is not a key is refused, not replaced.
        std::fs::write(dir.path().join("bad"), "not a key").unwrap();
        let bad = NodeKey {
            file: Some(dir.path().join("bad")),
            data_dir: None,
        };
        assert!(matches!(bad.load(), Err(NodeError::NodeKey { .. })));
    }

    #[test]
    fn bad_enodes_are_named() {
        let err = parse_enodes(&["enode://zz@1.2.3.4:1".to_string()]).unwrap_err();
        assert!(err.to_string().contains("enode://zz"), "{err}");
        assert!(parse_enodes(&[]).unwrap().is_empty());
    }
}
