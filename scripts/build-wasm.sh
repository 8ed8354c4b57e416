#!/usr/bin/env bash
# Rebuilds the browser's E2EE bundle from crates/wasm: wasm-bindgen's `--target
# web` output, conclave_wasm.js + conclave_wasm_bg.wasm, committed under
# crates/web/assets/ so `cargo run --release -- serve` needs no extra tools
# (the relay embeds them). scripts/test.d/wasm-bundle.sh proves the committed
# files are what this script makes from the source.
#
# Reproducible: a pinned Rust toolchain and wasm-bindgen-cli version, the
# `wasm-release` profile (root Cargo.toml), and --remap-path-prefix for the
# repository and CARGO_HOME so no local path ends up in the binary.
#
# Usage: scripts/build-wasm.sh [OUT_DIR]   (default crates/web/assets)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${1:-crates/web/assets}
RUST_VERSION=1.95.0
WASM_BINDGEN_VERSION=0.2.130
CARGO_HOME_DIR=${CARGO_HOME:-$HOME/.cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

# The committed bundle was built with this exact rustc; another compiler
# version makes different (equally valid) bytes.
toolchain=()
if [[ "$(rustc -V)" != "rustc $RUST_VERSION "* ]]; then
  rustup toolchain list | grep -q "^$RUST_VERSION" \
    || rustup toolchain install "$RUST_VERSION" --profile minimal --target wasm32-unknown-unknown
  toolchain=("+$RUST_VERSION")
fi
if ! rustup target list --installed ${toolchain:+--toolchain "$RUST_VERSION"} 2>/dev/null \
  | grep -q '^wasm32-unknown-unknown$'; then
  rustup target add wasm32-unknown-unknown ${toolchain:+--toolchain "$RUST_VERSION"}
fi
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]]; then
  echo "wasm-bindgen $WASM_BINDGEN_VERSION is needed: cargo install wasm-bindgen-cli --version $WASM_BINDGEN_VERSION --locked" >&2
  exit 1
fi

RUSTFLAGS="--remap-path-prefix=$ROOT=/conclave --remap-path-prefix=$CARGO_HOME_DIR=/cargo --remap-path-prefix=$TARGET_DIR=/target" \
  cargo "${toolchain[@]}" build --locked -p conclave-wasm --lib \
  --target wasm32-unknown-unknown --profile wasm-release
mkdir -p "$OUT"
wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section --out-name conclave_wasm --out-dir "$OUT" \
  "$TARGET_DIR/wasm32-unknown-unknown/wasm-release/conclave_wasm.wasm"
ls -l "$OUT/conclave_wasm.js" "$OUT/conclave_wasm_bg.wasm"
