//! The server state shared by every request (config, open databases, the
//! account-update reporter) and the dispatch from a routed request to the
//! account, container or replication handlers.

use std::path::PathBuf;
use std::sync::Arc;

use http::{HeaderMap, Request, Response};
use hyper::body::Incoming;
use swirl_common::backend_headers as bh;
use swirl_common::body::Body;
use swirl_common::server::Handler;
use swirl_common::Timestamp;
use swirl_ring::hash::HashPathConfig;
use swirl_store::db::account::AccountBroker;
use swirl_store::db::container::ContainerBroker;
use swirl_store::db::placement::{db_hash, db_path, DbKind};

use crate::account_update::Reporter;
use crate::cache::Cache;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::params::Query;
use crate::response::swift_response;
use crate::router::{route, Op, Route};
use crate::{account_api, container_api, replicate};

/// One account or container server.
pub struct DbServer {
    pub kind: DbKind,
    pub cfg: Arc<Config>,
    pub hash_cfg: HashPathConfig,
    pub containers: Arc<Cache<ContainerBroker>>,
    pub accounts: Cache<AccountBroker>,
    pub reporter: Arc<Reporter>,
    /// Checks that requests come from the cluster.
    pub auth: Arc<swirl_common::backend_auth::BackendAuth>,
}

/// A request as the handlers see it (the body is only read by REPLICATE).
pub struct Req {
    pub op: Op,
    pub device: String,
    pub partition: u32,
    pub account: String,
    pub container: Option<String>,
    pub object: Option<String>,
    pub headers: HeaderMap,
    pub query: Query,
    pub txn: String,
}

/// Runs blocking database work off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Task(e.to_string()))?
}

impl DbServer {
    /// Swift's `check_drive`: a plain name, an existing directory (a mount
    /// point with mount_check). Returns the device path.
    pub fn check_drive(&self, drive: &str) -> Result<PathBuf> {
        check_drive(&self.cfg, drive)
    }

    pub fn container_db(&self, dev: &str, part: u32, account: &str, container: &str) -> PathBuf {
        let h = db_hash(&self.hash_cfg, account, Some(container));
        db_path(&self.cfg.devices, dev, DbKind::Container, part, &h)
    }

    pub fn account_db(&self, dev: &str, part: u32, account: &str) -> PathBuf {
        let h = db_hash(&self.hash_cfg, account, None);
        db_path(&self.cfg.devices, dev, DbKind::Account, part, &h)
    }

    /// The policy index the request names (X-Backend-Storage-Policy-Index),
    /// refused when it is not a configured policy.
    pub fn policy_index(&self, h: &HeaderMap) -> Result<Option<i64>> {
        let Some(v) = h.get(bh::STORAGE_POLICY_INDEX) else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(v.as_bytes()).to_string();
        // Swift's message shows Python's repr: an int bare, a string quoted.
        match text.trim().parse::<i64>() {
            Ok(i) if self.cfg.policy_name(i).is_some() => Ok(Some(i)),
            Ok(i) => Err(Error::BadRequest(format!(
                "Invalid X-Backend-Storage-Policy-Index {i}"
            ))),
            Err(_) => Err(Error::BadRequest(format!(
                "Invalid X-Backend-Storage-Policy-Index '{text}'"
            ))),
        }
    }
}

/// [`DbServer::check_drive`] with `cfg`'s devices and mount_check.
pub fn check_drive(cfg: &Config, drive: &str) -> Result<PathBuf> {
    let plain = drive
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-~".contains(&b));
    if !plain {
        return Err(Error::InsufficientStorage(drive.to_string()));
    }
    let path = cfg.devices.join(drive);
    let ok = if cfg.mount_check {
        is_mount(&path)
    } else {
        path.is_dir()
    };
    if ok {
        Ok(path)
    } else {
        Err(Error::InsufficientStorage(drive.to_string()))
    }
}

/// The request's X-Timestamp (Swift's `valid_timestamp`).
pub fn req_timestamp(h: &HeaderMap) -> Result<Timestamp> {
    let v = h
        .get("x-timestamp")
        .ok_or(Error::BadTimestamp("Missing X-Timestamp header"))?;
    let s = std::str::from_utf8(v.as_bytes())
        .map_err(|_| Error::BadTimestamp("Invalid X-Timestamp header"))?;
    Timestamp::parse(s).map_err(|_| Error::BadTimestamp("Invalid X-Timestamp header"))
}

/// A mount point: a different device than its parent (or the root).
fn is_mount(path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(m), Some(parent)) = (std::fs::metadata(path), path.parent()) else {
        return false;
    };
    match std::fs::metadata(parent) {
        Ok(pm) => m.is_dir() && (m.dev() != pm.dev() || m.ino() == pm.ino()),
        Err(_) => false,
    }
}

impl Handler for DbServer {
    type Error = Error;

    async fn handle(&self, req: Request<Incoming>, txn: &str) -> Result<Response<Body>> {
        let (parts, body) = req.into_parts();
        let r = route(self.kind, parts.method.as_str(), parts.uri.path())?;
        // Health, recon and metrics are for operators and their tools, open
        // as in Swift; everything else must come from the cluster.
        if !matches!(r, Route::Healthcheck | Route::Recon(_) | Route::Metrics) {
            self.auth
                .verify(&parts.method, &parts.uri, &parts.headers)?;
        }
        swirl_common::header_text::check(&parts.headers)?;
        match r {
            Route::Healthcheck => {
                let mut h = HeaderMap::new();
                h.insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/plain"),
                );
                Ok(swift_response(
                    http::StatusCode::OK,
                    h,
                    Some(b"OK".to_vec()),
                ))
            }
            Route::Metrics => crate::metrics::handle(self, &parts.headers).await,
            Route::Recon(check) => {
                let cfg = self.cfg.clone();
                // Reads files (the recon cache, the rings): off the reactor.
                let v = tokio::task::spawn_blocking(move || crate::recon::answer(&cfg, &check))
                    .await
                    .map_err(|e| Error::Task(e.to_string()))?
                    .ok_or_else(|| Error::NotFound(HeaderMap::new()))?;
                let mut h = HeaderMap::new();
                h.insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                let bytes = serde_json::to_vec(&v).map_err(|e| Error::Task(e.to_string()))?;
                Ok(swift_response(http::StatusCode::OK, h, Some(bytes)))
            }
            Route::Replicate {
                device,
                partition,
                hash,
            } => replicate::handle(self, &device, partition, &hash, body).await,
            Route::Db {
                op,
                device,
                partition,
                account,
                container,
                object,
            } => {
                let req = Req {
                    op,
                    device,
                    partition,
                    account,
                    container,
                    object,
                    query: Query::parse(parts.uri.query()),
                    headers: parts.headers,
                    txn: txn.to_string(),
                };
                match self.kind {
                    DbKind::Container => container_api::handle(self, req).await,
                    DbKind::Account => account_api::handle(self, req).await,
                }
            }
        }
    }
}
