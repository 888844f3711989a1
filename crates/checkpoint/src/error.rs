//! Typed source errors, classified by what the caller does next.

use hypasis_primitives::{Fault, FaultClass};
use std::fmt;

/// What kind of failure a source reported, and therefore what to do about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Timeout, connection refused, 5xx, rate limit, node not synced: retry with backoff.
    Transient,
    /// The source answered with data that is malformed, truncated, of the wrong type, fails
    /// verification or contradicts the request: refuse it (never retried into acceptance).
    Invalid,
    /// The source does not have the requested checkpoint (yet).
    NotFound,
    /// The source is misconfigured (bad URL, bad address, unsupported operation): fix the
    /// configuration.
    Config,
}

impl ErrorKind {
    /// Stable label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Invalid => "invalid",
            Self::NotFound => "not_found",
            Self::Config => "config",
        }
    }
}

impl ErrorKind {
    /// The kind as a [`FaultClass`]: invalid data is the source's (peer); a transient failure
    /// or a checkpoint the source does not have yet is retried (local); a misconfigured
    /// source is fatal.
    pub const fn fault(self) -> FaultClass {
        match self {
            Self::Invalid => FaultClass::Peer,
            Self::Transient | Self::NotFound => FaultClass::Local,
            Self::Config => FaultClass::Fatal,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Transient => "temporarily unavailable",
            Self::Invalid => "invalid data",
            Self::NotFound => "not found",
            Self::Config => "configuration error",
        })
    }
}

/// An error from one checkpoint source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceError {
    /// The source (its display name, e.g. `heimdall http://host:1317`).
    pub origin: String,
    /// Classification.
    pub kind: ErrorKind,
    /// What happened.
    pub message: String,
}

impl SourceError {
    /// A new error.
    pub fn new(origin: impl Into<String>, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            origin: origin.into(),
            kind,
            message: message.into(),
        }
    }

    /// A transient failure.
    pub fn transient(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(origin, ErrorKind::Transient, message)
    }

    /// Invalid data.
    pub fn invalid(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(origin, ErrorKind::Invalid, message)
    }

    /// Not found.
    pub fn not_found(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(origin, ErrorKind::NotFound, message)
    }

    /// Configuration error.
    pub fn config(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(origin, ErrorKind::Config, message)
    }

    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind == ErrorKind::Transient
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.origin, self.kind, self.message)
    }
}

impl std::error::Error for SourceError {}

impl Fault for SourceError {
    fn fault(&self) -> FaultClass {
        self.kind.fault()
    }
}

/// Result alias.
pub type SourceResult<T> = Result<T, SourceError>;
