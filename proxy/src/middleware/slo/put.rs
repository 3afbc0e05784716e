//! `PUT ?multipart-manifest=put`: the segments HEADed as the caller, checked,
//! and the manifest stored (answered at once, or with heartbeats).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use swirl_common::conditional::normalize_etag;
use swirl_common::error::{error_text, reason};
use swirl_common::listing_format;
use swirl_common::timestamp::parse_http_date;
use swirl_common::{ApiError, Body, Timestamp};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::manifest::{
    self as m, check_segment, Head, Input, InputError, Stored, OVERRIDE_ETAG, SYSMETA_SLO_ETAG,
    SYSMETA_SLO_SIZE,
};
use super::{Beats, MARKER};
use crate::app::{Ctx, Proxy};
use crate::error::{Error, Result};
use crate::headers;
use crate::middleware::bulk::{render_doc, status_line, Val};
use crate::object_path::ObjectPath;
use crate::pipeline::{Next, Req};
use crate::stream::{ChannelBody, CHANNEL_FRAMES};

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
pub async fn put(next: Next, ctx: &Ctx, path: &ObjectPath, body: Body) -> Result<Response<Body>> {
    let proxy = next.proxy().clone();
    let cfg = &proxy.cfg.slo;
    let (length, chunked) = crate::constraints::request_length(&ctx.headers)?;
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
    let timeout = crate::config::secs(proxy.cfg.listen.client_timeout);
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
        next,
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
    next: Next,
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
        let body = swirl_common::body::full(json);
        let mut ctx = self.ctx.clone();
        ctx.ctype_overridden = true;
        let resp = self
            .next
            .clone()
            .run(Req::object(ctx, &self.path, body))
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
                // Through slo itself, as Swift's HEADs go (`get_response(self)`).
                let here = self.next.here();
                let sub = self.ctx.subrequest(Method::HEAD, None).by("SLO");
                running.spawn(async move {
                    let body = swirl_common::body::empty();
                    let res = here.run(Req::object(sub, &segment, body)).await;
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
