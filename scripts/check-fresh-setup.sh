#!/usr/bin/env bash
# Proves that scripts/setup-test-deps.sh installs every cargo tool the tests
# need on a fresh machine, instead of assuming it: it runs the set-up from a
# copy of the set-up files with an empty cargo install directory
# (CARGO_INSTALL_ROOT) and a PATH that holds the Rust toolchain and the
# system's programs but none of the tools installed before, then checks that
# each tool is there at its pinned version. Fails if any install fails.
#
# It also installs the browser driver's npm packages into the copy (npm ci from
# the committed lock file). Debian's packages (chromium, nodejs) cannot be
# removed for the check; on a machine without them, set-up installs them with
# apt-get as in any run.
#
# Slow (it compiles wasm-bindgen-cli and cargo-fuzz: about 4 minutes on 2
# cores), so the test command runs it only when asked:
#   CONCLAVE_FRESH_SETUP=1 bash scripts/test.sh     (CI does, via .ci/run)
#   bash scripts/check-fresh-setup.sh               (alone)
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
tmp=$(mktemp -d /tmp/conclave-fresh.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# The toolchain, as a fresh machine has it: rustup's proxies only.
cargo_bin=$(dirname "$(command -v cargo)")
mkdir -p "$tmp/toolchain" "$tmp/install"
for t in cargo rustc rustdoc rustup rustfmt cargo-fmt cargo-clippy clippy-driver; do
  [ -x "$cargo_bin/$t" ] && ln -s "$cargo_bin/$t" "$tmp/toolchain/$t"
done
fresh_path="$tmp/toolchain:$tmp/install/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
for tool in wasm-bindgen cargo-fuzz; do
  if found=$(PATH=$fresh_path command -v "$tool"); then
    echo "fresh set-up check: $tool is already at $found, outside the cargo install directory; the check cannot prove its install (remove it or run this on a clean machine)" >&2
    exit 1
  fi
done

# The set-up script and what it reads, in a copy without node_modules.
mkdir -p "$tmp/repo/tests/browser"
cp -r scripts Cargo.lock "$tmp/repo/"
cp tests/browser/package.json tests/browser/package-lock.json "$tmp/repo/tests/browser/"

echo "fresh set-up check: installing into empty $tmp/install (CARGO_INSTALL_ROOT) with a PATH of no installed tools"
if ! env PATH="$fresh_path" CARGO_INSTALL_ROOT="$tmp/install" \
  CARGO_TARGET_DIR="$tmp/target" bash "$tmp/repo/scripts/setup-test-deps.sh"; then
  echo "fresh set-up check FAILED: scripts/setup-test-deps.sh could not install what the tests need on a fresh machine (output above)" >&2
  exit 1
fi

wasm_bindgen_version=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)
status=0
check() { # BINARY EXPECTED-VERSION-OUTPUT
  local got
  got=$("$tmp/install/bin/$1" --version 2>/dev/null || true)
  if [[ "$got" == "$2" ]]; then
    echo "  $1: $got"
  else
    echo "  $1: expected '$2' in $tmp/install/bin, found '${got:-nothing}'" >&2
    status=1
  fi
}
check wasm-bindgen "wasm-bindgen $wasm_bindgen_version"
check cargo-fuzz "cargo-fuzz $(awk -F= '/^CARGO_FUZZ_VERSION=/ {print $2}' scripts/setup-test-deps.sh)"
if [ ! -d "$tmp/repo/tests/browser/node_modules/playwright-core" ]; then
  echo "  npm ci left no tests/browser/node_modules/playwright-core" >&2
  status=1
fi
if [ "$status" != 0 ]; then
  echo "fresh set-up check FAILED: a tool is missing or at the wrong version after set-up" >&2
  exit 1
fi
echo "fresh set-up check: every tool installed from nothing in $(( $(date +%s) - t0 ))s"
