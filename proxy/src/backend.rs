//! Requests to the storage servers in Swift's backend protocol
//! (`METHOD /<device>/<partition>/<account>[/<container>[/<object>]]`), with
//! the connect timeout, a node timeout on every call, and error limiting.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use swirl_common::backend_auth::BackendAuth;
use swirl_common::client::HttpClient;
use swirl_common::Body;
use tokio::net::TcpStream;

use crate::error_limit::{ErrorLimiter, Failure};
use crate::rings::Node;
use crate::upload_pool::UploadPool;

/// Swift's `quote(path, safe='/')`: everything but unreserved characters and '/'.
const PATH_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Query values: as above, '/' escaped too.
const QUERY_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a path (Swift's `quote`, '/' kept).
pub fn quote_path(v: &str) -> String {
    utf8_percent_encode(v, PATH_SET).to_string()
}

/// Percent-encodes a query value.
pub fn quote_query(v: &str) -> String {
    utf8_percent_encode(v, QUERY_SET).to_string()
}

/// The backend path of a request on `node`.
pub fn path(
    node: &Node,
    partition: u32,
    account: &str,
    container: Option<&str>,
    object: Option<&str>,
) -> String {
    on_node(node, &tail(partition, account, container, object))
}

/// The node-independent part of a backend path: `/<partition>/<a>[/<c>[/<o>]]`, quoted.
pub fn tail(
    partition: u32,
    account: &str,
    container: Option<&str>,
    object: Option<&str>,
) -> String {
    let mut p = format!("/{partition}/{account}");
    if let Some(c) = container {
        p.push('/');
        p.push_str(c);
        if let Some(o) = object {
            p.push('/');
            p.push_str(o);
        }
    }
    utf8_percent_encode(&p, PATH_SET).to_string()
}

/// `/<device>` + a quoted tail.
pub fn on_node(node: &Node, tail: &str) -> String {
    format!("/{}{}", utf8_percent_encode(&node.device, PATH_SET), tail)
}

/// Why a backend call failed (the node is then error-counted).
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("connect to {0}: {1}")]
    Connect(String, String),
    #[error("timeout talking to {0}")]
    Timeout(String),
    #[error("{0}: {1}")]
    Http(String, String),
}

/// Tries of the start-up digest-trailer probe per server.
const PROBE_ROUNDS: usize = 4;

/// Talks to storage nodes. Cheap to clone (the pool and limiter are shared).
#[derive(Clone)]
pub struct Backend {
    client: HttpClient,
    pub conn_timeout: Duration,
    pub node_timeout: Duration,
    pub limiter: Arc<ErrorLimiter>,
    /// Servers (`ip:port`) that said they take digest trailers, in a PUT
    /// answer or their healthcheck's.
    digest_nodes: Arc<std::sync::RwLock<std::collections::HashSet<String>>>,
    /// Upload connections kept between PUTs.
    uploads: Arc<UploadPool>,
    /// Signs every request (the storage servers check it).
    auth: Arc<BackendAuth>,
}

impl Backend {
    pub fn new(conn_timeout: Duration, node_timeout: Duration, limiter: Arc<ErrorLimiter>) -> Self {
        Backend {
            client: pooled_client(conn_timeout),
            conn_timeout,
            node_timeout,
            limiter,
            digest_nodes: Default::default(),
            uploads: Default::default(),
            auth: Arc::new(BackendAuth::plain()),
        }
    }

    /// Signs requests with `auth`'s key.
    pub fn signing(mut self, auth: Arc<BackendAuth>) -> Self {
        self.auth = auth;
        self
    }

    /// Adds the cluster's signature to a request about to go to a node.
    pub fn sign<B: http_body::Body>(&self, req: &mut Request<B>) {
        self.auth.sign(req);
    }

    /// Whether `node` said it takes digest trailers (`digest_trailer`).
    pub fn takes_digest_trailer(&self, node: &Node) -> bool {
        self.digest_nodes
            .read()
            .is_ok_and(|s| s.contains(&node.addr()))
    }

    /// Remembers what a node's server said about digest trailers (in a PUT
    /// answer or its healthcheck), for every device on that server.
    pub fn learn_digest_trailer(&self, node: &Node, answer: &HeaderMap) {
        let takes = swirl_common::digest_trailer::requested(answer);
        if takes != self.takes_digest_trailer(node) {
            if let Ok(mut s) = self.digest_nodes.write() {
                if takes {
                    s.insert(node.addr());
                } else {
                    s.remove(&node.addr());
                }
            }
        }
    }

    /// Asks each server of `nodes` once (`GET /healthcheck`) whether it
    /// takes digest trailers, so that even the first PUTs after a start
    /// spare the object servers an MD5 pass. A server that does not answer
    /// is left to be learned from its PUT answers; nothing is counted
    /// against it here.
    ///
    /// Servers still starting (an all-in-one cluster starts them beside the
    /// proxy) get a few more tries, a second apart.
    pub async fn probe_digest_trailers(&self, nodes: Vec<Node>) {
        let mut seen = std::collections::HashSet::new();
        let mut left: Vec<Node> = nodes
            .into_iter()
            .filter(|n| seen.insert(n.addr()))
            .collect();
        for round in 0..PROBE_ROUNDS {
            if round > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let mut probes = tokio::task::JoinSet::new();
            for node in left {
                let me = self.clone();
                probes.spawn(async move {
                    let uri = format!("http://{}/healthcheck", node.addr());
                    let mut req = Request::get(uri).body(swirl_common::body::empty()).ok()?;
                    me.auth.sign(&mut req);
                    match tokio::time::timeout(me.node_timeout, me.client.request(req)).await {
                        Ok(Ok(resp)) => {
                            me.learn_digest_trailer(&node, resp.headers());
                            None
                        }
                        _ => Some(node),
                    }
                });
            }
            left = probes.join_all().await.into_iter().flatten().collect();
            if left.is_empty() {
                break;
            }
        }
    }

    /// One body-less (or small-body) request through the pooled client; waits
    /// at most node_timeout for the response head.
    pub async fn request(
        &self,
        node: &Node,
        method: Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Option<Bytes>,
    ) -> Result<Response<Incoming>, BackendError> {
        let uri = format!("http://{}{}", node.addr(), path_and_query);
        let mut req = Request::builder().method(method).uri(&uri);
        if let Some(h) = req.headers_mut() {
            *h = headers.clone();
            let len = body.as_ref().map(|b| b.len()).unwrap_or(0);
            h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        let body = match body {
            Some(b) => swirl_common::body::full(b),
            None => swirl_common::body::empty(),
        };
        let mut req = req
            .body(body)
            .map_err(|e| BackendError::Http(node.key(), e.to_string()))?;
        self.auth.sign(&mut req);
        let started = std::time::Instant::now();
        let res = tokio::time::timeout(self.node_timeout, self.client.request(req)).await;
        match res {
            Ok(Ok(resp)) => {
                self.judge(node, resp.status().as_u16(), started);
                Ok(resp)
            }
            Ok(Err(e)) => {
                tracing::info!(node = %node.key(), error = %e, source = ?std::error::Error::source(&e), "backend request failed");
                if e.is_connect() {
                    self.limiter.failed(node, Failure::Connect, started);
                    Err(BackendError::Connect(node.key(), e.to_string()))
                } else {
                    self.limiter.failed(node, Failure::NoAnswer, started);
                    Err(BackendError::Http(node.key(), e.to_string()))
                }
            }
            Err(_) => {
                tracing::info!(node = %node.key(), "backend request timed out");
                self.limiter.failed(node, Failure::NoAnswer, started);
                Err(BackendError::Timeout(node.key()))
            }
        }
    }

    /// Error limiting's view of an answer from `node` to a request begun
    /// at `started`: a 507 limits the device, another 5xx counts against
    /// it, anything else shows it alive.
    pub fn judge(&self, node: &Node, status: u16, started: std::time::Instant) {
        match status {
            507 => self.limiter.limit(node),
            500..=599 => {
                self.limiter.failed(node, Failure::ServerError, started);
            }
            _ => self.limiter.answered(node),
        }
    }

    /// Opens a dedicated connection for a streamed upload. Connecting first
    /// lets the proxy replace a dead node by a handoff, and refuse the upload
    /// before any byte is sent when fewer than a quorum of nodes answer.
    /// With `pooled`, an idle kept-alive connection is taken first
    /// (`reused` says so).
    pub async fn connect(&self, node: &Node, pooled: bool) -> Result<UploadConn, BackendError> {
        if let Some(send) = pooled.then(|| self.uploads.take(&node.addr())).flatten() {
            return Ok(UploadConn { send, reused: true });
        }
        let send = self.dial(node).await?;
        Ok(UploadConn {
            send,
            reused: false,
        })
    }

    /// A new connection, never one from the idle pool.
    async fn dial(
        &self,
        node: &Node,
    ) -> Result<hyper::client::conn::http1::SendRequest<Body>, BackendError> {
        let addr = node.addr();
        let started = std::time::Instant::now();
        let stream = match tokio::time::timeout(self.conn_timeout, TcpStream::connect(&addr)).await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::info!(node = %node.key(), error = %e, source = ?std::error::Error::source(&e), "backend request failed");
                self.limiter.failed(node, Failure::Connect, started);
                return Err(BackendError::Connect(node.key(), e.to_string()));
            }
            Err(_) => {
                self.limiter.failed(node, Failure::Connect, started);
                return Err(BackendError::Timeout(node.key()));
            }
        };
        self.limiter.connected(node);
        let _ = stream.set_nodelay(true);
        let (send, conn) = hyper::client::conn::http1::Builder::new()
            .max_headers(MAX_HEADERS)
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| BackendError::Http(node.key(), e.to_string()))?;
        tokio::spawn(async move {
            // Ends when the request is done or aborted; errors surface on the request.
            let _ = conn.await;
        });
        Ok(send)
    }
}

impl Backend {
    /// Keeps an upload connection whose PUT went through cleanly (request
    /// body sent whole, response read to its end) for the next upload.
    pub async fn reuse(
        &self,
        node: &Node,
        mut send: hyper::client::conn::http1::SendRequest<Body>,
    ) {
        // hyper marks the connection ready once it has seen the response end.
        if let Ok(Ok(())) = tokio::time::timeout(Duration::from_millis(100), send.ready()).await {
            self.uploads.give_back(&node.addr(), send);
        }
    }
}

/// An upload connection, and whether it came from the idle pool (a server
/// that died since may not have been noticed on it yet).
pub struct UploadConn {
    pub send: hyper::client::conn::http1::SendRequest<Body>,
    pub reused: bool,
}

/// Max headers a message may carry: an account or container with Swift's
/// 90 metadata items plus its standard headers exceeds hyper's default 100.
pub const MAX_HEADERS: usize = 1024;

/// The pooled keep-alive client for body-less and small requests.
fn pooled_client(connect_timeout: Duration) -> HttpClient {
    let mut conn = hyper_util::client::legacy::connect::HttpConnector::new();
    conn.set_nodelay(true);
    conn.set_connect_timeout(Some(connect_timeout));
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        // Below the servers' default client_timeout (60 s), after which they
        // close an idle connection: a reused one is then rarely closing.
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .http1_max_headers(MAX_HEADERS)
        .build(conn)
}

/// Reads a small backend body (listings, error texts) with a limit.
pub async fn read_small(body: Incoming, limit: usize) -> Option<Bytes> {
    let mut out = bytes::BytesMut::new();
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.ok()?;
        if let Some(d) = frame.data_ref() {
            if out.len() + d.len() > limit {
                return None;
            }
            out.extend_from_slice(d);
        }
    }
    Some(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        let n = Node {
            id: 0,
            ip: "127.0.0.1".into(),
            port: 1,
            device: "sdb1".into(),
            index: 0,
            handoff: false,
        };
        assert_eq!(
            path(&n, 5, "AUTH_t", Some("c d"), Some("a/b?c%")),
            "/sdb1/5/AUTH_t/c%20d/a/b%3Fc%25"
        );
        assert_eq!(path(&n, 5, "AUTH_t", None, None), "/sdb1/5/AUTH_t");
        assert_eq!(quote_query("a/b c"), "a%2Fb%20c");
    }
}
