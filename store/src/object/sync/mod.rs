//! The object replication exchange between a replicator (the sender) and a
//! node's replication listener (the receiver), as far as it is about files:
//! what a hash directory offers, what the receiver wants of it (Swift's
//! ssync missing check), receiving whole files with every byte checked
//! before they become visible, and fast_rsync deltas against an older
//! version the receiver already holds. The HTTP around it lives in the roles.
//!
//! Files travel as they are on disk (body, metadata, trailer), so a copy is
//! the same file, whatever its metadata holds; the receiver checks the body
//! against the blake3 digest in that metadata, and the metadata against the
//! file name, before renaming it into place.

pub mod delta;
pub mod offer;
pub mod receive;
pub mod remove;
pub mod send;

pub use offer::{Offer, Want};

/// Why a sync step failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The peer sent something malformed (a bad line, name, length or frame).
    #[error("invalid: {0}")]
    Invalid(String),
    /// What arrived is not what was announced (length, digest, metadata).
    #[error("verification failed: {0}")]
    Mismatch(String),
    /// The delta basis named is no longer on this node.
    #[error("delta basis {0} is gone")]
    BasisGone(String),
    /// Disk trouble.
    #[error(transparent)]
    Store(#[from] crate::object::Error),
}

impl From<std::io::Error> for SyncError {
    fn from(e: std::io::Error) -> Self {
        SyncError::Store(crate::object::Error::Io(e))
    }
}

/// Result of a sync step.
pub type SyncResult<T> = std::result::Result<T, SyncError>;
