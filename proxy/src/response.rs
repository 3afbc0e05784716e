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
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    if status == 201 || status == 204 {
        // Swift answers these with an empty text/html body.
        let mut r = Response::new(swirl_common::body::empty());
        *r.status_mut() = code;
        headers::set(r.headers_mut(), "content-type", "text/html; charset=UTF-8");
        headers::set(r.headers_mut(), "content-length", "0");
        return r;
    }
    status_response(code)
}

/// Drops the headers only an account's owner may see, for anyone else.
pub fn drop_owner_headers(h: &mut HeaderMap, owner: bool) {
    if !owner {
        for n in OWNER_HEADERS {
            h.remove(n);
        }
    }
}

/// Marks a client response whose body the object server verified (a
/// response extension, since the header itself is internal).
#[derive(Debug, Clone, Copy)]
pub struct Verified;

/// The backend's own headers (sysmeta included) of a response built from
/// one, for the middleware above the controllers: the client never sees
/// them (extensions are not sent).
#[derive(Clone)]
pub struct BackendHeaders(pub HeaderMap);

/// The backend headers a response carries, if it came from a backend.
pub fn backend_headers<B>(resp: &Response<B>) -> Option<&HeaderMap> {
    resp.extensions().get::<BackendHeaders>().map(|b| &b.0)
}

/// Passes a backend response on: its status and client-visible headers, and
/// its body streamed as is (the backend headers kept as `BackendHeaders`).
pub fn passthrough(resp: Response<Incoming>, owner: bool) -> Response<Body> {
    let (parts, body) = resp.into_parts();
    let body = body.map_err(std::io::Error::other).boxed();
    let mut r = with_headers(
        parts.status,
        headers::to_client(&parts.headers),
        body,
        owner,
    );
    r.extensions_mut().insert(BackendHeaders(parts.headers));
    r
}

/// A response with the given headers (owner-only headers dropped for non-owners).
pub fn with_headers(
    status: StatusCode,
    mut h: HeaderMap,
    body: Body,
    owner: bool,
) -> Response<Body> {
    drop_owner_headers(&mut h, owner);
    let mut r = Response::new(body);
    *r.status_mut() = status;
    *r.headers_mut() = h;
    r
}
