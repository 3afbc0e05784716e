//! What a storage server's `/metrics` reads from disk at each scrape: the
//! daemons' last passes from the recon cache (the files the replicators,
//! auditors, updater and expirer write whether they run inside `swirl aio`
//! or alone, so one channel serves both), and each device's disk usage.
//! The figures go into a [`Figures`] of `swirl_common::metrics`.

use std::path::Path;

use serde_json::{Map, Value};
use swirl_common::metrics::Figures;

use crate::object::device;

fn number(m: &Map<String, Value>, key: &str) -> Option<f64> {
    m.get(key).and_then(Value::as_f64)
}

/// The replication entry (Swift's `replication_stats`, `replication_time`
/// in minutes, `replication_last`) of `cache` as
/// `<kind>_replication_last_pass_*` gauges.
fn replication(f: &mut Figures, kind: &str, cache: &Map<String, Value>) {
    let prefix = format!("{kind}_replication_last_pass");
    if let Some(Value::Object(stats)) = cache.get("replication_stats") {
        f.gauges_from_json(
            &prefix,
            "A figure of the replicator's last pass (recon's replication_stats)",
            &[],
            stats,
        );
    }
    if let Some(min) = number(cache, "replication_time") {
        f.gauge(
            &format!("{prefix}_duration_seconds"),
            "How long the replicator's last pass took",
            &[],
            min * 60.0,
        );
    }
    if let Some(t) = number(cache, "replication_last") {
        f.gauge(
            &format!("{prefix}_end_timestamp_seconds"),
            "When the replicator's last pass ended (Unix time)",
            &[],
            t,
        );
    }
}

/// The object daemons' figures from `object.recon`: the replicator's last
/// pass, each auditor pass kind's (`pass` label: ALL or ZBF), the updater's
/// last sweep and the expirer's last pass.
pub fn object(f: &mut Figures, cache: &Map<String, Value>) {
    replication(f, "object", cache);
    for pass in ["ALL", "ZBF"] {
        if let Some(Value::Object(stats)) = cache.get(&format!("object_auditor_stats_{pass}")) {
            f.gauges_from_json(
                "object_auditor_last_pass",
                "A figure of the object auditor's last pass of this kind",
                &[("pass", pass)],
                stats,
            );
        }
    }
    if let Some(s) = number(cache, "object_updater_sweep") {
        f.gauge(
            "object_updater_last_sweep_duration_seconds",
            "How long the object updater's last sweep took",
            &[],
            s,
        );
    }
    if let Some(s) = number(cache, "object_expiration_pass") {
        f.gauge(
            "object_expirer_last_pass_duration_seconds",
            "How long the object expirer's last pass took",
            &[],
            s,
        );
    }
    if let Some(n) = number(cache, "expired_last_pass") {
        f.gauge(
            "object_expirer_last_pass_expired",
            "Objects the object expirer deleted in its last pass",
            &[],
            n,
        );
    }
}

/// An account or container daemons' figures (`kind`: `account` or
/// `container`) from `<kind>.recon`: the replicator's last pass and the
/// auditor's counts.
pub fn db(f: &mut Figures, kind: &str, cache: &Map<String, Value>) {
    replication(f, kind, cache);
    for (key, name, help) in [
        (
            "audits_passed",
            "auditor_passed",
            "Databases the auditor found sound since its last report",
        ),
        (
            "audits_failed",
            "auditor_failed",
            "Databases the auditor quarantined since its last report",
        ),
        (
            "auditor_pass_completed",
            "auditor_last_pass_duration_seconds",
            "How long the auditor's last pass took",
        ),
        (
            "audits_since",
            "auditor_since_timestamp_seconds",
            "Start of the auditor's current counts (Unix time)",
        ),
    ] {
        if let Some(v) = number(cache, &format!("{kind}_{key}")) {
            f.gauge(&format!("{kind}_{name}"), help, &[], v);
        }
    }
}

/// The device directories under `devices`, sorted.
pub fn devices(devices: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(devices)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Each device's file system (recon's `diskusage`): `disk_mounted` (1 or
/// 0, by `mounted`), and for a mounted one `disk_size_bytes`,
/// `disk_used_bytes` and `disk_avail_bytes`, labelled `device`.
pub fn disk_usage(f: &mut Figures, devices_root: &Path, mounted: impl Fn(&str) -> bool) {
    for d in devices(devices_root) {
        let labels = [("device", d.as_str())];
        let sp = match device::space(&devices_root.join(&d)) {
            Ok(sp) if mounted(&d) => sp,
            _ => {
                f.gauge(
                    "disk_mounted",
                    "Whether the device is mounted and usable",
                    &labels,
                    0.0,
                );
                continue;
            }
        };
        f.gauge(
            "disk_mounted",
            "Whether the device is mounted and usable",
            &labels,
            1.0,
        );
        f.gauge(
            "disk_size_bytes",
            "Size of the device's file system",
            &labels,
            sp.size as f64,
        );
        f.gauge(
            "disk_used_bytes",
            "Bytes used on the device's file system",
            &labels,
            sp.size.saturating_sub(sp.avail) as f64,
        );
        f.gauge(
            "disk_avail_bytes",
            "Bytes available to swirl on the device's file system",
            &labels,
            sp.avail as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn names_of_the_daemons_figures() {
        let cache = map(json!({
            "replication_stats": {"attempted": 4, "bytes_sent": 10, "deltas": 1,
                "files_sent": 2, "failure_nodes": {"10.0.0.1": {"sdb": 1}}},
            "replication_time": 0.5,
            "replication_last": 1700000000.0,
            "object_auditor_stats_ZBF": {"quarantined": 1, "passes": 3},
            "object_updater_sweep": 0.2,
            "object_expiration_pass": 0.1,
            "expired_last_pass": 5,
        }));
        let mut f = Figures::new();
        object(&mut f, &cache);
        let mut names = f.names();
        names.sort();
        assert_eq!(
            names,
            [
                "object_auditor_last_pass_passes",
                "object_auditor_last_pass_quarantined",
                "object_expirer_last_pass_duration_seconds",
                "object_expirer_last_pass_expired",
                "object_replication_last_pass_attempted",
                "object_replication_last_pass_bytes_sent",
                "object_replication_last_pass_deltas",
                "object_replication_last_pass_duration_seconds",
                "object_replication_last_pass_end_timestamp_seconds",
                "object_replication_last_pass_files_sent",
                "object_updater_last_sweep_duration_seconds",
            ]
        );
        let (_, text) = swirl_common::metrics::encode(f, None);
        assert!(
            text.contains("\nswirl_object_replication_last_pass_duration_seconds 30.0\n"),
            "{text}"
        );
        assert!(
            text.contains("\nswirl_object_auditor_last_pass_quarantined{pass=\"ZBF\"} 1.0\n"),
            "{text}"
        );

        let cache =
            map(json!({"replication_stats": {"no_change": 2}, "container_audits_failed": 1}));
        let mut f = Figures::new();
        db(&mut f, "container", &cache);
        let mut names = f.names();
        names.sort();
        assert_eq!(
            names,
            [
                "container_auditor_failed",
                "container_replication_last_pass_no_change"
            ]
        );
    }

    #[test]
    fn disk_usage_of_each_device() {
        let d = tempfile::tempdir().unwrap();
        for dev in ["sdb", "sda"] {
            std::fs::create_dir(d.path().join(dev)).unwrap();
        }
        let mut f = Figures::new();
        disk_usage(&mut f, d.path(), |dev| dev == "sda");
        let (_, text) = swirl_common::metrics::encode(f, None);
        assert!(
            text.contains("swirl_disk_mounted{device=\"sda\"} 1.0\n"),
            "{text}"
        );
        assert!(
            text.contains("swirl_disk_mounted{device=\"sdb\"} 0.0\n"),
            "{text}"
        );
        assert!(
            text.contains("swirl_disk_size_bytes{device=\"sda\"} "),
            "{text}"
        );
        assert!(
            !text.contains("swirl_disk_size_bytes{device=\"sdb\"}"),
            "{text}"
        );
    }
}
