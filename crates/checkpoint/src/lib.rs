//! Checkpoint sources, cross-checking and the checkpoint service.
//!
//! - [`CheckpointSource`] is the trait of every anchor source: [`HeimdallSource`] (REST, v1
//!   and v2 formats), [`RootChainSource`] (the RootChain contract on Ethereum L1 over
//!   JSON-RPC), [`BeaconSource`] (a beacon node verified with the light-client protocol) and
//!   [`StaticSource`] (configuration).
//! - [`CrossChecker`] asks several sources and requires a quorum of agreeing answers;
//!   disagreement is refused.
//! - [`service`] persists accepted checkpoints ([`store::CheckpointStore`]), keeps the trusted
//!   head (the newest block the sources vouch for by hash: Heimdall's milestone, a block
//!   anchor) and serves `hypasis.v1.CheckpointService`; [`GrpcAnchors`] reads that head
//!   remotely.

pub mod beacon;
pub mod client;
pub mod config;
pub mod error;
pub mod heimdall;
pub mod http;
pub mod l1;
pub mod metrics;
pub mod quorum;
pub mod retry;
pub mod service;
pub mod source;
pub mod ssz;
pub mod static_source;
pub mod store;
pub mod testing;

#[cfg(test)]
mod tests_unit;

pub use beacon::{BeaconNetwork, BeaconSource, LightClient, LightClientError, Unverified};
pub use client::GrpcAnchors;
pub use error::{ErrorKind, SourceError, SourceResult};
pub use heimdall::{BorSpan, HeimdallSource, parse_span};
pub use http::ParseError;
pub use l1::{L1Finality, RootChainSource};
pub use metrics::CheckpointMetrics;
pub use quorum::{Agreement, CrossCheckError, CrossChecker, TrustedHeadError};
pub use source::CheckpointSource;
pub use static_source::StaticSource;
