//! One database replicated to its peers (Swift's `_replicate_object`,
//! `_repl_to_node`, `_handle_sync_response`, `_usync_db`, `_rsync_db`):
//! deleted rows reclaimed, a deleted database past reclaim_age removed;
//! then for each peer a `sync` call, and whatever it needs: nothing, rows
//! after its sync point in batches, or the whole database (missing, or far
//! behind). A peer whose device is unmounted (507) is replaced by the next
//! handoff. A handoff database goes once every peer took it.

use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use serde_json::Value;
use swirl_common::Timestamp;
use swirl_ring::{Device, RingData};
use swirl_store::db::broker::Broker;
use swirl_store::db::metadata;
use swirl_store::db::placement::DbKind;
use swirl_store::db::replication::ReplicationInfo;
use swirl_store::db::sync::SyncPoint;
use swirl_store::db::walk::Found;
use swirl_store::db::DbResult;
use tracing::{debug, info, warn};

use super::kind::Replicated;
use super::plan::{self, Cleanup, InSync, Mode};
use super::rpc::Peer;
use super::ship;
use super::stats::DbStats;
use super::DbCtx;
use crate::error::{Error, Result};
use crate::jobs::Node;

/// How one peer went.
enum Reply {
    Done(bool),
    /// Its device is not mounted: try the next handoff.
    NotMounted,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> DbResult<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?
        .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))
}

/// What the pass does after a database: the container replicator reports
/// a container still here to its account.
pub struct Done {
    pub stats: DbStats,
    /// The database is still on this device.
    pub kept: Option<PathBuf>,
}

/// Replicates the database `found` on local device `local`.
pub async fn replicate<K: Replicated>(
    ctx: &DbCtx,
    ring: &RingData,
    local: &Device,
    found: Found,
) -> Done {
    let mut st = DbStats {
        attempted: 1,
        ..Default::default()
    };
    let s = &ctx.settings;
    let now = Timestamp::now().as_f64();
    let reclaim_age = s.reclaim_age;
    let path = found.path.clone();
    let opened = blocking(move || {
        let b = Broker::<K>::open(&path)?;
        let at = |age: f64| Timestamp::from_secs_f64((now - age).max(0.0)).unwrap_or_default();
        let reclaimed = b.reclaim(at(reclaim_age as f64), at(2.0 * reclaim_age as f64))?;
        let info = b.info()?;
        let rinfo = b.replication_info()?;
        Ok((Arc::new(b), info, rinfo, reclaimed))
    })
    .await;
    let (broker, info, rinfo, reclaimed) = match opened {
        Ok(x) => x,
        Err(e) => {
            warn!(db = %found.path.display(), error = %e, "reading database failed");
            for n in ring.primaries(found.partition) {
                st.add_failure(&n.dev.replication_ip, &n.dev.device);
            }
            return Done {
                stats: st,
                kept: Some(found.path),
            };
        }
    };
    st.reclaimed_rows = reclaimed as u64;
    if plan::reclaimable(
        rinfo.count,
        &rinfo.put_timestamp,
        &rinfo.delete_timestamp,
        now,
        reclaim_age,
    ) {
        // Swift removes it without syncing: every replica does the same on
        // its own, and its deletion reached the others long ago. A
        // container waits until the account has its last stats.
        if K::reported_up_to_date(&info) {
            let b = broker.clone();
            match blocking(move || b.remove_files(None)).await {
                Ok(true) => {
                    st.remove += 1;
                    info!(db = %found.path.display(), "reclaimed a deleted database");
                    return Done {
                        stats: st,
                        kept: None,
                    };
                }
                Ok(false) => {}
                Err(e) => warn!(db = %found.path.display(), error = %e, "reclaiming failed"),
            }
        }
        return Done {
            stats: st,
            kept: Some(found.path),
        };
    }

    let (account, container) = K::names(&info);
    let name_part = ring.get_part(&s.hash_cfg, &account, container.as_deref(), None);
    if name_part != found.partition {
        warn!(db = %found.path.display(), partition = name_part,
            "database in the wrong partition; will replicate out and remove");
    }
    let place = plan::placement(ring, found.partition, name_part, local.id);
    let hash = found
        .path
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut queue: VecDeque<Node> = place.nodes.iter().cloned().collect();
    let mut more = ring
        .get_more_nodes(place.partition)
        .map(|n| Node::from_dev(n.dev))
        .filter(|n| n.id != local.id);
    let (mut responses, mut targets, mut failed) = (Vec::new(), BTreeSet::new(), BTreeSet::new());
    while let Some(node) = queue.pop_front() {
        targets.insert(node.key());
        let peer = Peer {
            client: &ctx.client,
            node: &node,
            partition: place.partition,
            hash: &hash,
        };
        let ok = match to_node::<K>(ctx, &broker, &info, &rinfo, local, &peer, &mut st).await {
            Ok(Reply::Done(ok)) => ok,
            Ok(Reply::NotMounted) => {
                warn!(peer = %node.ip, device = %node.device, "remote drive not mounted");
                match more.next() {
                    Some(n) => queue.push_back(n),
                    None => warn!(
                        partition = place.partition,
                        "not enough handoff nodes to reach the replica count"
                    ),
                }
                false
            }
            Err(e) => {
                warn!(db = %found.path.display(), peer = %node.ip, device = %node.device,
                    error = %e, "syncing with a peer failed");
                false
            }
        };
        if !ok {
            failed.insert(node.key());
        }
        responses.push(ok);
    }
    let mut kept = Some(found.path.clone());
    if !place.should_be_here {
        let b = broker.clone();
        let now_max = blocking(move || Ok(b.replication_info()?.max_row)).await;
        let decision = match now_max {
            Ok(m) => plan::handoff_cleanup(rinfo.max_row, m, &responses, s.handoff_delete),
            Err(e) => Cleanup::Keep(e.to_string()),
        };
        match decision {
            Cleanup::Remove => {
                let (b, expect) = (broker.clone(), rinfo.max_row);
                match blocking(move || b.remove_files(Some(expect))).await {
                    Ok(true) => {
                        st.remove += 1;
                        kept = None;
                        info!(db = %found.path.display(), "removed a handoff database: every primary has it");
                    }
                    Ok(false) => debug!(db = %found.path.display(), "not removed: new rows"),
                    Err(e) => {
                        warn!(db = %found.path.display(), error = %e, "removing a handoff database failed");
                        failed.extend(place.nodes.iter().map(Node::key));
                    }
                }
            }
            Cleanup::Keep(why) => debug!(db = %found.path.display(), %why, "handoff database kept"),
        }
    }
    st.success += targets.difference(&failed).count() as u64;
    for (ip, dev) in &failed {
        st.add_failure(ip, dev);
    }
    Done { stats: st, kept }
}

/// Swift's `_repl_to_node` and `_handle_sync_response` for one peer.
async fn to_node<K: Replicated>(
    ctx: &DbCtx,
    broker: &Arc<Broker<K>>,
    info: &K::Info,
    rinfo: &ReplicationInfo,
    local: &Device,
    peer: &Peer<'_>,
    st: &mut DbStats,
) -> Result<Reply> {
    let s = &ctx.settings;
    let mut args = rinfo.sync_args().to_args();
    args.extend(K::extra_sync_args(info, ctx.policies));
    let ans = peer.replicate("sync", args, s.node_timeout).await?;
    st.bytes_sent += ans.sent;
    st.bytes_received += ans.body.len() as u64;
    if ans.status == StatusCode::NOT_FOUND {
        // Missing there: the whole database.
        st.rsync += 1;
        return ship_db(ctx, broker, rinfo, local, peer, "complete_rsync", false, st)
            .await
            .map(Reply::Done);
    }
    if ans.status == StatusCode::INSUFFICIENT_STORAGE {
        return Ok(Reply::NotMounted);
    }
    if !ans.ok() {
        warn!(peer = %peer.node.ip, status = %ans.status, "bad sync answer");
        return Ok(Reply::Done(false));
    }
    let remote: Value = serde_json::from_slice(&ans.body).map_err(|e| Error::Protocol {
        addr: peer.addr(),
        message: format!("sync answer: {e}"),
    })?;
    let text = |k: &str| remote[k].as_str().unwrap_or_default().to_string();
    let int = |k: &str| remote[k].as_i64().unwrap_or(-1);
    let (remote_id, remote_point, remote_max) = (text("id"), int("point"), int("max_row"));
    let remote_md = metadata::parse(&text("metadata")).unwrap_or_default();
    let timestamps = (
        text("created_at"),
        text("put_timestamp"),
        text("delete_timestamp"),
    );
    let merge_ts = K::KIND == DbKind::Container
        && (timestamps.0 != rinfo.created_at
            || timestamps.1 != rinfo.put_timestamp
            || timestamps.2 != rinfo.delete_timestamp);
    let (b, rid) = (broker.clone(), remote_id.clone());
    let local_sync = blocking(move || {
        // The peer's metadata merges here too (newest per key wins), and a
        // container takes its timestamps (Swift's container replicator).
        if !remote_md.is_empty() {
            b.update_metadata(&remote_md, false)?;
        }
        if merge_ts {
            b.merge_timestamps(&timestamps.0, &timestamps.1, &timestamps.2)?;
        }
        b.get_sync(&rid, false)
    })
    .await?;
    match plan::in_sync(
        remote_point,
        local_sync,
        &text("hash"),
        &rinfo.hash,
        rinfo.max_row,
    ) {
        Some(InSync::NoChange) => {
            st.no_change += 1;
            return Ok(Reply::Done(true));
        }
        Some(InSync::HashMatch) => {
            st.hashmatch += 1;
            let b = broker.clone();
            blocking(move || {
                b.merge_syncs(
                    &[SyncPoint {
                        remote_id,
                        sync_point: remote_point,
                    }],
                    false,
                )
            })
            .await?;
            return Ok(Reply::Done(true));
        }
        None => {}
    }
    match plan::mode(
        remote_max,
        rinfo.max_row,
        remote_point,
        local_sync,
        s.per_diff,
    ) {
        Mode::Whole => {
            st.remote_merge += 1;
            ship_db(
                ctx,
                broker,
                rinfo,
                local,
                peer,
                "rsync_then_merge",
                true,
                st,
            )
            .await
            .map(Reply::Done)
        }
        Mode::Usync { from } => usync(ctx, broker, rinfo, peer, from, remote_id, st)
            .await
            .map(Reply::Done),
    }
}

/// Swift's `_usync_db`: rows after `from` in batches of `per_diff`, at most
/// `max_diffs` batches, then our sync points; the peer's point recorded.
async fn usync<K: Replicated>(
    ctx: &DbCtx,
    broker: &Arc<Broker<K>>,
    rinfo: &ReplicationInfo,
    peer: &Peer<'_>,
    from: i64,
    remote_id: String,
    st: &mut DbStats,
) -> Result<bool> {
    let s = &ctx.settings;
    st.diff += 1;
    let (b, per_diff) = (broker.clone(), s.per_diff);
    let (syncs, mut rows) =
        blocking(move || Ok((b.get_syncs(true)?, b.get_items_since(from, per_diff)?))).await?;
    let mut point = from;
    let mut diffs = 0;
    while !rows.is_empty() && diffs < s.max_diffs {
        diffs += 1;
        let n = rows.len() as u64;
        let last = rows.last().map(K::row_id).unwrap_or(point);
        let batch = serde_json::to_value(&rows).map_err(|e| Error::Protocol {
            addr: peer.addr(),
            message: e.to_string(),
        })?;
        let ans = peer
            .replicate(
                "merge_items",
                vec![batch, rinfo.id.clone().into()],
                s.node_timeout,
            )
            .await?;
        st.bytes_sent += ans.sent;
        if !ans.ok() {
            warn!(peer = %peer.node.ip, status = %ans.status, "merge_items refused");
            return Ok(false);
        }
        st.rows_merged += n;
        point = last;
        let b = broker.clone();
        rows = blocking(move || b.get_items_since(point, per_diff)).await?;
    }
    if !rows.is_empty() {
        debug!(peer = %peer.node.ip, "more than max_diffs batches behind; the rest next pass");
        st.diff_capped += 1;
        return Ok(false);
    }
    let syncs = serde_json::to_value(&syncs).map_err(|e| Error::Protocol {
        addr: peer.addr(),
        message: e.to_string(),
    })?;
    let ans = peer
        .replicate("merge_syncs", vec![syncs], s.node_timeout)
        .await?;
    st.bytes_sent += ans.sent;
    if !ans.ok() {
        return Ok(false);
    }
    let b = broker.clone();
    blocking(move || {
        b.merge_syncs(
            &[SyncPoint {
                remote_id,
                sync_point: point,
            }],
            false,
        )
    })
    .await?;
    Ok(true)
}

/// Swift's `_rsync_db`: the whole database to the peer's `tmp/<our id>`
/// (as a delta against its own copy when it has one and that can pay),
/// then `method` (`complete_rsync` or `rsync_then_merge`) names it.
#[allow(clippy::too_many_arguments)]
async fn ship_db<K: Replicated>(
    ctx: &DbCtx,
    broker: &Arc<Broker<K>>,
    rinfo: &ReplicationInfo,
    local: &Device,
    peer: &Peer<'_>,
    method: &str,
    peer_has_copy: bool,
    st: &mut DbStats,
) -> Result<bool> {
    let s = &ctx.settings;
    let tmp = s.node.disks.devices.join(&local.device).join("tmp");
    let snap = ship::snapshot(broker.clone(), &tmp).await?;
    let mut shipped = false;
    if plan::ship_as_delta(peer_has_copy, snap.len, s.delta_min_size) {
        if let Some(cost) = ship::delta(peer, &rinfo.id, &snap, s.delta, s.rsync_timeout).await? {
            st.deltas += 1;
            st.delta_file_bytes += snap.len;
            st.bytes_sent += cost.sent;
            st.bytes_received += cost.received;
            shipped = true;
        }
    }
    if !shipped {
        st.bytes_sent += ship::whole(peer, &rinfo.id, &snap, s.rsync_timeout).await?;
        st.whole_copies += 1;
    }
    drop(snap);
    let db_name = broker
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Merging a large database takes a while (Swift: a second per 2000 rows).
    let timeout = s
        .node_timeout
        .max(Duration::from_secs_f64(rinfo.count as f64 / 2000.0));
    let ans = peer
        .replicate(
            method,
            vec![rinfo.id.clone().into(), db_name.into()],
            timeout,
        )
        .await?;
    st.bytes_sent += ans.sent;
    if !ans.ok() {
        warn!(peer = %peer.node.ip, status = %ans.status, method, "the peer did not take the database");
    }
    Ok(ans.ok())
}
