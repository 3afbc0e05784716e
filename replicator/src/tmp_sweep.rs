//! Stale temp files: what a transfer that died left in a device's `tmp/`
//! (Swift's `unlink_older_than` on it, at the start of a replication pass).

use std::path::Path;
use std::time::{Duration, SystemTime};

/// Removes files in `tmp` last modified more than `reclaim_age` seconds ago.
pub fn sweep_old_tmp(tmp: &Path, reclaim_age: u64) {
    let Ok(rd) = std::fs::read_dir(tmp) else {
        return;
    };
    let cutoff = SystemTime::now() - Duration::from_secs(reclaim_age);
    for e in rd.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t < cutoff);
        if old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
