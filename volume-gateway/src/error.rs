//! The gateway's error enum: one exhaustive mapping to HTTP statuses (with
//! Cinder's JSON fault bodies) and one to NBD error numbers.

use http::StatusCode;
use swirl_common::ApiError;

use crate::nbd::proto;

/// Everything a gateway operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the request is malformed or not allowed in the current state
    /// (Cinder's InvalidVolume / InvalidInput).
    #[error("{0}")]
    BadRequest(String),
    /// 401: no token, or the cluster did not accept it.
    #[error("{0}")]
    Unauthorized(String),
    /// 404: no such volume, snapshot, attachment or path.
    #[error("{0}")]
    NotFound(String),
    /// 405: a known path with a method it does not take.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 406: a microversion outside what we serve.
    #[error("{0}")]
    NotAcceptable(String),
    /// 413: a request body larger than any API call needs.
    #[error("{0}")]
    TooLarge(String),
    /// 415: a body that is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 503: the cluster did not answer or refused a write.
    #[error("cluster: {0}")]
    Cluster(String),
    /// 500: stored metadata that cannot be read back (a bug or damage).
    #[error("corrupt volume metadata: {0}")]
    Corrupt(String),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Cinder's fault name for the status (cinder/api/openstack/wsgi.py).
    fn fault_name(&self) -> &'static str {
        match self {
            Error::BadRequest(_) => "badRequest",
            Error::Unauthorized(_) => "unauthorized",
            Error::NotFound(_) => "itemNotFound",
            Error::MethodNotAllowed => "badMethod",
            Error::NotAcceptable(_) => "notAcceptable",
            Error::TooLarge(_) => "overLimit",
            Error::UnsupportedMediaType(_) => "badMediaType",
            Error::Cluster(_) => "serviceUnavailable",
            Error::Corrupt(_) => "computeFault",
        }
    }

    /// The NBD error number an I/O failure is reported with.
    pub fn errno(&self) -> u32 {
        match self {
            Error::BadRequest(_) => proto::EINVAL,
            Error::NotFound(_) => proto::EIO,
            Error::Unauthorized(_)
            | Error::MethodNotAllowed
            | Error::NotAcceptable(_)
            | Error::TooLarge(_)
            | Error::UnsupportedMediaType(_)
            | Error::Cluster(_)
            | Error::Corrupt(_) => proto::EIO,
        }
    }
}

impl ApiError for Error {
    fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Cluster(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Corrupt(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn body(&self) -> Option<String> {
        let fault = serde_json::json!({
            self.fault_name(): {"code": self.status().as_u16(), "message": self.to_string()}
        });
        Some(fault.to_string())
    }

    fn content_type(&self) -> &'static str {
        "application/json"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cinder_fault_body() {
        let e = Error::NotFound("Volume v could not be found.".into());
        let v: serde_json::Value = serde_json::from_str(&e.body().unwrap()).unwrap();
        assert_eq!(v["itemNotFound"]["code"], 404);
        assert_eq!(v["itemNotFound"]["message"], "Volume v could not be found.");
        assert_eq!(e.content_type(), "application/json");
    }
}
