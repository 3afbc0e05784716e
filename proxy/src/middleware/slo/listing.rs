//! Container listings show a manifest's SLO ETag as Swift's slo does.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use swirl_common::Body;

use super::manifest as m;
use crate::headers;

/// Swift's `MAX_CONTAINER_LISTING_CONTENT_LENGTH`: bigger listings pass unchanged.
const MAX_LISTING_REWRITE: u64 = 1024 * 10000 * 2;

/// A container GET's listing with SLO ETags shown as Swift's slo shows
/// them (`slo_etag` in JSON; XML keeps only the manifest's own ETag). The
/// listing is read whole (Swift's listing_formats does so too, and the
/// Content-Length must be right); without an SLO in it, the very frames
/// read go out again, uncopied.
pub async fn rewrite_listing(resp: Response<Body>) -> Response<Body> {
    if resp.status() != StatusCode::OK {
        return resp;
    }
    let ctype = headers::get(resp.headers(), "content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let json = ctype == "application/json";
    if !json && ctype != "application/xml" && ctype != "text/xml" {
        return resp;
    }
    let small = headers::get(resp.headers(), "content-length")
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n <= MAX_LISTING_REWRITE);
    if !small {
        return resp;
    }
    let (mut parts, mut body) = resp.into_parts();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame.map(Frame::into_data) {
            Ok(Ok(d)) => frames.push(d),
            Ok(Err(_)) => {}
            // The listing broke off: pass on what came and the error.
            Err(e) => {
                let mut all: std::collections::VecDeque<_> = frames.into_iter().map(Ok).collect();
                all.push_back(Err(e));
                return Response::from_parts(parts, Frames(all).boxed());
            }
        }
    }
    if !m::frames_contain(&frames, b"slo_etag") {
        return Response::from_parts(parts, Frames(frames.into_iter().map(Ok).collect()).boxed());
    }
    let whole: Vec<u8> = frames.concat();
    let rewritten = if json {
        m::rewrite_json_listing(&whole)
    } else {
        m::rewrite_xml_listing(&whole)
    };
    let out = rewritten.unwrap_or(whole);
    headers::set(&mut parts.headers, "content-length", &out.len().to_string());
    Response::from_parts(parts, swirl_common::body::full(out))
}

/// A body of frames already read.
struct Frames(std::collections::VecDeque<std::result::Result<Bytes, std::io::Error>>);

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::result::Result<Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }
}
