//! The account and container auditors (Swift's swift/common/db_auditor.py):
//! every `.db` under each local device's `accounts/` or `containers/`
//! gets SQLite's `quick_check` (or `integrity_check`, with
//! `integrity_check = true`); a database SQLite finds damaged goes to
//! `<dev>/quarantined/<accounts|containers>/<hash>`, and the replicators
//! restore it from another replica. Paced by `databases_per_second`
//! (Swift's `accounts_per_second` / `containers_per_second`). The walk is
//! blocking, on a blocking thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use swirl_store::db::placement::DbKind;
use swirl_store::db::{integrity, quarantine, walk, DbError};
use swirl_store::object::device::check_device;
use tracing::{info, warn};

use super::config::DbAuditSettings;
use super::rate::RateLimiter;
use super::stats::AuditStats;
use super::{list_dirs, sleep_unless, unix_now};

/// What one pass did.
#[derive(Debug, Clone)]
pub struct DbPassReport {
    pub kind: DbKind,
    pub stats: AuditStats,
    pub elapsed: Duration,
    pub stopped: bool,
}

impl DbPassReport {
    /// The totals line.
    pub fn line(&self) -> String {
        let mut l = self
            .stats
            .line(&format!("{} audit", self.kind.name()), self.elapsed);
        if self.stopped {
            l.push_str("; stopped before the end");
        }
        l
    }
}

/// The account or container auditor of one node.
#[derive(Debug, Clone)]
pub struct DbAuditor {
    settings: Arc<DbAuditSettings>,
}

impl DbAuditor {
    pub fn new(settings: DbAuditSettings) -> Self {
        DbAuditor {
            settings: Arc::new(settings),
        }
    }

    pub fn settings(&self) -> &DbAuditSettings {
        &self.settings
    }

    /// One pass over `devices` (all local devices when None), on a blocking thread.
    pub async fn run_pass(
        &self,
        devices: Option<Vec<String>>,
        stop: Arc<AtomicBool>,
    ) -> DbPassReport {
        let me = self.clone();
        let begin = Instant::now();
        let kind = self.settings.kind;
        tokio::task::spawn_blocking(move || me.pass(devices.as_deref(), &stop))
            .await
            .unwrap_or_else(|e| {
                warn!(error = %e, "database audit pass panicked");
                DbPassReport {
                    kind,
                    stats: AuditStats {
                        errors: 1,
                        ..AuditStats::default()
                    },
                    elapsed: begin.elapsed(),
                    stopped: true,
                }
            })
    }

    /// A pass every `interval`, the first after `first_delay`, until `shutdown`.
    pub async fn run_forever(
        &self,
        first_delay: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let stop = Arc::new(AtomicBool::new(false));
        let me = self.clone();
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            sleep_unless(first_delay, &flag).await;
            while !flag.load(Ordering::Relaxed) {
                let begin = Instant::now();
                let rep = me.run_pass(None, flag.clone()).await;
                info!("{}", rep.line());
                let wait = me.settings.interval.saturating_sub(begin.elapsed());
                sleep_unless(wait, &flag).await;
            }
        });
        shutdown.await;
        stop.store(true, Ordering::Relaxed);
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }

    /// One pass, blocking.
    pub fn pass(&self, devices: Option<&[String]>, stop: &AtomicBool) -> DbPassReport {
        let s = &self.settings;
        let kind = s.kind;
        let begin = Instant::now();
        let since = unix_now();
        let mut last_log = Instant::now();
        let mut limiter = RateLimiter::new(s.databases_per_second);
        let mut stats = AuditStats::default();
        info!("{} audit begins", kind.name());
        let devs = devices.map_or_else(
            || list_dirs(&s.devices).unwrap_or_default(),
            <[String]>::to_vec,
        );
        'devices: for dev in devs {
            if let Err(e) = check_device(&s.devices, &dev, s.mount_check) {
                warn!(device = %dev, error = %e, "{} audit: skipping device", kind.name());
                continue;
            }
            let root = s.devices.join(&dev);
            let found = match walk::databases(&root.join(kind.datadir()), |_| true) {
                Ok(f) => f,
                Err(e) => {
                    stats.errors += 1;
                    warn!(device = %dev, error = %e, "{} audit: walk", kind.name());
                    continue;
                }
            };
            for db in found {
                if stop.load(Ordering::Relaxed) {
                    break 'devices;
                }
                stats.files += 1;
                stats.bytes += std::fs::metadata(&db.path).map(|m| m.len()).unwrap_or(0);
                match integrity::check(&db.path, s.integrity_check) {
                    Ok(None) | Err(DbError::NotFound(_)) => {}
                    Ok(Some(why)) => match quarantine::quarantine_db(&root, kind, &db.path) {
                        Ok(dest) => {
                            stats.quarantined += 1;
                            warn!(path = %db.path.display(), dest = %dest.display(), why = %why,
                                "{} database failed audit and was quarantined", kind.name());
                        }
                        Err(e) => {
                            stats.errors += 1;
                            warn!(path = %db.path.display(), error = %e,
                                "{} audit: quarantine failed", kind.name());
                        }
                    },
                    Err(e) => {
                        stats.errors += 1;
                        warn!(path = %db.path.display(), error = %e,
                            "{} audit: could not check", kind.name());
                    }
                }
                if last_log.elapsed() >= s.log_time {
                    last_log = Instant::now();
                    info!(
                        "{} (under way)",
                        stats.line(&format!("{} audit", kind.name()), begin.elapsed())
                    );
                    self.dump_recon(stats.db_recon(kind.name(), since));
                }
                limiter.wait(1);
            }
        }
        let rep = DbPassReport {
            kind,
            stats,
            elapsed: begin.elapsed(),
            stopped: stop.load(Ordering::Relaxed),
        };
        let mut entry = stats.db_recon(kind.name(), since);
        entry.insert(
            format!("{}_auditor_pass_completed", kind.name()),
            serde_json::json!(rep.elapsed.as_secs_f64()),
        );
        self.dump_recon(entry);
        rep
    }

    fn dump_recon(&self, entry: serde_json::Map<String, serde_json::Value>) {
        let file = match self.settings.kind {
            DbKind::Account => swirl_store::recon_cache::ACCOUNT,
            DbKind::Container => swirl_store::recon_cache::CONTAINER,
        };
        let path = self.settings.recon_cache_path.join(file);
        if let Err(e) = swirl_store::recon_cache::dump(&path, entry) {
            warn!(path = %path.display(), error = %e, "database audit: recon cache");
        }
    }
}
