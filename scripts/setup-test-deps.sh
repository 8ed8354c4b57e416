#!/usr/bin/env bash
# Installs what the tests need, if missing. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
if ! command -v node >/dev/null 2>&1; then
  echo "installing Node.js for the browser test driver"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
if ! command -v curl >/dev/null 2>&1; then
  echo "installing curl for the benchmark smoke test (reads the relay's /metrics)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq curl >/dev/null
fi
if [ -f tests/browser/package.json ] && [ ! -d tests/browser/node_modules ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt
# The browser's E2EE bundle (scripts/build-wasm.sh, checked by
# scripts/test.d/wasm-bundle.sh): the wasm32 target and wasm-bindgen-cli at
# the exact version crates/wasm pins.
rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$' \
  || rustup target add wasm32-unknown-unknown
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen 0.2.130" ]]; then
  echo "installing wasm-bindgen-cli 0.2.130 for the browser's wasm bundle"
  cargo install wasm-bindgen-cli --version 0.2.130 --locked
fi
