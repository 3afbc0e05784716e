//! The HTTP/1.1 client of every load generator here: URL parsing, one
//! keep-alive connection per worker (hyper's low-level client, no pool to
//! contend on), streamed request bodies cut from one pre-generated buffer, and
//! response bodies counted and dropped as they arrive (or kept, on request).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::error::Error;

/// Where to send requests: `http://host:port/path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Path prefix without a trailing slash (e.g. `/v1/AUTH_bench`), may be empty.
    pub path: String,
}

impl Endpoint {
    /// Parses an `http://` URL (https is not supported: this is a loopback/LAN tool).
    pub fn parse(url: &str) -> Result<Endpoint, Error> {
        let bad = |why: &str| Error::Url(url.to_string(), why.to_string());
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad("bad port"))?,
                None if after.is_empty() => 80,
                None => return Err(bad("junk after ']'")),
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad("bad port"))?),
                None => (authority.to_string(), 80),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Endpoint {
            host,
            port,
            path: path.trim_end_matches('/').to_string(),
        })
    }

    /// The Host header value.
    pub fn host_header(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A request body: nothing, or `len` bytes cut from a shared buffer.
#[derive(Clone, Debug)]
pub struct Payload {
    chunk: Bytes,
    remaining: u64,
}

impl Payload {
    /// No body.
    pub fn empty() -> Payload {
        Payload {
            chunk: Bytes::new(),
            remaining: 0,
        }
    }

    /// `len` bytes, sent as repeats of `chunk` (which must be non-empty if len > 0).
    pub fn new(chunk: Bytes, len: u64) -> Payload {
        let remaining = if chunk.is_empty() { 0 } else { len };
        Payload { chunk, remaining }
    }

    /// Bytes still to send.
    pub fn len(&self) -> u64 {
        self.remaining
    }

    /// Nothing (left) to send.
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }
}

impl Body for Payload {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = this.remaining.min(this.chunk.len() as u64);
        this.remaining -= n;
        Poll::Ready(Some(Ok(Frame::data(this.chunk.slice(..n as usize)))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// What a request returned.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response body bytes received.
    pub body_bytes: u64,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body itself, from a [`Conn::keeping_bodies`] only (empty otherwise).
    pub body: Vec<u8>,
}

/// One keep-alive connection, reopened after an error or a server close.
pub struct Conn {
    endpoint: Endpoint,
    host_header: String,
    sender: Option<SendRequest<Payload>>,
    timeout: Duration,
    keep_bodies: bool,
}

impl Conn {
    /// Not yet connected.
    pub fn new(endpoint: &Endpoint, timeout: Duration) -> Conn {
        Conn {
            host_header: endpoint.host_header(),
            endpoint: endpoint.clone(),
            sender: None,
            timeout,
            keep_bodies: false,
        }
    }

    async fn connect(&mut self) -> Result<&mut SendRequest<Payload>, Error> {
        let stream = TcpStream::connect((self.endpoint.host.as_str(), self.endpoint.port))
            .await
            .map_err(|e| Error::Connect(self.endpoint.host_header(), e))?;
        stream.set_nodelay(true).map_err(Error::Io)?;
        let (sender, conn) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(Error::Http)?;
        tokio::spawn(async move {
            // Errors surface on the sender's next request; nothing to do here.
            let _ = conn.await;
        });
        Ok(self.sender.insert(sender))
    }

    /// Opens the connection now (errors are retried by the first request).
    pub async fn warm(&mut self) -> Result<(), Error> {
        if self.sender.is_none() {
            self.connect().await?;
        }
        Ok(())
    }

    /// Keeps each response body in [`Reply::body`] (only counted otherwise).
    pub fn keeping_bodies(mut self) -> Conn {
        self.keep_bodies = true;
        self
    }

    /// Sends one request and reads the whole response, with the connection's timeout.
    /// `path` is the full path and query; `headers` are extra header pairs.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Payload,
    ) -> Result<Reply, Error> {
        let timeout = self.timeout;
        let send = self.send_inner(method, path, headers, body);
        match tokio::time::timeout(timeout, send).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                self.sender = None;
                Err(e)
            }
            Err(_) => {
                self.sender = None;
                Err(Error::Timeout(timeout.as_secs_f64()))
            }
        }
    }

    async fn send_inner(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Payload,
    ) -> Result<Reply, Error> {
        let usable = match self.sender.as_mut() {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        let mut req = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(http::header::HOST, &self.host_header)
            .header(http::header::USER_AGENT, "swirl-bench");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        // Swift answers 411 to a PUT without a length, even an empty one.
        if !body.is_empty() || method == Method::PUT || method == Method::POST {
            req = req.header(http::header::CONTENT_LENGTH, body.len());
        }
        let req = req.body(body).map_err(|e| Error::Request(e.to_string()))?;
        let sender = match (usable, self.sender.as_mut()) {
            (true, Some(s)) => s,
            _ => self.connect().await?,
        };
        let resp = sender.send_request(req).await.map_err(Error::Http)?;
        let (parts, mut incoming) = resp.into_parts();
        let mut body_bytes = 0u64;
        let mut kept = Vec::new();
        while let Some(frame) = incoming.frame().await {
            if let Ok(data) = frame.map_err(Error::Http)?.into_data() {
                body_bytes += data.len() as u64;
                if self.keep_bodies {
                    kept.extend_from_slice(&data);
                }
            }
        }
        Ok(Reply {
            status: parts.status.as_u16(),
            body_bytes,
            headers: parts.headers,
            body: kept,
        })
    }
}

/// Reads a header as text.
pub fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let e = Endpoint::parse("http://127.0.0.1:8080/auth/v1.0").unwrap();
        assert_eq!(e.host, "127.0.0.1");
        assert_eq!(e.port, 8080);
        assert_eq!(e.path, "/auth/v1.0");
        let e = Endpoint::parse("http://localhost/v1/AUTH_x/").unwrap();
        assert_eq!((e.port, e.path.as_str()), (80, "/v1/AUTH_x"));
        let e = Endpoint::parse("http://[::1]:9000").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.path.as_str()),
            ("::1", 9000, "")
        );
        assert_eq!(e.host_header(), "[::1]:9000");
        assert!(Endpoint::parse("https://x/").is_err());
        assert!(Endpoint::parse("http://:80/").is_err());
        assert!(Endpoint::parse("http://h:port/").is_err());
        assert!(Endpoint::parse("http://[::1/").is_err());
    }

    #[tokio::test]
    async fn bodies_are_counted_and_kept_on_request() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            // Two connections, one request each.
            for _ in 0..2 {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await.unwrap();
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nline\n\n")
                    .await
                    .unwrap();
            }
        });
        let e = Endpoint::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let t = Duration::from_secs(10);
        let r = Conn::new(&e, t)
            .send(Method::GET, "/", &[], Payload::empty())
            .await
            .unwrap();
        assert_eq!((r.status, r.body_bytes, r.body.len()), (200, 6, 0));
        let mut kept = Conn::new(&e, t).keeping_bodies();
        let r = kept
            .send(Method::GET, "/", &[], Payload::empty())
            .await
            .unwrap();
        assert_eq!((r.body_bytes, r.body.as_slice()), (6, &b"line\n\n"[..]));
    }

    #[tokio::test]
    async fn payload_streams_in_chunks() {
        let p = Payload::new(Bytes::from(vec![7u8; 10]), 25);
        assert_eq!(p.size_hint().exact(), Some(25));
        let collected = p.collect().await.unwrap().to_bytes();
        assert_eq!(collected.len(), 25);
        assert!(Payload::empty().is_end_stream());
        assert_eq!(Payload::new(Bytes::new(), 5).len(), 0);
    }
}
