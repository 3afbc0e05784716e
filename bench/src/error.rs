//! Errors of `swirl bench`.

/// Why a benchmark could not run (or one request failed).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad URL.
    #[error("bad URL {0:?}: {1}")]
    Url(String, String),
    /// Could not connect.
    #[error("connect to {0}: {1}")]
    Connect(String, std::io::Error),
    /// Socket or file error.
    #[error("I/O: {0}")]
    Io(std::io::Error),
    /// HTTP protocol error from hyper (connection closed, malformed response...).
    #[error("HTTP: {0}")]
    Http(hyper::Error),
    /// The request could not be built (bad header value).
    #[error("request: {0}")]
    Request(String),
    /// No response within the timeout.
    #[error("no response within {0} s")]
    Timeout(f64),
    /// Auth did not give a storage URL and token.
    #[error("auth at {0} failed: {1}")]
    Auth(String, String),
    /// Setup (containers, pool) failed.
    #[error("setup: {0}")]
    Setup(String),
    /// Bad command-line options.
    #[error("{0}")]
    Usage(String),
    /// The cluster TLS of `swirl bench backend-auth`.
    #[error(transparent)]
    Tls(swirl_common::tls::TlsError),
}
