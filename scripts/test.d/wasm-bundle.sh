#!/usr/bin/env bash
# The browser's E2EE bundle (crates/web/assets/conclave_wasm.js and
# conclave_wasm_bg.wasm) is committed so the relay serves it without extra
# tools. This proves it is exactly what scripts/build-wasm.sh makes from the
# source in this checkout: it rebuilds into a temporary directory and compares
# byte for byte. After changing crates/wasm or crates/e2ee, run
# scripts/build-wasm.sh and commit the result.
set -euo pipefail
cd "$(dirname "$0")/../.."
# setup-test-deps.sh installs the wasm-bindgen-cli that Cargo.lock pins, if missing.
bash scripts/setup-test-deps.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! bash scripts/build-wasm.sh "$tmp" >"$tmp/build.log" 2>&1; then
  cat "$tmp/build.log" >&2
  exit 1
fi
status=0
for f in conclave_wasm.js conclave_wasm_bg.wasm; do
  if ! cmp -s "$tmp/$f" "crates/web/assets/$f"; then
    echo "crates/web/assets/$f differs from a fresh build ($(stat -c %s "$tmp/$f") vs $(stat -c %s "crates/web/assets/$f") bytes):" >&2
    echo "  run scripts/build-wasm.sh and commit crates/web/assets/conclave_wasm*" >&2
    status=1
  fi
done
[ "$status" = 0 ] || exit 1
wasm=$(stat -c %s crates/web/assets/conclave_wasm_bg.wasm)
gz=$(gzip -9 -c crates/web/assets/conclave_wasm_bg.wasm | wc -c)
echo "wasm bundle reproducible: conclave_wasm_bg.wasm ${wasm} bytes (${gz} gzipped), conclave_wasm.js $(stat -c %s crates/web/assets/conclave_wasm.js) bytes"
