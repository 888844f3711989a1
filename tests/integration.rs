//! The integration suites, one module each, in one test binary: every suite links the whole
//! workspace, so one binary is one link instead of seventeen. Run one suite with
//! `cargo test -p hypasis-integration-tests --test integration <suite>::`.

mod checkpoint_support;

mod checkpoint_beacon;
mod checkpoint_heimdall;
mod checkpoint_l1;
mod checkpoint_service;
mod cluster_e2e;
mod devnet_cli;
mod export_status_cli;
mod fetcher_cluster;
mod helm_chart;
mod operator_tools;
mod p2p_cli;
mod p2p_interop;
mod scheduler_failover;
mod standalone_cli;
mod store_service;
mod validator_service;
mod verify_cli;
