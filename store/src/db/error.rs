//! Errors of the SQLite account and container brokers.

/// What can go wrong in a broker.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database file does not exist (Swift answers 404).
    #[error("database not found: {0}")]
    NotFound(String),
    /// A database is already where one was to be put.
    #[error("database exists: {0}")]
    AlreadyExists(String),
    /// SQLite refused an operation (I/O error, corrupt file, ...).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Filesystem error around the database file.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A stored or incoming value is malformed (bad timestamp, bad JSON, ...).
    #[error("invalid data: {0}")]
    Invalid(String),
    /// Metadata over Swift's limits, or not UTF-8 (Swift answers 400).
    #[error("{0}")]
    BadMetadata(String),
    /// The group-commit batch this update was part of failed to commit.
    #[error("batch commit failed: {0}")]
    Batch(String),
}

/// Result alias for broker operations.
pub type DbResult<T> = Result<T, DbError>;
