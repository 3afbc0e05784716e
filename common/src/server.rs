//! The HTTP server loop every role runs: accept on a bound listener, one task
//! per connection, errors turned into responses in one place, one access-log
//! line per request written when the response body ends (as Swift's
//! proxy_logging does, and counted then in [`crate::metrics`]), and graceful
//! shutdown with a deadline.
//!
//! Every listener defends itself as Swift's eventlet server does: a client
//! gets `client_timeout` to send its request headers (and as long to start
//! the next request on a kept-alive connection), at most `max_clients`
//! connections are served at once (the next wait in the backlog), and a
//! client that shuts its write side down after its request still gets the
//! answer (HTTP/1 half-close).

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::FutureExt;
use http::{header, HeaderValue, Method, Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{debug, info, warn};

use crate::body::Body;
use crate::error::{error_response, ApiError, Panicked};
use crate::trans_id;

/// A role's request handler.
pub trait Handler: Send + Sync + 'static {
    type Error: ApiError;
    /// Handles one request. `txn` is the transaction id (X-Trans-Id) for logs.
    fn handle(
        &self,
        req: Request<Incoming>,
        txn: &str,
    ) -> impl Future<Output = Result<Response<Body>, Self::Error>> + Send;
}

/// Knobs of the server loop.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Role name for the access log (`object`, `container`, `proxy`, ...).
    pub role: &'static str,
    /// Add `X-Trans-Id` (and `X-Openstack-Request-Id`) to every response (the proxy does).
    pub trans_id_header: bool,
    /// Log at debug instead of info (replication traffic).
    pub quiet: bool,
    /// How long in-flight requests may run on after shutdown begins.
    pub shutdown_grace: Duration,
    /// Most header lines a request may carry. hyper sets aside (and fills)
    /// room for this many on every request it parses, so a role that never
    /// sees huge header sets can ask for less.
    pub max_headers: usize,
    /// Close a connection whose peer has been unreachable this long
    /// ([`crate::dead_peer`]): for long exchanges with other nodes, whose
    /// handlers would otherwise wait forever on a sender that vanished.
    pub dead_peer_timeout: Option<Duration>,
    /// How long a client may take to send its request headers, or to start
    /// its next request on a kept-alive connection (Swift's `client_timeout`).
    pub client_timeout: Duration,
    /// Connections served at once (Swift's `max_clients`).
    pub max_clients: usize,
}

impl ServeOptions {
    pub fn new(role: &'static str) -> Self {
        ServeOptions {
            role,
            trans_id_header: false,
            quiet: false,
            shutdown_grace: Duration::from_secs(10),
            max_headers: 1024,
            dead_peer_timeout: None,
            client_timeout: Duration::from_secs(60),
            max_clients: 1024,
        }
    }

    /// Takes `client_timeout` and `max_clients` from a listener's config.
    pub fn limits<D: crate::config::ListenDefaults>(
        mut self,
        listen: &crate::config::Listen<D>,
    ) -> Self {
        self.client_timeout = listen.client_timeout();
        self.max_clients = listen.max_clients.max(1);
        self
    }
}

/// hyper's HTTP/1 server settings every listener shares: headers (of the
/// first request or of the next one on a kept-alive connection) within
/// `client_timeout`, keep-alive, and half-close, so that a client that
/// shuts its write side down after its request still gets the answer.
pub fn http1_builder(client_timeout: Duration) -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(client_timeout)
        .keep_alive(true)
        .half_close(true);
    b
}

/// The bound on a listener's connections: a permit per connection served,
/// taken before the next `accept`, so that once `max_clients` are open the
/// rest wait in the kernel's backlog instead of each holding a task and
/// buffers (Swift's eventlet pool of `max_clients`).
#[derive(Clone)]
pub struct ConnectionSlots(Arc<Semaphore>);

impl ConnectionSlots {
    pub fn new(max_clients: usize) -> Self {
        ConnectionSlots(Arc::new(Semaphore::new(max_clients.max(1))))
    }

    /// Waits for a free slot; the connection keeps it until it is dropped.
    pub async fn acquire(&self) -> OwnedSemaphorePermit {
        loop {
            // The semaphore is never closed; should it be, retry rather
            // than serve unbounded.
            if let Ok(p) = self.0.clone().acquire_owned().await {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Binds `addr` (with a deep accept queue, [`crate::listen`]) and prints `READY <role> <addr>` on stdout once listening, the
/// line the test harness and the all-in-one launcher wait for.
pub async fn bind_and_announce(role: &str, addr: &str) -> std::io::Result<TcpListener> {
    let listener = crate::listen::bind(addr).await?;
    let local = listener.local_addr()?;
    announce_ready(role, &local.to_string());
    Ok(listener)
}

/// Prints the readiness line.
pub fn announce_ready(role: &str, addr: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "READY {role} {addr}");
    let _ = out.flush();
}

/// Serves `handler` on `listener` until `shutdown` resolves, then lets in-flight
/// requests finish for up to `opts.shutdown_grace`.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()> + Send,
    opts: ServeOptions,
) -> std::io::Result<()> {
    serve_with(listener, handler, shutdown, opts, None).await
}

/// [`serve`] over TLS: each connection's handshake runs in its own task (a
/// slow peer cannot stall the accept loop) and no request is read before it
/// succeeds. With the cluster's acceptor ([`crate::tls::ClusterTls::acceptor`])
/// a peer without a certificate of the cluster CA is refused right there.
pub async fn serve_tls<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    acceptor: crate::tls::TlsAcceptor,
    shutdown: impl Future<Output = ()> + Send,
    opts: ServeOptions,
) -> std::io::Result<()> {
    serve_with(listener, handler, shutdown, opts, Some(acceptor)).await
}

/// How long a TLS peer may take to complete its handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn serve_with<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()> + Send,
    opts: ServeOptions,
    tls: Option<crate::tls::TlsAcceptor>,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let opts = Arc::new(opts);
    let slots = ConnectionSlots::new(opts.max_clients);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            p = slots.acquire() => p,
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            res = listener.accept() => match res {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and friends: back off rather than spin.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        if let Some(t) = opts.dead_peer_timeout {
            if let Err(e) = crate::dead_peer::detect_within(&stream, t) {
                warn!(role = opts.role, peer = %peer, error = %e, "socket options");
            }
        }
        let handler = handler.clone();
        let max_headers = opts.max_headers;
        let role = opts.role;
        let client_timeout = opts.client_timeout;
        let opts = opts.clone();
        let service = hyper::service::service_fn(move |req| {
            let handler = handler.clone();
            let opts = opts.clone();
            async move { Ok::<_, Infallible>(dispatch(handler, opts, req).await) }
        });
        let mut builder = http1_builder(client_timeout);
        // A proxy forwards Swift's 90 metadata items plus its own headers:
        // more than hyper's default of 100.
        builder.max_headers(max_headers);
        let Some(acceptor) = tls.clone() else {
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                // A client that goes away mid-request is routine, not an error.
                let _ = conn.await;
                drop(slot);
            });
            continue;
        };
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(s)) => s,
                    // A probe that connects and closes is not a refused peer.
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return,
                    Ok(Err(e)) => {
                        warn!(role, peer = %peer, error = %e, "tls handshake refused");
                        return;
                    }
                    Err(_) => {
                        warn!(role, peer = %peer, "tls handshake timed out");
                        return;
                    }
                };
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            let _ = watcher.watch(conn).await;
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(opts.shutdown_grace) => {
            warn!(role = opts.role, "shutdown grace period over; dropping connections");
        }
    }
    Ok(())
}

/// Adds the transaction id to a response, under both of Swift's names.
pub fn set_trans_id<B>(resp: &mut Response<B>, txn: &str) {
    if let Ok(v) = HeaderValue::from_str(txn) {
        resp.headers_mut().insert("x-trans-id", v.clone());
        resp.headers_mut().insert("x-openstack-request-id", v);
    }
}

async fn dispatch<H: Handler>(
    handler: Arc<H>,
    opts: Arc<ServeOptions>,
    req: Request<Incoming>,
) -> Response<LoggedBody> {
    let txn = trans_id::from_request_or_new(req.headers());
    let mut resp = respond(&*handler, req, opts.role, opts.quiet, txn.clone()).await;
    if opts.trans_id_header {
        set_trans_id(&mut resp, &txn);
    }
    resp
}

/// Runs one request through `handler` and makes its response, for every
/// role's listener: the one place an `Err` (or a panic, as a 500) becomes a
/// response and is logged, HEAD answers lose their error bodies, and the
/// access line is attached to the body.
pub async fn respond<H: Handler>(
    handler: &H,
    req: Request<Incoming>,
    role: &'static str,
    quiet: bool,
    txn: String,
) -> Response<LoggedBody> {
    let head = RequestHead::of(&req);
    let id = txn.clone();
    answer(head, handler.handle(req, &id), role, quiet, txn).await
}

/// What [`answer`] needs of a request once its handler has taken it.
pub struct RequestHead {
    start: Instant,
    method: Method,
    /// Path and query as received.
    path: String,
    /// Whether the request came with a body.
    sent_body: bool,
}

impl RequestHead {
    pub fn of<B>(req: &Request<B>) -> Self {
        RequestHead {
            start: Instant::now(),
            method: req.method().clone(),
            path: req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            sent_body: req.headers().contains_key(header::TRANSFER_ENCODING)
                || req
                    .headers()
                    .get(header::CONTENT_LENGTH)
                    .is_some_and(|v| v.as_bytes() != b"0"),
        }
    }
}

/// Turns a handler's outcome into the response, as [`respond`] does: also
/// for requests made inside the process (a proxy pipeline run by another
/// role in the same process, as Swift's internal client), which have no
/// connection but the same errors, panics and access lines.
pub async fn answer<E: ApiError>(
    head: RequestHead,
    outcome: impl Future<Output = Result<Response<Body>, E>>,
    role: &'static str,
    quiet: bool,
    txn: String,
) -> Response<LoggedBody> {
    // A panic fails this request only: the connection and the server go on.
    let outcome = AssertUnwindSafe(outcome).catch_unwind().await;
    let RequestHead {
        start,
        method,
        path,
        sent_body,
    } = head;
    let mut resp = match outcome {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => failed(&e, role, &txn),
        Err(panic) => failed(&Panicked(panic_message(&*panic)), role, &txn),
    };
    if method == Method::HEAD && resp.status().as_u16() >= 400 {
        // swob never writes an error's explanation for HEAD: no body, and
        // Content-Length: 0.
        *resp.body_mut() = crate::body::empty();
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    }
    if sent_body && resp.status().as_u16() >= 400 {
        // An error may leave the body unread, and then the connection is
        // closed after the answer: say so, or a client could send its next
        // request on a connection that is going away.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let status = resp.status().as_u16();
    let info = RequestInfo {
        role,
        quiet,
        method: method.to_string(),
        path,
        txn,
        start,
    };
    resp.map(|body| LoggedBody::new(body, info, status))
}

/// Logs an error (server errors at warn, the client's at debug: the access
/// line has its status) and makes its response.
fn failed<E: ApiError>(e: &E, role: &str, txn: &str) -> Response<Body> {
    if e.status().is_server_error() {
        warn!(role, txn = %txn, error = %e, "request failed");
    } else {
        debug!(role, txn = %txn, error = %e, "request refused");
    }
    error_response(e)
}

/// The text a panic was raised with.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// What a request's access line says that is known before the response.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub role: &'static str,
    /// Log at debug instead of info.
    pub quiet: bool,
    pub method: String,
    /// Path and query as received.
    pub path: String,
    pub txn: String,
    pub start: Instant,
}

/// What the access line says; written once, when the body ends or is dropped.
struct AccessLog {
    info: RequestInfo,
    status: u16,
    bytes: u64,
    complete: bool,
}

impl AccessLog {
    fn write(&self) {
        let i = &self.info;
        let duration_ms = i.start.elapsed().as_secs_f64() * 1000.0;
        // A body dropped before its end means the client went away (Swift logs 499).
        let status = if self.complete { self.status } else { 499 };
        // Counted here, once per request of every role, as the line is written.
        crate::metrics::record_request(i.role, &i.method, status, i.start.elapsed(), self.bytes);
        if i.quiet {
            tracing::debug!(role = i.role, method = %i.method, path = %i.path, status,
                bytes = self.bytes, duration_ms, txn = %i.txn, "request");
        } else {
            info!(role = i.role, method = %i.method, path = %i.path, status,
                bytes = self.bytes, duration_ms, txn = %i.txn, "request");
        }
    }
}

/// The response body wrapped so that bytes are counted and the log line is
/// written when it finishes.
pub struct LoggedBody {
    inner: Body,
    log: Option<AccessLog>,
}

impl LoggedBody {
    /// Wraps a response body of status `status`; the access line is written when
    /// the body ends, fails or is dropped (a drop before the end logs 499).
    pub fn new(inner: Body, info: RequestInfo, status: u16) -> Self {
        LoggedBody {
            inner,
            log: Some(AccessLog {
                info,
                status,
                bytes: 0,
                complete: false,
            }),
        }
    }
}

impl HttpBody for LoggedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        // A body that panics ends in an error (logged below) instead of
        // taking the connection's task down unlogged.
        let inner = &mut this.inner;
        let res = std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll_frame(cx)))
            .unwrap_or_else(|panic| {
                let why = format!("response body panicked: {}", panic_message(&*panic));
                Poll::Ready(Some(Err(std::io::Error::other(why))))
            });
        match &res {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(log)) = (frame.data_ref(), this.log.as_mut()) {
                    log.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) => {
                if let Some(mut log) = this.log.take() {
                    log.complete = true;
                    log.write();
                }
            }
            Poll::Ready(Some(Err(e))) => {
                if let Some(log) = this.log.take() {
                    warn!(role = log.info.role, txn = %log.info.txn, error = %e, "response body failed");
                    log.write();
                }
            }
            Poll::Pending => {}
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        if let Some(mut log) = self.log.take() {
            // hyper drops a body it never polls (HEAD, empty bodies): that is complete.
            if self.inner.is_end_stream() || log.info.method == "HEAD" {
                log.complete = true;
            }
            log.write();
        }
    }
}

/// Reads a whole (small) request body, refusing more than `limit` bytes.
pub async fn read_body_limited(body: Incoming, limit: usize) -> Result<Bytes, BodyError> {
    read_body_within(body, limit, None).await
}

/// As [`read_body_limited`], giving up when the peer takes longer than
/// `chunk_timeout` (a server's `client_timeout`) to send the next chunk.
pub async fn read_body_within(
    body: Incoming,
    limit: usize,
    chunk_timeout: Option<Duration>,
) -> Result<Bytes, BodyError> {
    let mut out = bytes::BytesMut::new();
    let mut body = body;
    loop {
        let next = match chunk_timeout {
            Some(t) => tokio::time::timeout(t, body.frame())
                .await
                .map_err(|_| BodyError::TimedOut)?,
            None => body.frame().await,
        };
        let Some(frame) = next else { break };
        let frame = frame.map_err(|e| BodyError::Read(e.to_string()))?;
        if let Some(d) = frame.data_ref() {
            if out.len() + d.len() > limit {
                return Err(BodyError::TooLarge(limit));
            }
            out.extend_from_slice(d);
        }
    }
    Ok(out.freeze())
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
    #[error("reading request body: {0}")]
    Read(String),
    #[error("the client stopped sending its body")]
    TimedOut,
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use tokio::net::TcpStream;

    /// Panics on `/panic`, refuses `/missing` with a 404, answers 200 otherwise.
    struct Flaky;

    #[derive(Debug, thiserror::Error)]
    #[error("missing")]
    struct Missing;

    impl ApiError for Missing {
        fn status(&self) -> StatusCode {
            StatusCode::NOT_FOUND
        }
    }

    impl Handler for Flaky {
        type Error = Missing;

        async fn handle(
            &self,
            req: Request<Incoming>,
            _txn: &str,
        ) -> Result<Response<Body>, Missing> {
            match req.uri().path() {
                "/panic" => panic!("boom"),
                "/missing" => Err(Missing),
                _ => Ok(Response::new(crate::body::full("ok"))),
            }
        }
    }

    async fn send(
        tx: &mut hyper::client::conn::http1::SendRequest<Body>,
        method: &str,
        path: &str,
    ) -> (StatusCode, http::HeaderMap, Bytes) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "test")
            .body(crate::body::empty())
            .unwrap();
        let resp = tx.send_request(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        (
            parts.status,
            parts.headers,
            body.collect().await.unwrap().to_bytes(),
        )
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_server_goes_on() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            Arc::new(Flaky),
            async move {
                let _ = stopped.await;
            },
            ServeOptions::new("test"),
        ));
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);

        let (status, h, body) = send(&mut tx, "GET", "/panic").await;
        assert_eq!(status, 500);
        assert_eq!(h["content-type"], "text/html; charset=UTF-8");
        assert_eq!(
            &body[..],
            b"<html><h1>Internal Error</h1><p>The server has either erred or is incapable of performing the requested operation.</p></html>"
        );
        // The same connection serves the next request...
        let (status, _, body) = send(&mut tx, "GET", "/fine").await;
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"ok"[..]));
        // ...and so does a new one.
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut tx2, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        assert_eq!(send(&mut tx2, "GET", "/fine").await.0, StatusCode::OK);

        // An error answer to HEAD has no body and says Content-Length: 0;
        // to GET it has Swift's standard page.
        let (status, h, _) = send(&mut tx2, "HEAD", "/missing").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(h["content-length"], "0");
        let (status, h, body) = send(&mut tx2, "GET", "/missing").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(h["content-length"], body.len().to_string().as_str());

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
