//! Requests to other nodes' replication listeners: HTTP/1.1 over the
//! cluster's mutual TLS (this node presents its certificate, the peer must
//! present one of the cluster CA naming the address dialled), with a few
//! idle connections kept per peer.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use swirl_common::tls::{server_name, TlsConnector};
use swirl_common::Body;

use crate::error::{Error, Result};

/// Idle connections kept per peer.
const IDLE_PER_PEER: usize = 4;

/// The replication client of one replicator.
pub struct PeerClient {
    connector: TlsConnector,
    conn_timeout: Duration,
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

impl PeerClient {
    pub fn new(connector: TlsConnector, conn_timeout: Duration) -> Self {
        PeerClient {
            connector,
            conn_timeout,
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

    /// Sends `req` to `ip:port`; resolves when the response head arrives
    /// (the request body may still be streaming: exchanges run both ways).
    pub async fn send(
        &self,
        ip: &str,
        port: u16,
        req: Request<Body>,
    ) -> Result<Response<Incoming>> {
        let key = addr(ip, port);
        let mut s = match self.take_idle(&key) {
            Some(s) => s,
            None => self.connect(ip, port).await?,
        };
        let resp = s.send_request(req).await.map_err(|e| Error::Http {
            addr: key.clone(),
            message: e.to_string(),
        })?;
        // Ready again once this response's body has been read.
        self.put_idle(key, s);
        Ok(resp)
    }
}
