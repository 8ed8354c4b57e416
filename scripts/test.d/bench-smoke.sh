#!/usr/bin/env bash
# Benchmark smoke test (issue 5): the load generator against our relay on
# loopback, 1 publisher + 2 subscribers for 3 s; every subscriber must receive
# at least 95 % of the video frames. No timing is asserted: this only proves
# the benchmark path works end to end (bench/run.sh measures).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --locked -q -p conclave -p conclave-load
bin=target/debug
log=$(mktemp /tmp/bench-smoke.XXXXXX)
"$bin/conclave" serve --listen 127.0.0.1:0 >"$log" 2>&1 &
relay=$!
trap 'kill $relay 2>/dev/null || true; rm -f "$log"' EXIT
url=
for _ in $(seq 1 300); do
  url=$(grep -o 'open:[[:space:]]*https://[^ ]*' "$log" | head -1 | grep -o 'https://.*') && [ -n "$url" ] && break
  kill -0 $relay 2>/dev/null || { echo "relay exited:"; cat "$log"; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "relay printed no 'open:' line:"; cat "$log"; exit 1; }
"$bin/conclave-load" run --target conclave --url "$url" --relay-pid $relay \
  --subs 2 --duration 3 --warmup 1 --min-delivery 0.95 | grep -v '^RESULT '
echo "bench smoke: every subscriber received >= 95 % of frames"
