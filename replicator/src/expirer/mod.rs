//! The object expirer (Swift's `swift/obj/expirer.py`): reads the
//! `.expiring_objects` queue ([`queue`]: the account's containers, named by
//! day, then each due container's rows `<delete_at>-<a>/<c>/<o>`) and, for
//! each row whose time has come, deletes the object with X-If-Delete-At
//! ([`target`]) and then the row. An object rewritten since it was queued
//! (another X-Delete-At, or none) answers 412 and stays; its row stays
//! too, until `reclaim_age` after its time. A due queue container found
//! empty at the end of a pass is deleted.
//!
//! Rows are taken round-robin across target containers (Swift's
//! `round_robin_order`), `tasks_per_second` at most with `concurrency` in
//! flight; `processes`/`process` split the queue among several expirers
//! by a hash of the row. A pass reports progress every `report_interval`
//! and its totals at the end, and records `object_expiration_pass` and
//! `expired_last_pass` in `object.recon`.

pub mod config;
pub mod queue;
pub mod target;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use swirl_common::{expiring, Timestamp};
use swirl_ring::hash::HashPathConfig;
use swirl_ring::RingData;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::backend::Backend;
use crate::error::Result;
use crate::pace::Pacer;
use crate::rings::{ring_path, LoadedRing};
use config::ExpirerSettings;
use target::Targets;

/// The Content-Type of a row queued for an asynchronous delete (Swift's
/// `ASYNC_DELETE_TYPE`): deleted without X-If-Delete-At.
const ASYNC_DELETE_TYPE: &str = "application/async-deleted";

/// How a pass went.
#[derive(Debug, Clone, Default)]
pub struct PassReport {
    /// Objects expired (their rows removed).
    pub expired: u64,
    /// Rows that failed and stay queued.
    pub errors: u64,
    /// Due rows seen.
    pub tasks: u64,
    /// Empty queue containers deleted.
    pub containers_deleted: u64,
    pub elapsed: Duration,
}

impl PassReport {
    pub fn line(&self) -> String {
        format!(
            "pass completed in {:.2}s: {} objects expired, {} errors, {} due rows, {} empty queue containers removed",
            self.elapsed.as_secs_f64(),
            self.expired,
            self.errors,
            self.tasks,
            self.containers_deleted
        )
    }
}

/// One due row.
#[derive(Debug, Clone)]
struct Job {
    queue: String,
    name: String,
    task: expiring::Task,
    is_async: bool,
}

/// Target containers' policies learnt during a pass (None: no container).
type Policies = tokio::sync::Mutex<HashMap<(String, String), Option<u32>>>;

/// The rings of one pass.
struct Rings {
    account: Arc<RingData>,
    container: Arc<RingData>,
    objects: HashMap<u32, Arc<RingData>>,
}

/// The daemon.
pub struct ObjectExpirer {
    settings: ExpirerSettings,
    backend: Backend,
    hash: HashPathConfig,
}

/// Swift's `hash_mod`: which expirer (of `divisor`) takes a row.
fn hash_mod(name: &str, divisor: u64) -> u64 {
    let d = md5::compute(name.as_bytes()).0;
    (u128::from_be_bytes(d) % u128::from(divisor.max(1))) as u64
}

/// Swift's `round_robin_order`: one row per target container in turn, so
/// no container gets all of a pass's deletes at once.
fn round_robin(jobs: Vec<Job>) -> Vec<Job> {
    let mut by: BTreeMap<String, VecDeque<Job>> = BTreeMap::new();
    for j in jobs {
        by.entry(format!("{}/{}", j.task.account, j.task.container))
            .or_default()
            .push_back(j);
    }
    let mut out = Vec::new();
    while !by.is_empty() {
        by.retain(|_, q| {
            if let Some(j) = q.pop_front() {
                out.push(j);
            }
            !q.is_empty()
        });
    }
    out
}

impl ObjectExpirer {
    pub fn new(settings: ExpirerSettings) -> Result<Self> {
        let auth = swirl_common::backend_auth::from_config(
            settings.node.backend_auth.as_ref(),
            "object-expirer",
        )
        .map_err(|e| crate::Error::Config {
            key: "backend_auth".into(),
            message: e.to_string(),
        })?;
        let backend = Backend::new(settings.conn_timeout, settings.node_timeout).signing(auth);
        let hash = HashPathConfig::new(
            settings.node.swift_hash_path_prefix.as_str(),
            settings.node.swift_hash_path_suffix.as_str(),
        );
        Ok(ObjectExpirer {
            settings,
            backend,
            hash,
        })
    }

    pub fn settings(&self) -> &ExpirerSettings {
        &self.settings
    }

    fn rings(&self) -> Result<Rings> {
        let dir = &self.settings.node.swift_dir;
        let load = |name: &str| LoadedRing::from_file(&dir.join(name), 0).map(|r| r.ring);
        let mut objects = HashMap::new();
        for p in &self.settings.node.storage_policy {
            match LoadedRing::from_file(&ring_path(dir, p.index), p.index) {
                Ok(r) => {
                    objects.insert(p.index, r.ring);
                }
                Err(e) => warn!(policy = p.index, error = %e, "no object ring for a policy"),
            }
        }
        Ok(Rings {
            account: load("account.ring.gz")?,
            container: load("container.ring.gz")?,
            objects,
        })
    }

    /// One pass over the queue.
    pub async fn run_once(&self) -> PassReport {
        let begin = Instant::now();
        let mut report = PassReport::default();
        match self.pass(&mut report, begin).await {
            Ok(()) => {}
            Err(e) => {
                warn!(error = %e, "expirer pass failed");
                report.errors += 1;
            }
        }
        report.elapsed = begin.elapsed();
        // An idle pass (aio runs one every few seconds) is not news.
        if report.tasks > 0 || report.errors > 0 || report.containers_deleted > 0 {
            info!("object expirer {}", report.line());
        } else {
            debug!("object expirer {}", report.line());
        }
        let path = self
            .settings
            .node
            .recon_cache_path
            .join(swirl_store::recon_cache::OBJECT);
        let mut m = serde_json::Map::new();
        m.insert(
            "object_expiration_pass".into(),
            json!(report.elapsed.as_secs_f64()),
        );
        m.insert("expired_last_pass".into(), json!(report.expired));
        if let Ok(Err(e)) =
            tokio::task::spawn_blocking(move || swirl_store::recon_cache::dump(&path, m)).await
        {
            warn!(error = %e, "writing the recon cache failed");
        }
        report
    }

    async fn pass(
        &self,
        report: &mut PassReport,
        begin: Instant,
    ) -> std::result::Result<(), String> {
        let rings = self.rings().map_err(|e| e.to_string())?;
        let containers = queue::list(
            &self.backend,
            &rings.account,
            &self.hash,
            expiring::ACCOUNT,
            None,
        )
        .await?;
        if containers.is_empty() {
            return Ok(());
        }
        let now = Timestamp::now();
        let due: Vec<String> = containers
            .into_iter()
            .map(|c| c.name)
            .take_while(|n| expiring::container_time(n).is_none_or(|t| t <= now))
            .filter(|n| expiring::container_time(n).is_some())
            .collect();
        debug!(
            account = expiring::ACCOUNT,
            due_containers = due.len(),
            "expirer pass beginning"
        );
        let mut jobs = Vec::new();
        for q in &due {
            let rows = match queue::list(
                &self.backend,
                &rings.container,
                &self.hash,
                expiring::ACCOUNT,
                Some(q),
            )
            .await
            {
                Ok(r) => r,
                Err(e) => {
                    warn!(queue = %q, error = %e, "listing a queue container failed");
                    report.errors += 1;
                    continue;
                }
            };
            for row in rows {
                let Some(task) = expiring::parse_task(&row.name) else {
                    warn!(queue = %q, row = %row.name, "unexpected queue row");
                    continue;
                };
                if task.delete_at > now {
                    break;
                }
                if self.settings.processes > 0
                    && hash_mod(&format!("{q}/{}", row.name), self.settings.processes)
                        != self.settings.process
                {
                    continue;
                }
                jobs.push(Job {
                    queue: q.clone(),
                    is_async: row.content_type.as_deref() == Some(ASYNC_DELETE_TYPE),
                    name: row.name,
                    task,
                });
            }
        }
        report.tasks = jobs.len() as u64;
        let expired = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let rings = Arc::new(rings);
        let policies: Arc<Policies> = Arc::default();
        let sem = Arc::new(Semaphore::new(self.settings.concurrency));
        let mut pacer = Pacer::new(self.settings.tasks_per_second);
        let mut tasks = tokio::task::JoinSet::new();
        let mut last_report = Instant::now();
        for job in round_robin(jobs) {
            pacer.wait().await;
            let Ok(permit) = sem.clone().acquire_owned().await else {
                break;
            };
            let (backend, hash, rings) = (self.backend.clone(), self.hash.clone(), rings.clone());
            let (done, failed, policies) = (expired.clone(), errors.clone(), policies.clone());
            let reclaim_age = self.settings.reclaim_age;
            tasks.spawn(async move {
                let t = Targets {
                    backend: &backend,
                    hash: &hash,
                    account_ring: &rings.account,
                    container_ring: &rings.container,
                    object_rings: &rings.objects,
                };
                if expire(&t, &job, &policies, reclaim_age).await {
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                drop(permit);
            });
            while tasks.try_join_next().is_some() {}
            if last_report.elapsed() >= self.settings.report_interval {
                info!(
                    "object expirer pass so far {:.0}s: {} objects expired",
                    begin.elapsed().as_secs_f64(),
                    expired.load(Ordering::Relaxed)
                );
                last_report = Instant::now();
            }
        }
        while tasks.join_next().await.is_some() {}
        report.expired = expired.load(Ordering::Relaxed);
        report.errors += errors.load(Ordering::Relaxed);
        // Due containers left empty go (replicas still holding rows refuse).
        let t = Targets {
            backend: &self.backend,
            hash: &self.hash,
            account_ring: &rings.account,
            container_ring: &rings.container,
            object_rings: &rings.objects,
        };
        for q in &due {
            let left = queue::list(
                &self.backend,
                &rings.container,
                &self.hash,
                expiring::ACCOUNT,
                Some(q),
            )
            .await;
            if matches!(left, Ok(ref rows) if rows.is_empty()) {
                t.delete_queue_container(q).await;
                report.containers_deleted += 1;
            }
        }
        Ok(())
    }

    /// Passes every `interval` until `shutdown` resolves.
    pub async fn run_forever(&self, shutdown: impl std::future::Future<Output = ()>) {
        crate::schedule::every(self.settings.interval, shutdown, || self.run_once()).await
    }
}

/// Swift's `delete_object`: the object's DELETE, then the row's when it
/// worked (or the row is past `reclaim_age` and its object gone or
/// rewritten). True when the row was removed.
async fn expire(t: &Targets<'_>, job: &Job, policies: &Policies, reclaim_age: u64) -> bool {
    let key = (job.task.account.clone(), job.task.container.clone());
    let cached = policies.lock().await.get(&key).copied();
    let policy = match cached {
        Some(p) => Ok(p),
        None => t.container_policy(&key.0, &key.1).await,
    };
    let status = match policy {
        Ok(p) => {
            policies.lock().await.insert(key, p);
            match p {
                Some(p) => t.delete_object(&job.task, p, job.is_async).await,
                // No container: the proxy would answer 404.
                None => 404,
            }
        }
        Err(e) => {
            warn!(error = %e, "expirer: container of an expiring object unreadable");
            503
        }
    };
    let ok = (200..300).contains(&status) || status == 409 || (job.is_async && status == 404);
    let old = job.task.delete_at.as_f64() <= Timestamp::now().as_f64() - reclaim_age as f64;
    if ok || (old && (status == 404 || status == 412)) {
        t.pop_queue(&job.queue, &job.name).await;
        return true;
    }
    warn!(
        queue = %job.queue,
        row = %job.name,
        status,
        "unexpected response while expiring an object; the row stays queued"
    );
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(a: &str, c: &str, o: &str) -> Job {
        Job {
            queue: "q".into(),
            name: o.into(),
            task: expiring::Task {
                delete_at: Timestamp::default(),
                account: a.into(),
                container: c.into(),
                object: o.into(),
            },
            is_async: false,
        }
    }

    #[test]
    fn round_robin_across_containers() {
        let jobs = vec![
            job("a", "c1", "1"),
            job("a", "c1", "2"),
            job("a", "c1", "3"),
            job("a", "c2", "4"),
            job("b", "c1", "5"),
        ];
        let order: Vec<String> = round_robin(jobs).into_iter().map(|j| j.name).collect();
        assert_eq!(order, ["1", "4", "5", "2", "3"]);
        // Swift's hash_mod: int(md5(name).hexdigest(), 16) % divisor.
        assert_eq!(hash_mod("x", 1), 0);
        let spread: std::collections::HashSet<u64> =
            (0..50).map(|i| hash_mod(&format!("q/{i}"), 3)).collect();
        assert_eq!(spread.len(), 3);
    }
}
