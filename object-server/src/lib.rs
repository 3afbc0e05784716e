//! swirl-object: Swift's backend object API over swirl-store.
//!
//! `PUT/GET/HEAD/POST/DELETE /<device>/<partition>/<account>/<container>/<object>`,
//! `REPLICATE /<device>/<partition>[/<suffixes>]`, `/healthcheck` and
//! `/recon/<check>`, for each storage policy of the config (chosen by
//! X-Backend-Storage-Policy-Index, kept apart on disk). Bodies stream through bounded channels; all disk I/O
//! runs on blocking threads; container updates that fail become async
//! pendings on the device, and only hosts of the container ring get them;
//! X-Delete-At writes queue the object for the expirer.

pub mod config;
pub mod container_update;
pub mod delete;
pub mod delete_at_update;
pub mod error;
pub mod get;
pub mod handler;
pub mod headers;
pub mod metrics;
pub mod post;
pub mod put;
pub mod recon;
pub mod replicate;
pub mod replication;
pub mod router;
pub mod stream;
pub mod update_ring;

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use swirl_common::server::{serve, ServeOptions};
use swirl_store::object::{HashSecret, ObjectStore};
use tokio::net::TcpListener;
use tracing::{info, warn};

pub use config::Config;
pub use error::{Error, Result};

/// Counters since start (also reported by `/recon/swirl`).
#[derive(Debug, Default)]
pub struct Stats {
    pub async_pending_written: AtomicU64,
    pub container_updates_ok: AtomicU64,
    pub container_updates_failed: AtomicU64,
    /// Update targets not sent to: not in the container ring.
    pub container_updates_refused: AtomicU64,
    pub quarantined: AtomicU64,
}

/// The running server's state.
pub struct Server {
    pub cfg: Config,
    pub store: ObjectStore,
    pub client: swirl_common::client::HttpClient,
    pub stats: Arc<Stats>,
    /// What update targets are checked against.
    pub container_ring: update_ring::ContainerRing,
    /// Signs the updates this server sends, checks the requests it serves.
    pub auth: Arc<swirl_common::backend_auth::BackendAuth>,
}

/// The container ring's file in `swift_dir`.
const CONTAINER_RING: &str = "container.ring.gz";

impl Server {
    /// Where the container ring is read from.
    pub fn container_ring_path(&self) -> std::path::PathBuf {
        self.cfg.swift_dir.join(CONTAINER_RING)
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("config: {key}: {message}")]
    Config { key: String, message: String },
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
    #[error("replication listener: {0}")]
    Tls(#[from] swirl_common::tls::TlsError),
    #[error(transparent)]
    Auth(#[from] swirl_common::backend_auth::KeyError),
    #[error("replication listener: bind {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

impl Server {
    /// Builds the server state from a validated config.
    pub fn new(cfg: Config) -> std::result::Result<Self, StartError> {
        cfg.validate()
            .map_err(|(key, message)| StartError::Config { key, message })?;
        let (reserve_percent, reserve_bytes) = match cfg.reserve() {
            Some(config::Reserve::Percent(p)) => (p, 0),
            Some(config::Reserve::Bytes(b)) => (0.0, b),
            None => (1.0, 0),
        };
        let store = ObjectStore {
            devices: cfg.disks.devices.clone(),
            mount_check: cfg.disks.mount_check,
            reclaim_age: cfg.reclaim_age,
            secret: HashSecret {
                prefix: cfg.swift_hash_path_prefix.clone(),
                suffix: cfg.swift_hash_path_suffix.clone(),
            },
            reserve_percent,
            reserve_bytes,
        };
        let client = swirl_common::client::new_client(Duration::from_secs_f64(cfg.conn_timeout));
        let container_ring = update_ring::ContainerRing::new(cfg.swift_dir.join(CONTAINER_RING));
        let auth = swirl_common::backend_auth::from_config(cfg.backend_auth.as_ref(), "object")?;
        Ok(Server {
            auth,
            container_ring,
            cfg,
            store,
            client,
            stats: Arc::new(Stats::default()),
        })
    }
}

/// Removes temp files orphaned by a killed process from every device's `tmp/`
/// and `tmp-N/` (every policy's, configured or not: nothing else writes there).
fn sweep_devices(cfg: &Config) {
    let Ok(rd) = std::fs::read_dir(&cfg.disks.devices) else {
        return;
    };
    for dev in rd.flatten() {
        let Ok(dirs) = std::fs::read_dir(dev.path()) else {
            continue;
        };
        for dir in dirs.flatten() {
            let name = dir.file_name();
            if swirl_store::object::layout::dir_policy("tmp", &name.to_string_lossy()).is_none() {
                continue;
            }
            match swirl_store::object::durable::sweep_tmp(&dir.path()) {
                Ok(0) => {}
                Ok(n) => {
                    info!(dir = %dir.path().display(), removed = n, "removed orphaned temp files")
                }
                Err(e) => warn!(dir = %dir.path().display(), error = %e, "sweeping tmp failed"),
            }
        }
    }
}

/// Serves the object API on `listener` until `shutdown` resolves.
pub async fn run(
    cfg: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> std::result::Result<(), StartError> {
    let server = Arc::new(Server::new(cfg)?);
    let c = server.cfg.clone();
    tokio::task::spawn_blocking(move || sweep_devices(&c))
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    // The replication listener, when configured, runs beside the main one
    // and stops with it.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let replication = match server.cfg.replication_addr() {
        None => None,
        Some(addr) => {
            let tls = server
                .cfg
                .cluster_tls
                .as_ref()
                .ok_or_else(|| StartError::Config {
                    key: "cluster_tls".into(),
                    message: "required with replication_port".into(),
                })?
                .load()?;
            let acceptor = tls.acceptor()?;
            let l = swirl_common::server::bind_and_announce("object-replication", &addr)
                .await
                .map_err(|source| StartError::Bind { addr, source })?;
            let mut rx = stop_rx.clone();
            Some(tokio::spawn(replication::serve(
                server.clone(),
                l,
                acceptor,
                async move {
                    let _ = rx.changed().await;
                },
            )))
        }
    };
    let opts = ServeOptions::new("object").limits(&server.cfg.listen);
    let handler = Arc::new(handler::ObjectHandler { server });
    let served = serve(listener, handler, shutdown, opts).await;
    let _ = stop_tx.send(true);
    if let Some(r) = replication {
        r.await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
    }
    served?;
    Ok(())
}
