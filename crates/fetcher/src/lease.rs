//! The lease seam, from `hypasis-scheduler-api` (implementations live with the scheduler).

#[cfg(test)]
pub(crate) use hypasis_scheduler_api::now_ms;
pub use hypasis_scheduler_api::{LeaseError, LeaseSource, LeasedUnit};
