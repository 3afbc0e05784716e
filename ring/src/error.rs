//! The ring crate's one error type.

/// Everything that can go wrong in ring math, building, or (de)coding.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A ring file that is not what it claims to be.
    #[error("invalid ring data: {0}")]
    InvalidRing(String),
    /// A builder operation that cannot be done (bad argument, bad state).
    #[error("{0}")]
    Builder(String),
    /// A search value or device description that does not parse.
    #[error("invalid search value or device spec: {0}")]
    Syntax(String),
    /// I/O on the caller-supplied reader or writer.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// JSON inside a ring or builder file.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
