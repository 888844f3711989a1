# Hypasis Sync — developer entry points.
#   make run    the main job on the embedded default
#   make test   everything CI runs
SHELL := /bin/bash
CARGO ?= cargo
RUN_DIR ?= .hypasis

.PHONY: run test test-deps lint fmt clippy build fdb-check unit bench clean-run fuzz-smoke fuzz

run: build
	@mkdir -p $(RUN_DIR)
	@if [ ! -f $(RUN_DIR)/certs/ca.pem ]; then ./target/debug/hypasis certs generate --out $(RUN_DIR)/certs >/dev/null; fi
	@echo "make run: the sync (scheduler, fetchers, devnet) has not landed yet, so this starts the store"
	@echo "service on the embedded redb backend with freshly generated mTLS certificates:"
	@echo "  gRPC    https://127.0.0.1:7001   (client cert: $(RUN_DIR)/certs/admin.pem + admin.key, CA: $(RUN_DIR)/certs/ca.pem)"
	@echo "  metrics http://127.0.0.1:9101/metrics"
	@echo "  data    $(RUN_DIR)/data"
	@echo "try: tests/tools/node_modules/.bin/buf curl --protocol grpc --cacert $(RUN_DIR)/certs/ca.pem --cert $(RUN_DIR)/certs/admin.pem --key $(RUN_DIR)/certs/admin.key --list-services https://127.0.0.1:7001"
	@echo "Ctrl-C stops it gracefully."
	./target/debug/hypasis-store --data-dir $(RUN_DIR)/data --listen 127.0.0.1:7001 --metrics-listen 127.0.0.1:9101 --tls-dir $(RUN_DIR)/certs

build:
	$(CARGO) build --workspace --bins

# Installs the test tools if they are missing (CI's .ci/run does this on a fresh machine).
test-deps:
	@if [ ! -x tests/tools/node_modules/.bin/buf ]; then npm ci --prefix tests/tools --no-audit --no-fund --loglevel=error; fi
	@for d in tests/interop tests/l1; do \
	  if [ -f $$d/package-lock.json ] && [ ! -d $$d/node_modules ]; then npm ci --prefix $$d --no-audit --no-fund --loglevel=error; fi; \
	done
	@python3 -c "import grpc, opentelemetry.proto" 2>/dev/null || python3 -m pip install -q --disable-pip-version-check -r tests/tools/requirements.txt

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The FoundationDB backend: type-checked here (libfdb_c cannot be installed on these machines);
# its contract suite runs when FDB_CLUSTER_FILE is set.
fdb-check:
	$(CARGO) check -p hypasis-storage-fdb --features fdb
	$(CARGO) clippy -p hypasis-storage-fdb -p hypasis-store --features fdb --all-targets -- -D warnings

lint: fmt clippy fdb-check

unit: build
	$(CARGO) test --workspace --no-fail-fast

test: test-deps lint unit

bench:
	$(CARGO) bench -p hypasis-bench

clean-run:
	rm -rf $(RUN_DIR)

# Short coverage-free smoke run of every fuzz target on stable (part of `cargo test` too).
fuzz-smoke:
	FUZZ_SMOKE_SECS=5 $(CARGO) test -p hypasis-devp2p --test fuzz_smoke -- --nocapture

# Real coverage-guided fuzzing with libFuzzer (needs cargo-fuzz and a nightly toolchain).
fuzz:
	cd fuzz && for t in $$(cargo +nightly fuzz list); do cargo +nightly fuzz run $$t -- -max_total_time=30 || exit 1; done
