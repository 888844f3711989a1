//! What goes wrong while assembling or running a node.

use hypasis_primitives::{Fault, FaultClass};
use std::net::SocketAddr;
use std::path::PathBuf;

/// A setting that cannot work, found before anything starts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Neither a trusted block nor a checkpoint source to anchor on.
    #[error(
        "no anchor: give --trusted NUMBER:HASH, or a checkpoint source (--heimdall URL, --l1-rpc URL, --beacon URL)"
    )]
    NoAnchor,
    /// Neither `--chain` nor `--genesis`.
    #[error("one of --chain NAME or --genesis FILE is required")]
    NoChain,
    /// The chain could not be loaded.
    #[error("chain: {0}")]
    Chain(#[from] hypasis_primitives::ChainSpecError),
    /// A trusted block is not `NUMBER[:HASH]`.
    #[error("{flag}: expected {expected}, got `{input}`")]
    BadAnchor {
        /// The flag.
        flag: &'static str,
        /// The expected form.
        expected: &'static str,
        /// What was given.
        input: String,
    },
    /// An enode URL does not parse.
    #[error("bad enode `{input}`: {source}")]
    BadEnode {
        /// What was given.
        input: String,
        /// Why.
        source: hypasis_rlpx::EnodeError,
    },
    /// A service URL is not of the scheme the TLS mode needs.
    #[error("bad {flag} URL `{url}`: expected {scheme}HOST:PORT")]
    BadUrl {
        /// The flag.
        flag: &'static str,
        /// What was given.
        url: String,
        /// `https://` (mTLS) or `http://` (`--insecure`).
        scheme: &'static str,
    },
    /// No URL at all where one is required.
    #[error("{flag}: no URL given")]
    NoUrl {
        /// The flag.
        flag: &'static str,
    },
    /// The embedded store needs a directory.
    #[error("{0}")]
    Missing(&'static str),
    /// The chain spec's genesis header does not hash to its genesis hash.
    #[error(
        "the chain spec's genesis header hashes to {computed}, not its genesis hash {expected}"
    )]
    GenesisMismatch {
        /// Hash of the encoded header.
        computed: hypasis_primitives::B256,
        /// The spec's genesis hash.
        expected: hypasis_primitives::B256,
    },
    /// This build lacks a feature the setting needs.
    #[error("{0}")]
    Unsupported(&'static str),
}

/// What goes wrong while assembling or running a node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Bad settings: fix the command line or the config file.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// A directory could not be created.
    #[error("creating {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A listener could not be bound.
    #[error("binding {what} on {addr}: {source}")]
    Bind {
        /// Which listener (`devp2p`, `discv4 UDP`).
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The devp2p node key file could not be read or created.
    #[error("devp2p node key {path}: {source}")]
    NodeKey {
        /// Key file.
        path: PathBuf,
        /// Underlying error.
        source: hypasis_rlpx::identity::KeyFileError,
    },
    /// The store could not be opened or read.
    #[error("store: {0}")]
    Storage(#[from] hypasis_storage_api::StorageError),
    /// A checkpoint source could not be set up.
    #[error("checkpoint sources: {0}")]
    Sources(#[from] hypasis_checkpoint::SourceError),
    /// The gRPC plumbing (bind, TLS, dial) failed.
    #[error(transparent)]
    Server(#[from] hypasis_server::ServerError),
    /// Logs, traces or metrics could not be set up.
    #[error(transparent)]
    Telemetry(#[from] hypasis_telemetry::TelemetryError),
    /// A metric could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// etcd could not be reached.
    #[error("etcd: {0}")]
    Coordination(#[from] hypasis_coordination::CoordError),
    /// The async runtime could not start, or a task died.
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
    /// The checkpoint sources gave no trusted head in time (Heimdall serves no milestone,
    /// or its sources stand at different milestones).
    #[error(
        "no trusted head from the checkpoint sources within {waited:?}: check that Heimdall serves /milestones/latest, or give --trusted NUMBER:HASH"
    )]
    NoTrustedHead {
        /// How long it was waited for.
        waited: std::time::Duration,
    },
}

impl Fault for ConfigError {
    fn fault(&self) -> FaultClass {
        FaultClass::Fatal
    }
}

impl Fault for NodeError {
    fn fault(&self) -> FaultClass {
        match self {
            Self::Config(_) | Self::Dir { .. } | Self::Bind { .. } | Self::NodeKey { .. } => {
                FaultClass::Fatal
            }
            Self::Storage(e) => e.fault(),
            Self::Sources(e) => e.fault(),
            Self::Server(e) => e.fault(),
            Self::Telemetry(e) => e.fault(),
            Self::Metrics(_) | Self::Runtime(_) => FaultClass::Fatal,
            Self::Coordination(e) => e.fault(),
            Self::NoTrustedHead { .. } => FaultClass::Local,
        }
    }
}
