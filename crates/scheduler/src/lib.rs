//! The Hypasis sync scheduler.
//!
//! [`Scheduler`] is a pure state machine (no I/O; time from an injected [`Clock`]): it cuts
//! **work units** from the gaps of `[genesis, tip]` (for Polygon along checkpoint ranges, one
//! checkpoint ≤ 1024 blocks per unit, longer checkpoints split on 1024-block boundaries of the
//! checkpoint; otherwise `unit_size`-aligned buckets), hands them out as **leases** with
//! expiries and monotonically increasing **fencing tokens** — forward units (anchor → tip)
//! first, backward units (anchor → genesis, newest first) filling the remaining capacity
//! through an explicit throttle — and tracks failures (exponential backoff with jitter, a
//! distinct NO_PEER state on a slower schedule), expiries, pauses, re-verification and progress.
//!
//! Every change is recorded as a term-fenced [`hypasis_storage_api::SchedulerDelta`]
//! ([`Scheduler::take_delta`]) that the caller commits to the store before acknowledging; a
//! restarted or newly elected scheduler rebuilds the exact state with [`Scheduler::restore`].
//! See [`persist`] for the record layout.

pub mod client;
mod clock;
mod config;
mod durable;
mod lease_source;
mod metrics;
pub mod persist;
mod scheduler;
pub mod service;
pub mod store;
mod unit;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{BackoffConfig, BackwardThrottle, DEFAULT_TIP_MARGIN, SchedulerConfig};
pub use durable::{AnchorSource, DurableError, DurableScheduler};
pub use hypasis_scheduler_api as api;
pub use lease_source::{InProcessLeases, NodeLeases, leased_unit};
pub use metrics::SchedulerMetrics;
pub use scheduler::{
    Acquired, Anchor, CheckpointSpan, Completion, DirectionStatus, InvariantError, RestoreError,
    Scheduler, SchedulerError, Status, TrustedHeadStatus, UnitFilter,
};
pub use unit::{
    Direction, FailureReason, Lease, LeaseInfo, LeaseState, Unit, UnitState, lease_id,
    parse_lease_id,
};
