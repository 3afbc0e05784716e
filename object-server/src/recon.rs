//! A recon-style JSON endpoint (Swift's recon middleware, `GET /recon/<check>`):
//! `diskusage`, `async`, `quarantined`, and `swirl` (all of those plus the
//! counters kept since start).

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

fn async_count(s: &Server) -> u64 {
    devices(s)
        .iter()
        .map(|d| {
            async_pending::list(&DeviceLayout::new(&s.store.devices, d))
                .map(|v| v.len() as u64)
                .unwrap_or(0)
        })
        .sum()
}

fn quarantined(s: &Server) -> u64 {
    devices(s)
        .iter()
        .map(|d| quarantine::count(&DeviceLayout::new(&s.store.devices, d)))
        .sum()
}

pub async fn handle(s: Arc<Server>, check: &str) -> Result<Response<Body>> {
    let check = check.to_string();
    let v = blocking(move || {
        Ok(match check.as_str() {
            "diskusage" => Some(diskusage(&s)),
            "async" => Some(json!({"async_pending": async_count(&s)})),
            "quarantined" => {
                let q = quarantined(&s);
                Some(json!({"objects": q, "accounts": 0, "containers": 0,
                    "policies": {"0": {"objects": q}}}))
            }
            "swirl" => {
                let st = &s.stats;
                Some(json!({
                    "diskusage": diskusage(&s),
                    "async_pending": async_count(&s),
                    "quarantined": quarantined(&s),
                    "since_start": {
                        "async_pending_written": st.async_pending_written.load(Ordering::Relaxed),
                        "container_updates_ok": st.container_updates_ok.load(Ordering::Relaxed),
                        "container_updates_failed": st.container_updates_failed.load(Ordering::Relaxed),
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
