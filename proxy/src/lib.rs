//! swirl-proxy: Swift's public v1 API. Authenticates (tempauth), checks
//! Swift's constraints, routes every request through the account, container
//! and object rings to the storage servers in Swift's backend protocol, and
//! answers with a quorum of their replies. Bodies stream through bounded
//! channels: memory per request is a few chunks whatever the object size.

pub mod account;
pub mod app;
pub mod auth;
pub mod backend;
pub mod backpressure;
pub mod byteranges;
pub mod config;
pub mod constraints;
pub mod container;
pub mod content_type;
pub mod controllers;
pub mod error;
pub mod error_limit;
pub mod handler;
pub mod headers;
pub mod info;
pub mod listing;
pub mod middleware;
pub mod object;
pub mod object_path;
pub mod pipeline;
pub mod policy;
pub mod put;
pub mod quorum;
pub mod raw_path;
pub mod read;
pub mod replay_body;
pub mod response;
pub mod rings;
pub mod router;
pub mod server;
pub mod stream;
pub mod upload_pool;
pub mod write;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use config::Config;
pub use error::{Error, Result};

/// Why the proxy could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("config: {0}: {1}")]
    Config(String, String),
    #[error("tls: {0}")]
    Tls(String),
    #[error("tempauth: {0}")]
    Auth(String),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the proxy on a bound listener until `shutdown` resolves.
pub async fn run(
    cfg: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> std::result::Result<(), RunError> {
    let tls = tls(&cfg)?;
    let handler = in_process(cfg)?;
    serve(handler, listener, tls, shutdown).await
}

/// A proxy with no listener of its own (yet): its pipeline, rings and
/// backend connections, for [`serve`] and for roles that call it in their
/// own process ([`handler::ProxyHandler::call`]).
pub fn in_process(cfg: Config) -> std::result::Result<Arc<handler::ProxyHandler>, RunError> {
    cfg.validate().map_err(|(k, m)| RunError::Config(k, m))?;
    let proxy = Arc::new(app::Proxy::new(cfg).map_err(RunError::Auth)?);
    server::probe_backends(&proxy);
    Ok(Arc::new(handler::ProxyHandler { proxy }))
}

/// Serves `handler`'s proxy on `listener` (over TLS with `tls`) until
/// `shutdown`.
pub async fn serve(
    handler: Arc<handler::ProxyHandler>,
    listener: TcpListener,
    tls: Option<server::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::result::Result<(), RunError> {
    server::serve(listener, handler, tls, shutdown).await?;
    Ok(())
}

/// The TLS acceptor of a proxy config with `cert_file` and `key_file`.
pub fn tls(cfg: &Config) -> std::result::Result<Option<server::TlsAcceptor>, RunError> {
    match (&cfg.cert_file, &cfg.key_file) {
        (Some(c), Some(k)) => Ok(Some(server::tls_acceptor(c, k).map_err(RunError::Tls)?)),
        _ => Ok(None),
    }
}
