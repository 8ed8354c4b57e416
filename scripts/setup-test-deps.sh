#!/usr/bin/env bash
# Installs what the tests need, if missing. Idempotent. Run by scripts/test.sh
# (the README's test command) and by each test step that needs a tool.
#
# Cargo tools are pinned to exact versions. `cargo install --locked` uses the
# tool's own lock file; where that names a dependency version the package
# registry this machine reaches does not have, the install fails, so we fall
# back to a resolved install of the same pinned version (newest compatible
# dependencies) and say so. scripts/check-fresh-setup.sh proves this path on
# an empty tool directory.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

# The versions the tests need. wasm-bindgen-cli must equal the wasm-bindgen
# that crates/wasm pins (Cargo.lock), or the bundle it writes will not match.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)
[ -n "$WASM_BINDGEN_VERSION" ] || { echo "Cargo.lock names no wasm-bindgen version" >&2; exit 1; }
CARGO_FUZZ_VERSION=0.13.2

apt_updated=
apt_install() { # PACKAGE... — one `apt-get update` per run
  if [ -z "$apt_updated" ]; then
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

# cargo_tool CRATE VERSION BINARY WHY — installs CRATE at exactly VERSION
# unless BINARY already reports that version.
cargo_tool() {
  local crate=$1 version=$2 bin=$3 why=$4
  if [[ "$("$bin" --version 2>/dev/null)" == *" $version" ]]; then
    return 0
  fi
  echo "installing $crate $version ($why)"
  local log
  log=$(mktemp)
  if cargo install "$crate" --version "=$version" --locked --quiet >"$log" 2>&1; then
    rm -f "$log"
    return 0
  fi
  # The usual cause: the tool's lock file names a dependency version the
  # registry here lacks ("failed to select a version"). Same pinned version,
  # freshly resolved dependencies.
  local why_locked
  why_locked=$(grep -m1 -E '^error' "$log" || tail -n1 "$log")
  echo "  the locked install failed (${why_locked:-no message}); installing $crate $version with freshly resolved dependencies instead"
  if cargo install "$crate" --version "=$version" --quiet >"$log" 2>&1; then
    rm -f "$log"
    return 0
  fi
  cat "$log" >&2
  rm -f "$log"
  echo "cargo install $crate $version failed, locked and unlocked (output above); check the network to the package registry and the disk space, then run again" >&2
  return 1
}

if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests"
  apt_install chromium
fi
if ! command -v firefox-esr >/dev/null 2>&1; then
  echo "installing Debian's firefox-esr for the Firefox test (tests/browser/suite-firefox.mjs)"
  apt_install firefox-esr
fi
if ! command -v node >/dev/null 2>&1; then
  echo "installing Node.js for the browser test driver"
  apt_install nodejs npm
fi
if ! command -v ip >/dev/null 2>&1; then
  echo "installing iproute2 for the network-namespace tests (suite-tcp: a browser with no UDP path)"
  apt_install iproute2
fi
if ! command -v turnserver >/dev/null 2>&1; then
  echo "installing Debian's coturn for the TURN test (tests/browser/suite-turn.mjs; the test starts its own, the package's service is not used)"
  apt_install coturn
  # Where the package enabled its own service (default config, all
  # interfaces), stop it: the test needs only the program.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled coturn >/dev/null 2>&1; then
    $SUDO systemctl disable --now coturn >/dev/null 2>&1 || true
  fi
fi
if ! command -v curl >/dev/null 2>&1; then
  echo "installing curl for the benchmark smoke test (reads the relay's /metrics)"
  apt_install curl
fi
# Installed again when the lock file changed since (a package was added).
if [ -f tests/browser/package.json ] && { [ ! -f tests/browser/node_modules/.package-lock.json ] \
  || [ tests/browser/package-lock.json -nt tests/browser/node_modules/.package-lock.json ]; }; then
  echo "installing the browser test driver's npm packages (tests/browser/package-lock.json)"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt
# The browser's E2EE bundle (scripts/build-wasm.sh, checked by
# scripts/test.d/wasm-bundle.sh): the wasm32 target and wasm-bindgen-cli at
# the exact version crates/wasm pins.
rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$' \
  || rustup target add wasm32-unknown-unknown
cargo_tool wasm-bindgen-cli "$WASM_BINDGEN_VERSION" wasm-bindgen "the browser's wasm bundle"
# The short fuzz run (scripts/test.d/fuzz.sh).
cargo_tool cargo-fuzz "$CARGO_FUZZ_VERSION" cargo-fuzz "the short fuzz run"
