//! The container kind of broker: one SQLite database per container holding
//! its object rows (name, created_at, size, content_type, etag, deleted,
//! storage_policy_index), its stats, policy and account location. Rows are
//! never updated in place: a newer row replaces the old one (DELETE then
//! INSERT), so ROWID order is change order, which replication relies on (as
//! in Swift's swift/container/backend.py). What every database does
//! (metadata, replication, reclaim) is the broker core's.

use std::path::Path;
use std::sync::OnceLock;

use rusqlite::{params, Transaction};
use serde::{Deserialize, Serialize};
use serde_json::json;
use swirl_common::Timestamp;

use super::broker::{max_row, ts, Broker, FindRow, Kind};
use super::dbfile::{bind_range, chexor, hash_hex, parse_hash, row_hash, text, visit_rows, DbFile};
use super::error::{DbError, DbResult};
use super::listing::{self, Entry, ListingParams, Lower, RangeQuery, RowSource, Visit};
use super::metadata::{self, Metadata};
use super::replication::int_bool;
use super::timestamps::{self, RowTimes};
use super::totals;

#[cfg(test)]
const ZERO_HASH: &str = "00000000000000000000000000000000";

/// Metadata a deleted container keeps (sharding state in Swift).
const DELETE_META_WHITELIST: &[&str] = &[
    "x-container-sysmeta-shard-quoted-root",
    "x-container-sysmeta-shard-root",
    "x-container-sysmeta-sharding",
];

const SCHEMA: &str = "
CREATE TABLE object (
    ROWID INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    size INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    etag TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    storage_policy_index INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX ix_object_deleted_name ON object (deleted, name);
CREATE TABLE container_stat (
    account TEXT NOT NULL,
    container TEXT NOT NULL,
    created_at TEXT NOT NULL,
    put_timestamp TEXT NOT NULL DEFAULT '0',
    delete_timestamp TEXT NOT NULL DEFAULT '0',
    status TEXT NOT NULL DEFAULT '',
    status_changed_at TEXT NOT NULL DEFAULT '0',
    object_count INTEGER NOT NULL DEFAULT 0,
    bytes_used INTEGER NOT NULL DEFAULT 0,
    reported_put_timestamp TEXT NOT NULL DEFAULT '0',
    reported_delete_timestamp TEXT NOT NULL DEFAULT '0',
    reported_object_count INTEGER NOT NULL DEFAULT 0,
    reported_bytes_used INTEGER NOT NULL DEFAULT 0,
    hash TEXT NOT NULL DEFAULT '00000000000000000000000000000000',
    id TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '',
    storage_policy_index INTEGER NOT NULL DEFAULT 0,
    account_hosts TEXT NOT NULL DEFAULT '',
    account_devices TEXT NOT NULL DEFAULT '',
    account_partition TEXT NOT NULL DEFAULT '',
    mixed_policies INTEGER NOT NULL DEFAULT 0
);
";

/// `container_stat.mixed_policies` (swirl's own column): 0 while every object
/// row, live or deleted, has the container's storage policy, as nearly
/// always; 1 once a row of another policy (a misplaced object from
/// replication) or a policy change may have broken that. A listing of the
/// container's own policy then needs no per-row policy check, so it can
/// walk names in the (deleted, name) index without reading the table. A
/// database from before the column gets it as 1 (unknown), never wrongly 0.
const ADD_MIXED_POLICIES: &str =
    "ALTER TABLE container_stat ADD COLUMN mixed_policies INTEGER NOT NULL DEFAULT 1";

/// An object row update (from an object server's PUT/DELETE, or replication).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectUpdate {
    pub name: String,
    /// The data timestamp (internal form), or an encoded triple from replication.
    pub created_at: String,
    pub size: i64,
    pub content_type: String,
    pub etag: String,
    pub deleted: bool,
    pub storage_policy_index: i64,
    pub ctype_timestamp: Option<String>,
    pub meta_timestamp: Option<String>,
}

/// A stored object row; in JSON, Swift's `get_items_since` dict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRow {
    #[serde(rename = "ROWID", default)]
    pub row_id: i64,
    pub name: String,
    pub created_at: String,
    pub size: i64,
    pub content_type: String,
    pub etag: String,
    #[serde(with = "int_bool")]
    pub deleted: bool,
    #[serde(default)]
    pub storage_policy_index: i64,
}

/// What a listing shows for one object (`_transform_record`: the metadata
/// time is the last-modified time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    pub name: String,
    pub last_modified: Timestamp,
    pub size: i64,
    pub content_type: String,
    pub etag: String,
}

/// The container_stat row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    pub account: String,
    pub container: String,
    pub created_at: String,
    pub put_timestamp: String,
    pub delete_timestamp: String,
    pub status_changed_at: String,
    pub object_count: i64,
    pub bytes_used: i64,
    pub reported_put_timestamp: String,
    pub reported_delete_timestamp: String,
    pub reported_object_count: i64,
    pub reported_bytes_used: i64,
    pub hash: String,
    pub id: String,
    pub storage_policy_index: i64,
    pub metadata: Metadata,
    pub max_row: i64,
    /// Where this container's account lives (comma lists, as the proxy sent
    /// them in X-Account-Host / -Device, and the partition): the target of
    /// count updates after object rows change.
    pub account_hosts: String,
    pub account_devices: String,
    pub account_partition: String,
}

impl ContainerInfo {
    /// Swift's `_is_deleted_info`: no objects and deleted after the last PUT.
    pub fn is_deleted(&self) -> bool {
        self.object_count == 0 && ts(&self.delete_timestamp) > ts(&self.put_timestamp)
    }
}

/// Swift's `update_new_item_from_existing`: the row to store for `item` given
/// the existing row, or `None` when the existing row is as new in every part
/// (data, content-type, metadata).
pub fn merge_update(
    item: &ObjectUpdate,
    existing: Option<&ObjectRow>,
) -> DbResult<Option<ObjectRow>> {
    let mut t = timestamps::decode(&item.created_at)?;
    if let Some(c) = item.ctype_timestamp.as_deref().filter(|s| !s.is_empty()) {
        t.ctype = Timestamp::parse(c).map_err(|e| DbError::Invalid(e.to_string()))?;
        t.meta = t.ctype;
    }
    if let Some(m) = item.meta_timestamp.as_deref().filter(|s| !s.is_empty()) {
        t.meta = Timestamp::parse(m).map_err(|e| DbError::Invalid(e.to_string()))?;
    }
    let mut row = ObjectRow {
        row_id: 0,
        name: item.name.clone(),
        created_at: String::new(),
        size: item.size,
        content_type: item.content_type.clone(),
        etag: item.etag.clone(),
        deleted: item.deleted,
        storage_policy_index: item.storage_policy_index,
    };
    let Some(ex) = existing else {
        row.created_at = timestamps::encode(&t);
        return Ok(Some(row));
    };
    let rec = timestamps::decode(&ex.created_at)?;
    let (new_ct, mut swift_bytes) = timestamps::extract_swift_bytes(&item.content_type);
    let (old_ct, old_swift_bytes) = timestamps::extract_swift_bytes(&ex.content_type);
    row.content_type = new_ct;
    let mut newer = [true, true, true];
    if rec.data >= t.data {
        row.size = ex.size;
        row.etag = ex.etag.clone();
        row.deleted = ex.deleted;
        swift_bytes = old_swift_bytes;
        t.data = rec.data;
        newer[0] = false;
    }
    if rec.ctype >= t.ctype {
        row.content_type = old_ct;
        t.ctype = rec.ctype;
        newer[1] = false;
    }
    if rec.meta >= t.meta {
        t.meta = rec.meta;
        newer[2] = false;
    }
    row.created_at = timestamps::encode(&RowTimes { ..t });
    if let Some(sb) = swift_bytes.filter(|s| !s.is_empty()) {
        row.content_type = format!("{};swift_bytes={sb}", row.content_type);
    }
    Ok(newer.iter().any(|n| *n).then_some(row))
}

/// Container databases: rows are objects.
pub struct Container;

/// An open container database.
pub type ContainerBroker = Broker<Container>;

const ROW_COLS: &str =
    "ROWID, name, created_at, size, content_type, etag, deleted, storage_policy_index";

impl Kind for Container {
    const STAT_TABLE: &'static str = "container_stat";
    const ROW_TABLE: &'static str = "object";
    const ROW_COLS: &'static str = ROW_COLS;
    const COUNT_COLUMN: &'static str = "object_count";
    const SCHEMA: &'static str = SCHEMA;
    const KEEP_ON_DELETE: &'static [&'static str] = DELETE_META_WHITELIST;

    type Row = ObjectRow;
    type Update = ObjectUpdate;
    type Info = ContainerInfo;

    fn read_row(r: &rusqlite::Row) -> rusqlite::Result<ObjectRow> {
        Ok(ObjectRow {
            row_id: r.get(0)?,
            name: r.get(1)?,
            created_at: r.get(2)?,
            size: r.get(3)?,
            content_type: r.get(4)?,
            etag: r.get(5)?,
            deleted: r.get::<_, i64>(6)? != 0,
            storage_policy_index: r.get(7)?,
        })
    }

    fn row_id(row: &ObjectRow) -> i64 {
        row.row_id
    }

    fn row_update(r: &ObjectRow) -> ObjectUpdate {
        ObjectUpdate {
            name: r.name.clone(),
            created_at: r.created_at.clone(),
            size: r.size,
            content_type: r.content_type.clone(),
            etag: r.etag.clone(),
            deleted: r.deleted,
            storage_policy_index: r.storage_policy_index,
            ctype_timestamp: None,
            meta_timestamp: None,
        }
    }

    fn apply_updates(tx: &Transaction, updates: &[ObjectUpdate]) -> DbResult<()> {
        apply_updates(tx, updates)
    }

    fn info(tx: &Transaction) -> DbResult<ContainerInfo> {
        let mut info = tx
            .prepare_cached(
                "SELECT account, container, created_at, put_timestamp, delete_timestamp,
                    status_changed_at, object_count, bytes_used, reported_put_timestamp,
                    reported_delete_timestamp, reported_object_count, reported_bytes_used,
                    hash, id, storage_policy_index, account_hosts, account_devices,
                    account_partition FROM container_stat",
            )?
            .query_row([], |r| {
                Ok(ContainerInfo {
                    account: r.get(0)?,
                    container: r.get(1)?,
                    created_at: r.get(2)?,
                    put_timestamp: r.get(3)?,
                    delete_timestamp: r.get(4)?,
                    status_changed_at: r.get(5)?,
                    object_count: r.get(6)?,
                    bytes_used: r.get(7)?,
                    reported_put_timestamp: r.get(8)?,
                    reported_delete_timestamp: r.get(9)?,
                    reported_object_count: r.get(10)?,
                    reported_bytes_used: r.get(11)?,
                    hash: r.get(12)?,
                    id: r.get(13)?,
                    storage_policy_index: r.get(14)?,
                    metadata: Metadata::new(),
                    max_row: 0,
                    account_hosts: r.get(15)?,
                    account_devices: r.get(16)?,
                    account_partition: r.get(17)?,
                })
            })?;
        let md: String = tx
            .prepare_cached("SELECT metadata FROM container_stat")?
            .query_row([], |r| r.get(0))?;
        info.metadata = metadata::parse(&md)?;
        info.max_row = max_row::<Container>(tx)?;
        Ok(info)
    }

    fn is_deleted(info: &ContainerInfo) -> bool {
        info.is_deleted()
    }

    fn replication_dict(i: &ContainerInfo) -> serde_json::Value {
        json!({
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
            "max_row": i.max_row, "count": i.object_count,
            "db_state": "unsharded",
        })
    }

    /// Tombstones go by their time.
    const RECLAIM_BY: &'static str = "created_at";

    /// The hash drops them too.
    fn drop_rows(tx: &Transaction, rows: &[ObjectRow]) -> DbResult<()> {
        let mut hash: String = tx.query_row("SELECT hash FROM container_stat", [], |r| r.get(0))?;
        for r in rows {
            tx.execute("DELETE FROM object WHERE ROWID = ?1", [r.row_id])?;
            hash = chexor(&hash, &r.name, &r.created_at);
        }
        tx.execute("UPDATE container_stat SET hash = ?1", [&hash])?;
        Ok(())
    }

    /// The reported stats are the sender's: zeroed, so this copy reports
    /// itself to the account (Swift's container `_newid`).
    fn after_newid(tx: &Transaction) -> DbResult<()> {
        tx.execute(
            "UPDATE container_stat SET reported_put_timestamp = '0',
                reported_delete_timestamp = '0', reported_object_count = 0,
                reported_bytes_used = 0",
            [],
        )?;
        Ok(())
    }

    /// Adds `mixed_policies` to a database from before the column.
    fn upgrade(file: &DbFile) -> DbResult<()> {
        let has_column = |tx: &Transaction| -> DbResult<bool> {
            let n: i64 = tx
                .prepare(
                    "SELECT COUNT(*) FROM pragma_table_info('container_stat')
                     WHERE name = 'mixed_policies'",
                )?
                .query_row([], |r| r.get(0))?;
            Ok(n > 0)
        };
        if !file.read(has_column)? {
            // Checked again under the write lock: another opener may have
            // added it meanwhile.
            file.write(|tx| {
                if !has_column(tx)? {
                    tx.execute_batch(ADD_MIXED_POLICIES)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }
}

impl Broker<Container> {
    /// Creates the database (if absent) with `put_timestamp` and policy.
    /// Returns whether this call created it.
    pub fn initialize(
        path: &Path,
        account: &str,
        container: &str,
        put_timestamp: &str,
        storage_policy_index: i64,
    ) -> DbResult<bool> {
        Self::create(path, |tx, id| {
            tx.execute(
                "INSERT INTO container_stat (account, container, created_at, put_timestamp,
                    status_changed_at, id, storage_policy_index)
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)",
                params![
                    account,
                    container,
                    Timestamp::now().internal(),
                    put_timestamp,
                    id,
                    storage_policy_index
                ],
            )?;
            Ok(())
        })
    }

    /// Changes the policy (only done for a deleted container being recreated).
    pub fn set_storage_policy_index(&self, spi: i64, ts: &str) -> DbResult<()> {
        self.file.write(|tx| {
            // Rows already there keep their policy: once it changes, they
            // may no longer match the container's.
            tx.execute(
                "UPDATE container_stat SET mixed_policies = 1
                 WHERE storage_policy_index != ?1 AND EXISTS (SELECT 1 FROM object)",
                [spi],
            )?;
            tx.execute(
                "UPDATE container_stat SET storage_policy_index = ?1, status_changed_at = ?2",
                params![spi, ts],
            )?;
            Ok(())
        })
    }

    /// Remembers where the account lives (from a container PUT/DELETE).
    pub fn set_account_location(
        &self,
        hosts: &str,
        devices: &str,
        partition: &str,
    ) -> DbResult<()> {
        self.file.write(|tx| {
            tx.execute(
                "UPDATE container_stat SET account_hosts = ?1, account_devices = ?2,
                    account_partition = ?3",
                params![hosts, devices, partition],
            )?;
            Ok(())
        })
    }

    /// Records what was last reported to the account server.
    pub fn reported(&self, put: &str, delete: &str, objects: i64, bytes: i64) -> DbResult<()> {
        self.file.write(|tx| {
            tx.execute(
                "UPDATE container_stat SET reported_put_timestamp = ?1,
                    reported_delete_timestamp = ?2, reported_object_count = ?3,
                    reported_bytes_used = ?4",
                params![put, delete, objects, bytes],
            )?;
            Ok(())
        })
    }

    /// Lists live rows of policy `spi` with Swift's rules.
    pub fn list(&self, params: &ListingParams, spi: i64) -> DbResult<Vec<Entry<ListedObject>>> {
        self.list_as::<WholeRows>(params, spi)
    }

    /// [`ContainerBroker::list`] with names alone (what a text/plain listing
    /// shows): no row is read beyond its name, so in a single-policy
    /// container the listing never leaves the (deleted, name) index.
    pub fn list_names(&self, params: &ListingParams, spi: i64) -> DbResult<Vec<Entry<String>>> {
        self.list_as::<NamesOnly>(params, spi)
    }

    fn list_as<K: RowKind>(
        &self,
        params: &ListingParams,
        spi: i64,
    ) -> DbResult<Vec<Entry<K::Row>>> {
        self.file.read(|tx| {
            // Read in the listing's own snapshot, so the answer holds for
            // every row the listing sees.
            let (own, mixed): (i64, bool) = tx
                .prepare_cached("SELECT storage_policy_index, mixed_policies FROM container_stat")?
                .query_row([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0)))?;
            let mut src = SqlObjects::<K> {
                tx,
                spi,
                uniform: spi == own && !mixed,
                kind: std::marker::PhantomData,
            };
            listing::list(&mut src, params)
        })
    }
}

/// Applies updates inside `tx`: newest wins per name; stats and hash follow.
fn apply_updates(tx: &Transaction, updates: &[ObjectUpdate]) -> DbResult<()> {
    let (mut count, mut bytes, old_hash, own_spi, was_mixed): (i64, i64, String, i64, bool) = tx
        .prepare_cached(
            "SELECT object_count, bytes_used, hash, storage_policy_index, mixed_policies
             FROM container_stat",
        )?
        .query_row([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get::<_, i64>(4)? != 0,
            ))
        })?;
    let mut mixed = was_mixed;
    // The hash is folded as a number and written once per batch.
    let mut hash = parse_hash(&old_hash);
    {
        let mut find = FindRow::<Container>::new(tx)?;
        let mut del = tx.prepare_cached("DELETE FROM object WHERE ROWID = ?1")?;
        let mut ins = tx.prepare_cached(
            "INSERT INTO object (name, created_at, size, content_type, etag, deleted,
                storage_policy_index) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for u in updates {
            let existing = find.get(&u.name)?;
            let Some(new) = merge_update(u, existing.as_ref())? else {
                continue;
            };
            if let Some(ex) = existing {
                del.execute([ex.row_id])?;
                // Saturating (`totals`): rows merged from a replica are
                // not range-checked, and a wrapped total would be nonsense.
                if !ex.deleted {
                    count = totals::add(count, -1);
                    bytes = totals::add(bytes, ex.size.saturating_neg());
                }
                hash ^= row_hash(&ex.name, &ex.created_at);
            }
            ins.execute(params![
                new.name,
                new.created_at,
                new.size,
                new.content_type,
                new.etag,
                i64::from(new.deleted),
                new.storage_policy_index
            ])?;
            if !new.deleted {
                count = totals::add(count, 1);
                bytes = totals::add(bytes, new.size);
            }
            mixed |= new.storage_policy_index != own_spi;
            hash ^= row_hash(&new.name, &new.created_at);
        }
    }
    if mixed && !was_mixed {
        tx.prepare_cached("UPDATE container_stat SET mixed_policies = 1")?
            .execute([])?;
    }
    tx.prepare_cached("UPDATE container_stat SET object_count = ?1, bytes_used = ?2, hash = ?3")?
        .execute(params![count, bytes, hash_hex(hash)])?;
    Ok(())
}

/// What a listing keeps of each row.
trait RowKind {
    type Row;
    /// The SQL texts of scans with the per-row policy check.
    const SCANS: &'static OnceLock<[String; 12]>;
    /// `SELECT <columns, name first> ... WHERE deleted = 0 AND
    /// storage_policy_index = ?3` (see [`listing::range_sql`]).
    const SCAN_HEAD: &'static str;
    /// Only the name is kept: a name-only scan answers everything.
    const NAMES_ONLY: bool;
    /// The row from a scan row of [`RowKind::SCAN_HEAD`]'s columns after
    /// the name, starting at column `at`.
    fn from_row(r: &rusqlite::Row, at: usize, name: &str) -> DbResult<Self::Row>;
}

/// Whole listed objects (JSON and XML listings).
struct WholeRows;
/// Names (text/plain listings).
struct NamesOnly;

static OBJECT_SCANS: OnceLock<[String; 12]> = OnceLock::new();
static NAME_POLICY_SCANS: OnceLock<[String; 12]> = OnceLock::new();
/// The SQL texts of name-only scans without a policy check: answered from
/// the index alone.
static NAME_SCANS: OnceLock<[String; 12]> = OnceLock::new();

impl RowKind for WholeRows {
    type Row = ListedObject;
    const SCANS: &'static OnceLock<[String; 12]> = &OBJECT_SCANS;
    const SCAN_HEAD: &'static str = "SELECT name, created_at, size, content_type, etag \
        FROM object WHERE deleted = 0 AND storage_policy_index = ?3";
    const NAMES_ONLY: bool = false;

    /// Columns (created_at, size, content_type, etag) from `at`.
    fn from_row(r: &rusqlite::Row, at: usize, name: &str) -> DbResult<ListedObject> {
        let times = timestamps::decode(text(r, at)?)?;
        Ok(ListedObject {
            name: name.to_string(),
            last_modified: times.meta,
            size: r.get(at + 1)?,
            content_type: r.get(at + 2)?,
            etag: r.get(at + 3)?,
        })
    }
}

impl RowKind for NamesOnly {
    type Row = String;
    const SCANS: &'static OnceLock<[String; 12]> = &NAME_POLICY_SCANS;
    const SCAN_HEAD: &'static str =
        "SELECT name FROM object WHERE deleted = 0 AND storage_policy_index = ?3";
    const NAMES_ONLY: bool = true;

    fn from_row(_: &rusqlite::Row, _: usize, name: &str) -> DbResult<String> {
        Ok(name.to_string())
    }
}

/// Live rows of one policy, scanned through the (deleted, name) index.
struct SqlObjects<'a, K> {
    tx: &'a Transaction<'a>,
    spi: i64,
    /// Every row has policy `spi` (see [`ADD_MIXED_POLICIES`]): the index
    /// alone says which rows a listing has.
    uniform: bool,
    kind: std::marker::PhantomData<K>,
}

impl<K: RowKind> SqlObjects<'_, K> {
    /// Rows of policy `spi`, each checked.
    fn scan_rows(
        &self,
        q: &RangeQuery<'_>,
        visit: &mut dyn FnMut(&str) -> Visit,
        out: &mut Vec<Entry<K::Row>>,
    ) -> DbResult<()> {
        let sql = listing::range_sql(K::SCANS, K::SCAN_HEAD, q);
        let mut st = self.tx.prepare_cached(sql)?;
        bind_range(&mut st, q)?;
        st.raw_bind_parameter(3, self.spi)?;
        visit_rows(st.raw_query(), q.limit, visit, out, |r, name| {
            K::from_row(r, 1, name)
        })
    }

    /// Names alone, from the index (every row has policy `spi`). For whole
    /// rows this lasts until the listing takes one: that row is read by its
    /// ROWID and the scan goes on with whole rows after it. Rolled-up names
    /// thus never touch the table.
    fn scan_names(
        &self,
        q: &RangeQuery<'_>,
        visit: &mut dyn FnMut(&str) -> Visit,
        out: &mut Vec<Entry<K::Row>>,
    ) -> DbResult<()> {
        let sql = listing::range_sql(
            &NAME_SCANS,
            "SELECT name, ROWID FROM object WHERE deleted = 0",
            q,
        );
        let mut st = self.tx.prepare_cached(sql)?;
        bind_range(&mut st, q)?;
        let mut rows = st.raw_query();
        let mut left = q.limit;
        let taken = loop {
            if left == 0 {
                return Ok(());
            }
            let Some(r) = rows.next()? else {
                return Ok(());
            };
            left -= 1;
            let name = text(r, 0)?;
            match visit(name) {
                Visit::Take if K::NAMES_ONLY => out.push(Entry::Row(K::from_row(r, 1, name)?)),
                Visit::Take => break (name.to_string(), r.get::<_, i64>(1)?),
                Visit::Skip => {}
                Visit::Stop => return Ok(()),
            }
        };
        drop(rows);
        let (name, row_id) = taken;
        let mut one = self.tx.prepare_cached(
            "SELECT created_at, size, content_type, etag FROM object WHERE ROWID = ?1",
        )?;
        one.raw_bind_parameter(1, row_id)?;
        let mut found = one.raw_query();
        if let Some(r) = found.next()? {
            out.push(Entry::Row(K::from_row(r, 0, &name)?));
        }
        let rest = if q.reverse {
            RangeQuery {
                upper: Some(&name),
                limit: left,
                ..*q
            }
        } else {
            RangeQuery {
                lower: Some(Lower::After(&name)),
                limit: left,
                ..*q
            }
        };
        self.scan_rows(&rest, visit, out)
    }
}

impl<K: RowKind> RowSource for SqlObjects<'_, K> {
    type Row = K::Row;
    type Error = DbError;

    fn scan(
        &mut self,
        q: &RangeQuery<'_>,
        visit: &mut dyn FnMut(&str) -> Visit,
        out: &mut Vec<Entry<K::Row>>,
    ) -> DbResult<()> {
        if self.uniform && (q.rollup || K::NAMES_ONLY) {
            self.scan_names(q, visit, out)
        } else {
            self.scan_rows(q, visit, out)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::db::sync::SyncPoint;

    /// A plain PUT's (or DELETE's) row update of policy 0.
    pub(crate) fn upd(name: &str, t: &str, size: i64, deleted: bool) -> ObjectUpdate {
        ObjectUpdate {
            name: name.into(),
            created_at: t.into(),
            size,
            content_type: "text/plain".into(),
            etag: "e".into(),
            deleted,
            storage_policy_index: 0,
            ctype_timestamp: None,
            meta_timestamp: None,
        }
    }

    fn broker() -> (tempfile::TempDir, ContainerBroker) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c.db");
        assert!(ContainerBroker::initialize(&p, "a", "c", "0000000001.00000", 0).unwrap());
        (d, ContainerBroker::open(&p).unwrap())
    }

    #[test]
    fn newest_wins_and_stats() {
        let (_d, b) = broker();
        b.put_rows(vec![upd("o", "0000000002.00000", 10, false)])
            .unwrap();
        b.put_rows(vec![upd("o", "0000000001.00000", 99, false)])
            .unwrap();
        let i = b.info().unwrap();
        assert_eq!((i.object_count, i.bytes_used), (1, 10));
        b.put_rows(vec![upd("o", "0000000003.00000", 0, true)])
            .unwrap();
        let i = b.info().unwrap();
        assert_eq!((i.object_count, i.bytes_used), (0, 0));
        // The tombstone row replaced the data row; the hash is over it alone.
        let want = chexor(ZERO_HASH, "o", "0000000003.00000");
        assert_eq!(i.hash, want);
        b.put_rows(vec![
            upd("p", "0000000004.00000", 5, false),
            upd("q", "0000000004.00000", 6, false),
        ])
        .unwrap();
        let i = b.info().unwrap();
        assert_eq!((i.object_count, i.bytes_used), (2, 11));
        let l = b
            .list(
                &ListingParams {
                    limit: 100,
                    ..Default::default()
                },
                0,
            )
            .unwrap();
        assert_eq!(l.len(), 2);
        // reclaim drops the old tombstone
        let n = b
            .reclaim(
                Timestamp::parse("10").unwrap(),
                Timestamp::parse("0").unwrap(),
            )
            .unwrap();
        assert_eq!(n, 1);
    }

    fn shown(entries: Vec<Entry<ListedObject>>) -> Vec<String> {
        entries
            .into_iter()
            .map(|e| match e {
                Entry::Row(o) => o.name,
                Entry::Subdir(s) => format!("{s}[dir]"),
            })
            .collect()
    }

    fn mixed_flag(b: &ContainerBroker) -> i64 {
        b.file
            .read(|tx| {
                Ok(
                    tx.query_row("SELECT mixed_policies FROM container_stat", [], |r| {
                        r.get(0)
                    })?,
                )
            })
            .unwrap()
    }

    #[test]
    fn sql_scans_of_every_shape() {
        let names = [
            "a", "a/", "a/b", "a/b/c", "a/c", "b", "b/1", "b/2", "c", "d/x/y",
        ];
        let t = "0000000002.00000";
        // The same live rows of policy 0, alone (names come from the index)
        // and among a deleted row and another policy's rows (every row's
        // policy is checked): the same listings.
        let (_d1, uniform) = broker();
        let (_d2, mixed) = broker();
        for b in [&uniform, &mixed] {
            b.put_rows(names.iter().map(|n| upd(n, t, 1, false)).collect())
                .unwrap();
        }
        assert_eq!(mixed_flag(&uniform), 0);
        let mut others = vec![upd("a/d", t, 0, true)];
        for n in ["a/b/d", "b/3", "e/1", "0"] {
            let mut u = upd(n, t, 1, false);
            u.storage_policy_index = 1;
            others.push(u);
        }
        mixed.put_rows(others).unwrap();
        assert_eq!(mixed_flag(&mixed), 1);
        let delim = || ListingParams {
            delimiter: Some("/".into()),
            ..Default::default()
        };
        let dirs = ["a", "a/[dir]", "b", "b/[dir]", "c", "d/[dir]"];
        let mut rev = dirs.to_vec();
        rev.reverse();
        let cases: Vec<(ListingParams, Vec<&str>)> = vec![
            (ListingParams::default(), names.to_vec()),
            (delim(), dirs.to_vec()),
            (
                ListingParams {
                    reverse: true,
                    ..delim()
                },
                rev,
            ),
            (
                ListingParams {
                    limit: 3,
                    ..delim()
                },
                vec!["a", "a/[dir]", "b"],
            ),
            (
                ListingParams {
                    marker: Some("a/".into()),
                    end_marker: Some("c".into()),
                    ..delim()
                },
                vec!["b", "b/[dir]"],
            ),
            (
                ListingParams {
                    prefix: Some("a/".into()),
                    ..delim()
                },
                vec!["a/", "a/b", "a/b/[dir]", "a/c"],
            ),
            (
                ListingParams {
                    prefix: Some("a/".into()),
                    reverse: true,
                    ..delim()
                },
                vec!["a/c", "a/b/[dir]", "a/b", "a/"],
            ),
            (
                ListingParams {
                    path: Some("a".into()),
                    ..Default::default()
                },
                vec!["a/b", "a/c"],
            ),
            (
                ListingParams {
                    marker: Some("b/2".into()),
                    end_marker: Some("a/b".into()),
                    reverse: true,
                    ..Default::default()
                },
                vec!["b/1", "b", "a/c", "a/b/c"],
            ),
        ];
        for (p, want) in cases {
            let p = ListingParams {
                limit: if p.limit == 0 { 100 } else { p.limit },
                ..p
            };
            for b in [&uniform, &mixed] {
                assert_eq!(shown(b.list(&p, 0).unwrap()), want, "{p:?}");
                let just_names: Vec<String> = b
                    .list_names(&p, 0)
                    .unwrap()
                    .into_iter()
                    .map(|e| match e {
                        Entry::Row(n) => n,
                        Entry::Subdir(s) => format!("{s}[dir]"),
                    })
                    .collect();
                assert_eq!(just_names, want, "names only: {p:?}");
            }
        }
        let p = ListingParams {
            limit: 100,
            ..delim()
        };
        assert_eq!(
            shown(mixed.list(&p, 1).unwrap()),
            ["0", "a/[dir]", "b/[dir]", "e/[dir]"]
        );
        assert!(uniform.list(&p, 1).unwrap().is_empty());
        assert_eq!(mixed.list_names(&p, 1).unwrap().len(), 4);
    }

    #[test]
    fn mixed_policies_flag_follows_policy_changes_and_old_databases() {
        let (d, b) = broker();
        // An empty container changing policy stays uniform...
        b.set_storage_policy_index(1, "0000000002.00000").unwrap();
        assert_eq!(mixed_flag(&b), 0);
        // ...one with rows does not.
        b.put_rows(vec![{
            let mut u = upd("o", "0000000003.00000", 1, false);
            u.storage_policy_index = 1;
            u
        }])
        .unwrap();
        assert_eq!(mixed_flag(&b), 0);
        b.set_storage_policy_index(0, "0000000004.00000").unwrap();
        assert_eq!(mixed_flag(&b), 1);
        // A database from before the column: opened, it gets the column as
        // unknown (1) and lists as before.
        let p = d.path().join("old.db");
        assert!(ContainerBroker::initialize(&p, "a", "c", "0000000001.00000", 0).unwrap());
        ContainerBroker::open(&p)
            .unwrap()
            .put_rows(vec![upd("x/1", "0000000002.00000", 1, false)])
            .unwrap();
        let conn = rusqlite::Connection::open(&p).unwrap();
        conn.execute_batch("ALTER TABLE container_stat DROP COLUMN mixed_policies")
            .unwrap();
        drop(conn);
        let old = ContainerBroker::open(&p).unwrap();
        assert_eq!(mixed_flag(&old), 1);
        let l = old
            .list(
                &ListingParams {
                    limit: 10,
                    delimiter: Some("/".into()),
                    ..Default::default()
                },
                0,
            )
            .unwrap();
        assert_eq!(shown(l), ["x/[dir]"]);
    }

    #[test]
    fn content_type_and_meta_times() {
        let mut u = upd("o", "0000000002.00000", 10, false);
        u.content_type = "a/b;swift_bytes=7".into();
        let first = merge_update(&u, None).unwrap().unwrap();
        // A POST-style update: newer content type, older data.
        let mut post = upd("o", "0000000001.00000", 0, false);
        post.content_type = "x/y".into();
        post.ctype_timestamp = Some("0000000003.00000".into());
        let merged = merge_update(&post, Some(&first)).unwrap().unwrap();
        assert_eq!(merged.content_type, "x/y;swift_bytes=7");
        assert_eq!(merged.size, 10);
        assert_eq!(merged.created_at, "0000000002.00000+186a0+0");
        // Replaying the same update changes nothing.
        assert!(merge_update(&post, Some(&merged)).unwrap().is_none());
    }

    #[test]
    fn replication_merge_converges() {
        let (_d1, a) = broker();
        let (_d2, b) = broker();
        a.put_rows(vec![
            upd("x", "0000000002.00000", 1, false),
            upd("y", "0000000002.00000", 2, false),
        ])
        .unwrap();
        b.put_rows(vec![
            upd("y", "0000000003.00000", 5, false),
            upd("z", "0000000002.00000", 3, false),
        ])
        .unwrap();
        a.put_rows(vec![upd("x", "0000000004.00000", 0, true)])
            .unwrap();
        // usync both ways in batches of one row, as the replicator would.
        let a_id = a.info().unwrap().id;
        let mut since = b.get_sync(&a_id, true).unwrap();
        loop {
            let rows = a.get_items_since(since, 1).unwrap();
            let Some(last) = rows.last() else { break };
            since = last.row_id;
            b.merge_items(&rows, Some(&a_id)).unwrap();
        }
        assert_eq!(b.get_sync(&a_id, true).unwrap(), a.info().unwrap().max_row);
        let b_rows = b.get_items_since(-1, 100).unwrap();
        a.merge_items(&b_rows, Some(&b.info().unwrap().id)).unwrap();
        let (ia, ib) = (a.info().unwrap(), b.info().unwrap());
        assert_eq!(ia.hash, ib.hash);
        assert_eq!((ia.object_count, ia.bytes_used), (2, 8));
        assert_eq!((ib.object_count, ib.bytes_used), (2, 8));
        // Replaying a batch changes nothing.
        let before = a.info().unwrap();
        a.merge_items(&b_rows, None).unwrap();
        assert_eq!(a.info().unwrap().max_row, before.max_row);
        b.merge_syncs(
            &[SyncPoint {
                remote_id: "r".into(),
                sync_point: 9,
            }],
            false,
        )
        .unwrap();
        b.merge_syncs(
            &[SyncPoint {
                remote_id: "r".into(),
                sync_point: 3,
            }],
            false,
        )
        .unwrap();
        assert_eq!(b.get_sync("r", false).unwrap(), 9);
    }

    #[test]
    fn delete_db_and_metadata() {
        let (_d, b) = broker();
        let md: Metadata = [(
            "X-Container-Meta-A".to_string(),
            ("1".to_string(), "0000000002.00000".to_string()),
        )]
        .into_iter()
        .collect();
        b.update_metadata(&md, true).unwrap();
        assert_eq!(b.info().unwrap().metadata["X-Container-Meta-A"].0, "1");
        b.delete_db("0000000005.00000").unwrap();
        let i = b.info().unwrap();
        assert!(i.is_deleted());
        assert_eq!(i.metadata["X-Container-Meta-A"].0, "");
        b.update_put_timestamp("0000000006.00000").unwrap();
        assert!(!b.info().unwrap().is_deleted());
    }
}
