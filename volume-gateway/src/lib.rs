//! swirl-volume: the volume gateway. Block volumes are sparse runs of
//! fixed-size chunks stored as objects in their project's account, written
//! through the cluster's proxy like any object; snapshots and clones share
//! chunks copy-on-write. Volumes are served to qemu, libvirt and libnbd's
//! tools over NBD (our own async server) and managed through the subset of
//! Cinder's v3 API that python-cinderclient and python-openstackclient use.
//! The gateway is a role: it reaches the cluster only through the proxy's
//! public API, over HTTP or through a proxy pipeline the `swirl` binary
//! runs in the same process ([`swift::transport`]).

pub mod api;
pub mod config;
pub mod error;
pub mod gateway;
pub mod nbd;
pub mod store;
pub mod swift;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};
use tracing::info;

pub use config::Config;
pub use error::{Error, Result};

/// Why the gateway could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("config: {0}: {1}")]
    Config(String, String),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Where the gateway listens, and how it reaches the proxy.
pub struct Endpoints {
    /// The Cinder API.
    pub api: TcpListener,
    pub nbd: TcpListener,
    /// The Unix socket at the config's `nbd_socket`, for clients on this host.
    pub nbd_unix: Option<UnixListener>,
    /// The proxy: [`swift::transport::Http`] to `proxy_url`, or one in this
    /// process.
    pub proxy: Arc<dyn swift::transport::Transport>,
    /// Where clients' tokens are checked: the proxy that issues them (the
    /// same as `proxy` unless that one runs in this process on its own).
    pub client_proxy: Arc<dyn swift::transport::Transport>,
}

/// Runs the API and NBD until `shutdown` resolves, then writes every open
/// volume back.
pub async fn run(
    cfg: Config,
    ends: Endpoints,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::result::Result<(), RunError> {
    cfg.validate().map_err(|(k, m)| RunError::Config(k, m))?;
    let Endpoints {
        api,
        nbd,
        nbd_unix,
        proxy,
        client_proxy,
    } = ends;
    let nbd_addr = nbd.local_addr()?;
    let nbd_host = match &cfg.nbd_public_host {
        Some(h) => h.clone(),
        None if nbd_addr.ip().is_unspecified() => {
            return Err(RunError::Config(
                "nbd_public_host".into(),
                "required when nbd_bind_ip is a wildcard address".into(),
            ))
        }
        None => nbd_addr.ip().to_string(),
    };
    let nbd_port = cfg.nbd_public_port.unwrap_or(nbd_addr.port());
    let gateway_id = cfg
        .gateway_id
        .clone()
        .unwrap_or_else(|| format!("{nbd_host}:{nbd_port}"));
    let swift = Arc::new(swift::client::SwiftClient::new(&cfg, proxy, client_proxy));
    let store = Arc::new(store::lifecycle::Store {
        catalog: store::catalog::Catalog {
            swift: swift.clone(),
            records: cfg.volume_container.clone(),
            chunks: cfg.chunk_container.clone(),
        },
        registry: store::registry::Registry::default(),
        gateway_id: gateway_id.clone(),
        chunk_size: cfg.chunk_size,
        cache_size: cfg.cache_size,
        upload_concurrency: cfg.upload_concurrency,
    });
    let auth = api::auth::Auth::new(
        swift,
        Duration::from_secs_f64(cfg.token_cache_time),
        &cfg.reseller_prefix,
    );
    let gw = Arc::new(gateway::Gateway {
        cfg,
        store: store.clone(),
        auth,
        nbd_host,
        nbd_port,
        nbd_socket: nbd_unix
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .and_then(|a| a.as_pathname().map(|p| p.display().to_string())),
    });
    info!(gateway = %gateway_id, nbd = %nbd_addr, "volume gateway serving");
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    let stop = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let mut opts = swirl_common::server::ServeOptions::new("volume-api");
    opts.trans_id_header = true;
    let handler = Arc::new(api::handler::ApiHandler { gw });
    let api_server = swirl_common::server::serve(api, handler, stop(rx.clone()), opts);
    let nbd_server = nbd::server::serve(
        nbd::server::Listener::Tcp(nbd),
        store.clone(),
        stop(rx.clone()),
    );
    let nbd_local = async {
        match nbd_unix {
            Some(l) => {
                nbd::server::serve(nbd::server::Listener::Unix(l), store.clone(), stop(rx)).await
            }
            None => Ok(()),
        }
    };
    tokio::try_join!(api_server, nbd_server, nbd_local)?;
    for vol in store.registry.all() {
        vol.close().await;
    }
    Ok(())
}
