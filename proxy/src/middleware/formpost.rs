//! Swift's formpost middleware (`swift/common/middleware/formpost.py`,
//! 2.30): a browser uploads files into a container (or under an object
//! prefix) with an HTML form, `POST` `multipart/form-data`, no token. The
//! form's fields `redirect`, `max_file_size`, `max_file_count`, `expires`
//! and `signature` say what is allowed; the signature is the HMAC of
//! `<path>\n<redirect>\n<max_file_size>\n<max_file_count>\n<expires>` under
//! one of the account's or the container's Temp-URL keys, in a digest of
//! `allowed_digests` (hex, or `<digest>:<base64>`, as tempurl's). Each file
//! field becomes an object PUT (`<path>/<filename>`, streamed, at most
//! `max_file_size` bytes) with the form's `content-type`,
//! `content-encoding`, `x_delete_at` and `x_delete_after`; the PUTs are
//! authorized by the signature alone (tempurl's grant for the container).
//! The answer is the last PUT's status, or with `redirect` a 303 to it
//! with `status` and `message` in the query. Bad forms are 400s, bad or
//! expired signatures 401s.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Response, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use swirl_common::{ApiError, Body, Timestamp};
use tokio::sync::mpsc;

use crate::app::{Authorizer, Ctx, Proxy};
use crate::error::{Error, Result};
use crate::headers;
use crate::middleware::staticweb::quote;
use crate::middleware::tempurl::{digest_and_sig, hex, same};
use crate::object_path::ObjectPath;
use crate::pipeline::{Filter, Fut, Next, Req};
use crate::router::Endpoint;
use crate::stream::{ChannelBody, CHANNEL_FRAMES};

/// `[formpost]` options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormPostConfig {
    /// Digests a signature may use (sha1 only when named, as tempurl's).
    #[serde(default = "default_digests")]
    pub allowed_digests: Vec<String>,
}

fn default_digests() -> Vec<String> {
    vec!["sha256".into(), "sha512".into()]
}

impl Default for FormPostConfig {
    fn default() -> Self {
        FormPostConfig {
            allowed_digests: default_digests(),
        }
    }
}

/// Bytes of a form field's value kept (Swift's MAX_VALUE_LENGTH).
const MAX_VALUE_LENGTH: usize = 4096;
/// Bytes of file data read at once.
const READ_CHUNK: usize = 64 * 1024;
/// A part's header line longer than this is a bad form.
const MAX_HEADER_LINE: usize = 8 * 1024;
/// Header lines a part may have.
const MAX_HEADER_LINES: usize = 64;

/// The formpost filter.
pub struct FormPost;

impl Filter for FormPost {
    fn call(&self, req: Req, next: Next) -> Fut<'static> {
        if req.ctx.method != Method::POST {
            return next.run(req);
        }
        let ctype = headers::get(&req.ctx.headers, "content-type").unwrap_or("");
        let (kind, attrs) = content_disposition(ctype);
        let boundary = attrs.into_iter().find(|(k, _)| k == "boundary");
        match boundary {
            Some((_, b)) if kind == "multipart/form-data" => Box::pin(form(req, next, b)),
            _ => next.run(req),
        }
    }

    fn info(&self, proxy: &Proxy, out: &mut Map<String, Value>) {
        let mut digests = proxy.cfg.formpost.allowed_digests.clone();
        digests.sort();
        digests.dedup();
        let mut m = Map::new();
        if digests.iter().any(|d| d == "sha1") {
            m.insert("deprecated_digests".into(), json!(["sha1"]));
        }
        m.insert("allowed_digests".into(), json!(digests));
        out.insert("formpost".into(), Value::Object(m));
    }
}

/// Why a form is refused (Swift's MimeInvalid, FormInvalid and EOFError,
/// FormUnauthorized).
#[derive(Debug)]
enum FormError {
    Mime,
    Invalid(String),
    Unauthorized(&'static str),
    Client(Error),
}

impl FormError {
    fn into_error(self, realm: &str) -> Error {
        match self {
            FormError::Mime => Error::BadRequest("FormPost: invalid starting boundary".into()),
            FormError::Invalid(m) => Error::BadRequest(format!("FormPost: {m}")),
            FormError::Unauthorized(m) => Error::FormPostUnauthorized {
                realm: realm.to_string(),
                message: format!("FormPost: {}", title(m)),
            },
            FormError::Client(e) => e,
        }
    }
}

fn invalid(m: &str) -> FormError {
    FormError::Invalid(m.to_string())
}

/// Swift's `parse_content_disposition`: the value before `;` and its
/// `key=value` attributes (`(\w+)=(".*?"|[^";]+)(; ?|$)`, quotes dropped).
fn content_disposition(header: &str) -> (String, Vec<(String, String)>) {
    let (value, mut rest) = match header.split_once(';') {
        Some((v, r)) => (v.trim(), r.trim()),
        None => (header, ""),
    };
    let mut attrs = Vec::new();
    loop {
        let key_len = rest
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
            .map_or(rest.len(), |(i, _)| i);
        if key_len == 0 || !rest[key_len..].starts_with('=') {
            break;
        }
        let key = &rest[..key_len];
        let after = &rest[key_len + 1..];
        let (raw, tail) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => after.split_at(end + 2),
                None => break,
            }
        } else {
            let end = after.find(['"', ';']).unwrap_or(after.len());
            if end == 0 {
                break;
            }
            after.split_at(end)
        };
        let tail = if tail.is_empty() {
            tail
        } else if let Some(t) = tail.strip_prefix("; ") {
            t
        } else if let Some(t) = tail.strip_prefix(';') {
            t
        } else {
            break;
        };
        attrs.push((key.to_string(), raw.trim_matches('"').to_string()));
        rest = tail;
        if rest.is_empty() {
            break;
        }
    }
    (value.to_string(), attrs)
}

/// Python's `str.title()`.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    for c in s.chars() {
        if c.is_alphabetic() {
            if in_word {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            in_word = true;
        } else {
            out.push(c);
            in_word = false;
        }
    }
    out
}

/// The parts of a `multipart/form-data` body, read as they arrive (Swift's
/// `iter_multipart_mime_documents`).
struct Parts {
    body: Body,
    buf: BytesMut,
    /// `\r\n--<boundary>`.
    delim: Vec<u8>,
    eof: bool,
    /// The current part's data is not all read.
    in_part: bool,
    /// No part follows the current one.
    last: bool,
}

impl Parts {
    /// Reads one more frame of the body; false at its end.
    async fn more(&mut self) -> std::result::Result<bool, FormError> {
        while !self.eof {
            match self.body.frame().await {
                None => self.eof = true,
                Some(Err(_)) => return Err(FormError::Client(Error::ClientDisconnect)),
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        self.buf.extend_from_slice(&d);
                        return Ok(true);
                    }
                }
            }
        }
        Ok(false)
    }

    /// Reads up to the first boundary line, which must be the body's start
    /// (after any empty lines).
    async fn begin(body: Body, boundary: &str) -> std::result::Result<Parts, FormError> {
        let first = format!("--{boundary}");
        let mut p = Parts {
            body,
            buf: BytesMut::new(),
            delim: format!("\r\n{first}").into_bytes(),
            eof: false,
            // The first part's headers come next.
            in_part: false,
            last: false,
        };
        let blen = first.len() + 2;
        loop {
            while p.buf.len() < blen && !p.buf.contains(&b'\n') && p.more().await? {}
            let end = p
                .buf
                .iter()
                .take(blen)
                .position(|b| *b == b'\n')
                .map_or(blen.min(p.buf.len()), |i| i + 1);
            let line = p.buf.split_to(end);
            if &line[..] == b"\r\n" {
                continue;
            }
            if line.trim_ascii() != first.as_bytes() {
                return Err(FormError::Mime);
            }
            return Ok(p);
        }
    }

    /// Ends the current part at a boundary found at `at`.
    fn end_part(&mut self, at: usize) -> Bytes {
        let data = self.buf.split_to(at).freeze();
        let _ = self.buf.split_to(self.delim.len());
        let after = self.buf.split_to(self.buf.len().min(2));
        self.last = &after[..] == b"--";
        self.in_part = false;
        data
    }

    fn find(&self) -> Option<usize> {
        self.buf
            .windows(self.delim.len())
            .position(|w| w == self.delim.as_slice())
    }

    /// Up to `max` bytes of the current part's data; None at its end.
    async fn chunk(&mut self, max: usize) -> std::result::Result<Option<Bytes>, FormError> {
        if !self.in_part {
            return Ok(None);
        }
        let want = max + self.delim.len() + 2;
        while self.buf.len() < want && self.more().await? {}
        match self.find() {
            Some(at) if at <= max => {
                let data = self.end_part(at);
                // The boundary's two bytes after it may not have come yet.
                if self.buf.is_empty() && !self.last && !self.eof {
                    self.more().await?;
                    if self.buf.starts_with(b"--") {
                        self.last = true;
                    }
                    let n = self.buf.len().min(2);
                    let _ = self.buf.split_to(n);
                }
                Ok((!data.is_empty()).then_some(data))
            }
            _ => {
                let n = max.min(self.buf.len());
                if n == 0 {
                    // The body ended inside the part: nothing follows.
                    self.in_part = false;
                    self.last = true;
                    return Ok(None);
                }
                Ok(Some(self.buf.split_to(n).freeze()))
            }
        }
    }

    /// One header line of the current part (with its CRLF); empty at its end.
    async fn line(&mut self) -> std::result::Result<Bytes, FormError> {
        if !self.in_part {
            return Ok(Bytes::new());
        }
        loop {
            let nl = self.buf.windows(2).position(|w| w == b"\r\n");
            let bd = self.find();
            match (nl, bd) {
                (Some(n), b) if b.is_none_or(|b| n < b) => {
                    return Ok(self.buf.split_to(n + 2).freeze());
                }
                (_, Some(b)) => return Ok(self.end_part(b)),
                _ => {}
            }
            if self.buf.len() > MAX_HEADER_LINE {
                return Err(invalid("MIME header line too long"));
            }
            if !self.more().await? {
                self.in_part = false;
                self.last = true;
                return Ok(self.buf.split().freeze());
            }
        }
    }

    /// The next part's headers (lower-case names), or None when no part is left.
    async fn next_part(&mut self) -> std::result::Result<Option<HeaderMap>, FormError> {
        while self.in_part {
            self.chunk(READ_CHUNK).await?;
        }
        if self.last {
            return Ok(None);
        }
        self.in_part = true;
        let mut h = HeaderMap::new();
        for _ in 0..MAX_HEADER_LINES {
            let line = self.line().await?;
            if line.is_empty() || &line[..] == b"\r\n" || &line[..] == b"\n" {
                return Ok(Some(h));
            }
            let text = String::from_utf8_lossy(&line);
            if let Some((k, v)) = text.split_once(':') {
                headers::set(&mut h, &k.trim().to_ascii_lowercase(), v.trim());
            }
        }
        Err(invalid("too many MIME headers"))
    }
}

/// What the form has said so far (lower-case field names).
#[derive(Default, Clone)]
struct Fields(Vec<(String, String)>);

impl Fields {
    fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
    fn set(&mut self, k: &str, v: String) {
        self.0.push((k.to_string(), v));
    }
    /// Python's `int(attributes.get(k) or 0)`.
    fn int(&self, k: &str) -> std::result::Result<i64, ()> {
        match self.get(k).filter(|v| !v.is_empty()) {
            None => Ok(0),
            Some(v) => v.trim().parse().map_err(|_| ()),
        }
    }
}

/// The request's target: where files go and the path signed.
struct Target {
    account: String,
    container: String,
    /// The object prefix the files' names follow.
    prefix: String,
    /// The path signed (Swift's PATH_INFO).
    path: String,
    v1: bool,
}

async fn form(req: Req, next: Next, boundary: String) -> Result<Response<Body>> {
    let realm = req.account().unwrap_or("unknown").to_string();
    match translate(req, next, &boundary).await {
        Ok(r) => Ok(r),
        Err(e) => Err(e.into_error(&realm)),
    }
}

/// Swift's `_translate_form`.
async fn translate(
    mut req: Req,
    next: Next,
    boundary: &str,
) -> std::result::Result<Response<Body>, FormError> {
    let ua = format!(
        "{} FormPost",
        headers::get(&req.ctx.headers, "user-agent").unwrap_or("")
    );
    headers::set(&mut req.ctx.headers, "user-agent", ua.trim());
    let version = if req.v1 { "v1" } else { "v1.0" };
    let target = match &req.endpoint {
        Endpoint::Container { account, container } => Some((account, container, String::new())),
        Endpoint::Object {
            account,
            container,
            object,
        } => Some((account, container, object.clone())),
        _ => None,
    }
    .map(|(a, c, o)| {
        let path = match &req.path {
            Some(p) => percent_encoding::percent_decode_str(&p.routed)
                .decode_utf8_lossy()
                .into_owned(),
            None if o.is_empty() => format!("/{version}/{a}/{c}"),
            None => format!("/{version}/{a}/{c}/{o}"),
        };
        Target {
            account: a.clone(),
            container: c.clone(),
            prefix: o,
            path,
            v1: req.v1,
        }
    });
    let keys = match &target {
        Some(t) => keys(&next, &req.ctx, &t.account, &t.container)
            .await
            .map_err(FormError::Client)?,
        None => Vec::new(),
    };
    let body = std::mem::replace(&mut req.body, swirl_common::body::empty());
    let mut parts = Parts::begin(body, boundary).await?;
    let mut fields = Fields::default();
    let mut status: Option<u16> = None;
    let mut message = "";
    let mut sub_headers = HeaderMap::new();
    let mut files = 0i64;
    while let Some(h) = parts.next_part().await? {
        let (disp, attrs) =
            content_disposition(headers::get(&h, "content-disposition").unwrap_or(""));
        let attr = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let filename = attr("filename").filter(|f| !f.is_empty());
        if disp == "form-data" && filename.is_some() {
            files += 1;
            let max_count = fields
                .int("max_file_count")
                .map_err(|_| invalid("max_file_count not an integer"))?;
            if files > max_count {
                status = Some(400);
                message = "max file count exceeded";
                break;
            }
            let mut file = fields.clone();
            file.set("filename", filename.unwrap_or_default());
            if file.get("content-type").is_none() {
                if let Some(ct) = headers::get(&h, "content-type") {
                    let ct = if ct.is_empty() {
                        "application/octet-stream"
                    } else {
                        ct
                    };
                    file.set("content-type", ct.to_string());
                }
            }
            if file.get("content-encoding").is_none() {
                if let Some(ce) = headers::get(&h, "content-encoding") {
                    file.set("content-encoding", ce.to_string());
                }
            }
            let Some(t) = &target else {
                return Err(FormError::Unauthorized("invalid signature"));
            };
            let cfg = &next.proxy().cfg.formpost;
            let (s, sh) = upload(&next, &req.ctx, t, &file, &keys, cfg, &mut parts).await?;
            status = Some(s);
            sub_headers = sh;
            if !(200..300).contains(&s) {
                break;
            }
        } else {
            let mut data = Vec::new();
            while data.len() < MAX_VALUE_LENGTH {
                match parts.chunk(MAX_VALUE_LENGTH - data.len()).await? {
                    Some(c) => data.extend_from_slice(&c),
                    None => break,
                }
            }
            while parts.chunk(READ_CHUNK).await?.is_some() {}
            if let Some(name) = attr("name") {
                let value = String::from_utf8_lossy(&data);
                let value = value.trim_end_matches(['\r', '\n', '-']).to_string();
                fields.set(&name.to_lowercase(), value);
            }
        }
    }
    let status = match status {
        Some(s) => s,
        None => {
            message = "no files to process";
            400
        }
    };
    let mut out = HeaderMap::new();
    for (k, v) in &sub_headers {
        if k.as_str().starts_with("access-control") {
            out.append(k.clone(), v.clone());
        }
    }
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let Some(redirect) = fields.get("redirect").filter(|r| !r.is_empty()) else {
        let line = status_line(code);
        if !message.is_empty() {
            // Only the form's own refusals carry a message: all 400s.
            return Err(FormError::Client(Error::BadRequest(format!(
                "{line}\r\nFormPost: {}",
                title(message)
            ))));
        }
        let mut r = Response::new(swirl_common::body::full(line.clone()));
        *r.status_mut() = code;
        *r.headers_mut() = out;
        headers::set(r.headers_mut(), "content-type", "text/plain");
        headers::set(r.headers_mut(), "content-length", &line.len().to_string());
        return Ok(r);
    };
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let location = format!(
        "{redirect}{sep}status={}&message={}",
        quote(&status.to_string(), "/"),
        quote(message, "/")
    );
    let page =
        format!("<html><body><p><a href=\"{location}\">Click to continue...</a></p></body></html>");
    let mut r = Response::new(swirl_common::body::full(page.clone()));
    *r.status_mut() = StatusCode::SEE_OTHER;
    *r.headers_mut() = out;
    headers::set(r.headers_mut(), "location", &location);
    headers::set(r.headers_mut(), "content-length", &page.len().to_string());
    Ok(r)
}

/// `201 Created`: the status line Swift's response carries.
fn status_line(code: StatusCode) -> String {
    let (swob, _) = swirl_common::error::reason(code);
    let reason = if swob.is_empty() {
        code.canonical_reason().unwrap_or("Unknown")
    } else {
        swob
    };
    format!("{} {reason}", code.as_u16())
}

/// The account's and the container's Temp-URL keys (Swift's `_get_keys`).
async fn keys(next: &Next, ctx: &Ctx, account: &str, container: &str) -> Result<Vec<Vec<u8>>> {
    let proxy = next.proxy();
    let lookup = Ctx::new(&ctx.txn, Method::HEAD, HeaderMap::new(), None).by("FP");
    let mut out = Vec::new();
    let a = proxy.account_info(&lookup, account).await?;
    let c = proxy.container_info(&lookup, account, container).await?;
    for (info, kind) in [(&a, "account"), (&c, "container")] {
        if !info.exists() {
            continue;
        }
        for suffix in ["", "-2"] {
            if let Some(v) = info
                .headers
                .get(format!("x-{kind}-meta-temp-url-key{suffix}"))
            {
                out.push(v.as_bytes().to_vec());
            }
        }
    }
    Ok(out)
}

fn hmac_hex(digest: &str, key: &[u8], msg: &[u8]) -> Option<String> {
    let alg = match digest {
        "sha1" => ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        "sha256" => ring::hmac::HMAC_SHA256,
        "sha512" => ring::hmac::HMAC_SHA512,
        _ => return None,
    };
    Some(hex(
        ring::hmac::sign(&ring::hmac::Key::new(alg, key), msg).as_ref()
    ))
}

/// Checks a file's fields and signature (Swift's `_perform_subrequest`
/// before the PUT): the limit on its size, and the PUT's extra headers.
fn check(
    t: &Target,
    f: &Fields,
    keys: &[Vec<u8>],
    cfg: &FormPostConfig,
) -> std::result::Result<(u64, HeaderMap), FormError> {
    if keys.is_empty() {
        return Err(FormError::Unauthorized("invalid signature"));
    }
    let max_size = f
        .int("max_file_size")
        .map_err(|_| invalid("max_file_size not an integer"))?;
    let mut h = HeaderMap::new();
    if f.get("x_delete_at").is_some() {
        let at = f
            .get("x_delete_at")
            .unwrap_or("")
            .trim()
            .parse::<i64>()
            .map_err(|_| invalid("x_delete_at not an integer: Unix timestamp required."))?;
        headers::set(&mut h, "x-delete-at", &at.to_string());
    }
    if f.get("x_delete_after").is_some() {
        let after = f
            .get("x_delete_after")
            .unwrap_or("")
            .trim()
            .parse::<i64>()
            .map_err(|_| invalid("x_delete_after not an integer: Number of seconds required."))?;
        headers::set(&mut h, "x-delete-after", &after.to_string());
    }
    if let Some(ct) = f.get("content-type") {
        let ct = if ct.is_empty() {
            "application/octet-stream"
        } else {
            ct
        };
        headers::set(&mut h, "content-type", ct);
    }
    if let Some(ce) = f.get("content-encoding") {
        headers::set(&mut h, "content-encoding", ce);
    }
    let expires = f
        .int("expires")
        .map_err(|_| invalid("expired not an integer"))?;
    if (expires as f64) < Timestamp::now().as_f64() {
        return Err(FormError::Unauthorized("form expired"));
    }
    let or = |k: &str, d: &'static str| f.get(k).filter(|v| !v.is_empty()).unwrap_or(d).to_string();
    let body = format!(
        "{}\n{}\n{}\n{}\n{}",
        t.path,
        or("redirect", ""),
        or("max_file_size", "0"),
        or("max_file_count", "0"),
        or("expires", "0")
    );
    let (digest, sig) = digest_and_sig(f.get("signature").unwrap_or(""))
        .ok_or(FormError::Unauthorized("invalid signature"))?;
    if !cfg.allowed_digests.contains(&digest) {
        return Err(FormError::Unauthorized("invalid signature"));
    }
    let valid = keys
        .iter()
        .any(|k| hmac_hex(&digest, k, body.as_bytes()).is_some_and(|want| same(&want, &sig)));
    if !valid {
        return Err(FormError::Unauthorized("invalid signature"));
    }
    Ok((max_size.max(0) as u64, h))
}

/// PUTs the current part as an object (streamed, at most the form's
/// `max_file_size` bytes): its status and headers.
async fn upload(
    next: &Next,
    ctx: &Ctx,
    t: &Target,
    f: &Fields,
    keys: &[Vec<u8>],
    cfg: &FormPostConfig,
    parts: &mut Parts,
) -> std::result::Result<(u16, HeaderMap), FormError> {
    let (max_size, mut h) = check(t, f, keys, cfg)?;
    headers::set(&mut h, "transfer-encoding", "chunked");
    if let Some(ua) = ctx.headers.get("user-agent") {
        h.insert("user-agent", ua.clone());
    }
    let mut sub = Ctx::new(&ctx.txn, Method::PUT, h, None).by("FP");
    // Swift's pre-authorized sub-request: the signature stands for the
    // container's key holder.
    sub.auth = Authorizer::TempUrl {
        account: t.account.clone(),
        container: Some(t.container.clone()),
    };
    let name = format!("{}{}", t.prefix, f.get("filename").unwrap_or("filename"));
    let path = ObjectPath::new(t.account.clone(), t.container.clone(), name);
    let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
    let mut req = Req::object(sub, &path, ChannelBody::new(rx, None).boxed());
    req.v1 = t.v1;
    let put = next.clone().run(req);
    let feed = async {
        let mut sent = 0u64;
        while let Some(data) = parts.chunk(READ_CHUNK).await? {
            sent += data.len() as u64;
            if sent > max_size {
                let _ = tx
                    .send(Err(std::io::Error::other("max_file_size exceeded")))
                    .await;
                return Ok(true);
            }
            if tx.send(Ok(Frame::data(data))).await.is_err() {
                break; // the PUT has its answer already
            }
        }
        drop(tx);
        Ok::<bool, FormError>(false)
    };
    let (answer, fed) = tokio::join!(put, feed);
    if fed? {
        return Err(invalid("max_file_size exceeded"));
    }
    Ok(match answer {
        Ok(r) => (r.status().as_u16(), r.headers().clone()),
        Err(e) => (e.status().as_u16(), HeaderMap::new()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body of `b` in frames of `piece` bytes.
    fn body(b: &'static [u8], piece: usize) -> Body {
        let (tx, rx) = mpsc::channel(b.len() / piece + 2);
        for c in b.chunks(piece) {
            tx.try_send(Ok(Frame::data(Bytes::from_static(c)))).unwrap();
        }
        ChannelBody::new(rx, None).boxed()
    }

    /// Every part's headers and data.
    async fn read_all(b: &'static [u8], piece: usize) -> Vec<(HeaderMap, Vec<u8>)> {
        let mut p = Parts::begin(body(b, piece), "XyZ").await.unwrap();
        let mut out = Vec::new();
        while let Some(h) = p.next_part().await.unwrap() {
            let mut data = Vec::new();
            while let Some(c) = p.chunk(3).await.unwrap() {
                data.extend_from_slice(&c);
            }
            out.push((h, data));
        }
        out
    }

    #[tokio::test]
    async fn parts_in_any_slicing() {
        const FORM: &[u8] = b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\none\r\n--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\nContent-Type: text/plain\r\n\r\nline\r\n--Xy\r\n\r\n--XyZ--\r\n";
        for piece in [1, 2, 5, 7, 1000] {
            let parts = read_all(FORM, piece).await;
            assert_eq!(parts.len(), 2, "piece {piece}");
            assert_eq!(parts[0].1, b"one");
            assert_eq!(
                headers::get(&parts[1].0, "content-type"),
                Some("text/plain")
            );
            assert_eq!(parts[1].1, b"line\r\n--Xy\r\n");
        }
        assert!(matches!(
            Parts::begin(body(b"garbage\r\n--XyZ\r\n", 4), "XyZ").await,
            Err(FormError::Mime)
        ));
        // A body cut short ends its last part.
        let cut = read_all(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc",
            2,
        )
        .await;
        assert_eq!(cut.len(), 1);
        assert_eq!(cut[0].1, b"abc");
    }

    #[test]
    fn dispositions_as_swift_parses_them() {
        let (d, a) = content_disposition("form-data; name=\"file1\"; filename=\"a b.txt\"");
        assert_eq!(d, "form-data");
        assert_eq!(
            a,
            vec![
                ("name".into(), "file1".into()),
                ("filename".into(), "a b.txt".into())
            ]
        );
        let (d, a) = content_disposition("multipart/form-data; boundary=----XyZ");
        assert_eq!(d, "multipart/form-data");
        assert_eq!(a, vec![("boundary".into(), "----XyZ".into())]);
        assert_eq!(content_disposition("text/plain").1, vec![]);
        assert_eq!(title("max file count exceeded"), "Max File Count Exceeded");
    }
}
