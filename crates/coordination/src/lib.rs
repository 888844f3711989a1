//! Leader election and membership for Hypasis services.
//!
//! [`Coordinator`] is what the scheduler (leader election, fetcher membership) and the fetchers
//! (registration) need. Two implementations:
//! - [`EtcdCoordinator`] (cluster mode): etcd's Election API on a lease kept alive in the
//!   background; membership as keys under a lease. The leadership **term** is the creation
//!   revision of the leader key in etcd, so it increases with every election across the cluster
//!   and can fence writes of a deposed leader.
//! - [`LocalCoordinator`] (standalone mode): the same contract in process, no etcd.

mod etcd;
mod local;

pub use etcd::{EtcdCoordinator, EtcdOptions};
pub use local::LocalCoordinator;

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::watch;

/// Coordination failures.
#[derive(Debug, thiserror::Error)]
pub enum CoordError {
    /// The coordination backend (etcd) is unreachable or failed; retry.
    #[error("coordination backend unavailable: {0}")]
    Unavailable(String),
    /// A bad argument (empty name, zero TTL).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl hypasis_primitives::Fault for CoordError {
    /// An unavailable backend is retried (local); a bad argument is our own configuration or
    /// code (fatal).
    fn fault(&self) -> hypasis_primitives::FaultClass {
        match self {
            Self::Unavailable(_) => hypasis_primitives::FaultClass::Local,
            Self::InvalidArgument(_) => hypasis_primitives::FaultClass::Fatal,
        }
    }
}

/// Members of one kind: id → advertised value.
pub type Members = BTreeMap<String, String>;

/// Held leadership. Dropping it resigns (the next candidate takes over at once);
/// [`LeaderGuard::abandon`] stops renewing without resigning, as a crash would (the next
/// candidate takes over when the lease expires).
#[derive(Debug)]
pub struct LeaderGuard {
    /// The leadership term: higher than every earlier term of this election.
    pub term: u64,
    /// Becomes `true` when leadership is lost (lease not renewed in time, key deleted). Stop
    /// acting as leader at once when it does.
    pub lost: watch::Receiver<bool>,
    release: Option<Box<dyn Release>>,
}

/// What a guard does when released.
pub(crate) trait Release: Send + Sync + std::fmt::Debug {
    /// Resign: give leadership up now.
    fn resign(self: Box<Self>);
    /// Stop renewing without resigning.
    fn abandon(self: Box<Self>);
}

impl LeaderGuard {
    pub(crate) fn new(term: u64, lost: watch::Receiver<bool>, release: Box<dyn Release>) -> Self {
        Self {
            term,
            lost,
            release: Some(release),
        }
    }

    /// Whether leadership has been lost.
    pub fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }

    /// Resolves when leadership is lost.
    pub async fn lost(&mut self) {
        let _ = self.lost.wait_for(|l| *l).await;
    }

    /// Stops renewing the leadership without resigning (simulates a crash; tests).
    pub fn abandon(mut self) {
        if let Some(r) = self.release.take() {
            r.abandon();
        }
    }
}

impl Drop for LeaderGuard {
    fn drop(&mut self) {
        if let Some(r) = self.release.take() {
            r.resign();
        }
    }
}

/// A registered member. Dropping it deregisters; [`MemberGuard::abandon`] stops renewing so the
/// registration expires with its TTL, as a crash would.
#[derive(Debug)]
pub struct MemberGuard {
    inner: Option<Box<dyn MemberHandle>>,
}

#[async_trait]
pub(crate) trait MemberHandle: Send + Sync + std::fmt::Debug {
    async fn set_value(&self, value: &str) -> Result<(), CoordError>;
    fn leave(self: Box<Self>);
    fn abandon(self: Box<Self>);
}

impl MemberGuard {
    pub(crate) fn new(inner: Box<dyn MemberHandle>) -> Self {
        Self { inner: Some(inner) }
    }

    /// Replaces the advertised value (e.g. a fetcher's current tip).
    pub async fn set_value(&self, value: &str) -> Result<(), CoordError> {
        match &self.inner {
            Some(h) => h.set_value(value).await,
            None => Ok(()),
        }
    }

    /// Stops renewing without deregistering (simulates a crash; tests).
    pub fn abandon(mut self) {
        if let Some(h) = self.inner.take() {
            h.abandon();
        }
    }
}

impl Drop for MemberGuard {
    fn drop(&mut self) {
        if let Some(h) = self.inner.take() {
            h.leave();
        }
    }
}

/// Leader election and membership.
#[async_trait]
pub trait Coordinator: Send + Sync + std::fmt::Debug + 'static {
    /// Campaigns for leadership of election `name`, advertising `value` (e.g. this candidate's
    /// gRPC address, returned to clients as the leader hint). Resolves once elected.
    async fn campaign(&self, name: &str, value: &str) -> Result<LeaderGuard, CoordError>;

    /// The current leader's advertised value, if there is a leader.
    async fn leader(&self, name: &str) -> Result<Option<String>, CoordError>;

    /// Registers member `id` of `kind` with `value`; it stays registered while the returned
    /// guard lives and renews (at most `ttl` after the process dies).
    async fn register_member(
        &self,
        kind: &str,
        id: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<MemberGuard, CoordError>;

    /// The members of `kind`, updated as they join, change and leave.
    async fn watch_members(&self, kind: &str) -> Result<watch::Receiver<Members>, CoordError>;
}

fn check_name(what: &str, name: &str) -> Result<(), CoordError> {
    if name.is_empty() || name.contains('/') && what == "member id" {
        return Err(CoordError::InvalidArgument(format!(
            "{what} `{name}` must be non-empty{}",
            if what == "member id" {
                " and contain no `/`"
            } else {
                ""
            }
        )));
    }
    Ok(())
}

pub mod testing;
