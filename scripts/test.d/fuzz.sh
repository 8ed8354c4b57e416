#!/usr/bin/env bash
# Short fuzz runs of every parser of untrusted bytes (docs/conventions.md §5):
# room links, join requests, SFrame frames, everything a member receives
# (Member::handle), the relay's delivery-service envelopes, and the relay's
# signaling parser (conclave_proto::ClientMsg::parse; ServerMsg::parse, a
# native client's, in the same target), and the relay's reading of a
# subscriber's compound RTCP (conclave_proto::rtcp). Targets live in fuzz/
# (a cargo-fuzz workspace of its own); seeds are committed in fuzz/seeds/.
#
# cargo-fuzz passes nightly-only -Z flags to rustc. This machine (and CI) has
# only the stable toolchain, so we set RUSTC_BOOTSTRAP=1, which lets stable
# rustc accept them. We build without a sanitizer (-s none): the fuzzed crates
# forbid unsafe code, so ASan adds nothing but build time; panics, overflow
# checks (debug assertions are on) and the targets' own assertions are what
# fail a run. Each target runs FUZZ_SECONDS (default 15) seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v cargo-fuzz >/dev/null 2>&1 || bash scripts/setup-test-deps.sh
export RUSTC_BOOTSTRAP=1
secs=${FUZZ_SECONDS:-15}
cd fuzz
cargo fuzz build -s none
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in $(cargo fuzz list); do
  mkdir -p "corpus/$t"
  rm -rf "artifacts/$t"
  echo "fuzzing $t for ${secs}s"
  # -timeout: one input taking over 10 s is a bug; the outer timeout bounds a hang.
  status=0
  timeout $((secs + 120)) cargo fuzz run -s none "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|INFO: Done)' "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "fuzz target $t failed (exit $status); the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
echo "fuzz: all targets ran ${secs}s without failure"
