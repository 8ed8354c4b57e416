#!/usr/bin/env bash
# Build checks for conclave-e2ee beyond the native default build:
# - wasm32-unknown-unknown, the target the browser client uses (issue 4 wraps
#   it with wasm-bindgen in crates/wasm). On wasm32 the crate uses openmls's
#   `js` feature, getrandom's JS backends and sframe's pure-Rust crypto (ring
#   would need clang for wasm32).
# - the relay's key-less build (default-features = false): only the
#   `delivery` module, no openmls, no sframe, no key material.
set -euo pipefail
cd "$(dirname "$0")/../.."
rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$' \
  || rustup target add wasm32-unknown-unknown
cargo build -p conclave-e2ee --target wasm32-unknown-unknown --locked
cargo build -p conclave-e2ee --no-default-features --locked
deps=$(cargo tree -p conclave-e2ee --no-default-features -e normal --prefix none --locked)
if grep -Eq '^(openmls|sframe|ed25519-dalek|hkdf|hmac) ' <<<"$deps"; then
  echo "the relay's build of conclave-e2ee pulls in key code:" >&2
  echo "$deps" >&2
  exit 1
fi
echo "wasm32 build and key-less relay build: ok"
