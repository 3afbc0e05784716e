//! The read path for GET and HEAD: ask primaries in ring order, fall back to
//! handoffs when a primary failed, take the first usable answer; with
//! X-Newest ask every primary and take the newest.

use http::{HeaderMap, Method, Response};
use hyper::body::Incoming;
use swirl_common::backend_headers as bh;

use crate::app::Proxy;
use crate::backend;
use crate::error::Result;
use crate::headers;
use crate::rings::{Node, RingKind};

/// A read to perform.
pub struct ReadReq<'a> {
    pub kind: RingKind,
    pub account: &'a str,
    pub container: Option<&'a str>,
    pub object: Option<&'a str>,
    pub method: Method,
    /// Raw query string passed to the backend.
    pub query: Option<&'a str>,
    pub headers: HeaderMap,
    /// X-Newest: ask all primaries and keep the newest answer.
    pub newest: bool,
}

/// What the read found.
pub enum ReadOutcome {
    /// A response to pass on (2xx, 3xx, or a 4xx other than 404), with the
    /// nodes not yet asked (for resuming a broken GET body).
    Good {
        resp: Response<Incoming>,
        rest: Vec<Node>,
        partition: u32,
        path_query: String,
    },
    /// No usable answer: 404 (with the last 404 seen) or 503.
    Bad {
        status: u16,
        resp: Option<Response<Incoming>>,
    },
}

fn usable(status: u16) -> bool {
    (200..500).contains(&status) && status != 404
}

fn timestamp_of(h: &HeaderMap) -> f64 {
    [bh::TIMESTAMP, "x-timestamp", "x-put-timestamp"]
        .iter()
        .find_map(|n| headers::get(h, n).and_then(|v| v.parse::<f64>().ok()))
        .unwrap_or(0.0)
}

/// Performs the read.
pub async fn read(proxy: &Proxy, r: &ReadReq<'_>) -> Result<ReadOutcome> {
    let nodes = proxy
        .rings
        .nodes(r.kind, r.account, r.container, r.object)?;
    let tail = backend::tail(nodes.partition, r.account, r.container, r.object);
    let pq = |n: &Node| match r.query {
        Some(q) if !q.is_empty() => format!("{}?{q}", backend::on_node(n, &tail)),
        _ => backend::on_node(n, &tail),
    };
    let limiter = &proxy.backend.limiter;
    let mut last_404: Option<Response<Incoming>> = None;
    let mut newest: Option<(f64, Response<Incoming>, usize)> = None;
    let mut primary_failed = false;
    let order: Vec<Node> = nodes
        .primaries
        .iter()
        .chain(nodes.handoffs.iter())
        .cloned()
        .collect();
    for (i, node) in order.iter().enumerate() {
        if node.handoff && !primary_failed {
            break;
        }
        if limiter.is_limited(&node.key()) {
            primary_failed |= !node.handoff;
            continue;
        }
        let resp = proxy
            .backend
            .request(node, r.method.clone(), &pq(node), &r.headers, None)
            .await;
        let resp = match resp {
            Ok(resp) => resp,
            Err(e) => {
                tracing::debug!(error = %e, "read failed");
                primary_failed |= !node.handoff;
                continue;
            }
        };
        let status = resp.status().as_u16();
        if r.newest && (200..300).contains(&status) {
            let ts = timestamp_of(resp.headers());
            if newest.as_ref().map(|(t, _, _)| ts > *t).unwrap_or(true) {
                newest = Some((ts, resp, i));
            }
            continue;
        }
        if usable(status) {
            return Ok(ReadOutcome::Good {
                resp,
                rest: order[i + 1..].to_vec(),
                partition: nodes.partition,
                path_query: pq(node),
            });
        }
        if status == 404 {
            last_404 = Some(resp);
        } else {
            primary_failed |= !node.handoff;
        }
    }
    if let Some((_, resp, i)) = newest {
        return Ok(ReadOutcome::Good {
            resp,
            rest: order[i + 1..].to_vec(),
            partition: nodes.partition,
            path_query: pq(&order[i]),
        });
    }
    Ok(match last_404 {
        Some(resp) => ReadOutcome::Bad {
            status: 404,
            resp: Some(resp),
        },
        None => ReadOutcome::Bad {
            status: 503,
            resp: None,
        },
    })
}
