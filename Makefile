# Hypasis Sync — developer entry points.
#   make run    the main job on the embedded default
#   make test   everything CI runs
SHELL := /bin/bash
CARGO ?= cargo
RUN_DIR ?= .hypasis

.PHONY: run test deps deps-run test-deps lint fmt clippy build fdb-check unit bench bench-fleet clean-run fuzz-smoke fuzz

run: deps-run build
	RUN_DIR=$(RUN_DIR) scripts/run-devnet-sync.sh

build:
	$(CARGO) build --workspace --bins

# What the two commands need on a fresh machine (system packages as root, else the exact command
# to run; npm and pip test tools). Idempotent; `.ci/run` calls the same script.
deps-run:
	@scripts/deps.sh run

deps:
	@scripts/deps.sh test

test-deps: deps

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The FoundationDB backend: type-checked here (libfdb_c cannot be installed on these machines);
# its contract suite runs when FDB_CLUSTER_FILE is set.
fdb-check:
	$(CARGO) check -p hypasis-storage-fdb --features fdb
	$(CARGO) clippy -p hypasis-storage-fdb -p hypasis-store-service --features fdb --all-targets -- -D warnings

lint: fmt clippy fdb-check

unit: build
	$(CARGO) test --workspace --no-fail-fast

test: deps lint unit

bench:
	$(CARGO) bench -p hypasis-bench

# Fleet scaling: the same devnet synced by 1, 2 and 4 fetcher processes with bandwidth-capped
# peers (about 6 minutes; docs/PERFORMANCE.md "Fleet scaling"). Not part of `make test`.
bench-fleet:
	$(CARGO) build --release -p hypasis-cli -p hypasis-store-service -p hypasis-scheduler-service -p hypasis-fetcher-service
	$(CARGO) run --release -p hypasis-bench --bin fleet -- --blocks 20000 --fetchers 1,2,4 --peer-rate-mbps 1 --runs 3

clean-run:
	rm -rf $(RUN_DIR)

# Short coverage-free smoke run of every fuzz target on stable (part of `cargo test` too).
fuzz-smoke:
	FUZZ_SMOKE_SECS=5 $(CARGO) test -p hypasis-downloader --features test-utils --test fuzz_smoke -- --nocapture

# Real coverage-guided fuzzing with libFuzzer (needs cargo-fuzz and a nightly toolchain).
fuzz:
	cd fuzz && for t in $$(cargo +nightly fuzz list); do cargo +nightly fuzz run $$t -- -max_total_time=30 || exit 1; done
