//! Replication sync points: for each remote database id, the highest ROWID
//! known to be in sync, incoming (rows merged from it) and outgoing (rows sent
//! to it), as Swift's `incoming_sync` / `outgoing_sync` tables.

use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use swirl_common::Timestamp;

use super::error::DbResult;

/// One sync point, in Swift's JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncPoint {
    pub remote_id: String,
    pub sync_point: i64,
}

pub(crate) fn create_tables(tx: &Transaction) -> DbResult<()> {
    tx.execute_batch(
        "CREATE TABLE incoming_sync (remote_id TEXT UNIQUE, sync_point INTEGER,
             updated_at TEXT DEFAULT 0);
         CREATE TABLE outgoing_sync (remote_id TEXT UNIQUE, sync_point INTEGER,
             updated_at TEXT DEFAULT 0);",
    )?;
    Ok(())
}

fn table(incoming: bool) -> &'static str {
    if incoming {
        "incoming_sync"
    } else {
        "outgoing_sync"
    }
}

/// The point for `remote_id`, or -1 when unknown.
pub(crate) fn get(tx: &Transaction, incoming: bool, remote_id: &str) -> DbResult<i64> {
    let v = tx
        .query_row(
            &format!(
                "SELECT sync_point FROM {} WHERE remote_id = ?1",
                table(incoming)
            ),
            [remote_id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(v.unwrap_or(-1))
}

pub(crate) fn get_all(tx: &Transaction, incoming: bool) -> DbResult<Vec<SyncPoint>> {
    let mut st = tx.prepare(&format!(
        "SELECT remote_id, sync_point FROM {} ORDER BY remote_id",
        table(incoming)
    ))?;
    let v = st
        .query_map([], |r| {
            Ok(SyncPoint {
                remote_id: r.get(0)?,
                sync_point: r.get(1)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(v)
}

/// Raises the point for `remote_id` to `point` (never lowers it).
pub(crate) fn raise(tx: &Transaction, incoming: bool, remote_id: &str, point: i64) -> DbResult<()> {
    let now = Timestamp::now().internal();
    tx.execute(
        &format!(
            "INSERT INTO {t} (remote_id, sync_point, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(remote_id) DO UPDATE SET
                sync_point = max(excluded.sync_point, {t}.sync_point),
                updated_at = excluded.updated_at",
            t = table(incoming)
        ),
        params![remote_id, point, now],
    )?;
    Ok(())
}

/// Sets the point for `remote_id` to `point`, lower or not (Swift's `newid`:
/// a shipped database is in sync with its sender up to its last row).
pub(crate) fn set(tx: &Transaction, incoming: bool, remote_id: &str, point: i64) -> DbResult<()> {
    let now = Timestamp::now().internal();
    tx.execute(
        &format!(
            "INSERT OR REPLACE INTO {} (remote_id, sync_point, updated_at) VALUES (?1, ?2, ?3)",
            table(incoming)
        ),
        params![remote_id, point, now],
    )?;
    Ok(())
}

/// Drops sync rows not updated since `before`.
pub(crate) fn reclaim(tx: &Transaction, before: Timestamp) -> DbResult<()> {
    for t in ["incoming_sync", "outgoing_sync"] {
        tx.execute(
            &format!("DELETE FROM {t} WHERE updated_at < ?1"),
            [before.internal()],
        )?;
    }
    Ok(())
}
