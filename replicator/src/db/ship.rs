//! Shipping a whole database to a peer (Swift's `_rsync_db`): a consistent
//! snapshot of the local database is written to this device's `tmp/`, then
//! sent to the peer's `<device>/tmp/<our id>` over its replication
//! listener, streamed whole or as a fast_rsync delta against the peer's own
//! older copy; the peer checks length and blake3 before it names the file.
//! The caller then asks the peer to `complete_rsync` or `rsync_then_merge` it.
//!
//! Swift rsyncs the live file and a second time under a lock if it changed
//! meanwhile; a snapshot is consistent by itself, and rows written after it
//! reach the peer by the next pass's `merge_items` (its sync point for us is
//! where the snapshot ended).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use swirl_common::frames::{self, BodyReader};
use swirl_store::db::broker::{Broker, Kind};
use swirl_store::db::ship::file_digest;
use swirl_store::object::sync::delta::DeltaParams;

use super::rpc::Peer;
use crate::delta_send::{send_windows, DeltaCost};
use crate::error::{Error, Result};

/// A local snapshot ready to ship; removed when dropped.
pub struct Snapshot {
    pub path: PathBuf,
    pub len: u64,
    pub blake3: String,
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn blocking_err(e: tokio::task::JoinError) -> Error {
    Error::Io(std::io::Error::other(e.to_string()))
}

fn db_err(e: swirl_store::db::DbError) -> Error {
    Error::Io(std::io::Error::other(e.to_string()))
}

/// Snapshots `broker` into `tmp_dir` (this device's `tmp/`).
pub async fn snapshot<K: Kind>(broker: Arc<Broker<K>>, tmp_dir: &Path) -> Result<Snapshot> {
    let r: u64 = rand::random();
    let path = tmp_dir.join(format!("db-ship-{r:016x}.db"));
    let p = path.clone();
    let dir = tmp_dir.to_path_buf();
    tokio::task::spawn_blocking(move || -> Result<Snapshot> {
        std::fs::create_dir_all(&dir)?;
        // Named before anything is written: dropped, it removes the file.
        let mut snap = Snapshot {
            path: p.clone(),
            len: 0,
            blake3: String::new(),
        };
        broker.snapshot(&p).map_err(db_err)?;
        let (len, digest) = file_digest(&p).map_err(db_err)?;
        snap.len = len;
        snap.blake3 = digest;
        Ok(snap)
    })
    .await
    .map_err(blocking_err)?
}

fn request(
    peer: &Peer,
    step: &str,
    name: &str,
    len: u64,
    extra: &[(&str, String)],
    b: swirl_common::Body,
) -> Result<Request<swirl_common::Body>> {
    let a = peer.addr();
    let proto = |m: String| Error::Protocol {
        addr: a.clone(),
        message: m,
    };
    let mut req = Request::builder()
        .method(Method::from_bytes(b"SYNC").map_err(|e| proto(e.to_string()))?)
        .uri(format!(
            "/{}/{}/{}/{step}",
            peer.node.device, peer.partition, peer.hash
        ))
        .header("host", &a)
        .header("user-agent", "swirl-db-replicator")
        .header("x-swirl-name", name)
        .header("x-swirl-file-length", len.to_string());
    for (k, v) in extra {
        req = req.header(*k, v);
    }
    req.body(b).map_err(|e| proto(e.to_string()))
}

fn status_err(peer: &Peer, step: &str, status: StatusCode) -> Error {
    Error::Status {
        addr: peer.addr(),
        method: "SYNC".into(),
        path: step.to_string(),
        status: status.as_u16(),
    }
}

/// Streams the snapshot whole to the peer's `tmp/<name>`; returns the
/// bytes sent.
pub async fn whole(peer: &Peer<'_>, name: &str, snap: &Snapshot, timeout: Duration) -> Result<u64> {
    let (tx, b) = frames::channel(4);
    let path = snap.path.clone();
    // A blocking thread reads the file and feeds the body.
    let reader = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
        use std::io::Read;
        let mut f = File::open(&path)?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut sent = 0u64;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                return Ok(sent);
            }
            sent += n as u64;
            if tx
                .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                .is_err()
            {
                return Ok(sent);
            }
        }
    });
    let req = request(
        peer,
        "whole",
        name,
        snap.len,
        &[("x-swirl-blake3", snap.blake3.clone())],
        b,
    )?;
    let exchange = async {
        let resp = peer.client.send(&peer.node.ip, peer.node.port, req).await?;
        let status = resp.status();
        let _ = swirl_common::server::read_body_limited(resp.into_body(), 64 << 10).await;
        Ok::<_, Error>(status)
    };
    let status = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| Error::Timeout {
            addr: peer.addr(),
            what: "shipping a database",
        })??;
    let sent = reader.await.map_err(blocking_err)??;
    if status != StatusCode::CREATED {
        return Err(status_err(peer, "whole", status));
    }
    Ok(sent)
}

/// Sends the snapshot as a delta against the peer's own copy of the
/// database; None when the peer has no copy (ship it whole instead).
pub async fn delta(
    peer: &Peer<'_>,
    name: &str,
    snap: &Snapshot,
    params: DeltaParams,
    timeout: Duration,
) -> Result<Option<DeltaCost>> {
    let file = Arc::new(File::open(&snap.path)?);
    let (tx, b) = frames::channel(2);
    let req = request(
        peer,
        "delta",
        name,
        snap.len,
        &[
            ("x-swirl-delta-window", params.window.to_string()),
            ("x-swirl-delta-block", params.block.to_string()),
        ],
        b,
    )?;
    let exchange = async {
        let resp = peer.client.send(&peer.node.ip, peer.node.port, req).await?;
        if resp.status() == StatusCode::CONFLICT {
            return Ok(None);
        }
        if resp.status() != StatusCode::OK {
            return Err(status_err(peer, "delta", resp.status()));
        }
        let basis_len: u64 = resp
            .headers()
            .get("x-swirl-basis-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::Protocol {
                addr: peer.addr(),
                message: "delta answer without X-Swirl-Basis-Length".into(),
            })?;
        let sigs = BodyReader::new(resp.into_body());
        send_windows(&peer.addr(), file, snap.len, basis_len, params, sigs, tx)
            .await
            .map(Some)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| Error::Timeout {
            addr: peer.addr(),
            what: "shipping a database as a delta",
        })?
}
