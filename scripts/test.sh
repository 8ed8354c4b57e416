#!/usr/bin/env bash
# Runs every Conclave test. On a fresh Debian machine with Rust it installs what
# the tests need first (Chromium and Firefox ESR from Debian's packages, npm packages for the
# browser driver, the wasm32 target, wasm-bindgen-cli, cargo-fuzz). This is the
# README's test command and what CI runs (.ci/run). With CONCLAVE_FRESH_SETUP=1
# it also proves that set-up works on a fresh machine
# (scripts/check-fresh-setup.sh: every cargo tool installed into an empty
# directory); CI sets it.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each step's wall time goes into a summary printed at the end.
t0=$(date +%s)
steps=()
step_name=
step_t=$t0
end_step() {
  [ -n "$step_name" ] && steps+=("$(printf '%6ss  %s' $(( $(date +%s) - step_t )) "$step_name")")
  step_t=$(date +%s)
}
step() {
  end_step
  step_name=$1
  printf '\n== %s (%s)\n' "$1" "$(date +%T)"
}

step "setup: tools the tests need"
# A full disk shows up much later as a linker "Bus error"; say it plainly now.
free_kib=$(df -Pk . | awk 'NR==2 {print $4}')
if [ "${free_kib:-0}" -lt $((4 * 1024 * 1024)) ]; then
  echo "only $((free_kib / 1024)) MiB free on $(df -P . | awk 'NR==2 {print $6}'): the full test run needs about 4 GiB (target/, fuzz corpora); free some space and run again" >&2
  exit 1
fi
bash scripts/setup-test-deps.sh
if [ "${CONCLAVE_FRESH_SETUP:-0}" = 1 ]; then
  step "setup on a fresh machine (CONCLAVE_FRESH_SETUP=1)"
  bash scripts/check-fresh-setup.sh
fi

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

end_step
printf '\ntime per step:\n'
printf '%s\n' "${steps[@]}"
printf '\nall tests passed in %ss\n' "$(( $(date +%s) - t0 ))"
