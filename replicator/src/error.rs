//! The replicator's errors. None reaches an HTTP client: a failed exchange
//! with a peer counts as a failure for that peer in the pass's stats and is
//! logged once.

/// Why a replication step failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config: {key}: {message}")]
    Config { key: String, message: String },
    #[error("ring {path}: {message}")]
    Ring { path: String, message: String },
    #[error("tls: {0}")]
    Tls(#[from] swirl_common::tls::TlsError),
    #[error("connecting to {addr}: {message}")]
    Connect { addr: String, message: String },
    #[error("{addr}: {message}")]
    Http { addr: String, message: String },
    /// The peer answered with a status other than the one expected.
    #[error("{addr}: {method} {path}: status {status}")]
    Status {
        addr: String,
        method: String,
        path: String,
        status: u16,
    },
    #[error("{addr}: timed out ({what})")]
    Timeout { addr: String, what: &'static str },
    /// The peer sent something this protocol does not allow.
    #[error("{addr}: protocol: {message}")]
    Protocol { addr: String, message: String },
    #[error(transparent)]
    Sync(#[from] swirl_store::object::sync::SyncError),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Result of the replicator.
pub type Result<T> = std::result::Result<T, Error>;
