#!/usr/bin/env bash
# Unit tests of the browser client outside the browser (issue 10): the page's
# membership decisions (crates/web/assets/membership.js: who admits a joiner,
# takeovers, removal of leaves that left or never spoke, rekeys, refused joins,
# rival groups), driven with simulated time and a fake of the wasm Call
# (tests/web/). Node's built-in test runner; no npm packages. The page's
# modules are plain .js ES modules without a package.json: Node 20.19+ detects
# that they are modules.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v node >/dev/null 2>&1 || bash scripts/setup-test-deps.sh
exec node --test tests/web/
