//! A recon-style JSON endpoint (Swift's recon middleware, `GET /recon/<check>`):
//! `diskusage`, `async`, `quarantined`, `auditor/object` (the object
//! auditor's figures from `object.recon`), `replication[/object]`,
//! `updater/object` and `expirer/object` (the daemons' entries there),
//! `ringmd5` and `swiftconfmd5` (what `swift-recon --md5` compares), and
//! `swirl` (all of those plus the counters kept since start). Async pendings and quarantined objects are
//! counted over every storage policy of the config, and `quarantined` (as
//! Swift's) and `swirl` also break them down by policy index.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use http::{HeaderValue, Response, StatusCode};
use serde_json::{json, Value};
use swirl_common::{body, Body};
use swirl_store::object::{async_pending, device, quarantine, DeviceLayout};

use crate::error::{Error, Result};
use crate::handler::blocking;
use crate::Server;

fn devices(s: &Server) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(&s.store.devices)
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

fn diskusage(s: &Server) -> Value {
    let list: Vec<Value> = devices(s)
        .into_iter()
        .map(|d| {
            let mounted = s.store.check_device(&d).is_ok();
            match device::space(&s.store.devices.join(&d)) {
                Ok(sp) if mounted => json!({"device": d, "mounted": true, "size": sp.size,
                    "used": sp.size - sp.avail, "avail": sp.avail}),
                _ => json!({"device": d, "mounted": false, "size": "", "used": "", "avail": ""}),
            }
        })
        .collect();
    Value::Array(list)
}

/// `f` summed over the devices, for each policy: `(index, count)`.
fn per_policy(s: &Server, f: impl Fn(&DeviceLayout) -> u64) -> Vec<(u32, u64)> {
    let devs = devices(s);
    s.cfg
        .storage_policy
        .iter()
        .map(|p| {
            let n = devs
                .iter()
                .map(|d| f(&DeviceLayout::new(&s.store.devices, d, p.index)))
                .sum();
            (p.index, n)
        })
        .collect()
}

pub(crate) fn async_counts(s: &Server) -> Vec<(u32, u64)> {
    per_policy(s, |l| {
        async_pending::list(l).map(|v| v.len() as u64).unwrap_or(0)
    })
}

pub(crate) fn quarantined_counts(s: &Server) -> Vec<(u32, u64)> {
    per_policy(s, quarantine::count)
}

fn total(counts: &[(u32, u64)]) -> u64 {
    counts.iter().map(|(_, n)| n).sum()
}

/// `{"<index>": {<key>: n}, ...}`, Swift's shape for per-policy counts.
fn by_policy(counts: &[(u32, u64)], key: &str) -> Value {
    Value::Object(
        counts
            .iter()
            .map(|(i, n)| (i.to_string(), json!({ key: n })))
            .collect(),
    )
}

/// Swift's `auditor/object`: the object auditor's last figures per pass
/// kind, from `object.recon` (null for a pass that has not reported).
fn auditor(s: &Server) -> Value {
    from_cache(s, &["object_auditor_stats_ALL", "object_auditor_stats_ZBF"])
}

/// `keys` from `object.recon` (null for what no daemon has written yet).
fn from_cache(s: &Server, keys: &[&str]) -> Value {
    swirl_store::recon_cache::pick(
        &s.cfg
            .recon_cache_path
            .join(swirl_store::recon_cache::OBJECT),
        keys,
    )
}

/// Swift's `replication/object`: the object replicator's last pass.
fn replication(s: &Server) -> Value {
    from_cache(
        s,
        &[
            "replication_time",
            "replication_stats",
            "replication_last",
            "object_replication_time",
            "object_replication_last",
        ],
    )
}

/// The rings Swift's recon sums: account, container and each policy's.
fn ring_names(s: &Server) -> Vec<String> {
    let mut v = vec!["account".to_string(), "container".to_string()];
    v.extend(s.cfg.storage_policy.iter().map(|p| match p.index {
        0 => "object".to_string(),
        n => format!("object-{n}"),
    }));
    v
}

pub async fn handle(s: Arc<Server>, check: &str) -> Result<Response<Body>> {
    let check = check.to_string();
    let v = blocking(move || {
        Ok(match check.as_str() {
            "diskusage" => Some(diskusage(&s)),
            "async" => Some(json!({"async_pending": total(&async_counts(&s))})),
            "auditor/object" => Some(auditor(&s)),
            "replication" | "replication/object" => Some(replication(&s)),
            "updater/object" => Some(from_cache(
                &s,
                &["object_updater_sweep", "object_updater_stats", "object_updater_last"],
            )),
            "expirer/object" => Some(from_cache(&s, &["object_expiration_pass", "expired_last_pass"])),
            "ringmd5" => Some(swirl_store::recon_md5::rings(&s.cfg.swift_dir, &ring_names(&s))),
            "swiftconfmd5" => Some(swirl_store::recon_md5::swift_conf(&s.cfg.swift_dir)),
            "quarantined" => {
                let q = quarantined_counts(&s);
                Some(json!({"objects": total(&q), "accounts": 0, "containers": 0,
                    "policies": by_policy(&q, "objects")}))
            }
            "swirl" => {
                let st = &s.stats;
                let (a, q) = (async_counts(&s), quarantined_counts(&s));
                Some(json!({
                    "diskusage": diskusage(&s),
                    "async_pending": total(&a),
                    "quarantined": total(&q),
                    "policies": Value::Object(a.iter().zip(&q).map(|((i, a), (_, q))| {
                        (i.to_string(), json!({"async_pending": a, "quarantined": q}))
                    }).collect()),
                    "since_start": {
                        "async_pending_written": st.async_pending_written.load(Ordering::Relaxed),
                        "container_updates_ok": st.container_updates_ok.load(Ordering::Relaxed),
                        "container_updates_failed": st.container_updates_failed.load(Ordering::Relaxed),
                        "container_updates_refused": st.container_updates_refused.load(Ordering::Relaxed),
                        "quarantined_on_read": st.quarantined.load(Ordering::Relaxed),
                    }
                }))
            }
            _ => None,
        })
    })
    .await?;
    let Some(v) = v else {
        return Err(Error::NotFound {
            backend_timestamp: None,
        });
    };
    let bytes = serde_json::to_vec(&v).map_err(|e| Error::Internal(e.to_string()))?;
    let len = bytes.len();
    let mut r = Response::new(body::full(bytes));
    *r.status_mut() = StatusCode::OK;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r.headers_mut()
        .insert("content-length", HeaderValue::from(len));
    Ok(r)
}
