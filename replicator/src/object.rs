//! The object replicator (Swift's `obj/replicator.py`): one pass runs a job
//! per local device and partition. A primary partition compares suffix
//! hashes with the other primaries (REPLICATE), rehashes the suffixes that
//! differ and syncs those still differing; a peer that answers 507 is
//! replaced by the next handoff. A handoff partition is synced whole to
//! every primary, and what they confirmed is removed here (all of them must
//! confirm, or `handoff_delete` of them). A ring change stops the pass.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Method, Request, StatusCode};
use rand::seq::SliceRandom;
use swirl_common::backend_headers as bh;
use swirl_common::{body, Timestamp};
use swirl_store::object::sync::{offer, remove};
use swirl_store::object::{device, hashes, DeviceLayout};
use tokio::sync::Semaphore;
use tracing::{info, warn};

use crate::client::PeerClient;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::jobs::{self, Job, Node};
use crate::rings::LoadedRing;
use crate::sender::{self, SyncCtx};
use crate::stats::Stats;

/// Limits a pass to some devices, partitions or policies (Swift's
/// `--devices`, `--partitions`, `--policies`); a limited pass does not
/// update the recon cache.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub devices: Option<Vec<String>>,
    pub partitions: Option<Vec<u32>>,
    pub policies: Option<Vec<u32>>,
}

impl Overrides {
    fn any(&self) -> bool {
        self.devices.is_some() || self.partitions.is_some() || self.policies.is_some()
    }
}

/// How a pass ended.
#[derive(Debug, Clone)]
pub struct PassReport {
    pub stats: Stats,
    pub jobs: usize,
    pub done: usize,
    pub elapsed: Duration,
    /// Stopped early: the ring changed, or handoffs remained with `handoffs_first`.
    pub aborted: Option<String>,
}

/// The object replicator of one node.
pub struct ObjectReplicator {
    settings: Settings,
    ctx: Arc<SyncCtx>,
}

fn blocking_err(e: tokio::task::JoinError) -> Error {
    Error::Io(std::io::Error::other(e.to_string()))
}

impl ObjectReplicator {
    /// Loads the node's TLS identity and builds the replicator.
    pub fn new(settings: Settings) -> Result<Self> {
        let client = Arc::new(PeerClient::from_config(
            settings.node.cluster_tls.as_ref(),
            settings.conn_timeout,
            settings.node_timeout,
        )?);
        let ctx = Arc::new(SyncCtx {
            client,
            reclaim_age: settings.reclaim_age,
            delta: settings.delta,
            delta_min_size: settings.node.object_replicator.delta_min_size,
        });
        Ok(ObjectReplicator { settings, ctx })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Collects this node's jobs from the rings (loaded now) and the disks.
    async fn collect(&self, o: &Overrides, stats: &mut Stats) -> (Vec<Job>, Vec<LoadedRing>) {
        let s = &self.settings;
        let mut rings = Vec::new();
        let mut all = Vec::new();
        for p in &s.node.storage_policy {
            if o.policies.as_ref().is_some_and(|v| !v.contains(&p.index)) {
                continue;
            }
            let ring = match LoadedRing::load(&s.node.swift_dir, p.index) {
                Ok(r) => r,
                Err(e) => {
                    warn!(policy = p.index, error = %e, "no ring: policy not replicated");
                    continue;
                }
            };
            let locals: Vec<swirl_ring::Device> =
                jobs::local_devices(&ring.ring, &s.replication_ip, s.replication_port)
                    .into_iter()
                    .filter(|d| o.devices.as_ref().is_none_or(|v| v.contains(&d.device)))
                    .cloned()
                    .collect();
            if locals.is_empty() {
                warn!(policy = p.index, ip = %s.replication_ip, port = s.replication_port,
                    "no device of this node in the ring");
            }
            for dev in locals {
                let (devices, mount_check) =
                    (s.node.disks.devices.clone(), s.node.disks.mount_check);
                let layout = DeviceLayout::new(&devices, &dev.device, p.index);
                let reclaim = s.reclaim_age;
                let name = dev.device.clone();
                let found =
                    tokio::task::spawn_blocking(move || -> std::io::Result<Option<Vec<u32>>> {
                        if device::check_device(&devices, &name, mount_check).is_err() {
                            return Ok(None);
                        }
                        crate::tmp_sweep::sweep_old_tmp(&layout.tmp(), reclaim);
                        let names: Vec<String> = match std::fs::read_dir(layout.objects()) {
                            Ok(rd) => rd
                                .filter_map(|e| e.ok())
                                .map(|e| e.file_name().to_string_lossy().into_owned())
                                .collect(),
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                            Err(e) => return Err(e),
                        };
                        Ok(Some(jobs::parse_partitions(&names)))
                    })
                    .await;
                match found {
                    Ok(Ok(Some(mut parts))) => {
                        if let Some(only) = &o.partitions {
                            parts.retain(|p| only.contains(p));
                        }
                        all.extend(jobs::device_jobs(&ring.ring, p.index, &dev, &parts));
                    }
                    Ok(Ok(None)) => {
                        warn!(device = %dev.device, "device unavailable (not mounted?): skipped");
                        stats.add_failure(&dev.replication_ip, &dev.device);
                    }
                    Ok(Err(e)) => {
                        warn!(device = %dev.device, error = %e, "listing partitions failed")
                    }
                    Err(e) => warn!(device = %dev.device, error = %e, "listing partitions failed"),
                }
            }
            rings.push(ring);
        }
        jobs::order(
            &mut all,
            s.node.object_replicator.handoffs_first,
            &mut rand::rng(),
        );
        (all, rings)
    }

    /// One replication pass.
    pub async fn run_pass(&self, o: &Overrides) -> PassReport {
        let start = Instant::now();
        let s = &self.settings;
        let mut first = Stats::default();
        let (jobs, rings) = self.collect(o, &mut first).await;
        let total = jobs.len();
        let stats = Arc::new(Mutex::new(first));
        let done = Arc::new(AtomicUsize::new(0));
        let handoffs_left = Arc::new(AtomicUsize::new(0));
        info!(jobs = total, "object replication pass starting");
        // The progress line, every stats_interval.
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
                    info!("{line}");
                }
            })
        };
        let sem = Arc::new(Semaphore::new(s.node.object_replicator.concurrency));
        // Jobs of one partition on several local devices run one at a time:
        // run together, each would push the same repair to the same peer.
        let mut partition_locks: HashMap<(u32, u32), Arc<tokio::sync::Mutex<()>>> = HashMap::new();
        let mut tasks = tokio::task::JoinSet::new();
        let mut aborted = None;
        let mut next_ring_check = Instant::now() + s.ring_check_interval;
        let stop = Arc::new(AtomicBool::new(false));
        let mut primaries_started = false;
        for job in jobs {
            if Instant::now() >= next_ring_check {
                next_ring_check = Instant::now() + s.ring_check_interval;
                if rings.iter().any(LoadedRing::changed) {
                    aborted = Some("ring change detected".to_string());
                    break;
                }
            }
            if s.node.object_replicator.handoffs_first && !job.handoff && !primaries_started {
                // Every handoff job must have finished to know whether any remain.
                while tasks.join_next().await.is_some() {}
                primaries_started = true;
                if handoffs_left.load(Ordering::Relaxed) > 0 {
                    aborted = Some("handoffs remain (handoffs_first)".to_string());
                    break;
                }
            }
            let Ok(permit) = sem.clone().acquire_owned().await else {
                break;
            };
            let (me, stats, done, left, stop) = (
                self.job_runner(),
                stats.clone(),
                done.clone(),
                handoffs_left.clone(),
                stop.clone(),
            );
            let ring = rings
                .iter()
                .find(|r| r.policy == job.policy)
                .map(|r| r.ring.clone());
            let partition_lock = partition_locks
                .entry((job.policy, job.partition))
                .or_default()
                .clone();
            tasks.spawn(async move {
                let _permit = permit;
                let _partition = partition_lock.lock().await;
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let mut st = Stats::default();
                if job.handoff {
                    if !me.revert(&job, &mut st).await {
                        left.fetch_add(1, Ordering::Relaxed);
                    }
                } else if let Some(ring) = ring {
                    me.update(&job, &ring, &mut st).await;
                }
                if let Ok(mut all) = stats.lock() {
                    merge(&mut all, st);
                }
                done.fetch_add(1, Ordering::Relaxed);
            });
        }
        while tasks.join_next().await.is_some() {}
        ticker.abort();
        let elapsed = start.elapsed();
        let stats = stats.lock().map(|s| s.clone()).unwrap_or_default();
        let done = done.load(Ordering::Relaxed);
        match &aborted {
            Some(why) => info!(
                "object replication pass stopped: {why}; {}",
                stats.line(done, total, elapsed)
            ),
            None => info!(
                "object replication pass complete: {}",
                stats.line(done, total, elapsed)
            ),
        }
        if !o.any() {
            let end = Timestamp::now().as_f64();
            let path = s
                .node
                .recon_cache_path
                .join(swirl_store::recon_cache::OBJECT);
            let update = stats.recon(elapsed, end);
            let r =
                tokio::task::spawn_blocking(move || swirl_store::recon_cache::dump(&path, update))
                    .await;
            if let Ok(Err(e)) | Err(e) = r.map_err(|e| std::io::Error::other(e.to_string())) {
                warn!(error = %e, "writing the recon cache failed");
            }
        }
        PassReport {
            stats,
            jobs: total,
            done,
            elapsed,
            aborted,
        }
    }

    fn job_runner(&self) -> JobRunner {
        JobRunner {
            settings: self.settings.clone(),
            ctx: self.ctx.clone(),
        }
    }

    /// Passes every `interval` until `shutdown` resolves.
    pub async fn run_forever(&self, shutdown: impl std::future::Future<Output = ()>) {
        let all = Overrides::default();
        crate::schedule::every(self.settings.interval, shutdown, || self.run_pass(&all)).await
    }
}

fn merge(all: &mut Stats, s: Stats) {
    all.attempted += s.attempted;
    all.success += s.success;
    all.hashmatch += s.hashmatch;
    all.remove += s.remove;
    all.rsync += s.rsync;
    all.suffix_count += s.suffix_count;
    all.suffix_hash += s.suffix_hash;
    all.suffix_sync += s.suffix_sync;
    all.bytes_sent += s.bytes_sent;
    all.bytes_received += s.bytes_received;
    all.files_sent += s.files_sent;
    all.deltas += s.deltas;
    all.delta_file_bytes += s.delta_file_bytes;
    all.objects_removed += s.objects_removed;
    all.failure += s.failure;
    crate::stats::merge_failure_nodes(&mut all.failure_nodes, s.failure_nodes);
}

/// What one job needs (cheap to clone into a task).
struct JobRunner {
    settings: Settings,
    ctx: Arc<SyncCtx>,
}

impl JobRunner {
    fn layout(&self, job: &Job) -> DeviceLayout {
        DeviceLayout::new(&self.settings.node.disks.devices, &job.device, job.policy)
    }

    /// REPLICATE to a peer: its suffix hashes.
    async fn remote_hashes(
        &self,
        node: &Node,
        job: &Job,
    ) -> Result<std::result::Result<BTreeMap<String, String>, StatusCode>> {
        let req = || {
            Request::builder()
                .method(
                    Method::from_bytes(b"REPLICATE").map_err(|e| Error::Protocol {
                        addr: node.ip.clone(),
                        message: e.to_string(),
                    })?,
                )
                .uri(format!("/{}/{}", node.device, job.partition))
                .header("host", crate::client::addr(&node.ip, node.port))
                .header("accept", "application/json")
                .header(bh::STORAGE_POLICY_INDEX, job.policy.to_string())
                .header("user-agent", "swirl-object-replicator")
                .body(body::empty())
                .map_err(|e| Error::Protocol {
                    addr: node.ip.clone(),
                    message: e.to_string(),
                })
        };
        let addr = crate::client::addr(&node.ip, node.port);
        let fut = async {
            let resp = self
                .ctx
                .client
                .send_idempotent(&node.ip, node.port, req)
                .await?;
            if resp.status() != StatusCode::OK {
                return Ok(Err(resp.status()));
            }
            let b = swirl_common::server::read_body_limited(resp.into_body(), 16 << 20)
                .await
                .map_err(|e| Error::Protocol {
                    addr: addr.clone(),
                    message: e.to_string(),
                })?;
            let h: BTreeMap<String, String> =
                serde_json::from_slice(&b).map_err(|e| Error::Protocol {
                    addr: addr.clone(),
                    message: format!("REPLICATE answer: {e}"),
                })?;
            Ok(Ok(h))
        };
        tokio::time::timeout(self.settings.http_timeout, fut)
            .await
            .map_err(|_| Error::Timeout {
                addr: addr.clone(),
                what: "REPLICATE",
            })?
    }

    async fn local_hashes(
        &self,
        job: &Job,
        recalc: Vec<String>,
    ) -> Result<BTreeMap<String, String>> {
        let part = self.layout(job).partition(job.partition);
        let reclaim = self.settings.reclaim_age;
        let h = tokio::task::spawn_blocking(move || {
            hashes::get_hashes(&part, &recalc, Timestamp::now(), reclaim)
        })
        .await
        .map_err(blocking_err)??;
        Ok(h)
    }

    async fn sync(&self, node: &Node, job: &Job, suffixes: Vec<String>) -> Result<sender::Synced> {
        let layout = self.layout(job);
        tokio::time::timeout(
            self.settings.rsync_timeout,
            sender::sync(&self.ctx, node, &layout, job.partition, suffixes),
        )
        .await
        .map_err(|_| Error::Timeout {
            addr: crate::client::addr(&node.ip, node.port),
            what: "sync",
        })?
    }

    /// A primary partition: sync what differs with each other primary.
    async fn update(&self, job: &Job, ring: &swirl_ring::RingData, st: &mut Stats) {
        st.attempted += 1;
        let mut local = match self.local_hashes(job, Vec::new()).await {
            Ok(h) => h,
            Err(e) => {
                warn!(device = %job.device, partition = job.partition, error = %e, "hashing failed");
                for n in &job.nodes {
                    st.add_failure(&n.ip, &n.device);
                }
                return;
            }
        };
        let mut nodes = job.nodes.clone();
        nodes.shuffle(&mut rand::rng());
        let mut more = jobs::more_nodes(ring, job.partition).into_iter();
        let mut queue: std::collections::VecDeque<Node> = nodes.into();
        let mut attempts_left = queue.len();
        while attempts_left > 0 {
            let Some(node) = queue.pop_front().or_else(|| more.next()) else {
                warn!(
                    partition = job.partition,
                    "ran out of handoffs while replicating"
                );
                break;
            };
            attempts_left -= 1;
            let remote = match self.remote_hashes(&node, job).await {
                Ok(Ok(h)) => h,
                Ok(Err(StatusCode::INSUFFICIENT_STORAGE)) => {
                    warn!(peer = %node.ip, device = %node.device, "responded as unmounted");
                    attempts_left += 1;
                    st.add_failure(&node.ip, &node.device);
                    continue;
                }
                Ok(Err(status)) => {
                    warn!(peer = %node.ip, device = %node.device, %status, "invalid REPLICATE response");
                    st.add_failure(&node.ip, &node.device);
                    continue;
                }
                Err(e) => {
                    warn!(peer = %node.ip, device = %node.device, error = %e, "REPLICATE failed");
                    st.add_failure(&node.ip, &node.device);
                    continue;
                }
            };
            let differ = |l: &BTreeMap<String, String>| -> Vec<String> {
                l.iter()
                    .filter(|(k, v)| remote.get(*k) != Some(*v))
                    .map(|(k, _)| k.clone())
                    .collect()
            };
            let mut suffixes = differ(&local);
            if !suffixes.is_empty() {
                st.suffix_hash += suffixes.len() as u64;
                match self.local_hashes(job, suffixes.clone()).await {
                    Ok(h) => local = h,
                    Err(e) => {
                        warn!(error = %e, "rehashing failed");
                        st.add_failure(&node.ip, &node.device);
                        continue;
                    }
                }
                suffixes = differ(&local);
            }
            if suffixes.is_empty() {
                st.hashmatch += 1;
                st.success += 1;
                continue;
            }
            st.rsync += 1;
            st.suffix_sync += suffixes.len() as u64;
            match self.sync(&node, job, suffixes).await {
                Ok(r) => {
                    merge(st, r.stats);
                    if r.complete {
                        st.success += 1;
                    } else {
                        st.add_failure(&node.ip, &node.device);
                    }
                }
                Err(e) => {
                    warn!(peer = %node.ip, device = %node.device, partition = job.partition, error = %e, "sync failed");
                    st.add_failure(&node.ip, &node.device);
                }
            }
        }
        st.suffix_count += local.len() as u64;
    }

    /// A handoff partition: push it to every primary, then remove what they
    /// confirmed. Returns whether the partition is gone.
    async fn revert(&self, job: &Job, st: &mut Stats) -> bool {
        st.attempted += 1;
        let part = self.layout(job).partition(job.partition);
        let p2 = part.clone();
        let suffixes = match tokio::task::spawn_blocking(move || offer::list_suffixes(&p2)).await {
            Ok(Ok(s)) => s,
            _ => return false,
        };
        if suffixes.is_empty() {
            let p2 = part.clone();
            let gone = matches!(
                tokio::task::spawn_blocking(move || remove::remove_if_empty(&p2)).await,
                Ok(Ok(true))
            );
            if gone {
                st.remove += 1;
            }
            return gone;
        }
        let mut results: Vec<Option<sender::Synced>> = Vec::new();
        for node in &job.nodes {
            st.rsync += 1;
            match self.sync(node, job, suffixes.clone()).await {
                Ok(mut r) => {
                    merge(st, std::mem::take(&mut r.stats));
                    if r.complete {
                        st.success += 1;
                    } else {
                        st.add_failure(&node.ip, &node.device);
                    }
                    results.push(Some(r));
                }
                Err(e) => {
                    warn!(peer = %node.ip, device = %node.device, partition = job.partition, error = %e, "handoff sync failed");
                    st.add_failure(&node.ip, &node.device);
                    results.push(None);
                }
            }
        }
        let ok: Vec<&sender::Synced> = results.iter().flatten().filter(|r| r.complete).collect();
        let enough = match self.settings.handoff_delete {
            None => ok.len() == job.nodes.len(),
            Some(n) => ok.len() >= n,
        };
        if !enough || ok.is_empty() {
            return false;
        }
        // What every confirming primary confirmed, files and all.
        let mut confirmed = ok[0].confirmed.clone();
        for r in &ok[1..] {
            confirmed.retain(|c| r.confirmed.contains(c));
        }
        let reclaim = self.settings.reclaim_age;
        match tokio::task::spawn_blocking(move || {
            remove::remove_confirmed(&part, &confirmed, reclaim)
        })
        .await
        {
            Ok(Ok((n, gone))) => {
                st.objects_removed += n;
                if gone {
                    st.remove += 1;
                    info!(device = %job.device, partition = job.partition, "removed handoff partition");
                }
                gone
            }
            Ok(Err(e)) => {
                warn!(error = %e, "removing a handoff partition failed");
                false
            }
            Err(_) => false,
        }
    }
}
