//! The result of a phase as text for people and as one JSON object for scripts.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::histogram::Snapshot;
use super::runner::Outcome;

/// CPU used during the phase.
#[derive(Clone, Debug, Default)]
pub struct CpuUse {
    /// Server seconds (None without --pid/--pids-file).
    pub server: Option<f64>,
    /// Server seconds by role.
    pub by_role: BTreeMap<String, f64>,
    /// This client's own CPU seconds.
    pub client: f64,
    /// The whole machine's busy CPU seconds (/proc/stat: every process and
    /// kernel thread, this client included).
    pub machine: f64,
    /// Kernel threads' CPU seconds (writeback, loop devices, filesystems).
    pub kernel_threads: f64,
    /// Servers' peak resident KiB by role (the sum over a role's processes).
    pub peak_rss_kib: BTreeMap<String, u64>,
}

/// The run's settings echoed in the output.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Workload name.
    pub workload: String,
    /// Storage URL.
    pub storage_url: String,
    /// Concurrency.
    pub concurrency: usize,
    /// Object size (PUT).
    pub size: u64,
    /// Containers.
    pub containers: u64,
    /// Pool size.
    pub objects: u64,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn latency_json(s: &Snapshot) -> Value {
    json!({
        "p50": ms(s.percentile(50.0)),
        "p90": ms(s.percentile(90.0)),
        "p99": ms(s.percentile(99.0)),
        "max": ms(s.max),
        "mean": s.mean() / 1000.0,
    })
}

fn per_1000(cpu: f64, ops: u64) -> Option<f64> {
    (ops > 0).then(|| cpu * 1000.0 / ops as f64)
}

/// The JSON document (`--json`).
pub fn to_json(set: &Settings, o: &Outcome, cpu: &CpuUse) -> Value {
    let secs = o.elapsed.as_secs_f64();
    let rate = |n: f64| if secs > 0.0 { n / secs } else { 0.0 };
    let per_op: serde_json::Map<String, Value> = o
        .per_op
        .iter()
        .map(|r| {
            (
                r.op.name().to_string(),
                json!({
                    "ops": r.ok,
                    "ops_per_s": rate(r.ok as f64),
                    "latency_ms": latency_json(&r.latency),
                }),
            )
        })
        .collect();
    json!({
        "workload": set.workload,
        "storage_url": set.storage_url,
        "concurrency": set.concurrency,
        "size": set.size,
        "containers": set.containers,
        "objects": set.objects,
        "elapsed_s": secs,
        "ops": o.ok,
        "ops_per_s": rate(o.ok as f64),
        "bytes": o.bytes,
        "mb_per_s": rate(o.bytes as f64) / 1e6,
        "latency_ms": latency_json(&o.latency),
        "errors": o.error_count(),
        "errors_by_status": o.errors,
        "first_error": o.first_error,
        "raced_404": o.raced,
        "written_up_to": o.written_up_to,
        "per_op": per_op,
        "server_cpu_s": cpu.server,
        "server_cpu_s_per_1000_ops": cpu.server.and_then(|c| per_1000(c, o.ok)),
        "server_cpu_by_role": cpu.by_role,
        "client_cpu_s": cpu.client,
        "client_cpu_s_per_1000_ops": per_1000(cpu.client, o.ok),
        "machine_cpu_s": cpu.machine,
        "machine_cpu_s_per_1000_ops": per_1000(cpu.machine, o.ok),
        "kernel_threads_cpu_s": cpu.kernel_threads,
        "kernel_threads_cpu_s_per_1000_ops": per_1000(cpu.kernel_threads, o.ok),
        "server_peak_rss_kib_by_role": cpu.peak_rss_kib,
    })
}

/// The text report.
pub fn to_text(set: &Settings, o: &Outcome, cpu: &CpuUse) -> String {
    let secs = o.elapsed.as_secs_f64().max(1e-9);
    let lat = |s: &Snapshot| {
        format!(
            "p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  mean {:.2}",
            ms(s.percentile(50.0)),
            ms(s.percentile(90.0)),
            ms(s.percentile(99.0)),
            ms(s.max),
            s.mean() / 1000.0
        )
    };
    let mut t = format!(
        "swirl bench: {} on {}, {} B objects, concurrency {}, {} container(s)\n",
        set.workload, set.storage_url, set.size, set.concurrency, set.containers
    );
    t += &format!(
        "  ops         {} ok in {:.2} s = {:.1} ops/s, {:.1} MB/s\n",
        o.ok,
        secs,
        o.ok as f64 / secs,
        o.bytes as f64 / secs / 1e6
    );
    t += &format!("  latency ms  {}\n", lat(&o.latency));
    if o.per_op.len() > 1 {
        for r in &o.per_op {
            t += &format!(
                "    {:<7} {} ok, {:.1} ops/s, {}\n",
                r.op.name(),
                r.ok,
                r.ok as f64 / secs,
                lat(&r.latency)
            );
        }
    }
    let by: Vec<String> = o.errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    t += &format!(
        "  errors      {}{}\n",
        o.error_count(),
        if by.is_empty() {
            String::new()
        } else {
            format!(" ({})", by.join(", "))
        }
    );
    if let Some(e) = &o.first_error {
        t += &format!("  first error {e}\n");
    }
    if o.raced > 0 {
        t += &format!(
            "  raced 404   {} (read of an object deleted meanwhile)\n",
            o.raced
        );
    }
    match cpu.server {
        Some(c) => {
            let split: Vec<String> = cpu
                .by_role
                .iter()
                .filter(|(_, v)| **v >= 0.005)
                .map(|(k, v)| format!("{k} {v:.2}"))
                .collect();
            t += &format!(
                "  server CPU  {c:.2} s = {} s per 1,000 ops{}\n",
                per_1000(c, o.ok).map_or("-".into(), |v| format!("{v:.3}")),
                if split.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", split.join(", "))
                }
            );
        }
        None => t += "  server CPU  n/a (give --pid or --pids-file)\n",
    }
    if !cpu.peak_rss_kib.is_empty() {
        let split: Vec<String> = cpu
            .peak_rss_kib
            .iter()
            .map(|(k, v)| format!("{k} {:.1}", *v as f64 / 1024.0))
            .collect();
        t += &format!("  server RSS  peak MiB {}\n", split.join(", "));
    }
    t += &format!(
        "  client CPU  {:.2} s = {} s per 1,000 ops\n",
        cpu.client,
        per_1000(cpu.client, o.ok).map_or("-".into(), |v| format!("{v:.3}"))
    );
    t += &format!(
        "  machine CPU {:.2} s busy = {} s per 1,000 ops (kernel threads {:.2} s)\n",
        cpu.machine,
        per_1000(cpu.machine, o.ok).map_or("-".into(), |v| format!("{v:.3}")),
        cpu.kernel_threads
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::histogram::Histogram;
    use crate::load::runner::OpResult;
    use crate::load::workload::Op;
    use std::time::Duration;

    fn outcome() -> Outcome {
        let h = Histogram::new();
        for v in [1000, 2000, 3000, 4000] {
            h.record(v);
        }
        let s = h.snapshot();
        Outcome {
            elapsed: Duration::from_secs(2),
            ok: 4,
            bytes: 4_000_000,
            latency: s.clone(),
            per_op: vec![OpResult {
                op: Op::Put,
                ok: 4,
                latency: s,
            }],
            errors: [("503".to_string(), 2)].into_iter().collect(),
            first_error: Some("put /x: HTTP 503".into()),
            raced: 0,
            written_up_to: 3,
        }
    }

    fn settings() -> Settings {
        Settings {
            workload: "put".into(),
            storage_url: "http://127.0.0.1:1/v1/AUTH_x".into(),
            concurrency: 2,
            size: 1_000_000,
            containers: 1,
            objects: 10,
        }
    }

    #[test]
    fn json_figures() {
        let cpu = CpuUse {
            server: Some(0.5),
            by_role: [("proxy".to_string(), 0.5)].into_iter().collect(),
            client: 0.1,
            machine: 2.0,
            kernel_threads: 0.25,
            peak_rss_kib: [("proxy".to_string(), 2048)].into_iter().collect(),
        };
        let j = to_json(&settings(), &outcome(), &cpu);
        assert_eq!(j["server_peak_rss_kib_by_role"]["proxy"], 2048);
        assert_eq!(j["ops"], 4);
        assert_eq!(j["ops_per_s"], 2.0);
        assert_eq!(j["mb_per_s"], 2.0);
        assert_eq!(j["errors"], 2);
        assert_eq!(j["errors_by_status"]["503"], 2);
        assert_eq!(j["server_cpu_s_per_1000_ops"], 125.0);
        assert_eq!(j["machine_cpu_s_per_1000_ops"], 500.0);
        assert_eq!(j["kernel_threads_cpu_s"], 0.25);
        assert_eq!(j["latency_ms"]["max"], 4.0);
        assert_eq!(j["per_op"]["put"]["ops"], 4);
        assert_eq!(j["written_up_to"], 3);
    }

    #[test]
    fn text_mentions_everything() {
        let t = to_text(&settings(), &outcome(), &CpuUse::default());
        assert!(t.contains("4 ok in 2.00 s = 2.0 ops/s, 2.0 MB/s"), "{t}");
        assert!(t.contains("errors      2 (503: 2)"), "{t}");
        assert!(t.contains("server CPU  n/a"), "{t}");
    }
}
