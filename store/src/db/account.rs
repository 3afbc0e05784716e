//! The account kind of broker: one SQLite database per account holding a
//! row per container (name, put/delete timestamps, object count, bytes
//! used, deleted, storage policy), the account's totals and per-policy
//! totals (swift/account/backend.py). What every database does (metadata,
//! replication, reclaim) is the broker core's.

use std::path::Path;
use std::sync::OnceLock;

use rusqlite::{params, Transaction};
use serde::{Deserialize, Serialize};
use serde_json::json;
use swirl_common::Timestamp;

use super::broker::{max_row, ts, Broker, FindRow, Kind};
use super::dbfile::{bind_range, chexor, visit_rows};
use super::error::{DbError, DbResult};
use super::listing::{self, Entry, ListingParams, RangeQuery, RowSource, Visit};
use super::metadata::{self, Metadata};
use super::replication::int_bool;
use super::totals;

const SCHEMA: &str = "
CREATE TABLE container (
    ROWID INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    put_timestamp TEXT NOT NULL,
    delete_timestamp TEXT NOT NULL,
    object_count INTEGER NOT NULL,
    bytes_used INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    storage_policy_index INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX ix_container_deleted_name ON container (deleted, name);
CREATE TABLE policy_stat (
    storage_policy_index INTEGER PRIMARY KEY,
    container_count INTEGER NOT NULL DEFAULT 0,
    object_count INTEGER NOT NULL DEFAULT 0,
    bytes_used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE account_stat (
    account TEXT NOT NULL,
    created_at TEXT NOT NULL,
    put_timestamp TEXT NOT NULL DEFAULT '0',
    delete_timestamp TEXT NOT NULL DEFAULT '0',
    container_count INTEGER NOT NULL DEFAULT 0,
    object_count INTEGER NOT NULL DEFAULT 0,
    bytes_used INTEGER NOT NULL DEFAULT 0,
    hash TEXT NOT NULL DEFAULT '00000000000000000000000000000000',
    id TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT '',
    status_changed_at TEXT NOT NULL DEFAULT '0',
    metadata TEXT NOT NULL DEFAULT ''
);
";

/// A container row update (a container server reporting its stats, or replication).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerUpdate {
    pub name: String,
    pub put_timestamp: String,
    pub delete_timestamp: String,
    pub object_count: i64,
    pub bytes_used: i64,
    pub storage_policy_index: i64,
}

/// A stored container row; in JSON, Swift's `get_items_since` dict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRow {
    #[serde(rename = "ROWID", default)]
    pub row_id: i64,
    pub name: String,
    pub put_timestamp: String,
    pub delete_timestamp: String,
    pub object_count: i64,
    pub bytes_used: i64,
    #[serde(with = "int_bool")]
    pub deleted: bool,
    #[serde(default)]
    pub storage_policy_index: i64,
}

/// Per-policy totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyStat {
    pub storage_policy_index: i64,
    pub container_count: i64,
    pub object_count: i64,
    pub bytes_used: i64,
}

/// The account_stat row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    pub account: String,
    pub created_at: String,
    pub put_timestamp: String,
    pub delete_timestamp: String,
    pub status_changed_at: String,
    pub container_count: i64,
    pub object_count: i64,
    pub bytes_used: i64,
    pub hash: String,
    pub id: String,
    pub status: String,
    pub metadata: Metadata,
    pub max_row: i64,
}

impl AccountInfo {
    /// Swift's `_is_deleted_info` for accounts.
    pub fn is_deleted(&self) -> bool {
        self.status == "DELETED"
            || (self.container_count == 0 && ts(&self.delete_timestamp) > ts(&self.put_timestamp))
    }

    /// Swift's `is_status_deleted` (a DELETEd account, as opposed to one that
    /// merely lost its containers).
    pub fn is_status_deleted(&self) -> bool {
        self.status == "DELETED" || ts(&self.delete_timestamp) > ts(&self.put_timestamp)
    }
}

/// Swift's account `merge_items` rule: newest put and delete timestamps kept,
/// counts from the update, deleted when deleted after the last put and empty.
pub fn merge_update(u: &ContainerUpdate, existing: Option<&ContainerRow>) -> ContainerRow {
    let mut put = u.put_timestamp.clone();
    let mut del = u.delete_timestamp.clone();
    if let Some(ex) = existing {
        if ts(&ex.put_timestamp) > ts(&put) {
            put = ex.put_timestamp.clone();
        }
        if ts(&ex.delete_timestamp) > ts(&del) {
            del = ex.delete_timestamp.clone();
        }
    }
    let deleted = ts(&del) > ts(&put) && u.object_count == 0;
    ContainerRow {
        row_id: 0,
        name: u.name.clone(),
        put_timestamp: put,
        delete_timestamp: del,
        object_count: u.object_count,
        bytes_used: u.bytes_used,
        deleted,
        storage_policy_index: u.storage_policy_index,
    }
}

/// What a listing shows for one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedContainer {
    pub name: String,
    pub object_count: i64,
    pub bytes_used: i64,
    pub put_timestamp: String,
}

/// Account databases: rows are containers.
pub struct Account;

/// An open account database.
pub type AccountBroker = Broker<Account>;

const ROW_COLS: &str = "ROWID, name, put_timestamp, delete_timestamp, object_count, bytes_used, \
                        deleted, storage_policy_index";

fn row_hash_ts(r: &ContainerRow) -> String {
    format!(
        "{}-{}-{}-{}",
        r.put_timestamp, r.delete_timestamp, r.object_count, r.bytes_used
    )
}

impl Kind for Account {
    const STAT_TABLE: &'static str = "account_stat";
    const ROW_TABLE: &'static str = "container";
    const ROW_COLS: &'static str = ROW_COLS;
    const COUNT_COLUMN: &'static str = "container_count";
    const SCHEMA: &'static str = SCHEMA;

    type Row = ContainerRow;
    type Update = ContainerUpdate;
    type Info = AccountInfo;

    fn read_row(r: &rusqlite::Row) -> rusqlite::Result<ContainerRow> {
        Ok(ContainerRow {
            row_id: r.get(0)?,
            name: r.get(1)?,
            put_timestamp: r.get(2)?,
            delete_timestamp: r.get(3)?,
            object_count: r.get(4)?,
            bytes_used: r.get(5)?,
            deleted: r.get::<_, i64>(6)? != 0,
            storage_policy_index: r.get(7)?,
        })
    }

    fn row_id(row: &ContainerRow) -> i64 {
        row.row_id
    }

    fn row_update(r: &ContainerRow) -> ContainerUpdate {
        ContainerUpdate {
            name: r.name.clone(),
            put_timestamp: r.put_timestamp.clone(),
            delete_timestamp: r.delete_timestamp.clone(),
            object_count: r.object_count,
            bytes_used: r.bytes_used,
            storage_policy_index: r.storage_policy_index,
        }
    }

    fn apply_updates(tx: &Transaction, updates: &[ContainerUpdate]) -> DbResult<()> {
        apply_updates(tx, updates)
    }

    /// Swift's account broker raises the sync point to the largest ROWID.
    fn merged_point(rows: &[ContainerRow]) -> Option<i64> {
        rows.iter().map(|r| r.row_id).max()
    }

    fn info(tx: &Transaction) -> DbResult<AccountInfo> {
        let mut info = tx.query_row(
            "SELECT account, created_at, put_timestamp, delete_timestamp, status_changed_at,
                    container_count, object_count, bytes_used, hash, id, status, metadata
             FROM account_stat",
            [],
            |r| {
                Ok((
                    AccountInfo {
                        account: r.get(0)?,
                        created_at: r.get(1)?,
                        put_timestamp: r.get(2)?,
                        delete_timestamp: r.get(3)?,
                        status_changed_at: r.get(4)?,
                        container_count: r.get(5)?,
                        object_count: r.get(6)?,
                        bytes_used: r.get(7)?,
                        hash: r.get(8)?,
                        id: r.get(9)?,
                        status: r.get(10)?,
                        metadata: Metadata::new(),
                        max_row: 0,
                    },
                    r.get::<_, String>(11)?,
                ))
            },
        )?;
        info.0.metadata = metadata::parse(&info.1)?;
        info.0.max_row = max_row::<Account>(tx)?;
        Ok(info.0)
    }

    fn is_deleted(info: &AccountInfo) -> bool {
        info.is_deleted()
    }

    fn replication_dict(i: &AccountInfo) -> serde_json::Value {
        json!({
            "account": i.account, "created_at": i.created_at,
            "put_timestamp": i.put_timestamp, "delete_timestamp": i.delete_timestamp,
            "status_changed_at": i.status_changed_at,
            "container_count": i.container_count, "object_count": i.object_count,
            "bytes_used": i.bytes_used, "hash": i.hash, "id": i.id,
            "status": i.status, "metadata": metadata::to_json(&i.metadata),
            "max_row": i.max_row, "count": i.container_count,
        })
    }

    /// Deleted container rows go by their delete time.
    const RECLAIM_BY: &'static str = "delete_timestamp";

    fn drop_rows(tx: &Transaction, rows: &[ContainerRow]) -> DbResult<()> {
        for r in rows {
            remove_row(tx, r)?;
        }
        Ok(())
    }
}

impl Broker<Account> {
    /// Creates the database (if absent). Returns whether this call created it.
    pub fn initialize(path: &Path, account: &str, put_timestamp: &str) -> DbResult<bool> {
        Self::create(path, |tx, id| {
            tx.execute(
                "INSERT INTO account_stat (account, created_at, put_timestamp, status_changed_at, id)
                 VALUES (?1, ?2, ?3, ?3, ?4)",
                params![account, Timestamp::now().internal(), put_timestamp, id],
            )?;
            Ok(())
        })
    }

    /// Per-policy totals (policies that ever held a container).
    pub fn policy_stats(&self) -> DbResult<Vec<PolicyStat>> {
        self.file.read(|tx| {
            let mut st = tx.prepare_cached(
                "SELECT storage_policy_index, container_count, object_count, bytes_used
                 FROM policy_stat ORDER BY storage_policy_index",
            )?;
            let v = st
                .query_map([], |r| {
                    Ok(PolicyStat {
                        storage_policy_index: r.get(0)?,
                        container_count: r.get(1)?,
                        object_count: r.get(2)?,
                        bytes_used: r.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(v)
        })
    }

    /// Lists live containers with Swift's rules.
    pub fn list(&self, params: &ListingParams) -> DbResult<Vec<Entry<ListedContainer>>> {
        if params.path.is_some() {
            return Err(DbError::Invalid(
                "path is a container listing parameter".into(),
            ));
        }
        self.file.read(|tx| {
            let mut src = SqlContainers { tx };
            listing::list(&mut src, params)
        })
    }
}

fn sign(deleted: bool) -> i64 {
    i64::from(!deleted)
}

/// Adds a row to (`dir` 1) or takes it out of (`dir` -1) the account's and
/// its policy's totals, and the hash.
fn count_row(tx: &Transaction, r: &ContainerRow, dir: i64) -> DbResult<()> {
    let hash: String = tx.query_row("SELECT hash FROM account_stat", [], |x| x.get(0))?;
    let (containers, objects, bytes) = (
        dir * sign(r.deleted),
        dir.saturating_mul(r.object_count),
        dir.saturating_mul(r.bytes_used),
    );
    // Totals saturate (`totals`): an overflowing sum would become a REAL.
    let (sc, so, sb) = (
        totals::sql_add("container_count", "?1"),
        totals::sql_add("object_count", "?2"),
        totals::sql_add("bytes_used", "?3"),
    );
    tx.prepare_cached(&format!(
        "UPDATE account_stat SET container_count = {sc}, object_count = {so},
            bytes_used = {sb}, hash = ?4"
    ))?
    .execute(params![
        containers,
        objects,
        bytes,
        chexor(&hash, &r.name, &row_hash_ts(r))
    ])?;
    if dir > 0 {
        tx.prepare_cached("INSERT OR IGNORE INTO policy_stat (storage_policy_index) VALUES (?1)")?
            .execute([r.storage_policy_index])?;
    }
    tx.prepare_cached(&format!(
        "UPDATE policy_stat SET container_count = {sc}, object_count = {so}, bytes_used = {sb}
         WHERE storage_policy_index = ?4"
    ))?
    .execute(params![containers, objects, bytes, r.storage_policy_index])?;
    Ok(())
}

/// Deletes a row and takes it out of the totals and the hash.
fn remove_row(tx: &Transaction, r: &ContainerRow) -> DbResult<()> {
    tx.prepare_cached("DELETE FROM container WHERE ROWID = ?1")?
        .execute([r.row_id])?;
    count_row(tx, r, -1)
}

/// Inserts a row and adds it to the totals and the hash.
fn insert_row(tx: &Transaction, r: &ContainerRow) -> DbResult<()> {
    tx.prepare_cached(
        "INSERT INTO container (name, put_timestamp, delete_timestamp, object_count, bytes_used,
            deleted, storage_policy_index) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        r.name,
        r.put_timestamp,
        r.delete_timestamp,
        r.object_count,
        r.bytes_used,
        i64::from(r.deleted),
        r.storage_policy_index
    ])?;
    count_row(tx, r, 1)
}

fn apply_updates(tx: &Transaction, updates: &[ContainerUpdate]) -> DbResult<()> {
    let mut find = FindRow::<Account>::new(tx)?;
    for u in updates {
        let existing = find.get(&u.name)?;
        let new = merge_update(u, existing.as_ref());
        if let Some(ex) = &existing {
            remove_row(tx, ex)?;
        }
        insert_row(tx, &new)?;
    }
    Ok(())
}

struct SqlContainers<'a> {
    tx: &'a Transaction<'a>,
}

/// The SQL texts of [`SqlContainers`] scans (see [`listing::range_sql`]).
static CONTAINER_SCANS: OnceLock<[String; 12]> = OnceLock::new();

impl RowSource for SqlContainers<'_> {
    type Row = ListedContainer;
    type Error = DbError;

    fn scan(
        &mut self,
        q: &RangeQuery<'_>,
        visit: &mut dyn FnMut(&str) -> Visit,
        out: &mut Vec<Entry<ListedContainer>>,
    ) -> DbResult<()> {
        let sql = listing::range_sql(
            &CONTAINER_SCANS,
            "SELECT name, object_count, bytes_used, put_timestamp FROM container \
             WHERE deleted = 0",
            q,
        );
        let mut st = self.tx.prepare_cached(sql)?;
        bind_range(&mut st, q)?;
        visit_rows(st.raw_query(), q.limit, visit, out, |r, name| {
            Ok(ListedContainer {
                name: name.to_string(),
                object_count: r.get(1)?,
                bytes_used: r.get(2)?,
                put_timestamp: r.get(3)?,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cu(name: &str, put: &str, del: &str, objs: i64, bytes: i64) -> ContainerUpdate {
        ContainerUpdate {
            name: name.into(),
            put_timestamp: put.into(),
            delete_timestamp: del.into(),
            object_count: objs,
            bytes_used: bytes,
            storage_policy_index: 0,
        }
    }

    #[test]
    fn container_rows_and_totals() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.db");
        assert!(AccountBroker::initialize(&p, "a", "0000000001.00000").unwrap());
        let b = AccountBroker::open(&p).unwrap();
        b.put_rows(vec![cu("c1", "0000000002.00000", "0", 3, 30)])
            .unwrap();
        b.put_rows(vec![cu("c2", "0000000002.00000", "0", 1, 5)])
            .unwrap();
        let i = b.info().unwrap();
        assert_eq!(
            (i.container_count, i.object_count, i.bytes_used),
            (2, 4, 35)
        );
        // c1 deleted later: row goes deleted, totals follow
        b.put_rows(vec![cu("c1", "0000000002.00000", "0000000003.00000", 0, 0)])
            .unwrap();
        let i = b.info().unwrap();
        assert_eq!((i.container_count, i.object_count, i.bytes_used), (1, 1, 5));
        let ps = b.policy_stats().unwrap();
        assert_eq!(ps[0].container_count, 1);
        // an older put does not resurrect it
        b.put_rows(vec![cu("c1", "0000000001.50000", "0", 0, 0)])
            .unwrap();
        assert_eq!(b.info().unwrap().container_count, 1);
        let l = b
            .list(&ListingParams {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(
            b.reclaim(
                Timestamp::parse("4").unwrap(),
                Timestamp::parse("0").unwrap()
            )
            .unwrap(),
            1
        );
        b.delete_db("0000000005.00000").unwrap();
        assert!(b.info().unwrap().is_deleted());
    }
}
