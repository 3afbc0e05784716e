//! The db servers' errors and the one exhaustive mapping to Swift's statuses,
//! bodies and content types.

use http::{header, HeaderMap, HeaderValue, StatusCode};
use swirl_common::server::BodyError;
use swirl_common::ApiError;
use swirl_store::db::DbError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A path that does not split into device/partition/names.
    #[error("{0}")]
    BadPath(String),
    /// A path that is not UTF-8 or holds NUL.
    #[error("{0}")]
    BadUtf8Path(&'static str),
    /// Missing or malformed X-Timestamp.
    #[error("{0}")]
    BadTimestamp(&'static str),
    /// A malformed header, parameter or body (plain-text reason).
    #[error("{0}")]
    BadRequest(String),
    /// Metadata over the limits.
    #[error("{0}")]
    BadMetadata(String),
    /// `limit` above the listing cap.
    #[error("Maximum limit is {0}")]
    LimitTooLarge(usize),
    /// An Accept header that does not parse.
    #[error("Invalid Accept header")]
    BadAccept,
    /// No listing format the client accepts.
    #[error("not acceptable")]
    NotAcceptable,
    /// The database does not exist or is deleted; headers describe it.
    #[error("not found")]
    NotFound(HeaderMap),
    /// The request conflicts with the database's state.
    #[error("conflict")]
    Conflict(HeaderMap),
    /// Swift's `_deleted_response` for an account that is missing (404, no
    /// body); `deleted` when it was deleted rather than never created, so
    /// the answer says X-Account-Status: Deleted.
    #[error("account not found")]
    AccountNotFound { deleted: bool },
    /// A container row or PUT for an account deleted but not yet reclaimed
    /// (Swift: 403 "Recently deleted", with X-Account-Status: Deleted).
    #[error("Recently deleted")]
    AccountRecentlyDeleted,
    /// The device is missing (or not mounted with mount_check).
    #[error("insufficient storage: {0}")]
    InsufficientStorage(String),
    /// A method this server does not serve.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A request body too large or unreadable.
    #[error("{0}")]
    Body(#[from] BodyError),
    /// A broker failure.
    #[error("{0}")]
    Db(#[from] DbError),
    /// A blocking task died.
    #[error("internal task failed: {0}")]
    Task(String),
    /// Bad configuration (startup only).
    #[error("config: {0}")]
    Config(String),
    /// I/O outside the brokers (binding, pending records).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Not from the cluster: no valid X-Backend-Auth.
    #[error(transparent)]
    Unauthorized(#[from] swirl_common::backend_auth::AuthError),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A header Swift reads as text whose value is not UTF-8.
impl From<swirl_common::header_text::NotText> for Error {
    fn from(e: swirl_common::header_text::NotText) -> Self {
        Error::BadRequest(e.to_string())
    }
}

const HTML: &str = "text/html; charset=UTF-8";
const PLAIN: &str = "text/plain";
const DELETED_HTML: &str = "text/html; charset=utf-8";

impl ApiError for Error {
    fn status(&self) -> StatusCode {
        match self {
            Error::BadPath(_) | Error::BadTimestamp(_) | Error::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            Error::BadMetadata(_) | Error::BadAccept => StatusCode::BAD_REQUEST,
            Error::BadUtf8Path(_) | Error::LimitTooLarge(_) => StatusCode::PRECONDITION_FAILED,
            Error::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::AccountNotFound { .. } => StatusCode::NOT_FOUND,
            Error::AccountRecentlyDeleted => StatusCode::FORBIDDEN,
            Error::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::Body(BodyError::TooLarge(_)) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Body(BodyError::Read(_)) => StatusCode::BAD_REQUEST,
            Error::Body(BodyError::TimedOut) => StatusCode::REQUEST_TIMEOUT,
            Error::Db(DbError::NotFound(_)) => StatusCode::NOT_FOUND,
            Error::Db(DbError::BadMetadata(_)) => StatusCode::BAD_REQUEST,
            Error::Db(DbError::AlreadyExists(_)) => StatusCode::CONFLICT,
            // A shipped database that is not what its sender announced.
            Error::Db(DbError::Mismatch(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Db(
                DbError::Sqlite(_) | DbError::Io(_) | DbError::Invalid(_) | DbError::Batch(_),
            ) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Task(_) | Error::Config(_) | Error::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        }
    }

    fn add_headers(&self, h: &mut HeaderMap) {
        // Swift's content types differ by how each error is raised: plain text
        // for path and timestamp errors, swob's HTML default elsewhere.
        let ct = match self {
            Error::BadPath(_) | Error::BadTimestamp(_) | Error::BadRequest(_) => PLAIN,
            // The account server's `_deleted_response` spells its own.
            Error::AccountNotFound { .. } | Error::AccountRecentlyDeleted => DELETED_HTML,
            _ => HTML,
        };
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        match self {
            Error::NotFound(extra) | Error::Conflict(extra) => {
                for (k, v) in extra {
                    h.insert(k.clone(), v.clone());
                }
            }
            Error::AccountNotFound { deleted: true } | Error::AccountRecentlyDeleted => {
                h.insert("x-account-status", HeaderValue::from_static("Deleted"));
            }
            Error::AccountNotFound { deleted: false } => {}
            Error::BadPath(_)
            | Error::BadUtf8Path(_)
            | Error::BadTimestamp(_)
            | Error::BadRequest(_)
            | Error::BadMetadata(_)
            | Error::LimitTooLarge(_)
            | Error::BadAccept
            | Error::NotAcceptable
            | Error::InsufficientStorage(_)
            | Error::MethodNotAllowed
            | Error::Body(_)
            | Error::Db(_)
            | Error::Task(_)
            | Error::Config(_)
            | Error::Io(_)
            | Error::Unauthorized(_) => {}
        }
    }

    fn body(&self) -> Option<String> {
        match self {
            Error::BadPath(_)
            | Error::BadUtf8Path(_)
            | Error::BadTimestamp(_)
            | Error::BadRequest(_)
            | Error::BadMetadata(_)
            | Error::LimitTooLarge(_)
            | Error::BadAccept => Some(self.to_string()),
            Error::Db(DbError::BadMetadata(m)) => Some(m.clone()),
            Error::InsufficientStorage(drive) => Some(format!(
                "<html><h1>Insufficient Storage</h1><p>There was not enough space to save the resource. Drive: {drive}</p></html>"
            )),
            Error::Body(e) => Some(e.to_string()),
            Error::AccountNotFound { .. } => Some(String::new()),
            Error::AccountRecentlyDeleted => Some(self.to_string()),
            Error::NotAcceptable
            | Error::NotFound(_)
            | Error::Conflict(_)
            | Error::MethodNotAllowed
            | Error::Db(_)
            | Error::Task(_)
            | Error::Config(_)
            | Error::Io(_)
            | Error::Unauthorized(_) => None,
        }
    }
}
