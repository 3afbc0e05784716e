//! The body of a large object (Swift's `SegmentedIterable` in
//! `swift/common/request_helpers.py`), shared by the dlo and slo middleware.
//! A manifest's middleware yields [`Piece`]s: inline bytes (SLO data
//! segments) or segment objects to read, each read as a sub-request of the
//! caller (`?multipart-manifest=get`, so a segment is never expanded itself).
//! Segments stream one after the other through a bounded channel; nothing is
//! buffered whole.
//!
//! As Swift: the first segment is opened before the response starts (a
//! missing or mismatching first segment is 409, a server error 503); a
//! segment whose ETag or size no longer matches the manifest, a whole
//! segment whose bytes do not hash to its ETag, or a GET running past
//! `max_get_time` cuts the body short after the first byte. Several ranges
//! are framed as `multipart/byteranges` around the concatenated bytes, as
//! swob's `multi_range_iterator` does.

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use http_body::Frame;
use http_body_util::BodyExt;
use swirl_common::body_md5::BodyMd5;
use swirl_common::conditional::normalize_etag;
use swirl_common::{ApiError, Body};
use tokio::sync::mpsc;

use crate::app::Ctx;
use crate::error::Error;
use crate::headers;
use crate::object_path::ObjectPath;
use crate::pipeline::{Next, Req};
use crate::response::Verified;
use crate::stream::{ChannelBody, CHANNEL_FRAMES};

/// A segment object to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRead {
    pub container: String,
    pub object: String,
    /// First byte wanted (None: from the start).
    pub first: Option<u64>,
    /// Last byte wanted, inclusive (None: to the end).
    pub last: Option<u64>,
    /// The ETag the manifest expects (SLO), checked against the response's.
    pub etag: Option<String>,
    /// The whole segment's size the manifest expects (SLO), checked on whole reads.
    pub size: Option<u64>,
}

/// One piece of a large object's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes held in the manifest itself.
    Data(Bytes),
    Read(SegmentRead),
}

/// Why a segment (or the listing of them) could not be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentError {
    /// A backend failed (5xx): 503 before the body starts.
    Server(String),
    /// Missing, forbidden or inconsistent: 409 before the body starts.
    Invalid(String),
}

impl std::fmt::Display for SegmentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SegmentError::Server(w) | SegmentError::Invalid(w) => f.write_str(w),
        }
    }
}

/// The pieces of one large object, in order (Swift's listing iterators).
pub trait Pieces: Send + Sync + 'static {
    /// The next piece, None at the end.
    fn next(&mut self) -> impl Future<Output = Result<Option<Piece>, SegmentError>> + Send;
}

/// The Range header of a segment read, if not the whole segment.
pub fn segment_range(first: Option<u64>, last: Option<u64>) -> Option<String> {
    let f = first.unwrap_or(0);
    match last {
        None if f == 0 => None,
        None => Some(format!("bytes={f}-")),
        Some(l) => Some(format!("bytes={f}-{l}")),
    }
}

/// Swift's `EventletRateLimiter` as `RateLimitedIterator` drives it: the
/// first `after` elements pass, then at most `per_sec` per second, with a
/// 5-second buffer for catching up. Times are milliseconds on any clock.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    after: u64,
    time_per_ms: f64,
    running_ms: f64,
}

const RATE_BUFFER_MS: f64 = 5000.0;

impl RateLimiter {
    pub fn new(after: u64, per_sec: u64) -> Self {
        RateLimiter {
            after,
            time_per_ms: if per_sec > 0 {
                1000.0 / per_sec as f64
            } else {
                0.0
            },
            running_ms: f64::NEG_INFINITY,
        }
    }

    /// How long to wait before the next element at `now_ms`.
    pub fn wait(&mut self, now_ms: f64) -> Option<Duration> {
        if self.after > 0 {
            self.after -= 1;
            return None;
        }
        if self.time_per_ms <= 0.0 {
            return None;
        }
        if now_ms - self.running_ms > RATE_BUFFER_MS {
            self.running_ms = now_ms;
        }
        let wait = self.running_ms - now_ms;
        self.running_ms += self.time_per_ms;
        (wait > 0.0).then(|| Duration::from_secs_f64(wait / 1000.0))
    }
}

/// swob's framing of several ranges (`multi_range_iterator`): each part is
/// `--<boundary>\r\nContent-Type: <type>\r\nContent-Range: bytes a-b/n\r\n\r\n`,
/// its bytes and `\r\n`; `--<boundary>--` ends the body.
#[derive(Debug, Clone)]
pub struct Multipart {
    boundary: String,
    content_type: String,
    total: u64,
    /// Half-open ranges.
    ranges: Vec<(u64, u64)>,
    /// The part being written and how many of its bytes are still due.
    part: usize,
    left: u64,
    started: bool,
}

impl Multipart {
    pub fn new(boundary: &str, content_type: &str, total: u64, ranges: Vec<(u64, u64)>) -> Self {
        Multipart {
            boundary: boundary.to_string(),
            content_type: content_type.to_string(),
            total,
            ranges,
            part: 0,
            left: 0,
            started: false,
        }
    }

    /// The response's Content-Type.
    pub fn content_type(&self) -> String {
        format!("multipart/byteranges;boundary={}", self.boundary)
    }

    fn part_head(&self, i: usize) -> String {
        let (a, b) = self.ranges[i];
        format!(
            "--{}\r\nContent-Type: {}\r\nContent-Range: bytes {}-{}/{}\r\n\r\n",
            self.boundary,
            self.content_type,
            a,
            b.saturating_sub(1),
            self.total
        )
    }

    /// The whole body's length, as swob's `_prepare_for_ranges` counts it.
    pub fn content_length(&self) -> u64 {
        let parts: u64 = (0..self.ranges.len())
            .map(|i| {
                let (a, b) = self.ranges[i];
                self.part_head(i).len() as u64 + (b - a) + 2
            })
            .sum();
        parts + self.boundary.len() as u64 + 4
    }

    /// Bytes of the data, in order; returns what to send, framing included.
    pub fn frame(&mut self, mut data: Bytes, out: &mut Vec<Bytes>) {
        while !data.is_empty() {
            if !self.started || self.left == 0 {
                if self.started {
                    out.push(Bytes::from_static(b"\r\n"));
                    self.part += 1;
                }
                if self.part >= self.ranges.len() {
                    return; // more bytes than the ranges hold: dropped
                }
                self.started = true;
                let (a, b) = self.ranges[self.part];
                self.left = b - a;
                out.push(Bytes::from(self.part_head(self.part)));
            }
            let n = (self.left as usize).min(data.len());
            out.push(data.split_to(n));
            self.left -= n as u64;
        }
    }

    /// The closing delimiter (after the last part's bytes).
    pub fn finish(&mut self) -> Bytes {
        let mut s = String::new();
        if self.started {
            s.push_str("\r\n");
        }
        s.push_str(&format!("--{}--", self.boundary));
        Bytes::from(s)
    }
}

/// An opened segment read.
struct Opened {
    name: String,
    body: Body,
    /// The ETag and length to check the bytes against (whole reads only).
    check: Option<(String, Option<u64>)>,
}

/// What is being sent.
enum Current {
    Data(Bytes),
    Segment(Opened),
}

/// The first piece, opened before the response is sent.
pub struct First(Option<Current>);

/// A large object's body: its pieces, read as the caller.
pub struct Segmented<P> {
    /// The pipeline below the large-object middleware.
    pub next: Next,
    /// The caller's identity for the segment reads (Swift's `make_subrequest`).
    pub sub: Ctx,
    pub account: String,
    /// The manifest's path, for messages and logs.
    pub manifest: String,
    /// "DLO" or "SLO", for logs.
    pub kind: &'static str,
    pub pieces: P,
}

impl<P: Pieces> Segmented<P> {
    /// Swift's `validate_first_segment`: opens the first piece, so that a
    /// first segment that cannot be read fails the request before any byte
    /// is sent: 503 when a backend failed, 409 otherwise.
    pub async fn first(&mut self) -> crate::error::Result<First> {
        match self.open_next().await {
            Ok(current) => Ok(First(current)),
            Err(SegmentError::Server(why)) => Err(Error::Unavailable(format!(
                "{} first segment: {why}",
                self.kind
            ))),
            Err(SegmentError::Invalid(why)) => {
                tracing::info!(txn = %self.sub.txn, kind = self.kind, %why, "first segment unusable");
                Err(Error::Conflict)
            }
        }
    }

    async fn open_next(&mut self) -> Result<Option<Current>, SegmentError> {
        match self.pieces.next().await? {
            None => Ok(None),
            Some(Piece::Data(d)) => Ok(Some(Current::Data(d))),
            Some(Piece::Read(r)) => self.open(r).await.map(|o| Some(Current::Segment(o))),
        }
    }

    async fn open(&self, seg: SegmentRead) -> Result<Opened, SegmentError> {
        let range = segment_range(seg.first, seg.last);
        let mut sub = self
            .sub
            .subrequest(Method::GET, Some("multipart-manifest=get".into()))
            .by(self.kind);
        if let Some(r) = &range {
            headers::set(&mut sub.headers, "range", r);
        }
        let path = ObjectPath::new(&self.account, seg.container, seg.object);
        let body = swirl_common::body::empty();
        let res = self.next.clone().run(Req::object(sub, &path, body)).await;
        let status = match &res {
            Ok(r) => r.status(),
            Err(e) => e.status(),
        };
        if !status.is_success() {
            let why = format!(
                "While processing manifest {}, got {} while retrieving {path}",
                self.manifest,
                status.as_u16()
            );
            return Err(if status.is_server_error() {
                SegmentError::Server(why)
            } else {
                SegmentError::Invalid(why)
            });
        }
        let resp = res.map_err(|e| SegmentError::Server(e.to_string()))?;
        let got_etag = headers::get(resp.headers(), "etag").map(|e| e.replace('"', ""));
        let got_len: Option<u64> =
            headers::get(resp.headers(), "content-length").and_then(|v| v.parse().ok());
        let etag_bad = seg
            .etag
            .as_deref()
            .is_some_and(|e| !e.is_empty() && got_etag.as_deref() != Some(e));
        let size_bad = seg
            .size
            .is_some_and(|s| s != 0 && range.is_none() && got_len != Some(s));
        if etag_bad || size_bad {
            return Err(SegmentError::Invalid(format!(
                "Object segment no longer valid: {path} etag: {} != {} or {} != {}.",
                got_etag.as_deref().unwrap_or("None"),
                seg.etag.as_deref().unwrap_or("None"),
                got_len.map_or("None".to_string(), |n| n.to_string()),
                seg.size.map_or("None".to_string(), |n| n.to_string()),
            )));
        }
        // Swift checks each whole segment's MD5 against its ETag; a body an
        // object server already verified against its stored digest needs no
        // second pass (it would triple the CPU of a large GET).
        let verified = resp.extensions().get::<Verified>().is_some();
        let check = match (&range, verified, &got_etag) {
            (None, false, Some(e)) => Some((normalize_etag(e).to_string(), got_len)),
            _ => None,
        };
        Ok(Opened {
            name: path.to_string(),
            body: resp.into_body(),
            check,
        })
    }

    /// The response body: `first`, then the other pieces, `expected` bytes
    /// of data in all (when known), framed when several ranges are served.
    pub fn stream(
        self,
        first: First,
        expected: Option<u64>,
        max_get: Duration,
        framing: Option<Multipart>,
    ) -> Body {
        let size = match &framing {
            Some(m) => Some(m.content_length()),
            None => expected,
        };
        let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
        tokio::spawn(self.run(first.0, tx, expected, max_get, framing));
        ChannelBody::new(rx, size).boxed()
    }

    /// Streams the pieces into `tx`; a failure after the first byte ends
    /// the body with an error, so the client's connection is cut short (it
    /// can tell the object is incomplete) as Swift's is.
    async fn run(
        mut self,
        first: Option<Current>,
        tx: mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>,
        expected: Option<u64>,
        max_get: Duration,
        mut framing: Option<Multipart>,
    ) {
        let started = Instant::now();
        let mut out = Out {
            tx: &tx,
            left: expected,
            framing: framing.as_mut(),
        };
        let mut current = first;
        let failure = loop {
            let Some(piece) = current.take() else {
                break match out.left {
                    Some(n) if n > 0 => Some(format!(
                        "Expected another {n} bytes for {}; closing connection",
                        self.manifest
                    )),
                    _ => None,
                };
            };
            let result = match piece {
                Current::Data(d) => out.send(d, "data segment").await,
                Current::Segment(seg) => out.segment(seg, started, max_get).await,
            };
            match result {
                Ok(()) => {}
                Err(Stop::Gone) => return, // the client went away
                Err(Stop::Broken(why)) => break Some(why),
            }
            if started.elapsed() > max_get {
                break Some(format!(
                    "While processing manifest {}, max LO GET time of {}s exceeded",
                    self.manifest,
                    max_get.as_secs()
                ));
            }
            current = match self.open_next().await {
                Ok(n) => n,
                Err(e) => break Some(e.to_string()),
            };
        };
        if let Some(why) = failure {
            tracing::warn!(txn = %self.sub.txn, %why, kind = self.kind, "large object GET cut short");
            let _ = tx.send(Err(std::io::Error::other(why))).await;
            return;
        }
        if let Some(m) = framing.as_mut() {
            let _ = tx.send(Ok(Frame::data(m.finish()))).await;
        }
    }
}

/// Why sending stopped.
enum Stop {
    Gone,
    Broken(String),
}

/// The client side of a large-object GET: byte counting and framing.
struct Out<'a> {
    tx: &'a mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>,
    /// Data bytes still due, when known.
    left: Option<u64>,
    framing: Option<&'a mut Multipart>,
}

impl Out<'_> {
    /// Sends data bytes (never more than are due).
    async fn send(&mut self, data: Bytes, from: &str) -> Result<(), Stop> {
        let mut broken = None;
        let data = match self.left.as_mut() {
            Some(n) if (data.len() as u64) > *n => {
                let keep = data.slice(..*n as usize);
                broken = Some(format!(
                    "Too many bytes; truncating in {from} with {} bytes left",
                    data.len() as u64 - *n
                ));
                *n = 0;
                keep
            }
            Some(n) => {
                *n -= data.len() as u64;
                data
            }
            None => data,
        };
        let mut chunks = Vec::new();
        match self.framing.as_deref_mut() {
            Some(m) => m.frame(data, &mut chunks),
            None => chunks.push(data),
        }
        for c in chunks {
            if !c.is_empty() && self.tx.send(Ok(Frame::data(c))).await.is_err() {
                return Err(Stop::Gone);
            }
        }
        match broken {
            Some(why) => Err(Stop::Broken(why)),
            None => Ok(()),
        }
    }

    /// Sends one segment's body, checking its bytes when it is whole.
    async fn segment(
        &mut self,
        mut seg: Opened,
        started: Instant,
        max_get: Duration,
    ) -> Result<(), Stop> {
        let mut md5 = seg.check.as_ref().map(|_| BodyMd5::new());
        let mut got: u64 = 0;
        while let Some(frame) = seg.body.frame().await {
            let data = match frame.map(Frame::into_data) {
                Ok(Ok(d)) => d,
                Ok(Err(_)) => continue,
                Err(e) => return Err(Stop::Broken(format!("reading {}: {e}", seg.name))),
            };
            got += data.len() as u64;
            if let Some(m) = md5.as_mut() {
                m.update(&data);
            }
            self.send(data, &seg.name).await?;
            if started.elapsed() > max_get {
                return Err(Stop::Broken(format!(
                    "max LO GET time of {}s exceeded",
                    max_get.as_secs()
                )));
            }
        }
        if let (Some(m), Some((etag, length))) = (md5, &seg.check) {
            let digest = m.hex();
            if length.is_some_and(|l| l != got) {
                return Err(Stop::Broken(format!(
                    "Bad response length for {}: headers had {}, but response length was actually {got}",
                    seg.name,
                    length.unwrap_or(0)
                )));
            }
            if digest != *etag {
                return Err(Stop::Broken(format!(
                    "Bad MD5 checksum for {}: headers had {etag}, but object MD5 was actually {digest}",
                    seg.name
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_ranges() {
        assert_eq!(segment_range(None, None), None);
        assert_eq!(segment_range(Some(0), None), None);
        assert_eq!(segment_range(Some(2), None).as_deref(), Some("bytes=2-"));
        assert_eq!(segment_range(None, Some(0)).as_deref(), Some("bytes=0-0"));
        assert_eq!(
            segment_range(Some(3), Some(9)).as_deref(),
            Some("bytes=3-9")
        );
    }

    #[test]
    fn rate_limit_after_n_segments() {
        let mut r = RateLimiter::new(2, 1);
        assert_eq!(r.wait(0.0), None);
        assert_eq!(r.wait(0.0), None);
        assert_eq!(r.wait(0.0), None); // the first limited one passes
        assert_eq!(r.wait(0.0), Some(Duration::from_secs(1)));
        assert_eq!(r.wait(1500.0), Some(Duration::from_millis(500)));
        // Idle longer than the buffer: no catching-up burst, no wait.
        assert_eq!(r.wait(100_000.0), None);
        let mut off = RateLimiter::new(0, 0);
        assert!((0..100).all(|_| off.wait(0.0).is_none()));
    }

    /// The framed body of `data` split into `pieces` for `ranges` of a
    /// `total`-byte object.
    fn framed(ranges: Vec<(u64, u64)>, total: u64, data: &[u8], pieces: &[usize]) -> String {
        let mut m = Multipart::new("b0", "text/plain", total, ranges);
        let mut out = Vec::new();
        let mut at = 0;
        for p in pieces {
            m.frame(Bytes::copy_from_slice(&data[at..at + p]), &mut out);
            at += p;
        }
        out.push(m.finish());
        let body: Vec<u8> = out.concat();
        assert_eq!(body.len() as u64, m.content_length());
        String::from_utf8(body).unwrap()
    }

    #[test]
    fn multipart_framing_like_swob() {
        let want = "--b0\r\nContent-Type: text/plain\r\nContent-Range: bytes 1-3/10\r\n\r\nabc\r\n\
                    --b0\r\nContent-Type: text/plain\r\nContent-Range: bytes 7-8/10\r\n\r\nde\r\n--b0--";
        // However the bytes arrive, the frame is the same.
        for pieces in [&[5][..], &[1, 4], &[3, 2], &[1, 1, 1, 1, 1]] {
            assert_eq!(framed(vec![(1, 4), (7, 9)], 10, b"abcde", pieces), want);
        }
        let m = Multipart::new("xyz", "a/b", 5, vec![(0, 1)]);
        assert_eq!(m.content_type(), "multipart/byteranges;boundary=xyz");
    }
}
