//! The object server's errors and their statuses (one exhaustive match).

use http::{HeaderMap, HeaderValue, StatusCode};
use swirl_common::backend_headers as bh;
use swirl_common::{ApiError, Timestamp};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed request; the text is the body Swift sends (as text/plain).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Malformed request whose text Swift sends without a content type of its
    /// own (so as swob's default, text/html).
    #[error("bad request: {0}")]
    BadRequestHtml(String),
    /// Path not valid UTF-8 or contains NUL (Swift: 412).
    #[error("Invalid UTF8 or contains NULL")]
    BadUtf8,
    #[error("not found")]
    NotFound {
        backend_timestamp: Option<Timestamp>,
    },
    /// An equal or newer version is stored.
    #[error("conflict")]
    Conflict {
        backend_timestamp: Option<Timestamp>,
    },
    #[error("precondition failed")]
    PreconditionFailed(Option<String>),
    /// 412 without a body: a conditional GET or HEAD (If-Match) of an object
    /// that is not there; the tombstone's time, if any, goes along.
    #[error("precondition failed: no object to match")]
    NothingToMatch {
        backend_timestamp: Option<Timestamp>,
    },
    /// 416 with the object's headers and `Content-Range: bytes */<length>`
    /// (swob turns the object's answer into the 416, standard body).
    #[error("range not satisfiable")]
    RangeNotSatisfiable(HeaderMap),
    #[error("Missing Content-Length header.")]
    LengthRequired,
    #[error("Your request is too large.")]
    TooLarge,
    /// The body's MD5 is not the ETag the client sent.
    #[error("ETag mismatch")]
    EtagMismatch,
    /// The client went away or sent fewer bytes than it announced.
    #[error("client disconnected: {0}")]
    ClientDisconnect(String),
    #[error("timed out reading the request body")]
    RequestTimeout,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("not implemented: {0}")]
    NotImplemented(String),
    /// X-Backend-Storage-Policy-Index names no policy of the cluster (Swift:
    /// 503); the text is the header as sent (`None` when absent).
    #[error("No policy with index {0}")]
    NoPolicy(String),
    /// From the store: device unavailable or full (507), I/O (500).
    #[error(transparent)]
    Store(#[from] swirl_store::object::Error),
    /// A replication exchange failed (bad input, a failed check, a gone basis).
    #[error(transparent)]
    Sync(#[from] swirl_store::object::sync::SyncError),
    #[error("internal error: {0}")]
    Internal(String),
    /// Not from the cluster: no valid X-Backend-Auth.
    #[error(transparent)]
    Unauthorized(#[from] swirl_common::backend_auth::AuthError),
}

/// A header Swift reads as text whose value is not UTF-8.
impl From<swirl_common::header_text::NotText> for Error {
    fn from(e: swirl_common::header_text::NotText) -> Self {
        Error::BadRequest(e.to_string())
    }
}

/// Result of the object server.
pub type Result<T> = std::result::Result<T, Error>;

impl ApiError for Error {
    fn status(&self) -> StatusCode {
        use swirl_store::object::Error as S;
        match self {
            Error::BadRequest(_) | Error::BadRequestHtml(_) => StatusCode::BAD_REQUEST,
            Error::BadUtf8 => StatusCode::PRECONDITION_FAILED,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::PreconditionFailed(_) | Error::NothingToMatch { .. } => {
                StatusCode::PRECONDITION_FAILED
            }
            Error::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            Error::LengthRequired => StatusCode::LENGTH_REQUIRED,
            Error::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::EtagMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            Error::ClientDisconnect(_) => client_disconnect(),
            Error::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Error::NoPolicy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Store(S::DeviceUnavailable(_)) => StatusCode::INSUFFICIENT_STORAGE,
            Error::Store(S::NoSpace(_)) => StatusCode::INSUFFICIENT_STORAGE,
            Error::Store(S::MetadataTooLarge) => StatusCode::BAD_REQUEST,
            Error::Store(S::Io(_)) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Sync(e) => sync_status(e),
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        }
    }

    fn add_headers(&self, h: &mut HeaderMap) {
        // Swift's exact Content-Type: `text/plain` where the handler names it,
        // swob's default otherwise.
        let ctype = match self {
            Error::BadRequest(_)
            | Error::BadUtf8
            | Error::LengthRequired
            | Error::TooLarge
            | Error::NotImplemented(_)
            | Error::NoPolicy(_) => "text/plain",
            _ => "text/html; charset=UTF-8",
        };
        h.insert("content-type", HeaderValue::from_static(ctype));
        let ts = match self {
            Error::NotFound { backend_timestamp }
            | Error::Conflict { backend_timestamp }
            | Error::NothingToMatch { backend_timestamp } => backend_timestamp.as_ref(),
            _ => None,
        };
        if let Some(ts) = ts {
            if let Ok(v) = HeaderValue::from_str(&ts.internal()) {
                h.insert(bh::TIMESTAMP, v);
            }
        }
        if let Error::RangeNotSatisfiable(object) = self {
            // The object's headers, its Content-Type too; the standard
            // body's length stands.
            for (k, v) in object.iter().filter(|(k, _)| *k != "content-length") {
                h.insert(k.clone(), v.clone());
            }
        }
    }

    fn body(&self) -> Option<String> {
        match self {
            Error::BadRequest(t) | Error::BadRequestHtml(t) => Some(t.clone()),
            Error::BadUtf8 => Some(self.to_string()),
            Error::PreconditionFailed(t) => t.clone(),
            // A conditional answer has no body (swob's `_response_iter`).
            Error::NothingToMatch { .. } => Some(String::new()),
            Error::LengthRequired | Error::TooLarge => Some(self.to_string()),
            Error::NotImplemented(t) => Some(t.clone()),
            Error::NoPolicy(_) => Some(self.to_string()),
            Error::Sync(e) => Some(e.to_string()),
            Error::Store(swirl_store::object::Error::MetadataTooLarge) => {
                Some("Metadata too large".into())
            }
            _ => None,
        }
    }
}

/// A replication failure's status: the peer's fault is 4xx, the disk's 5xx/507.
fn sync_status(e: &swirl_store::object::sync::SyncError) -> StatusCode {
    use swirl_store::object::sync::SyncError as Y;
    use swirl_store::object::Error as S;
    match e {
        Y::Invalid(_) => StatusCode::BAD_REQUEST,
        Y::Mismatch(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Y::BasisGone(_) => StatusCode::CONFLICT,
        Y::Store(S::DeviceUnavailable(_)) | Y::Store(S::NoSpace(_)) => {
            StatusCode::INSUFFICIENT_STORAGE
        }
        Y::Store(S::MetadataTooLarge) => StatusCode::BAD_REQUEST,
        Y::Store(S::Io(_)) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Swift's 499 Client Disconnect.
fn client_disconnect() -> StatusCode {
    StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST)
}
