//! `SYNC /<dev>/<part>/delta`: one file rebuilt from an older version held
//! here (the basis) and a fast_rsync delta, in both directions at once.
//!
//! Request headers: `X-Swirl-Hash`, `X-Swirl-File` (the new file's name),
//! `X-Swirl-Basis` (the basis file's name, from the missing check),
//! `X-Swirl-File-Length`, `X-Swirl-Body-Length`, `X-Swirl-Delta-Window`,
//! `X-Swirl-Delta-Block`. A basis that is gone answers 409 before anything
//! streams (the sender then sends the whole file).
//!
//! Response body (frames): `S` the signature of each basis window in order,
//! then `R` the outcome as JSON (`{"ok":true}` or `{"ok":false,"error":..}`).
//! Request body (frames): per window of the new file, `D` (a delta against
//! the basis window of the same index) or `L` (the window's bytes); then
//! `E` with the hex blake3 of the whole new file. The rebuilt file is checked
//! as any received file is, and against that digest, before it is committed.

use std::fs::File;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use swirl_common::frames::{self, BodyReader};
use swirl_common::Body;
use swirl_store::object::sync::delta::{self, DeltaParams};
use swirl_store::object::sync::receive::{self, IncomingFile};
use swirl_store::object::sync::SyncError;
use swirl_store::object::DeviceLayout;
use tokio::sync::mpsc;
use tracing::debug;

use super::{header, header_u64};
use crate::error::{Error, Result};
use crate::Server;

/// Frames from the sender, handed to the applying thread.
enum Piece {
    Delta(Bytes),
    Literal(Bytes),
    End(String),
}

/// Rebuilds the new file window by window and commits it once checked.
fn apply(
    basis: Arc<File>,
    basis_len: u64,
    params: DeltaParams,
    mut incoming: IncomingFile,
    reclaim_age: u64,
    mut rx: mpsc::Receiver<Piece>,
) -> std::result::Result<(), SyncError> {
    let mut window = 0u64;
    let (mut base, mut out) = (Vec::new(), Vec::new());
    while let Some(p) = rx.blocking_recv() {
        match p {
            Piece::Literal(b) => incoming.write(&b)?,
            Piece::Delta(d) => {
                if window >= params.windows(basis_len) {
                    return Err(SyncError::Invalid(format!(
                        "delta for window {window} past the basis"
                    )));
                }
                params.read_window(&basis, basis_len, window, &mut base)?;
                delta::apply_window(&base, &d, params.window, &mut out)?;
                incoming.write(&out)?;
            }
            Piece::End(want) => {
                let got = incoming.finish()?;
                if got.file_blake3 != want {
                    return Err(SyncError::Mismatch(format!(
                        "rebuilt file blake3 {}, sender's {want}",
                        got.file_blake3
                    )));
                }
                receive::commit(vec![got], reclaim_age)?;
                return Ok(());
            }
        }
        window += 1;
    }
    Err(SyncError::Invalid(
        "delta ended without its end frame".into(),
    ))
}

/// Sends the signature of every basis window.
fn signatures(
    basis: Arc<File>,
    basis_len: u64,
    params: DeltaParams,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
) {
    let mut buf = Vec::new();
    for i in 0..params.windows(basis_len) {
        if let Err(e) = params.read_window(&basis, basis_len, i, &mut buf) {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        let sig = params.signature(&buf);
        if tx.blocking_send(Ok(frames::frame(b'S', &sig))).is_err() {
            return;
        }
    }
}

/// The largest frame a sender may send: a window, or a delta a little larger.
fn max_frame(params: DeltaParams) -> usize {
    params.window + params.window / 8 + 4096
}

pub async fn handle(
    s: Arc<Server>,
    req: Request<Incoming>,
    layout: DeviceLayout,
    partition: u32,
) -> Result<Response<Body>> {
    let hash = header(&req, "x-swirl-hash")?.to_string();
    let name = header(&req, "x-swirl-file")?.to_string();
    let basis_name = header(&req, "x-swirl-basis")?.to_string();
    let file_len = header_u64(&req, "x-swirl-file-length")?;
    let body_len = header_u64(&req, "x-swirl-body-length")?;
    let window = header_u64(&req, "x-swirl-delta-window")? as usize;
    let block = u32::try_from(header_u64(&req, "x-swirl-delta-block")?)
        .map_err(|_| Error::BadRequest("bad x-swirl-delta-block".into()))?;
    let params = DeltaParams::checked(window, block)?;
    if !swirl_store::object::sync::offer::is_hash(&hash)
        || swirl_store::object::filename::parse(&basis_name).is_err()
    {
        return Err(SyncError::Invalid("x-swirl-hash or x-swirl-basis".into()).into());
    }
    let basis_path = layout.hash_dir(partition, &hash).join(&basis_name);
    let l = layout.clone();
    let (basis, basis_len, incoming) = crate::handler::blocking(move || {
        // Held open to the end: the basis stays the same file even if a
        // newer write replaces it meanwhile.
        let f = File::open(&basis_path)
            .map_err(|_| Error::Sync(SyncError::BasisGone(basis_name.clone())))?;
        let len = f.metadata().map_err(|e| Error::Store(e.into()))?.len();
        let inc = IncomingFile::create(&l, partition, &hash, &name, file_len, body_len)?;
        Ok((Arc::new(f), len, inc))
    })
    .await?;
    let (tx, resp_body) = frames::channel(4);
    let sig_tx = tx.clone();
    let (b1, b2) = (basis.clone(), basis);
    let sigs = tokio::task::spawn_blocking(move || signatures(b1, basis_len, params, sig_tx));
    let (ptx, prx) = mpsc::channel(2);
    let reclaim = s.store.reclaim_age;
    let applied =
        tokio::task::spawn_blocking(move || apply(b2, basis_len, params, incoming, reclaim, prx));
    let mut reader = BodyReader::new(req.into_body());
    tokio::spawn(async move {
        let fed: std::result::Result<(), String> = async {
            loop {
                let f = reader
                    .frame(max_frame(params))
                    .await
                    .map_err(|e| e.to_string())?;
                let piece = match f {
                    Some((b'D', p)) => Piece::Delta(p),
                    Some((b'L', p)) => Piece::Literal(p),
                    Some((b'E', p)) => Piece::End(String::from_utf8_lossy(&p).into_owned()),
                    Some((t, _)) => return Err(format!("unknown frame {t}")),
                    None => return Err("request ended before its end frame".into()),
                };
                let end = matches!(piece, Piece::End(_));
                if ptx.send(piece).await.is_err() || end {
                    return Ok(());
                }
            }
        }
        .await;
        drop(ptx);
        let outcome = match applied.await {
            Ok(Ok(())) => serde_json::json!({"ok": true}),
            Ok(Err(e)) => serde_json::json!({"ok": false, "error": e.to_string()}),
            Err(e) => serde_json::json!({"ok": false, "error": e.to_string()}),
        };
        if let Err(e) = &fed {
            debug!(error = %e, "delta request body");
        }
        // Every signature goes out before the outcome.
        let _ = sigs.await;
        let _ = tx
            .send(Ok(frames::frame(b'R', outcome.to_string().as_bytes())))
            .await;
    });
    let mut resp = Response::new(resp_body);
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(resp)
}
