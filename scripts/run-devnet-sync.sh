#!/usr/bin/env bash
# `make run`: a local devnet of BLOCKS blocks (Bor-style, signed, with checkpoints and milestones
# trailing the head by half the chain, growing one block every GROW_MS), synced by
# `hypasis standalone` from the Heimdall milestone in the middle: forward to the growing tip
# first, then backward to genesis, with a progress bar per direction and a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-./target/debug}
RUN_DIR=${RUN_DIR:-.hypasis/run}
BLOCKS=${BLOCKS:-50000}
GROW_MS=${GROW_MS:-100}
PEERS=${PEERS:-3}
P2P_BASE=${P2P_BASE:-127.0.0.1:30400}
HEIMDALL=${HEIMDALL:-127.0.0.1:1317}
LISTEN=${LISTEN:-127.0.0.1:7000}
METRICS=${METRICS:-127.0.0.1:9100}

rm -rf "$RUN_DIR/data" && mkdir -p "$RUN_DIR"
devnet_out="$RUN_DIR/devnet.out"
echo "devnet: generating $BLOCKS blocks, $PEERS peers from $P2P_BASE, Heimdall on http://$HEIMDALL (log: $RUN_DIR/devnet.log)"
"$BIN/hypasis" devnet --blocks "$BLOCKS" --peers "$PEERS" --listen-base "$P2P_BASE" \
  --heimdall-listen "$HEIMDALL" --checkpoint-lag $((BLOCKS / 2)) --grow-every-ms "$GROW_MS" \
  >"$devnet_out" 2>"$RUN_DIR/devnet.log" &
devnet=$!
trap 'kill $devnet 2>/dev/null || true; wait $devnet 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  grep -q '^heimdall ' "$devnet_out" 2>/dev/null && break
  kill -0 $devnet 2>/dev/null || { cat "$RUN_DIR/devnet.log"; exit 1; }
  sleep 0.2
done
peers=()
while read -r e; do peers+=(--peer "$e"); done < <(grep '^enode://' "$devnet_out")
heimdall_url=$(sed -n 's/^heimdall //p' "$devnet_out")

echo "standalone: data $RUN_DIR/data, gRPC $LISTEN (mTLS, certs in $RUN_DIR/data/certs), metrics http://$METRICS/metrics"
"$BIN/hypasis" standalone --chain devnet --data-dir "$RUN_DIR/data" --no-discovery \
  "${peers[@]}" --heimdall "$heimdall_url" --checkpoints-from 1 --checkpoint-poll-ms 1000 \
  --listen "$LISTEN" --metrics-listen "$METRICS" --exit-when-synced
echo
echo "next: $BIN/hypasis export --data-dir $RUN_DIR/data --from 1 --to 1000 --out $RUN_DIR/chain.rlp --receipts $RUN_DIR/receipts.rlp"
