//! Shared helpers for integration tests: the swirl binary, temp dirs, Swift's python.

use std::path::PathBuf;

/// Path of the `swirl` binary cargo built for this test run.
pub fn swirl_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_swirl"))
}

#[test]
fn binary_exists() {
    assert!(swirl_bin().exists());
}
