//! Responses shaped as swob builds them: a default HTML body for statuses
//! that have an explanation, `Content-Type: text/html; charset=UTF-8` unless
//! the handler set one, and an exact Content-Length.

use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use swirl_common::body::{self, Body};
use swirl_common::error::reason;

/// A response with `headers` and `body` (`None`: swob's default for `status`).
pub fn swift_response(
    status: StatusCode,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
) -> Response<Body> {
    let bytes = match body {
        Some(b) => b,
        None => {
            let (title, explanation) = reason(status);
            if explanation.is_empty() || status == StatusCode::NO_CONTENT {
                Vec::new()
            } else {
                format!("<html><h1>{title}</h1><p>{explanation}</p></html>").into_bytes()
            }
        }
    };
    let mut h = headers;
    if !h.contains_key(header::CONTENT_TYPE) {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=UTF-8"),
        );
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    let mut resp = Response::new(if bytes.is_empty() {
        body::empty()
    } else {
        body::full(bytes)
    });
    *resp.status_mut() = status;
    *resp.headers_mut() = h;
    resp
}

/// Adds a header whose value may be any UTF-8 (metadata values); values a
/// header cannot carry (control characters) are skipped.
pub fn put(h: &mut HeaderMap, name: &str, value: impl AsRef<str>) {
    if let (Ok(n), Ok(v)) = (
        header::HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_bytes(value.as_ref().as_bytes()),
    ) {
        h.insert(n, v);
    }
}

/// A request header as text (non-UTF-8 values read as absent).
pub fn get<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
}

/// Python's `str.title()` on a header name: `x-container-meta-foo1bar` ->
/// `X-Container-Meta-Foo1Bar`, the form swob hands Swift's servers and so the
/// form metadata keys are stored in.
pub fn title_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut prev_cased = false;
    for c in name.chars() {
        if c.is_alphabetic() {
            if prev_cased {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            prev_cased = true;
        } else {
            out.push(c);
            prev_cased = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title() {
        assert_eq!(
            title_case("x-container-meta-foo1bar"),
            "X-Container-Meta-Foo1Bar"
        );
        assert_eq!(title_case("X-CONTAINER-READ"), "X-Container-Read");
    }

    #[test]
    fn default_bodies() {
        let r = swift_response(StatusCode::CREATED, HeaderMap::new(), None);
        assert_eq!(r.headers()["content-length"], "0");
        assert_eq!(r.headers()["content-type"], "text/html; charset=UTF-8");
        let r = swift_response(StatusCode::ACCEPTED, HeaderMap::new(), None);
        assert_eq!(r.headers()["content-length"], "76");
    }
}
