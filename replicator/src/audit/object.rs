//! The object auditor (Swift's swift/obj/auditor.py): walks every local
//! device's `objects/` and `objects-N/` (policy by policy, partitions in
//! number order, suffixes and hashes in name order) and checks each
//! object's current `.data`.
//!
//! Two kinds of pass, as Swift runs them side by side:
//! - `ZBF` ("zero byte files"), cheap: the metadata (and any `.meta`'s)
//!   reads and the body is as long as its Content-Length says, no body
//!   byte read; paced by `zero_byte_files_per_second`;
//! - `ALL`: that, then every body byte against its block digests and the
//!   body's blake3 ([`DataFile::verify_paced`]; a file written before block
//!   digests against its whole-body blake3); paced by `files_per_second` and
//!   `bytes_per_second`.
//!
//! A corrupt object's hash directory goes to quarantine and its suffix is
//! invalidated ([`quarantine_hash_dir`]), so the replicator brings a good
//! copy back from another replica. Each device's position is checkpointed
//! ([`super::checkpoint`]), so a restarted auditor resumes where it stopped.
//! The walk is blocking file I/O, run on a blocking thread.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use swirl_store::object::classify::{classify, Classified};
use swirl_store::object::data_file::read_metadata;
use swirl_store::object::device::check_device;
use swirl_store::object::layout::is_suffix;
use swirl_store::object::quarantine::quarantine_hash_dir;
use swirl_store::object::{DataFile, DeviceLayout};
use tracing::{info, warn};

use super::checkpoint::{self, Checkpoint, Position, Saver};
use super::config::ObjectAuditSettings;
use super::rate::RateLimiter;
use super::stats::AuditStats;
use super::{list_dirs, sleep_unless, unix_now};

/// Which pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassKind {
    /// Metadata and lengths only.
    ZeroByte,
    /// Every byte.
    All,
}

impl PassKind {
    /// Swift's auditor type: `ZBF` or `ALL`.
    pub fn name(self) -> &'static str {
        match self {
            PassKind::ZeroByte => "ZBF",
            PassKind::All => "ALL",
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone)]
pub struct PassReport {
    pub kind: PassKind,
    /// This run's counts (a resumed device counts only what this run checked).
    pub stats: AuditStats,
    pub elapsed: Duration,
    /// Devices resumed from a checkpoint.
    pub resumed: usize,
    /// Whether it stopped before the end (its checkpoints are saved).
    pub stopped: bool,
}

impl PassReport {
    /// The totals line.
    pub fn line(&self) -> String {
        let mut l = self.stats.line(
            &format!("object audit ({})", self.kind.name()),
            self.elapsed,
        );
        if self.resumed > 0 {
            l.push_str(&format!(
                "; {} devices resumed from a checkpoint",
                self.resumed
            ));
        }
        if self.stopped {
            l.push_str("; stopped before the end");
        }
        l
    }
}

/// The object auditor of one node.
#[derive(Debug, Clone)]
pub struct ObjectAuditor {
    settings: Arc<ObjectAuditSettings>,
}

/// How long a stopping auditor waits for a pass to reach its next object.
const STOP_GRACE: Duration = Duration::from_secs(5);

impl ObjectAuditor {
    pub fn new(settings: ObjectAuditSettings) -> Self {
        ObjectAuditor {
            settings: Arc::new(settings),
        }
    }

    pub fn settings(&self) -> &ObjectAuditSettings {
        &self.settings
    }

    /// One pass of `kind` over `devices` (all local devices when None), on a
    /// blocking thread; `stop` ends it early, checkpoints saved.
    pub async fn run_pass(
        &self,
        kind: PassKind,
        devices: Option<Vec<String>>,
        stop: Arc<AtomicBool>,
    ) -> PassReport {
        let me = self.clone();
        let begin = Instant::now();
        tokio::task::spawn_blocking(move || me.pass(kind, devices.as_deref(), &stop))
            .await
            .unwrap_or_else(|e| {
                warn!(error = %e, "object audit pass panicked");
                PassReport {
                    kind,
                    stats: AuditStats {
                        errors: 1,
                        ..AuditStats::default()
                    },
                    elapsed: begin.elapsed(),
                    resumed: 0,
                    stopped: true,
                }
            })
    }

    /// Runs the `ZBF` and `ALL` passes side by side, each every `interval`,
    /// the first after `first_delay`, until `shutdown`; a pass under way
    /// then saves its checkpoints and ends.
    pub async fn run_forever(
        &self,
        first_delay: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let stop = Arc::new(AtomicBool::new(false));
        let loops: Vec<_> = [PassKind::ZeroByte, PassKind::All]
            .into_iter()
            .map(|kind| {
                let me = self.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    sleep_unless(first_delay, &stop).await;
                    while !stop.load(Ordering::Relaxed) {
                        let begin = Instant::now();
                        let rep = me.run_pass(kind, None, stop.clone()).await;
                        info!("{}", rep.line());
                        let wait = me.settings.interval.saturating_sub(begin.elapsed());
                        sleep_unless(wait, &stop).await;
                    }
                })
            })
            .collect();
        shutdown.await;
        stop.store(true, Ordering::Relaxed);
        for l in loops {
            let _ = tokio::time::timeout(STOP_GRACE, l).await;
        }
    }

    /// The devices under `devices`, by name.
    fn local_devices(&self) -> Vec<String> {
        list_dirs(&self.settings.devices).unwrap_or_default()
    }

    /// One pass, blocking.
    pub fn pass(
        &self,
        kind: PassKind,
        devices: Option<&[String]>,
        stop: &AtomicBool,
    ) -> PassReport {
        let s = &self.settings;
        let per_file = match kind {
            PassKind::ZeroByte => s.zero_byte_files_per_second,
            PassKind::All => s.files_per_second,
        };
        let mut p = Pass {
            s,
            kind,
            stop,
            files: RateLimiter::new(per_file),
            bytes: RateLimiter::new(s.bytes_per_second),
            stats: AuditStats::default(),
            begin: Instant::now(),
            start_unix: unix_now(),
            last_log: Instant::now(),
            resumed: 0,
        };
        info!("object audit ({}) begins", kind.name());
        let devs = devices.map_or_else(|| self.local_devices(), <[String]>::to_vec);
        for dev in &devs {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if let Err(e) = p.device(dev) {
                p.stats.errors += 1;
                warn!(device = %dev, error = %e, "object audit: device failed");
            }
        }
        if !stop.load(Ordering::Relaxed) {
            // Through every device: the next pass starts from the beginning.
            for dev in &devs {
                let cp = checkpoint::path(&s.devices.join(dev), kind.name());
                if let Err(e) = checkpoint::clear(&cp) {
                    warn!(path = %cp.display(), error = %e, "object audit: checkpoint");
                }
            }
        }
        let rep = PassReport {
            kind,
            stats: p.stats,
            elapsed: p.begin.elapsed(),
            resumed: p.resumed,
            stopped: stop.load(Ordering::Relaxed),
        };
        p.dump_recon();
        rep
    }
}

/// One pass under way.
struct Pass<'a> {
    s: &'a ObjectAuditSettings,
    kind: PassKind,
    stop: &'a AtomicBool,
    files: RateLimiter,
    bytes: RateLimiter,
    stats: AuditStats,
    begin: Instant,
    start_unix: f64,
    last_log: Instant,
    resumed: usize,
}

/// What checking one object found.
enum Verdict {
    Sound,
    Corrupt(String),
    /// Gone (deleted or replaced) while being read.
    Vanished,
}

impl Pass<'_> {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The progress line and recon entry, every `log_time`.
    fn progress(&mut self) {
        if self.last_log.elapsed() < self.s.log_time {
            return;
        }
        self.last_log = Instant::now();
        info!(
            "{} (under way)",
            self.stats.line(
                &format!("object audit ({})", self.kind.name()),
                self.begin.elapsed()
            )
        );
        self.dump_recon();
    }

    fn dump_recon(&self) {
        let entry =
            self.stats
                .object_recon(self.kind.name(), self.start_unix, self.begin.elapsed());
        let path = self
            .s
            .recon_cache_path
            .join(swirl_store::recon_cache::OBJECT);
        if let Err(e) = swirl_store::recon_cache::dump(&path, entry) {
            warn!(path = %path.display(), error = %e, "object audit: recon cache");
        }
    }

    /// Audits one device from its checkpoint (or the start) to the end, or
    /// until told to stop.
    fn device(&mut self, dev: &str) -> io::Result<()> {
        if let Err(e) = check_device(&self.s.devices, dev, self.s.mount_check) {
            warn!(device = %dev, error = %e, "object audit: skipping device");
            return Ok(());
        }
        let root = self.s.devices.join(dev);
        let cp_path = checkpoint::path(&root, self.kind.name());
        let resume = checkpoint::load(&cp_path);
        let mut saver = Saver::new(cp_path, self.s.checkpoint_interval);
        let mut cp = match resume {
            Some(cp) if cp.done => {
                self.resumed += 1;
                info!(device = %dev, pass = self.kind.name(), "object audit: device done earlier in this pass");
                return Ok(());
            }
            Some(cp) => {
                self.resumed += 1;
                info!(device = %dev, pass = self.kind.name(), partition = cp.position.partition,
                    policy = cp.position.policy, files = cp.files, "object audit: resuming from checkpoint");
                cp
            }
            None => Checkpoint {
                position: Position {
                    policy: 0,
                    partition: 0,
                    suffix: String::new(),
                    hash: String::new(),
                },
                started: unix_now(),
                files: 0,
                bytes: 0,
                done: false,
            },
        };
        let mut resuming = resume_point(&cp);
        for &policy in &self.s.policies {
            if resuming.as_ref().is_some_and(|r| policy < r.policy) {
                continue;
            }
            let layout = DeviceLayout::new(&self.s.devices, dev, policy);
            let mut parts: Vec<u32> = list_dirs(&layout.objects())?
                .iter()
                .filter_map(|n| swirl_store::db::walk::partition_of(n))
                .collect();
            parts.sort_unstable();
            for part in parts {
                if resuming
                    .as_ref()
                    .is_some_and(|r| (policy, part) < (r.policy, r.partition))
                {
                    continue;
                }
                let part_dir = layout.partition(part);
                for suffix in list_dirs(&part_dir)?.into_iter().filter(|s| is_suffix(s)) {
                    if resuming.as_ref().is_some_and(|r| {
                        (policy, part, suffix.as_str()) < (r.policy, r.partition, r.suffix.as_str())
                    }) {
                        continue;
                    }
                    let suffix_dir = part_dir.join(&suffix);
                    for hash in list_dirs(&suffix_dir)? {
                        let pos = Position {
                            policy,
                            partition: part,
                            suffix: suffix.clone(),
                            hash,
                        };
                        if resuming.as_ref().is_some_and(|r| pos <= *r) {
                            continue;
                        }
                        resuming = None;
                        if self.stopping() {
                            return saver.save_now(&cp);
                        }
                        let before = self.stats;
                        if !self.object(&layout, part, &suffix_dir.join(&pos.hash)) {
                            // Stopped inside it: the next run checks it again.
                            return saver.save_now(&cp);
                        }
                        cp.files += self.stats.files - before.files;
                        cp.bytes += self.stats.bytes - before.bytes;
                        cp.position = pos;
                        if let Err(e) = saver.tick(|| cp.clone()) {
                            warn!(device = %dev, error = %e, "object audit: checkpoint");
                        }
                        self.progress();
                    }
                }
            }
        }
        info!(device = %dev, pass = self.kind.name(), files = cp.files, bytes = cp.bytes,
            "object audit: device done");
        cp.done = true;
        saver.save_now(&cp)
    }

    /// Audits the object in `hash_dir`, quarantining it if corrupt; false
    /// when told to stop before it was checked through.
    fn object(&mut self, layout: &DeviceLayout, part: u32, hash_dir: &Path) -> bool {
        let names: Vec<String> = match std::fs::read_dir(hash_dir) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return true,
            Err(e) => {
                self.stats.files += 1;
                self.stats.errors += 1;
                warn!(path = %hash_dir.display(), error = %e, "object audit: listing");
                return true;
            }
        };
        self.stats.files += 1;
        let c = classify(&names);
        match self.check(hash_dir, &c) {
            Ok(Verdict::Sound | Verdict::Vanished) => {}
            Ok(Verdict::Corrupt(why)) => match quarantine_hash_dir(layout, part, hash_dir) {
                Ok(dest) => {
                    self.stats.quarantined += 1;
                    warn!(path = %hash_dir.display(), dest = %dest.display(), why = %why,
                        pass = self.kind.name(), "object failed audit and was quarantined");
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    self.stats.errors += 1;
                    warn!(path = %hash_dir.display(), error = %e, "object audit: quarantine failed");
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted && self.stopping() => {
                self.stats.files -= 1;
                return false;
            }
            Err(e) => {
                self.stats.errors += 1;
                warn!(path = %hash_dir.display(), error = %e, "object audit: could not check");
            }
        }
        self.files.wait(1);
        true
    }

    /// Checks the current files of one object.
    fn check(&mut self, dir: &Path, c: &Classified) -> io::Result<Verdict> {
        let Some(data) = &c.data else {
            // A tombstone or nothing: no body to check.
            return Ok(Verdict::Sound);
        };
        let file = match File::open(dir.join(&data.name)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Verdict::Vanished),
            Err(e) => return Err(e),
        };
        let (md, len) = match read_metadata(&file) {
            Ok(r) => r,
            Err(why) => return Ok(Verdict::Corrupt(format!("{}: {why}", data.name))),
        };
        let body = match DataFile::new(file, &md, len) {
            Ok(b) => b,
            Err(why) => return Ok(Verdict::Corrupt(format!("{}: {why}", data.name))),
        };
        for meta in [&c.meta, &c.ctype_meta].into_iter().flatten() {
            let f = match File::open(dir.join(&meta.name)) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Verdict::Vanished),
                Err(e) => return Err(e),
            };
            if let Err(why) = read_metadata(&f) {
                return Ok(Verdict::Corrupt(format!("{}: {why}", meta.name)));
            }
        }
        if self.kind == PassKind::ZeroByte {
            return Ok(Verdict::Sound);
        }
        let (limiter, counted, stop) = (&mut self.bytes, &mut self.stats.bytes, self.stop);
        let bad = body.verify_paced(&mut |n| {
            if stop.load(Ordering::Relaxed) {
                return Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "auditor stopping",
                ));
            }
            limiter.wait(n);
            *counted += n;
            Ok(())
        })?;
        Ok(match bad {
            Some(c) => Verdict::Corrupt(format!("{}: {}", data.name, c.why)),
            None => Verdict::Sound,
        })
    }
}

/// Where a walk resumes: after the checkpoint's position, if it has one.
fn resume_point(cp: &Checkpoint) -> Option<Position> {
    (!cp.position.hash.is_empty()).then(|| cp.position.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;
    use std::path::PathBuf;
    use swirl_common::Timestamp;
    use swirl_store::object::{HashSecret, Metadata, ObjectStore};

    fn store(dir: &Path) -> ObjectStore {
        for d in ["sda", "sdb"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        ObjectStore {
            devices: dir.to_path_buf(),
            mount_check: false,
            reclaim_age: 604_800,
            secret: HashSecret {
                prefix: String::new(),
                suffix: "s".into(),
            },
            reserve_percent: 0.0,
            reserve_bytes: 0,
        }
    }

    fn body(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[2] ^ seed)
            .collect()
    }

    /// Writes `n` objects of `len` bytes over both devices and policies 0
    /// and 1; returns their `.data` paths in walk order.
    fn fill(s: &ObjectStore, n: usize, len: usize) -> Vec<PathBuf> {
        let ts = Timestamp::now();
        for i in 0..n {
            let dev = ["sda", "sdb"][i % 2];
            let o = s.object(
                dev,
                (i % 7) as u32,
                "a",
                "c",
                &format!("o{i}"),
                (i % 3 == 0) as u32,
            );
            let b = body(len, i as u8);
            let mut w = s.create(&o, Some(b.len() as u64)).unwrap();
            w.write(&b).unwrap();
            let mut m = Metadata::new();
            m.set("X-Timestamp", ts.internal());
            m.set("Content-Length", b.len().to_string());
            m.set("ETag", w.etag().unwrap());
            w.commit(m, ts).unwrap();
        }
        data_files(s.devices.as_path())
    }

    /// Every `.data` under `dir`, sorted by path (the walk's order within a
    /// device when partitions have one digit).
    fn data_files(dir: &Path) -> Vec<PathBuf> {
        fn walk(d: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "data") {
                    out.push(p);
                }
            }
        }
        let mut v = Vec::new();
        walk(dir, &mut v);
        v.retain(|p| !p.to_string_lossy().contains("quarantined"));
        v.sort();
        v
    }

    fn auditor(dir: &Path, files: f64, bytes: f64) -> ObjectAuditor {
        ObjectAuditor::new(ObjectAuditSettings {
            devices: dir.to_path_buf(),
            mount_check: false,
            policies: vec![0, 1],
            recon_cache_path: dir.join("cache"),
            interval: Duration::from_secs(30),
            files_per_second: files,
            bytes_per_second: bytes,
            zero_byte_files_per_second: files,
            log_time: Duration::from_secs(3600),
            checkpoint_interval: Duration::from_secs(60),
        })
    }

    fn flip(p: &Path, at: u64) {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(p)
            .unwrap();
        let mut b = [0u8];
        f.read_exact_at(&mut b, at).unwrap();
        f.write_all_at(&[b[0] ^ 1], at).unwrap();
    }

    #[test]
    fn zbf_finds_truncation_all_finds_a_flipped_byte() {
        let d = tempfile::tempdir().unwrap();
        let s = store(d.path());
        let files = fill(&s, 12, 200_000);
        assert_eq!(files.len(), 12);
        flip(&files[3], 100_000);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&files[7])
            .unwrap();
        f.set_len(150_000).unwrap();
        let a = auditor(d.path(), 0.0, 0.0);
        let stop = AtomicBool::new(false);
        let z = a.pass(PassKind::ZeroByte, None, &stop);
        assert_eq!(
            (z.stats.files, z.stats.quarantined, z.stats.errors),
            (12, 1, 0)
        );
        assert_eq!(z.stats.bytes, 0);
        assert!(!files[7].exists() && files[3].exists());
        let all = a.pass(PassKind::All, None, &stop);
        assert_eq!(
            (all.stats.files, all.stats.quarantined, all.stats.errors),
            (11, 1, 0)
        );
        assert_eq!(all.stats.bytes, 11 * 200_000);
        assert!(!files[3].exists());
        // Both went to their policy's quarantine, their suffixes invalidated.
        let q = |p: &Path| {
            let rel = p.strip_prefix(d.path()).unwrap();
            let mut c = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned());
            let (dev, objs) = (c.next().unwrap(), c.next().unwrap());
            let hash = p.parent().unwrap().file_name().unwrap();
            d.path().join(dev).join("quarantined").join(objs).join(hash)
        };
        assert!(q(&files[3]).is_dir() && q(&files[7]).is_dir());
        let inv = files[3]
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("hashes.invalid");
        assert!(std::fs::read_to_string(inv).unwrap().lines().count() >= 1);
        // A clean pass after; the recon cache has both passes.
        let again = a.pass(PassKind::All, None, &stop);
        assert_eq!((again.stats.files, again.stats.quarantined), (10, 0));
        let r = swirl_store::recon_cache::load(&d.path().join("cache/object.recon"));
        assert_eq!(r["object_auditor_stats_ZBF"]["quarantined"], 1);
        assert_eq!(r["object_auditor_stats_ALL"]["passes"], 10);
    }

    #[test]
    fn a_pass_resumes_from_its_checkpoint() {
        let d = tempfile::tempdir().unwrap();
        let s = store(d.path());
        fill(&s, 30, 1000);
        let a = auditor(d.path(), 0.0, 0.0);
        let stop = AtomicBool::new(false);
        // Where the walk of sda is after its 5th object.
        let sda: Vec<PathBuf> = data_files(&d.path().join("sda"));
        let mut order: Vec<Position> = sda
            .iter()
            .map(|p| {
                let hash_dir = p.parent().unwrap();
                let suffix_dir = hash_dir.parent().unwrap();
                let part_dir = suffix_dir.parent().unwrap();
                let objs = part_dir
                    .parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap();
                Position {
                    policy: swirl_store::object::layout::dir_policy("objects", objs).unwrap(),
                    partition: part_dir
                        .file_name()
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .parse()
                        .unwrap(),
                    suffix: suffix_dir.file_name().unwrap().to_str().unwrap().into(),
                    hash: hash_dir.file_name().unwrap().to_str().unwrap().into(),
                }
            })
            .collect();
        order.sort();
        let cp_path = checkpoint::path(&d.path().join("sda"), "ALL");
        let cp = Checkpoint {
            position: order[4].clone(),
            started: 1.0,
            files: 5,
            bytes: 5000,
            done: false,
        };
        checkpoint::save(&cp_path, &cp).unwrap();
        let rep = a.pass(PassKind::All, None, &stop);
        assert_eq!(rep.resumed, 1);
        assert_eq!(rep.stats.files, 30 - 5, "{}", rep.line());
        assert!(!cp_path.exists(), "a finished pass forgets its checkpoints");
        // A device done earlier in the pass is skipped by a restart.
        let sdb = checkpoint::path(&d.path().join("sdb"), "ALL");
        let done = Checkpoint {
            done: true,
            ..cp.clone()
        };
        checkpoint::save(&sdb, &done).unwrap();
        let rep = a.pass(PassKind::All, None, &stop);
        assert_eq!((rep.resumed, rep.stats.files), (1, 15));
        assert!(!sdb.exists());
        let rep = a.pass(PassKind::All, None, &stop);
        assert_eq!((rep.resumed, rep.stats.files), (0, 30));
        // A stopped pass saves where it is; nothing is checked twice.
        stop.store(true, Ordering::Relaxed);
        checkpoint::save(&cp_path, &cp).unwrap();
        let rep = a.pass(PassKind::All, Some(&["sda".to_string()]), &stop);
        assert!(rep.stopped && rep.stats.files == 0);
        assert_eq!(checkpoint::load(&cp_path), Some(cp));
    }

    #[test]
    fn stopping_inside_a_file_checks_it_again_next_time() {
        let d = tempfile::tempdir().unwrap();
        let s = store(d.path());
        fill(&s, 2, 3 << 20);
        // 1 MiB pieces at 2 MB/s: the second piece is due after half a second.
        let a = auditor(d.path(), 0.0, 2e6);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            flag.store(true, Ordering::Relaxed);
        });
        let rep = a.pass(PassKind::All, None, &stop);
        t.join().unwrap();
        assert!(rep.stopped);
        assert_eq!(
            (rep.stats.files, rep.stats.errors),
            (0, 0),
            "{}",
            rep.line()
        );
        let cp = checkpoint::load(&checkpoint::path(&d.path().join("sda"), "ALL")).unwrap();
        assert_eq!((cp.files, cp.position.hash.as_str()), (0, ""));
        let again = auditor(d.path(), 0.0, 0.0).pass(PassKind::All, None, &AtomicBool::new(false));
        assert_eq!((again.stats.files, again.stats.bytes), (2, 6 << 20));
    }

    #[test]
    fn rates_hold() {
        let d = tempfile::tempdir().unwrap();
        let s = store(d.path());
        fill(&s, 8, 1 << 20);
        let stop = AtomicBool::new(false);
        let free = auditor(d.path(), 0.0, 0.0).pass(PassKind::All, None, &stop);
        let limit = 16e6;
        let slow = auditor(d.path(), 0.0, limit).pass(PassKind::All, None, &stop);
        let mbps = |r: &PassReport| r.stats.bytes as f64 / r.elapsed.as_secs_f64() / 1e6;
        assert_eq!(slow.stats.bytes, 8 << 20);
        eprintln!(
            "unlimited {:.1} MB/s, limit 16 MB/s: {:.1} MB/s",
            mbps(&free),
            mbps(&slow)
        );
        assert!(mbps(&slow) <= limit / 1e6 * 1.02, "{}", slow.line());
        let fps = auditor(d.path(), 40.0, 0.0).pass(PassKind::ZeroByte, None, &stop);
        let rate = fps.stats.files as f64 / fps.elapsed.as_secs_f64();
        assert!(rate <= 40.0 * 1.05, "{}", fps.line());
    }
}
