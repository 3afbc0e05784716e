//! Errors of the object store. (The `db` half of this crate has its own; the two
//! share no code paths.)

use std::io;

/// What can go wrong storing or reading objects.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The device directory is missing, not mounted (with mount_check), or not a directory.
    #[error("device {0} unavailable")]
    DeviceUnavailable(String),
    /// Not enough free space (ENOSPC, EDQUOT, or below the reserve).
    #[error("no space left on device {0}")]
    NoSpace(String),
    /// Stored metadata would be too large to write.
    #[error("metadata too large")]
    MetadataTooLarge,
    /// Any other I/O failure.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// Result of the object store.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Maps ENOSPC/EDQUOT to [`Error::NoSpace`] for `device`, anything else to `Io`.
    pub fn from_io(e: io::Error, device: &str) -> Self {
        if e.kind() == io::ErrorKind::StorageFull || e.kind() == io::ErrorKind::QuotaExceeded {
            Error::NoSpace(device.to_string())
        } else {
            Error::Io(e)
        }
    }
}
