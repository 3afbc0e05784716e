//! The proxy's public listener: plain HTTP/1.1 or TLS (rustls, when
//! `cert_file`/`key_file` are set), keep-alive and chunked transfer, header
//! names written in Swift's Title-Case (clients such as Swift's functional
//! tests compare them as sent), raw non-ASCII request paths taken as Swift
//! takes them (`raw_path`), X-Trans-Id on every response, one access-log
//! line per request when its body ends, and graceful shutdown. As every
//! listener (`swirl_common::server`): headers within `client_timeout`, at
//! most `max_clients` connections at once, half-closed clients answered.

use std::convert::Infallible;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use swirl_common::server::{self, LoggedBody};
use swirl_common::trans_id;
use tokio::net::TcpListener;
pub use tokio_rustls::TlsAcceptor;
use tracing::warn;

use crate::app::Proxy;
use crate::handler::ProxyHandler;
use crate::raw_path::RawPathIo;
use crate::rings::RingKind;

/// Loads a PEM certificate chain and key into a TLS acceptor.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cert_file {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cert_file {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("cert_file {}: no certificate", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("key_file {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The client's address, a request extension (Swift's `REMOTE_ADDR`).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub std::net::SocketAddr);

/// Asks every object server once, in the background, whether it takes
/// digest trailers (as it starts; PUT answers keep it current).
pub fn probe_backends(proxy: &Proxy) {
    let object_nodes: Vec<_> = proxy
        .policies
        .all()
        .iter()
        .flat_map(|p| proxy.rings.all_nodes(RingKind::Object(p.index)))
        .collect();
    let backend = proxy.backend.clone();
    tokio::spawn(async move { backend.probe_digest_trailers(object_nodes).await });
}

/// Serves until `shutdown`, then lets requests finish for up to 10 s.
pub async fn serve(
    listener: TcpListener,
    handler: Arc<ProxyHandler>,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let proxy = &handler.proxy;
    let listen = &proxy.cfg.listen;
    let client_timeout = listen.client_timeout();
    let slots = server::ConnectionSlots::new(listen.max_clients);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            p = slots.acquire() => p,
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let service = hyper::service::service_fn(move |mut req: http::Request<_>| {
            let handler = handler.clone();
            req.extensions_mut().insert(Peer(peer));
            async move { Ok::<_, Infallible>(dispatch(handler, req).await) }
        });
        let mut builder = server::http1_builder(client_timeout);
        builder
            .title_case_headers(true)
            .max_headers(crate::backend::MAX_HEADERS);
        match &tls {
            None => {
                let conn = graceful
                    .watch(builder.serve_connection(TokioIo::new(RawPathIo::new(stream)), service));
                tokio::spawn(async move {
                    let _ = conn.await;
                    drop(slot);
                });
            }
            Some(acceptor) => {
                // The handshake runs in the connection's task so a slow client
                // cannot stall the accept loop.
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let hs = tokio::time::timeout(Duration::from_secs(30), acceptor.accept(stream))
                        .await;
                    let Ok(Ok(tls_stream)) = hs else {
                        return;
                    };
                    let io = TokioIo::new(RawPathIo::new(tls_stream));
                    let conn = watcher.watch(builder.serve_connection(io, service));
                    let _ = conn.await;
                    drop(slot);
                });
            }
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(10)) => warn!("shutdown grace period over"),
    }
    Ok(())
}

async fn dispatch(handler: Arc<ProxyHandler>, req: Request<Incoming>) -> Response<LoggedBody> {
    // The proxy starts every transaction: a client's X-Trans-Id is not trusted,
    // only X-Trans-Id-Extra is appended as Swift does.
    let extra = req
        .headers()
        .get("x-trans-id-extra")
        .and_then(|v| v.to_str().ok())
        .map(|s| {
            let s: String = s
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(32)
                .collect();
            format!("-{s}")
        })
        .unwrap_or_default();
    let txn = trans_id::new_trans_id(&extra);
    // Echo an explicit keep-alive as Swift's (eventlet's) server does.
    let keep_alive = req
        .headers()
        .get("connection")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.eq_ignore_ascii_case("keep-alive"))
        .unwrap_or(false);
    let mut resp = server::respond(&*handler, req, "proxy", false, txn.clone()).await;
    server::set_trans_id(&mut resp, &txn);
    if keep_alive {
        resp.headers_mut()
            .insert("connection", HeaderValue::from_static("keep-alive"));
    }
    resp
}
