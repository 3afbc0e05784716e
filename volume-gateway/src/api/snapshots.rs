//! `/v3/{project}/snapshots`: list, create (a frozen copy of the volume's
//! chunk map), show, delete.

use std::sync::Arc;

use http::{Response, StatusCode};
use serde_json::json;
use swirl_common::Body;
use tracing::{info, warn};

use super::{empty, input, json, now, views, Req};
use crate::error::{Error, Result};
use crate::gateway::Gateway;
use crate::store::layout;
use crate::store::records::SnapshotRecord;
use crate::store::registry::Registry;

pub fn not_found(id: &str) -> Error {
    Error::NotFound(format!("Snapshot {id} could not be found."))
}

async fn get(gw: &Gateway, account: &str, id: &str) -> Result<SnapshotRecord> {
    gw.store
        .catalog
        .snapshot(account, id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// `GET /snapshots[/detail]` (both carry every field, as Cinder's do).
pub async fn list(gw: &Gateway, r: &Req) -> Result<Response<Body>> {
    let mut snaps = gw.store.catalog.snapshots(&r.account).await?;
    if let Some(v) = r.q("volume_id") {
        snaps.retain(|s| s.volume_id == v);
    }
    if let Some(n) = r.q("name") {
        snaps.retain(|s| s.name.as_deref() == Some(n));
    }
    if let Some(st) = r.q("status") {
        snaps.retain(|s| s.status == st);
    }
    snaps.reverse();
    let ctx = r.views();
    let list: Vec<_> = snaps.iter().map(|s| views::snapshot(&ctx, s)).collect();
    Ok(json(StatusCode::OK, &json!({ "snapshots": list })))
}

/// `GET /snapshots/{id}`.
pub async fn show(gw: &Gateway, r: &Req, id: &str) -> Result<Response<Body>> {
    let s = get(gw, &r.account, id).await?;
    Ok(json(
        StatusCode::OK,
        &json!({"snapshot": views::snapshot(&r.views(), &s)}),
    ))
}

/// `POST /snapshots`: freezes the volume's chunks (an attached volume is
/// flushed first: the snapshot holds every write acknowledged before it).
pub async fn create(gw: &Gateway, r: &Req) -> Result<Response<Body>> {
    let c = input::snapshot_create(&input::parse_json(&r.body)?)?;
    let store = &gw.store;
    let account = r.account.as_str();
    let _p = store.registry.lock(&Registry::project_lock(account)).await;
    let _v = store
        .registry
        .lock(&Registry::volume_lock(account, &c.volume_id))
        .await;
    let v = super::volumes::get(gw, account, &c.volume_id).await?;
    let attached = matches!(v.status.as_str(), "in-use" | "attaching" | "reserved");
    // Since 3.66 an attached volume needs no force.
    let allowed = v.status == "available" || (attached && (c.force || r.micro.at_least(3, 66)));
    if !allowed {
        return Err(Error::BadRequest(format!(
            "Invalid volume: Volume {} status must be available, but current status is: {}.",
            v.id, v.status
        )));
    }
    let map = store.freeze(account, &v).await?;
    let id = layout::new_id();
    let pages = store.write_snapshot_map(account, &id, &map).await?;
    let s = SnapshotRecord {
        id,
        volume_id: v.id.clone(),
        name: c.name,
        description: c.description,
        size: v.size,
        status: "available".into(),
        created_at: now(),
        updated_at: None,
        user_id: None,
        project_id: r.project.clone(),
        metadata: c.metadata,
        chunk_size: v.chunk_size,
        pages,
    };
    store.catalog.put_snapshot(account, &s).await?;
    info!(account, snapshot = %s.id, volume = %v.id, chunks = map.len(), "snapshot created");
    Ok(json(
        StatusCode::ACCEPTED,
        &json!({"snapshot": views::snapshot(&r.views(), &s)}),
    ))
}

/// `DELETE /snapshots/{id}`: the record says deleting until the chunks
/// only it named are gone.
pub async fn delete(gw: &Arc<Gateway>, r: &Req, id: &str) -> Result<Response<Body>> {
    let store = &gw.store;
    let mut s = get(gw, &r.account, id).await?;
    if !matches!(
        s.status.as_str(),
        "available" | "error" | "deleting" | "error_deleting"
    ) {
        return Err(Error::BadRequest(format!(
            "Invalid snapshot: Snapshot status must be available or error, but is {}.",
            s.status
        )));
    }
    s.status = "deleting".into();
    s.updated_at = Some(now());
    store.catalog.put_snapshot(&r.account, &s).await?;
    let (gw, account) = (gw.clone(), r.account.clone());
    tokio::spawn(async move {
        let store = &gw.store;
        let _p = store.registry.lock(&Registry::project_lock(&account)).await;
        let result = async {
            store.delete_snapshot_data(&account, &s).await?;
            store
                .catalog
                .delete_record(&account, &layout::snapshot_record(&s.id))
                .await
        }
        .await;
        if let Err(e) = result {
            warn!(account = %account, snapshot = %s.id, error = %e, "snapshot delete failed");
            s.status = "error_deleting".into();
            let _ = store.catalog.put_snapshot(&account, &s).await;
        } else {
            info!(account = %account, snapshot = %s.id, "snapshot deleted");
        }
    });
    Ok(empty(StatusCode::ACCEPTED))
}
