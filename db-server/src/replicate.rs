//! REPLICATE: the database replicator's RPC (swift/common/db_replicator.py
//! `ReplicatorRpc`): `[op, args...]` as JSON. `sync` exchanges replication
//! info and sync points, `merge_items` merges a batch of rows (ROWID order)
//! and raises the sender's incoming sync point, `merge_syncs` merges sync
//! points, `complete_rsync` moves a shipped database file into place.

use http::{HeaderMap, Response, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use swirl_common::body::Body;
use swirl_common::server::read_body_limited;
use swirl_store::db::account::{AccountBroker, ContainerRow};
use swirl_store::db::container::{ContainerBroker, ObjectRow};
use swirl_store::db::metadata::{self, Metadata};
use swirl_store::db::placement::{db_path, DbKind};
use swirl_store::db::sync::SyncPoint;

use crate::error::{Error, Result};
use crate::response::{put, swift_response};
use crate::server::{blocking, DbServer};

/// Largest REPLICATE body (a merge_items batch of 1000 long rows fits easily).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// A container row on the wire (Swift's `get_items_since` dicts).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WireObject {
    #[serde(rename = "ROWID", default)]
    pub row_id: i64,
    pub name: String,
    pub created_at: String,
    pub size: i64,
    pub content_type: String,
    pub etag: String,
    pub deleted: i64,
    #[serde(default)]
    pub storage_policy_index: i64,
}

/// An account row on the wire.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WireContainer {
    #[serde(rename = "ROWID", default)]
    pub row_id: i64,
    pub name: String,
    pub put_timestamp: String,
    pub delete_timestamp: String,
    pub object_count: i64,
    pub bytes_used: i64,
    pub deleted: i64,
    #[serde(default)]
    pub storage_policy_index: i64,
}

impl From<&ObjectRow> for WireObject {
    fn from(r: &ObjectRow) -> Self {
        WireObject {
            row_id: r.row_id,
            name: r.name.clone(),
            created_at: r.created_at.clone(),
            size: r.size,
            content_type: r.content_type.clone(),
            etag: r.etag.clone(),
            deleted: i64::from(r.deleted),
            storage_policy_index: r.storage_policy_index,
        }
    }
}

impl From<&WireObject> for ObjectRow {
    fn from(w: &WireObject) -> Self {
        ObjectRow {
            row_id: w.row_id,
            name: w.name.clone(),
            created_at: w.created_at.clone(),
            size: w.size,
            content_type: w.content_type.clone(),
            etag: w.etag.clone(),
            deleted: w.deleted != 0,
            storage_policy_index: w.storage_policy_index,
        }
    }
}

impl From<&WireContainer> for ContainerRow {
    fn from(w: &WireContainer) -> Self {
        ContainerRow {
            row_id: w.row_id,
            name: w.name.clone(),
            put_timestamp: w.put_timestamp.clone(),
            delete_timestamp: w.delete_timestamp.clone(),
            object_count: w.object_count,
            bytes_used: w.bytes_used,
            deleted: w.deleted != 0,
            storage_policy_index: w.storage_policy_index,
        }
    }
}

impl From<&ContainerRow> for WireContainer {
    fn from(r: &ContainerRow) -> Self {
        WireContainer {
            row_id: r.row_id,
            name: r.name.clone(),
            put_timestamp: r.put_timestamp.clone(),
            delete_timestamp: r.delete_timestamp.clone(),
            object_count: r.object_count,
            bytes_used: r.bytes_used,
            deleted: i64::from(r.deleted),
            storage_policy_index: r.storage_policy_index,
        }
    }
}

/// The remote's side of a `sync` call.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteInfo {
    pub point: i64,
    pub hash: String,
    pub id: String,
    pub created_at: String,
    pub put_timestamp: String,
    pub delete_timestamp: String,
    pub metadata: Metadata,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::BadRequest(msg.into())
}

fn as_str(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Parses `sync`'s args: `[max_row, hash, id, created_at, put_timestamp,
/// delete_timestamp, metadata_json]`.
pub fn parse_sync_args(args: &[Value]) -> Result<RemoteInfo> {
    if args.len() < 7 {
        return Err(bad("sync needs 7 arguments"));
    }
    let point = args[0].as_i64().ok_or_else(|| bad("sync: bad max_row"))?;
    let md_text = as_str(args.get(6));
    // Swift logs and ignores undecodable remote metadata.
    let metadata = metadata::parse(&md_text).unwrap_or_default();
    Ok(RemoteInfo {
        point,
        hash: as_str(args.get(1)),
        id: as_str(args.get(2)),
        created_at: as_str(args.get(3)),
        put_timestamp: as_str(args.get(4)),
        delete_timestamp: as_str(args.get(5)),
        metadata,
    })
}

fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    let mut h = HeaderMap::new();
    put(&mut h, "content-type", "application/json");
    swift_response(status, h, Some(v.to_string().into_bytes()))
}

/// Handles `REPLICATE /device/partition/hash`.
pub async fn handle(
    s: &DbServer,
    device: &str,
    partition: u32,
    hash: &str,
    body: Incoming,
) -> Result<Response<Body>> {
    s.check_drive(device)?;
    let raw = read_body_limited(body, MAX_BODY).await?;
    let v: Value = serde_json::from_slice(&raw).map_err(|e| bad(e.to_string()))?;
    let Value::Array(mut args) = v else {
        return Err(bad("Invalid object type"));
    };
    if args.is_empty() {
        return Err(bad("Invalid object type"));
    }
    let op = as_str(Some(&args.remove(0)));
    if hash.len() < 3 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(format!("Invalid hash: {hash}")));
    }
    let path = db_path(&s.cfg.devices, device, s.kind, partition, hash);
    if op == "complete_rsync" {
        let name = as_str(args.first());
        if name.is_empty() || name.contains('/') {
            return Err(bad("complete_rsync: bad file name"));
        }
        let tmp = s.cfg.devices.join(device).join("tmp").join(&name);
        let p = path.clone();
        let moved = blocking(move || -> Result<bool> {
            if p.exists() {
                return Ok(false);
            }
            if let Some(dir) = p.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::rename(&tmp, &p)?;
            Ok(true)
        })
        .await?;
        return Ok(swift_response(
            if moved {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::CONFLICT
            },
            HeaderMap::new(),
            None,
        ));
    }
    // Someone may rsync a database here next: make sure tmp exists.
    std::fs::create_dir_all(s.cfg.devices.join(device).join("tmp"))?;
    if !path.is_file() {
        return Err(Error::NotFound(HeaderMap::new()));
    }
    match s.kind {
        DbKind::Container => container_op(s, &op, &args, path).await,
        DbKind::Account => account_op(s, &op, &args, path).await,
    }
}

fn arg_list<T: for<'de> Deserialize<'de>>(args: &[Value], what: &str) -> Result<Vec<T>> {
    let v = args
        .first()
        .cloned()
        .ok_or_else(|| bad(format!("{what}: missing list")))?;
    serde_json::from_value(v).map_err(|e| bad(format!("{what}: {e}")))
}

async fn container_op(
    s: &DbServer,
    op: &str,
    args: &[Value],
    path: std::path::PathBuf,
) -> Result<Response<Body>> {
    let b = s.containers.get(&path, ContainerBroker::open)?;
    match op {
        "sync" => {
            let remote = parse_sync_args(args)?;
            let info = blocking(move || {
                if !remote.metadata.is_empty() {
                    b.update_metadata(&remote.metadata, false)?;
                }
                let i = b.info()?;
                if i.created_at != remote.created_at
                    || i.put_timestamp != remote.put_timestamp
                    || i.delete_timestamp != remote.delete_timestamp
                {
                    b.merge_timestamps(
                        &remote.created_at,
                        &remote.put_timestamp,
                        &remote.delete_timestamp,
                    )?;
                }
                let i = b.info()?;
                let mut point = b.get_sync(&remote.id, true)?;
                if remote.hash == i.hash && point < remote.point {
                    b.merge_syncs(
                        &[SyncPoint {
                            remote_id: remote.id.clone(),
                            sync_point: remote.point,
                        }],
                        true,
                    )?;
                    point = remote.point;
                }
                Ok(json!({
                    "account": i.account, "container": i.container,
                    "created_at": i.created_at, "put_timestamp": i.put_timestamp,
                    "delete_timestamp": i.delete_timestamp,
                    "status_changed_at": i.status_changed_at,
                    "object_count": i.object_count, "bytes_used": i.bytes_used,
                    "reported_put_timestamp": i.reported_put_timestamp,
                    "reported_delete_timestamp": i.reported_delete_timestamp,
                    "reported_object_count": i.reported_object_count,
                    "reported_bytes_used": i.reported_bytes_used,
                    "hash": i.hash, "id": i.id,
                    "x_container_sync_point1": -1, "x_container_sync_point2": -1,
                    "storage_policy_index": i.storage_policy_index,
                    "metadata": metadata::to_json(&i.metadata),
                    "max_row": i.max_row, "count": i.object_count, "point": point,
                    "db_state": "unsharded",
                }))
            })
            .await?;
            Ok(json_response(StatusCode::OK, &info))
        }
        "merge_items" => {
            let rows: Vec<WireObject> = arg_list(args, "merge_items")?;
            let source = args.get(1).and_then(Value::as_str).map(str::to_string);
            let rows: Vec<ObjectRow> = rows.iter().map(ObjectRow::from).collect();
            blocking(move || Ok(b.merge_items(&rows, source.as_deref())?)).await?;
            s.reporter.mark_dirty(&path);
            Ok(swift_response(StatusCode::ACCEPTED, HeaderMap::new(), None))
        }
        "merge_syncs" => {
            let points: Vec<SyncPoint> = arg_list(args, "merge_syncs")?;
            blocking(move || Ok(b.merge_syncs(&points, true)?)).await?;
            Ok(swift_response(StatusCode::ACCEPTED, HeaderMap::new(), None))
        }
        other => Err(bad(format!("Unsupported replication op: {other}"))),
    }
}

async fn account_op(
    s: &DbServer,
    op: &str,
    args: &[Value],
    path: std::path::PathBuf,
) -> Result<Response<Body>> {
    let b = s.accounts.get(&path, AccountBroker::open)?;
    match op {
        "sync" => {
            let remote = parse_sync_args(args)?;
            let info = blocking(move || {
                if !remote.metadata.is_empty() {
                    b.update_metadata(&remote.metadata, false)?;
                }
                let i = b.info()?;
                if i.created_at != remote.created_at
                    || i.put_timestamp != remote.put_timestamp
                    || i.delete_timestamp != remote.delete_timestamp
                {
                    b.merge_timestamps(
                        &remote.created_at,
                        &remote.put_timestamp,
                        &remote.delete_timestamp,
                    )?;
                }
                let i = b.info()?;
                let mut point = b.get_sync(&remote.id, true)?;
                if remote.hash == i.hash && point < remote.point {
                    b.merge_syncs(
                        &[SyncPoint {
                            remote_id: remote.id.clone(),
                            sync_point: remote.point,
                        }],
                        true,
                    )?;
                    point = remote.point;
                }
                Ok(json!({
                    "account": i.account, "created_at": i.created_at,
                    "put_timestamp": i.put_timestamp, "delete_timestamp": i.delete_timestamp,
                    "status_changed_at": i.status_changed_at,
                    "container_count": i.container_count, "object_count": i.object_count,
                    "bytes_used": i.bytes_used, "hash": i.hash, "id": i.id,
                    "status": i.status, "metadata": metadata::to_json(&i.metadata),
                    "max_row": i.max_row, "count": i.container_count, "point": point,
                }))
            })
            .await?;
            Ok(json_response(StatusCode::OK, &info))
        }
        "merge_items" => {
            let rows: Vec<WireContainer> = arg_list(args, "merge_items")?;
            let source = args.get(1).and_then(Value::as_str).map(str::to_string);
            let rows: Vec<ContainerRow> = rows.iter().map(ContainerRow::from).collect();
            blocking(move || Ok(b.merge_items(&rows, source.as_deref())?)).await?;
            Ok(swift_response(StatusCode::ACCEPTED, HeaderMap::new(), None))
        }
        "merge_syncs" => {
            let points: Vec<SyncPoint> = arg_list(args, "merge_syncs")?;
            blocking(move || Ok(b.merge_syncs(&points, true)?)).await?;
            Ok(swift_response(StatusCode::ACCEPTED, HeaderMap::new(), None))
        }
        other => Err(bad(format!("Unsupported replication op: {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_args_and_rows() {
        let args: Vec<Value> = serde_json::from_str(
            r#"[5, "abc", "id-1", "1.0", "2.0", "0", "{\"X-Container-Meta-A\": [\"v\", \"3.0\"]}"]"#,
        )
        .unwrap();
        let r = parse_sync_args(&args).unwrap();
        assert_eq!((r.point, r.id.as_str()), (5, "id-1"));
        assert_eq!(r.metadata["X-Container-Meta-A"].0, "v");
        assert!(parse_sync_args(&args[..3]).is_err());
        let w: WireObject = serde_json::from_str(
            r#"{"ROWID": 3, "name": "o", "created_at": "1.0", "size": 1, "content_type": "t", "etag": "e", "deleted": 0, "storage_policy_index": 0}"#,
        )
        .unwrap();
        let row = ObjectRow::from(&w);
        assert_eq!(WireObject::from(&row), w);
    }
}
