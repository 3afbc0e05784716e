//! Streaming bodies out of object files: a blocking reader thread per
//! response feeds a bounded channel (a few chunks: memory per request stays at
//! a few MiB whatever the object size), and the response body drains it.
//!
//! Whole-object reads are checked against the blake3 digest stored at write
//! time. The last chunk is held back until the digest matches: on a mismatch
//! the file goes to quarantine and the body ends in an error instead, so the
//! client never receives a complete (and so trusted) copy of corrupt data.

use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use swirl_common::Body;
use swirl_store::object::OpenObject;
use tokio::sync::mpsc;
use tracing::warn;

use crate::Stats;

/// Chunks buffered between the reader thread and the socket.
const CHANNEL_CHUNKS: usize = 4;

/// One piece of a response body.
#[derive(Debug, Clone)]
pub enum Segment {
    /// Bytes made here (multipart headers).
    Literal(Bytes),
    /// Body bytes `[start, end)` of the object.
    File { start: u64, end: u64 },
}

/// A body fed by a channel, with a known length.
struct ChannelBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    remaining: u64,
}

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(b))) => {
                self.remaining = self.remaining.saturating_sub(b.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0 && self.rx.is_closed() && self.rx.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// What the reader thread checks at the end of a whole read.
pub struct Verify {
    pub blake3: String,
    pub stats: Arc<Stats>,
}

/// Streams `segments` of `obj` (`total` bytes in all) from a blocking thread.
pub fn file_body(
    obj: OpenObject,
    segments: Vec<Segment>,
    total: u64,
    chunk: usize,
    verify: Option<Verify>,
) -> Body {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    tokio::task::spawn_blocking(move || read_segments(&obj, &segments, chunk, verify, &tx));
    ChannelBody {
        rx,
        remaining: total,
    }
    .boxed()
}

fn read_segments(
    obj: &OpenObject,
    segments: &[Segment],
    chunk: usize,
    verify: Option<Verify>,
    tx: &mpsc::Sender<io::Result<Bytes>>,
) {
    let mut hasher = verify.as_ref().map(|_| blake3::Hasher::new());
    let mut held: Option<Bytes> = None;
    let mut emit = |b: Bytes, hasher: &mut Option<blake3::Hasher>, is_file: bool| -> bool {
        if is_file {
            if let Some(h) = hasher.as_mut() {
                h.update(&b);
            }
        }
        match held.replace(b) {
            Some(prev) => tx.blocking_send(Ok(prev)).is_ok(),
            None => true,
        }
    };
    for seg in segments {
        match seg {
            Segment::Literal(b) => {
                if !emit(b.clone(), &mut hasher, false) {
                    return;
                }
            }
            Segment::File { start, end } => {
                let mut off = *start;
                while off < *end {
                    let n = ((*end - off) as usize).min(chunk);
                    let mut buf = vec![0u8; n];
                    match obj.read_at(&mut buf, off) {
                        Ok(0) => {
                            let _ = tx.blocking_send(Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "object file shorter than its metadata says",
                            )));
                            return;
                        }
                        Ok(got) => {
                            buf.truncate(got);
                            off += got as u64;
                            if !emit(Bytes::from(buf), &mut hasher, true) {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = tx.blocking_send(Err(e));
                            return;
                        }
                    }
                }
            }
        }
    }
    if let (Some(h), Some(v)) = (hasher, verify) {
        let got = h.finalize().to_hex().to_string();
        if got != v.blake3 {
            v.stats.quarantined.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = obj.quarantine("blake3 mismatch on read") {
                warn!(error = %e, "quarantine failed");
            }
            let _ = tx.blocking_send(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "object failed its integrity check; quarantined",
            )));
            return;
        }
    }
    if let Some(last) = held {
        let _ = tx.blocking_send(Ok(last));
    }
}

/// Reads a whole small body at once (one blocking call; used when the object
/// fits in one chunk). Returns `None` when the digest does not match (the
/// object has then been quarantined).
pub fn read_whole_small(obj: &OpenObject, verify: Option<&Verify>) -> io::Result<Option<Bytes>> {
    let mut buf = vec![0u8; obj.body_len as usize];
    let mut off = 0usize;
    while off < buf.len() {
        let n = obj.read_at(&mut buf[off..], off as u64)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "object file shorter than its metadata says",
            ));
        }
        off += n;
    }
    if let Some(v) = verify {
        if blake3::hash(&buf).to_hex().as_str() != v.blake3 {
            v.stats.quarantined.fetch_add(1, Ordering::Relaxed);
            obj.quarantine("blake3 mismatch on read")?;
            return Ok(None);
        }
    }
    Ok(Some(Bytes::from(buf)))
}
