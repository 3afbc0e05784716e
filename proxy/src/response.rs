//! Building client responses: from a backend response (headers filtered,
//! body streamed) or from a bare status with Swift's standard body.

use http::{HeaderMap, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use swirl_common::error::status_response;
use swirl_common::Body;

use crate::app::OWNER_HEADERS;
use crate::headers;

/// A response with Swift's standard body for `status`.
pub fn status(status: u16) -> Response<Body> {
    let mut r =
        status_response(StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE));
    if status == 201 || status == 202 && r.headers().get("content-type").is_none() {
        // Swift's swob writes <html><h1>Created</h1><p></p></html> for 201.
        let (title, text) = if status == 201 {
            ("Created", "")
        } else {
            ("Accepted", "The request is accepted for processing.")
        };
        let b = format!("<html><h1>{title}</h1><p>{text}</p></html>");
        let len = b.len();
        r = Response::new(swirl_common::body::full(b));
        *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        headers::set(r.headers_mut(), "content-type", "text/html; charset=UTF-8");
        headers::set(r.headers_mut(), "content-length", &len.to_string());
    }
    r
}

/// Passes a backend response on: its status and client-visible headers, and
/// its body streamed as is.
pub fn passthrough(resp: Response<Incoming>, owner: bool) -> Response<Body> {
    let (parts, body) = resp.into_parts();
    let body = body.map_err(std::io::Error::other).boxed();
    with_headers(
        parts.status,
        headers::to_client(&parts.headers),
        body,
        owner,
    )
}

/// A response with the given headers (owner-only headers dropped for non-owners).
pub fn with_headers(
    status: StatusCode,
    mut h: HeaderMap,
    body: Body,
    owner: bool,
) -> Response<Body> {
    if !owner {
        for n in OWNER_HEADERS {
            h.remove(n);
        }
    }
    let mut r = Response::new(body);
    *r.status_mut() = status;
    *r.headers_mut() = h;
    r
}
