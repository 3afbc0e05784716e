//! Reading the expirer queue straight from the storage servers: the
//! `.expiring_objects` account's containers from the account ring's
//! replicas, a queue container's rows from the container ring's replicas.
//! Each listing is the union of every replica that answered (a row one
//! replica missed still shows up; one removed from some replicas only is
//! tried again, which the object servers answer harmlessly), paged with
//! `marker` as a proxy would. Swift's expirer reads through an
//! InternalClient (a proxy pipeline); swirl's daemons need no proxy.

use std::collections::BTreeMap;

use http::Method;
use swirl_common::backend_headers as bh;
use swirl_ring::hash::HashPathConfig;
use swirl_ring::RingData;
use tracing::debug;

use crate::backend::{self, Backend};

/// One listed name (a queue container, or a row with its content type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub content_type: Option<String>,
}

/// Every entry of `account` (containers) or `account/container` (rows),
/// sorted by name. Err when no replica answered (2xx or 404).
pub async fn list(
    backend: &Backend,
    ring: &RingData,
    hash: &HashPathConfig,
    account: &str,
    container: Option<&str>,
) -> Result<Vec<Entry>, String> {
    let (part, nodes) = ring.get_nodes(hash, account, container, None);
    let path = match container {
        Some(c) => format!("/{account}/{c}"),
        None => format!("/{account}"),
    };
    let mut all: BTreeMap<String, Entry> = BTreeMap::new();
    let mut answered = 0;
    let mut last_err = String::from("no replicas");
    let headers = vec![(bh::STORAGE_POLICY_INDEX.to_string(), "0".to_string())];
    for n in nodes {
        let host = backend::addr(n.dev);
        let dev_path = format!("/{}/{part}{path}", n.dev.device);
        let mut marker = String::new();
        let mut ok = true;
        loop {
            let q = format!("format=json&marker={}", backend::query_value(&marker));
            match backend
                .request(Method::GET, &host, &dev_path, &q, &headers)
                .await
            {
                Ok(r) if r.status == 404 => break,
                Ok(r) if (200..300).contains(&r.status) => {
                    let page: Vec<serde_json::Value> = if r.body.is_empty() {
                        Vec::new()
                    } else {
                        match serde_json::from_slice(&r.body) {
                            Ok(v) => v,
                            Err(e) => {
                                last_err = format!("{host}: listing not JSON: {e}");
                                ok = false;
                                break;
                            }
                        }
                    };
                    let mut last = None;
                    for v in page {
                        let Some(name) = v.get("name").and_then(|n| n.as_str()) else {
                            continue;
                        };
                        last = Some(name.to_string());
                        all.entry(name.to_string()).or_insert_with(|| Entry {
                            name: name.to_string(),
                            content_type: v
                                .get("content_type")
                                .and_then(|c| c.as_str())
                                .map(str::to_string),
                        });
                    }
                    match last {
                        Some(l) => marker = l,
                        None => break,
                    }
                }
                Ok(r) => {
                    last_err = format!("{host}: status {}", r.status);
                    ok = false;
                    break;
                }
                Err(e) => {
                    last_err = e;
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            answered += 1;
        } else {
            debug!(path, error = %last_err, "queue listing from one replica failed");
        }
    }
    if answered == 0 {
        return Err(format!("listing {path}: {last_err}"));
    }
    Ok(all.into_values().collect())
}
