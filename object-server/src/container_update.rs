//! Container updates: after a PUT, POST or DELETE, tell the container servers
//! named by X-Container-Host / -Device / -Partition (Swift's
//! `ObjectController.container_update` / `async_update`). The request waits at
//! most `container_update_timeout` for them; an update that fails (now or
//! later) is saved as an async pending on the object's device for the updater.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use swirl_common::backend_headers as bh;
use swirl_common::body;
use swirl_store::object::async_pending::{self, AsyncUpdate};
use swirl_store::object::ObjectRef;
use tracing::{debug, warn};

use crate::headers::value;
use crate::Server;

/// Python's `urllib.parse.quote(path)`: everything but alphanumerics and `/_.-~`.
const QUOTE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~');

/// The container servers a request names: (host, device) pairs and the partition.
pub fn targets(h: &HeaderMap) -> Option<(Vec<(String, String)>, String)> {
    let split = |k: &str| -> Vec<String> {
        value(h, k)
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .collect()
    };
    let hosts = split(bh::CONTAINER_HOST);
    let devices = split(bh::CONTAINER_DEVICE);
    if hosts.len() != devices.len() {
        warn!(hosts = ?hosts, devices = ?devices, "container update: different numbers of hosts and devices");
        return None;
    }
    let partition = value(h, bh::CONTAINER_PARTITION).unwrap_or_default();
    if partition.is_empty() {
        return None;
    }
    Some((hosts.into_iter().zip(devices).collect(), partition))
}

/// Sends `op` (PUT or DELETE) with `headers_out` (x-size, x-etag, ...) to each
/// container server the request names, waiting up to the configured timeout.
pub async fn update(
    s: &Arc<Server>,
    req_headers: &HeaderMap,
    obj: &ObjectRef,
    op: &'static str,
    mut headers_out: BTreeMap<String, String>,
    referer: String,
    txn: &str,
) {
    let Some((targets, partition)) = targets(req_headers) else {
        return;
    };
    let container_path = value(req_headers, bh::QUOTED_CONTAINER_PATH)
        .map(|p| {
            percent_encoding::percent_decode_str(&p)
                .decode_utf8_lossy()
                .into_owned()
        })
        .or_else(|| value(req_headers, bh::CONTAINER_PATH))
        .filter(|p| {
            let parts: Vec<&str> = p.split('/').collect();
            parts.len() == 2 && parts.iter().all(|x| !x.is_empty())
        });
    headers_out.insert("x-trans-id".into(), txn.to_string());
    headers_out.insert("referer".into(), referer);
    headers_out.insert(
        bh::STORAGE_POLICY_INDEX.into(),
        value(req_headers, bh::STORAGE_POLICY_INDEX).unwrap_or_else(|| "0".into()),
    );
    headers_out.insert(
        "user-agent".into(),
        format!("object-server {}", std::process::id()),
    );
    let path = match &container_path {
        Some(cp) => format!("/{cp}/{}", obj.object),
        None => format!("/{}/{}/{}", obj.account, obj.container, obj.object),
    };
    let mut tasks = Vec::new();
    for (host, dev) in targets {
        let s = s.clone();
        let obj = obj.clone();
        let headers_out = headers_out.clone();
        let path = path.clone();
        let partition = partition.clone();
        let container_path = container_path.clone();
        tasks.push(tokio::spawn(async move {
            let ok = if host.is_empty() || dev.is_empty() {
                false
            } else {
                send(&s, op, &host, &dev, &partition, &path, &headers_out).await
            };
            if ok {
                s.stats.container_updates_ok.fetch_add(1, Ordering::Relaxed);
                return;
            }
            s.stats
                .container_updates_failed
                .fetch_add(1, Ordering::Relaxed);
            save_async(&s, obj, op, headers_out, container_path).await;
        }));
    }
    let wait = Duration::from_secs_f64(s.cfg.container_update_timeout);
    if tokio::time::timeout(wait, futures_join(tasks))
        .await
        .is_err()
    {
        debug!(object = %obj.name(), "container update still running after container_update_timeout");
    }
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

async fn send(
    s: &Server,
    op: &'static str,
    host: &str,
    dev: &str,
    partition: &str,
    path: &str,
    headers_out: &BTreeMap<String, String>,
) -> bool {
    let full = format!("/{dev}/{partition}{path}");
    let uri = format!("http://{host}{}", utf8_percent_encode(&full, QUOTE));
    let method = if op == "DELETE" {
        Method::DELETE
    } else {
        Method::PUT
    };
    let mut req = match Request::builder()
        .method(method)
        .uri(&uri)
        .body(body::empty())
    {
        Ok(r) => r,
        Err(e) => {
            warn!(uri, error = %e, "container update: bad request");
            return false;
        }
    };
    for (k, v) in headers_out {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            req.headers_mut().insert(n, v);
        }
    }
    req.headers_mut()
        .insert("content-length", HeaderValue::from(0));
    let deadline = Duration::from_secs_f64(s.cfg.conn_timeout + s.cfg.node_timeout);
    match tokio::time::timeout(deadline, s.client.request(req)).await {
        Ok(Ok(resp)) if resp.status().is_success() => true,
        Ok(Ok(resp)) => {
            warn!(
                host,
                dev,
                status = resp.status().as_u16(),
                "container update failed (saving for async update later)"
            );
            false
        }
        Ok(Err(e)) => {
            warn!(host, dev, error = %e, "container update failed (saving for async update later)");
            false
        }
        Err(_) => {
            warn!(
                host,
                dev, "container update timed out (saving for async update later)"
            );
            false
        }
    }
}

async fn save_async(
    s: &Arc<Server>,
    obj: ObjectRef,
    op: &'static str,
    headers: BTreeMap<String, String>,
    container_path: Option<String>,
) {
    let ts = headers
        .get("x-meta-timestamp")
        .or_else(|| headers.get("x-timestamp"))
        .cloned()
        .unwrap_or_default();
    let update = AsyncUpdate {
        v: 1,
        op: op.to_string(),
        account: obj.account.clone(),
        container: obj.container.clone(),
        obj: obj.object.clone(),
        headers,
        container_path,
    };
    let s2 = s.clone();
    let res = tokio::task::spawn_blocking(move || {
        async_pending::save(&obj.layout, &obj.hash, &ts, &update)
    })
    .await;
    match res {
        Ok(Ok(_)) => {
            s2.stats
                .async_pending_written
                .fetch_add(1, Ordering::Relaxed);
        }
        Ok(Err(e)) => warn!(error = %e, "saving async pending failed"),
        Err(e) => warn!(error = %e, "saving async pending failed"),
    }
}
