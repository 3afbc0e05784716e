//! A container's stats reported to its account (Swift's container-updater,
//! `process_container` / `container_report`). The container server reports
//! each change at once; this is the sweep that catches what it could not
//! (a server killed between a commit and its report, rows merged by
//! replication into a copy whose account hosts are stale): every container
//! database the replicator visits whose stats differ from what it last
//! reported is sent to every replica of its account, found in the account
//! ring and reached on its replication address as Swift's updater does,
//! and marked reported once a majority took it.

use std::path::Path;
use std::sync::Arc;

use http::{Method, Request};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use swirl_common::body;
use swirl_ring::RingData;
use swirl_store::db::container::{ContainerBroker, ContainerInfo};
use tracing::{debug, warn};

use super::kind::container_stats;
use super::plan;
use super::stats::DbStats;
use super::DbCtx;
use crate::client::addr;
use crate::jobs::Node;

/// Swift's `quote(s, safe='/')`.
const QUOTE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~')
    .remove(b'/');

/// Sends one account replica the container's stats; true on a 2xx.
async fn send(ctx: &DbCtx, node: &Node, part: u32, info: &ContainerInfo) -> bool {
    let uri = format!(
        "/{}/{part}/{}/{}",
        utf8_percent_encode(&node.device, QUOTE),
        utf8_percent_encode(&info.account, QUOTE),
        utf8_percent_encode(&info.container, QUOTE)
    );
    let req = Request::builder()
        .method(Method::PUT)
        .uri(&uri)
        .header("host", addr(&node.ip, node.port))
        .header("x-put-timestamp", &info.put_timestamp)
        .header("x-delete-timestamp", &info.delete_timestamp)
        .header("x-object-count", info.object_count.to_string())
        .header("x-bytes-used", info.bytes_used.to_string())
        .header("x-account-override-deleted", "yes")
        .header(
            swirl_common::backend_headers::STORAGE_POLICY_INDEX,
            info.storage_policy_index.to_string(),
        )
        .header("user-agent", "swirl-container-replicator")
        .header("content-length", "0")
        .body(body::empty());
    let Ok(req) = req else { return false };
    let fut = async {
        let resp = ctx.client.send(&node.ip, node.port, req).await?;
        let status = resp.status();
        let _ = swirl_common::server::read_body_limited(resp.into_body(), 64 << 10).await;
        Ok::<_, crate::Error>(status)
    };
    match tokio::time::timeout(ctx.settings.node_timeout, fut).await {
        Ok(Ok(s)) if s.is_success() => true,
        Ok(Ok(s)) => {
            debug!(peer = %node.ip, device = %node.device, status = %s, "container report refused");
            false
        }
        Ok(Err(e)) => {
            warn!(peer = %node.ip, device = %node.device, error = %e, "container report failed (will retry)");
            false
        }
        Err(_) => {
            warn!(peer = %node.ip, device = %node.device, "container report timed out (will retry)");
            false
        }
    }
}

/// Reports the container at `path` to its account if its stats changed
/// since its last report.
pub async fn report(ctx: &DbCtx, path: &Path, account_ring: &RingData, st: &mut DbStats) {
    let p = path.to_path_buf();
    let opened = tokio::task::spawn_blocking(move || {
        let b = ContainerBroker::open(&p)?;
        let i = b.info()?;
        Ok::<_, swirl_store::db::DbError>((Arc::new(b), i))
    })
    .await;
    let (broker, info) = match opened {
        Ok(Ok(x)) => x,
        // Removed meanwhile (a handoff gone home): nothing to report.
        _ => return,
    };
    if !plan::report_due(&container_stats(&info)) {
        return;
    }
    let (part, nodes) = account_ring.get_nodes(&ctx.settings.hash_cfg, &info.account, None, None);
    let nodes: Vec<Node> = nodes.map(|n| Node::from_dev(n.dev)).collect();
    let mut ok = 0;
    for n in &nodes {
        if send(ctx, n, part, &info).await {
            ok += 1;
        }
    }
    if ok >= plan::majority(nodes.len()) {
        let i = info.clone();
        let done = tokio::task::spawn_blocking(move || {
            broker.reported(
                &i.put_timestamp,
                &i.delete_timestamp,
                i.object_count,
                i.bytes_used,
            )
        })
        .await;
        match done {
            Ok(Ok(())) => st.reported += 1,
            _ => st.report_failures += 1,
        }
    } else {
        st.report_failures += 1;
    }
}
