//! Errors to HTTP responses: the `ApiError` trait each role implements with one
//! exhaustive match, and the single place that turns an error into a response.

use http::{header, HeaderMap, HeaderValue, Response, StatusCode};

use crate::body::{self, Body};

/// What a role's error enum must say so that it can become a response.
pub trait ApiError: std::fmt::Display + std::fmt::Debug + Send + Sync + 'static {
    /// The status this error maps to.
    fn status(&self) -> StatusCode;
    /// Extra headers (e.g. X-Backend-Timestamp on a 409).
    fn add_headers(&self, _headers: &mut HeaderMap) {}
    /// A specific plain-text body (Swift sends e.g. `Invalid X-Timestamp`); `None`
    /// sends Swift's standard HTML explanation for the status.
    fn body(&self) -> Option<String> {
        None
    }
    /// The Content-Type of a specific body (a JSON API says so).
    fn content_type(&self) -> &'static str {
        "text/plain; charset=UTF-8"
    }
}

/// Swift's reason phrase and explanation for a status (`swob.RESPONSE_REASONS`).
pub fn reason(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        202 => ("Accepted", "The request is accepted for processing."),
        301 => ("Moved Permanently", "The resource has moved permanently."),
        303 => ("See Other", "The response to the request can be found under a different URI."),
        400 => ("Bad Request", "The server could not comply with the request since it is either malformed or otherwise incorrect."),
        401 => ("Unauthorized", "This server could not verify that you are authorized to access the document you requested."),
        403 => ("Forbidden", "Access was denied to this resource."),
        404 => ("Not Found", "The resource could not be found."),
        405 => ("Method Not Allowed", "The method is not allowed for this resource."),
        406 => ("Not Acceptable", "The resource is not available in a format acceptable to your browser."),
        408 => ("Request Timeout", "The server has waited too long for the request to be sent by the client."),
        409 => ("Conflict", "There was a conflict when trying to complete your request."),
        410 => ("Gone", "This resource is no longer available."),
        411 => ("Length Required", "Content-Length header required."),
        412 => ("Precondition Failed", "A precondition for this request was not met."),
        413 => ("Request Entity Too Large", "The body of your request was too large for this server."),
        414 => ("Request URI Too Long", "The request URI was too long for this server."),
        415 => ("Unsupported Media Type", "The request media type is not supported by this server."),
        416 => ("Requested Range Not Satisfiable", "The Range requested is not available."),
        417 => ("Expectation Failed", "Expectation failed."),
        422 => ("Unprocessable Entity", "Unable to process the contained instructions"),
        // Statuses Swift's ratelimit sends with reasons of its own.
        497 => ("Blacklisted", ""),
        498 => ("Rate Limited", ""),
        499 => ("Client Disconnect", "The client was disconnected during request."),
        500 => ("Internal Error", "The server has either erred or is incapable of performing the requested operation."),
        501 => ("Not Implemented", "The requested method is not implemented by this server."),
        502 => ("Bad Gateway", "Bad gateway."),
        503 => ("Service Unavailable", "The server is currently unavailable. Please try again at a later time."),
        504 => ("Gateway Timeout", "A timeout has occurred speaking to a backend server."),
        507 => ("Insufficient Storage", "There was not enough space to save the resource."),
        _ => ("", ""),
    }
}

/// Swift's standard body for `status`:
/// `<html><h1>Not Found</h1><p>The resource could not be found.</p></html>`,
/// empty for statuses that carry no body.
fn standard_text(status: StatusCode) -> String {
    let (title, explanation) = reason(status);
    let no_body = status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status.is_informational();
    if no_body || explanation.is_empty() {
        String::new()
    } else {
        format!("<html><h1>{title}</h1><p>{explanation}</p></html>")
    }
}

/// A response with Swift's standard body for `status`.
pub fn status_response(status: StatusCode) -> Response<Body> {
    let text = standard_text(status);
    let mut resp = Response::new(if text.is_empty() {
        body::empty()
    } else {
        body::full(text.clone())
    });
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    if !text.is_empty() {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=UTF-8"),
        );
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(text.len()));
    resp
}

/// The one place an error becomes a response (the server loop calls it, for
/// every role). Its Content-Type is swob's default unless the error names
/// another.
pub fn error_response<E: ApiError>(err: &E) -> Response<Body> {
    let status = err.status();
    let mut resp = match err.body() {
        Some(text) => {
            let mut r = Response::new(body::full(text.clone()));
            *r.status_mut() = status;
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(err.content_type()),
            );
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(text.len()));
            r
        }
        None => status_response(status),
    };
    if !resp.headers().contains_key(header::CONTENT_TYPE) {
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=UTF-8"),
        );
    }
    err.add_headers(resp.headers_mut());
    // A status the http crate has no phrase for goes out with Swift's.
    let (phrase, _) = reason(status);
    if status.canonical_reason().is_none() && !phrase.is_empty() {
        resp.extensions_mut()
            .insert(hyper::ext::ReasonPhrase::from_static(phrase.as_bytes()));
    }
    resp
}

/// The body text `error_response` sends for `err`, for reports that quote
/// it (the result document of a heartbeating SLO PUT).
pub fn error_text<E: ApiError>(err: &E) -> String {
    err.body().unwrap_or_else(|| standard_text(err.status()))
}

/// A request handler that panicked: answered 500 with Swift's standard
/// body while the server goes on serving other requests.
#[derive(Debug, thiserror::Error)]
#[error("request handler panicked: {0}")]
pub struct Panicked(pub String);

impl ApiError for Panicked {
    fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// `option.ok_or_bad_request("why")?`-style helpers for handlers.
pub trait OkOr<T> {
    /// Turns `None` / `Err` into the role error built by `f` from a reason.
    fn ok_or_reason<E>(self, f: impl FnOnce(String) -> E, why: &str) -> Result<T, E>;
}

impl<T> OkOr<T> for Option<T> {
    fn ok_or_reason<E>(self, f: impl FnOnce(String) -> E, why: &str) -> Result<T, E> {
        self.ok_or_else(|| f(why.to_string()))
    }
}

impl<T, X> OkOr<T> for Result<T, X> {
    fn ok_or_reason<E>(self, f: impl FnOnce(String) -> E, why: &str) -> Result<T, E> {
        self.map_err(|_| f(why.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[derive(Debug, thiserror::Error)]
    #[error("nope")]
    struct Nope;
    impl ApiError for Nope {
        fn status(&self) -> StatusCode {
            StatusCode::NOT_FOUND
        }
    }

    #[tokio::test]
    async fn standard_body() {
        let r = error_response(&Nope);
        assert_eq!(r.status(), 404);
        let b = r.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            &b[..],
            b"<html><h1>Not Found</h1><p>The resource could not be found.</p></html>"
        );
    }
}
