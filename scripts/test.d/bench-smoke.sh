#!/usr/bin/env bash
# Benchmark smoke test (issue 5): the load generator against our relay on
# loopback, 1 publisher + 2 subscribers for 3 s, then 1 + 36 with two media
# threads (a room that big releases its packets on both, Sfu::flush_parallel,
# sending from both threads), then a 3-participant meeting with simulcast
# (issue 12 §7: every participant publishes 3 layers and receives the other
# two); every receiver must get at least 95 % of the video frames (90 % in
# the meeting, where a layer switch waits for a key frame), and the relay must
# have used the parallel path. No timing
# is asserted: this only proves the paths work end to end (bench/run.sh
# measures).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v curl >/dev/null 2>&1 || bash scripts/setup-test-deps.sh
cargo build --locked -q -p conclave -p conclave-load
bin=target/debug
log=$(mktemp /tmp/bench-smoke.XXXXXX)
relay=
trap 'kill $relay 2>/dev/null || true; rm -f "$log"' EXIT

# point SUBS [relay flags...]; load flags in the array "load" (scenario etc.)
load=()
point() {
  local subs=$1
  shift
  "$bin/conclave" serve --listen 127.0.0.1:0 "$@" >"$log" 2>&1 &
  relay=$!
  url=
  for _ in $(seq 1 300); do
    url=$(grep -ao 'open:[[:space:]]*https://[^ ]*' "$log" | head -1 | grep -o 'https://.*') && [ -n "$url" ] && break
    kill -0 $relay 2>/dev/null || { echo "relay exited:"; cat "$log"; exit 1; }
    sleep 0.1
  done
  [ -n "$url" ] || { echo "relay printed no 'open:' line:"; cat "$log"; exit 1; }
  "$bin/conclave-load" run --target conclave --url "$url" --relay-pid $relay \
    --subs "$subs" --duration 3 --warmup 1 --min-delivery "${min_delivery:-0.95}" "${load[@]}" | grep -v '^RESULT '
}

point 2
kill $relay
wait $relay 2>/dev/null || true
point 36 --media-threads 2
flushes=$(curl -sk "${url}metrics" | awk '$1 == "conclave_parallel_flushes_total" {print $2}')
kill $relay
wait $relay 2>/dev/null || true
if [ "${flushes:-0}" -eq 0 ]; then
  echo "bench smoke: the 36-subscriber room never used the parallel release (conclave_parallel_flushes_total=${flushes:-missing})"
  exit 1
fi
load=(--scenario meeting --layers 3)
min_delivery=0.9 point 3
kill $relay
wait $relay 2>/dev/null || true
echo "bench smoke: every receiver got >= 95 % of frames (meeting: 90 %); $flushes parallel releases"
