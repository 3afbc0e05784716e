//! Raw non-ASCII bytes in request targets, percent-encoded before hyper parses
//! them.
//!
//! Swift's server (eventlet) reads the request line as Latin-1 and unquotes the
//! path, so `PUT /v1/a/\xe2\x82\xac` and `PUT /v1/a/%E2%82%AC` are the same
//! request, and an invalid UTF-8 path gets the router's 412 "Invalid UTF8 or
//! contains NULL". Swift's functional tests send such raw bytes
//! (`no_path_quote`). hyper (`http::Uri`) refuses any byte >= 0x80 with a bare
//! 400, so [`RawPathIo`] sits between the socket and hyper and rewrites those
//! bytes as `%XX`, which is exactly what unquoting undoes.
//!
//! Only request lines may change, never bodies, so the [`Framer`] follows
//! HTTP/1.1 message framing as hyper does (Content-Length, chunked with
//! extensions and trailers, pipelined requests on a keep-alive connection).
//! Whenever the stream stops being one it can follow (an upgrade, CONNECT, the
//! HTTP/2 preface, a Transfer-Encoding other than chunked, a bad or
//! conflicting Content-Length, a folded header, a malformed chunk), it stops
//! rewriting for the rest of the connection: hyper rejects such a request and
//! closes the connection anyway, and a missed rewrite only means hyper's 400.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Longest header line kept whole; longer lines are judged by their start
/// (which holds the name, all that matters for framing).
const LINE_CAP: usize = 8 * 1024;
/// Bytes of the method kept (CONNECT and PRI are all that matter).
const METHOD_CAP: usize = 16;

/// Where the framer is in the byte stream of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before (skipping empty lines) or inside a request line.
    RequestLine {
        started: bool,
    },
    /// Inside the header block; the current line is in `Framer::line`.
    Header,
    /// This many bytes of a Content-Length body are still to come.
    Fixed(u64),
    /// First byte of a chunk-size line (a hex digit).
    ChunkStart,
    ChunkSize(u64),
    /// Spaces after the size.
    ChunkSizeLws(u64),
    /// `;ext` up to the CR.
    ChunkExt(u64),
    ChunkSizeLf(u64),
    ChunkData(u64),
    ChunkDataCr,
    ChunkDataLf,
    /// After the last chunk: CR of the final empty line, or a trailer.
    EndCr,
    EndLf,
    Trailer,
    TrailerLf,
    /// Framing no longer followed: everything passes unchanged.
    Opaque,
}

/// What one request head said about its body.
#[derive(Debug, Default)]
struct Head {
    method: Vec<u8>,
    method_done: bool,
    content_length: Option<u64>,
    bad_length: bool,
    transfer_encoding: bool,
    chunked: bool,
    upgrade: bool,
    /// A header line that cannot be followed (obs-fold, no colon).
    unfollowable: bool,
}

/// Follows HTTP/1.1 request framing over a connection's bytes and
/// percent-encodes bytes >= 0x80 in request lines.
#[derive(Debug)]
pub struct Framer {
    state: State,
    line: Vec<u8>,
    line_overflow: bool,
    head: Head,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new()
    }
}

fn hex_val(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some(u64::from(b - b'0')),
        b'a'..=b'f' => Some(u64::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(b - b'A' + 10)),
        _ => None,
    }
}

fn push_encoded(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// hyper's Content-Length: digits only, no sign, no overflow.
fn parse_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

impl Framer {
    pub fn new() -> Self {
        Framer {
            state: State::RequestLine { started: false },
            line: Vec::new(),
            line_overflow: false,
            head: Head::default(),
        }
    }

    /// Feeds the next bytes read from the client. `None`: hand them on as
    /// they are (the common case, no copy); `Some`: hand on these instead.
    pub fn feed(&mut self, input: &[u8]) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        let mut i = 0;
        while i < input.len() {
            // Body bytes and opaque streams are skipped in bulk, never looked at.
            let skip = match self.state {
                State::Opaque => input.len() - i,
                State::Fixed(n) | State::ChunkData(n) => {
                    let k = usize::try_from(n)
                        .unwrap_or(usize::MAX)
                        .min(input.len() - i);
                    let left = n - k as u64;
                    self.state = match (self.state, left) {
                        (State::Fixed(_), 0) => self.request_start(),
                        (State::Fixed(_), l) => State::Fixed(l),
                        (_, 0) => State::ChunkDataCr,
                        (_, l) => State::ChunkData(l),
                    };
                    k
                }
                _ => 0,
            };
            if skip > 0 {
                if let Some(o) = out.as_mut() {
                    o.extend_from_slice(&input[i..i + skip]);
                }
                i += skip;
                continue;
            }
            let b = input[i];
            if self.step(b) {
                let o = out.get_or_insert_with(|| {
                    let mut v = Vec::with_capacity(input.len() + 32);
                    v.extend_from_slice(&input[..i]);
                    v
                });
                push_encoded(o, b);
            } else if let Some(o) = out.as_mut() {
                o.push(b);
            }
            i += 1;
        }
        out
    }

    fn request_start(&mut self) -> State {
        State::RequestLine { started: false }
    }

    /// Advances over one byte outside a body; true if it must be encoded.
    fn step(&mut self, b: u8) -> bool {
        match self.state {
            State::RequestLine { started: false } => {
                // hyper (httparse) skips empty lines before a request.
                if b != b'\r' && b != b'\n' {
                    self.head = Head::default();
                    self.state = State::RequestLine { started: true };
                    return self.request_line_byte(b);
                }
                false
            }
            State::RequestLine { started: true } => self.request_line_byte(b),
            State::Header => {
                if b == b'\n' {
                    self.end_header_line();
                } else if self.line.len() < LINE_CAP {
                    self.line.push(b);
                } else {
                    self.line_overflow = true;
                }
                false
            }
            State::ChunkStart => {
                self.state = match hex_val(b) {
                    Some(v) => State::ChunkSize(v),
                    None => State::Opaque,
                };
                false
            }
            State::ChunkSize(size) => {
                self.state = match b {
                    b'\t' | b' ' => State::ChunkSizeLws(size),
                    b';' => State::ChunkExt(size),
                    b'\r' => State::ChunkSizeLf(size),
                    _ => match hex_val(b).and_then(|v| size.checked_mul(16)?.checked_add(v)) {
                        Some(s) => State::ChunkSize(s),
                        None => State::Opaque,
                    },
                };
                false
            }
            State::ChunkSizeLws(size) => {
                self.state = match b {
                    b'\t' | b' ' => State::ChunkSizeLws(size),
                    b';' => State::ChunkExt(size),
                    b'\r' => State::ChunkSizeLf(size),
                    _ => State::Opaque,
                };
                false
            }
            State::ChunkExt(size) => {
                self.state = match b {
                    b'\r' => State::ChunkSizeLf(size),
                    b'\n' => State::Opaque,
                    _ => State::ChunkExt(size),
                };
                false
            }
            State::ChunkSizeLf(size) => {
                self.state = match (b, size) {
                    (b'\n', 0) => State::EndCr,
                    (b'\n', n) => State::ChunkData(n),
                    _ => State::Opaque,
                };
                false
            }
            State::ChunkDataCr => {
                self.state = if b == b'\r' {
                    State::ChunkDataLf
                } else {
                    State::Opaque
                };
                false
            }
            State::ChunkDataLf => {
                self.state = if b == b'\n' {
                    State::ChunkStart
                } else {
                    State::Opaque
                };
                false
            }
            State::EndCr => {
                self.state = if b == b'\r' {
                    State::EndLf
                } else {
                    State::Trailer
                };
                false
            }
            State::EndLf => {
                self.state = if b == b'\n' {
                    self.request_start()
                } else {
                    State::Opaque
                };
                false
            }
            State::Trailer => {
                if b == b'\r' {
                    self.state = State::TrailerLf;
                }
                false
            }
            State::TrailerLf => {
                self.state = if b == b'\n' {
                    State::EndCr
                } else {
                    State::Opaque
                };
                false
            }
            // Handled in bulk by `feed`.
            State::Fixed(_) | State::ChunkData(_) | State::Opaque => false,
        }
    }

    fn request_line_byte(&mut self, b: u8) -> bool {
        if b == b'\n' {
            self.state = State::Header;
            self.line.clear();
            self.line_overflow = false;
            return false;
        }
        if !self.head.method_done {
            if b == b' ' {
                self.head.method_done = true;
            } else if self.head.method.len() < METHOD_CAP {
                self.head.method.push(b);
            }
        }
        b >= 0x80
    }

    fn end_header_line(&mut self) {
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        if self.line.is_empty() && !self.line_overflow {
            self.state = self.body_start();
            return;
        }
        let line = std::mem::take(&mut self.line);
        self.header(&line);
        self.line = line;
        self.line.clear();
        self.line_overflow = false;
    }

    fn header(&mut self, line: &[u8]) {
        let h = &mut self.head;
        if matches!(line.first(), Some(b' ' | b'\t')) {
            h.unfollowable = true;
            return;
        }
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            h.unfollowable = true;
            return;
        };
        let name = &line[..colon];
        let value = trim_ows(&line[colon + 1..]);
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if is("content-length") {
            match parse_length(value).filter(|_| !self.line_overflow) {
                Some(n) if h.content_length.is_none_or(|p| p == n) => {
                    h.content_length = Some(n);
                }
                _ => h.bad_length = true,
            }
        } else if is("transfer-encoding") {
            h.transfer_encoding = true;
            // As hyper: the last coding of the last Transfer-Encoding line.
            h.chunked = !self.line_overflow
                && value
                    .rsplit(|&c| c == b',')
                    .next()
                    .is_some_and(|last| trim_ows(last).eq_ignore_ascii_case(b"chunked"));
        } else if is("upgrade") {
            h.upgrade = true;
        }
    }

    /// The state after a complete head, from what the head said.
    fn body_start(&mut self) -> State {
        let h = &self.head;
        let method = h.method.as_slice();
        if method == b"CONNECT" || method == b"PRI" || h.upgrade || h.unfollowable || h.bad_length {
            return State::Opaque;
        }
        if h.transfer_encoding {
            return if h.chunked {
                State::ChunkStart
            } else {
                State::Opaque
            };
        }
        match h.content_length {
            Some(n) if n > 0 => State::Fixed(n),
            _ => self.request_start(),
        }
    }
}

/// A client connection whose reads pass through a [`Framer`]; writes are
/// untouched.
pub struct RawPathIo<S> {
    inner: S,
    framer: Framer,
    /// Rewritten bytes that did not fit the caller's buffer yet.
    pending: Vec<u8>,
    pending_pos: usize,
}

impl<S> RawPathIo<S> {
    pub fn new(inner: S) -> Self {
        RawPathIo {
            inner,
            framer: Framer::new(),
            pending: Vec::new(),
            pending_pos: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for RawPathIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pending_pos < this.pending.len() {
            let n = buf.remaining().min(this.pending.len() - this.pending_pos);
            buf.put_slice(&this.pending[this.pending_pos..this.pending_pos + n]);
            this.pending_pos += n;
            if this.pending_pos == this.pending.len() {
                this.pending.clear();
                this.pending_pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if let Some(out) = this.framer.feed(&buf.filled()[before..]) {
            // The rewrite is longer than what was read: what does not fit
            // waits for the next read.
            buf.set_filled(before);
            let n = buf.remaining().min(out.len());
            buf.put_slice(&out[..n]);
            if n < out.len() {
                this.pending = out;
                this.pending_pos = n;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for RawPathIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> Vec<u8> {
        let mut f = Framer::new();
        let mut out = Vec::new();
        for c in chunks {
            match f.feed(c) {
                Some(v) => out.extend_from_slice(&v),
                None => out.extend_from_slice(c),
            }
        }
        out
    }

    /// The stream fed whole, and split at every byte position (reads can end
    /// anywhere), gives the same output.
    fn check(input: &[u8], want: &[u8]) {
        assert_eq!(
            String::from_utf8_lossy(&run(&[input])),
            String::from_utf8_lossy(want)
        );
        assert_eq!(run(&[input]), want);
        for cut in 0..=input.len() {
            assert_eq!(run(&[&input[..cut], &input[cut..]]), want, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(run(&bytes), want, "byte by byte");
    }

    #[test]
    fn ascii_passes_without_copy() {
        let mut f = Framer::new();
        assert!(f
            .feed(b"GET /v1/a/c?x=1 HTTP/1.1\r\nHost: h\r\n\r\n")
            .is_none());
        assert_eq!(f.state, State::RequestLine { started: false });
    }

    #[test]
    fn encodes_request_line_only() {
        check(
            b"PUT /v1/a/\xe2\x82\xac?q=\xff HTTP/1.1\r\nX-Object-Meta-A: \xe2\x82\xac\r\nContent-Length: 3\r\n\r\n\xff\xfe\xfd",
            b"PUT /v1/a/%E2%82%AC?q=%FF HTTP/1.1\r\nX-Object-Meta-A: \xe2\x82\xac\r\nContent-Length: 3\r\n\r\n\xff\xfe\xfd",
        );
    }

    #[test]
    fn keep_alive_requests_after_bodies() {
        // Content-Length body, then chunked with extension and trailer, then a
        // request without body, then a bare-LF head, each with raw bytes.
        let input: &[u8] = b"PUT /\x80 HTTP/1.1\r\ncontent-length:  2 \r\n\r\n\x81\n\
            PUT /\x82 HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
            3;n=\xff\r\n\x83\r\n\r\n10\r\n\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\r\n\
            0\r\nX-Trailer: \xff\r\n\r\n\
            \r\nGET /\x85 HTTP/1.1\r\n\r\n\
            HEAD /\x86 HTTP/1.1\nHost: x\n\nGET /\x87 HTTP/1.1\r\n\r\n";
        let want: &[u8] = b"PUT /%80 HTTP/1.1\r\ncontent-length:  2 \r\n\r\n\x81\n\
            PUT /%82 HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
            3;n=\xff\r\n\x83\r\n\r\n10\r\n\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\r\n\
            0\r\nX-Trailer: \xff\r\n\r\n\
            \r\nGET /%85 HTTP/1.1\r\n\r\n\
            HEAD /%86 HTTP/1.1\nHost: x\n\nGET /%87 HTTP/1.1\r\n\r\n";
        check(input, want);
    }

    #[test]
    fn a_body_that_looks_like_a_request_is_left_alone() {
        let body: &[u8] = b"GET /\xff HTTP/1.1\r\n\r\n";
        let mut input =
            format!("PUT /o HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        input.extend_from_slice(body);
        input.extend_from_slice(b"GET /\xff HTTP/1.1\r\n\r\n");
        let mut want = input.clone();
        let n = want.len();
        want.truncate(n - b"\xff HTTP/1.1\r\n\r\n".len());
        want.extend_from_slice(b"%FF HTTP/1.1\r\n\r\n");
        check(&input, &want);
    }

    #[test]
    fn stops_rewriting_where_framing_is_unclear() {
        for head in [
            "CONNECT h:1 HTTP/1.1\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\n",
            "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            "PUT / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            "PUT / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            "PUT / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "PUT / HTTP/1.1\r\nX-A: b\r\n folded\r\n\r\n",
            "PUT / HTTP/1.1\r\nno colon\r\n\r\n",
            "PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        ] {
            let mut input = head.as_bytes().to_vec();
            input.extend_from_slice(b"GET /\xff HTTP/1.1\r\n\r\n");
            check(&input, &input);
        }
        // A malformed chunk: hyper fails the body, nothing after it is touched.
        let input =
            b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /\xff HTTP/1.1\r\n\r\n";
        check(input, input);
        let input = b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\nGET /\xff HTTP/1.1\r\n\r\n";
        check(input, input);
    }

    #[test]
    fn long_header_lines_are_judged_by_their_name() {
        let long = "v".repeat(LINE_CAP * 2);
        let input = format!("GET / HTTP/1.1\r\nX-Long: {long}\r\n\r\nGET /\u{ff} HTTP/1.1\r\n\r\n");
        let want = format!("GET / HTTP/1.1\r\nX-Long: {long}\r\n\r\nGET /%C3%BF HTTP/1.1\r\n\r\n");
        assert_eq!(run(&[input.as_bytes()]), want.as_bytes());
        let input =
            format!("GET / HTTP/1.1\r\nContent-Length: {long}\r\n\r\nGET /\u{ff} HTTP/1.1\r\n\r\n");
        assert_eq!(run(&[input.as_bytes()]), input.as_bytes());
    }

    #[tokio::test]
    async fn io_wrapper_delivers_rewrites_through_small_buffers() {
        use tokio::io::AsyncReadExt;
        let input: &[u8] = b"GET /\xe2\x82\xac\xe2\x82\xac HTTP/1.1\r\n\r\n";
        let mut io = RawPathIo::new(input);
        let mut got = Vec::new();
        let mut small = [0u8; 5];
        loop {
            let n = io.read(&mut small).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&small[..n]);
        }
        assert_eq!(got, b"GET /%E2%82%AC%E2%82%AC HTTP/1.1\r\n\r\n");
    }
}
