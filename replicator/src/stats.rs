//! A pass's counters: Swift's `replication_stats` (attempted, success,
//! failure, hashmatch, remove, rsync, suffix_*, failure_nodes) plus swirl's
//! transfer figures (bytes sent and received, files sent, deltas against
//! whole copies), the progress line and the recon cache entry.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Map, Value};

/// Counters of one pass (or the part of it done so far).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    /// Partitions tried.
    pub attempted: u64,
    /// Peers synced (or found in sync).
    pub success: u64,
    /// Peers that failed.
    pub failure: u64,
    /// Peers whose suffix hashes matched ours.
    pub hashmatch: u64,
    /// Handoff partitions removed.
    pub remove: u64,
    /// Syncs run (Swift counts rsync runs).
    pub rsync: u64,
    pub suffix_count: u64,
    pub suffix_hash: u64,
    pub suffix_sync: u64,
    /// Failures per peer: `{ip: {device: n}}`.
    pub failure_nodes: BTreeMap<String, BTreeMap<String, u64>>,
    /// Request body bytes sent to peers (files, deltas, offers).
    pub bytes_sent: u64,
    /// Response body bytes received (signatures, answers).
    pub bytes_received: u64,
    /// Files sent whole.
    pub files_sent: u64,
    /// Files sent as a delta against the peer's older version.
    pub deltas: u64,
    /// Size of the files sent as deltas (what whole copies would have cost).
    pub delta_file_bytes: u64,
    /// Handoff objects removed after every primary confirmed them.
    pub objects_removed: u64,
}

impl Stats {
    pub fn add_failure(&mut self, ip: &str, device: &str) {
        self.failure += 1;
        *self
            .failure_nodes
            .entry(ip.to_string())
            .or_default()
            .entry(device.to_string())
            .or_default() += 1;
    }

    /// The progress line of a pass: `done` of `total` partitions after `elapsed`.
    pub fn line(&self, done: usize, total: usize, elapsed: Duration) -> String {
        let pct = if total == 0 {
            100.0
        } else {
            done as f64 * 100.0 / total as f64
        };
        format!(
            "{done}/{total} ({pct:.2}%) partitions replicated in {:.2}s: {} successes, {} failures, \
             {} in sync; sent {} bytes ({} files whole, {} as deltas of {} bytes), received {} bytes; \
             {} handoff partitions removed",
            elapsed.as_secs_f64(),
            self.success,
            self.failure,
            self.hashmatch,
            self.bytes_sent,
            self.files_sent,
            self.deltas,
            self.delta_file_bytes,
            self.bytes_received,
            self.remove
        )
    }

    /// The `object.recon` entry Swift's replicator writes at the end of a pass
    /// (`replication_time` in minutes, as Swift has it), swirl's counters inside
    /// `replication_stats`.
    pub fn recon(&self, elapsed: Duration, end_unix: f64) -> Map<String, Value> {
        let minutes = elapsed.as_secs_f64() / 60.0;
        let stats = serde_json::to_value(self).unwrap_or(Value::Null);
        let v = json!({
            "replication_stats": stats,
            "replication_time": minutes,
            "replication_last": end_unix,
            "object_replication_time": minutes,
            "object_replication_last": end_unix,
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recon_shape() {
        let mut s = Stats::default();
        s.add_failure("198.51.100.2", "d1");
        s.add_failure("198.51.100.2", "d1");
        s.deltas = 1;
        let r = s.recon(Duration::from_secs(90), 1700000000.5);
        assert_eq!(r["replication_time"], json!(1.5));
        assert_eq!(r["object_replication_last"], json!(1700000000.5));
        assert_eq!(r["replication_stats"]["failure"], json!(2));
        assert_eq!(
            r["replication_stats"]["failure_nodes"]["198.51.100.2"]["d1"],
            json!(2)
        );
        assert_eq!(r["replication_stats"]["deltas"], json!(1));
        assert!(s
            .line(1, 4, Duration::from_secs(2))
            .starts_with("1/4 (25.00%)"));
    }
}
