//! Swift's bulk middleware, its bulk-delete half (`swift/common/middleware/bulk.py`).
//! `POST` or `DELETE` with `?bulk-delete` anywhere under an account carries
//! a newline-separated list of URL-encoded `/container/object` and
//! `/container` paths. Each becomes a DELETE sub-request as the caller
//! (objects first, then containers), `delete_concurrency` at a time. The
//! answer is always 200: its body (text/plain, JSON or XML by Accept) tells
//! how many were deleted or not found, which failed and the overall status.
//! While the deletes run, a space is sent every `yield_frequency` seconds so
//! the client does not time out (after an XML declaration for XML).
//!
//! Its other half, `PUT ...?extract-archive=tar|tar.gz|tar.bz2`, unpacks an
//! archive streamed in the request body: each regular file becomes an
//! object under the request's path (containers are created as needed),
//! with the same kind of result body; `tar` reads the archive.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use percent_encoding::{percent_decode, percent_encode, AsciiSet, NON_ALPHANUMERIC};
use swirl_common::constraints as c;
use swirl_common::error::reason;
use swirl_common::listing_format;
use swirl_common::{ApiError, Body};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::app::{Ctx, Proxy};
use crate::config::BulkConfig;
use crate::headers;
use crate::object_path::ObjectPath;
use crate::pipeline::{Filter, Fut, Next, Req};
use crate::router::Endpoint;
use crate::stream::{ChannelBody, CHANNEL_FRAMES};

pub mod tar;

/// Longest line worth reading: a container and an object name and two slashes.
pub const MAX_PATH_LENGTH: usize = c::MAX_OBJECT_NAME_LENGTH + c::MAX_CONTAINER_NAME_LENGTH + 2;

/// Swift's `quote(name)`: '/' stays.
const QUOTE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Is this a bulk-delete request?
pub fn is_bulk_delete(method: &Method, query: Option<&str>) -> bool {
    (*method == Method::POST || *method == Method::DELETE)
        && headers::query_param(query, "bulk-delete").is_some()
}

/// `"<code> <reason>"`, as swob writes a status.
pub fn status_line(code: u16) -> String {
    // Swift's own titles where they differ from the RFC's (413, 500).
    let title = StatusCode::from_u16(code)
        .map(|s| match reason(s).0 {
            "" => s.canonical_reason().unwrap_or(""),
            t => t,
        })
        .unwrap_or("");
    format!("{code} {title}")
}

/// A request-level failure: the status and body reported in the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: u16,
    pub body: String,
}

impl Failure {
    fn new(status: u16, body: &str) -> Self {
        Failure {
            status,
            body: body.to_string(),
        }
    }
}

/// Splits the request body into names as Swift's `get_objs_to_delete` does:
/// lines are stripped of whitespace and percent-decoded (bytes, checked for
/// UTF-8 later); blank lines count toward the limit but are skipped.
pub struct NameParser {
    max_deletes: usize,
    line: Vec<u8>,
    pub names: Vec<Vec<u8>>,
}

impl NameParser {
    pub fn new(max_deletes: usize) -> Self {
        NameParser {
            max_deletes,
            line: Vec::new(),
            names: Vec::new(),
        }
    }

    fn push(&mut self, raw: &[u8]) -> Result<(), Failure> {
        let decoded: Vec<u8> = percent_decode(raw.trim_ascii()).collect();
        self.names.push(decoded);
        if self.names.len() > self.max_deletes {
            return Err(Failure::new(
                413,
                &format!("Maximum Bulk Deletes: {} per request", self.max_deletes),
            ));
        }
        Ok(())
    }

    /// Takes the next piece of the body.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), Failure> {
        while let Some(i) = data.iter().position(|b| *b == b'\n') {
            let mut line = std::mem::take(&mut self.line);
            line.extend_from_slice(&data[..i]);
            self.push(&line)?;
            data = &data[i + 1..];
        }
        self.line.extend_from_slice(data);
        if self.line.len() > MAX_PATH_LENGTH * 2 {
            return Err(Failure::new(400, "Invalid File Name"));
        }
        Ok(())
    }

    /// The end of the body: a last line without a newline.
    pub fn finish(mut self) -> Result<Vec<Vec<u8>>, Failure> {
        let last = std::mem::take(&mut self.line);
        if !last.trim_ascii().is_empty() {
            self.push(&last)?;
        }
        Ok(self.names)
    }
}

/// What a listed name deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Object {
        container: String,
        object: String,
    },
    Container(String),
    /// Not a path to delete: the per-name status.
    Bad(u16),
}

/// The target of a decoded name (`/c/o`, `c/o`, `/c`, `c/`).
pub fn target(name: &[u8]) -> Target {
    let Ok(name) = std::str::from_utf8(name) else {
        return Target::Bad(412);
    };
    if name.contains('\0') {
        return Target::Bad(412);
    }
    let rest = name.trim_start_matches('/');
    match rest.split_once('/') {
        Some((cont, obj)) if !cont.is_empty() && !obj.is_empty() => Target::Object {
            container: cont.to_string(),
            object: obj.to_string(),
        },
        Some((cont, _)) if !cont.is_empty() => Target::Container(cont.to_string()),
        None if !rest.is_empty() => Target::Container(rest.to_string()),
        // No container: Swift would send this to the account itself; a
        // bulk delete never deletes accounts.
        _ => Target::Bad(400),
    }
}

/// Objects go before containers (which must be empty by then).
pub fn is_object_name(name: &[u8]) -> bool {
    let s = String::from_utf8_lossy(name);
    s.trim_matches('/').contains('/')
}

/// The result of a bulk delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The overall status (`Response Status`).
    pub status: u16,
    /// `Response Body`: why the request as a whole failed.
    pub body: String,
    pub deleted: u64,
    pub not_found: u64,
    /// Quoted name and status line of each failure.
    pub errors: Vec<(String, String)>,
}

impl Report {
    fn new() -> Self {
        Report {
            status: 200,
            body: String::new(),
            deleted: 0,
            not_found: 0,
            errors: Vec::new(),
        }
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// A result field's value.
pub(crate) enum Val {
    Num(u64),
    Str(String),
}

impl Val {
    fn json(&self) -> String {
        match self {
            Val::Num(n) => n.to_string(),
            Val::Str(s) => json_str(s),
        }
    }
    fn text(&self) -> String {
        match self {
            Val::Num(n) => n.to_string(),
            Val::Str(s) => s.clone(),
        }
    }
}

/// Swift's `get_response_body`: JSON in the fields' order, XML (under
/// `root`) and plain text with the keys sorted, then the errors.
pub(crate) fn render_doc(
    format: Option<&str>,
    root: &str,
    fields: &[(&str, Val)],
    errors: &[(String, String)],
) -> Vec<u8> {
    if format == Some("application/json") {
        let mut parts: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}: {}", json_str(k), v.json()))
            .collect();
        let errs: Vec<String> = errors
            .iter()
            .map(|(n, s)| format!("[{}, {}]", json_str(n), json_str(s)))
            .collect();
        parts.push(format!("\"Errors\": [{}]", errs.join(", ")));
        return format!("{{{}}}", parts.join(", ")).into_bytes();
    }
    let mut sorted: Vec<&(&str, Val)> = fields.iter().collect();
    sorted.sort_by_key(|(k, _)| *k);
    let mut out = String::new();
    if format.is_some_and(|f| f.ends_with("/xml")) {
        out.push_str(&format!("<{root}>\n"));
        for (k, v) in sorted {
            let tag = k.replace(' ', "_").to_ascii_lowercase();
            out.push_str(&format!("<{tag}>{}</{tag}>\n", xml_escape(&v.text())));
        }
        out.push_str("<errors>\n");
        for (n, st) in errors {
            out.push_str(&format!(
                "<object><name>{}</name><status>{}</status></object>\n",
                xml_escape(n),
                xml_escape(st)
            ));
        }
        out.push_str(&format!("</errors>\n</{root}>\n"));
        return out.into_bytes();
    }
    for (k, v) in sorted {
        out.push_str(&format!("{k}: {}\n", v.text()));
    }
    out.push_str("Errors:\n");
    for (n, st) in errors {
        out.push_str(&format!("{n}, {st}\n"));
    }
    out.into_bytes()
}

/// A bulk delete's result body.
pub fn render(format: Option<&str>, r: &Report) -> Vec<u8> {
    render_doc(
        format,
        "delete",
        &[
            ("Response Status", Val::Str(status_line(r.status))),
            ("Response Body", Val::Str(r.body.clone())),
            ("Number Deleted", Val::Num(r.deleted)),
            ("Number Not Found", Val::Num(r.not_found)),
        ],
        &r.errors,
    )
}

/// An extract-archive's result body.
pub fn render_extract(format: Option<&str>, r: &ExtractReport) -> Vec<u8> {
    render_doc(
        format,
        "extract",
        &[
            ("Response Status", Val::Str(status_line(r.status))),
            ("Response Body", Val::Str(r.body.clone())),
            ("Number Files Created", Val::Num(r.created)),
        ],
        &r.errors,
    )
}

type Tx = mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>;

/// The bulk middleware: before auth, as in Swift, so its sub-requests
/// carry the caller's token to the auth middleware below it (a refused
/// token fails each of them, not the request).
pub struct Bulk;

impl Filter for Bulk {
    fn call(&self, req: Req, next: Next) -> Fut<'static> {
        let q = req.ctx.query.as_deref();
        let mine =
            extract_format(&req.ctx.method, q).is_some() || is_bulk_delete(&req.ctx.method, q);
        if !mine {
            return next.run(req);
        }
        Box::pin(async move {
            let query = req.ctx.query.as_deref();
            if let Some(format) = extract_format(&req.ctx.method, query) {
                let base = match &req.endpoint {
                    Endpoint::Account { .. } => Some(String::new()),
                    Endpoint::Container { container, .. } => Some(container.clone()),
                    Endpoint::Object {
                        container, object, ..
                    } => Some(format!("{container}/{object}")),
                    Endpoint::Healthcheck | Endpoint::Info | Endpoint::Auth | Endpoint::Metrics => {
                        None
                    }
                };
                if let (Some(base), Some(account)) = (base, req.account()) {
                    let account = account.to_string();
                    let job = handle_extract(next, req.ctx, account, base, &format, req.body);
                    return Box::pin(job).await;
                }
            }
            if is_bulk_delete(&req.ctx.method, query) {
                if let Some(account) = req.account().map(str::to_string) {
                    return Ok(Box::pin(handle(next, req.ctx, account, req.body)).await);
                }
            }
            next.run(req).await
        })
    }

    fn info(&self, proxy: &Proxy, out: &mut serde_json::Map<String, serde_json::Value>) {
        let b = &proxy.cfg.bulk;
        out.insert(
            "bulk_upload".into(),
            serde_json::json!({
                "max_containers_per_extraction": b.max_containers_per_extraction,
                "max_failed_extractions": b.max_failed_extractions,
            }),
        );
        out.insert(
            "bulk_delete".into(),
            serde_json::json!({
                "max_deletes_per_request": b.max_deletes_per_request,
                "max_failed_deletes": b.max_failed_deletes,
            }),
        );
    }
}

/// A sub-request as the caller: its token goes along (Swift's bulk passes
/// X-Auth-Token), as bulk runs before the auth middleware.
fn as_caller(ctx: &Ctx, method: Method, source: &'static str) -> Ctx {
    let mut sub = ctx.subrequest(method, None).by(source);
    for name in ["x-auth-token", "x-storage-token", "x-service-token"] {
        if let Some(v) = ctx.headers.get(name) {
            sub.headers.insert(name, v.clone());
        }
    }
    sub
}

/// Answers a bulk-delete request.
async fn handle(next: Next, ctx: Ctx, account: String, body: Body) -> Response<Body> {
    let proxy = next.proxy().clone();
    let hdrs = ctx.headers.clone();
    let format = listing_format::negotiate(None, headers::get(&hdrs, "accept")).ok();
    let mut resp = Response::new(swirl_common::body::empty());
    headers::set(
        resp.headers_mut(),
        "content-type",
        format.unwrap_or("text/html; charset=UTF-8"),
    );
    let names = read_names(&proxy, &hdrs, format, body).await;
    let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
    let job = Job {
        next,
        cfg: proxy.cfg.bulk.clone(),
        ctx: Arc::new(ctx),
        account: Arc::new(account),
        format,
    };
    tokio::spawn(job.run(names, tx));
    *resp.body_mut() = ChannelBody::new(rx, None).boxed();
    resp
}

/// Checks the request and reads its list of names.
async fn read_names(
    proxy: &Proxy,
    hdrs: &HeaderMap,
    format: Option<&str>,
    mut body: Body,
) -> Result<Vec<Vec<u8>>, Failure> {
    if format.is_none() {
        return Err(Failure::new(406, ""));
    }
    if let Some(ct) = headers::get(hdrs, "content-type") {
        if !ct.starts_with("text/plain") {
            return Err(Failure::new(406, ""));
        }
    }
    let chunked = headers::get(hdrs, "transfer-encoding")
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("chunked"));
    if hdrs.get("content-length").is_none() && !chunked {
        return Err(Failure::new(411, ""));
    }
    let mut parser = NameParser::new(proxy.cfg.bulk.max_deletes_per_request);
    let timeout = crate::config::secs(proxy.cfg.listen.client_timeout);
    loop {
        match tokio::time::timeout(timeout, body.frame()).await {
            Err(_) => return Err(Failure::new(408, "")),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(Failure::new(499, "")),
            Ok(Some(Ok(frame))) => {
                if let Ok(d) = frame.into_data() {
                    parser.feed(&d)?;
                }
            }
        }
    }
    parser.finish()
}

struct Job {
    next: Next,
    cfg: BulkConfig,
    ctx: Arc<Ctx>,
    account: Arc<String>,
    format: Option<&'static str>,
}

/// One delete's outcome: the name as given and the status.
type Done = (Vec<u8>, u16);

impl Job {
    async fn run(self, names: Result<Vec<Vec<u8>>, Failure>, tx: Tx) {
        let mut beat = Heartbeat::new(self.format, self.cfg.yield_frequency);
        let mut report = Report::new();
        let outcome = match names {
            Ok(names) => self.delete_all(names, &mut report, &mut beat, &tx).await,
            Err(f) => Err(f),
        };
        match outcome {
            Ok(bad_gateway) => {
                if !report.errors.is_empty() {
                    report.status = if bad_gateway { 502 } else { 400 };
                } else if report.deleted == 0 && report.not_found == 0 {
                    report.status = 400;
                    report.body = "Invalid bulk delete.".into();
                }
            }
            Err(f) => {
                report.status = f.status;
                report.body = f.body;
            }
        }
        let mut out = beat.separator.to_vec();
        out.extend_from_slice(&render(self.format, &report));
        let _ = tx.send(Ok(Frame::data(Bytes::from(out)))).await;
    }

    /// Deletes objects, then containers; true when a failure was a server
    /// error (the report then says 502).
    async fn delete_all(
        &self,
        names: Vec<Vec<u8>>,
        report: &mut Report,
        beat: &mut Heartbeat,
        tx: &Tx,
    ) -> Result<bool, Failure> {
        let mut bad_gateway = false;
        let (objects, containers): (Vec<_>, Vec<_>) = names
            .into_iter()
            .filter(|n| !n.is_empty())
            .partition(|n| is_object_name(n));
        for group in [objects, containers] {
            let mut pending = group.into_iter();
            let mut running: JoinSet<Done> = JoinSet::new();
            let mut stopping = false;
            loop {
                while !stopping && running.len() < self.cfg.delete_concurrency {
                    let Some(name) = pending.next() else { break };
                    match target(&name) {
                        Target::Bad(code) => {
                            report.errors.push((quote(&name), status_line(code)));
                        }
                        t => {
                            running.spawn(self.delete_one(name, t));
                        }
                    }
                }
                if running.is_empty() {
                    break;
                }
                let done = tokio::select! {
                    d = running.join_next() => d,
                    () = beat.due() => {
                        if !beat.send(tx).await {
                            running.abort_all();
                            return Ok(bad_gateway);
                        }
                        continue;
                    }
                };
                let Some(Ok((name, status))) = done else {
                    continue;
                };
                match status {
                    200..=299 => report.deleted += 1,
                    404 => report.not_found += 1,
                    s => {
                        bad_gateway |= s >= 500;
                        report.errors.push((quote(&name), status_line(s)));
                    }
                }
                if report.errors.len() >= self.cfg.max_failed_deletes {
                    // Let the deletes in flight finish, start no more.
                    stopping = true;
                }
            }
            if stopping {
                return Err(Failure::new(400, "Max delete failures exceeded"));
            }
        }
        Ok(bad_gateway)
    }

    /// One DELETE sub-request as the caller, retrying a container that is
    /// still emptying (409) `delete_container_retry_count` times.
    fn delete_one(
        &self,
        name: Vec<u8>,
        t: Target,
    ) -> impl std::future::Future<Output = Done> + Send + 'static {
        let next = self.next.clone();
        let ctx = self.ctx.clone();
        let account = self.account.clone();
        let retries = self.cfg.delete_container_retry_count;
        async move {
            let mut attempt = 0;
            loop {
                let sub = as_caller(&ctx, Method::DELETE, "BD");
                let req = match &t {
                    Target::Object { container, object } => {
                        let path = ObjectPath::new(account.as_str(), container, object);
                        Req::object(sub, &path, swirl_common::body::empty())
                    }
                    Target::Container(container) => Req::container(sub, &account, container),
                    Target::Bad(code) => return (name, *code),
                };
                let res = next.clone().run(req).await;
                let status = match res {
                    Ok(r) => r.status().as_u16(),
                    Err(e) => e.status().as_u16(),
                };
                let container = matches!(t, Target::Container(_));
                if status == 409 && container && attempt < retries {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_secs_f64(1.5f64.powi(attempt as i32))).await;
                    continue;
                }
                return (name, status);
            }
        }
    }
}

/// Swift's `wsgi_quote` of a decoded name, for the error list.
pub(crate) fn quote(name: &[u8]) -> String {
    percent_encode(name, QUOTE).to_string()
}

/// The whitespace that keeps a long request alive.
struct Heartbeat {
    every: Duration,
    next: tokio::time::Instant,
    what: &'static [u8],
    /// Put before the result once anything was sent.
    separator: &'static [u8],
}

impl Heartbeat {
    fn new(format: Option<&str>, secs: u64) -> Self {
        let every = Duration::from_secs(secs.max(1));
        Heartbeat {
            every,
            next: tokio::time::Instant::now() + every,
            what: if format.is_some_and(|f| f.ends_with("/xml")) {
                b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            } else {
                b" "
            },
            separator: b"",
        }
    }

    async fn due(&self) {
        tokio::time::sleep_until(self.next).await;
    }

    /// Sends one beat; false when the client is gone.
    async fn send(&mut self, tx: &Tx) -> bool {
        self.next = tokio::time::Instant::now() + self.every;
        let ok = tx
            .send(Ok(Frame::data(Bytes::from_static(self.what))))
            .await
            .is_ok();
        self.what = b" ";
        self.separator = b"\r\n\r\n";
        ok
    }
}

/// Is this an extract-archive request (its format, when it is)?
pub fn extract_format(method: &Method, query: Option<&str>) -> Option<String> {
    if *method != Method::PUT {
        return None;
    }
    headers::query_param(query, "extract-archive")
}

/// The result of an extract-archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractReport {
    pub status: u16,
    pub body: String,
    pub created: u64,
    pub errors: Vec<(String, String)>,
}

/// Where an archive member goes: `<container>/<object>` under the request's
/// path (Swift strips `./` and leading slashes; a file at the top level,
/// with no container, is ignored).
pub fn member_path(base: &str, name: &[u8]) -> Option<Vec<u8>> {
    let mut n = name;
    if let Some(rest) = n.strip_prefix(b"./") {
        n = rest;
    }
    while let Some(rest) = n.strip_prefix(b"/") {
        n = rest;
    }
    let mut path = Vec::new();
    if !base.is_empty() {
        path.extend_from_slice(base.as_bytes());
        path.push(b'/');
    }
    path.extend_from_slice(n);
    path.contains(&b'/').then_some(path)
}

/// Object headers from a member's pax records: `user.mime_type` is the
/// Content-Type, `user.meta.<x>` is X-Object-Meta-<x> (GNU and BSD tar).
pub fn pax_headers(pax: &std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in pax {
        for p in ["SCHILY.xattr.user.", "LIBARCHIVE.xattr.user."] {
            let Some(attr) = k.strip_prefix(p) else {
                continue;
            };
            if attr == "mime_type" {
                out.push(("content-type".to_string(), v.clone()));
            } else if let Some(m) = attr.strip_prefix("meta.") {
                out.push((format!("x-object-meta-{m}"), v.clone()));
            }
        }
    }
    out
}

/// Answers `PUT ...?extract-archive=<format>`: each regular file of the
/// archive becomes an object under the request's path, its bytes streamed
/// from the request body as they arrive (decompressed on the way).
async fn handle_extract(
    next: Next,
    ctx: Ctx,
    account: String,
    base: String,
    format_name: &str,
    mut body: Body,
) -> crate::error::Result<Response<Body>> {
    let proxy = next.proxy().clone();
    let hdrs = &ctx.headers;
    let Some(decoder) = tar::Decoder::for_format(format_name) else {
        return Err(crate::error::Error::BadRequestHtml(
            "Unsupported archive format".into(),
        ));
    };
    let format = listing_format::negotiate(None, headers::get(hdrs, "accept")).ok();
    let mut resp = Response::new(swirl_common::body::empty());
    headers::set(
        resp.headers_mut(),
        "content-type",
        format.unwrap_or("text/html; charset=UTF-8"),
    );
    // Ask for the body now: a client waiting for 100 Continue starts sending
    // it before our 200 goes out.
    let first = match tokio::time::timeout(
        crate::config::secs(proxy.cfg.listen.client_timeout),
        body.frame(),
    )
    .await
    {
        Ok(Some(Ok(f))) => f.into_data().ok(),
        _ => None,
    };
    let job = Extract {
        next,
        proxy,
        ctx,
        account,
        base: base.trim_end_matches('/').to_string(),
        format,
    };
    let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
    tokio::spawn(job.run(decoder, first, body, tx));
    *resp.body_mut() = ChannelBody::new(rx, None).boxed();
    Ok(resp)
}

struct Extract {
    next: Next,
    proxy: Arc<Proxy>,
    ctx: Ctx,
    account: String,
    base: String,
    format: Option<&'static str>,
}

/// The member being uploaded.
struct Upload {
    tx: Option<Tx>,
    put: tokio::task::JoinHandle<u16>,
    path: String,
    container: String,
    container_failure: Option<(String, String)>,
}

/// What becomes of the current member's data.
enum Current {
    None,
    Skip,
    Upload(Upload),
}

impl Extract {
    async fn run(self, decoder: tar::Decoder, first: Option<Bytes>, body: Body, tx: Tx) {
        let mut beat = Heartbeat::new(self.format, self.proxy.cfg.bulk.yield_frequency);
        let mut report = ExtractReport {
            status: 201,
            body: String::new(),
            created: 0,
            errors: Vec::new(),
        };
        let outcome = {
            let work = self.extract(decoder, first, body, &mut report);
            tokio::pin!(work);
            loop {
                tokio::select! {
                    r = &mut work => break r,
                    () = beat.due() => {
                        if !beat.send(&tx).await {
                            return;
                        }
                    }
                }
            }
        };
        if let Err(f) = outcome {
            report.status = f.status;
            report.body = f.body;
        }
        let mut out = beat.separator.to_vec();
        out.extend_from_slice(&render_extract(self.format, &report));
        let _ = tx.send(Ok(Frame::data(Bytes::from(out)))).await;
    }

    async fn extract(
        &self,
        mut decoder: tar::Decoder,
        first: Option<Bytes>,
        mut body: Body,
        report: &mut ExtractReport,
    ) -> Result<(), Failure> {
        if self.format.is_none() {
            return Err(Failure::new(406, ""));
        }
        let h = &self.ctx.headers;
        let chunked = headers::get(h, "transfer-encoding")
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("chunked"));
        if h.get("content-length").is_none() && !chunked {
            return Err(Failure::new(411, ""));
        }
        let mut reader = tar::TarReader::new();
        let mut state = State {
            current: Current::None,
            accessed: std::collections::HashSet::new(),
            created_containers: 0,
            bad_gateway: false,
            done: false,
        };
        let timeout = crate::config::secs(self.proxy.cfg.listen.client_timeout);
        let mut next = first;
        loop {
            let Some(chunk) = next.take() else {
                break;
            };
            decoder.input(chunk);
            self.extract_ready(&mut decoder, &mut reader, &mut state, report)
                .await?;
            if state.done {
                break;
            }
            next = match tokio::time::timeout(timeout, body.frame()).await {
                Err(_) => return Err(Failure::new(408, "")),
                Ok(None) => None,
                Ok(Some(Err(_))) => return Err(Failure::new(499, "")),
                Ok(Some(Ok(f))) => Some(f.into_data().unwrap_or_default()),
            };
        }
        if !state.done {
            decoder.finish();
            self.extract_ready(&mut decoder, &mut reader, &mut state, report)
                .await?;
        }
        if !state.done {
            if let Err(e) = reader.finish() {
                if let Current::Upload(mut u) = std::mem::replace(&mut state.current, Current::None)
                {
                    if let Some(tx) = u.tx.take() {
                        let _ = tx
                            .send(Err(std::io::Error::other("archive cut short")))
                            .await;
                    }
                    let _ = u.put.await;
                }
                return Err(invalid_tar(e));
            }
        }
        if !report.errors.is_empty() {
            report.status = if state.bad_gateway { 502 } else { 400 };
        } else if report.created == 0 {
            report.status = 400;
            report.body = "Invalid Tar File: No Valid Files".into();
        }
        Ok(())
    }

    /// Hands what the decoder has ready to the tar reader, one bounded
    /// piece at a time, acting on each piece's events before decompressing
    /// more (so memory stays bounded however well the archive compresses).
    async fn extract_ready(
        &self,
        decoder: &mut tar::Decoder,
        reader: &mut tar::TarReader,
        state: &mut State,
        report: &mut ExtractReport,
    ) -> Result<(), Failure> {
        while let Some(piece) = decoder.output().map_err(invalid_tar)? {
            let mut events = Vec::new();
            reader.feed(piece, &mut events).map_err(invalid_tar)?;
            for e in events {
                self.event(e, state, report).await?;
            }
            if state.done {
                break;
            }
        }
        Ok(())
    }

    async fn event(
        &self,
        e: tar::Event,
        st: &mut State,
        report: &mut ExtractReport,
    ) -> Result<(), Failure> {
        match e {
            tar::Event::End => st.done = true,
            tar::Event::Data(d) => {
                if let Current::Upload(u) = &mut st.current {
                    let gone = match &u.tx {
                        Some(tx) => tx.send(Ok(Frame::data(d))).await.is_err(),
                        None => false,
                    };
                    if gone {
                        u.tx = None; // the PUT already answered; its status tells
                    }
                }
            }
            tar::Event::EntryEnd => {
                if let Current::Upload(mut u) = std::mem::replace(&mut st.current, Current::None) {
                    u.tx = None;
                    let status = u.put.await.unwrap_or(500);
                    st.accessed.insert(u.container.clone());
                    if (200..300).contains(&status) {
                        report.created += 1;
                    } else {
                        if let Some(f) = u.container_failure {
                            report.errors.push(f);
                        }
                        if status == 401 {
                            report.errors.push((u.path, status_line(401)));
                            return Err(Failure::new(401, ""));
                        }
                        st.bad_gateway |= status >= 500;
                        report.errors.push((u.path, status_line(status)));
                    }
                }
                st.current = Current::None;
            }
            tar::Event::Entry(entry) => {
                if report.errors.len() >= self.proxy.cfg.bulk.max_failed_extractions {
                    st.done = true;
                    st.current = Current::Skip;
                    return Ok(());
                }
                st.current = self.start(entry, st, report).await?;
            }
        }
        Ok(())
    }

    /// Decides what to do with a member, and starts its PUT.
    async fn start(
        &self,
        entry: tar::Entry,
        st: &mut State,
        report: &mut ExtractReport,
    ) -> Result<Current, Failure> {
        if !entry.is_file {
            return Ok(Current::Skip);
        }
        let Some(path) = member_path(&self.base, &entry.name) else {
            return Ok(Current::Skip);
        };
        let shown = quote(&path[..path.len().min(MAX_PATH_LENGTH)]);
        let Some((container, object)) = std::str::from_utf8(&path)
            .ok()
            .filter(|p| !p.contains('\0'))
            .and_then(|p| p.split_once('/'))
            .map(|(c, o)| (c.to_string(), o.to_string()))
        else {
            report.errors.push((shown, status_line(412)));
            return Ok(Current::Skip);
        };
        if entry.size > c::MAX_FILE_SIZE {
            report.errors.push((shown, status_line(413)));
            return Ok(Current::Skip);
        }
        let mut container_failure = None;
        if !st.accessed.contains(&container) {
            match self.ensure_container(&container).await {
                Ok(true) => {
                    st.created_containers += 1;
                    let max = self.proxy.cfg.bulk.max_containers_per_extraction;
                    if st.created_containers > max {
                        return Err(Failure::new(
                            400,
                            &format!("More than {max} containers to create from tar."),
                        ));
                    }
                }
                Ok(false) => {}
                Err(status) => {
                    let cont_path = format!("/v1/{}/{container}", self.account);
                    let cp = cont_path.as_bytes();
                    container_failure = Some((
                        quote(&cp[..cp.len().min(MAX_PATH_LENGTH)]),
                        status_line(status),
                    ));
                    if status == 401 {
                        return Err(Failure::new(401, ""));
                    }
                }
            }
        }
        let mut sub = as_caller(&self.ctx, Method::PUT, "EA");
        headers::set(&mut sub.headers, "content-length", &entry.size.to_string());
        for (k, v) in &self.ctx.headers {
            let n = k.as_str();
            if n == "x-delete-at" || n == "x-delete-after" || n.starts_with("x-object-meta-") {
                sub.headers.insert(k.clone(), v.clone());
            }
        }
        for (k, v) in pax_headers(&entry.pax) {
            headers::set(&mut sub.headers, &k, &v);
        }
        let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
        let next = self.next.clone();
        let account = self.account.clone();
        let size = entry.size;
        let cont = container.clone();
        let put = tokio::spawn(async move {
            let body = ChannelBody::new(rx, Some(size)).boxed();
            let path = ObjectPath::new(account, cont, object);
            match next.run(Req::object(sub, &path, body)).await {
                Ok(r) => r.status().as_u16(),
                Err(e) => e.status().as_u16(),
            }
        });
        Ok(Current::Upload(Upload {
            tx: Some(tx),
            put,
            path: shown,
            container,
            container_failure,
        }))
    }

    /// HEAD the container, PUT it when missing: Ok(true) when created.
    async fn ensure_container(&self, container: &str) -> Result<bool, u16> {
        let status = |r: crate::error::Result<Response<Body>>| match r {
            Ok(r) => r.status().as_u16(),
            Err(e) => e.status().as_u16(),
        };
        let head = as_caller(&self.ctx, Method::HEAD, "EA");
        let s = status(
            self.next
                .clone()
                .run(Req::container(head, &self.account, container))
                .await,
        );
        if (200..300).contains(&s) {
            return Ok(false);
        }
        if s != 404 {
            return Err(s);
        }
        let put = as_caller(&self.ctx, Method::PUT, "EA");
        let s = status(
            self.next
                .clone()
                .run(Req::container(put, &self.account, container))
                .await,
        );
        if (200..300).contains(&s) {
            Ok(true)
        } else {
            Err(s)
        }
    }
}

/// Extraction progress.
struct State {
    current: Current,
    accessed: std::collections::HashSet<String>,
    created_containers: usize,
    bad_gateway: bool,
    done: bool,
}

/// The 400 of an archive that cannot be read.
fn invalid_tar(e: tar::TarError) -> Failure {
    Failure::new(400, &format!("Invalid Tar File: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &[u8], max: usize) -> Result<Vec<Vec<u8>>, Failure> {
        let mut p = NameParser::new(max);
        for piece in body.chunks(7) {
            p.feed(piece)?;
        }
        p.finish()
    }

    #[test]
    fn names_are_lines_stripped_and_unquoted() {
        let n = parse(b"/c/o\n c/a%20b \r\n\n/c2\n/c/%E2%98%83", 10).unwrap();
        assert_eq!(
            n,
            vec![
                b"/c/o".to_vec(),
                b"c/a b".to_vec(),
                Vec::new(),
                b"/c2".to_vec(),
                "/c/☃".as_bytes().to_vec()
            ]
        );
        assert_eq!(parse(b"", 10).unwrap(), Vec::<Vec<u8>>::new());
        assert_eq!(
            parse(b"a\nb\nc\n", 2).unwrap_err(),
            Failure::new(413, "Maximum Bulk Deletes: 2 per request")
        );
        let long = vec![b'x'; MAX_PATH_LENGTH * 2 + 1];
        assert_eq!(
            parse(&long, 10).unwrap_err(),
            Failure::new(400, "Invalid File Name")
        );
    }

    #[test]
    fn targets() {
        let o = |c: &str, ob: &str| Target::Object {
            container: c.into(),
            object: ob.into(),
        };
        assert_eq!(target(b"/c/o/p"), o("c", "o/p"));
        assert_eq!(target(b"c/o"), o("c", "o"));
        assert_eq!(target(b"/c"), Target::Container("c".into()));
        assert_eq!(target(b"c/"), Target::Container("c".into()));
        assert_eq!(target(b"/"), Target::Bad(400));
        assert_eq!(target(b"/c/\xff"), Target::Bad(412));
        assert_eq!(target(b"/c/o\0"), Target::Bad(412));
        assert!(is_object_name(b"/c/o") && !is_object_name(b"/c/") && !is_object_name(b"c"));
        assert!(is_bulk_delete(&Method::POST, Some("bulk-delete")));
        assert!(is_bulk_delete(
            &Method::DELETE,
            Some("x=1&bulk-delete=true")
        ));
        assert!(!is_bulk_delete(&Method::PUT, Some("bulk-delete")));
        assert!(!is_bulk_delete(&Method::POST, None));
        assert_eq!(quote("/c/a b☃".as_bytes()), "/c/a%20b%E2%98%83");
    }

    #[test]
    fn members() {
        assert_eq!(member_path("", b"./c/a"), Some(b"c/a".to_vec()));
        assert_eq!(member_path("", b"//c/a/b"), Some(b"c/a/b".to_vec()));
        assert_eq!(member_path("", b"top"), None);
        assert_eq!(member_path("c", b"top"), Some(b"c/top".to_vec()));
        assert_eq!(member_path("c/d", b"x/y"), Some(b"c/d/x/y".to_vec()));
        let mut pax = std::collections::BTreeMap::new();
        pax.insert("SCHILY.xattr.user.mime_type".to_string(), "a/b".to_string());
        pax.insert(
            "LIBARCHIVE.xattr.user.meta.lunch".to_string(),
            "x".to_string(),
        );
        pax.insert("SCHILY.xattr.user.stuff".to_string(), "no".to_string());
        pax.insert("mtime".to_string(), "1".to_string());
        let mut h = pax_headers(&pax);
        h.sort();
        assert_eq!(
            h,
            vec![
                ("content-type".to_string(), "a/b".to_string()),
                ("x-object-meta-lunch".to_string(), "x".to_string())
            ]
        );
        assert_eq!(
            extract_format(&Method::PUT, Some("extract-archive=tar")).as_deref(),
            Some("tar")
        );
        assert_eq!(
            extract_format(&Method::POST, Some("extract-archive=tar")),
            None
        );
        let r = ExtractReport {
            status: 201,
            body: String::new(),
            created: 2,
            errors: vec![],
        };
        assert_eq!(
            String::from_utf8(render_extract(Some("application/json"), &r)).unwrap(),
            "{\"Response Status\": \"201 Created\", \"Response Body\": \"\", \"Number Files Created\": 2, \"Errors\": []}"
        );
        assert_eq!(
            String::from_utf8(render_extract(Some("text/xml"), &r)).unwrap(),
            "<extract>\n<number_files_created>2</number_files_created>\n<response_body></response_body>\n\
             <response_status>201 Created</response_status>\n<errors>\n</errors>\n</extract>\n"
        );
    }

    fn sample() -> Report {
        Report {
            status: 400,
            body: String::new(),
            deleted: 2,
            not_found: 1,
            errors: vec![("/c".into(), "409 Conflict".into())],
        }
    }

    // Expected bodies as Swift 2.30.1's get_response_body writes them.
    #[test]
    fn bodies_like_swift() {
        assert_eq!(
            String::from_utf8(render(Some("text/plain"), &sample())).unwrap(),
            "Number Deleted: 2\nNumber Not Found: 1\nResponse Body: \n\
             Response Status: 400 Bad Request\nErrors:\n/c, 409 Conflict\n"
        );
        assert_eq!(
            String::from_utf8(render(Some("application/json"), &sample())).unwrap(),
            "{\"Response Status\": \"400 Bad Request\", \"Response Body\": \"\", \
             \"Number Deleted\": 2, \"Number Not Found\": 1, \"Errors\": [[\"/c\", \"409 Conflict\"]]}"
        );
        assert_eq!(
            String::from_utf8(render(Some("application/xml"), &sample())).unwrap(),
            "<delete>\n<number_deleted>2</number_deleted>\n<number_not_found>1</number_not_found>\n\
             <response_body></response_body>\n<response_status>400 Bad Request</response_status>\n\
             <errors>\n<object><name>/c</name><status>409 Conflict</status></object>\n</errors>\n</delete>\n"
        );
        let mut ok = Report::new();
        ok.deleted = 1;
        assert_eq!(
            String::from_utf8(render(None, &ok)).unwrap(),
            "Number Deleted: 1\nNumber Not Found: 0\nResponse Body: \nResponse Status: 200 OK\nErrors:\n"
        );
        assert_eq!(status_line(413), "413 Request Entity Too Large");
        assert_eq!(status_line(502), "502 Bad Gateway");
        assert_eq!(status_line(500), "500 Internal Error");
    }
}
