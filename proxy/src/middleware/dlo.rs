//! Swift's dlo middleware (dynamic large objects, `swift/common/middleware/dlo.py`).
//! An object carrying `X-Object-Manifest: <container>/<prefix>` reads as the
//! concatenation of the objects of `<container>` (same account) whose names
//! start with `<prefix>`, in listing order. The listing and every segment are
//! read as sub-requests of the caller, so the caller's ACLs apply to them.
//! Segments stream one after the other through a bounded channel; nothing is
//! buffered whole. `?multipart-manifest=get` reads the manifest object itself.
//!
//! As Swift: Content-Length and the ETag (quoted MD5 of the segments' ETags)
//! are known only when the listing fits in one page (< 10,000 segments);
//! one range is served across segment boundaries, several ranges are
//! ignored (200 with the whole object); a missing or failing first segment
//! is 409 (503 for a server error); a failure later cuts the body short;
//! after `rate_limit_after_segment` segments, at most
//! `rate_limit_segments_per_sec` are fetched per second; a GET is cut off
//! after `max_get_time` seconds.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode};
use http_body_util::BodyExt;
use swirl_common::conditional::{normalize_etag, Conditions};
use swirl_common::constraints::CONTAINER_LISTING_LIMIT;
use swirl_common::listing_format::{self, ListingItem};
use swirl_common::range::{self, RangeHeader};
use swirl_common::timestamp::parse_http_date;
use swirl_common::Body;

use crate::app::Ctx;
use crate::error::{Error, Result};
use crate::headers;
use crate::middleware::segments::{
    Piece, Pieces, RateLimiter, SegmentError, SegmentRead, Segmented,
};
use crate::object_path::ObjectPath;
use crate::pipeline::{Filter, Fut, Next, Req};
use crate::response;

/// The dlo filter: a new manifest's X-Object-Manifest is checked; a GET or
/// HEAD that finds a manifest is answered with its segments.
pub struct Dlo;

impl Filter for Dlo {
    fn call(&self, req: Req, next: Next) -> Fut<'static> {
        let m = &req.ctx.method;
        let object = matches!(req.endpoint, crate::router::Endpoint::Object { .. });
        let mine = object
            && ((*m == Method::PUT && req.ctx.headers.contains_key(MANIFEST))
                || ((*m == Method::GET || *m == Method::HEAD)
                    && !wants_manifest(req.ctx.query.as_deref())));
        if !mine {
            return next.run(req);
        }
        Box::pin(async move {
            let Some(path) = req.object_path() else {
                return next.run(req).await;
            };
            let m = req.ctx.method.clone();
            if m == Method::PUT {
                if let Some(v) = headers::get_utf8(&req.ctx.headers, MANIFEST) {
                    validate_put(&v).map_err(|m| Error::BadRequest(m.into()))?;
                }
                return next.run(req).await;
            }
            if (m != Method::GET && m != Method::HEAD) || wants_manifest(req.ctx.query.as_deref()) {
                return next.run(req).await;
            }
            let mut resp = next.clone().run(req).await?;
            let Some(value) = headers::get_utf8(resp.headers(), MANIFEST) else {
                return Ok(resp);
            };
            // The controllers hand the request back with a read's answer.
            let Some(ctx) = resp.extensions_mut().remove::<Ctx>() else {
                return Ok(resp);
            };
            let (parts, body) = resp.into_parts();
            // A small body is read so the connection stays pooled; a
            // bigger one is dropped (Swift's drain_and_close).
            let small = headers::get(&parts.headers, "content-length")
                .and_then(|v| v.parse::<u64>().ok())
                .is_some_and(|n| n < 1024);
            if small {
                let _ = Box::pin(collect(body, 1024)).await;
            }
            // Boxed: this filter's future stays small for plain objects.
            Box::pin(respond(&next, &ctx, &path, parts.headers, &value)).await
        })
    }
}

/// The manifest header.
pub const MANIFEST: &str = "x-object-manifest";

/// Manifest listings are small JSON documents; a page of 10,000 names of
/// 1,024 bytes each, escaped, stays well below this.
const LISTING_LIMIT: usize = 64 << 20;

/// `?multipart-manifest=get`: the caller wants the manifest object itself.
pub fn wants_manifest(query: Option<&str>) -> bool {
    headers::query_param(query, "multipart-manifest").as_deref() == Some("get")
}

/// Checks X-Object-Manifest on a PUT (Swift's `_validate_x_object_manifest_header`).
pub fn validate_put(value: &str) -> std::result::Result<(), &'static str> {
    let ok = match value.split_once('/') {
        Some((c, p)) => {
            !c.is_empty()
                && !p.is_empty()
                && !value.contains('?')
                && !value.contains('&')
                && !p.starts_with('/')
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err("X-Object-Manifest must be in the format container/prefix")
    }
}

/// `(container, prefix)` of a stored manifest value (percent-decoded, as
/// Swift unquotes it), or None when it has no '/'.
pub fn parse_manifest(value: &str) -> Option<(String, String)> {
    let decoded = percent_encoding::percent_decode_str(value.trim()).decode_utf8_lossy();
    let (c, p) = decoded.split_once('/')?;
    Some((c.to_string(), p.to_string()))
}

/// One listed segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub name: String,
    pub bytes: u64,
    pub hash: String,
}

/// The segments of a JSON listing page.
pub fn parse_page(body: &[u8]) -> Option<Vec<Segment>> {
    let items = listing_format::parse_json(body).ok()?;
    Some(
        items
            .into_iter()
            .filter_map(|i| match i {
                ListingItem::Object {
                    name, bytes, hash, ..
                } => Some(Segment {
                    name,
                    bytes: u64::try_from(bytes).unwrap_or(0),
                    hash,
                }),
                ListingItem::Container { .. } | ListingItem::Subdir(_) => None,
            })
            .collect(),
    )
}

/// The quoted MD5 of the segments' ETags, concatenated.
pub fn manifest_etag(segments: &[Segment]) -> String {
    let mut m = md5::Context::new();
    for s in segments {
        m.consume(normalize_etag(&s.hash).as_bytes());
    }
    format!("\"{:x}\"", m.finalize())
}

/// How to answer, decided from the first listing page and the request's Range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    /// 416; Content-Range only when the listing is complete.
    Unsatisfiable {
        content_range: Option<String>,
    },
    Serve(Plan),
}

/// A servable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Bytes the GET body will carry, when known.
    pub length: Option<u64>,
    /// Content-Length of a HEAD (swob answers HEAD before applying ranges).
    pub head_length: Option<u64>,
    /// The manifest ETag, when the listing is complete.
    pub etag: Option<String>,
    /// The inclusive byte range served with 206, with its Content-Range.
    pub range: Option<(u64, u64, String)>,
}

/// The end (exclusive) of a single range for a body of unknown length, or
/// None when it runs to the end (open or suffix ranges).
fn bounded_end(r: &RangeHeader) -> Option<u64> {
    match r.ranges.first() {
        Some((Some(_), Some(e))) => Some(e.saturating_add(1)),
        _ => None,
    }
}

/// Swift's `get_or_head_response` planning: one range is honoured when the
/// listing is complete or the range ends inside the first page; otherwise
/// the Range header is ignored.
pub fn plan(first_page: &[Segment], complete: bool, range: Option<&RangeHeader>) -> Planned {
    let total: u64 = first_page.iter().map(|s| s.bytes).sum();
    let etag = complete.then(|| manifest_etag(first_page));
    let whole = Plan {
        length: complete.then_some(total),
        head_length: complete.then_some(total),
        etag: etag.clone(),
        range: None,
    };
    let Some(r) = range.filter(|r| r.ranges.len() == 1) else {
        return Planned::Serve(whole);
    };
    let within_first_page = bounded_end(r).is_some_and(|end| end < total);
    if !(complete || within_first_page) {
        return Planned::Serve(whole);
    }
    let ranges = r.ranges_for_length(total);
    let Some(&(start, end)) = ranges.first() else {
        return Planned::Unsatisfiable {
            content_range: complete.then(|| format!("bytes */{total}")),
        };
    };
    if total == 0 || start == end {
        // A suffix range of an empty object: swob serves all zero bytes with 200.
        return Planned::Serve(whole);
    }
    Planned::Serve(Plan {
        length: Some(end - start),
        head_length: Some(total),
        etag,
        range: Some((start, end - 1, range::content_range(start, end, total))),
    })
}

/// What to do with the next listed segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// None of its bytes are wanted.
    Skip,
    /// Nothing more is wanted from it or any later segment.
    Stop,
    /// Read it, `Range: bytes=<first>-<last>` when not whole.
    Fetch {
        first: Option<u64>,
        last: Option<u64>,
    },
}

/// Walks the wanted byte range across segments (Swift's
/// `_segment_listing_iterator`): offsets relative to the next segment,
/// clamped at -1 once passed; `last` None means "to the end".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    first: i128,
    last: Option<i128>,
}

impl Cursor {
    /// For the inclusive range `(first, last)`, or the whole object.
    pub fn new(range: Option<(u64, u64)>) -> Self {
        match range {
            Some((f, l)) => Cursor {
                first: i128::from(f),
                last: Some(i128::from(l)),
            },
            None => Cursor {
                first: 0,
                last: None,
            },
        }
    }

    /// True once the wanted range is behind us.
    pub fn done(&self) -> bool {
        self.last.is_some_and(|l| l < 0)
    }

    fn advance(&mut self, len: i128) {
        self.first = (self.first - len).max(-1);
        self.last = self.last.map(|l| (l - len).max(-1));
    }

    /// The step for a segment of `bytes`.
    pub fn step(&mut self, bytes: u64) -> Step {
        let len = i128::from(bytes);
        if self.first >= len {
            self.advance(len);
            return Step::Skip;
        }
        if self.done() {
            return Step::Stop;
        }
        let first = (self.first > 0).then_some(self.first as u64);
        let last = match self.last {
            Some(l) if l < len - 1 => Some(l as u64),
            _ => None,
        };
        self.advance(len);
        Step::Fetch { first, last }
    }
}

/// Answers a GET or HEAD of the manifest at `path`. `manifest`
/// holds the client headers of the manifest object, `value` its raw
/// X-Object-Manifest.
pub async fn respond(
    next: &Next,
    ctx: &Ctx,
    path: &ObjectPath,
    manifest: HeaderMap,
    value: &str,
) -> Result<Response<Body>> {
    let Some((container, prefix)) = parse_manifest(value) else {
        tracing::info!(txn = %ctx.txn, value, "X-Object-Manifest without a container");
        return Err(Error::Conflict);
    };
    let head = ctx.method == Method::HEAD;
    let account = path.account.as_str();
    let proxy = next.proxy();
    let first_page = match list_page(next, ctx, account, &container, &prefix, None).await? {
        Ok(p) => p,
        Err(status) => return Ok(response::status(status)),
    };
    let complete = first_page.len() < CONTAINER_LISTING_LIMIT;
    let range = headers::get(&ctx.headers, "range").and_then(range::parse);
    let plan = match plan(&first_page, complete, range.as_ref()) {
        Planned::Unsatisfiable { content_range } => {
            let mut h = HeaderMap::new();
            headers::set(&mut h, "accept-ranges", "bytes");
            if let Some(cr) = content_range {
                headers::set(&mut h, "content-range", &cr);
            }
            return Err(Error::RangeNotSatisfiable(h));
        }
        Planned::Serve(p) => p,
    };
    let mut h = manifest;
    h.remove("content-length");
    h.remove("content-range");
    if let Some(e) = &plan.etag {
        headers::set(&mut h, "etag", e);
    }
    headers::set(&mut h, "accept-ranges", "bytes");
    let conds = Conditions::from_headers(&ctx.headers);
    let modified = headers::get(&h, "last-modified").and_then(parse_http_date);
    if let Some(code) = conds.check(headers::get(&h, "etag"), modified, true) {
        headers::set(&mut h, "content-length", "0");
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::PRECONDITION_FAILED);
        return Ok(response::with_headers(
            status,
            h,
            swirl_common::body::empty(),
            ctx.owner,
        ));
    }
    if head {
        if let Some(n) = plan.head_length {
            headers::set(&mut h, "content-length", &n.to_string());
        }
        return Ok(response::with_headers(
            StatusCode::OK,
            h,
            swirl_common::body::empty(),
            ctx.owner,
        ));
    }
    let cfg = &proxy.cfg.dlo;
    let mut body = Segmented {
        next: next.clone(),
        sub: ctx.subrequest(Method::GET, None),
        account: account.to_string(),
        manifest: path.to_string(),
        kind: "DLO",
        pieces: Listing {
            next: next.clone(),
            sub: ctx.subrequest(Method::GET, None),
            account: account.to_string(),
            container,
            prefix,
            page: first_page.into(),
            marker: None,
            more_pages: !complete,
            cursor: Cursor::new(plan.range.as_ref().map(|(f, l, _)| (*f, *l))),
            limiter: RateLimiter::new(
                cfg.rate_limit_after_segment,
                cfg.rate_limit_segments_per_sec,
            ),
            clock: Instant::now(),
        },
    };
    // Swift's validate_first_segment: a first segment that cannot be read
    // fails the whole request before any byte is sent.
    let first = body.first().await?;
    let status = match &plan.range {
        Some((_, _, cr)) => {
            headers::set(&mut h, "content-range", cr);
            StatusCode::PARTIAL_CONTENT
        }
        None => StatusCode::OK,
    };
    if let Some(n) = plan.length {
        headers::set(&mut h, "content-length", &n.to_string());
    }
    let max_get = Duration::from_secs(cfg.max_get_time);
    let body = body.stream(first, plan.length, max_get, None);
    Ok(response::with_headers(status, h, body, ctx.owner))
}

/// One listing page of the segment container as the caller, or the status
/// to answer with when the caller may not list it or it is missing.
async fn list_page(
    next: &Next,
    ctx: &Ctx,
    account: &str,
    container: &str,
    prefix: &str,
    marker: Option<&str>,
) -> Result<std::result::Result<Vec<Segment>, u16>> {
    let mut query = format!("format=json&prefix={}", crate::backend::quote_query(prefix));
    if let Some(m) = marker {
        query.push_str(&format!("&marker={}", crate::backend::quote_query(m)));
    }
    let sub = ctx.subrequest(Method::GET, Some(query)).by("DLO");
    let resp = next
        .clone()
        .run(Req::container(sub, account, container))
        .await?;
    let status = resp.status().as_u16();
    if status == 204 {
        return Ok(Ok(Vec::new()));
    }
    if !(200..300).contains(&status) {
        return Ok(Err(status));
    }
    let body = collect(resp.into_body(), LISTING_LIMIT)
        .await
        .ok_or_else(|| Error::Unavailable("DLO segment listing unreadable".into()))?;
    let page = parse_page(&body)
        .ok_or_else(|| Error::Internal("DLO segment listing is not a JSON listing".into()))?;
    Ok(Ok(page))
}

/// Reads a small body whole (listings), None past `limit` or on error.
pub(crate) async fn collect(mut body: Body, limit: usize) -> Option<Bytes> {
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(d) = frame.ok()?.into_data() {
            if out.len() + d.len() > limit {
                return None;
            }
            out.extend_from_slice(&d);
        }
    }
    Some(out.freeze())
}

/// The segments of a DLO: the listing pages of its container under its
/// prefix, walked with the wanted byte range (Swift's
/// `_segment_listing_iterator`), rate limited after the first few.
struct Listing {
    next: Next,
    sub: Ctx,
    account: String,
    container: String,
    prefix: String,
    page: VecDeque<Segment>,
    /// The last listed name: the marker of the next page.
    marker: Option<String>,
    more_pages: bool,
    cursor: Cursor,
    limiter: RateLimiter,
    clock: Instant,
}

impl Pieces for Listing {
    async fn next(&mut self) -> std::result::Result<Option<Piece>, SegmentError> {
        loop {
            let Some(seg) = self.page.pop_front() else {
                if !self.more_pages || self.cursor.done() {
                    return Ok(None);
                }
                self.next_page().await?;
                continue;
            };
            self.marker = Some(seg.name.clone());
            let (first, last) = match self.cursor.step(seg.bytes) {
                Step::Skip => continue,
                Step::Stop => return Ok(None),
                Step::Fetch { first, last } => (first, last),
            };
            let now = self.clock.elapsed().as_secs_f64() * 1000.0;
            if let Some(d) = self.limiter.wait(now) {
                tokio::time::sleep(d).await;
            }
            // DLOs check only that a segment's bytes match its own ETag,
            // never the listing's (Swift omits both from the read).
            return Ok(Some(Piece::Read(SegmentRead {
                container: self.container.clone(),
                object: seg.name,
                first,
                last,
                etag: None,
                size: None,
            })));
        }
    }
}

impl Listing {
    async fn next_page(&mut self) -> std::result::Result<(), SegmentError> {
        let marker = self.marker.take().unwrap_or_default();
        let page = list_page(
            &self.next,
            &self.sub,
            &self.account,
            &self.container,
            &self.prefix,
            Some(&marker),
        )
        .await
        .map_err(|e| SegmentError::Server(format!("listing: {e}")))?
        .map_err(|s| {
            SegmentError::Invalid(format!(
                "Got status {s} listing container /{}/{}",
                self.account, self.container
            ))
        })?;
        self.more_pages = page.len() >= CONTAINER_LISTING_LIMIT;
        self.page = page.into();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(sizes: &[u64]) -> Vec<Segment> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, b)| Segment {
                name: format!("s/{i:02}"),
                bytes: *b,
                hash: format!("{:x}", md5::compute(format!("{i}"))),
            })
            .collect()
    }

    fn rh(v: &str) -> RangeHeader {
        range::parse(v).unwrap()
    }

    #[test]
    fn put_validation() {
        assert!(validate_put("c/p").is_ok());
        assert!(validate_put("c/p/q/").is_ok());
        for bad in ["c", "c/", "/p", "c//p", "c/p?x", "c/p&x", ""] {
            assert!(validate_put(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn manifest_values() {
        assert_eq!(
            parse_manifest("c/seg_upper_%25ff"),
            Some(("c".into(), "seg_upper_%ff".into()))
        );
        assert_eq!(parse_manifest("c/"), Some(("c".into(), String::new())));
        assert_eq!(parse_manifest("nothing"), None);
        assert!(wants_manifest(Some("multipart-manifest=get")));
        assert!(!wants_manifest(Some("multipart-manifest=put")));
        assert!(!wants_manifest(None));
    }

    #[test]
    fn etag_is_md5_of_segment_etags() {
        let s = vec![
            Segment {
                name: "a".into(),
                bytes: 1,
                hash: "\"abc\"".into(),
            },
            Segment {
                name: "b".into(),
                bytes: 1,
                hash: "def".into(),
            },
        ];
        assert_eq!(
            manifest_etag(&s),
            format!("\"{:x}\"", md5::compute("abcdef"))
        );
        assert_eq!(manifest_etag(&[]), "\"d41d8cd98f00b204e9800998ecf8427e\"");
    }

    #[test]
    fn pages_skip_subdirs() {
        let body = br#"[{"name": "a", "bytes": 3, "hash": "x", "content_type": "t", "last_modified": "l"}, {"subdir": "d/"}]"#;
        assert_eq!(
            parse_page(body).unwrap(),
            vec![Segment {
                name: "a".into(),
                bytes: 3,
                hash: "x".into()
            }]
        );
        assert!(parse_page(b"nope").is_none());
    }

    #[test]
    fn plans_like_swift() {
        let s = segs(&[3, 3, 5, 4, 4]); // one two three four five = 19 bytes
        let Planned::Serve(p) = plan(&s, true, None) else {
            panic!()
        };
        assert_eq!(p.length, Some(19));
        assert!(p.range.is_none() && p.etag.is_some());
        let Planned::Serve(p) = plan(&s, true, Some(&rh("bytes=5-10"))) else {
            panic!()
        };
        assert_eq!(p.length, Some(6));
        assert_eq!(p.head_length, Some(19));
        assert_eq!(p.range, Some((5, 10, "bytes 5-10/19".into())));
        let Planned::Serve(p) = plan(&s, true, Some(&rh("bytes=-5"))) else {
            panic!()
        };
        assert_eq!(p.range, Some((14, 18, "bytes 14-18/19".into())));
        // Several ranges: the whole object, 200.
        let Planned::Serve(p) = plan(&s, true, Some(&rh("bytes=0-4,10-14"))) else {
            panic!()
        };
        assert!(p.range.is_none());
        assert_eq!(p.length, Some(19));
        assert_eq!(
            plan(&s, true, Some(&rh("bytes=19-25"))),
            Planned::Unsatisfiable {
                content_range: Some("bytes */19".into())
            }
        );
        // Incomplete listing: no length, no ETag; a range inside the first
        // page is served, anything open-ended is ignored.
        let Planned::Serve(p) = plan(&s, false, None) else {
            panic!()
        };
        assert_eq!((p.length, p.etag), (None, None));
        let Planned::Serve(p) = plan(&s, false, Some(&rh("bytes=2-7"))) else {
            panic!()
        };
        assert_eq!(p.range, Some((2, 7, "bytes 2-7/19".into())));
        let Planned::Serve(p) = plan(&s, false, Some(&rh("bytes=2-"))) else {
            panic!()
        };
        assert!(p.range.is_none() && p.length.is_none());
        let Planned::Serve(p) = plan(&s, false, Some(&rh("bytes=18-100"))) else {
            panic!()
        };
        assert!(p.range.is_none());
        // Empty manifests: a suffix range is the whole (empty) body.
        let Planned::Serve(p) = plan(&[], true, Some(&rh("bytes=-5"))) else {
            panic!()
        };
        assert_eq!((p.length, p.range), (Some(0), None));
        assert_eq!(
            plan(&[], true, Some(&rh("bytes=0-"))),
            Planned::Unsatisfiable {
                content_range: Some("bytes */0".into())
            }
        );
    }

    fn walk(sizes: &[u64], range: Option<(u64, u64)>) -> Vec<Step> {
        let mut c = Cursor::new(range);
        sizes.iter().map(|b| c.step(*b)).collect()
    }

    #[test]
    fn cursor_crosses_segment_boundaries() {
        let f = |first, last| Step::Fetch { first, last };
        assert_eq!(walk(&[3, 3, 5], None), vec![f(None, None); 3]);
        // bytes=3- : skip "one", then everything whole.
        assert_eq!(
            walk(&[3, 3, 5], Some((3, 10))),
            vec![Step::Skip, f(None, None), f(None, None)]
        );
        // bytes=5-10 of one|two|three|four|five is "o" of two and all of three.
        assert_eq!(
            walk(&[3, 3, 5, 4, 4], Some((5, 10))),
            vec![
                Step::Skip,
                f(Some(2), None),
                f(None, None),
                Step::Stop,
                Step::Stop
            ]
        );
        // bytes=5-7: "o" of two, "th" of three.
        assert_eq!(
            walk(&[3, 3, 5, 4], Some((5, 7))),
            vec![Step::Skip, f(Some(2), None), f(None, Some(1)), Step::Stop]
        );
        // A range inside one segment.
        assert_eq!(
            walk(&[10, 10, 10], Some((12, 15))),
            vec![Step::Skip, f(Some(2), Some(5)), Step::Stop]
        );
        // Empty segments at the start are skipped, later ones read.
        assert_eq!(
            walk(&[0, 2, 0], None),
            vec![Step::Skip, f(None, None), f(None, None)]
        );
    }
}
