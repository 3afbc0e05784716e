//! Container updates: after a PUT, POST or DELETE, tell the container servers
//! named by X-Container-Host / -Device / -Partition (Swift's
//! `ObjectController.container_update` / `async_update`). The request waits at
//! most `container_update_timeout` for them; an update that fails (now or
//! later) is saved as an async pending on the object's device for the updater.
//! Only hosts of the container ring are contacted (`update_ring`); a
//! named host the ring does not have gets nothing, not even a pending.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use swirl_common::backend_headers as bh;
use swirl_common::body;
use swirl_store::object::async_pending::{self, AsyncUpdate};
use swirl_store::object::layout::DeviceLayout;
use swirl_store::object::ObjectRef;
use tracing::{debug, warn};

use crate::headers::value;
use crate::update_ring;
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

/// One row change to deliver: the row's account, container and object,
/// where an async pending for it goes (the object's device and policy, the
/// file named by the row's hash path) and the headers sent.
pub struct Update {
    pub op: &'static str,
    pub account: String,
    pub container: String,
    pub obj: String,
    /// `account/container` to send to instead (a shard), when not the row's own.
    pub container_path: Option<String>,
    pub headers: BTreeMap<String, String>,
    /// The row's hash path (`hash_path(account, container, obj)`).
    pub hash: String,
    pub layout: DeviceLayout,
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
    let u = Update {
        op,
        account: obj.account.clone(),
        container: obj.container.clone(),
        obj: obj.object.clone(),
        container_path,
        headers: headers_out,
        hash: obj.hash.clone(),
        layout: obj.layout.clone(),
    };
    dispatch(s, u, targets, partition).await;
}

/// Sends `u` to each target (host, device) in `partition` that the
/// container ring has, saving an async pending for each that fails; an
/// empty target (no host named) is saved at once, for the updater. Waits up
/// to `container_update_timeout`.
pub async fn dispatch(
    s: &Arc<Server>,
    mut u: Update,
    targets: Vec<(String, String)>,
    partition: String,
) {
    u.headers.insert(
        "user-agent".into(),
        format!("object-server {}", std::process::id()),
    );
    let (named, empty): (Vec<_>, Vec<_>) = targets
        .into_iter()
        .partition(|(h, d)| !h.is_empty() && !d.is_empty() && !partition.is_empty());
    let named = if named.is_empty() {
        named
    } else {
        match s.container_ring.ring() {
            Some(ring) => {
                let c = update_ring::check(&ring, named);
                if !c.refused.is_empty() {
                    s.stats
                        .container_updates_refused
                        .fetch_add(c.refused.len() as u64, Ordering::Relaxed);
                    warn!(
                        refused = ?c.refused,
                        row = %format!("/{}/{}/{}", u.account, u.container, u.obj),
                        "container update: hosts not in the container ring (or more than its replicas); not sent"
                    );
                }
                c.allowed
            }
            None => {
                // Nothing to check the hosts against: nothing is sent, the
                // updater delivers it once a ring is there.
                warn!(
                    ring = %s.container_ring_path().display(),
                    "container update: no container ring; saved for the updater instead"
                );
                s.stats
                    .container_updates_failed
                    .fetch_add(named.len() as u64, Ordering::Relaxed);
                save_async(s, &u).await;
                return;
            }
        }
    };
    let u = Arc::new(u);
    let mut tasks = Vec::new();
    if !empty.is_empty() {
        let (s, u) = (s.clone(), u.clone());
        tasks.push(tokio::spawn(async move { save_async(&s, &u).await }));
    }
    let path = match &u.container_path {
        Some(cp) => format!("/{cp}/{}", u.obj),
        None => format!("/{}/{}/{}", u.account, u.container, u.obj),
    };
    for (host, dev) in named {
        let s = s.clone();
        let u = u.clone();
        let path = path.clone();
        let partition = partition.clone();
        tasks.push(tokio::spawn(async move {
            if send(&s, u.op, &host, &dev, &partition, &path, &u.headers).await {
                s.stats.container_updates_ok.fetch_add(1, Ordering::Relaxed);
                return;
            }
            s.stats
                .container_updates_failed
                .fetch_add(1, Ordering::Relaxed);
            save_async(&s, &u).await;
        }));
    }
    let wait = Duration::from_secs_f64(s.cfg.container_update_timeout);
    if tokio::time::timeout(wait, futures_join(tasks))
        .await
        .is_err()
    {
        debug!(row = %path, "container update still running after container_update_timeout");
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
    s.auth.sign(&mut req);
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

async fn save_async(s: &Arc<Server>, u: &Update) {
    let ts = u
        .headers
        .get("x-meta-timestamp")
        .or_else(|| u.headers.get("x-timestamp"))
        .cloned()
        .unwrap_or_default();
    let update = AsyncUpdate {
        v: 1,
        op: u.op.to_string(),
        account: u.account.clone(),
        container: u.container.clone(),
        obj: u.obj.clone(),
        headers: u.headers.clone(),
        container_path: u.container_path.clone(),
        successes: Vec::new(),
        redirect_history: Vec::new(),
    };
    let (layout, hash) = (u.layout.clone(), u.hash.clone());
    let res =
        tokio::task::spawn_blocking(move || async_pending::save(&layout, &hash, &ts, &update))
            .await;
    match res {
        Ok(Ok(_)) => {
            s.stats
                .async_pending_written
                .fetch_add(1, Ordering::Relaxed);
        }
        Ok(Err(e)) => warn!(error = %e, "saving async pending failed"),
        Err(e) => warn!(error = %e, "saving async pending failed"),
    }
}
