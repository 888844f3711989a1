//! Benchmarks of Hypasis Sync. The code lives in `benches/`; this library is empty.
//!
//! - `storage`: batch-write throughput of the embedded backend (`hypasis-storage-redb`) for
//!   Polygon-size blocks, plus raw redb vs raw fjall on the same blocks. Run with
//!   `cargo bench -p hypasis-bench --bench storage`; results are in `docs/PERFORMANCE.md`.
