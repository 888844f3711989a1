#!/usr/bin/env bash
# Installs what `make run` (`deps.sh run`) or `make test` (`deps.sh test`, the default) needs on a
# fresh Debian machine that has only Rust, Node.js/npm and Python 3. Idempotent: every step first
# checks whether its tools are already there. As root it uses apt-get; otherwise it prints the
# exact command to run and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-test}

# System packages:
#  - protobuf-compiler + libprotobuf-dev: protoc and the well-known .proto files, needed by the
#    build script of `etcd-client` (our own API is compiled with protox and needs neither)
#  - libclang-dev + clang + pkg-config: bindgen for the foundationdb crate (`make fdb-check`)
#  - etcd-server: the real etcd the coordination, failover and cluster tests start on 127.0.0.1
run_packages=(protobuf-compiler libprotobuf-dev)
test_packages=("${run_packages[@]}" libclang-dev clang pkg-config etcd-server)
case "$mode" in
  run) packages=("${run_packages[@]}") ;;
  test) packages=("${test_packages[@]}") ;;
  *) echo "usage: $0 [run|test]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages: ${missing[*]}" >&2
    echo "run: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ "$mode" = run ] && exit 0

# Rust components used by `make lint`.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi

# Node packages (pinned by package-lock.json): buf (grpcurl stand-in), the EthereumJS peers, the L1 node.
for dir in tests/tools tests/interop tests/l1; do
  if [ -f "$dir/package-lock.json" ] && [ ! -d "$dir/node_modules" ]; then
    echo "npm ci in $dir"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
  fi
done

# Python packages (pinned): the OTLP/gRPC receiver standing in for Jaeger, the Helm chart check.
if ! python3 -c "import grpc, opentelemetry.proto, helm_python, kubernetes_validate" 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check -r tests/tools/requirements.txt
fi
