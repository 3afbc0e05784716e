//! PUT: Swift's checks (X-Timestamp, lengths, name, Content-Type, metadata,
//! X-Delete-At), If-None-Match, the 409 for older writes, then the body:
//! streamed through MD5 and blake3 into a temp file and committed durably,
//! ETag checked (422), the expirer queue updated when X-Delete-At changed,
//! and the container told. A swirl proxy may send the
//! body's MD5 and blake3 as trailers (`swirl_common::digest_trailer`): then
//! only blake3 runs here, and a mismatch is the same 422.
//!
//! A body that fits in one chunk is checked and written by one blocking call; a larger
//! one goes through a bounded channel to a blocking writer thread, so memory
//! per request stays at a few chunks. Checks that need the disk run before the
//! body is read, so `Expect: 100-continue` clients are refused before they send it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use swirl_common::backend_headers as bh;
use swirl_common::conditional::{normalize_etag, MatchList};
use swirl_common::constraints::MAX_FILE_SIZE;
use swirl_common::digest_trailer::{self, Digests};
use swirl_common::{Body, Timestamp};
use swirl_store::object::{Metadata, ObjectRef, ObjectWriter, Opened};
use tokio::sync::mpsc;

use crate::container_update;
use crate::delete_at_update;
use crate::error::{Error, Result};
use crate::handler::{add_header, blocking, status};
use crate::headers::{self, value, BodyLength};
use crate::Server;

/// Chunks queued between the socket and the writer thread.
const CHANNEL_CHUNKS: usize = 4;

/// Body frames gathered for one write, as received.
#[derive(Default)]
struct Frames {
    parts: Vec<Bytes>,
    /// Their bytes in all.
    len: usize,
}

impl Frames {
    fn push(&mut self, d: Bytes) {
        self.len += d.len();
        self.parts.push(d);
    }

    /// The frames gathered so far, leaving none.
    fn take(&mut self) -> Vec<Bytes> {
        self.len = 0;
        std::mem::take(&mut self.parts)
    }
}

/// What the write needs to finish once the body is in.
struct Finish {
    md: Metadata,
    ts: Timestamp,
    fsize: Option<u64>,
    client_etag: Option<String>,
    /// The sender promised its digests as trailers (`digest_trailer`).
    trailer: bool,
}

/// Checks size and ETag (or, with digest trailers, blake3), then commits.
/// Runs on a blocking thread.
fn finish(w: ObjectWriter, mut f: Finish, trailers: Option<HeaderMap>) -> Result<(String, u64)> {
    let size = w.size();
    if f.fsize.is_some_and(|n| n != size) {
        return Err(Error::ClientDisconnect(format!(
            "got {size} bytes of {:?}",
            f.fsize
        )));
    }
    let etag = if f.trailer {
        let d = Digests::from_trailers(trailers.as_ref()).map_err(Error::BadRequest)?;
        if d.blake3 != w.blake3_hex() {
            // The bytes here are not the bytes the sender hashed.
            return Err(Error::EtagMismatch);
        }
        d.etag
    } else {
        w.etag().unwrap_or_default()
    };
    if f.client_etag.as_ref().is_some_and(|e| *e != etag) {
        return Err(Error::EtagMismatch);
    }
    f.md.set("Content-Length", size.to_string());
    f.md.set("ETag", etag.clone());
    w.commit(f.md, f.ts)?;
    Ok((etag, size))
}

/// The next data frame of the body, with the client timeout; trailers, if
/// the body ends with some, land in `trailers`.
async fn next_data(
    body: &mut Incoming,
    t: Duration,
    trailers: &mut Option<HeaderMap>,
) -> Result<Option<Bytes>> {
    loop {
        match tokio::time::timeout(t, body.frame()).await {
            Err(_) => return Err(Error::RequestTimeout),
            Ok(None) => return Ok(None),
            Ok(Some(Err(e))) => return Err(Error::ClientDisconnect(e.to_string())),
            Ok(Some(Ok(frame))) => match frame.into_data() {
                Ok(d) => return Ok(Some(d)),
                Err(frame) => {
                    if let Ok(t) = frame.into_trailers() {
                        *trailers = Some(t);
                    }
                }
            },
        }
    }
}

/// What is stored now: the timestamp a new write must beat, the ETag
/// If-None-Match compares (none when deleted or expired), and its
/// X-Delete-At (none when expired: its queue row is the expirer's).
struct Existing {
    ts: Timestamp,
    etag: Option<String>,
    delete_at: Option<u64>,
}

/// Reads [`Existing`]. Blocking.
fn existing(s: &Server, obj: &ObjectRef, ts: Timestamp) -> Result<Existing> {
    s.store.check_device(&obj.device)?;
    Ok(match s.store.open(obj)? {
        Opened::Exists(f) => {
            let expired = f.delete_at().is_some_and(|d| (d as f64) <= ts.as_f64());
            if expired {
                Existing {
                    ts: f.timestamp,
                    etag: None,
                    delete_at: None,
                }
            } else {
                Existing {
                    ts: f.data_timestamp,
                    etag: Some(f.metadata.get("ETag").cloned().unwrap_or_default()),
                    delete_at: f.delete_at(),
                }
            }
        }
        Opened::Deleted(t) => Existing {
            ts: t,
            etag: None,
            delete_at: None,
        },
        Opened::Missing | Opened::Quarantined(_) => Existing {
            ts: Timestamp::default(),
            etag: None,
            delete_at: None,
        },
    })
}

/// If-None-Match (412) and the newer-version rule (409) against `existing`;
/// gives back the stored X-Delete-At.
fn judge(e: Existing, if_none_match: Option<&MatchList>, ts: Timestamp) -> Result<Option<u64>> {
    if let (Some(m), Some(etag)) = (if_none_match, &e.etag) {
        if m.contains(etag) {
            return Err(Error::PreconditionFailed(None));
        }
    }
    if e.ts >= ts {
        return Err(Error::Conflict {
            backend_timestamp: Some(e.ts),
        });
    }
    Ok(e.delete_at)
}

/// The container update headers for a stored object (plus overrides).
fn update_headers(h: &HeaderMap, md: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, src) in [
        ("x-size", "Content-Length"),
        ("x-content-type", "Content-Type"),
        ("x-timestamp", "X-Timestamp"),
        ("x-etag", "ETag"),
    ] {
        out.insert(k.to_string(), md.get(src).cloned().unwrap_or_default());
    }
    // The sysmeta overrides (set by middleware) win over the backend ones.
    for prefix in [
        bh::CONTAINER_UPDATE_OVERRIDE,
        "x-object-sysmeta-container-update-override-",
    ] {
        for k in h.keys() {
            if let Some(rest) = k.as_str().strip_prefix(prefix) {
                if let Some(v) = value(h, k.as_str()) {
                    out.insert(format!("x-{rest}"), v);
                }
            }
        }
    }
    out
}

pub async fn handle(
    s: Arc<Server>,
    req: Request<Incoming>,
    obj: ObjectRef,
    txn: &str,
) -> Result<Response<Body>> {
    let (parts, mut body) = req.into_parts();
    let h = &parts.headers;
    let ts = headers::timestamp(h)?;
    let blen = headers::body_length(h)?;
    headers::check_object_creation(h, &obj.object)?;
    let delete_at = headers::delete_at(h, ts)?;
    let fsize = match blen {
        BodyLength::Known(n) => Some(n),
        BodyLength::Chunked => match value(h, bh::OBJ_CONTENT_LENGTH) {
            Some(v) => Some(
                v.trim()
                    .parse()
                    .map_err(|e: std::num::ParseIntError| Error::BadRequest(e.to_string()))?,
            ),
            None => None,
        },
    };
    let if_none_match = value(h, "if-none-match").map(|v| MatchList::parse(&v));
    let client_etag = value(h, "etag").map(|e| normalize_etag(&e).to_string());

    let mut md = Metadata::new();
    md.set("name", obj.name());
    md.set("X-Timestamp", ts.internal());
    md.set("Content-Type", value(h, "content-type").unwrap_or_default());
    for (k, v) in headers::stored_headers(h, &s.cfg.allowed_headers) {
        md.set(k, v);
    }
    if let Some(d) = delete_at {
        md.set("X-Delete-At", d.to_string());
    }
    let trailer = digest_trailer::requested(h);
    if trailer && blen != BodyLength::Chunked {
        return Err(Error::BadRequest(
            "digest trailers need a chunked body".into(),
        ));
    }
    let fin = Finish {
        md,
        ts,
        fsize,
        client_etag,
        trailer,
    };
    let mut trailers = None;
    let chunk = s.cfg.disk_chunk_size;
    let t = Duration::from_secs_f64(s.cfg.listen.client_timeout);

    // Checks that need the disk (device, If-None-Match, a newer version)
    // come before the body, so a client waiting on `Expect: 100-continue` is
    // refused before it sends it. A small body from a client that does not
    // wait is read first instead, and checked and written in one blocking
    // call: one thread hand-off per replica instead of two.
    let expects_continue =
        value(h, "expect").is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"));
    let eager = !expects_continue && fsize.is_some_and(|n| n <= chunk as u64);
    let mut orig_delete_at = None;
    if !eager {
        let (s2, o2) = (s.clone(), obj.clone());
        let orig = blocking(move || existing(&s2, &o2, ts)).await?;
        orig_delete_at = judge(orig, if_none_match.as_ref(), ts)?;
    }

    // Frames are kept as the socket delivered them, never copied into one
    // buffer: the writer hashes each and writes a batch with one writev.
    let mut total = 0u64;
    let mut first = Frames::default();
    let mut ended = false;
    while first.len < chunk {
        match next_data(&mut body, t, &mut trailers).await? {
            Some(d) => {
                total += d.len() as u64;
                if total > MAX_FILE_SIZE {
                    return Err(Error::TooLarge);
                }
                first.push(d);
            }
            None => {
                ended = true;
                break;
            }
        }
    }
    if eager && !ended {
        // More body than the length promised: the length check in `finish`
        // would refuse it anyway; refuse it before touching the disk.
        return Err(Error::ClientDisconnect(format!(
            "body longer than its length {fsize:?}"
        )));
    }
    let (s2, o2) = (s.clone(), obj.clone());
    let (etag, md_out) = if ended {
        let fin_md = fin.md.headers.clone();
        let (etag, size, orig) = blocking(move || {
            let orig = if eager {
                judge(existing(&s2, &o2, ts)?, if_none_match.as_ref(), ts)?
            } else {
                None
            };
            let mut w = s2.store.create(&o2, fsize)?;
            if trailer {
                w.skip_md5();
            }
            w.write_all_of(&first.parts)?;
            let (etag, size) = finish(w, fin, trailers)?;
            Ok((etag, size, orig))
        })
        .await?;
        if eager {
            orig_delete_at = orig;
        }
        let md_out = with_size(fin_md, size, &etag);
        (etag, md_out)
    } else {
        let (tx, mut rx) = mpsc::channel::<Vec<Bytes>>(CHANNEL_CHUNKS);
        let writer = tokio::task::spawn_blocking(move || -> Result<ObjectWriter> {
            let mut w = s2.store.create(&o2, fsize)?;
            if trailer {
                w.skip_md5();
            }
            while let Some(b) = rx.blocking_recv() {
                w.write_all_of(&b)?;
            }
            Ok(w)
        });
        let mut body_err = None;
        let mut buf = first;
        loop {
            if buf.len >= chunk && tx.send(buf.take()).await.is_err() {
                break; // the writer failed; its error is reported below
            }
            match next_data(&mut body, t, &mut trailers).await {
                Ok(Some(d)) => {
                    total += d.len() as u64;
                    if total > MAX_FILE_SIZE {
                        body_err = Some(Error::TooLarge);
                        break;
                    }
                    buf.push(d);
                }
                Ok(None) => {
                    if buf.len > 0 {
                        let _ = tx.send(buf.take()).await;
                    }
                    break;
                }
                Err(e) => {
                    body_err = Some(e);
                    break;
                }
            }
        }
        drop(tx);
        let w = writer
            .await
            .map_err(|e| Error::Internal(format!("writer task: {e}")))??;
        if let Some(e) = body_err {
            // Dropping the writer unlinks its temp file: do that off the async workers.
            let _ = tokio::task::spawn_blocking(move || drop(w)).await;
            return Err(e);
        }
        let fin_md = fin.md.headers.clone();
        let (etag, size) = blocking(move || finish(w, fin, trailers)).await?;
        let md_out = with_size(fin_md, size, &etag);
        (etag, md_out)
    };

    let referer = format!("PUT {}", parts.uri.path());
    delete_at_update::on_change(&s, orig_delete_at, delete_at, &obj, h, ts, &referer, txn).await;
    let upd = update_headers(h, &md_out);
    container_update::update(&s, h, &obj, "PUT", upd, referer, txn).await;

    let mut r = status(StatusCode::CREATED);
    add_header(&mut r, "etag", &format!("\"{etag}\""));
    // Tells a swirl proxy it may send digest trailers next time.
    add_header(&mut r, digest_trailer::HEADER, "yes");
    Ok(r)
}

/// The stored metadata as the container update needs it.
fn with_size(mut md: BTreeMap<String, String>, size: u64, etag: &str) -> BTreeMap<String, String> {
    md.insert("Content-Length".into(), size.to_string());
    md.insert("ETag".into(), etag.to_string());
    md
}
