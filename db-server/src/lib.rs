//! swirl-db: Swift's backend account and container servers over
//! swirl-store's SQLite brokers.
//!
//! - `router`: pure method+path -> operation, with Swift's path rules;
//! - `container_api` / `account_api`: one function per operation;
//! - `account_update`: container -> account count reports and pending records;
//! - `replicate`: the REPLICATE RPC for the database replicator;
//! - `replication`: the replication listener (mutual TLS): REPLICATE, whole
//!   databases shipped in, container reports to accounts;
//! - `params`, `meta`, `response`: query strings, metadata headers, swob-shaped responses;
//! - `cache`: open databases; `config`, `error`: the usual.

pub mod account_api;
pub mod account_update;
pub mod cache;
pub mod config;
pub mod container_api;
pub mod error;
pub mod meta;
pub mod metrics;
pub mod params;
pub mod recon;
pub mod replicate;
pub mod replication;
pub mod response;
pub mod router;
pub mod server;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use swirl_common::server::{serve, ServeOptions};
use swirl_ring::hash::HashPathConfig;
use tokio::net::TcpListener;

pub use config::Config;
pub use error::{Error, Result};
pub use swirl_store::db::placement::DbKind;

use crate::account_update::Reporter;
use crate::cache::Cache;
use crate::server::DbServer;

/// Header lines a request to an account or container server may carry.
const DB_MAX_HEADERS: usize = 256;

/// Serves the `kind` server on `listener` until `shutdown` resolves.
pub async fn run(
    kind: DbKind,
    cfg: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    cfg.validate()?;
    let cfg = Arc::new(cfg);
    let containers = Arc::new(Cache::new(cfg.db_cache_size));
    let client = swirl_common::client::new_client(Duration::from_secs_f64(cfg.conn_timeout));
    let role = match kind {
        DbKind::Account => "account",
        DbKind::Container => "container",
    };
    let auth = swirl_common::backend_auth::from_config(cfg.backend_auth.as_ref(), role)
        .map_err(|e| Error::Config(e.to_string()))?;
    let reporter = Arc::new(Reporter::new(
        client,
        auth.clone(),
        cfg.devices.clone(),
        Duration::from_secs_f64(cfg.node_timeout),
        Duration::from_secs_f64(cfg.account_update_interval),
        containers.clone(),
        Some(account_update::AccountRing::new(
            cfg.swift_dir.join("account.ring.gz"),
            HashPathConfig::new(
                cfg.swift_hash_path_prefix.as_bytes(),
                cfg.swift_hash_path_suffix.as_bytes(),
            ),
        )),
    ));
    let server = Arc::new(DbServer {
        kind,
        hash_cfg: HashPathConfig::new(
            cfg.swift_hash_path_prefix.as_bytes(),
            cfg.swift_hash_path_suffix.as_bytes(),
        ),
        containers,
        accounts: Cache::new(cfg.db_cache_size),
        reporter: reporter.clone(),
        cfg: cfg.clone(),
        auth,
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // The replication listener, when configured, runs beside the main one
    // and stops with it.
    let replication = match cfg.replication_addr() {
        None => None,
        Some(addr) => {
            let tls = cfg
                .cluster_tls
                .as_ref()
                .ok_or_else(|| Error::Config("cluster_tls: required with replication_port".into()))?
                .load()
                .map_err(|e| Error::Config(format!("cluster_tls: {e}")))?;
            let acceptor = tls
                .acceptor()
                .map_err(|e| Error::Config(format!("cluster_tls: {e}")))?;
            let role = match kind {
                DbKind::Account => "account-replication",
                DbKind::Container => "container-replication",
            };
            let l = swirl_common::server::bind_and_announce(role, &addr)
                .await
                .map_err(|e| Error::Config(format!("replication listener: bind {addr}: {e}")))?;
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
    let reporter_task = if kind == DbKind::Container {
        let mut rx = stop_rx.clone();
        Some(tokio::spawn(reporter.run(async move {
            let _ = rx.wait_for(|v| *v).await;
        })))
    } else {
        None
    };
    let role = match kind {
        DbKind::Account => "account",
        DbKind::Container => "container",
    };
    let mut opts = ServeOptions::new(role).limits(&cfg.listen);
    opts.quiet = !cfg.log_requests;
    // What reaches an account or container server is at most Swift's 90
    // metadata items plus the proxy's ~40 own and sysmeta headers; room for
    // 1024 cost every row update a 64 KiB fill (about a tenth of its CPU).
    opts.max_headers = DB_MAX_HEADERS;
    let res = serve(listener, server, shutdown, opts).await;
    let _ = stop_tx.send(true);
    if let Some(r) = replication {
        match r.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "replication listener"),
            Err(e) => tracing::warn!(error = %e, "replication listener task"),
        }
    }
    if let Some(t) = reporter_task {
        let _ = t.await;
    }
    res.map_err(Error::Io)
}
