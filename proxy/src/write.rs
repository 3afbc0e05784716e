//! The write path for small requests (account/container PUT/POST/DELETE,
//! object POST/DELETE): one request per primary at once; a primary that is
//! down, error-limited or answers 5xx is replaced by the next handoff.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method};
use tokio::task::JoinSet;

use crate::app::Proxy;
use crate::backend;
use crate::error::Result;
use crate::rings::{Node, PartNodes};

/// Sends `method` to every primary slot (headers per slot) and returns one
/// (status, headers, body) per slot; 503 for a slot no node could serve.
pub async fn fan_out(
    proxy: &Proxy,
    nodes: &PartNodes,
    method: Method,
    path: &(dyn Fn(&Node) -> String + Sync),
    headers: Vec<HeaderMap>,
    body: Option<Bytes>,
) -> Result<Vec<(u16, HeaderMap, Bytes)>> {
    let _pass = proxy.gate.enter(nodes.primaries.len()).await?;
    let handoffs: Arc<Mutex<VecDeque<(Node, String)>>> = Arc::new(Mutex::new(
        nodes
            .handoffs
            .iter()
            .map(|n| (n.clone(), path(n)))
            .collect(),
    ));
    let mut set = JoinSet::new();
    for (i, primary) in nodes.primaries.iter().enumerate() {
        let hdrs = headers.get(i).cloned().unwrap_or_default();
        let backend = proxy.backend.clone();
        let handoffs = handoffs.clone();
        let method = method.clone();
        let body = body.clone();
        let mut target = (primary.clone(), path(primary));
        set.spawn(async move {
            loop {
                let (node, p) = &target;
                if !backend.limiter.is_limited(node) {
                    if let Ok(resp) = backend
                        .request(node, method.clone(), p, &hdrs, body.clone())
                        .await
                    {
                        let status = resp.status().as_u16();
                        if status < 500 {
                            let h = resp.headers().clone();
                            let b = backend::read_small(resp.into_body(), 1 << 20)
                                .await
                                .unwrap_or_default();
                            return (i, (status, h, b));
                        }
                    }
                }
                let next = handoffs.lock().ok().and_then(|mut q| q.pop_front());
                match next {
                    Some(n) => target = n,
                    None => return (i, (503, HeaderMap::new(), Bytes::new())),
                }
            }
        });
    }
    let mut out: Vec<(u16, HeaderMap, Bytes)> =
        vec![(503, HeaderMap::new(), Bytes::new()); nodes.primaries.len()];
    while let Some(res) = set.join_next().await {
        if let Ok((i, r)) = res {
            if let Some(slot) = out.get_mut(i) {
                *slot = r;
            }
        }
    }
    Ok(out)
}
