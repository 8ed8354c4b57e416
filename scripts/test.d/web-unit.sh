#!/usr/bin/env bash
# Unit tests of the browser client outside the browser (issue 10): the page's
# membership decisions (crates/web/assets/membership.js: who admits a joiner,
# takeovers, removals only on evidence inside MLS — a member's own leave, an
# explicit removal, or silence in MLS while the relay says they are gone —
# rekeys, refused joins, rival groups), which tile shows a track (tracks.js:
# the member whose key decrypted it), link reading (link.js) and the SDP
# policy (sdp.js), driven with simulated time and a fake of the wasm Call
# (tests/web/). Node's built-in test runner; no npm packages. The page's
# modules are plain .js ES modules without a package.json: Node 20.19+ detects
# that they are modules.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v node >/dev/null 2>&1 || bash scripts/setup-test-deps.sh
exec node --test tests/web/
