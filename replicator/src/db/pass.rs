//! A database replicator's passes (Swift's `Replicator.run_once` /
//! `run_forever`): every database on this node's devices of the ring
//! (`accounts/` or `containers/`), taken round robin across devices,
//! `concurrency` at once and at most `databases_per_second` started, each
//! replicated to its peers; stale temp files swept; a progress line every
//! `stats_interval`, the totals at the end, and Swift's recon entry.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use swirl_common::Timestamp;
use swirl_ring::{Device, RingData};
use swirl_store::db::account::Account;
use swirl_store::db::container::Container;
use swirl_store::db::placement::DbKind;
use swirl_store::db::walk::{self, Found};
use tokio::sync::Semaphore;
use tracing::{error, info, warn};

use super::config::DbSettings;
use super::kind::Replicated;
use super::stats::DbStats;
use super::{account_report, replicate, DbCtx};
use crate::client::PeerClient;
use crate::error::Result;
use crate::jobs;
use crate::rings::LoadedRing;

/// Limits a pass to some devices or partitions (Swift's `--devices`,
/// `--partitions`).
#[derive(Debug, Clone, Default)]
pub struct DbOverrides {
    pub devices: Option<Vec<String>>,
    pub partitions: Option<Vec<u32>>,
}

/// How a pass ended.
#[derive(Debug, Clone)]
pub struct DbPassReport {
    pub stats: DbStats,
    pub total: usize,
    pub done: usize,
    pub elapsed: Duration,
}

/// The account or container replicator of one node.
pub struct DbReplicator {
    ctx: Arc<DbCtx>,
}

/// Takes one database of each device in turn (Swift's round robin), so a
/// pass spreads its load over the disks.
fn round_robin(per_device: Vec<Vec<(Device, Found)>>) -> Vec<(Device, Found)> {
    let mut its: Vec<_> = per_device.into_iter().map(|v| v.into_iter()).collect();
    let mut out = Vec::new();
    loop {
        let before = out.len();
        for it in its.iter_mut() {
            if let Some(x) = it.next() {
                out.push(x);
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

impl DbReplicator {
    /// Loads the node's TLS identity and builds the replicator.
    pub fn new(settings: DbSettings) -> Result<Self> {
        let client = Arc::new(PeerClient::from_config(
            settings.node.cluster_tls.as_ref(),
            settings.conn_timeout,
            settings.node_timeout,
        )?);
        let policies = settings.node.storage_policy.len();
        Ok(DbReplicator {
            ctx: Arc::new(DbCtx {
                settings,
                client,
                policies,
            }),
        })
    }

    pub fn settings(&self) -> &DbSettings {
        &self.ctx.settings
    }

    /// One replication pass.
    pub async fn run_pass(&self, o: &DbOverrides) -> DbPassReport {
        match self.ctx.settings.kind {
            DbKind::Account => self.pass::<Account>(o).await,
            DbKind::Container => self.pass::<Container>(o).await,
        }
    }

    /// The databases to replicate, round robin across local devices.
    async fn collect(
        &self,
        ring: &Arc<RingData>,
        o: &DbOverrides,
        stats: &mut DbStats,
    ) -> Vec<(Device, Found)> {
        let s = &self.ctx.settings;
        let locals: Vec<Device> = jobs::local_devices(ring, &s.replication_ip, s.replication_port)
            .into_iter()
            .cloned()
            .collect();
        if locals.is_empty() {
            error!(ip = %s.replication_ip, port = s.replication_port,
                "can't find itself in the ring: not replicating");
        }
        let mut per_device = Vec::new();
        for dev in locals {
            let (devices, mount_check) = (s.node.disks.devices.clone(), s.node.disks.mount_check);
            let name = dev.device.clone();
            let mounted = tokio::task::spawn_blocking(move || {
                swirl_store::object::device::check_device(&devices, &name, mount_check).is_ok()
            })
            .await
            .unwrap_or(false);
            if !mounted {
                // Swift counts a failure for every device of the ring.
                warn!(device = %dev.device, "device unavailable (not mounted?): skipped");
                for d in ring.devs.iter().flatten() {
                    stats.add_failure(&d.replication_ip, &d.device);
                }
                continue;
            }
            if o.devices.as_ref().is_some_and(|v| !v.contains(&dev.device)) {
                continue;
            }
            let root = s.node.disks.devices.join(&dev.device);
            let datadir = root.join(s.kind.datadir());
            let (reclaim, only) = (s.reclaim_age, o.partitions.clone());
            let (handoffs_only, ring2, id) = (s.handoffs_only, ring.clone(), dev.id);
            let found = tokio::task::spawn_blocking(move || {
                crate::tmp_sweep::sweep_old_tmp(&root.join("tmp"), reclaim);
                walk::databases(&datadir, |p| {
                    only.as_ref().is_none_or(|v| v.contains(&p))
                        && !(handoffs_only && ring2.primaries(p).any(|n| n.dev.id == id))
                })
            })
            .await;
            match found {
                Ok(Ok(mut list)) => {
                    list.shuffle(&mut rand::rng());
                    per_device.push(list.into_iter().map(|f| (dev.clone(), f)).collect());
                }
                Ok(Err(e)) => warn!(device = %dev.device, error = %e, "listing databases failed"),
                Err(e) => warn!(device = %dev.device, error = %e, "listing databases failed"),
            }
        }
        round_robin(per_device)
    }

    async fn pass<K: Replicated>(&self, o: &DbOverrides) -> DbPassReport {
        let start = Instant::now();
        let s = &self.ctx.settings;
        let kind = s.kind.name();
        let mut first = DbStats {
            start: Timestamp::now().as_f64(),
            ..Default::default()
        };
        let ring = match LoadedRing::from_file(&s.node.ring_path(s.kind), 0) {
            Ok(r) => r.ring,
            Err(e) => {
                error!(error = %e, "no {kind} ring: not replicating");
                return DbPassReport {
                    stats: first,
                    total: 0,
                    done: 0,
                    elapsed: start.elapsed(),
                };
            }
        };
        // Containers report their stats to the account ring's replicas.
        let account_ring = match s.kind {
            DbKind::Account => None,
            DbKind::Container => {
                match LoadedRing::from_file(&s.node.ring_path(DbKind::Account), 0) {
                    Ok(r) => Some(r.ring),
                    Err(e) => {
                        warn!(error = %e, "no account ring: container stats not reported");
                        None
                    }
                }
            }
        };
        let dbs = self.collect(&ring, o, &mut first).await;
        let total = dbs.len();
        info!(databases = total, "{kind} replication pass starting");
        let stats = Arc::new(Mutex::new(first));
        let done = Arc::new(AtomicUsize::new(0));
        let ticker = {
            let (stats, done) = (stats.clone(), done.clone());
            let every = s.stats_interval;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let line = stats
                        .lock()
                        .map(|st| st.line(done.load(Ordering::Relaxed), total, start.elapsed()))
                        .unwrap_or_default();
                    info!("{kind} replication: {line}");
                }
            })
        };
        let sem = Arc::new(Semaphore::new(s.concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, (dev, found)) in dbs.into_iter().enumerate() {
            // Swift's databases_per_second.
            if s.databases_per_second > 0.0 {
                let due = start + Duration::from_secs_f64(i as f64 / s.databases_per_second);
                tokio::time::sleep_until(due.into()).await;
            }
            let Ok(permit) = sem.clone().acquire_owned().await else {
                break;
            };
            let (ctx, ring, account_ring) = (self.ctx.clone(), ring.clone(), account_ring.clone());
            let (stats, done) = (stats.clone(), done.clone());
            tasks.spawn(async move {
                let _permit = permit;
                let mut out = replicate::replicate::<K>(&ctx, &ring, &dev, found).await;
                if let (Some(path), Some(ar)) = (&out.kept, &account_ring) {
                    account_report::report(&ctx, path, ar, &mut out.stats).await;
                }
                if let Ok(mut all) = stats.lock() {
                    all.merge(out.stats);
                }
                done.fetch_add(1, Ordering::Relaxed);
            });
            // Collect finished tasks as we go (the set stays small).
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}
        ticker.abort();
        let elapsed = start.elapsed();
        let stats = stats.lock().map(|s| s.clone()).unwrap_or_default();
        let done = done.load(Ordering::Relaxed);
        info!(
            "{kind} replication pass complete: {}",
            stats.line(done, total, elapsed)
        );
        let end = Timestamp::now().as_f64();
        let file = match s.kind {
            DbKind::Account => swirl_store::recon_cache::ACCOUNT,
            DbKind::Container => swirl_store::recon_cache::CONTAINER,
        };
        let path = s.node.recon_cache_path.join(file);
        let update = stats.recon(elapsed, end);
        let r = tokio::task::spawn_blocking(move || swirl_store::recon_cache::dump(&path, update))
            .await;
        if let Ok(Err(e)) | Err(e) = r.map_err(|e| std::io::Error::other(e.to_string())) {
            warn!(error = %e, "writing the recon cache failed");
        }
        DbPassReport {
            stats,
            total,
            done,
            elapsed,
        }
    }

    /// Passes every `interval` until `shutdown` resolves.
    pub async fn run_forever(&self, shutdown: impl std::future::Future<Output = ()>) {
        let all = DbOverrides::default();
        crate::schedule::every(self.ctx.settings.interval, shutdown, || self.run_pass(&all)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_takes_one_per_device_in_turn() {
        let dev = |n: &str| Device {
            device: n.into(),
            ..Default::default()
        };
        let f = |p: u32| Found {
            partition: p,
            path: format!("/x/{p}.db").into(),
        };
        let got = round_robin(vec![
            vec![(dev("a"), f(1)), (dev("a"), f(2)), (dev("a"), f(3))],
            vec![],
            vec![(dev("c"), f(10))],
        ]);
        let order: Vec<u32> = got.iter().map(|(_, f)| f.partition).collect();
        assert_eq!(order, [1, 10, 2, 3]);
    }
}
