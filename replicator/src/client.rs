//! Requests to other nodes' replication listeners: HTTP/1.1 over the
//! cluster's mutual TLS (this node presents its certificate, the peer must
//! present one of the cluster CA naming the address dialled), with a few
//! idle connections kept per peer.
//!
//! A kept connection may have been closed by its peer while it sat idle (a
//! restarted object server): a request it hands back unsent goes out on a
//! new connection, and an idempotent one (REPLICATE, a missing check) is
//! asked again on a new connection whenever an old one fails before its
//! answer. Every connection finds a vanished peer (link cut, host down)
//! within `node_timeout` ([`swirl_common::dead_peer`]), whatever the
//! exchange is doing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use swirl_common::tls::{server_name, TlsConnector};
use swirl_common::Body;
use tracing::debug;

use crate::error::{Error, Result};

/// Idle connections kept per peer.
const IDLE_PER_PEER: usize = 4;

/// The replication client of one replicator.
pub struct PeerClient {
    connector: TlsConnector,
    conn_timeout: Duration,
    node_timeout: Duration,
    idle: Mutex<HashMap<String, Vec<SendRequest<Body>>>>,
}

/// `ip:port` for connecting (IPv6 in brackets).
pub fn addr(ip: &str, port: u16) -> String {
    if ip.contains(':') && !ip.starts_with('[') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

fn http_err(key: &str, e: hyper::Error) -> Error {
    Error::Http {
        addr: key.to_string(),
        message: e.to_string(),
    }
}

impl PeerClient {
    /// A client connecting within `conn_timeout` whose connections fail
    /// once a peer has been silent (unreachable) for `node_timeout`.
    pub fn new(connector: TlsConnector, conn_timeout: Duration, node_timeout: Duration) -> Self {
        PeerClient {
            connector,
            conn_timeout,
            node_timeout,
            idle: Mutex::new(HashMap::new()),
        }
    }

    fn take_idle(&self, key: &str) -> Option<SendRequest<Body>> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(key)?;
        while let Some(s) = list.pop() {
            if s.is_ready() {
                return Some(s);
            }
            // Busy (a body still being read) or closed: let it go.
        }
        None
    }

    fn put_idle(&self, key: String, s: SendRequest<Body>) {
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(key).or_default();
            if list.len() < IDLE_PER_PEER {
                list.push(s);
            }
        }
    }

    async fn connect(&self, ip: &str, port: u16) -> Result<SendRequest<Body>> {
        let a = addr(ip, port);
        let err = |message: String| Error::Connect {
            addr: a.clone(),
            message,
        };
        let tcp = tokio::time::timeout(self.conn_timeout, tokio::net::TcpStream::connect(&a))
            .await
            .map_err(|_| err("timed out".into()))?
            .map_err(|e| err(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        swirl_common::dead_peer::detect_within(&tcp, self.node_timeout)
            .map_err(|e| err(format!("socket options: {e}")))?;
        let name = server_name(ip)?;
        let tls = tokio::time::timeout(
            self.conn_timeout.max(Duration::from_secs(5)),
            self.connector.connect(name, tcp),
        )
        .await
        .map_err(|_| err("tls handshake timed out".into()))?
        .map_err(|e| err(format!("tls handshake: {e}")))?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| err(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(send)
    }

    /// Sends `req` on a new connection, kept afterwards.
    async fn send_new(
        &self,
        ip: &str,
        port: u16,
        req: Request<Body>,
    ) -> Result<Response<Incoming>> {
        let key = addr(ip, port);
        let mut s = self.connect(ip, port).await?;
        let resp = s.send_request(req).await.map_err(|e| http_err(&key, e))?;
        // Ready again once this response's body has been read.
        self.put_idle(key, s);
        Ok(resp)
    }

    /// Sends `req` to `ip:port`; resolves when the response head arrives
    /// (the request body may still be streaming: exchanges run both ways).
    pub async fn send(
        &self,
        ip: &str,
        port: u16,
        mut req: Request<Body>,
    ) -> Result<Response<Incoming>> {
        let key = addr(ip, port);
        while let Some(mut s) = self.take_idle(&key) {
            match s.try_send_request(req).await {
                Ok(resp) => {
                    self.put_idle(key, s);
                    return Ok(resp);
                }
                Err(mut e) => match e.take_message() {
                    // Closed before the request went out: not sent at all.
                    Some(unsent) => {
                        debug!(peer = %key, error = %e.error(), "kept connection closed; trying another");
                        req = unsent;
                    }
                    None => return Err(http_err(&key, e.into_error())),
                },
            }
        }
        self.send_new(ip, port, req).await
    }

    /// Sends the request `build` makes, which may be asked twice (REPLICATE,
    /// a missing check): when a kept connection fails before the answer
    /// (its peer closed it meanwhile), it is asked again on a new one.
    pub async fn send_idempotent(
        &self,
        ip: &str,
        port: u16,
        build: impl Fn() -> Result<Request<Body>>,
    ) -> Result<Response<Incoming>> {
        let key = addr(ip, port);
        if let Some(mut s) = self.take_idle(&key) {
            match s.try_send_request(build()?).await {
                Ok(resp) => {
                    self.put_idle(key, s);
                    return Ok(resp);
                }
                Err(e) => {
                    debug!(peer = %key, error = %e.error(), "kept connection failed; asking on a new one")
                }
            }
        }
        self.send_new(ip, port, build()?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Reads one request head (no body) from `s`; false at EOF.
    async fn read_head<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> bool {
        let mut buf = Vec::new();
        let mut b = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut b).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&b[..n]),
            }
        }
        true
    }

    fn request() -> Result<Request<Body>> {
        Ok(Request::builder()
            .method("REPLICATE")
            .uri("/d1/0")
            .header("host", "127.0.0.1")
            .body(swirl_common::body::empty())
            .unwrap())
    }

    /// A peer that answers the first request of each connection, then
    /// reads the next request and closes without answering (as a peer
    /// restarting, or dropping idle connections, does).
    #[tokio::test]
    async fn a_kept_connection_closed_by_the_peer_is_retried() {
        let d = tempfile::tempdir().unwrap();
        let (ca, node) = (d.path().join("ca"), d.path().join("node"));
        swirl_common::tls::issue::create_ca(&ca, "t").unwrap();
        let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        swirl_common::tls::issue::issue_node(&ca, &node, "n", &[ip], &[]).unwrap();
        let tls = swirl_common::tls::ClusterTlsConfig::in_dir(&node)
            .load()
            .unwrap();
        let acceptor = tls.acceptor().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let conns = Arc::new(AtomicUsize::new(0));
        let c2 = conns.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                c2.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let mut s = acceptor.accept(tcp).await.unwrap();
                    if read_head(&mut s).await {
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                            .await;
                        let _ = s.flush().await;
                    }
                    read_head(&mut s).await;
                    // Dropped: closed with the second request unanswered.
                });
            }
        });
        let client = PeerClient::new(
            tls.connector().unwrap(),
            Duration::from_secs(5),
            Duration::from_secs(10),
        );
        for _ in 0..3 {
            let r = client
                .send_idempotent("127.0.0.1", port, request)
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let b = swirl_common::server::read_body_limited(r.into_body(), 1024)
                .await
                .unwrap();
            assert_eq!(&b[..], b"{}");
        }
        // Each request after the first found its kept connection closed.
        assert_eq!(conns.load(Ordering::SeqCst), 3);
    }
}
