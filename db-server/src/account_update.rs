//! Container -> account count updates. A container PUT or DELETE tells the
//! account servers the proxy named at once (Swift's `account_update`);
//! object row changes (from object servers or merged in by replication)
//! mark the container dirty and a background task reports its new counts
//! within moments (the container-updater's job, folded in): like Swift's
//! updater, to every replica of the account in the account ring
//! (`<swift_dir>/account.ring.gz`, read again when it changes), done once a
//! majority took it, so every account replica counts alike; without a ring
//! file, to the account servers the container PUT named. An update that
//! cannot be delivered leaves a durable pending record
//! (`<device>/db_pending_updates/<hash>` naming the database) that the task
//! retries every `account_update_interval` until the account servers answer.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderMap, Method, Request};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use swirl_common::backend_auth::BackendAuth;
use swirl_common::backend_headers as bh;
use swirl_common::body;
use swirl_common::client::HttpClient;
use swirl_ring::hash::HashPathConfig;
use swirl_ring::RingData;
use swirl_store::db::container::{ContainerBroker, ContainerInfo};
use tokio::sync::Notify;
use tracing::{debug, warn};

use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::response::get;

const PENDING_DIR: &str = "db_pending_updates";

/// Swift's `quote(s, safe='/')`.
const QUOTE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~')
    .remove(b'/');

/// The account replicas a container reports to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountTarget {
    pub hosts: Vec<String>,
    pub devices: Vec<String>,
    pub partition: String,
}

fn csv(s: &str) -> Vec<String> {
    s.split(',').map(|x| x.trim().to_string()).collect()
}

impl AccountTarget {
    /// From X-Account-Host / -Device / -Partition (none without a partition).
    pub fn from_headers(h: &HeaderMap) -> Result<Option<AccountTarget>> {
        let hosts = csv(get(h, bh::ACCOUNT_HOST).unwrap_or(""));
        let devices = csv(get(h, bh::ACCOUNT_DEVICE).unwrap_or(""));
        if hosts.len() != devices.len() {
            return Err(Error::BadRequest(
                "different numbers of X-Account-Host and X-Account-Device".into(),
            ));
        }
        let partition = get(h, bh::ACCOUNT_PARTITION)
            .unwrap_or("")
            .trim()
            .to_string();
        if partition.is_empty() {
            return Ok(None);
        }
        Ok(Some(AccountTarget {
            hosts,
            devices,
            partition,
        }))
    }

    /// The location a container PUT stored.
    pub fn from_info(info: &ContainerInfo) -> Option<AccountTarget> {
        if info.account_partition.is_empty() || info.account_hosts.is_empty() {
            return None;
        }
        Some(AccountTarget {
            hosts: csv(&info.account_hosts),
            devices: csv(&info.account_devices),
            partition: info.account_partition.clone(),
        })
    }
}

/// The account ring, read when its file appears or changes.
pub struct AccountRing {
    path: PathBuf,
    hash_cfg: HashPathConfig,
    /// The ring loaded, and the file's (mtime, length) it was loaded from.
    loaded: Mutex<Option<(std::time::SystemTime, u64, Arc<RingData>)>>,
}

impl AccountRing {
    pub fn new(path: PathBuf, hash_cfg: HashPathConfig) -> Self {
        AccountRing {
            path,
            hash_cfg,
            loaded: Mutex::new(None),
        }
    }

    fn ring(&self) -> Option<Arc<RingData>> {
        let m = std::fs::metadata(&self.path).ok()?;
        let stamp = (m.modified().ok()?, m.len());
        let mut g = self.loaded.lock().ok()?;
        if let Some((t, l, r)) = g.as_ref() {
            if (*t, *l) == stamp {
                return Some(r.clone());
            }
        }
        let bytes = std::fs::read(&self.path).ok()?;
        match swirl_ring::codec::read_ring(&bytes[..]) {
            Ok(r) => {
                let r = Arc::new(r);
                *g = Some((stamp.0, stamp.1, r.clone()));
                Some(r)
            }
            Err(e) => {
                warn!(ring = %self.path.display(), error = %e, "unreadable account ring");
                g.as_ref().map(|x| x.2.clone())
            }
        }
    }

    /// Every replica of `account` (main addresses), as Swift's updater
    /// finds them. None when the ring does not know any of `named` (the
    /// account servers the container PUT named): a ring file of another
    /// cluster is not trusted with this one's reports.
    pub fn target(&self, account: &str, named: &[String]) -> Option<AccountTarget> {
        let ring = self.ring()?;
        let addr = |d: &swirl_ring::Device| {
            if d.ip.contains(':') {
                format!("[{}]:{}", d.ip, d.port)
            } else {
                format!("{}:{}", d.ip, d.port)
            }
        };
        let known =
            named.is_empty() || ring.devs.iter().flatten().any(|d| named.contains(&addr(d)));
        if !known {
            return None;
        }
        let (part, nodes) = ring.get_nodes(&self.hash_cfg, account, None, None);
        let (mut hosts, mut devices) = (Vec::new(), Vec::new());
        for n in nodes {
            hosts.push(addr(n.dev));
            devices.push(n.dev.device.clone());
        }
        (!hosts.is_empty()).then(|| AccountTarget {
            hosts,
            devices,
            partition: part.to_string(),
        })
    }
}

/// Delivers account updates and keeps the dirty set and pending records.
pub struct Reporter {
    client: HttpClient,
    /// Signs the updates (the account servers check them).
    auth: Arc<BackendAuth>,
    devices: PathBuf,
    node_timeout: Duration,
    interval: Duration,
    containers: Arc<Cache<ContainerBroker>>,
    account_ring: Option<AccountRing>,
    dirty: Mutex<HashSet<PathBuf>>,
    notify: Notify,
}

/// How one round of updates went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Outcome {
    sent: usize,
    not_found: usize,
    failed: usize,
}

impl Reporter {
    pub fn new(
        client: HttpClient,
        auth: Arc<BackendAuth>,
        devices: PathBuf,
        node_timeout: Duration,
        interval: Duration,
        containers: Arc<Cache<ContainerBroker>>,
        account_ring: Option<AccountRing>,
    ) -> Reporter {
        Reporter {
            client,
            auth,
            devices,
            node_timeout,
            interval,
            containers,
            account_ring,
            dirty: Mutex::new(HashSet::new()),
            notify: Notify::new(),
        }
    }

    /// Notes that a container's counts changed.
    pub fn mark_dirty(&self, db: &Path) {
        if let Ok(mut d) = self.dirty.lock() {
            // Checked first: a busy container is already marked, and its
            // path need not be copied again for every row.
            if !d.contains(db) && d.insert(db.to_path_buf()) {
                self.notify.notify_one();
            }
        }
    }

    /// Sends the container's current stats now (container PUT/DELETE).
    /// Returns true when every account server answered 404.
    pub async fn update_now(
        &self,
        broker: Arc<ContainerBroker>,
        account: &str,
        container: &str,
        target: &AccountTarget,
        txn: &str,
    ) -> bool {
        let b = broker.clone();
        let info = match tokio::task::spawn_blocking(move || b.info()).await {
            Ok(Ok(i)) => i,
            _ => {
                self.write_pending(broker.path());
                return false;
            }
        };
        let out = self.send(&info, account, container, target, txn).await;
        self.settle(&broker, &info, out.failed == 0).await;
        out.sent > 0 && out.not_found == out.sent
    }

    /// Records success, or leaves a pending record for a retry.
    async fn settle(&self, broker: &Arc<ContainerBroker>, info: &ContainerInfo, delivered: bool) {
        if !delivered {
            self.write_pending(broker.path());
            return;
        }
        let (b, i) = (broker.clone(), info.clone());
        let _ = tokio::task::spawn_blocking(move || {
            b.reported(
                &i.put_timestamp,
                &i.delete_timestamp,
                i.object_count,
                i.bytes_used,
            )
        })
        .await;
        self.remove_pending(broker.path());
    }

    async fn send(
        &self,
        info: &ContainerInfo,
        account: &str,
        container: &str,
        target: &AccountTarget,
        txn: &str,
    ) -> Outcome {
        let mut out = Outcome::default();
        let path = format!(
            "/{}/{}",
            utf8_percent_encode(account, QUOTE),
            utf8_percent_encode(container, QUOTE)
        );
        for (host, dev) in target.hosts.iter().zip(&target.devices) {
            out.sent += 1;
            let uri = format!(
                "http://{host}/{}/{}{path}",
                utf8_percent_encode(dev, QUOTE),
                utf8_percent_encode(&target.partition, QUOTE)
            );
            let req = Request::builder()
                .method(Method::PUT)
                .uri(&uri)
                .header("x-put-timestamp", &info.put_timestamp)
                .header("x-delete-timestamp", &info.delete_timestamp)
                .header("x-object-count", info.object_count.to_string())
                .header("x-bytes-used", info.bytes_used.to_string())
                .header("x-trans-id", txn)
                .header(
                    bh::STORAGE_POLICY_INDEX,
                    info.storage_policy_index.to_string(),
                )
                .header(
                    "user-agent",
                    format!("container-server {}", std::process::id()),
                )
                .header("content-length", "0")
                .body(body::empty());
            let Ok(mut req) = req else {
                out.failed += 1;
                continue;
            };
            self.auth.sign(&mut req);
            match tokio::time::timeout(self.node_timeout, self.client.request(req)).await {
                Ok(Ok(resp)) if resp.status() == http::StatusCode::NOT_FOUND => out.not_found += 1,
                Ok(Ok(resp)) if resp.status().is_success() => {}
                Ok(Ok(resp)) => {
                    warn!(host = %host, status = %resp.status(), "account update failed (will retry)");
                    out.failed += 1;
                }
                Ok(Err(e)) => {
                    warn!(host = %host, error = %e, "account update failed (will retry)");
                    out.failed += 1;
                }
                Err(_) => {
                    warn!(host = %host, "account update timed out (will retry)");
                    out.failed += 1;
                }
            }
        }
        out
    }

    fn pending_path(&self, db: &Path) -> Option<PathBuf> {
        let rel = db.strip_prefix(&self.devices).ok()?;
        let dev = rel.components().next()?;
        let name = db.file_stem()?;
        Some(self.devices.join(dev).join(PENDING_DIR).join(name))
    }

    /// Writes the durable pending record for `db` (temp file, fsync, rename).
    fn write_pending(&self, db: &Path) {
        let Some(p) = self.pending_path(db) else {
            return;
        };
        let res = (|| -> std::io::Result<()> {
            let dir = p.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir)?;
            let tmp = p.with_extension("tmp");
            {
                use std::io::Write;
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(db.to_string_lossy().as_bytes())?;
                f.sync_all()?;
            }
            std::fs::rename(&tmp, &p)?;
            std::fs::File::open(dir)?.sync_all()
        })();
        if let Err(e) = res {
            warn!(db = %db.display(), error = %e, "cannot write pending account update");
        }
    }

    fn remove_pending(&self, db: &Path) {
        if let Some(p) = self.pending_path(db) {
            let _ = std::fs::remove_file(p);
        }
    }

    /// Pending records on every device.
    fn scan_pending(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let Ok(devs) = std::fs::read_dir(&self.devices) else {
            return out;
        };
        for d in devs.flatten() {
            let Ok(files) = std::fs::read_dir(d.path().join(PENDING_DIR)) else {
                continue;
            };
            for f in files.flatten() {
                if f.path().extension().is_some_and(|e| e == "tmp") {
                    continue;
                }
                if let Ok(text) = std::fs::read_to_string(f.path()) {
                    out.push(PathBuf::from(text));
                }
            }
        }
        out
    }

    /// Reports one dirty container if its counts differ from what was reported.
    async fn flush_one(&self, db: PathBuf) {
        let containers = self.containers.clone();
        let d = db.clone();
        let got = tokio::task::spawn_blocking(move || {
            let b = containers.get(&d, ContainerBroker::open)?;
            let i = b.info()?;
            Ok::<_, swirl_store::db::DbError>((b, i))
        })
        .await;
        let (broker, info) = match got {
            Ok(Ok(x)) => x,
            Ok(Err(swirl_store::db::DbError::NotFound(_))) => {
                self.remove_pending(&db);
                return;
            }
            _ => return,
        };
        let same = info.reported_put_timestamp == info.put_timestamp
            && info.reported_delete_timestamp == info.delete_timestamp
            && info.reported_object_count == info.object_count
            && info.reported_bytes_used == info.bytes_used;
        if same {
            self.remove_pending(&db);
            return;
        }
        // Every account replica from the ring (a majority must take it, as
        // Swift's updater has it); else the servers the container PUT named.
        let named = AccountTarget::from_info(&info)
            .map(|t| t.hosts)
            .unwrap_or_default();
        let ring = self
            .account_ring
            .as_ref()
            .and_then(|r| r.target(&info.account, &named));
        let all_replicas = ring.is_some();
        let Some(target) = ring.or_else(|| AccountTarget::from_info(&info)) else {
            self.remove_pending(&db);
            return;
        };
        let txn = swirl_common::trans_id::new_trans_id("");
        let out = self
            .send(&info, &info.account, &info.container, &target, &txn)
            .await;
        debug!(db = %db.display(), ?out, "account update");
        let delivered = if all_replicas {
            // Swift's majority_size: more than half.
            out.sent - out.failed > out.sent / 2
        } else {
            out.failed == 0
        };
        self.settle(&broker, &info, delivered).await;
    }

    /// The background loop: flush dirty containers promptly, retry pending
    /// records every interval, until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut next_scan = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= next_scan {
                for db in self.scan_pending() {
                    self.mark_dirty(&db);
                }
                next_scan = tokio::time::Instant::now() + self.interval;
            }
            tokio::select! {
                _ = self.notify.notified() => {
                    // Gather a burst of row updates into one report.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                _ = tokio::time::sleep_until(next_scan) => {}
                _ = &mut shutdown => return,
            }
            let batch: Vec<PathBuf> = match self.dirty.lock() {
                Ok(mut d) => d.drain().collect(),
                Err(_) => Vec::new(),
            };
            for db in batch {
                self.flush_one(db).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let mut h = HeaderMap::new();
        assert_eq!(AccountTarget::from_headers(&h).unwrap(), None);
        h.insert("x-account-host", "1.2.3.4:5, 1.2.3.5:5".parse().unwrap());
        h.insert("x-account-device", "sda,sdb".parse().unwrap());
        h.insert("x-account-partition", "7".parse().unwrap());
        let t = AccountTarget::from_headers(&h).unwrap().unwrap();
        assert_eq!(t.hosts, ["1.2.3.4:5", "1.2.3.5:5"]);
        h.insert("x-account-device", "sda".parse().unwrap());
        assert!(AccountTarget::from_headers(&h).is_err());
        assert_eq!(
            utf8_percent_encode("a b/é", QUOTE).to_string(),
            "a%20b/%C3%A9"
        );
    }
}
