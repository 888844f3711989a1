//! The composition root of Hypasis Sync: one place that assembles the parts — checkpoint
//! follower, scheduler, fetcher (devp2p pool and downloader), validator and store — for each of
//! the five services (`services/<role>`: flags → a config struct here → `serve`) and for standalone
//! mode (all of them in one process on the embedded store, [`standalone`]).
//!
//! The services and standalone share the builders below, so a part is wired one way:
//! [`p2p::start`] (node key, pool, discovery), [`fetcher::build`], [`scheduler::build`],
//! [`checkpoint::checker`], [`store::open`]; the parts meet only through the seams their
//! crates define (lease source, block sink, scheduler store, checkpoint store), each with an
//! in-process and a gRPC implementation.

pub mod checkpoint;
pub mod error;
pub mod fetcher;
pub mod p2p;
pub mod runtime;
pub mod scheduler;
pub mod standalone;
pub mod store;
pub mod validator;

pub use error::{ConfigError, NodeError};
pub use runtime::run_service;
pub use standalone::{
    AnchorChoice, Progress, Standalone, StandaloneConfig, Summary, parse_trusted, store_genesis,
};
