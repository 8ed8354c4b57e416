//! The one place randomness comes from: the operating system (or, on wasm32,
//! the browser's `crypto.getRandomValues`, through getrandom's JS backend).

use rand_core::{OsRng, RngCore};

/// Fills `buf` with cryptographically secure random bytes.
pub(crate) fn fill(buf: &mut [u8]) {
    OsRng.fill_bytes(buf);
}
