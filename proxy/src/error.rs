//! The proxy's error enum and its one exhaustive mapping to HTTP statuses,
//! with the bodies and headers Swift sends for each.

use http::{HeaderMap, HeaderValue, StatusCode};
use swirl_common::ApiError;

/// Everything a proxy request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400 with a plain-text reason (Swift's constraint messages).
    #[error("{0}")]
    BadRequest(String),
    /// 400 whose reason Swift sends as swob's default text/html (the
    /// controllers' name-length checks, slo's refusals).
    #[error("{0}")]
    BadRequestHtml(String),
    /// 400 with a document of its own type (slo's list of bad segments,
    /// in the format the client accepts).
    #[error("bad request ({content_type})")]
    BadRequestDoc {
        content_type: &'static str,
        body: String,
    },
    /// 401; the realm goes into Www-Authenticate.
    #[error("unauthorized (realm {0})")]
    Unauthorized(String),
    /// 401 of tempurl: its own body; the account as realm.
    #[error("temp url invalid")]
    TempUrlInvalid(String),
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
    /// 409: a large object whose manifest or first segment cannot be read.
    #[error("conflict")]
    Conflict,
    /// 410: the account is deleted.
    #[error("gone")]
    Gone,
    /// 411: object PUT without Content-Length or chunked encoding.
    #[error("length required")]
    LengthRequired,
    /// 412 with a reason (bad path encoding, bad limit).
    #[error("{0}")]
    PreconditionFailed(String),
    /// 413 with a plain-text reason.
    #[error("{0}")]
    TooLarge(String),
    /// 413 whose reason Swift sends as text/html (slo's manifest limits).
    #[error("{0}")]
    TooLargeHtml(String),
    /// 416 with the headers Swift sends along: `Content-Range: bytes */<length>`
    /// (when the length is known), Accept-Ranges, and for an SLO the
    /// manifest's own headers.
    #[error("range not satisfiable")]
    RangeNotSatisfiable(HeaderMap),
    /// 422: a manifest PUT whose ETag is not the one of its segments.
    #[error("unprocessable entity")]
    Unprocessable,
    /// 499: the client went away mid-request.
    #[error("client disconnected")]
    ClientDisconnect,
    /// 501: a feature swirl's proxy does not provide.
    #[error("not implemented: {0}")]
    NotImplemented(String),
    /// 503: no quorum, no node reachable, rings missing. The reason is logged.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// 503 with Retry-After: the proxy's backend requests are all taken
    /// (backpressure); the client should come back shortly.
    #[error("overloaded: {0}")]
    Overloaded(String),
    /// 500: a bug or an inconsistency among backends.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// A header Swift reads as text whose value is not UTF-8.
impl From<swirl_common::header_text::NotText> for Error {
    fn from(e: swirl_common::header_text::NotText) -> Self {
        Error::BadRequest(e.to_string())
    }
}

impl Error {
    /// The headers this error's response carries, for middleware that
    /// decorates every answer (CORS).
    pub fn headers_mut(&mut self) -> Option<&mut HeaderMap> {
        match self {
            Error::RangeNotSatisfiable(h) => Some(h),
            _ => None,
        }
    }
}

impl ApiError for Error {
    fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) | Error::BadRequestHtml(_) | Error::BadRequestDoc { .. } => {
                StatusCode::BAD_REQUEST
            }
            Error::Unauthorized(_) | Error::TempUrlInvalid(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden => StatusCode::FORBIDDEN,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Error::Conflict => StatusCode::CONFLICT,
            Error::Gone => StatusCode::GONE,
            Error::LengthRequired => StatusCode::LENGTH_REQUIRED,
            Error::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Error::TooLarge(_) | Error::TooLargeHtml(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            Error::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Error::ClientDisconnect => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            Error::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Error::Unavailable(_) | Error::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn add_headers(&self, headers: &mut HeaderMap) {
        match self {
            Error::Unauthorized(realm) | Error::TempUrlInvalid(realm) => {
                if matches!(self, Error::TempUrlInvalid(_)) {
                    headers.insert(
                        "content-type",
                        HeaderValue::from_static("text/html; charset=UTF-8"),
                    );
                }
                let quoted = crate::backend::quote_path(realm);
                if let Ok(v) = HeaderValue::from_str(&format!("Swift realm=\"{quoted}\"")) {
                    headers.insert("www-authenticate", v);
                }
            }
            Error::BadRequestHtml(_) | Error::TooLargeHtml(_) => {
                headers.insert(
                    "content-type",
                    HeaderValue::from_static("text/html; charset=UTF-8"),
                );
            }
            Error::BadRequestDoc { content_type, .. } => {
                headers.insert("content-type", HeaderValue::from_static(content_type));
            }
            Error::Overloaded(_) => {
                headers.insert("retry-after", HeaderValue::from_static("1"));
            }
            Error::RangeNotSatisfiable(h) => {
                // swob turns the object's answer into the 416: its headers
                // (Content-Type too) with the standard body, whose length stands.
                for name in h.keys().filter(|n| *n != "content-length") {
                    headers.remove(name);
                    for value in h.get_all(name) {
                        headers.append(name.clone(), value.clone());
                    }
                }
            }
            Error::BadRequest(_)
            | Error::Forbidden
            | Error::NotFound
            | Error::MethodNotAllowed
            | Error::RequestTimeout
            | Error::Conflict
            | Error::Gone
            | Error::LengthRequired
            | Error::PreconditionFailed(_)
            | Error::TooLarge(_)
            | Error::Unprocessable
            | Error::ClientDisconnect
            | Error::NotImplemented(_)
            | Error::Unavailable(_)
            | Error::Internal(_) => {}
        }
    }

    fn body(&self) -> Option<String> {
        match self {
            Error::BadRequest(m)
            | Error::BadRequestHtml(m)
            | Error::PreconditionFailed(m)
            | Error::TooLarge(m)
            | Error::TooLargeHtml(m) => Some(m.clone()),
            Error::BadRequestDoc { body, .. } => Some(body.clone()),
            Error::TempUrlInvalid(_) => Some("401 Unauthorized: Temp URL invalid\n".into()),
            Error::Unauthorized(_)
            | Error::Forbidden
            | Error::NotFound
            | Error::MethodNotAllowed
            | Error::RequestTimeout
            | Error::Conflict
            | Error::Gone
            | Error::LengthRequired
            | Error::RangeNotSatisfiable(_)
            | Error::Unprocessable
            | Error::ClientDisconnect
            | Error::NotImplemented(_)
            | Error::Unavailable(_)
            | Error::Overloaded(_)
            | Error::Internal(_) => None,
        }
    }
}
