//! The streamed object PUT: connect to every primary first (replacing dead
//! or error-limited ones by handoffs), refuse with 503 before sending a byte
//! when fewer than a quorum connect, then stream the body to all of them at
//! once through bounded channels, computing MD5 as it goes. A client that
//! disconnects makes every backend upload abort, so nothing is committed.
//! Nodes that take them get the body's MD5 and blake3 as trailers
//! (`swirl_common::digest_trailer`), sparing them an MD5 pass of their own.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request};
use http_body::{Body as HttpBody, Frame};
use http_body_util::BodyExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::app::Proxy;
use crate::backend::{self, Backend, UploadConn};
use crate::error::{Error, Result};
use crate::quorum;
use crate::replay_body::Replay;
use crate::rings::{Node, PartNodes};
use crate::stream::{ChannelBody, CHANNEL_FRAMES};
use swirl_common::backend_headers as bh;
use swirl_common::digest_trailer::{self, Digests};
use swirl_common::md5_batch::BodyEtag;

/// What to upload where.
pub struct PutPlan {
    pub nodes: PartNodes,
    /// Node-independent backend path.
    pub tail: String,
    /// Headers per primary slot (container/expirer update headers differ).
    pub headers: Vec<HeaderMap>,
    /// Content-Length, or None to send chunked.
    pub length: Option<u64>,
    /// Refuse bodies longer than this (chunked uploads).
    pub max_size: u64,
}

/// The quorum's answer.
pub struct PutOutcome {
    pub status: u16,
    pub etag: String,
    pub headers: HeaderMap,
    pub statuses: Vec<u16>,
}

type Frames = mpsc::Sender<std::result::Result<Frame<Bytes>, std::io::Error>>;
type Answer = Option<(u16, HeaderMap)>;

struct Slot {
    tx: Option<Frames>,
    answer: tokio::task::JoinHandle<Answer>,
    /// This node gets the body's digests as trailers (`digest_trailer`).
    trailer: bool,
}

/// The handoffs not yet used by this PUT, shared by its slots.
type Handoffs = Arc<Mutex<VecDeque<Node>>>;

/// Connects to `node`, else to the next handoffs until one connects.
/// `fresh` refuses an idle pooled connection to `node` itself; `fits` skips
/// nodes the upload cannot go to.
async fn connect_along(
    backend: &Backend,
    mut node: Node,
    handoffs: &Handoffs,
    mut fresh: bool,
    fits: impl Fn(&Node) -> bool,
) -> Option<(Node, UploadConn)> {
    loop {
        if fits(&node) && !backend.limiter.is_limited(&node) {
            match backend.connect(&node, !fresh).await {
                Ok(c) => return Some((node, c)),
                Err(e) => tracing::info!(error = %e, "PUT connect failed; trying a handoff"),
            }
        }
        fresh = false;
        node = handoffs.lock().ok().and_then(|mut q| q.pop_front())?;
    }
}

/// Connects each primary slot, falling back along the handoffs.
async fn connect_all(
    proxy: &Proxy,
    nodes: &PartNodes,
) -> (Vec<Option<(Node, UploadConn)>>, Handoffs) {
    let handoffs: Handoffs = Arc::new(Mutex::new(nodes.handoffs.iter().cloned().collect()));
    let mut set = JoinSet::new();
    for (i, primary) in nodes.primaries.iter().enumerate() {
        let backend = proxy.backend.clone();
        let handoffs = handoffs.clone();
        let node = primary.clone();
        set.spawn(async move {
            (
                i,
                connect_along(&backend, node, &handoffs, false, |_| true).await,
            )
        });
    }
    let mut out: Vec<_> = (0..nodes.primaries.len()).map(|_| None).collect();
    while let Some(r) = set.join_next().await {
        if let Ok((i, c)) = r {
            if let Some(slot) = out.get_mut(i) {
                *slot = c;
            }
        }
    }
    (out, handoffs)
}

fn abort(slots: &mut [Slot], why: &str) {
    for s in slots.iter_mut() {
        if let Some(tx) = s.tx.take() {
            let _ = tx.try_send(Err(std::io::Error::other(why.to_string())));
        }
        s.answer.abort();
    }
}

/// Uploads `body` per `plan`: connect, send the body to every node at once,
/// then gather their answers into the quorum's.
pub async fn put<B>(
    proxy: &Proxy,
    plan: PutPlan,
    body: B,
    client_timeout: Duration,
) -> Result<PutOutcome>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let quorum = quorum::quorum_size(plan.nodes.replicas);
    // Held until every node answered (the upload's whole life).
    let _pass = proxy.gate.enter(plan.nodes.primaries.len()).await?;
    let if_none_match_star = plan.headers.first().is_some_and(|h| {
        h.get_all(http::header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim() == "*"))
    });
    let (conns, handoffs) = connect_all(proxy, &plan.nodes).await;
    let connected = conns.iter().filter(|c| c.is_some()).count();
    if connected < quorum {
        return Err(Error::Unavailable(format!(
            "Object PUT: {connected}/{quorum} required connections"
        )));
    }
    let mut slots: Vec<Slot> = conns
        .into_iter()
        .enumerate()
        .filter_map(|(i, conn)| {
            let (node, conn) = conn?;
            let headers = plan.headers.get(i).cloned().unwrap_or_default();
            start_upload(proxy, &plan, headers, node, conn, handoffs.clone())
        })
        .collect();
    let digests = send_body(proxy, &plan, &mut slots, body, quorum, client_timeout).await?;
    if let Some(trailers) = digests.trailers {
        send_trailers(&mut slots, trailers, proxy.backend.node_timeout).await;
    }
    // End of body: closing the channels ends each backend request body.
    for s in slots.iter_mut() {
        s.tx = None;
    }
    let answers = gather(
        slots,
        plan.nodes.primaries.len(),
        proxy.backend.node_timeout,
    )
    .await;
    let status = quorum::put_status(&answers.statuses, quorum, if_none_match_star);
    let etags = &answers.etags;
    if (200..300).contains(&status) && etags.iter().any(|e| *e != etags[0]) {
        return Err(Error::Internal(format!(
            "object servers disagree on the ETag: {etags:?}"
        )));
    }
    Ok(PutOutcome {
        status,
        etag: etags.first().cloned().unwrap_or(digests.etag),
        headers: answers.first_ok_headers,
        statuses: answers.statuses,
    })
}

/// Sends the PUT's headers to one connected node (chunked with digest
/// trailers to nodes that take them) and leaves a task awaiting its answer.
/// An upload on a kept-alive connection that fails before the node answers
/// starts over (`replay_body`) on a fresh connection to the same node, else
/// on a handoff, as if the connection had been refused in the first place.
fn start_upload(
    proxy: &Proxy,
    plan: &PutPlan,
    mut headers: HeaderMap,
    node: Node,
    conn: UploadConn,
    handoffs: Handoffs,
) -> Option<Slot> {
    let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
    let trailer = proxy.backend.takes_digest_trailer(&node);
    match plan.length {
        Some(n) if !trailer => {
            headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(n));
        }
        _ => {
            headers.insert(
                http::header::TRANSFER_ENCODING,
                HeaderValue::from_static("chunked"),
            );
        }
    }
    if trailer {
        // Trailers need chunked encoding; the length still goes along
        // for the node's free-space and truncation checks.
        if let Some(n) = plan.length {
            headers.insert(bh::OBJ_CONTENT_LENGTH, HeaderValue::from(n));
        }
        headers.insert(digest_trailer::HEADER, HeaderValue::from_static("yes"));
        headers.insert(
            http::header::TRAILER,
            HeaderValue::from_static(digest_trailer::ANNOUNCE),
        );
    }
    let length = if trailer { None } else { plan.length };
    let (replay, body) = if conn.reused {
        let (replay, body) = Replay::new(rx, length);
        (Some(replay), body.boxed())
    } else {
        (None, ChannelBody::new(rx, length).boxed())
    };
    let backend = proxy.backend.clone();
    let tail = plan.tail.clone();
    let answer = tokio::spawn(async move {
        let (mut node, mut send, mut body, mut replay) = (node, conn.send, body, replay);
        loop {
            let started = std::time::Instant::now();
            // The headers are needed again only if this attempt may be replayed.
            let h = match replay {
                Some(_) => headers.clone(),
                None => std::mem::take(&mut headers),
            };
            let req = upload_request(&backend, &node, &tail, h, body)?;
            match send.send_request(req).await {
                Ok(resp) => {
                    if let Some(r) = &replay {
                        r.settle();
                    }
                    let status = resp.status().as_u16();
                    backend.judge(&node, status, started);
                    if (200..300).contains(&status) {
                        backend.learn_digest_trailer(&node, resp.headers());
                    }
                    let h = resp.headers().clone();
                    let whole = backend::read_small(resp.into_body(), 1 << 16).await;
                    if whole.is_some() && (200..300).contains(&status) {
                        let (b, n) = (backend.clone(), node.clone());
                        tokio::spawn(async move { b.reuse(&n, send).await });
                    }
                    return Some((status, h));
                }
                Err(e) => {
                    tracing::info!(node = %node.key(), error = %e, "object PUT to node failed");
                }
            }
            // Only the first attempt, on a kept-alive connection, starts over.
            // Its failure is not held against the node: a live server may
            // have closed that idle connection just as it was taken. The
            // fresh connect below finds out, and counts a dead server.
            let Some(again) = replay.take().and_then(|r| r.restart()) else {
                let limiter = &backend.limiter;
                limiter.failed(&node, crate::error_limit::Failure::NoAnswer, started);
                return None;
            };
            let fits = |n: &Node| backend.takes_digest_trailer(n) == trailer;
            let (n, c) = connect_along(&backend, node, &handoffs, true, fits).await?;
            tracing::info!(node = %n.key(), "object PUT starts over on a fresh connection");
            (node, send, body) = (n, c.send, again.boxed());
        }
    });
    Some(Slot {
        tx: Some(tx),
        answer,
        trailer,
    })
}

/// The backend PUT request of one attempt.
fn upload_request(
    backend: &Backend,
    node: &Node,
    tail: &str,
    mut headers: HeaderMap,
    body: swirl_common::Body,
) -> Option<Request<swirl_common::Body>> {
    if let Ok(host) = HeaderValue::from_str(&node.addr()) {
        headers.insert(http::header::HOST, host);
    }
    let mut req = Request::builder()
        .method(Method::PUT)
        .uri(backend::on_node(node, tail))
        .body(body)
        .ok()?;
    *req.headers_mut() = headers;
    backend.sign(&mut req);
    Some(req)
}

/// What the body was, once sent.
struct Sent {
    /// Its MD5, hex.
    etag: String,
    /// The digest trailers, when the body came whole and some node takes them.
    trailers: Option<HeaderMap>,
}

/// Streams the client's body to every slot at once, MD5 (in lanes shared
/// with concurrent uploads) and blake3 (for trailer-taking nodes) computed on
/// the way. A client that times out, disconnects or sends too much aborts
/// every upload. A node that falls behind is dropped; when fewer than a
/// quorum still take the body, the rest are aborted so none commits a write
/// the client will be told failed.
async fn send_body<B>(
    proxy: &Proxy,
    plan: &PutPlan,
    slots: &mut [Slot],
    mut body: B,
    quorum: usize,
    client_timeout: Duration,
) -> Result<Sent>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let node_timeout = proxy.backend.node_timeout;
    let mut md5 = BodyEtag::for_length(plan.length);
    let mut b3 = slots.iter().any(|s| s.trailer).then(blake3::Hasher::new);
    let mut sent: u64 = 0;
    let mut complete = false;
    loop {
        let frame = match tokio::time::timeout(client_timeout, body.frame()).await {
            Err(_) => {
                abort(slots, "client timeout");
                return Err(Error::RequestTimeout);
            }
            Ok(None) => {
                complete = true;
                break;
            }
            Ok(Some(Err(e))) => {
                tracing::info!(error = %e, "client body failed; aborting backend uploads");
                abort(slots, "client disconnected");
                return Err(Error::ClientDisconnect);
            }
            Ok(Some(Ok(f))) => f,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        sent += data.len() as u64;
        if sent > plan.max_size || plan.length.map(|l| sent > l).unwrap_or(false) {
            abort(slots, "too large");
            return Err(Error::TooLarge("Your request is too large.".into()));
        }
        md5.update(&data).await;
        if let Some(h) = b3.as_mut() {
            h.update(&data);
        }
        if send_chunk(slots, &data, node_timeout).await < quorum {
            for s in slots.iter_mut() {
                if let Some(tx) = s.tx.take() {
                    let _ = tx.try_send(Err(std::io::Error::other("lost quorum")));
                }
            }
            break;
        }
    }
    let Some(etag) = md5.hex().await else {
        abort(slots, "no MD5");
        return Err(Error::Internal(
            "the body's MD5 was lost (hashing thread ended)".into(),
        ));
    };
    let trailers = match (complete, b3) {
        (true, Some(h)) => Some(
            Digests {
                etag: etag.clone(),
                blake3: h.finalize().to_hex().to_string(),
            }
            .to_trailers(),
        ),
        _ => None,
    };
    Ok(Sent { etag, trailers })
}

/// Sends one chunk to every slot still taking the body; returns how many
/// took it. A node that answered early (412, 507, ...) or lags past
/// `node_timeout` is dropped.
async fn send_chunk(slots: &mut [Slot], data: &Bytes, node_timeout: Duration) -> usize {
    let mut live = 0;
    for s in slots.iter_mut() {
        if s.answer.is_finished() {
            s.tx = None;
            continue;
        }
        let Some(tx) = s.tx.as_ref() else { continue };
        // Fast path without a timer; wait (bounded) only when the node lags.
        let ok = match tx.try_send(Ok(Frame::data(data.clone()))) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
            Err(mpsc::error::TrySendError::Full(frame)) => matches!(
                tokio::time::timeout(node_timeout, tx.send(frame)).await,
                Ok(Ok(()))
            ),
        };
        if ok {
            live += 1;
        } else if let Some(tx) = s.tx.take() {
            let _ = tx.try_send(Err(std::io::Error::other("node too slow")));
        }
    }
    live
}

/// Sends the body's digests to the nodes that take them as trailers.
async fn send_trailers(slots: &mut [Slot], trailers: HeaderMap, node_timeout: Duration) {
    for s in slots.iter_mut().filter(|s| s.trailer) {
        if let Some(tx) = s.tx.as_ref() {
            let frame = Ok(Frame::trailers(trailers.clone()));
            if !matches!(
                tokio::time::timeout(node_timeout, tx.send(frame)).await,
                Ok(Ok(()))
            ) {
                s.tx = None;
            }
        }
    }
}

/// The nodes' answers.
struct Answers {
    /// One per primary slot; 503 for a node that did not answer.
    statuses: Vec<u16>,
    /// The ETags of the successes.
    etags: Vec<String>,
    /// The headers of the first success.
    first_ok_headers: HeaderMap,
}

/// Waits (up to `node_timeout` each) for every slot's answer.
async fn gather(slots: Vec<Slot>, primaries: usize, node_timeout: Duration) -> Answers {
    let mut statuses = Vec::new();
    let mut etags = Vec::new();
    let mut first_ok_headers = HeaderMap::new();
    for s in slots {
        match tokio::time::timeout(node_timeout, s.answer).await {
            Ok(Ok(Some((status, h)))) => {
                if (200..300).contains(&status) {
                    if let Some(e) = h.get("etag").and_then(|v| v.to_str().ok()) {
                        etags.push(e.trim_matches('"').to_string());
                    }
                    if first_ok_headers.is_empty() {
                        first_ok_headers = h;
                    }
                }
                statuses.push(status);
            }
            _ => statuses.push(503),
        }
    }
    while statuses.len() < primaries {
        statuses.push(503);
    }
    Answers {
        statuses,
        etags,
        first_ok_headers,
    }
}
