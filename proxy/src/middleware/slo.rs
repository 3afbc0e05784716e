//! Swift's slo middleware (static large objects, `swift/common/middleware/slo.py`),
//! its requests; the manifest formats and the pure checks are in
//! `slo_manifest`. It sits after copy and before dlo, as in Swift's pipeline.
//!
//! - `PUT ?multipart-manifest=put` takes a JSON list of segments (`path`
//!   with optional `etag`, `size_bytes`, `range`; or inline base64 `data`),
//!   HEADs each distinct path as the caller (`concurrency` at a time), and
//!   stores the manifest with `X-Static-Large-Object: True`, the SLO ETag
//!   and size in sysmeta, `;swift_bytes=<size>` on its Content-Type and both
//!   ETags for the container listing. Bad segments are a 400 listing each
//!   one; `heartbeat=on` answers 202 at once, sends a space every
//!   `yield_frequency` seconds and ends with the result document.
//! - GET/HEAD of a manifest read its segments (nested manifests included,
//!   ten deep) through `segments`: Content-Length is the total, the ETag the
//!   quoted SLO ETag, X-Manifest-Etag the manifest's own; one range or
//!   several (multipart/byteranges) are served across segments; If-Match
//!   and If-None-Match compare with the SLO ETag (the object servers are
//!   told where it is kept with X-Backend-Etag-Is-At).
//! - `?multipart-manifest=get` reads the manifest itself (as JSON, or in
//!   the PUT format with `format=raw`).
//! - `DELETE ?multipart-manifest=delete` deletes the segments (nested
//!   manifests' first), then the manifest, as the caller, answering as a
//!   bulk delete does (200, the result in text, JSON or XML by Accept).
//! - JSON container listings show a manifest's SLO ETag as `slo_etag`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use swirl_common::backend_headers as bh;
use swirl_common::conditional::{normalize_etag, Conditions};
use swirl_common::error::{error_text, reason};
use swirl_common::listing_format;
use swirl_common::range;
use swirl_common::timestamp::parse_http_date;
use swirl_common::{ApiError, Body, Timestamp};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::app::{Ctx, Proxy};
use crate::error::{Error, Result};
use crate::headers;
use crate::middleware::bulk::{self, render_doc, status_line, Report, Val};
use crate::middleware::segments::{
    Multipart, Piece, Pieces, RateLimiter, SegmentError, SegmentRead, Segmented,
};
use crate::middleware::slo_manifest::{
    self as m, check_segment, Head, Input, InputError, Seg, Stored, WalkStep, Walker, Want, MARKER,
    OVERRIDE_ETAG, SYSMETA_SLO_ETAG, SYSMETA_SLO_SIZE,
};
use crate::object_path::ObjectPath;
use crate::response;
use crate::stream::{ChannelBody, CHANNEL_FRAMES};

/// Stored manifests are small JSON documents: 1,000 segments of long names
/// plus inline data within the 8 MiB a PUT may carry stay well below this.
const MANIFEST_READ_LIMIT: usize = 64 << 20;

/// Swift's `MAX_CONTAINER_LISTING_CONTENT_LENGTH`: bigger listings pass unchanged.
const MAX_LISTING_REWRITE: u64 = 1024 * 10000 * 2;

/// The query's `multipart-manifest` value.
fn multipart(query: Option<&str>) -> Option<String> {
    headers::query_param(query, "multipart-manifest")
}

/// `PUT ?multipart-manifest=put`.
pub fn is_manifest_put(query: Option<&str>) -> bool {
    multipart(query).as_deref() == Some("put")
}

/// `DELETE ?multipart-manifest=delete`.
pub fn is_manifest_delete(query: Option<&str>) -> bool {
    multipart(query).as_deref() == Some("delete")
}

/// The 400 for a client sending X-Static-Large-Object outside a manifest PUT.
pub fn reserved_header_refused() -> Error {
    Error::BadRequestHtml(
        "X-Static-Large-Object is a reserved header. To create a static large object add query param multipart-manifest=put.".into(),
    )
}

/// A ticker sending whitespace to a waiting client (Swift's heartbeats).
struct Beats {
    task: tokio::task::JoinHandle<()>,
    sent: Arc<AtomicBool>,
}

type Tx = mpsc::Sender<std::result::Result<Frame<Bytes>, std::io::Error>>;

impl Beats {
    /// Sends `first` after `every`, then a space each `every`.
    fn start(tx: Tx, first: &'static [u8], every: Duration) -> Beats {
        let sent = Arc::new(AtomicBool::new(false));
        let flag = sent.clone();
        let every = every.max(Duration::from_secs(1));
        let task = tokio::spawn(async move {
            let mut what = first;
            loop {
                tokio::time::sleep(every).await;
                if tx
                    .send(Ok(Frame::data(Bytes::from_static(what))))
                    .await
                    .is_err()
                {
                    return;
                }
                flag.store(true, Ordering::SeqCst);
                what = b" ";
            }
        });
        Beats { task, sent }
    }

    /// Stops; true when anything was sent.
    async fn stop(self) -> bool {
        self.task.abort();
        let _ = self.task.await;
        self.sent.load(Ordering::SeqCst)
    }
}

// ---------------------------------------------------------------------------
// PUT ?multipart-manifest=put

/// Reads at most `limit` bytes of a request body (Swift reads no more).
async fn read_limited<B>(mut body: B, limit: usize, timeout: Duration) -> Result<Vec<u8>>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut out = Vec::new();
    while out.len() < limit {
        match tokio::time::timeout(timeout, body.frame()).await {
            Err(_) => return Err(Error::RequestTimeout),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(Error::ClientDisconnect),
            Ok(Some(Ok(f))) => {
                if let Ok(d) = f.into_data() {
                    let room = limit - out.len();
                    out.extend_from_slice(&d[..d.len().min(room)]);
                }
            }
        }
    }
    Ok(out)
}

/// The outcome of a manifest PUT, before it is written out.
enum PutOutcome {
    /// Segments failed their checks.
    Problems(Vec<(String, String)>),
    /// The client's ETag is not the SLO ETag.
    EtagMismatch,
    /// The manifest PUT's own answer, and the SLO ETag.
    Stored(Response<Body>, String),
}

/// Answers `PUT ?multipart-manifest=put` of `body`, a client's (or a
/// copy's source, for a copy of a manifest).
pub async fn put<B>(
    proxy: &Arc<Proxy>,
    ctx: &Ctx,
    path: &ObjectPath,
    body: B,
) -> Result<Response<Body>>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let cfg = &proxy.cfg.slo;
    let (length, chunked) = crate::object::request_length(&ctx.headers)?;
    match length {
        None if !chunked => return Err(Error::LengthRequired),
        Some(n) if n > cfg.max_manifest_size => {
            return Err(Error::TooLargeHtml(format!(
                "Manifest File > {} bytes",
                cfg.max_manifest_size
            )))
        }
        _ => {}
    }
    let limit = usize::try_from(cfg.max_manifest_size).unwrap_or(usize::MAX);
    let timeout = crate::config::secs(proxy.cfg.client_timeout);
    let data = read_limited(body, limit, timeout).await?;
    let inputs = match m::parse_input(&data, &path.container, &path.object) {
        Ok(i) => i,
        Err(InputError::Body(msg)) => return Err(Error::BadRequestHtml(msg.into())),
        Err(InputError::Segments(list)) => {
            return Err(Error::BadRequestDoc {
                content_type: "text/plain",
                body: list,
            })
        }
    };
    let objects = inputs
        .iter()
        .filter(|i| matches!(i, Input::Object(_)))
        .count();
    if objects > cfg.max_manifest_segments {
        return Err(Error::TooLargeHtml(format!(
            "Number of object-backed segments must be <= {}",
            cfg.max_manifest_segments
        )));
    }
    let out_type = listing_format::negotiate(None, headers::get(&ctx.headers, "accept"))
        .unwrap_or("text/plain");
    let heartbeat = headers::query_param(ctx.query.as_deref(), "heartbeat")
        .is_some_and(|v| headers::is_true_value(&v));
    let job = PutJob {
        proxy: proxy.clone(),
        ctx: ctx.clone(),
        path: path.clone(),
        inputs,
    };
    if !heartbeat {
        return match job.run().await? {
            PutOutcome::Problems(p) => Err(Error::BadRequestDoc {
                content_type: out_type,
                body: String::from_utf8_lossy(&render_doc(Some(out_type), "upload", &[], &p))
                    .into_owned(),
            }),
            PutOutcome::EtagMismatch => Err(Error::Unprocessable),
            PutOutcome::Stored(mut r, etag) => {
                if r.status().is_success() {
                    headers::set(r.headers_mut(), "etag", &format!("\"{etag}\""));
                }
                Ok(r)
            }
        };
    }
    // 202 now, whitespace while the segments are checked, the result last.
    let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
    let every = Duration::from_secs(cfg.yield_frequency);
    tokio::spawn(async move {
        if tx
            .send(Ok(Frame::data(Bytes::from_static(b" "))))
            .await
            .is_err()
        {
            return;
        }
        let beats = Beats::start(tx.clone(), b" ", every);
        let outcome = job.run().await;
        beats.stop().await;
        let doc = heartbeat_result(outcome).await;
        let mut out = b"\r\n\r\n".to_vec();
        out.extend_from_slice(&render_doc(Some(out_type), "upload", &doc.0, &doc.1));
        let _ = tx.send(Ok(Frame::data(Bytes::from(out)))).await;
    });
    let mut r = Response::new(ChannelBody::new(rx, None).boxed());
    *r.status_mut() = StatusCode::ACCEPTED;
    headers::set(r.headers_mut(), "content-type", out_type);
    Ok(r)
}

/// `Response Body` of an error without one: swob's title and explanation.
fn reason_text(status: StatusCode) -> String {
    let (title, explanation) = reason(status);
    if explanation.is_empty() {
        title.to_string()
    } else {
        format!("{title}\n{explanation}")
    }
}

type Doc = (Vec<(&'static str, Val)>, Vec<(String, String)>);

/// The result document a heartbeating PUT ends with.
async fn heartbeat_result(outcome: Result<PutOutcome>) -> Doc {
    let status = |code: u16| Val::Str(status_line(code));
    match outcome {
        Ok(PutOutcome::Problems(p)) => (
            vec![
                ("Response Status", status(400)),
                (
                    "Response Body",
                    Val::Str(reason_text(StatusCode::BAD_REQUEST)),
                ),
            ],
            p,
        ),
        Ok(PutOutcome::EtagMismatch) => (
            vec![
                ("Response Status", status(422)),
                (
                    "Response Body",
                    Val::Str(reason_text(StatusCode::UNPROCESSABLE_ENTITY)),
                ),
            ],
            Vec::new(),
        ),
        Ok(PutOutcome::Stored(r, etag)) => {
            let code = r.status();
            let mut fields = vec![("Response Status", status(code.as_u16()))];
            if code.is_success() {
                fields.push(("Etag", Val::Str(format!("\"{etag}\""))));
                let lm = headers::get(r.headers(), "last-modified").unwrap_or("");
                fields.push(("Last Modified", Val::Str(lm.to_string())));
            }
            let body = crate::middleware::dlo::collect(r.into_body(), 1 << 20)
                .await
                .unwrap_or_default();
            fields.push((
                "Response Body",
                Val::Str(String::from_utf8_lossy(&body).into_owned()),
            ));
            (fields, Vec::new())
        }
        Err(e) => (
            vec![
                ("Response Status", status(e.status().as_u16())),
                ("Response Body", Val::Str(error_text(&e))),
            ],
            Vec::new(),
        ),
    }
}

/// A manifest PUT after its body was read and parsed.
struct PutJob {
    proxy: Arc<Proxy>,
    /// The PUT's headers and the caller's identity.
    ctx: Ctx,
    /// The manifest.
    path: ObjectPath,
    inputs: Vec<Input>,
}

impl PutJob {
    /// HEADs the segments, checks them, and stores the manifest.
    async fn run(mut self) -> Result<PutOutcome> {
        // Each distinct path is HEADed once, in the order first named.
        let mut paths: Vec<(String, Vec<usize>)> = Vec::new();
        let mut total: u64 = 0;
        for (i, input) in self.inputs.iter().enumerate() {
            match input {
                Input::Data(d) => total += d.len() as u64,
                Input::Object(o) => match paths.iter_mut().find(|(p, _)| *p == o.path) {
                    Some((_, idx)) => idx.push(i),
                    None => paths.push((o.path.clone(), vec![i])),
                },
            }
        }
        let heads = self.head_all(&paths).await;
        let last = self.inputs.len().saturating_sub(1);
        let mut stored: Vec<Option<Stored>> = self
            .inputs
            .iter()
            .map(|i| match i {
                Input::Data(d) => Some(Stored::Data(m::b64_encode(d))),
                Input::Object(_) => None,
            })
            .collect();
        let mut problems = Vec::new();
        for ((_, idx), head) in paths.iter().zip(heads.iter()) {
            for &i in idx {
                let Input::Object(o) = &self.inputs[i] else {
                    continue;
                };
                let (n, s) = check_segment(o, head, i == last, &mut problems);
                total += n;
                stored[i] = s;
            }
        }
        if !problems.is_empty() {
            return Ok(PutOutcome::Problems(problems));
        }
        let stored: Vec<Stored> = stored.into_iter().flatten().collect();
        let slo_etag = m::slo_etag(&stored);
        let client_etag =
            headers::get(&self.ctx.headers, "etag").map(|e| normalize_etag(e).to_string());
        if client_etag.is_some_and(|e| !e.is_empty() && e != slo_etag) {
            return Ok(PutOutcome::EtagMismatch);
        }
        let json = m::render_stored(&stored);
        let manifest_etag = format!("{:x}", md5::compute(&json));
        let h = &mut self.ctx.headers;
        headers::set(h, SYSMETA_SLO_ETAG, &slo_etag);
        headers::set(h, SYSMETA_SLO_SIZE, &total.to_string());
        headers::set(h, MARKER, "True");
        headers::set(h, "etag", &manifest_etag);
        // The container row keeps both ETags (an override set by middleware
        // before us would be kept, as Swift keeps it).
        let (val, params) = match headers::get(h, OVERRIDE_ETAG) {
            Some(v) => match v.split_once(';') {
                Some((a, b)) => (a.to_string(), format!(";{b}")),
                None => (v.to_string(), String::new()),
            },
            None => (String::new(), String::new()),
        };
        let base = if val.is_empty() { manifest_etag } else { val };
        headers::set(
            h,
            OVERRIDE_ETAG,
            &format!("{base}{params}; slo_etag={slo_etag}"),
        );
        let ctype = match headers::get(h, "content-type").filter(|c| !c.is_empty()) {
            Some(c) => c.to_string(),
            None => crate::content_type::guess(&self.path.object).to_string(),
        };
        headers::set(h, "content-type", &format!("{ctype};swift_bytes={total}"));
        headers::set(h, "content-length", &json.len().to_string());
        h.remove("transfer-encoding");
        let body = http_body_util::Full::new(Bytes::from(json));
        let resp =
            crate::object::put_object_with(&self.proxy, &mut self.ctx, &self.path, body, true)
                .await?;
        Ok(PutOutcome::Stored(resp, slo_etag))
    }

    /// HEADs every path as the caller, `concurrency` at a time (through
    /// this middleware: a nested manifest answers with its total size and
    /// SLO ETag).
    async fn head_all(&self, paths: &[(String, Vec<usize>)]) -> Vec<Head> {
        let conc = self.proxy.cfg.slo.concurrency.max(1);
        let mut out: Vec<Option<Head>> = vec![None; paths.len()];
        let mut running: JoinSet<(usize, Head)> = JoinSet::new();
        let mut next = 0;
        loop {
            while running.len() < conc && next < paths.len() {
                let i = next;
                next += 1;
                let input = self.inputs[paths[i].1[0]].clone();
                let Input::Object(o) = input else { continue };
                let segment = ObjectPath::in_account(&self.path.account, &o.path);
                let proxy = self.proxy.clone();
                let mut sub = self.ctx.subrequest(Method::HEAD, None);
                running.spawn(async move {
                    let res = crate::object::get_or_head(&proxy, &mut sub, &segment).await;
                    (i, head_of(res))
                });
            }
            match running.join_next().await {
                Some(Ok((i, h))) => out[i] = Some(h),
                Some(Err(_)) => {}
                None => break,
            }
        }
        out.into_iter()
            .map(|h| {
                h.unwrap_or(Head {
                    failed: Some(status_line(503)),
                    length: None,
                    etag: None,
                    content_type: None,
                    last_modified: Timestamp::now().isoformat(),
                    slo: false,
                })
            })
            .collect()
    }
}

/// What a segment's HEAD says.
fn head_of(res: Result<Response<Body>>) -> Head {
    let now = Timestamp::now().isoformat();
    let resp = match res {
        Ok(r) => r,
        Err(e) => {
            return Head {
                failed: Some(status_line(e.status().as_u16())),
                length: None,
                etag: None,
                content_type: None,
                last_modified: now,
                slo: false,
            }
        }
    };
    let h = resp.headers();
    let failed = (!resp.status().is_success()).then(|| status_line(resp.status().as_u16()));
    let last_modified = headers::get(h, "last-modified")
        .and_then(parse_http_date)
        .and_then(|s| Timestamp::from_secs_f64(s as f64).ok())
        .map(|t| t.isoformat())
        .unwrap_or(now);
    Head {
        failed,
        length: headers::get(h, "content-length").and_then(|v| v.trim().parse().ok()),
        etag: headers::get(h, "etag").map(|e| e.replace('"', "")),
        content_type: headers::get(h, "content-type")
            .map(|c| c.split(';').next().unwrap_or("").to_string()),
        last_modified,
        slo: headers::is_true(h, MARKER),
    }
}

// ---------------------------------------------------------------------------
// GET and HEAD

/// A manifest a GET or HEAD found: the backend's answer.
pub struct Found {
    pub status: StatusCode,
    /// The backend's headers, sysmeta included.
    pub backend: HeaderMap,
    /// The headers the client would get for the manifest object itself.
    pub client: HeaderMap,
    pub body: Incoming,
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
pub async fn manifest_get(ctx: &Ctx, mut resp: Response<Body>) -> Result<Response<Body>> {
    if !headers::is_true(resp.headers(), MARKER) {
        return Ok(resp);
    }
    if headers::query_param(ctx.query.as_deref(), "format").as_deref() != Some("raw") {
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
    let body = if ctx.method == Method::HEAD {
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
    proxy: &Arc<Proxy>,
    ctx: &mut Ctx,
    path: &ObjectPath,
    found: Found,
) -> Result<Response<Body>> {
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
        let mut sub = ctx.subrequest(Method::GET, None);
        let resp = match crate::object::fetch(proxy, &mut sub, path, true).await? {
            crate::object::Found::Slo(f) => {
                found = f;
                None
            }
            crate::object::Found::Plain(r) => Some(r),
            crate::object::Found::Manifest(h, value) => {
                Some(crate::middleware::dlo::respond(proxy, &sub, path, h, &value).await?)
            }
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
        proxy: proxy.clone(),
        sub: ctx.subrequest(Method::GET, None),
        account: account.to_string(),
        manifest: path.clone(),
        kind: "SLO",
        pieces: Tree {
            proxy: proxy.clone(),
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
    let first = match seg.first().await {
        Ok(f) => f,
        Err(SegmentError::Server(why)) => {
            return Err(Error::Unavailable(format!("SLO first segment: {why}")));
        }
        Err(SegmentError::Invalid(why)) => {
            tracing::info!(txn = %ctx.txn, %why, "SLO first segment");
            return Err(Error::Conflict);
        }
    };
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
async fn read_manifest(proxy: &Proxy, body: Incoming) -> Result<Bytes> {
    let timeout = crate::config::secs(proxy.cfg.node_timeout) * 4;
    tokio::time::timeout(
        timeout,
        crate::backend::read_small(body, MANIFEST_READ_LIMIT),
    )
    .await
    .ok()
    .flatten()
    .ok_or_else(|| Error::Unavailable("SLO manifest unreadable".into()))
}

/// The pieces of an SLO GET: the walk of its segments, fetching nested
/// manifests as the caller, rate limited after the first few small ones.
struct Tree {
    proxy: Arc<Proxy>,
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
        let mut sub = self.sub.subrequest(Method::GET, None);
        let path = format!("/v1{manifest}");
        let resp = crate::object::get_plain(&self.proxy, &mut sub, &manifest)
            .await
            .map_err(|e| {
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

// ---------------------------------------------------------------------------
// DELETE ?multipart-manifest=delete

/// A name to delete (Swift's `get_segments_to_delete_iter` entries).
struct Doomed {
    name: String,
    sub_slo: bool,
    /// Why its manifest could not be read (status, message).
    error: Option<(u16, String)>,
}

/// Answers `DELETE ?multipart-manifest=delete`: 200 at once, the result as
/// bulk delete writes it once the segments and the manifest are deleted.
pub fn delete(proxy: &Arc<Proxy>, ctx: &Ctx, path: &ObjectPath) -> Response<Body> {
    let format = listing_format::negotiate(None, headers::get(&ctx.headers, "accept")).ok();
    let mut resp = Response::new(swirl_common::body::empty());
    headers::set(
        resp.headers_mut(),
        "content-type",
        format.unwrap_or("text/html; charset=UTF-8"),
    );
    let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
    let job = DeleteJob {
        proxy: proxy.clone(),
        ctx: ctx.subrequest(Method::DELETE, None),
        account: path.account.clone(),
        queue: std::collections::VecDeque::from([Doomed {
            name: format!("/{}/{}", path.container, path.object),
            sub_slo: true,
            error: None,
        }]),
        format,
    };
    tokio::spawn(job.run(tx));
    *resp.body_mut() = ChannelBody::new(rx, None).boxed();
    resp
}

struct DeleteJob {
    proxy: Arc<Proxy>,
    ctx: Ctx,
    account: String,
    queue: std::collections::VecDeque<Doomed>,
    format: Option<&'static str>,
}

impl DeleteJob {
    async fn run(mut self, tx: Tx) {
        let every = Duration::from_secs(self.proxy.cfg.bulk.yield_frequency);
        let first: &'static [u8] = if self.format.is_some_and(|f| f.ends_with("/xml")) {
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        } else {
            b" "
        };
        let beats = Beats::start(tx.clone(), first, every);
        let mut report = Report {
            status: 200,
            body: String::new(),
            deleted: 0,
            not_found: 0,
            errors: Vec::new(),
        };
        match self.format {
            None => report.status = 406,
            Some(_) => {
                if let Err((status, body)) = self.delete_all(&mut report).await {
                    report.status = status;
                    report.body = body;
                }
            }
        }
        let beat = beats.stop().await;
        let mut out = if beat {
            b"\r\n\r\n".to_vec()
        } else {
            Vec::new()
        };
        out.extend_from_slice(&bulk::render(self.format, &report));
        let _ = tx.send(Ok(Frame::data(Bytes::from(out)))).await;
    }

    /// The next name to delete: segments of each manifest before the
    /// manifest, nested manifests read as they come.
    async fn next_doomed(&mut self) -> std::result::Result<Option<Doomed>, (u16, String)> {
        let limit = self.proxy.cfg.slo.max_manifest_segments.saturating_mul(10);
        loop {
            if self.queue.len() > limit {
                return Err((400, "Too many buffered slo segments to delete.".into()));
            }
            let Some(mut d) = self.queue.pop_front() else {
                return Ok(None);
            };
            if d.sub_slo {
                match self.segments_of(&d.name).await {
                    Ok(segs) => self.queue.extend(segs),
                    Err(e) => d.error = Some(e),
                }
                // The manifest itself goes after its segments.
                d.sub_slo = false;
                self.queue.push_back(d);
                continue;
            }
            return Ok(Some(d));
        }
    }

    /// Reads a manifest to delete (Swift's `get_slo_segments`); the error
    /// the result reports for it otherwise.
    async fn segments_of(&self, name: &str) -> std::result::Result<Vec<Doomed>, (u16, String)> {
        let manifest = ObjectPath::in_account(&self.account, name);
        let mut sub = self
            .ctx
            .subrequest(Method::GET, Some("multipart-manifest=get".into()));
        // Only the last byte of an object that is no manifest.
        headers::set(&mut sub.headers, "range", "bytes=-1");
        headers::set(&mut sub.headers, bh::IGNORE_RANGE, "X-Static-Large-Object");
        let res = crate::object::get_or_head(&self.proxy, &mut sub, &manifest).await;
        let (status, resp) = match res {
            Ok(r) => (r.status(), Some(r)),
            Err(e) => (e.status(), None),
        };
        if status.is_success() {
            let Some(resp) = resp else {
                return Err((500, "Unable to load SLO manifest".into()));
            };
            if !headers::is_true(resp.headers(), MARKER) {
                return Err((400, "Not an SLO manifest".into()));
            }
            let body = crate::middleware::dlo::collect(resp.into_body(), MANIFEST_READ_LIMIT)
                .await
                .ok_or((500, "Unable to load SLO manifest".to_string()))?;
            let Ok(serde_json::Value::Array(items)) = serde_json::from_slice(&body) else {
                return Err((500, "Unable to load SLO manifest".into()));
            };
            return Ok(items
                .iter()
                .filter(|i| i.get("data").is_none())
                .map(|i| Doomed {
                    name: i
                        .get("name")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    sub_slo: i.get("sub_slo").is_some_and(|v| {
                        v.as_bool() == Some(true) || v.as_str().is_some_and(headers::is_true_value)
                    }),
                    error: None,
                })
                .collect());
        }
        Err(match status.as_u16() {
            404 => (404, "SLO manifest not found".into()),
            401 => (401, "401 Unauthorized".into()),
            _ => (500, "Unable to load SLO manifest or segment.".into()),
        })
    }

    /// Deletes every segment, then the manifests, `delete_concurrency` at a
    /// time; Err with the status and body of a failure of the whole request.
    async fn delete_all(&mut self, report: &mut Report) -> std::result::Result<(), (u16, String)> {
        let conc = self.proxy.cfg.slo.delete_concurrency().max(1);
        let max_failed = self.proxy.cfg.bulk.max_failed_deletes;
        let mut running: JoinSet<(String, u16)> = JoinSet::new();
        let mut bad_gateway = false;
        let mut exhausted = false;
        let mut stopping = false;
        loop {
            while !exhausted && !stopping && running.len() < conc {
                let d = match self.next_doomed().await {
                    Ok(Some(d)) => d,
                    Ok(None) => {
                        exhausted = true;
                        break;
                    }
                    Err(e) => {
                        running.abort_all();
                        return Err(e);
                    }
                };
                // Only objects: a name without one is skipped, as Swift's
                // objects-then-containers pass over one generator skips it.
                if d.name.is_empty() || !bulk::is_object_name(d.name.as_bytes()) {
                    continue;
                }
                if let Some((code, msg)) = d.error {
                    if code == 404 {
                        report.not_found += 1;
                    } else {
                        report.errors.push((m::quote(&d.name), msg));
                    }
                    continue;
                }
                if d.name.contains('\0') {
                    report.errors.push((m::quote(&d.name), status_line(412)));
                    continue;
                }
                let doomed = ObjectPath::in_account(&self.account, &d.name);
                let proxy = self.proxy.clone();
                let mut sub = self.ctx.subrequest(Method::DELETE, None);
                running.spawn(async move {
                    let res = crate::object::delete(&proxy, &mut sub, &doomed).await;
                    let status = match res {
                        Ok(r) => r.status().as_u16(),
                        Err(e) => e.status().as_u16(),
                    };
                    (d.name, status)
                });
            }
            let Some(done) = running.join_next().await else {
                break;
            };
            let Ok((name, status)) = done else { continue };
            match status {
                200..=299 => report.deleted += 1,
                404 => report.not_found += 1,
                s => {
                    bad_gateway |= s >= 500;
                    report.errors.push((m::quote(&name), status_line(s)));
                }
            }
            if report.errors.len() >= max_failed {
                stopping = true;
            }
        }
        if stopping {
            return Err((400, "Max delete failures exceeded".into()));
        }
        if !report.errors.is_empty() {
            report.status = if bad_gateway { 502 } else { 400 };
        } else if report.deleted == 0 && report.not_found == 0 {
            report.status = 400;
            report.body = "Invalid bulk delete.".into();
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Container listings

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
