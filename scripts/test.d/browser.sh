#!/usr/bin/env bash
# Browser end-to-end test (issues 2 and 4: calls, E2EE, admission, insider
# view): builds the relay, then drives Debian's headless Chromium through
# tests/browser/run.mjs and tests/browser/suite-*.mjs (playwright-core). tests/browser/measure.mjs prints
# the E2EE measurements (not run here). Needs what
# scripts/setup-test-deps.sh installs; runs it when something is missing.
# CONCLAVE_BIN picks another relay binary (e.g. target/release/conclave),
# CONCLAVE_EVIL_BIN another lying relay.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v chromium >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1 \
  || ! command -v firefox-esr >/dev/null 2>&1 || ! command -v turnserver >/dev/null 2>&1 \
  || [ ! -d tests/browser/node_modules/puppeteer-core ]; then
  bash scripts/setup-test-deps.sh
fi
# The lying relay (crates/evil-relay, tests only) is its own program; the
# suites that need it start it instead of the real one.
if [ -z "${CONCLAVE_BIN:-}" ]; then
  cargo build --locked -p conclave -p conclave-evil-relay
  export CONCLAVE_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/conclave"
elif [ -z "${CONCLAVE_EVIL_BIN:-}" ]; then
  cargo build --locked -p conclave-evil-relay
fi
export CONCLAVE_EVIL_BIN="${CONCLAVE_EVIL_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/debug/conclave-evil-relay}"
# Each suite has its own deadline (at most 540 s); this one only guards against a hung
# node. run.mjs first (calls, E2EE, admission, insider view), then every
# tests/browser/suite-*.mjs (each starts its own relay and browser through
# tests/browser/harness.mjs).
# The test tools' own unit tests (impair.mjs: the seeded loss model).
node --test tests/browser/*.test.mjs
status=0
for suite in tests/browser/run.mjs tests/browser/suite-*.mjs; do
  [ -e "$suite" ] || continue
  echo "== $(basename "$suite")"
  timeout --kill-after=10 600 node "$suite" || { status=1; echo "browser suite $(basename "$suite") failed" >&2; }
done
exit "$status"
