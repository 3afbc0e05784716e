//! REPLICATE: the database replicator's RPC (swift/common/db_replicator.py
//! `ReplicatorRpc`), one implementation for accounts and containers over
//! the broker core. The body is `[op, args...]` as JSON:
//!
//! - `sync`: merges the sender's metadata and timestamps, answers this
//!   replica's replication info and how far it has the sender's rows;
//! - `merge_items`: merges a batch of rows (ROWID order) and raises the
//!   sender's incoming sync point; `merge_syncs`: merges sync points;
//! - `complete_rsync [name, new_name?]`: the database the sender shipped
//!   whole to `<device>/tmp/<name>` becomes this replica's, under a new id
//!   (404 when a database is already there);
//! - `rsync_then_merge [name]`: the shipped database takes in this
//!   replica's rows and replaces it.

use std::path::{Path, PathBuf};

use http::{HeaderMap, Response, StatusCode};
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use serde_json::Value;
use swirl_common::body::Body;
use swirl_common::server::read_body_within;
use swirl_store::db::broker::{Broker, Kind};
use swirl_store::db::placement::{db_path, DbKind};
use swirl_store::db::replication::SyncArgs;
use swirl_store::db::sync::SyncPoint;
use swirl_store::db::DbError;

use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::response::{put, swift_response};
use crate::server::{blocking, DbServer};

/// Largest REPLICATE body (a merge_items batch of 1000 long rows fits easily).
const MAX_BODY: usize = 64 * 1024 * 1024;

fn bad(msg: impl Into<String>) -> Error {
    Error::BadRequest(msg.into())
}

fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    let mut h = HeaderMap::new();
    put(&mut h, "content-type", "application/json");
    swift_response(status, h, Some(v.to_string().into_bytes()))
}

fn empty(status: StatusCode) -> Response<Body> {
    swift_response(status, HeaderMap::new(), None)
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
    let raw = read_body_within(body, MAX_BODY, Some(s.cfg.listen.client_timeout())).await?;
    let v: Value = serde_json::from_slice(&raw).map_err(|e| bad(e.to_string()))?;
    let Value::Array(mut args) = v else {
        return Err(bad("Invalid object type"));
    };
    if args.is_empty() {
        return Err(bad("Invalid object type"));
    }
    let op = match args.remove(0) {
        Value::String(s) => s,
        other => other.to_string(),
    };
    if hash.len() < 3 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(format!("Invalid hash: {hash}")));
    }
    let rpc = Rpc {
        s,
        path: db_path(&s.cfg.devices, device, s.kind, partition, hash),
        tmp_dir: s.cfg.devices.join(device).join("tmp"),
    };
    match s.kind {
        DbKind::Container => rpc.dispatch(&s.containers, &op, &args).await,
        DbKind::Account => rpc.dispatch(&s.accounts, &op, &args).await,
    }
}

/// One REPLICATE request about the database at `path`.
struct Rpc<'a> {
    s: &'a DbServer,
    path: PathBuf,
    /// Where senders ship whole databases (`<device>/tmp`).
    tmp_dir: PathBuf,
}

impl Rpc<'_> {
    async fn dispatch<K: Kind>(
        &self,
        cache: &Cache<Broker<K>>,
        op: &str,
        args: &[Value],
    ) -> Result<Response<Body>> {
        match op {
            "complete_rsync" => return self.complete_rsync::<K>(args).await,
            "rsync_then_merge" => return self.rsync_then_merge(cache, args).await,
            _ => {}
        }
        // Someone may rsync a database here next: make sure tmp exists.
        std::fs::create_dir_all(&self.tmp_dir)?;
        if !self.path.is_file() {
            return Err(Error::NotFound(HeaderMap::new()));
        }
        let b = cache.get(&self.path, Broker::<K>::open)?;
        match op {
            "sync" => {
                let remote = SyncArgs::parse(args).map_err(bad)?;
                let reply = blocking(move || sync(&b, &remote)).await?;
                Ok(json_response(StatusCode::OK, &reply))
            }
            "merge_items" => {
                let rows: Vec<K::Row> = arg_list(args, "merge_items")?;
                let source = args.get(1).and_then(Value::as_str).map(str::to_string);
                blocking(move || Ok(b.merge_items(&rows, source.as_deref())?)).await?;
                self.rows_changed(&self.path);
                Ok(empty(StatusCode::ACCEPTED))
            }
            "merge_syncs" => {
                let points: Vec<SyncPoint> = arg_list(args, "merge_syncs")?;
                blocking(move || Ok(b.merge_syncs(&points, true)?)).await?;
                Ok(empty(StatusCode::ACCEPTED))
            }
            other => Err(bad(format!("Unsupported replication op: {other}"))),
        }
    }

    /// A container's rows changed: its account hears of it.
    fn rows_changed(&self, db: &Path) {
        if self.s.kind == DbKind::Container {
            self.s.reporter.mark_dirty(db);
        }
    }

    /// The shipped file `args[i]` names, under tmp.
    fn shipped(&self, args: &[Value], i: usize) -> Result<(String, PathBuf)> {
        let name = plain_name(args.get(i))?;
        let p = self.tmp_dir.join(&name);
        Ok((name, p))
    }

    async fn complete_rsync<K: Kind>(&self, args: &[Value]) -> Result<Response<Body>> {
        let (name, shipped) = self.shipped(args, 0)?;
        let dest = match args.get(1) {
            Some(v) => self.path.with_file_name(plain_name(Some(v))?),
            None => self.path.clone(),
        };
        if !shipped.is_file() {
            return Err(Error::NotFound(HeaderMap::new()));
        }
        let d = dest.clone();
        let installed = blocking(
            move || match Broker::<K>::install_shipped(&shipped, &d, &name) {
                Ok(()) => Ok(true),
                Err(DbError::AlreadyExists(_)) => Ok(false),
                Err(e) => Err(e.into()),
            },
        )
        .await?;
        if !installed {
            return Err(Error::NotFound(HeaderMap::new()));
        }
        self.rows_changed(&dest);
        Ok(empty(StatusCode::NO_CONTENT))
    }

    async fn rsync_then_merge<K: Kind>(
        &self,
        cache: &Cache<Broker<K>>,
        args: &[Value],
    ) -> Result<Response<Body>> {
        let (name, shipped) = self.shipped(args, 0)?;
        if !self.path.is_file() || !shipped.is_file() {
            return Err(Error::NotFound(HeaderMap::new()));
        }
        let b = cache.get(&self.path, Broker::<K>::open)?;
        blocking(move || Ok(b.rsync_then_merge(&shipped, &name)?)).await?;
        self.rows_changed(&self.path);
        Ok(empty(StatusCode::NO_CONTENT))
    }
}

/// Swift's `_handle_sync_request`: the sender's metadata and timestamps
/// merged in; its sync point raised to its max row when the hashes say the
/// rows are the same; this replica's info and that point answered.
fn sync<K: Kind>(b: &Broker<K>, remote: &SyncArgs) -> Result<Value> {
    if !remote.metadata.is_empty() {
        b.update_metadata(&remote.metadata, false)?;
    }
    let local = b.replication_info()?;
    if local.created_at != remote.created_at
        || local.put_timestamp != remote.put_timestamp
        || local.delete_timestamp != remote.delete_timestamp
    {
        b.merge_timestamps(
            &remote.created_at,
            &remote.put_timestamp,
            &remote.delete_timestamp,
        )?;
    }
    let mut point = b.get_sync(&remote.id, true)?;
    if remote.hash == local.hash && point < remote.max_row {
        b.merge_syncs(
            &[SyncPoint {
                remote_id: remote.id.clone(),
                sync_point: remote.max_row,
            }],
            true,
        )?;
        point = remote.max_row;
    }
    let mut reply = K::replication_dict(&b.info()?);
    if let Value::Object(m) = &mut reply {
        m.insert("point".into(), point.into());
    }
    Ok(reply)
}

fn arg_list<T: DeserializeOwned>(args: &[Value], what: &str) -> Result<Vec<T>> {
    let v = args
        .first()
        .cloned()
        .ok_or_else(|| bad(format!("{what}: missing list")))?;
    serde_json::from_value(v).map_err(|e| bad(format!("{what}: {e}")))
}

/// A file name argument: one plain path component.
fn plain_name(v: Option<&Value>) -> Result<String> {
    match v.and_then(Value::as_str) {
        Some(n) if !n.is_empty() && n != "." && n != ".." && !n.contains('/') => Ok(n.to_string()),
        _ => Err(bad("bad file name argument")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swirl_store::db::container::ObjectRow;

    #[test]
    fn rows_and_names_from_the_wire() {
        let w = r#"{"ROWID": 3, "name": "o", "created_at": "1.0", "size": 1, "content_type": "t", "etag": "e", "deleted": 0, "storage_policy_index": 0}"#;
        let row: ObjectRow = serde_json::from_str(w).unwrap();
        assert_eq!((row.row_id, row.deleted), (3, false));
        let back: Value = serde_json::to_value(&row).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(w).unwrap());
        let rows: Vec<ObjectRow> = arg_list(
            &[
                serde_json::json!([{"name": "p", "created_at": "2.0", "size": 0,
                "content_type": "t", "etag": "e", "deleted": 1}]),
            ],
            "merge_items",
        )
        .unwrap();
        assert!(rows[0].deleted);
        assert!(arg_list::<ObjectRow>(&[Value::from(5)], "merge_items").is_err());
        for bad_name in ["", ".", "..", "a/b"] {
            assert!(plain_name(Some(&Value::from(bad_name))).is_err());
        }
        assert!(plain_name(Some(&Value::from(7))).is_err());
        assert_eq!(plain_name(Some(&Value::from("id-1"))).unwrap(), "id-1");
    }
}
