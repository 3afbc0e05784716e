//! The object updater (Swift's `swift/obj/updater.py`): sweeps every
//! device's async pendings (container updates the object server could not
//! deliver, expirer-queue rows among them) and sends each to every replica
//! of its container that the container ring names today (not the hosts the
//! original request named). A pending is removed once every replica took it
//! (2xx); otherwise the replicas that did are recorded in it, so the next
//! sweep asks only the others. A 301 from a sharded container (Location,
//! X-Backend-Redirect-Timestamp) sends the update to that shard at once and
//! in later sweeps; a redirect loop goes back to the root container.
//!
//! Sweeps are rate-limited (`objects_per_second`) with `concurrency`
//! updates in flight, report progress every `report_interval` and their
//! totals at the end (Swift's successes, failures, quarantines, unlinks,
//! errors, redirects), and record `object_updater_sweep` in `object.recon`.

pub mod config;
pub mod pending;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Method;
use serde_json::json;
use swirl_ring::hash::HashPathConfig;
use swirl_ring::RingData;
use swirl_store::object::async_pending::{self, AsyncUpdate};
use swirl_store::object::layout::DeviceLayout;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::backend::{self, Backend};
use crate::error::{Error, Result};
use crate::pace::Pacer;
use crate::rings::LoadedRing;
use config::UpdaterSettings;
use pending::Found;

/// A sweep's counters (Swift's `SweepStats`, without the per-container
/// rate limiter's skips, deferrals and drains).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepStats {
    pub successes: u64,
    pub failures: u64,
    pub quarantines: u64,
    pub unlinks: u64,
    pub errors: u64,
    pub redirects: u64,
}

impl SweepStats {
    fn add(&mut self, o: SweepStats) {
        self.successes += o.successes;
        self.failures += o.failures;
        self.quarantines += o.quarantines;
        self.unlinks += o.unlinks;
        self.errors += o.errors;
        self.redirects += o.redirects;
    }

    /// Swift's summary: `N successes, N failures, ...`.
    pub fn line(&self) -> String {
        format!(
            "{} successes, {} failures, {} quarantines, {} unlinks, {} errors, {} redirects",
            self.successes,
            self.failures,
            self.quarantines,
            self.unlinks,
            self.errors,
            self.redirects
        )
    }
}

/// How a sweep went.
#[derive(Debug, Clone)]
pub struct SweepReport {
    pub stats: SweepStats,
    pub elapsed: Duration,
    /// Devices swept (those present, and mounted under mount_check).
    pub devices: usize,
}

/// The daemon.
pub struct ObjectUpdater {
    settings: UpdaterSettings,
    backend: Backend,
    hash: HashPathConfig,
    ring: Mutex<Option<LoadedRing>>,
}

/// Where a redirect sends the update: `account/container` and the shard's time.
fn redirect_of(r: &backend::Reply) -> Option<(String, String)> {
    use swirl_common::backend_headers as bh;
    let h = |k: &str| r.headers.get(k).and_then(|v| v.to_str().ok());
    let loc = h("location")?;
    // The path of an absolute or relative URL.
    let path = match loc.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
        None => loc,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let quoted = h(bh::LOCATION_IS_QUOTED).is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on" | "t" | "y"
        )
    });
    let path = if quoted {
        percent_encoding::percent_decode_str(path)
            .decode_utf8_lossy()
            .into_owned()
    } else {
        path.to_string()
    };
    let mut parts = path.trim_start_matches('/').splitn(3, '/');
    let (a, c) = (parts.next()?, parts.next()?);
    if a.is_empty() || c.is_empty() {
        return None;
    }
    let ts = h(bh::REDIRECT_TIMESTAMP)?;
    let ts = swirl_common::Timestamp::parse(ts).ok()?;
    Some((format!("{a}/{c}"), ts.internal()))
}

/// What sending one update to its replicas came to.
struct Round {
    /// Every replica not asked before took it.
    success: bool,
    new_successes: bool,
    redirect: Option<(String, String)>,
}

impl ObjectUpdater {
    pub fn new(settings: UpdaterSettings) -> Result<Self> {
        let auth = swirl_common::backend_auth::from_config(
            settings.node.backend_auth.as_ref(),
            "object-updater",
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
        Ok(ObjectUpdater {
            settings,
            backend,
            hash,
            ring: Mutex::new(None),
        })
    }

    pub fn settings(&self) -> &UpdaterSettings {
        &self.settings
    }

    /// The container ring, read again when its file changed.
    fn container_ring(&self) -> Result<Arc<RingData>> {
        let path = self.settings.node.swift_dir.join("container.ring.gz");
        let mut g = self.ring.lock().map_err(|_| Error::Ring {
            path: path.display().to_string(),
            message: "lock poisoned".into(),
        })?;
        if let Some(r) = g.as_ref().filter(|r| !r.changed()) {
            return Ok(r.ring.clone());
        }
        let r = LoadedRing::from_file(&path, 0)?;
        let ring = r.ring.clone();
        *g = Some(r);
        Ok(ring)
    }

    /// One sweep of every device.
    pub async fn run_once(&self) -> SweepReport {
        let begin = Instant::now();
        debug!("object update sweep beginning");
        let mut total = SweepStats::default();
        let mut devices = 0;
        let root = self.settings.node.disks.devices.clone();
        let mount_check = self.settings.node.disks.mount_check;
        let names = tokio::task::spawn_blocking(move || -> Vec<String> {
            match std::fs::read_dir(&root) {
                Ok(rd) => {
                    let mut v: Vec<String> = rd
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect();
                    v.sort();
                    v
                }
                Err(e) => {
                    warn!(devices = %root.display(), error = %e, "unable to list the devices");
                    Vec::new()
                }
            }
        })
        .await
        .unwrap_or_default();
        for dev in names {
            let devs = self.settings.node.disks.devices.clone();
            let d2 = dev.clone();
            let ok = tokio::task::spawn_blocking(move || {
                swirl_store::object::device::check_device(&devs, &d2, mount_check)
            })
            .await
            .map(|r| r.is_ok())
            .unwrap_or(false);
            if !ok {
                warn!(device = %dev, "skipping: not a (mounted) device");
                continue;
            }
            devices += 1;
            total.add(self.sweep_device(&dev).await);
        }
        let elapsed = begin.elapsed();
        // An idle sweep (aio runs one every few seconds) is not news.
        if total == SweepStats::default() {
            debug!(
                "object update sweep completed: {:.2}s, nothing to do",
                elapsed.as_secs_f64()
            );
        } else {
            info!(
                "object update sweep completed: {:.2}s, {}",
                elapsed.as_secs_f64(),
                total.line()
            );
        }
        let path = self
            .settings
            .node
            .recon_cache_path
            .join(swirl_store::recon_cache::OBJECT);
        let mut m = serde_json::Map::new();
        m.insert("object_updater_sweep".into(), json!(elapsed.as_secs_f64()));
        if let Ok(Err(e)) =
            tokio::task::spawn_blocking(move || swirl_store::recon_cache::dump(&path, m)).await
        {
            warn!(error = %e, "writing the recon cache failed");
        }
        SweepReport {
            stats: total,
            elapsed,
            devices,
        }
    }

    /// Sweeps one device.
    async fn sweep_device(&self, dev: &str) -> SweepStats {
        let begin = Instant::now();
        let path = self.settings.node.disks.devices.join(dev);
        let policies: Vec<u32> = self
            .settings
            .node
            .storage_policy
            .iter()
            .map(|p| p.index)
            .collect();
        let p2 = path.clone();
        let walk = tokio::task::spawn_blocking(move || pending::walk(&p2, &policies))
            .await
            .unwrap_or_default();
        let stats = Arc::new(Mutex::new(SweepStats {
            unlinks: walk.unlinks,
            errors: walk.errors,
            ..Default::default()
        }));
        debug!(device = %dev, pendings = walk.found.len(), "object update sweep starting");
        let sem = Arc::new(Semaphore::new(self.settings.concurrency));
        let mut pacer = Pacer::new(self.settings.objects_per_second);
        let mut last_report = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        let ctx = Arc::new(Ctx {
            backend: self.backend.clone(),
            hash: self.hash.clone(),
            devices: self.settings.node.disks.devices.clone(),
            device: dev.to_string(),
        });
        for found in walk.found {
            pacer.wait().await;
            let Ok(permit) = sem.clone().acquire_owned().await else {
                break;
            };
            let ring = match self.container_ring() {
                Ok(r) => r,
                Err(e) => {
                    warn!(error = %e, "no container ring: the sweep stops");
                    if let Ok(mut s) = stats.lock() {
                        s.errors += 1;
                    }
                    break;
                }
            };
            let (ctx, shared) = (ctx.clone(), stats.clone());
            tasks.spawn(async move {
                let s = ctx.process(found, &ring).await;
                if let Ok(mut all) = shared.lock() {
                    all.add(s);
                }
                drop(permit);
            });
            while tasks.try_join_next().is_some() {}
            if last_report.elapsed() >= self.settings.report_interval {
                let s = stats.lock().map(|s| *s).unwrap_or_default();
                info!(
                    "object update sweep progress on {dev}: {:.2}s, {}",
                    begin.elapsed().as_secs_f64(),
                    s.line()
                );
                last_report = Instant::now();
            }
        }
        while tasks.join_next().await.is_some() {}
        let s = stats.lock().map(|s| *s).unwrap_or_default();
        debug!(
            "object update sweep completed on {dev} in {:.2}s: {}",
            begin.elapsed().as_secs_f64(),
            s.line()
        );
        s
    }

    /// Sweeps every `interval` until `shutdown` resolves.
    pub async fn run_forever(&self, shutdown: impl std::future::Future<Output = ()>) {
        crate::schedule::every(self.settings.interval, shutdown, || self.run_once()).await
    }
}

/// What processing one pending needs (shared by a device's tasks).
struct Ctx {
    backend: Backend,
    hash: HashPathConfig,
    devices: PathBuf,
    device: String,
}

/// Moves an unreadable pending to the device's `quarantined/objects/`.
fn quarantine(dev: &Path, path: &Path) -> std::io::Result<()> {
    let dir = dev.join("quarantined").join("objects");
    std::fs::create_dir_all(&dir)?;
    let name = path.file_name().unwrap_or_default();
    std::fs::rename(path, dir.join(name))?;
    if let Some(parent) = path.parent() {
        let _ = std::fs::remove_dir(parent);
    }
    Ok(())
}

impl Ctx {
    /// Swift's `process_object_update`.
    async fn process(&self, found: Found, ring: &RingData) -> SweepStats {
        let mut st = SweepStats::default();
        let p = found.path.clone();
        let loaded = tokio::task::spawn_blocking(move || async_pending::load(&p)).await;
        let mut update = match loaded {
            Ok(Ok(u)) => u,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => return st,
            Ok(Err(e)) => {
                warn!(path = %found.path.display(), error = %e, "unreadable async pending; quarantining it");
                st.quarantines += 1;
                let (dev, p) = (self.devices.join(&self.device), found.path.clone());
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || quarantine(&dev, &p)).await
                {
                    warn!(error = %e, "quarantining an async pending failed");
                    st.errors += 1;
                }
                return st;
            }
            Err(_) => {
                st.errors += 1;
                return st;
            }
        };
        let mut round = self.send(&mut update, found.policy, ring).await;
        let mut rewrite = false;
        for attempt in 0..2 {
            if round.success {
                st.successes += 1;
                debug!(path = %found.path.display(), "update sent");
                let p = found.path.clone();
                let removed = tokio::task::spawn_blocking(move || {
                    let r = std::fs::remove_file(&p);
                    if let Some(parent) = p.parent() {
                        let _ = std::fs::remove_dir(parent);
                    }
                    r
                })
                .await;
                match removed {
                    Ok(Ok(())) => st.unlinks += 1,
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
                    _ => st.errors += 1,
                }
                return st;
            }
            if let Some((shard, _)) = round.redirect.take() {
                update.successes.clear();
                if update.redirect_history.contains(&shard) {
                    // A loop: back to the root container.
                    update.container_path = None;
                    update.redirect_history.clear();
                } else {
                    update.container_path = Some(shard.clone());
                    update.redirect_history.push(shard);
                }
                st.redirects += 1;
                rewrite = true;
                if attempt == 0 {
                    round = self.send(&mut update, found.policy, ring).await;
                    continue;
                }
            } else {
                st.failures += 1;
                rewrite |= round.new_successes;
            }
            break;
        }
        if rewrite {
            let layout = DeviceLayout::new(&self.devices, &self.device, found.policy);
            let (hash, ts) = (found.hash.clone(), found.timestamp.clone());
            let saved = tokio::task::spawn_blocking(move || {
                async_pending::save(&layout, &hash, &ts, &update)
            })
            .await;
            if !matches!(saved, Ok(Ok(_))) {
                warn!(path = %found.path.display(), "rewriting an async pending failed");
                st.errors += 1;
            }
        }
        st
    }

    /// Sends `u` to every replica of its container not in its successes.
    async fn send(&self, u: &mut AsyncUpdate, policy: u32, ring: &RingData) -> Round {
        use swirl_common::backend_headers as bh;
        let mut headers: BTreeMap<String, String> = u.headers.clone();
        headers.insert(
            "user-agent".into(),
            format!("object-updater {}", std::process::id()),
        );
        headers
            .entry(bh::STORAGE_POLICY_INDEX.into())
            .or_insert_with(|| policy.to_string());
        headers
            .entry(bh::ACCEPT_REDIRECT.into())
            .or_insert_with(|| "true".into());
        headers
            .entry(bh::ACCEPT_QUOTED_LOCATION.into())
            .or_insert_with(|| "true".into());
        let headers: Vec<(String, String)> = headers.into_iter().collect();
        let (acct, cont) = match u.container_path.as_deref().and_then(|p| p.split_once('/')) {
            Some((a, c)) => (a.to_string(), c.to_string()),
            None => (u.account.clone(), u.container.clone()),
        };
        let (part, nodes) = ring.get_nodes(&self.hash, &acct, Some(&cont), None);
        let path = format!("/{acct}/{cont}/{}", u.obj);
        let method = if u.op == "DELETE" {
            Method::DELETE
        } else {
            Method::PUT
        };
        let mut calls = Vec::new();
        for n in nodes.filter(|n| !u.successes.contains(&n.dev.id)) {
            let host = backend::addr(n.dev);
            let dev_path = format!("/{}/{part}{path}", n.dev.device);
            let (b, m, h, id, device) = (
                self.backend.clone(),
                method.clone(),
                headers.clone(),
                n.dev.id,
                n.dev.device.clone(),
            );
            calls.push(tokio::spawn(async move {
                let r = b.request(m, &host, &dev_path, "", &h).await;
                (id, host, device, r)
            }));
        }
        let mut round = Round {
            success: true,
            new_successes: false,
            redirect: None,
        };
        let mut redirects = Vec::new();
        for c in calls {
            let Ok((id, host, device, r)) = c.await else {
                round.success = false;
                continue;
            };
            match r {
                Ok(reply) if (200..300).contains(&reply.status) => {
                    u.successes.push(id);
                    round.new_successes = true;
                }
                Ok(reply) => {
                    round.success = false;
                    if reply.status == 301 {
                        match redirect_of(&reply) {
                            Some(r) => redirects.push(r),
                            None => {
                                warn!(row = %path, "container update redirect without a usable Location")
                            }
                        }
                    } else {
                        debug!(host, device, status = reply.status, row = %path, "container update refused");
                    }
                }
                Err(e) => {
                    round.success = false;
                    debug!(host, device, error = %e, row = %path, "container update failed");
                }
            }
        }
        // The newest shard wins.
        round.redirect = redirects.into_iter().max_by(|a, b| a.1.cmp(&b.1));
        round
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_locations() {
        let reply = |loc: &str, quoted: bool, ts: Option<&str>| {
            let mut h = http::HeaderMap::new();
            h.insert("location", loc.parse().unwrap());
            if quoted {
                h.insert("x-backend-location-is-quoted", "true".parse().unwrap());
            }
            if let Some(t) = ts {
                h.insert("x-backend-redirect-timestamp", t.parse().unwrap());
            }
            backend::Reply {
                status: 301,
                headers: h,
                body: bytes::Bytes::new(),
            }
        };
        assert_eq!(
            redirect_of(&reply("/.shards_a/c-1/o", false, Some("1700000000.5"))),
            Some((".shards_a/c-1".into(), "1700000000.50000".into()))
        );
        assert_eq!(
            redirect_of(&reply("http://h:1/a/c%20d", true, Some("1"))),
            Some(("a/c d".into(), "0000000001.00000".into()))
        );
        assert_eq!(redirect_of(&reply("/a/c", false, None)), None);
        assert_eq!(redirect_of(&reply("/a", false, Some("1"))), None);
    }
}
