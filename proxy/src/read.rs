//! The read path for GET and HEAD, as Swift 2.30's `GetOrHeadHandler`
//! (swift/proxy/controllers/base.py) with one request at a time: walk the
//! primaries in ring order, then the handoffs, until `request_node_count`
//! nodes that were not error-limited have been asked or one found the
//! thing. A handoff is asked even when every primary answered 404, so an
//! object written to a handoff while a primary was down is readable before
//! replication moves it home.
//!
//! What counts, as in Swift:
//! - a good source is a 2xx or 3xx (and a 416 for objects); its timestamp
//!   must be at least the newest tombstone (a 404 with X-Backend-Timestamp)
//!   seen so far; without X-Newest the first one ends the walk, with it the
//!   newest of all wins;
//! - a 404 or 5xx from a handoff without X-Backend-Timestamp is ignored
//!   (the handoff simply never had the thing), and so is the first such 404
//!   from a primary (`rebalance_missing_suppression_count`, a primary that
//!   a rebalance just moved);
//! - a timeout or refused connection counts nowhere but in error limiting;
//! - with no source, the answer is Swift's `best_response` over what was
//!   recorded: the highest status of the first class (2xx, 3xx, 4xx) that
//!   holds a majority of the answers, else 503.
//!
//! One deliberate difference: with X-Newest, a source older than a later
//! tombstone counts as a 404 (Swift keeps its 2xx among the statuses and
//! can answer a bodiless 200).

use http::{HeaderMap, Method, Response};
use hyper::body::Incoming;
use swirl_common::backend_headers as bh;
use swirl_common::timestamp::Timestamp;

use crate::app::Proxy;
use crate::backend;
use crate::error::Result;
use crate::headers;
use crate::quorum;
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
    /// X-Newest: ask every node and keep the newest answer.
    pub newest: bool,
}

/// What the read found.
pub enum ReadOutcome {
    /// A good source to pass on (2xx, 3xx, an object's 416), with the
    /// nodes not yet asked (for resuming a broken GET body).
    Good {
        resp: Response<Incoming>,
        rest: Vec<Node>,
        partition: u32,
    },
    /// No good source: the best answer among the others (Swift's
    /// `best_response`), a 4xx with the response it came in, or 503.
    Bad {
        status: u16,
        resp: Option<Response<Incoming>>,
        partition: u32,
    },
}

/// Swift's `source_key`: the time of what a response describes.
fn source_timestamp(h: &HeaderMap) -> Timestamp {
    [
        bh::DATA_TIMESTAMP,
        bh::TIMESTAMP,
        "x-put-timestamp",
        "x-timestamp",
    ]
    .iter()
    .find_map(|n| headers::get(h, n).filter(|v| !v.is_empty()))
    .and_then(|v| Timestamp::parse(v).ok())
    .unwrap_or_default()
}

/// X-Backend-Timestamp (a tombstone's time on a 404), zero when absent.
fn backend_timestamp(h: &HeaderMap) -> Timestamp {
    headers::get(h, bh::TIMESTAMP)
        .and_then(|v| Timestamp::parse(v).ok())
        .unwrap_or_default()
}

/// Is this answer what the read was looking for (Swift's `is_good_source`)?
fn is_good_source(status: u16, kind: RingKind) -> bool {
    (200..400).contains(&status) || (status == 416 && matches!(kind, RingKind::Object(_)))
}

/// Swift's `NodeIter`: primaries, then handoffs, skipping error-limited
/// nodes, until `left` nodes that stayed unlimited have been asked.
struct Walk<'a, I> {
    primaries: std::vec::IntoIter<Node>,
    handoffs: I,
    limiter: &'a crate::error_limit::ErrorLimiter,
    left: usize,
}

impl<I: Iterator<Item = Node>> Walk<'_, I> {
    /// The next node to ask, or None when the walk is over.
    fn next(&mut self) -> Option<Node> {
        if self.left == 0 {
            return None;
        }
        let limiter = self.limiter;
        self.primaries
            .by_ref()
            .chain(self.handoffs.by_ref())
            .find(|n| !limiter.is_limited(n))
    }

    /// Called once `node` was asked: it counts unless it is limited now.
    fn asked(&mut self, node: &Node) {
        if !self.limiter.is_limited(node) {
            self.left = self.left.saturating_sub(1);
        }
    }

    /// The nodes a resumed body may go on to (limited ones are skipped then).
    fn rest(mut self) -> Vec<Node> {
        let mut out = Vec::new();
        let mut unlimited = 0;
        for n in self.primaries.by_ref().chain(self.handoffs.by_ref()) {
            if unlimited >= self.left {
                break;
            }
            if !self.limiter.is_limited(&n) {
                unlimited += 1;
            }
            out.push(n);
        }
        out
    }
}

/// Performs the read.
pub async fn read(proxy: &Proxy, r: &ReadReq<'_>) -> Result<ReadOutcome> {
    let plan = proxy
        .rings
        .read_plan(r.kind, r.account, r.container, r.object)?;
    let tail = backend::tail(plan.partition, r.account, r.container, r.object);
    let pq = |n: &Node| match r.query {
        Some(q) if !q.is_empty() => format!("{}?{q}", backend::on_node(n, &tail)),
        _ => backend::on_node(n, &tail),
    };
    let object = matches!(r.kind, RingKind::Object(_));
    let mut walk = Walk {
        primaries: plan.primaries.clone().into_iter(),
        handoffs: plan.handoffs(),
        limiter: &proxy.backend.limiter,
        left: plan.node_count,
    };
    // One node at a time: one backend request, until the answer's head.
    let _pass = proxy.gate.enter(1).await?;
    let mut suppress = proxy
        .cfg
        .rebalance_missing_suppression_count
        .min(plan.primaries.len().saturating_sub(1));
    // Non-source answers (status, response), in the order they came.
    let mut answers: Vec<(u16, Option<Response<Incoming>>)> = Vec::new();
    let mut sources: Vec<(Timestamp, Response<Incoming>)> = Vec::new();
    let mut latest_404 = Timestamp::default();
    while let Some(node) = walk.next() {
        let resp = proxy
            .backend
            .request(&node, r.method.clone(), &pq(&node), &r.headers, None)
            .await;
        walk.asked(&node);
        let resp = match resp {
            Ok(resp) => resp,
            Err(e) => {
                tracing::debug!(error = %e, "read failed");
                continue;
            }
        };
        let status = resp.status().as_u16();
        if is_good_source(status, r.kind) {
            // An account or container that says it was never put is not there.
            let unsynced = headers::get(resp.headers(), "x-put-timestamp")
                .and_then(|v| v.trim().parse::<f64>().ok())
                .is_some_and(|t| t == 0.0);
            if unsynced {
                answers.push((404, None));
                continue;
            }
            let ts = source_timestamp(resp.headers());
            if ts >= latest_404 {
                sources.push((ts, resp));
                if !r.newest {
                    break;
                }
            }
            continue;
        }
        let missing = backend_timestamp(resp.headers()) == Timestamp::default();
        if node.handoff && (status == 404 || (500..600).contains(&status)) && missing {
            continue;
        }
        if suppress > 0 && status == 404 && missing {
            suppress -= 1;
            continue;
        }
        if object && status == 404 {
            latest_404 = latest_404.max(backend_timestamp(resp.headers()));
        }
        answers.push((status, Some(resp)));
    }
    // A source older than a tombstone found after it is that tombstone.
    let (kept, stale): (Vec<_>, Vec<_>) = sources.into_iter().partition(|(t, _)| *t >= latest_404);
    answers.extend(stale.into_iter().map(|_| (404, None)));
    // Swift sorts stably and pops: the newest, the last asked among equals.
    let mut newest: Option<(Timestamp, Response<Incoming>)> = None;
    for (t, resp) in kept {
        if newest.as_ref().is_none_or(|(n, _)| t >= *n) {
            newest = Some((t, resp));
        }
    }
    if let Some((_, resp)) = newest {
        return Ok(ReadOutcome::Good {
            resp,
            rest: walk.rest(),
            partition: plan.partition,
        });
    }
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    match quorum::best_index(&statuses, quorum::quorum_size(statuses.len())) {
        Some(i) => {
            let (status, resp) = answers.swap_remove(i);
            Ok(ReadOutcome::Bad {
                status,
                resp,
                partition: plan.partition,
            })
        }
        None => {
            tracing::info!(?statuses, "read answering 503");
            Ok(ReadOutcome::Bad {
                status: 503,
                resp: None,
                partition: plan.partition,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_timestamp_prefers_data_then_backend() {
        let mut h = HeaderMap::new();
        headers::set(&mut h, "x-timestamp", "0000000003.00000");
        assert_eq!(source_timestamp(&h).internal(), "0000000003.00000");
        headers::set(&mut h, bh::TIMESTAMP, "0000000002.00000");
        assert_eq!(source_timestamp(&h).internal(), "0000000002.00000");
        headers::set(
            &mut h,
            bh::DATA_TIMESTAMP,
            "0000000001.00000_0000000000000002",
        );
        assert_eq!(
            source_timestamp(&h).internal(),
            "0000000001.00000_0000000000000002"
        );
        assert_eq!(source_timestamp(&HeaderMap::new()), Timestamp::default());
    }

    #[test]
    fn good_sources() {
        assert!(is_good_source(200, RingKind::Account));
        assert!(is_good_source(304, RingKind::Object(0)));
        assert!(is_good_source(416, RingKind::Object(1)));
        assert!(!is_good_source(416, RingKind::Container));
        assert!(!is_good_source(404, RingKind::Object(0)));
        assert!(!is_good_source(412, RingKind::Object(0)));
    }
}
