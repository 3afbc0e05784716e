//! Reading a streamed HTTP body piece by piece (lines, raw bytes, tagged
//! frames) with a bound on what is held, and a channel-fed body to stream
//! one: what node-to-node protocols spoken inside one request (replication's
//! missing check, file batches and deltas) are made of.
//!
//! Frame: one tag byte, a u32 big-endian length, then that many bytes.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body as HttpBody, Frame};
use http_body_util::BodyExt;
use tokio::sync::mpsc;

use crate::body::Body;

/// Encodes one frame.
pub fn frame(tag: u8, payload: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + payload.len());
    b.extend_from_slice(&[tag]);
    b.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    b.extend_from_slice(payload);
    b.freeze()
}

fn invalid(m: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, m.into())
}

/// Reads from a body with a small buffer.
pub struct BodyReader<B> {
    body: B,
    buf: BytesMut,
    done: bool,
    /// Bytes taken from the body so far.
    pub read: u64,
}

impl<B> BodyReader<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    pub fn new(body: B) -> Self {
        BodyReader {
            body,
            buf: BytesMut::new(),
            done: false,
            read: 0,
        }
    }

    /// Pulls one more chunk into the buffer; false at the end of the body.
    async fn fill(&mut self) -> io::Result<bool> {
        while !self.done {
            match self.body.frame().await {
                None => self.done = true,
                Some(Err(e)) => return Err(io::Error::other(format!("reading body: {e}"))),
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        if !d.is_empty() {
                            self.read += d.len() as u64;
                            self.buf.extend_from_slice(&d);
                            return Ok(true);
                        }
                    }
                }
            }
        }
        Ok(false)
    }

    /// The next line without its newline (None at a clean end), at most `max` bytes.
    pub async fn line(&mut self, max: usize) -> io::Result<Option<String>> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let l = self.buf.split_to(i + 1);
                let s = std::str::from_utf8(&l[..i]).map_err(|_| invalid("line is not UTF-8"))?;
                return Ok(Some(s.trim_end_matches('\r').to_string()));
            }
            if self.buf.len() > max {
                return Err(invalid(format!("line longer than {max} bytes")));
            }
            if !self.fill().await? {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(invalid("body ended inside a line"));
            }
        }
    }

    /// Up to `max` bytes (at least one), for streaming a known length on.
    pub async fn some(&mut self, max: usize) -> io::Result<Bytes> {
        if self.buf.is_empty() && !self.fill().await? {
            return Err(invalid("body ended early"));
        }
        let n = self.buf.len().min(max);
        Ok(self.buf.split_to(n).freeze())
    }

    /// The next frame (None at a clean end); payloads over `max` are refused.
    pub async fn frame(&mut self, max: usize) -> io::Result<Option<(u8, Bytes)>> {
        while self.buf.len() < 5 {
            if !self.fill().await? {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(invalid("body ended inside a frame header"));
            }
        }
        let tag = self.buf[0];
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if len > max {
            return Err(invalid(format!(
                "frame of {len} bytes, at most {max} allowed"
            )));
        }
        while self.buf.len() < 5 + len {
            if !self.fill().await? {
                return Err(invalid("body ended inside a frame"));
            }
        }
        self.buf.advance(5);
        Ok(Some((tag, self.buf.split_to(len).freeze())))
    }
}

/// A body fed through a bounded channel (the sender waits when the peer reads slowly).
pub struct ChannelBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
}

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

/// A streaming body and the sender that feeds it (`capacity` chunks buffered).
pub fn channel(capacity: usize) -> (mpsc::Sender<io::Result<Bytes>>, Body) {
    let (tx, rx) = mpsc::channel(capacity);
    (tx, ChannelBody { rx }.boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_frames_and_bytes_across_chunks() {
        let (tx, body) = channel(16);
        let mut all = b"one\ntwo\r\n".to_vec();
        all.extend_from_slice(&frame(b'D', b"payload"));
        all.extend_from_slice(b"rest");
        for c in all.chunks(3) {
            tx.send(Ok(Bytes::copy_from_slice(c))).await.unwrap();
        }
        drop(tx);
        let mut r = BodyReader::new(body);
        assert_eq!(r.line(100).await.unwrap().as_deref(), Some("one"));
        assert_eq!(r.line(100).await.unwrap().as_deref(), Some("two"));
        let (t, p) = r.frame(100).await.unwrap().unwrap();
        assert_eq!((t, &p[..]), (b'D', &b"payload"[..]));
        let mut rest = Vec::new();
        while rest.len() < 4 {
            rest.extend_from_slice(&r.some(10).await.unwrap());
        }
        assert_eq!(rest, b"rest");
        assert!(r.frame(100).await.unwrap().is_none());

        let (tx, body) = channel(4);
        tx.send(Ok(frame(b'X', &[0; 50]))).await.unwrap();
        drop(tx);
        assert!(BodyReader::new(body).frame(10).await.is_err());
    }
}
