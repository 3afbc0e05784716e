//! An audit pass's counters, its progress and totals lines, and its recon
//! cache entries: Swift's `object_auditor_stats_ALL` / `_ZBF` in
//! `object.recon` (errors, passes, quarantined, bytes_processed,
//! start_time, audit_time) and `<kind>_audits_passed` / `_failed` /
//! `_since` and `<kind>_auditor_pass_completed` in `account.recon` /
//! `container.recon`.

use std::time::Duration;

use serde_json::{json, Map, Value};

/// Counters of one pass (or the part of it done so far).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditStats {
    /// Objects (or databases) checked, whatever the outcome.
    pub files: u64,
    /// Body bytes read and checked.
    pub bytes: u64,
    /// Found corrupt and moved to quarantine.
    pub quarantined: u64,
    /// Could not be checked (I/O errors that say nothing of the file).
    pub errors: u64,
}

impl AuditStats {
    /// Those that passed.
    pub fn passed(&self) -> u64 {
        self.files - self.quarantined.min(self.files) - self.errors.min(self.files)
    }

    /// `what` audit line: counts, elapsed and rates.
    pub fn line(&self, what: &str, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-6);
        format!(
            "{what}: {} files, {} bytes, {} quarantined, {} errors in {:.2}s \
             ({:.1} files/s, {:.2} MB/s)",
            self.files,
            self.bytes,
            self.quarantined,
            self.errors,
            elapsed.as_secs_f64(),
            self.files as f64 / secs,
            self.bytes as f64 / secs / 1e6,
        )
    }

    /// The `object_auditor_stats_<kind>` entry of `object.recon`.
    pub fn object_recon(
        &self,
        kind: &str,
        start_unix: f64,
        elapsed: Duration,
    ) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            format!("object_auditor_stats_{kind}"),
            json!({
                "errors": self.errors,
                "passes": self.passed(),
                "quarantined": self.quarantined,
                "bytes_processed": self.bytes,
                "files_processed": self.files,
                "start_time": start_unix,
                "audit_time": elapsed.as_secs_f64(),
            }),
        );
        m
    }

    /// The `<kind>_audits_*` entries of `account.recon` / `container.recon`.
    pub fn db_recon(&self, kind: &str, since_unix: f64) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(format!("{kind}_audits_since"), json!(since_unix));
        m.insert(format!("{kind}_audits_passed"), json!(self.passed()));
        m.insert(
            format!("{kind}_audits_failed"),
            json!(self.quarantined + self.errors),
        );
        m.insert(
            format!("{kind}_audits_quarantined"),
            json!(self.quarantined),
        );
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_recon() {
        let s = AuditStats {
            files: 10,
            bytes: 4_000_000,
            quarantined: 2,
            errors: 1,
        };
        assert_eq!(s.passed(), 7);
        let l = s.line("object audit (ALL)", Duration::from_secs(2));
        assert!(
            l.contains("10 files, 4000000 bytes, 2 quarantined, 1 errors in 2.00s (5.0 files/s, 2.00 MB/s)"),
            "{l}"
        );
        let r = s.object_recon("ZBF", 100.0, Duration::from_secs(3));
        assert_eq!(r["object_auditor_stats_ZBF"]["passes"], json!(7));
        assert_eq!(r["object_auditor_stats_ZBF"]["audit_time"], json!(3.0));
        let r = s.db_recon("container", 5.0);
        assert_eq!(r["container_audits_failed"], json!(3));
    }
}
