//! `SYNC /<dev>/<part>/<hash>/whole|delta`: a whole database received into
//! `<dev>/tmp/<name>` (Swift rsyncs it there), checked before it is named
//! (see `swirl_store::db::ship`). Headers: `X-Swirl-Name` (the temp file's
//! name: the sender's database id, as Swift names it) and
//! `X-Swirl-File-Length`.
//!
//! - `whole`: the body is the file; `X-Swirl-Blake3` its digest. Answers 201.
//! - `delta`: `X-Swirl-Delta-Window` and `X-Swirl-Delta-Block` too. This
//!   replica's own copy of the database (at `<part>/<hash>`) is the basis:
//!   snapshotted (its length in the answer's `X-Swirl-Basis-Length`), its
//!   windows' signatures stream back as `S` frames while
//!   the request brings one `D` (delta against the basis window of the same
//!   index) or `L` (literal) frame per window of the new file, then `E`
//!   with its hex blake3; the outcome ends the answer as an `R` frame
//!   (`{"ok":true}` or `{"ok":false,"error":..}`). Without a copy here it
//!   answers 409 before anything streams (the sender ships it whole).

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use swirl_common::body::Body;
use swirl_common::delta_exchange::{self, Piece};
use swirl_common::frames::{self, BodyReader};
use swirl_store::db::account::AccountBroker;
use swirl_store::db::container::ContainerBroker;
use swirl_store::db::placement::db_path;
use swirl_store::db::ship::{Basis, Incoming as IncomingDb};
use swirl_store::db::{DbError, DbResult};
use swirl_store::object::sync::delta::DeltaParams;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::response::{put, swift_response};
use crate::server::{blocking, DbServer};
use crate::DbKind;

fn header<'a>(req: &'a Request<Incoming>, name: &str) -> Result<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Error::BadRequest(format!("missing {name}")))
}

fn header_u64(req: &Request<Incoming>, name: &str) -> Result<u64> {
    header(req, name)?
        .parse()
        .map_err(|_| Error::BadRequest(format!("bad {name}")))
}

fn task_err(e: tokio::task::JoinError) -> Error {
    Error::Task(e.to_string())
}

/// Receives a database streamed whole.
pub async fn whole(s: &DbServer, device: &str, req: Request<Incoming>) -> Result<Response<Body>> {
    let name = header(&req, "x-swirl-name")?.to_string();
    let len = header_u64(&req, "x-swirl-file-length")?;
    let digest = header(&req, "x-swirl-blake3")?.to_string();
    let tmp = s.cfg.devices.join(device).join("tmp");
    let n = name.clone();
    let incoming = blocking(move || Ok(IncomingDb::create(&tmp, &n, len)?)).await?;
    let (tx, mut rx) = mpsc::channel::<Bytes>(8);
    let worker = tokio::task::spawn_blocking(move || -> DbResult<()> {
        let mut incoming = incoming;
        while let Some(b) = rx.blocking_recv() {
            incoming.write(&b)?;
        }
        incoming.finish(&digest).map(|_| ())
    });
    let mut body = req.into_body();
    let mut read_err = None;
    while let Some(f) = body.frame().await {
        match f {
            Ok(f) => {
                if let Ok(d) = f.into_data() {
                    // A send fails when the worker stopped (it says why).
                    if tx.send(d).await.is_err() {
                        break;
                    }
                }
            }
            Err(e) => {
                read_err = Some(e.to_string());
                break;
            }
        }
    }
    drop(tx);
    let done = worker.await.map_err(task_err)?;
    if let Some(e) = read_err {
        return Err(Error::BadRequest(format!("reading body: {e}")));
    }
    done?;
    let mut h = HeaderMap::new();
    put(&mut h, "content-type", "application/json");
    let answer = serde_json::json!({"name": name, "bytes": len}).to_string();
    Ok(swift_response(
        StatusCode::CREATED,
        h,
        Some(answer.into_bytes()),
    ))
}

/// Rebuilds the new file window by window and names it once checked.
fn apply(
    basis: Arc<Basis>,
    params: DeltaParams,
    mut incoming: IncomingDb,
    mut rx: mpsc::Receiver<Piece>,
) -> DbResult<()> {
    let mut window = 0u64;
    let mut scratch = (Vec::new(), Vec::new());
    while let Some(p) = rx.blocking_recv() {
        match p {
            Piece::Literal(b) => incoming.write(&b)?,
            Piece::Delta(d) => incoming.write_delta(&basis, params, window, &d, &mut scratch)?,
            Piece::End(want) => return incoming.finish(&want).map(|_| ()),
        }
        window += 1;
    }
    Err(DbError::Invalid("delta ended without its end frame".into()))
}

/// Sends the signature of every basis window.
fn signatures(basis: Arc<Basis>, params: DeltaParams, tx: mpsc::Sender<std::io::Result<Bytes>>) {
    let mut buf = Vec::new();
    for i in 0..params.windows(basis.len()) {
        let frame = basis
            .signature(params, i, &mut buf)
            .map(|sig| frames::frame(b'S', &sig))
            .map_err(|e| std::io::Error::other(e.to_string()));
        let failed = frame.is_err();
        if tx.blocking_send(frame).is_err() || failed {
            return;
        }
    }
}

/// Writes a consistent copy of this replica's database to the path given.
type Snapshotter = Box<dyn FnOnce(&std::path::Path) -> DbResult<()> + Send>;

/// Receives a database as a delta against this replica's own copy.
pub async fn delta(
    s: &DbServer,
    device: &str,
    partition: u32,
    hash: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>> {
    let name = header(&req, "x-swirl-name")?.to_string();
    let len = header_u64(&req, "x-swirl-file-length")?;
    let window = header_u64(&req, "x-swirl-delta-window")? as usize;
    let block = u32::try_from(header_u64(&req, "x-swirl-delta-block")?)
        .map_err(|_| Error::BadRequest("bad x-swirl-delta-block".into()))?;
    let params =
        DeltaParams::checked(window, block).map_err(|e| Error::BadRequest(e.to_string()))?;
    if hash.len() < 3 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::BadRequest(format!("Invalid hash: {hash}")));
    }
    let path = db_path(&s.cfg.devices, device, s.kind, partition, hash);
    // The basis: a snapshot of this replica's copy (its live file changes
    // under writes). No copy: the sender ships it whole.
    let snapshot: Snapshotter = match s.kind {
        DbKind::Container => match s.containers.get(&path, ContainerBroker::open) {
            Ok(b) => Box::new(move |dest| b.snapshot(dest)),
            Err(DbError::NotFound(_)) => return Err(Error::Conflict(HeaderMap::new())),
            Err(e) => return Err(e.into()),
        },
        DbKind::Account => match s.accounts.get(&path, AccountBroker::open) {
            Ok(b) => Box::new(move |dest| b.snapshot(dest)),
            Err(DbError::NotFound(_)) => return Err(Error::Conflict(HeaderMap::new())),
            Err(e) => return Err(e.into()),
        },
    };
    let tmp = s.cfg.devices.join(device).join("tmp");
    let n = name.clone();
    let (basis, incoming) = blocking(move || {
        let basis = Basis::take(&tmp, &n, snapshot)?;
        let incoming = IncomingDb::create(&tmp, &n, len)?;
        Ok((Arc::new(basis), incoming))
    })
    .await?;
    let basis_len = basis.len();
    let (tx, resp_body) = frames::channel(4);
    let sig_tx = tx.clone();
    let b1 = basis.clone();
    let sigs = tokio::task::spawn_blocking(move || signatures(b1, params, sig_tx));
    let (ptx, prx) = mpsc::channel(2);
    let applied = tokio::task::spawn_blocking(move || apply(basis, params, incoming, prx));
    delta_exchange::spawn(
        BodyReader::new(req.into_body()),
        delta_exchange::max_frame(params.window),
        ptx,
        applied,
        sigs,
        tx,
    );
    let mut resp = Response::new(resp_body);
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/octet-stream"),
    );
    // The sender reads one signature per basis window: it must know how many.
    h.insert("x-swirl-basis-length", HeaderValue::from(basis_len));
    Ok(resp)
}
