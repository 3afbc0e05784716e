//! Syncing some suffixes of one partition to one peer (the sender's half of
//! the object server's `replication` module): offer every object of the
//! suffixes (`SYNC check`), then send what the peer wants: whole files in
//! one streamed batch (`SYNC files`), and large `.data` files the peer holds
//! an older version of as fast_rsync deltas (`SYNC delta`, falling back to a
//! whole copy when the peer's basis is gone).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use swirl_common::frames::{self, BodyReader};
use swirl_common::{body, Timestamp};
use swirl_store::object::sync::delta::{self, DeltaParams, Piece};
use swirl_store::object::sync::{offer, send, Offer, Want};
use swirl_store::object::DeviceLayout;

use crate::client::PeerClient;
use crate::error::{Error, Result};
use crate::jobs::Node;
use crate::stats::Stats;

/// What the sender needs besides the peer.
pub struct SyncCtx {
    pub client: Arc<PeerClient>,
    pub reclaim_age: u64,
    pub delta: DeltaParams,
    pub delta_min_size: u64,
}

/// What one sync did.
#[derive(Debug, Default)]
pub struct Synced {
    /// Objects the peer now has (or had newer), with the local files offered
    /// for each: what a handoff may remove.
    pub confirmed: Vec<(String, Vec<String>)>,
    /// Everything offered was confirmed.
    pub complete: bool,
    pub stats: Stats,
}

fn protocol(node: &Node, m: impl Into<String>) -> Error {
    Error::Protocol {
        addr: crate::client::addr(&node.ip, node.port),
        message: m.into(),
    }
}

fn status_err(node: &Node, path: &str, status: StatusCode) -> Error {
    Error::Status {
        addr: crate::client::addr(&node.ip, node.port),
        method: "SYNC".into(),
        path: path.to_string(),
        status: status.as_u16(),
    }
}

fn request(
    node: &Node,
    policy: u32,
    partition: u32,
    step: &str,
    b: swirl_common::Body,
) -> Result<Request<swirl_common::Body>> {
    Request::builder()
        .method(Method::from_bytes(b"SYNC").map_err(|e| protocol(node, e.to_string()))?)
        .uri(format!("/{}/{partition}/{step}", node.device))
        .header("host", crate::client::addr(&node.ip, node.port))
        .header("x-backend-storage-policy-index", policy.to_string())
        .header("user-agent", "swirl-object-replicator")
        .body(b)
        .map_err(|e| protocol(node, e.to_string()))
}

/// Reads a whole (small) response body.
async fn read_all(node: &Node, b: hyper::body::Incoming, limit: usize) -> Result<Bytes> {
    swirl_common::server::read_body_limited(b, limit)
        .await
        .map_err(|e| protocol(node, e.to_string()))
}

/// Syncs `suffixes` of `partition` (this node's `layout`) to `node`.
pub async fn sync(
    ctx: &SyncCtx,
    node: &Node,
    layout: &DeviceLayout,
    partition: u32,
    suffixes: Vec<String>,
) -> Result<Synced> {
    let mut out = Synced::default();
    let part_dir = layout.partition(partition);
    let (pd, reclaim) = (part_dir.clone(), ctx.reclaim_age);
    let offers = tokio::task::spawn_blocking(move || {
        offer::list_offers(&pd, &suffixes, Timestamp::now(), reclaim)
    })
    .await
    .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))??;
    if offers.is_empty() {
        out.complete = true;
        return Ok(out);
    }

    // The missing check.
    let mut text = String::with_capacity(offers.len() * 90);
    for o in &offers {
        text.push_str(&o.line());
        text.push('\n');
    }
    out.stats.bytes_sent += text.len() as u64;
    let policy = layout.policy;
    let resp = ctx
        .client
        .send_idempotent(&node.ip, node.port, || {
            request(node, policy, partition, "check", body::full(text.clone()))
        })
        .await?;
    if resp.status() != StatusCode::OK {
        return Err(status_err(node, "check", resp.status()));
    }
    let answer = read_all(node, resp.into_body(), 64 << 20).await?;
    out.stats.bytes_received += answer.len() as u64;
    let mut wants: HashMap<String, Want> = HashMap::new();
    for line in std::str::from_utf8(&answer)
        .map_err(|_| protocol(node, "answer is not UTF-8"))?
        .lines()
        .filter(|l| !l.is_empty())
    {
        let w = Want::parse(line).map_err(|e| protocol(node, e.to_string()))?;
        wants.insert(w.hash.clone(), w);
    }

    // What to send, and how.
    let mut whole: Vec<(String, String)> = Vec::new();
    let mut deltas: Vec<(&Offer, String, u64)> = Vec::new();
    for o in &offers {
        let Some(w) = wants.get(&o.hash) else {
            continue;
        };
        for f in o.files_for(w) {
            let basis = w
                .basis
                .as_ref()
                .filter(|_| f == o.data_file && f.ends_with(".data"));
            match basis {
                Some((b, blen)) if *blen > 0 => {
                    let len = std::fs::metadata(layout.hash_dir(partition, &o.hash).join(f))
                        .map(|m| m.len())
                        .unwrap_or(0);
                    // A delta pays for a large file whose basis is not tiny beside it.
                    if len >= ctx.delta_min_size && *blen >= len / 4 {
                        deltas.push((o, b.clone(), *blen));
                        continue;
                    }
                    whole.push((o.hash.clone(), f.to_string()));
                }
                _ => whole.push((o.hash.clone(), f.to_string())),
            }
        }
    }
    let mut failed: Vec<String> = Vec::new();
    for (o, basis, basis_len) in deltas {
        match send_delta(
            ctx,
            node,
            layout,
            partition,
            o,
            (&basis, basis_len),
            &mut out.stats,
        )
        .await
        {
            Ok(true) => {}
            Ok(false) => whole.push((o.hash.clone(), o.data_file.clone())),
            Err(e) => {
                tracing::warn!(peer = %node.ip, device = %node.device, error = %e, "delta failed");
                failed.push(o.hash.clone());
            }
        }
    }
    if !whole.is_empty() {
        failed.extend(send_files(ctx, node, layout, partition, &whole, &mut out.stats).await?);
    }
    for o in &offers {
        if !failed.contains(&o.hash) {
            let mut files = vec![o.data_file.clone()];
            files.extend(o.meta_files.iter().cloned());
            out.confirmed.push((o.hash.clone(), files));
        }
    }
    out.complete = failed.is_empty();
    Ok(out)
}

/// Streams whole files to the peer; returns the hashes whose files failed.
async fn send_files(
    ctx: &SyncCtx,
    node: &Node,
    layout: &DeviceLayout,
    partition: u32,
    files: &[(String, String)],
    stats: &mut Stats,
) -> Result<Vec<String>> {
    let (tx, b) = frames::channel(4);
    let paths: Vec<(String, String, PathBuf)> = files
        .iter()
        .map(|(h, f)| (h.clone(), f.clone(), layout.hash_dir(partition, h).join(f)))
        .collect();
    // A blocking thread reads the files and feeds the body.
    let reader =
        tokio::task::spawn_blocking(move || -> std::io::Result<(u64, u64, Vec<String>)> {
            use std::os::unix::fs::FileExt;
            let (mut bytes, mut sent) = (0u64, 0u64);
            let mut skipped = Vec::new();
            let mut buf = vec![0u8; 256 * 1024];
            for (hash, name, path) in paths {
                let Some(f) = send::open(&path)? else {
                    skipped.push(hash);
                    continue;
                };
                let head = format!("{hash} {name} {} {}\n", f.file_len, f.body_len);
                bytes += head.len() as u64;
                if tx.blocking_send(Ok(Bytes::from(head))).is_err() {
                    return Ok((bytes, sent, skipped));
                }
                let mut off = 0u64;
                while off < f.file_len {
                    let n = ((f.file_len - off) as usize).min(buf.len());
                    f.file.read_exact_at(&mut buf[..n], off)?;
                    off += n as u64;
                    bytes += n as u64;
                    if tx
                        .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                        .is_err()
                    {
                        return Ok((bytes, sent, skipped));
                    }
                }
                sent += 1;
            }
            Ok((bytes, sent, skipped))
        });
    let resp = ctx
        .client
        .send(
            &node.ip,
            node.port,
            request(node, layout.policy, partition, "files", b)?,
        )
        .await?;
    let status = resp.status();
    let answer = read_all(node, resp.into_body(), 16 << 20).await?;
    let (bytes, sent, mut failed) = reader
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))??;
    stats.bytes_sent += bytes;
    stats.bytes_received += answer.len() as u64;
    if status != StatusCode::OK {
        return Err(status_err(node, "files", status));
    }
    #[derive(serde::Deserialize)]
    struct Failure {
        hash: String,
    }
    #[derive(serde::Deserialize)]
    struct Summary {
        committed: u64,
        failed: Vec<Failure>,
    }
    let sum: Summary = serde_json::from_slice(&answer)
        .map_err(|e| protocol(node, format!("files answer: {e}")))?;
    if sum.committed + sum.failed.len() as u64 != sent {
        return Err(protocol(
            node,
            format!(
                "{sent} files sent, {} accounted for",
                sum.committed + sum.failed.len() as u64
            ),
        ));
    }
    stats.files_sent += sum.committed;
    failed.extend(sum.failed.into_iter().map(|f| f.hash));
    Ok(failed)
}

/// Sends one `.data` as a delta against the peer's `basis`. Ok(false): the
/// peer no longer has the basis (send it whole instead).
async fn send_delta(
    ctx: &SyncCtx,
    node: &Node,
    layout: &DeviceLayout,
    partition: u32,
    o: &Offer,
    (basis, basis_len): (&str, u64),
    stats: &mut Stats,
) -> Result<bool> {
    let path = layout.hash_dir(partition, &o.hash).join(&o.data_file);
    let Some(f) = tokio::task::spawn_blocking(move || send::open(&path))
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))??
    else {
        return Ok(true); // replaced meanwhile: the next pass offers the new one
    };
    let p = ctx.delta;
    let (tx, b) = frames::channel(2);
    let mut req = request(node, layout.policy, partition, "delta", b)?;
    let h = req.headers_mut();
    for (k, v) in [
        ("x-swirl-hash", o.hash.clone()),
        ("x-swirl-file", o.data_file.clone()),
        ("x-swirl-basis", basis.to_string()),
        ("x-swirl-file-length", f.file_len.to_string()),
        ("x-swirl-body-length", f.body_len.to_string()),
        ("x-swirl-delta-window", p.window.to_string()),
        ("x-swirl-delta-block", p.block.to_string()),
    ] {
        h.insert(k, v.parse().map_err(|_| protocol(node, "header"))?);
    }
    let resp = ctx.client.send(&node.ip, node.port, req).await?;
    if resp.status() == StatusCode::CONFLICT {
        return Ok(false);
    }
    if resp.status() != StatusCode::OK {
        return Err(status_err(node, "delta", resp.status()));
    }
    let mut sigs = BodyReader::new(resp.into_body());
    let max_sig = 64 + (p.window / p.block as usize + 1) * 16;
    let file = Arc::new(f.file);
    let mut hasher = blake3::Hasher::new();
    let mut sent = 0u64;
    let basis_windows = p.windows(basis_len);
    for i in 0..p.windows(f.file_len) {
        // The signature of basis window i, if the basis has one; past its
        // end the window goes literally.
        let mut pending_sig: Option<Bytes> = None;
        if i < basis_windows {
            match sigs
                .frame(max_sig)
                .await
                .map_err(|e| protocol(node, e.to_string()))?
            {
                Some((b'S', s)) => pending_sig = Some(s),
                Some((b'R', r)) => {
                    return Err(protocol(
                        node,
                        format!("delta refused: {}", String::from_utf8_lossy(&r)),
                    ))
                }
                Some((t, _)) => return Err(protocol(node, format!("unexpected frame {t}"))),
                None => return Err(protocol(node, "signature stream ended")),
            }
        }
        let file2 = file.clone();
        let sig = pending_sig.take();
        let (frame, window) = tokio::task::spawn_blocking(move || -> Result<(Bytes, Vec<u8>)> {
            let mut w = Vec::new();
            p.read_window(&file2, f.file_len, i, &mut w)?;
            let piece = delta::diff_window(sig.as_deref(), &w)?;
            Ok(match piece {
                Piece::Delta(d) => (frames::frame(b'D', &d), w),
                Piece::Literal => (frames::frame(b'L', &w), w),
            })
        })
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))??;
        hasher.update(&window);
        sent += frame.len() as u64;
        if tx.send(Ok(frame)).await.is_err() {
            return Err(protocol(node, "peer stopped reading the delta"));
        }
    }
    let end = frames::frame(b'E', hasher.finalize().to_hex().as_bytes());
    sent += end.len() as u64;
    let _ = tx.send(Ok(end)).await;
    drop(tx);
    // The rest of the signatures (a longer basis), then the outcome.
    let outcome = loop {
        match sigs
            .frame(max_sig.max(4096))
            .await
            .map_err(|e| protocol(node, e.to_string()))?
        {
            Some((b'S', _)) => continue,
            Some((b'R', r)) => break r,
            Some((t, _)) => return Err(protocol(node, format!("unexpected frame {t}"))),
            None => return Err(protocol(node, "delta answer ended without an outcome")),
        }
    };
    stats.bytes_sent += sent;
    stats.bytes_received += sigs.read;
    let v: serde_json::Value =
        serde_json::from_slice(&outcome).map_err(|e| protocol(node, e.to_string()))?;
    if v["ok"] != serde_json::Value::Bool(true) {
        return Err(protocol(node, format!("delta not applied: {}", v["error"])));
    }
    stats.deltas += 1;
    stats.delta_file_bytes += f.file_len;
    Ok(true)
}
