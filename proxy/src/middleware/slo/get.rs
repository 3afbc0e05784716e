//! GET and HEAD of a manifest: answered from its sysmeta when that suffices,
//! else read and served as its segments (nested manifests walked as they
//! come); `?multipart-manifest=get` returns the manifest itself.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode};
use swirl_common::backend_headers as bh;
use swirl_common::conditional::Conditions;
use swirl_common::range;
use swirl_common::timestamp::parse_http_date;
use swirl_common::{ApiError, Body, Timestamp};

use super::manifest::{self as m, Seg, WalkStep, Walker, Want, SYSMETA_SLO_ETAG, SYSMETA_SLO_SIZE};
use super::{MANIFEST_READ_LIMIT, MARKER};
use crate::app::{Ctx, Proxy};
use crate::error::{Error, Result};
use crate::headers;
use crate::middleware::segments::{
    Multipart, Piece, Pieces, RateLimiter, SegmentError, SegmentRead, Segmented,
};
use crate::object_path::ObjectPath;
use crate::pipeline::{Next, Req};
use crate::response;
use crate::response::backend_headers;

/// A manifest a GET or HEAD found: the backend's answer.
pub struct Found {
    pub status: StatusCode,
    /// The backend's headers, sysmeta included.
    pub backend: HeaderMap,
    /// The headers the client would get for the manifest object itself.
    pub client: HeaderMap,
    pub body: Body,
}

impl Found {
    /// The manifest in a response from below slo, if it is one.
    pub fn of(resp: Response<Body>) -> std::result::Result<Found, Box<Response<Body>>> {
        if !headers::is_true(resp.headers(), MARKER) {
            return Err(Box::new(resp));
        }
        let backend = backend_headers(&resp).cloned().unwrap_or_default();
        let (parts, body) = resp.into_parts();
        Ok(Found {
            status: parts.status,
            backend,
            client: parts.headers,
            body,
        })
    }
}

/// The backend headers of a read that may find a manifest: where its SLO
/// ETag is kept (for If-Match/If-None-Match) and that its body is wanted whole.
pub fn request_headers(h: &mut HeaderMap) {
    let at = match headers::get(h, bh::ETAG_IS_AT) {
        Some(v) if !v.is_empty() => format!("{v},X-Object-Sysmeta-Slo-Etag"),
        _ => "X-Object-Sysmeta-Slo-Etag".to_string(),
    };
    headers::set(h, bh::ETAG_IS_AT, &at);
    headers::set(
        h,
        bh::IGNORE_RANGE,
        "X-Static-Large-Object,X-Object-Manifest",
    );
}

/// `?multipart-manifest=get` of a manifest: JSON, or with `format=raw`
/// the PUT format (its own Content-Length and ETag).
pub async fn manifest_get(
    method: &Method,
    query: Option<&str>,
    mut resp: Response<Body>,
) -> Result<Response<Body>> {
    if !headers::is_true(resp.headers(), MARKER) {
        return Ok(resp);
    }
    if headers::query_param(query, "format").as_deref() != Some("raw") {
        headers::set(
            resp.headers_mut(),
            "content-type",
            "application/json; charset=utf-8",
        );
        return Ok(resp);
    }
    let (mut parts, body) = resp.into_parts();
    let stored = crate::middleware::dlo::collect(body, MANIFEST_READ_LIMIT)
        .await
        .ok_or_else(|| Error::Unavailable("SLO manifest unreadable".into()))?;
    let raw = m::raw_manifest(&stored);
    headers::set(&mut parts.headers, "content-length", &raw.len().to_string());
    headers::set(
        &mut parts.headers,
        "etag",
        &format!("{:x}", md5::compute(&raw)),
    );
    let body = if *method == Method::HEAD {
        swirl_common::body::empty()
    } else {
        swirl_common::body::full(raw)
    };
    Ok(Response::from_parts(parts, body))
}

fn timestamp_of(v: Option<&str>) -> f64 {
    v.and_then(|t| Timestamp::parse(t).ok())
        .map_or(0.0, |t| t.as_f64())
}

/// Did the backend send the whole manifest? (Swift's `_need_to_refetch_manifest`.)
fn need_refetch(ctx: &Ctx, found: &Found) -> bool {
    if ctx.method == Method::HEAD {
        return true; // no ETag and size in sysmeta: the segments must be read
    }
    let conditional =
        ctx.headers.contains_key("if-match") || ctx.headers.contains_key("if-none-match");
    if conditional && !found.status.is_success() {
        return true;
    }
    let ranged = ctx.headers.contains_key("range");
    let code = found.status.as_u16();
    if ranged && (code == 206 || code == 416) {
        let whole = headers::get(&found.backend, "content-range")
            .and_then(|cr| cr.strip_prefix("bytes "))
            .and_then(|cr| {
                let (ab, n) = cr.split_once('/')?;
                let (a, b) = ab.split_once('-')?;
                let (a, b, n): (u64, u64, u64) =
                    (a.parse().ok()?, b.parse().ok()?, n.parse().ok()?);
                Some(a == 0 && b + 1 == n)
            })
            .unwrap_or(false);
        return !whole;
    }
    false
}

/// Answers a GET or HEAD that found the manifest `found` at `path`.
pub async fn respond(
    next: &Next,
    ctx: &mut Ctx,
    path: &ObjectPath,
    found: Found,
) -> Result<Response<Body>> {
    let proxy = next.proxy();
    let head = ctx.method == Method::HEAD;
    let sys_etag = headers::get(&found.backend, SYSMETA_SLO_ETAG).map(str::to_string);
    let sys_size: Option<u64> =
        headers::get(&found.backend, SYSMETA_SLO_SIZE).and_then(|v| v.trim().parse().ok());
    let conditional =
        ctx.headers.contains_key("if-match") || ctx.headers.contains_key("if-none-match");
    let code = found.status.as_u16();
    let is_conditional = (code == 304 || code == 412) && conditional;
    let conds = Conditions::from_headers(&ctx.headers);
    if let (Some(etag), Some(size)) = (&sys_etag, sys_size) {
        if head || is_conditional {
            // The ETag and length are known: answer from the manifest's headers.
            let mut h = found.client.clone();
            let manifest_etag = headers::get(&h, "etag").map(str::to_string);
            headers::set(&mut h, "etag", &format!("\"{etag}\""));
            if let Some(me) = manifest_etag {
                headers::set(&mut h, "x-manifest-etag", &me);
            }
            headers::set(&mut h, "content-length", &size.to_string());
            let modified = headers::get(&h, "last-modified").and_then(parse_http_date);
            let mut status = found.status;
            if let Some(c) = conds.check(Some(etag), modified, true) {
                status = StatusCode::from_u16(c).unwrap_or(status);
            }
            if status.as_u16() == 304 || status.as_u16() == 412 {
                headers::set(&mut h, "content-length", "0");
            }
            return Ok(response::with_headers(
                status,
                h,
                swirl_common::body::empty(),
                ctx.owner,
            ));
        }
    }
    let mut found = found;
    if need_refetch(ctx, &found) {
        let slo_ts = headers::get(&found.backend, bh::TIMESTAMP).map(str::to_string);
        let mut sub = ctx.subrequest(Method::GET, None).by("SLO");
        request_headers(&mut sub.headers);
        let req = Req::object(sub, path, swirl_common::body::empty());
        let resp = match Found::of(next.clone().run(req).await?) {
            Ok(f) => {
                found = f;
                None
            }
            // Not a manifest (any more): a DLO was expanded below us.
            Err(r) => Some(*r),
        };
        if let Some(resp) = resp {
            // No manifest any more: a newer object is served as it is; an
            // older answer means the manifest seen first cannot be read.
            let got = timestamp_of(headers::get(resp.headers(), "x-timestamp"));
            if got >= timestamp_of(slo_ts.as_deref()) {
                return Ok(resp);
            }
            return Err(Error::Unavailable(
                "SLO manifest changed to an older object while read".into(),
            ));
        }
    }
    let body = read_manifest(proxy, found.body).await?;
    let segments = match m::parse_stored(&body, true) {
        Ok(s) => s,
        // Not JSON at all (an empty 304 body, say): no segments, as Swift reads it.
        Err(_) if serde_json::from_slice::<serde_json::Value>(&body).is_err() => Vec::new(),
        Err(why) => {
            tracing::warn!(txn = %ctx.txn, %why, "SLO manifest unreadable");
            return Err(Error::Conflict);
        }
    };
    let (calc_etag, calc_size) = m::etag_and_size(&segments);
    let etag = sys_etag.unwrap_or(calc_etag);
    let length = sys_size.unwrap_or(calc_size);
    let mut h = found.client;
    h.remove("content-range");
    h.remove("content-length");
    if let Some(me) = headers::get(&h, "etag").map(str::to_string) {
        headers::set(&mut h, "x-manifest-etag", &me);
    }
    headers::set(&mut h, "etag", &format!("\"{etag}\""));
    headers::set(&mut h, "content-length", &length.to_string());
    let modified = headers::get(&h, "last-modified").and_then(parse_http_date);
    if head {
        let mut status = StatusCode::OK;
        if let Some(c) = conds.check(Some(&etag), modified, true) {
            status = StatusCode::from_u16(c).unwrap_or(status);
            headers::set(&mut h, "content-length", "0");
        }
        return Ok(response::with_headers(
            status,
            h,
            swirl_common::body::empty(),
            ctx.owner,
        ));
    }
    let range = headers::get(&ctx.headers, "range").and_then(range::parse);
    let ranges = range.as_ref().map(|r| r.ranges_for_length(length));
    let inclusive: Vec<(u64, u64)> = ranges
        .iter()
        .flatten()
        .filter(|(a, b)| b > a)
        .map(|(a, b)| (*a, b - 1))
        .collect();
    let account = path.account.as_str();
    let path = format!("/v1{path}");
    let cfg = &proxy.cfg.slo;
    let mut seg = Segmented {
        next: next.clone(),
        sub: ctx.subrequest(Method::GET, None),
        account: account.to_string(),
        manifest: path.clone(),
        kind: "SLO",
        pieces: Tree {
            next: next.clone(),
            sub: ctx.subrequest(Method::GET, None),
            account: account.to_string(),
            walker: Walker::new(segments, &inclusive, &path),
            limiter: RateLimiter::new(
                cfg.rate_limit_after_segment,
                cfg.rate_limit_segments_per_sec,
            ),
            under_size: cfg.rate_limit_under_size,
            clock: Instant::now(),
        },
    };
    // Swift's validate_first_segment, before conditionals and ranges.
    let first = seg.first().await?;
    if let Some(c) = conds.check(Some(&etag), modified, true) {
        headers::set(&mut h, "content-length", "0");
        let status = StatusCode::from_u16(c).unwrap_or(StatusCode::PRECONDITION_FAILED);
        return Ok(response::with_headers(
            status,
            h,
            swirl_common::body::empty(),
            ctx.owner,
        ));
    }
    let max_get = Duration::from_secs(cfg.max_get_time);
    let (status, framing) = match ranges {
        Some(rs) if rs.is_empty() => {
            // swob's 416: the object's headers, its standard body.
            headers::set(&mut h, "content-range", &format!("bytes */{length}"));
            response::drop_owner_headers(&mut h, ctx.owner);
            return Err(Error::RangeNotSatisfiable(h));
        }
        Some(rs) if length > 0 && rs.len() == 1 => {
            let (a, b) = rs[0];
            headers::set(&mut h, "content-range", &range::content_range(a, b, length));
            headers::set(&mut h, "content-length", &(b - a).to_string());
            (StatusCode::PARTIAL_CONTENT, None)
        }
        Some(rs) if length > 0 => {
            let ctype = headers::get(&h, "content-type")
                .unwrap_or("application/octet-stream")
                .to_string();
            let boundary = format!("{:032x}", rand::random::<u128>());
            let framing = Multipart::new(&boundary, &ctype, length, rs);
            headers::set(&mut h, "content-type", &framing.content_type());
            headers::set(
                &mut h,
                "content-length",
                &framing.content_length().to_string(),
            );
            (StatusCode::PARTIAL_CONTENT, Some(framing))
        }
        _ => (StatusCode::OK, None),
    };
    let data_len: u64 = if inclusive.is_empty() || status == StatusCode::OK {
        length
    } else {
        inclusive.iter().map(|(a, b)| b - a + 1).sum()
    };
    let body = seg.stream(first, Some(data_len), max_get, framing);
    Ok(response::with_headers(status, h, body, ctx.owner))
}

/// Reads a stored manifest whole.
async fn read_manifest(proxy: &Proxy, body: Body) -> Result<Bytes> {
    let timeout = crate::config::secs(proxy.cfg.node_timeout) * 4;
    tokio::time::timeout(
        timeout,
        crate::middleware::dlo::collect(body, MANIFEST_READ_LIMIT),
    )
    .await
    .ok()
    .flatten()
    .ok_or_else(|| Error::Unavailable("SLO manifest unreadable".into()))
}

/// The pieces of an SLO GET: the walk of its segments, fetching nested
/// manifests as the caller, rate limited after the first few small ones.
struct Tree {
    next: Next,
    sub: Ctx,
    account: String,
    walker: Walker,
    limiter: RateLimiter,
    under_size: u64,
    clock: Instant,
}

impl Pieces for Tree {
    async fn next(&mut self) -> std::result::Result<Option<Piece>, SegmentError> {
        loop {
            match self.walker.step().map_err(SegmentError::Invalid)? {
                WalkStep::Done => return Ok(None),
                WalkStep::Fetch(name) => {
                    let segs = self.sub_manifest(&name).await?;
                    self.walker.provide(segs);
                }
                WalkStep::Want(Want::Data(d)) => return Ok(Some(Piece::Data(d))),
                WalkStep::Want(Want::Object {
                    name,
                    hash,
                    bytes,
                    first,
                    last,
                }) => {
                    // Swift rate-limits only segments smaller than
                    // rate_limit_under_size (whole size, whatever the range).
                    if bytes < self.under_size {
                        let now = self.clock.elapsed().as_secs_f64() * 1000.0;
                        if let Some(d) = self.limiter.wait(now) {
                            tokio::time::sleep(d).await;
                        }
                    }
                    let segment = ObjectPath::in_account(&self.account, &name);
                    let to_end = last + 1 >= bytes;
                    return Ok(Some(Piece::Read(SegmentRead {
                        container: segment.container,
                        object: segment.object,
                        first: (first > 0).then_some(first),
                        last: (!to_end).then_some(last),
                        etag: hash,
                        size: Some(bytes),
                    })));
                }
            }
        }
    }
}

impl Tree {
    /// The segments of a nested manifest, read as the caller.
    async fn sub_manifest(&self, name: &str) -> std::result::Result<Vec<Seg>, SegmentError> {
        let manifest = ObjectPath::in_account(&self.account, name);
        let sub = self
            .sub
            .subrequest(Method::GET, Some("multipart-manifest=get".into()))
            .by("SLO");
        let path = format!("/v1{manifest}");
        let req = Req::object(sub, &manifest, swirl_common::body::empty());
        let resp = self.next.clone().run(req).await.map_err(|e| {
            SegmentError::Invalid(format!(
                "GET of submanifest {path} failed with status {}",
                e.status().as_u16()
            ))
        })?;
        if !resp.status().is_success() {
            return Err(SegmentError::Invalid(format!(
                "GET of submanifest {path} failed with status {}",
                resp.status().as_u16()
            )));
        }
        let body = crate::middleware::dlo::collect(resp.into_body(), MANIFEST_READ_LIMIT)
            .await
            .ok_or_else(|| SegmentError::Invalid(format!("reading submanifest {path}")))?;
        m::parse_stored(&body, false).map_err(|e| {
            SegmentError::Invalid(format!(
                "JSON-decoding of submanifest {path} failed with {e}"
            ))
        })
    }
}
