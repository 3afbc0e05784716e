//! A database replication pass's counters: Swift's `replication_stats`
//! (attempted, success, failure, no_change, hashmatch, rsync, diff,
//! diff_capped, remote_merge, remove, failure_nodes, start, ...) plus
//! swirl's transfer figures (rows merged, whole databases streamed against
//! sent as deltas, bytes sent and received, container reports), the
//! progress line and the recon cache entry (`account.recon` /
//! `container.recon`).

use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::stats::{add_failure_node, merge_failure_nodes, FailureNodes};

/// Counters of one pass (or the part of it done so far).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DbStats {
    /// Databases tried.
    pub attempted: u64,
    /// Peers replicated to (or found in sync).
    pub success: u64,
    /// Peers that failed.
    pub failure: u64,
    /// Timestamps merged (Swift keeps the key; always 0 there too).
    pub ts_repl: u64,
    /// Peers whose sync points showed them up to date.
    pub no_change: u64,
    /// Peers whose rows hashed the same as ours.
    pub hashmatch: u64,
    /// Peers without the database: sent it whole (`complete_rsync`).
    pub rsync: u64,
    /// Peers sent rows (`merge_items`).
    pub diff: u64,
    /// Peers still behind after `max_diffs` batches (the rest next pass).
    pub diff_capped: u64,
    /// Peers far behind: sent the whole database to merge (`rsync_then_merge`).
    pub remote_merge: u64,
    /// Databases removed (handoffs home, deleted ones reclaimed).
    pub remove: u64,
    /// Empty databases (Swift keeps the key).
    pub empty: u64,
    /// Peers deferred (Swift: sharding; never here).
    pub deferred: u64,
    /// When the pass began (Unix seconds).
    pub start: f64,
    /// Failures per peer: `{ip: {device: n}}`.
    pub failure_nodes: FailureNodes,
    /// Rows sent in `merge_items` batches.
    pub rows_merged: u64,
    /// Whole databases streamed as they are.
    pub whole_copies: u64,
    /// Whole databases sent as a delta against the peer's older copy.
    pub deltas: u64,
    /// Size of the databases sent as deltas (what whole copies would have cost).
    pub delta_file_bytes: u64,
    /// Request body bytes sent to peers (rows, files, deltas).
    pub bytes_sent: u64,
    /// Response body bytes received.
    pub bytes_received: u64,
    /// Deleted rows reclaimed.
    pub reclaimed_rows: u64,
    /// Container stats reported to the account (container replicator).
    pub reported: u64,
    /// Container reports that failed (retried next pass).
    pub report_failures: u64,
}

impl DbStats {
    pub fn add_failure(&mut self, ip: &str, device: &str) {
        self.failure += 1;
        add_failure_node(&mut self.failure_nodes, ip, device);
    }

    /// Adds another part's counters (`start` stays).
    pub fn merge(&mut self, s: DbStats) {
        self.attempted += s.attempted;
        self.success += s.success;
        self.ts_repl += s.ts_repl;
        self.no_change += s.no_change;
        self.hashmatch += s.hashmatch;
        self.rsync += s.rsync;
        self.diff += s.diff;
        self.diff_capped += s.diff_capped;
        self.remote_merge += s.remote_merge;
        self.remove += s.remove;
        self.empty += s.empty;
        self.deferred += s.deferred;
        self.rows_merged += s.rows_merged;
        self.whole_copies += s.whole_copies;
        self.deltas += s.deltas;
        self.delta_file_bytes += s.delta_file_bytes;
        self.bytes_sent += s.bytes_sent;
        self.bytes_received += s.bytes_received;
        self.reclaimed_rows += s.reclaimed_rows;
        self.reported += s.reported;
        self.report_failures += s.report_failures;
        self.failure += s.failure;
        merge_failure_nodes(&mut self.failure_nodes, s.failure_nodes);
    }

    /// The progress line of a pass: `done` of `total` databases after `elapsed`.
    pub fn line(&self, done: usize, total: usize, elapsed: Duration) -> String {
        let pct = if total == 0 {
            100.0
        } else {
            done as f64 * 100.0 / total as f64
        };
        format!(
            "{done}/{total} ({pct:.2}%) databases replicated in {:.2}s: {} successes, {} failures; \
             {} no change, {} hash matches, {} diffs ({} rows merged, {} capped), \
             {} whole databases ({} missing, {} far behind: {} streamed, {} as deltas of {} bytes); \
             sent {} bytes, received {} bytes; {} removed, {} rows reclaimed, {} reports to accounts",
            elapsed.as_secs_f64(),
            self.success,
            self.failure,
            self.no_change,
            self.hashmatch,
            self.diff,
            self.rows_merged,
            self.diff_capped,
            self.rsync + self.remote_merge,
            self.rsync,
            self.remote_merge,
            self.whole_copies,
            self.deltas,
            self.delta_file_bytes,
            self.bytes_sent,
            self.bytes_received,
            self.remove,
            self.reclaimed_rows,
            self.reported,
        )
    }

    /// The entry Swift's database replicators write at the end of a pass
    /// (`replication_time` in seconds, as they have it).
    pub fn recon(&self, elapsed: Duration, end_unix: f64) -> Map<String, Value> {
        let stats = serde_json::to_value(self).unwrap_or(Value::Null);
        let v = json!({
            "replication_stats": stats,
            "replication_time": elapsed.as_secs_f64(),
            "replication_last": end_unix,
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
    fn recon_shape_and_line() {
        let mut s = DbStats {
            start: 1700000000.0,
            ..Default::default()
        };
        s.add_failure("198.51.100.2", "d1");
        let mut part = DbStats {
            deltas: 1,
            rows_merged: 10,
            ..Default::default()
        };
        part.add_failure("198.51.100.2", "d1");
        s.merge(part);
        let r = s.recon(Duration::from_secs(90), 1700000090.5);
        assert_eq!(r["replication_time"], json!(90.0));
        assert_eq!(r["replication_last"], json!(1700000090.5));
        assert_eq!(r["replication_stats"]["failure"], json!(2));
        assert_eq!(
            r["replication_stats"]["failure_nodes"]["198.51.100.2"]["d1"],
            json!(2)
        );
        assert_eq!(r["replication_stats"]["start"], json!(1700000000.0));
        assert_eq!(r["replication_stats"]["deltas"], json!(1));
        let line = s.line(1, 4, Duration::from_secs(2));
        assert!(line.starts_with("1/4 (25.00%) databases"), "{line}");
        assert!(line.contains("10 rows merged"), "{line}");
    }
}
