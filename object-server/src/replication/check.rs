//! `SYNC /<dev>/<part>/check`: the missing check. The body is one offer line
//! per object (`swirl_store::object::sync::offer`); the answer is one want
//! line per object this node wants something of, naming an older `.data`
//! it holds as a delta basis where it has one. Read-only: the local state
//! comes from the file names alone.

use std::sync::Arc;

use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use swirl_common::frames::BodyReader;
use swirl_common::{body, Body};
use swirl_store::object::classify;
use swirl_store::object::sync::{offer, Offer, SyncError};
use swirl_store::object::DeviceLayout;

use crate::error::{Error, Result};
use crate::handler::blocking;
use crate::Server;

/// Offers answered per blocking call.
const BATCH: usize = 512;

/// Answers a batch of offers from the disk.
fn answer(layout: &DeviceLayout, partition: u32, offers: &[Offer], out: &mut String) -> Result<()> {
    for o in offers {
        let dir = layout.hash_dir(partition, &o.hash);
        let names: Vec<String> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::Store(e.into())),
        };
        let local = classify::classify(&names);
        if let Some(mut w) = offer::wanted(o, &local) {
            if let Some((name, len)) = w.basis.as_mut() {
                match std::fs::metadata(dir.join(&*name)) {
                    Ok(m) => *len = m.len(),
                    Err(_) => w.basis = None,
                }
            }
            out.push_str(&w.line());
            out.push('\n');
        }
    }
    Ok(())
}

pub async fn handle(
    _s: Arc<Server>,
    req: Request<Incoming>,
    layout: DeviceLayout,
    partition: u32,
) -> Result<Response<Body>> {
    let mut r = BodyReader::new(req.into_body());
    let mut out = String::new();
    loop {
        let mut batch = Vec::with_capacity(BATCH);
        while batch.len() < BATCH {
            match r.line(256).await {
                Ok(Some(l)) if l.is_empty() => continue,
                Ok(Some(l)) => batch.push(
                    Offer::parse(&l).map_err(|e| Error::Sync(SyncError::Invalid(e.to_string())))?,
                ),
                Ok(None) => break,
                Err(e) => return Err(Error::ClientDisconnect(e.to_string())),
            }
        }
        if batch.is_empty() {
            break;
        }
        let full = batch.len() == BATCH;
        let l = layout.clone();
        let part = blocking(move || {
            let mut o = String::new();
            answer(&l, partition, &batch, &mut o)?;
            Ok(o)
        })
        .await?;
        out.push_str(&part);
        if !full {
            break;
        }
    }
    let len = out.len();
    let mut resp = Response::new(body::full(out));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/plain"));
    resp.headers_mut()
        .insert("content-length", HeaderValue::from(len));
    Ok(resp)
}
