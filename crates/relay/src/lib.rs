//! The Conclave relay.
