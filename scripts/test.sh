#!/usr/bin/env bash
# Runs every Conclave test. On a fresh Debian machine with Rust it installs what
# the tests need first (Chromium from Debian's packages, npm packages for the
# browser driver, the wasm32 target). This is the README's test command and
# what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }
t0=$(date +%s)

step "setup: tools the tests need"
# A full disk shows up much later as a linker "Bus error"; say it plainly now.
free_kib=$(df -Pk . | awk 'NR==2 {print $4}')
if [ "${free_kib:-0}" -lt $((4 * 1024 * 1024)) ]; then
  echo "only $((free_kib / 1024)) MiB free on $(df -P . | awk 'NR==2 {print $6}'): the full test run needs about 4 GiB (target/, fuzz corpora); free some space and run again" >&2
  exit 1
fi
bash scripts/setup-test-deps.sh

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "unit and integration tests"
cargo test --workspace --locked

for s in scripts/test.d/*.sh; do
  [ -e "$s" ] || continue
  step "$(basename "$s" .sh)"
  bash "$s"
done

printf '\nall tests passed in %ss\n' "$(( $(date +%s) - t0 ))"
