//! The `hypasis.v1` gRPC API.
//!
//! Generated at build time from `proto/hypasis/v1/*.proto` (protox + tonic-prost-build), plus
//! [`FILE_DESCRIPTOR_SET`] for gRPC reflection and conversions between wire and domain types in
//! [`convert`].

/// Generated code of package `hypasis.v1`.
#[allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic
)]
pub mod v1 {
    tonic::include_proto!("hypasis.v1");
}

pub mod convert;

/// Encoded `FileDescriptorSet` of every hypasis.v1 file (and its imports), for reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/hypasis_descriptor.bin"));

/// Fully qualified service names, as reflection lists them.
pub mod service_names {
    /// The store service.
    pub const STORE: &str = "hypasis.v1.Store";
    /// The scheduler service.
    pub const SCHEDULER: &str = "hypasis.v1.Scheduler";
    /// The fetcher service.
    pub const FETCHER: &str = "hypasis.v1.Fetcher";
    /// The validator service.
    pub const VALIDATOR: &str = "hypasis.v1.Validator";
    /// The checkpoint service.
    pub const CHECKPOINT: &str = "hypasis.v1.CheckpointService";
}
