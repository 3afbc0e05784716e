//! The auditors (Swift's object, account and container auditors): daemons
//! that read every local object and database at a bounded rate and move the
//! corrupt ones to quarantine, from where the replicators restore a good
//! copy. [`object`] checks objects in two passes (metadata and lengths;
//! every byte against its blake3 digests), [`db`] runs SQLite's own checks
//! on each database. [`rate`] paces them, [`checkpoint`] lets an object
//! pass resume where a stopped one ended, [`stats`] holds their counters and
//! recon entries, [`config`] their config sections.

pub mod checkpoint;
pub mod config;
pub mod db;
pub mod object;
pub mod rate;
pub mod stats;

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The subdirectory names of `dir`, sorted; none when it does not exist.
pub(crate) fn list_dirs(dir: &Path) -> io::Result<Vec<String>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut v = Vec::new();
    for e in rd.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            v.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    v.sort();
    Ok(v)
}

/// Seconds since the epoch.
pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Sleeps `d`, or less if `stop` is set meanwhile.
pub(crate) async fn sleep_unless(d: Duration, stop: &AtomicBool) {
    let end = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        tokio::time::sleep(left.min(Duration::from_millis(250))).await;
    }
}
