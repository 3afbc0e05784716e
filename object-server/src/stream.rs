//! Streaming bodies out of object files: a blocking reader thread per
//! response feeds a bounded channel (a few chunks: memory per request stays at
//! a few MiB whatever the object size), and the response body drains it.
//!
//! A file with block digests is read a piece (a few whole blocks) at a time,
//! and every block is checked before any byte of it is sent, ranges
//! included. On a mismatch the file goes to quarantine and the body ends in
//! an error right after the last good byte, so the proxy carries on from
//! another replica at exactly that byte: no byte that failed its check
//! leaves this server.
//!
//! A file written before block digests is checked only on whole reads,
//! against its whole-body blake3 at the end; the last chunk is held back
//! until the digest matches, so a client never receives a complete (and so
//! trusted) copy of corrupt data. Its ranges go unchecked.

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

/// Responses of this many bytes and more read their blocks with O_DIRECT
/// (`DataFile::use_direct`): the size from which PUTs write that way.
const DIRECT_READ_MIN: u64 = swirl_store::object::direct_write::MIN_BODY;

/// Bytes per direct read: the device waits on each, so fewer, larger ones
/// (a response then holds at most CHANNEL_CHUNKS + 1 of them).
const DIRECT_PIECE: usize = 1 << 20;

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

/// How the reader thread checks what it sends.
#[derive(Debug, Clone)]
pub enum Check {
    /// Each block before it is sent (a file with block digests).
    Blocks,
    /// The whole body against this blake3 at the end (an older file, read
    /// whole).
    Whole(String),
    /// Nothing (a range of an older file).
    Unchecked,
}

/// Streams `segments` of `obj` (`total` bytes in all) from a blocking thread.
pub fn file_body(
    mut obj: OpenObject,
    segments: Vec<Segment>,
    total: u64,
    chunk: usize,
    check: Check,
    stats: Arc<Stats>,
) -> Body {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    tokio::task::spawn_blocking(move || {
        let out = Out { tx: &tx, stats };
        match check {
            Check::Blocks => {
                // Large reads go around the page cache, in larger pieces
                // (each one read waits on the device).
                let piece = if total >= DIRECT_READ_MIN && obj.data.use_direct() {
                    chunk.max(DIRECT_PIECE)
                } else {
                    chunk
                };
                read_blocks(&obj, &segments, piece as u64, &out)
            }
            Check::Whole(b) => read_segments(&obj, &segments, chunk, Some(b), &out),
            Check::Unchecked => read_segments(&obj, &segments, chunk, None, &out),
        }
    });
    ChannelBody {
        rx,
        remaining: total,
    }
    .boxed()
}

/// Where the reader thread sends the body.
struct Out<'a> {
    tx: &'a mpsc::Sender<io::Result<Bytes>>,
    stats: Arc<Stats>,
}

impl Out<'_> {
    /// Sends bytes; false once the response is gone.
    fn send(&self, b: Bytes) -> bool {
        self.tx.blocking_send(Ok(b)).is_ok()
    }

    fn fail(&self, e: io::Error) {
        let _ = self.tx.blocking_send(Err(e));
    }

    /// Quarantines `obj` and ends the body in an error.
    fn corrupt(&self, obj: &OpenObject, why: &str) {
        self.stats.quarantined.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = obj.quarantine(why) {
            warn!(error = %e, "quarantine failed");
        }
        self.fail(io::Error::new(
            io::ErrorKind::InvalidData,
            "object failed its integrity check; quarantined",
        ));
    }
}

/// Sends `segments`, reading and checking whole blocks a piece at a time.
fn read_blocks(obj: &OpenObject, segments: &[Segment], chunk: u64, out: &Out) {
    let Some(blocks) = obj.data.blocks() else {
        out.fail(io::Error::other("no block digests"));
        return;
    };
    for seg in segments {
        let (start, end) = match seg {
            Segment::Literal(b) => {
                if !out.send(b.clone()) {
                    return;
                }
                continue;
            }
            Segment::File { start, end } => (*start, *end),
        };
        let mut pos = start;
        while pos < end {
            let piece_end = blocks.piece_end(pos, end, chunk);
            let c = match obj.data.read_checked(pos, piece_end) {
                Ok(c) => c,
                Err(e) => return out.fail(e),
            };
            if !c.good.is_empty() && !out.send(c.buf.slice(c.good)) {
                return;
            }
            if let Some(bad) = c.corrupt {
                return out.corrupt(obj, &bad.why);
            }
            pos = piece_end;
        }
    }
}

/// Sends `segments` as read; with `whole`, checks the body's blake3 at the
/// end and holds the last chunk back until it matches.
fn read_segments(
    obj: &OpenObject,
    segments: &[Segment],
    chunk: usize,
    whole: Option<String>,
    out: &Out,
) {
    let mut hasher = whole.as_ref().map(|_| blake3::Hasher::new());
    let mut held: Option<Bytes> = None;
    let mut emit = |b: Bytes, hasher: &mut Option<blake3::Hasher>, is_file: bool| -> bool {
        if is_file {
            if let Some(h) = hasher.as_mut() {
                h.update(&b);
            }
        }
        match held.replace(b) {
            Some(prev) => out.send(prev),
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
                            return out.fail(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "object file shorter than its metadata says",
                            ));
                        }
                        Ok(got) => {
                            buf.truncate(got);
                            off += got as u64;
                            if !emit(Bytes::from(buf), &mut hasher, true) {
                                return;
                            }
                        }
                        Err(e) => return out.fail(e),
                    }
                }
            }
        }
    }
    if let (Some(h), Some(want)) = (hasher, whole) {
        if h.finalize().to_hex().as_str() != want {
            return out.corrupt(obj, "blake3 mismatch on read");
        }
    }
    if let Some(last) = held {
        out.send(last);
    }
}

/// Reads a whole small body at once (one blocking call; used when the object
/// fits in one chunk), checked against the body's stored blake3. Returns
/// `None` when it does not match (the object has then been quarantined).
pub fn read_whole_small(obj: &OpenObject, stats: &Stats) -> io::Result<Option<Bytes>> {
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
    if let Some(want) = &obj.blake3 {
        if blake3::hash(&buf).to_hex().as_str() != want {
            stats.quarantined.fetch_add(1, Ordering::Relaxed);
            obj.quarantine("blake3 mismatch on read")?;
            return Ok(None);
        }
    }
    Ok(Some(Bytes::from(buf)))
}
