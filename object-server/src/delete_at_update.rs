//! Expirer-queue updates (Swift's `ObjectController.delete_at_update`): a
//! write that sets an X-Delete-At queues the object as a row of the hidden
//! `.expiring_objects` account, in the container the proxy named
//! (X-Delete-At-Container, on X-Delete-At-Host / -Device / -Partition); one
//! that drops or replaces an X-Delete-At removes the old row. As in Swift,
//! a removal always goes to an async pending (the request names no hosts
//! for the old row's container; the updater finds them in the ring), and a
//! PUT of a row whose hosts fail leaves one too. Rows are container updates
//! like any other (`container_update::dispatch`): only hosts of the
//! container ring are contacted.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::HeaderMap;
use swirl_common::backend_headers as bh;
use swirl_common::expiring;
use swirl_common::Timestamp;
use swirl_ring::hash::{hash_path, HashPathConfig};
use swirl_store::object::layout::object_hash;
use swirl_store::object::ObjectRef;
use tracing::warn;

use crate::container_update::{self, Update};
use crate::headers::{is_true, value};
use crate::Server;

/// Queues (`PUT`) or unqueues (`DELETE`) `obj` expiring at `delete_at`.
/// `ts` is the request's timestamp.
#[allow(clippy::too_many_arguments)]
pub async fn update(
    s: &Arc<Server>,
    op: &'static str,
    delete_at: u64,
    obj: &ObjectRef,
    h: &HeaderMap,
    ts: Timestamp,
    referer: &str,
    txn: &str,
) {
    // A replicated write changes no queue: its origin did.
    if is_true(h, bh::REPLICATION) {
        return;
    }
    let secret = &s.store.secret;
    let cfg = HashPathConfig::new(secret.prefix.as_str(), secret.suffix.as_str());
    let guess = || {
        let digest = hash_path(&cfg, &obj.account, Some(&obj.container), Some(&obj.object));
        expiring::queue_container(delete_at, &digest)
    };
    let mut headers = BTreeMap::new();
    // System accounts are always policy 0.
    headers.insert(bh::STORAGE_POLICY_INDEX.to_string(), "0".to_string());
    headers.insert("x-timestamp".to_string(), ts.internal());
    headers.insert("x-trans-id".to_string(), txn.to_string());
    headers.insert("referer".to_string(), referer.to_string());
    let (container, targets, partition) = if op == "DELETE" {
        // Off unless asked otherwise (the expirer pops its own rows).
        if value(h, bh::CLEAN_EXPIRING_OBJECT_QUEUE)
            .is_some_and(|_| !is_true(h, bh::CLEAN_EXPIRING_OBJECT_QUEUE))
        {
            return;
        }
        // The old row's container is not named: Swift's best guess.
        (guess(), vec![(String::new(), String::new())], String::new())
    } else {
        let Some(hosts) = value(h, bh::DELETE_AT_HOST) else {
            // Other replicas were told to queue it.
            return;
        };
        let container =
            match value(h, bh::DELETE_AT_CONTAINER).and_then(|c| c.trim().parse::<f64>().ok()) {
                Some(c) => expiring::normalize(c),
                None => {
                    warn!(
                        object = %obj.name(),
                        "the queue container named is missing or not a timestamp; guessing it"
                    );
                    guess()
                }
            };
        let partition = value(h, bh::DELETE_AT_PARTITION).unwrap_or_default();
        let devices = value(h, bh::DELETE_AT_DEVICE).unwrap_or_default();
        let mut targets: Vec<(String, String)> = hosts
            .split(',')
            .map(|x| x.trim().to_string())
            .zip(devices.split(',').map(|x| x.trim().to_string()))
            .filter(|(h, d)| !h.is_empty() && !d.is_empty() && !partition.trim().is_empty())
            .collect();
        if targets.is_empty() {
            targets.push((String::new(), String::new()));
        }
        headers.insert("x-size".to_string(), "0".to_string());
        headers.insert(
            "x-content-type".to_string(),
            expiring::ROW_CONTENT_TYPE.to_string(),
        );
        headers.insert("x-etag".to_string(), expiring::ROW_ETAG.to_string());
        (container, targets, partition.trim().to_string())
    };
    let task = expiring::task_object(delete_at, &obj.account, &obj.container, &obj.object);
    let u = Update {
        op,
        hash: object_hash(secret, expiring::ACCOUNT, &container, &task),
        account: expiring::ACCOUNT.to_string(),
        container,
        obj: task,
        container_path: None,
        headers,
        layout: obj.layout.clone(),
    };
    container_update::dispatch(s, u, targets, partition).await;
}

/// The queue changes a write makes: the new X-Delete-At queued, the old
/// one (when different) removed. Swift's `_post_commit_updates` and POST.
#[allow(clippy::too_many_arguments)]
pub async fn on_change(
    s: &Arc<Server>,
    orig: Option<u64>,
    new: Option<u64>,
    obj: &ObjectRef,
    h: &HeaderMap,
    ts: Timestamp,
    referer: &str,
    txn: &str,
) {
    let (orig, new) = (orig.unwrap_or(0), new.unwrap_or(0));
    if orig == new {
        return;
    }
    if new != 0 {
        update(s, "PUT", new, obj, h, ts, referer, txn).await;
    }
    if orig != 0 {
        update(s, "DELETE", orig, obj, h, ts, referer, txn).await;
    }
}
