//! The proxy's error enum and its one exhaustive mapping to HTTP statuses.

use http::{HeaderMap, HeaderValue, StatusCode};
use swirl_common::ApiError;

/// Everything a proxy request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400 with a plain-text reason (Swift's constraint messages).
    #[error("{0}")]
    BadRequest(String),
    /// 401; the realm goes into Www-Authenticate.
    #[error("unauthorized (realm {0})")]
    Unauthorized(String),
    /// 403.
    #[error("forbidden")]
    Forbidden,
    /// 404.
    #[error("not found")]
    NotFound,
    /// 405 (account PUT/DELETE without allow_account_management, unknown verbs).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 408: the client stopped sending its body.
    #[error("client timed out sending the body")]
    RequestTimeout,
    /// 411: object PUT without Content-Length or chunked encoding.
    #[error("length required")]
    LengthRequired,
    /// 412 with a reason (bad path encoding, bad limit).
    #[error("{0}")]
    PreconditionFailed(String),
    /// 413 with a reason.
    #[error("{0}")]
    TooLarge(String),
    /// 499: the client went away mid-request.
    #[error("client disconnected")]
    ClientDisconnect,
    /// 501: a feature swirl's proxy does not provide.
    #[error("not implemented: {0}")]
    NotImplemented(String),
    /// 503: no quorum, no node reachable, rings missing. The reason is logged.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// 500: a bug or an inconsistency among backends.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl ApiError for Error {
    fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden => StatusCode::FORBIDDEN,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Error::LengthRequired => StatusCode::LENGTH_REQUIRED,
            Error::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::ClientDisconnect => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            Error::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn add_headers(&self, headers: &mut HeaderMap) {
        match self {
            Error::Unauthorized(realm) => {
                let quoted = crate::backend::quote_path(realm);
                if let Ok(v) = HeaderValue::from_str(&format!("Swift realm=\"{quoted}\"")) {
                    headers.insert("www-authenticate", v);
                }
            }
            Error::BadRequest(_)
            | Error::Forbidden
            | Error::NotFound
            | Error::MethodNotAllowed
            | Error::RequestTimeout
            | Error::LengthRequired
            | Error::PreconditionFailed(_)
            | Error::TooLarge(_)
            | Error::ClientDisconnect
            | Error::NotImplemented(_)
            | Error::Unavailable(_)
            | Error::Internal(_) => {}
        }
    }

    fn body(&self) -> Option<String> {
        match self {
            Error::BadRequest(m) | Error::PreconditionFailed(m) | Error::TooLarge(m) => {
                Some(m.clone())
            }
            Error::Unauthorized(_)
            | Error::Forbidden
            | Error::NotFound
            | Error::MethodNotAllowed
            | Error::RequestTimeout
            | Error::LengthRequired
            | Error::ClientDisconnect
            | Error::NotImplemented(_)
            | Error::Unavailable(_)
            | Error::Internal(_) => None,
        }
    }
}
