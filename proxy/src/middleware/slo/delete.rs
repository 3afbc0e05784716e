//! `DELETE ?multipart-manifest=delete`: the segments (nested manifests'
//! first), then the manifest, deleted as the caller, with a bulk-delete result.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Response};
use http_body::Frame;
use http_body_util::BodyExt;
use swirl_common::backend_headers as bh;
use swirl_common::listing_format;
use swirl_common::{ApiError, Body};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::manifest as m;
use super::{Beats, Tx, MANIFEST_READ_LIMIT, MARKER};
use crate::app::{Ctx, Proxy};
use crate::headers;
use crate::middleware::bulk::{self, status_line, Report};
use crate::object_path::ObjectPath;
use crate::pipeline::{Next, Req};
use crate::stream::{ChannelBody, CHANNEL_FRAMES};

/// A name to delete (Swift's `get_segments_to_delete_iter` entries).
struct Doomed {
    name: String,
    sub_slo: bool,
    /// Why its manifest could not be read (status, message).
    error: Option<(u16, String)>,
}

/// Answers `DELETE ?multipart-manifest=delete`: 200 at once, the result as
/// bulk delete writes it once the segments and the manifest are deleted.
pub fn delete(next: Next, ctx: &Ctx, path: &ObjectPath) -> Response<Body> {
    let format = listing_format::negotiate(None, headers::get(&ctx.headers, "accept")).ok();
    let mut resp = Response::new(swirl_common::body::empty());
    headers::set(
        resp.headers_mut(),
        "content-type",
        format.unwrap_or("text/html; charset=UTF-8"),
    );
    let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
    let job = DeleteJob {
        proxy: next.proxy().clone(),
        next,
        ctx: ctx.subrequest(Method::DELETE, None).by("SLO"),
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
    next: Next,
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
            .subrequest(Method::GET, Some("multipart-manifest=get".into()))
            .by("SLO");
        // Only the last byte of an object that is no manifest.
        headers::set(&mut sub.headers, "range", "bytes=-1");
        headers::set(&mut sub.headers, bh::IGNORE_RANGE, "X-Static-Large-Object");
        let req = Req::object(sub, &manifest, swirl_common::body::empty());
        let res = self.next.clone().run(req).await;
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
                let next = self.next.clone();
                let sub = self.ctx.subrequest(Method::DELETE, None).by("SLO");
                running.spawn(async move {
                    let body = swirl_common::body::empty();
                    let res = next.run(Req::object(sub, &doomed, body)).await;
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
