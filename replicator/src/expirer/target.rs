//! What the expirer sends for one queue row, straight to the storage
//! servers (what Swift's expirer sends through its InternalClient and
//! `direct_delete_container_entry`):
//!
//! - the object's DELETE to its primaries (the container's policy, read
//!   from a container replica; a handoff for a primary that does not
//!   answer), with X-Timestamp and X-If-Delete-At set to
//!   the queued time (an object rewritten since answers 412 and stays) and
//!   the container servers to update named as the proxy names them;
//!   the answer is the quorum's, as the proxy's `best_response` picks it;
//! - the queue row's DELETE to every replica of its queue container;
//! - an empty queue container's DELETE (with its account servers named, so
//!   the `.expiring_objects` listing drops it).

use std::collections::HashMap;

use http::Method;
use swirl_common::backend_headers as bh;
use swirl_common::{expiring, Timestamp};
use swirl_ring::hash::HashPathConfig;
use swirl_ring::RingData;
use tracing::{debug, warn};

use crate::backend::{self, Backend};

/// Swift's quorum for replicated writes.
fn quorum(n: usize) -> usize {
    n / 2 + 1
}

/// The proxy's choice among the statuses of a write (`best_response`):
/// the highest status of the first class (2xx, 3xx, 4xx) a quorum shares,
/// else 503. A replica that did not answer counts as 503.
pub fn best_status(statuses: &[u16]) -> u16 {
    let q = quorum(statuses.len());
    for hundred in [200u16, 300, 400] {
        let class: Vec<u16> = statuses
            .iter()
            .copied()
            .filter(|s| (hundred..hundred + 100).contains(s))
            .collect();
        if class.len() >= q {
            return class.into_iter().max().unwrap_or(503);
        }
    }
    503
}

/// `X-Container-Host/-Device/-Partition` for `n_objects` object requests,
/// the container's replicas dealt round-robin as the proxy does.
fn container_targets(
    ring: &RingData,
    hash: &HashPathConfig,
    account: &str,
    container: &str,
    n_objects: usize,
) -> Vec<Vec<(String, String)>> {
    let (part, nodes) = ring.get_nodes(hash, account, Some(container), None);
    let n = n_objects.max(1);
    let mut hosts = vec![Vec::<String>::new(); n];
    let mut devs = vec![Vec::<String>::new(); n];
    for (i, node) in nodes.enumerate() {
        hosts[i % n].push(backend::addr(node.dev));
        devs[i % n].push(node.dev.device.clone());
    }
    hosts
        .into_iter()
        .zip(devs)
        .map(|(h, d)| {
            if h.is_empty() {
                return Vec::new();
            }
            vec![
                (bh::CONTAINER_HOST.to_string(), h.join(",")),
                (bh::CONTAINER_DEVICE.to_string(), d.join(",")),
                (bh::CONTAINER_PARTITION.to_string(), part.to_string()),
            ]
        })
        .collect()
}

/// The rings and client one expiration needs.
pub struct Targets<'a> {
    pub backend: &'a Backend,
    pub hash: &'a HashPathConfig,
    pub account_ring: &'a RingData,
    pub container_ring: &'a RingData,
    /// Object rings by policy index.
    pub object_rings: &'a HashMap<u32, std::sync::Arc<RingData>>,
}

impl Targets<'_> {
    /// The storage policy of `account/container` (None: no replica has it).
    pub async fn container_policy(
        &self,
        account: &str,
        container: &str,
    ) -> Result<Option<u32>, String> {
        let (part, nodes) =
            self.container_ring
                .get_nodes(self.hash, account, Some(container), None);
        let path = format!("/{account}/{container}");
        let mut not_found = 0;
        let mut last = String::from("no replicas");
        let mut asked = 0;
        for n in nodes {
            asked += 1;
            let dev_path = format!("/{}/{part}{path}", n.dev.device);
            match self
                .backend
                .request(Method::HEAD, &backend::addr(n.dev), &dev_path, "", &[])
                .await
            {
                Ok(r) if (200..300).contains(&r.status) => {
                    let p = r
                        .headers
                        .get(bh::STORAGE_POLICY_INDEX)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    return Ok(Some(p));
                }
                Ok(r) if r.status == 404 => not_found += 1,
                Ok(r) => last = format!("status {}", r.status),
                Err(e) => last = e,
            }
        }
        if asked > 0 && not_found == asked {
            return Ok(None);
        }
        Err(format!("HEAD {path}: {last}"))
    }

    /// DELETEs the object `task` names at its primaries; the quorum's status.
    pub async fn delete_object(&self, task: &expiring::Task, policy: u32, is_async: bool) -> u16 {
        let Some(ring) = self.object_rings.get(&policy) else {
            warn!(
                policy,
                "no object ring for the policy of an expiring object"
            );
            return 503;
        };
        let (a, c, o) = (&task.account, &task.container, &task.object);
        let (part, nodes) = ring.get_nodes(self.hash, a, Some(c), Some(o));
        let nodes: Vec<_> = nodes.collect();
        let updates = container_targets(self.container_ring, self.hash, a, c, nodes.len());
        let ts = task.delete_at.normal();
        let txn = swirl_common::trans_id::new_trans_id("");
        let headers = |i: usize| {
            let mut h = vec![
                ("x-timestamp".to_string(), ts.clone()),
                (bh::STORAGE_POLICY_INDEX.to_string(), policy.to_string()),
                ("x-trans-id".to_string(), txn.clone()),
                ("user-agent".to_string(), "object-expirer".to_string()),
            ];
            if !is_async {
                h.push(("x-if-delete-at".to_string(), ts.clone()));
                h.push((
                    bh::CLEAN_EXPIRING_OBJECT_QUEUE.to_string(),
                    "no".to_string(),
                ));
            }
            h.extend(updates.get(i).cloned().unwrap_or_default());
            h
        };
        let send = |dev: &swirl_ring::Device, h: Vec<(String, String)>| {
            let (b, host) = (self.backend.clone(), backend::addr(dev));
            let dev_path = format!("/{}/{part}/{a}/{c}/{o}", dev.device);
            tokio::spawn(async move { b.request(Method::DELETE, &host, &dev_path, "", &h).await })
        };
        let answer =
            |r: std::result::Result<std::result::Result<backend::Reply, String>, _>| match r {
                Ok(Ok(r)) if r.status != 507 => Some(r.status),
                Ok(Ok(_)) => None,
                Ok(Err(e)) => {
                    debug!(error = %e, "expiring an object: a replica did not answer");
                    None
                }
                Err(_) => None,
            };
        let calls: Vec<_> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| send(n.dev, headers(i)))
            .collect();
        let mut statuses = Vec::new();
        for call in calls {
            statuses.push(answer(call.await));
        }
        // A primary that did not answer (or whose device is gone) is
        // replaced by the next handoff, as the proxy does, up to as many
        // handoffs as replicas (Swift's request_node_count).
        let mut handoffs = ring.get_more_nodes(part).take(nodes.len());
        for (i, st) in statuses.iter_mut().enumerate() {
            while st.is_none() {
                let Some(h) = handoffs.next() else {
                    break;
                };
                *st = answer(send(h.dev, headers(i)).await);
            }
        }
        let statuses: Vec<u16> = statuses.into_iter().map(|s| s.unwrap_or(503)).collect();
        let s = best_status(&statuses);
        debug!(object = %format!("/{a}/{c}/{o}"), ?statuses, status = s, "expired");
        s
    }

    /// DELETEs the queue row `task_name` of `queue` at every replica.
    pub async fn pop_queue(&self, queue: &str, task_name: &str) {
        let (part, nodes) =
            self.container_ring
                .get_nodes(self.hash, expiring::ACCOUNT, Some(queue), None);
        let h = vec![
            ("x-timestamp".to_string(), Timestamp::now().internal()),
            (bh::STORAGE_POLICY_INDEX.to_string(), "0".to_string()),
        ];
        let mut calls = Vec::new();
        for n in nodes {
            let (b, host, h) = (self.backend.clone(), backend::addr(n.dev), h.clone());
            let dev_path = format!(
                "/{}/{part}/{}/{queue}/{task_name}",
                n.dev.device,
                expiring::ACCOUNT
            );
            calls.push(tokio::spawn(async move {
                b.request(Method::DELETE, &host, &dev_path, "", &h).await
            }));
        }
        for call in calls {
            if let Ok(Err(e)) = call.await {
                // The row stays on that replica; a later pass sees it again.
                debug!(error = %e, queue, "removing a queue row from one replica failed");
            }
        }
    }

    /// DELETEs the queue container `queue` (empty) at every replica; the
    /// replicas that still have rows refuse (409) and keep it.
    pub async fn delete_queue_container(&self, queue: &str) {
        let (part, nodes) =
            self.container_ring
                .get_nodes(self.hash, expiring::ACCOUNT, Some(queue), None);
        let nodes: Vec<_> = nodes.collect();
        let (apart, anodes) = self
            .account_ring
            .get_nodes(self.hash, expiring::ACCOUNT, None, None);
        let anodes: Vec<_> = anodes.collect();
        let ts = Timestamp::now().internal();
        let mut calls = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            let mut h = vec![("x-timestamp".to_string(), ts.clone())];
            // Each account replica is told by one container replica.
            let mine: Vec<_> = anodes
                .iter()
                .enumerate()
                .filter(|(j, _)| j % nodes.len() == i)
                .map(|(_, a)| a)
                .collect();
            if !mine.is_empty() {
                let hosts: Vec<String> = mine.iter().map(|a| backend::addr(a.dev)).collect();
                let devs: Vec<String> = mine.iter().map(|a| a.dev.device.clone()).collect();
                h.push((bh::ACCOUNT_HOST.to_string(), hosts.join(",")));
                h.push((bh::ACCOUNT_DEVICE.to_string(), devs.join(",")));
                h.push((bh::ACCOUNT_PARTITION.to_string(), apart.to_string()));
            }
            let (b, host) = (self.backend.clone(), backend::addr(n.dev));
            let dev_path = format!("/{}/{part}/{}/{queue}", n.dev.device, expiring::ACCOUNT);
            calls.push(tokio::spawn(async move {
                b.request(Method::DELETE, &host, &dev_path, "", &h).await
            }));
        }
        for call in calls {
            match call.await {
                Ok(Ok(r)) if r.status == 409 => {
                    debug!(queue, "queue container not empty on one replica; kept")
                }
                Ok(Err(e)) => debug!(queue, error = %e, "deleting a queue container failed"),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_statuses_as_the_proxy() {
        assert_eq!(best_status(&[204, 204, 503]), 204);
        assert_eq!(best_status(&[204, 409, 409]), 409);
        assert_eq!(best_status(&[412, 412, 204]), 412);
        assert_eq!(best_status(&[404, 409, 204]), 409);
        assert_eq!(best_status(&[503, 503, 204]), 503);
        assert_eq!(best_status(&[]), 503);
    }
}
