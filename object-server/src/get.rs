//! GET and HEAD: conditional requests, single and multi-range reads, expiry,
//! and Swift's backend headers (X-Backend-Timestamp, -Data-Timestamp, ...).
//! Objects up to one chunk are read (and verified) in the same blocking call
//! that opens them; larger ones stream from a reader thread that checks each
//! block before sending it (`stream`).

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use rand::Rng;
use swirl_common::conditional::Conditions;
use swirl_common::range::{self, content_range};
use swirl_common::{body, Body, Timestamp};
use swirl_store::object::{ObjectRef, OpenObject, Opened};

use crate::error::{Error, Result};
use crate::handler::{add_header, blocking};
use crate::headers::{self, value};
use crate::stream::{self, Check, Segment};
use crate::Server;

/// Response header: the whole body is verified against its stored digest
/// while it is sent.
pub const READ_VERIFIED: &str = "x-backend-read-verified";

/// What the blocking open found.
enum Found {
    Missing(Option<Timestamp>),
    Expired(Timestamp),
    Exists(Box<OpenObject>, Option<Bytes>),
}

fn is_expired(f: &OpenObject, now: Timestamp) -> bool {
    f.delete_at().is_some_and(|d| (d as f64) <= now.as_f64())
}

pub async fn handle(
    s: Arc<Server>,
    req: Request<Incoming>,
    obj: ObjectRef,
    head: bool,
) -> Result<Response<Body>> {
    let h = req.headers();
    let req_ts = headers::timestamp_or_now(h)?;
    let replication = headers::is_true(h, "x-backend-replication");
    let conds = Conditions::from_headers(h);
    let etag_is_at = headers::name_list(h, "x-backend-etag-is-at");
    let range = if head {
        None
    } else {
        value(h, "range").and_then(|v| range::parse(&v))
    };
    // Swift's X-Backend-Ignore-Range-If-Metadata-Present: the proxy wants the
    // whole object (and its headers) when it carries one of these, e.g. a
    // DLO manifest's X-Object-Manifest.
    let ignore_range = headers::name_list(h, "x-backend-ignore-range-if-metadata-present");
    let chunk = s.cfg.disk_chunk_size;
    let s2 = s.clone();
    let found = blocking(move || {
        s2.store.check_device(&obj.device)?;
        Ok(match s2.store.open(&obj)? {
            Opened::Missing | Opened::Quarantined(_) => Found::Missing(None),
            Opened::Deleted(ts) => Found::Missing(Some(ts)),
            Opened::Exists(f) => {
                if !replication && is_expired(&f, req_ts) {
                    Found::Expired(f.timestamp)
                } else if !head && f.body_len as usize <= chunk {
                    match stream::read_whole_small(&f, &s2.stats)
                        .map_err(|e| Error::Store(e.into()))?
                    {
                        Some(b) => Found::Exists(f, Some(b)),
                        None => Found::Missing(None),
                    }
                } else {
                    Found::Exists(f, None)
                }
            }
        })
    })
    .await?;
    let (f, small) = match found {
        Found::Missing(ts) => return not_found(ts, &conds),
        Found::Expired(ts) => return not_found(Some(ts), &conds),
        Found::Exists(f, small) => (f, small),
    };
    let range = range.filter(|_| {
        !f.metadata
            .keys()
            .any(|k| ignore_range.contains(&k.to_ascii_lowercase()))
    });
    let alt = conditional_etag(&f, &etag_is_at);
    respond(&s, *f, small, &conds, alt, range, head)
}

/// Swift's `resolve_etag_is_at_header`: the first of the names the proxy
/// lists (X-Backend-Etag-Is-At) that the object's metadata has holds the
/// ETag conditional requests compare with (an SLO manifest's, say).
fn conditional_etag(f: &OpenObject, names: &[String]) -> Option<String> {
    names.iter().find_map(|n| {
        f.metadata
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    })
}

fn not_found(ts: Option<Timestamp>, conds: &Conditions) -> Result<Response<Body>> {
    if conds.check(None, None, false) == Some(412) {
        // A conditional answer has no body (swob's `_response_iter`).
        let mut r = Response::new(body::empty());
        *r.status_mut() = StatusCode::PRECONDITION_FAILED;
        add_header(&mut r, "content-type", "text/html; charset=UTF-8");
        add_header(&mut r, "content-length", "0");
        if let Some(ts) = ts {
            add_header(&mut r, "x-backend-timestamp", &ts.internal());
        }
        return Ok(r);
    }
    Err(Error::NotFound {
        backend_timestamp: ts,
    })
}

/// The object's headers, as Swift's GET/HEAD sends them.
fn object_headers(s: &Server, f: &OpenObject, r: &mut Response<Body>) {
    let md = &f.metadata;
    let ctype = md
        .get("Content-Type")
        .map(String::as_str)
        .unwrap_or("application/octet-stream");
    add_header(r, "content-type", ctype);
    for (k, v) in md {
        let lower = k.to_ascii_lowercase();
        if headers::is_object_meta(&lower) || s.cfg.allowed_headers.contains(&lower) {
            add_header(r, k, v);
        }
    }
    if let Some(etag) = md.get("ETag") {
        add_header(r, "etag", &format!("\"{etag}\""));
    }
    add_header(r, "last-modified", &f.timestamp.http_date());
    add_header(r, "x-timestamp", &f.timestamp.normal());
    add_header(r, "x-backend-timestamp", &f.timestamp.internal());
    add_header(r, "x-backend-data-timestamp", &f.data_timestamp.internal());
    add_header(
        r,
        "x-backend-durable-timestamp",
        &f.data_timestamp.internal(),
    );
    add_header(r, "content-length", &f.body_len.to_string());
}

#[allow(clippy::too_many_arguments)]
fn respond(
    s: &Server,
    f: OpenObject,
    small: Option<Bytes>,
    conds: &Conditions,
    conditional_etag: Option<String>,
    range: Option<range::RangeHeader>,
    head: bool,
) -> Result<Response<Body>> {
    let size = f.body_len;
    let mut r = Response::new(body::empty());
    object_headers(s, &f, &mut r);
    let etag = conditional_etag.or_else(|| f.metadata.get("ETag").cloned());
    if let Some(code) = conds.check(etag.as_deref(), Some(f.timestamp.ceil_secs()), true) {
        *r.status_mut() = StatusCode::from_u16(code).map_err(|e| Error::Internal(e.to_string()))?;
        add_header(&mut r, "content-length", "0");
        return Ok(r);
    }
    if head {
        return Ok(r);
    }
    let ctype = f
        .metadata
        .get("Content-Type")
        .cloned()
        .unwrap_or_else(|| "application/octet-stream".into());
    let ranges = range.map(|rh| rh.ranges_for_length(size));
    let (status, segments, total) = match ranges {
        Some(rs) if rs.is_empty() => {
            let text = "<html><h1>Requested Range Not Satisfiable</h1><p>The Range requested is not available.</p></html>";
            *r.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            add_header(&mut r, "content-range", &format!("bytes */{size}"));
            add_header(&mut r, "content-length", &text.len().to_string());
            *r.body_mut() = body::full(text);
            return Ok(r);
        }
        Some(rs) if size > 0 && rs.len() == 1 => {
            let (a, b) = rs[0];
            add_header(&mut r, "content-range", &content_range(a, b, size));
            (
                StatusCode::PARTIAL_CONTENT,
                vec![Segment::File { start: a, end: b }],
                b - a,
            )
        }
        Some(rs) if size > 0 => {
            let boundary = format!("{:032x}", rand::rng().random::<u128>());
            let mut segs = Vec::new();
            let mut total = 0u64;
            for (a, b) in rs {
                let head = format!(
                    "--{boundary}\r\nContent-Type: {ctype}\r\nContent-Range: {}\r\n\r\n",
                    content_range(a, b, size)
                );
                total += head.len() as u64 + (b - a) + 2;
                segs.push(Segment::Literal(Bytes::from(head)));
                segs.push(Segment::File { start: a, end: b });
                segs.push(Segment::Literal(Bytes::from_static(b"\r\n")));
            }
            let tail = format!("--{boundary}--");
            total += tail.len() as u64;
            segs.push(Segment::Literal(Bytes::from(tail)));
            add_header(
                &mut r,
                "content-type",
                &format!("multipart/byteranges;boundary={boundary}"),
            );
            (StatusCode::PARTIAL_CONTENT, segs, total)
        }
        _ => (
            StatusCode::OK,
            vec![Segment::File {
                start: 0,
                end: size,
            }],
            size,
        ),
    };
    *r.status_mut() = status;
    add_header(&mut r, "content-length", &total.to_string());
    if status == StatusCode::OK && f.blake3.is_some() {
        // This body is checked against its stored digests as it is read (a
        // mismatch cuts it short), so a proxy need not check its MD5.
        add_header(&mut r, READ_VERIFIED, "blake3");
    }
    *r.body_mut() = match small {
        Some(bytes) => {
            let mut out = BytesMut::with_capacity(total as usize);
            for seg in &segments {
                match seg {
                    Segment::Literal(b) => out.extend_from_slice(b),
                    Segment::File { start, end } => {
                        out.extend_from_slice(&bytes[*start as usize..*end as usize])
                    }
                }
            }
            body::full(out.freeze())
        }
        None => {
            // Block digests check any range; an older file's whole-body
            // digest only a whole read.
            let check = match &f.blake3 {
                _ if f.data.checks_blocks() => Check::Blocks,
                Some(b) if status == StatusCode::OK => Check::Whole(b.clone()),
                _ => Check::Unchecked,
            };
            let chunk = s.cfg.disk_chunk_size;
            stream::file_body(f, segments, total, chunk, check, s.stats.clone())
        }
    };
    Ok(r)
}
