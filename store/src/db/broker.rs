//! The database broker core (Swift's `DatabaseBroker`, swift/common/db.py):
//! what every account and container database does alike. One SQLite file
//! with a `<type>_stat` row (ids, timestamps, hash, metadata) and a table of
//! rows in change (ROWID) order; group-committed row updates; metadata;
//! replication (rows since a point, merging a replica's rows, sync points,
//! new ids, shipping and receiving whole files); reclaim and delete.
//!
//! A [`Kind`] supplies what differs: the schema, the row and update types,
//! how a batch of updates is applied (stats and hash), the info row, and
//! which deleted rows reclaim drops. The account and container modules add
//! their own operations (listings, stats, policy) on `Broker<TheirKind>`.

use std::marker::PhantomData;
use std::path::Path;

use rusqlite::{params, CachedStatement, OptionalExtension, Transaction};
use serde::de::DeserializeOwned;
use serde::Serialize;
use swirl_common::Timestamp;

use super::dbfile::{fsync_dir, wal_files, DbFile};
use super::error::{DbError, DbResult};
use super::group_commit::{Done, GroupCommit};
use super::metadata::{self, Metadata};
use super::replication::ReplicationInfo;
use super::sync::{self, SyncPoint};

/// Rows per batch when a shipped database takes in the local rows (Swift's 1000).
const MERGE_BATCH: usize = 1000;

/// What one kind of database (account or container) brings to the broker.
pub trait Kind: Sized + Send + Sync + 'static {
    /// The stat row's table (`<db_type>_stat` in Swift).
    const STAT_TABLE: &'static str;
    /// The table of rows (Swift's `db_contains_type`: `container`, `object`).
    const ROW_TABLE: &'static str;
    /// The columns [`Kind::read_row`] reads, ROWID first.
    const ROW_COLS: &'static str;
    /// The stat column counting live rows (Swift's `<contains>_count`).
    const COUNT_COLUMN: &'static str;
    /// The tables of this kind (the sync tables are the broker's).
    const SCHEMA: &'static str;
    /// Metadata keys `delete_db` keeps (lower case).
    const KEEP_ON_DELETE: &'static [&'static str] = &[];
    /// The row column reclaim compares with its age: a deleted row older
    /// than that goes.
    const RECLAIM_BY: &'static str;

    /// A stored row, as replication reads and sends it (Swift's dicts).
    type Row: Clone + Serialize + DeserializeOwned + Send + 'static;
    /// A row update, as servers and replication apply it.
    type Update: Send + 'static;
    /// The stat row as the servers read it.
    type Info: Send + 'static;

    /// A row from [`Kind::ROW_COLS`].
    fn read_row(r: &rusqlite::Row) -> rusqlite::Result<Self::Row>;
    /// A row's ROWID.
    fn row_id(row: &Self::Row) -> i64;
    /// The update that merges `row` (from a replica) in.
    fn row_update(row: &Self::Row) -> Self::Update;
    /// Applies updates, newest wins per name; stats and hash follow.
    fn apply_updates(tx: &Transaction, updates: &[Self::Update]) -> DbResult<()>;
    /// The incoming sync point a merged batch reaches: its last row's
    /// ROWID, as Swift's container broker has it.
    fn merged_point(rows: &[Self::Row]) -> Option<i64> {
        rows.last().map(Self::row_id)
    }
    /// The stat row.
    fn info(tx: &Transaction) -> DbResult<Self::Info>;
    /// Swift's `_is_deleted`.
    fn is_deleted(info: &Self::Info) -> bool;
    /// Swift's `get_replication_info` for this kind: the stat row as a JSON
    /// object, with `metadata` as its JSON text, `max_row` and `count`.
    fn replication_dict(info: &Self::Info) -> serde_json::Value;
    /// Drops these (deleted, old) rows.
    fn drop_rows(tx: &Transaction, rows: &[Self::Row]) -> DbResult<()>;
    /// Swift's `_newid`: what else changes when a shipped copy becomes a
    /// replica of its own.
    fn after_newid(_tx: &Transaction) -> DbResult<()> {
        Ok(())
    }
    /// Brings a database written by an older swirl up to date on open.
    fn upgrade(_file: &DbFile) -> DbResult<()> {
        Ok(())
    }
}

/// An open database of kind `K`.
pub struct Broker<K: Kind> {
    pub(super) file: DbFile,
    group: GroupCommit<K::Update>,
}

/// A timestamp column's value (an unreadable one counts as 0).
pub(crate) fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap_or_default()
}

/// A new database id (UUID-shaped), unique per path and moment.
fn new_db_id(path: &Path) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let d = md5::compute(format!("{}-{nanos}-{}", path.display(), std::process::id()));
    let h = format!("{d:x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

impl<K: Kind> Broker<K> {
    /// Creates the database (if absent): the kind's schema, the sync
    /// tables, and the stat row `insert_stat` writes with the new id.
    /// Returns whether this call created it.
    pub(super) fn create(
        path: &Path,
        insert_stat: impl FnOnce(&Transaction, &str) -> DbResult<()>,
    ) -> DbResult<bool> {
        let id = new_db_id(path);
        DbFile::create(path, |tx| {
            tx.execute_batch(K::SCHEMA)?;
            sync::create_tables(tx)?;
            insert_stat(tx, &id)
        })
    }

    /// Opens an existing database; `NotFound` when the file is absent.
    pub fn open(path: &Path) -> DbResult<Self> {
        let file = DbFile::open(path)?;
        K::upgrade(&file)?;
        Ok(Broker {
            file,
            group: GroupCommit::default(),
        })
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// The stat row.
    pub fn info(&self) -> DbResult<K::Info> {
        self.file.read(K::info)
    }

    /// What replication compares and sends (ids, hash, max row, times).
    pub fn replication_info(&self) -> DbResult<ReplicationInfo> {
        self.file.read(|tx| {
            let mut info = tx
                .prepare_cached(&format!(
                    "SELECT id, hash, created_at, put_timestamp, delete_timestamp,
                        status_changed_at, {}, metadata FROM {}",
                    K::COUNT_COLUMN,
                    K::STAT_TABLE
                ))?
                .query_row([], |r| {
                    Ok((
                        ReplicationInfo {
                            id: r.get(0)?,
                            hash: r.get(1)?,
                            created_at: r.get(2)?,
                            put_timestamp: r.get(3)?,
                            delete_timestamp: r.get(4)?,
                            status_changed_at: r.get(5)?,
                            count: r.get(6)?,
                            metadata: Metadata::new(),
                            max_row: -1,
                        },
                        r.get::<_, String>(7)?,
                    ))
                })?;
            info.0.metadata = metadata::parse(&info.1)?;
            info.0.max_row = max_row::<K>(tx)?;
            Ok(info.0)
        })
    }

    /// Applies row updates through group commit: returns once the
    /// transaction holding them has committed.
    pub fn put_rows(&self, updates: Vec<K::Update>) -> DbResult<()> {
        self.group.submit(updates, |rows| self.commit_rows(rows))
    }

    /// Queues row updates for group commit without blocking; `done` is
    /// called once the transaction holding them has committed. Returns true
    /// when no commit is running: the caller must then run
    /// [`Broker::commit_queued`] on a thread that may block.
    pub fn enqueue_rows(&self, updates: Vec<K::Update>, done: Done) -> DbResult<bool> {
        self.group.enqueue(updates, done)
    }

    /// Leads group commit: commits queued updates, batch after batch, until
    /// none arrive for a moment.
    pub fn commit_queued(&self) {
        self.group.lead(|rows| self.commit_rows(rows));
    }

    fn commit_rows(&self, rows: Vec<K::Update>) -> DbResult<()> {
        self.file.write(|tx| K::apply_updates(tx, &rows))
    }

    /// Raises put_timestamp to `t` if newer.
    pub fn update_put_timestamp(&self, t: &str) -> DbResult<()> {
        self.file.write(|tx| {
            let cur: String = tx.query_row(
                &format!("SELECT put_timestamp FROM {}", K::STAT_TABLE),
                [],
                |r| r.get(0),
            )?;
            if ts(&cur) < ts(t) {
                tx.execute(
                    &format!("UPDATE {} SET put_timestamp = ?1", K::STAT_TABLE),
                    [t],
                )?;
            }
            Ok(())
        })
    }

    /// Sets status_changed_at.
    pub fn update_status_changed_at(&self, t: &str) -> DbResult<()> {
        self.file.write(|tx| {
            tx.execute(
                &format!("UPDATE {} SET status_changed_at = ?1", K::STAT_TABLE),
                [t],
            )?;
            Ok(())
        })
    }

    /// Swift's `merge_timestamps` (replication): earliest created_at, latest
    /// put and delete timestamps; status_changed_at moves when that flips the
    /// deleted state.
    pub fn merge_timestamps(&self, created_at: &str, put: &str, delete: &str) -> DbResult<()> {
        self.file.write(|tx| {
            let before = K::is_deleted(&K::info(tx)?);
            tx.execute(
                &format!(
                    "UPDATE {} SET created_at = MIN(?1, created_at),
                        put_timestamp = MAX(?2, put_timestamp),
                        delete_timestamp = MAX(?3, delete_timestamp)",
                    K::STAT_TABLE
                ),
                params![created_at, put, delete],
            )?;
            if K::is_deleted(&K::info(tx)?) != before {
                tx.execute(
                    &format!("UPDATE {} SET status_changed_at = ?1", K::STAT_TABLE),
                    [Timestamp::now().internal()],
                )?;
            }
            Ok(())
        })
    }

    /// Merges metadata updates (newest per key wins), optionally validated.
    pub fn update_metadata(&self, updates: &Metadata, validate: bool) -> DbResult<()> {
        self.file.write(|tx| {
            let mut md = read_metadata::<K>(tx)?;
            if metadata::merge(&mut md, updates) {
                if validate {
                    metadata::validate(&md)?;
                }
                write_metadata::<K>(tx, &md)?;
            }
            Ok(())
        })
    }

    /// Swift's `delete_db`: blanks metadata (but the kind's keepers) and
    /// marks the database deleted at `t` unless it already is at a later time.
    pub fn delete_db(&self, t: &str) -> DbResult<()> {
        self.file.write(|tx| {
            let mut md = read_metadata::<K>(tx)?;
            let cleared: Metadata = md
                .keys()
                .filter(|k| !K::KEEP_ON_DELETE.contains(&k.to_ascii_lowercase().as_str()))
                .map(|k| (k.clone(), (String::new(), t.to_string())))
                .collect();
            metadata::merge(&mut md, &cleared);
            write_metadata::<K>(tx, &md)?;
            let del: String = tx.query_row(
                &format!("SELECT delete_timestamp FROM {}", K::STAT_TABLE),
                [],
                |r| r.get(0),
            )?;
            if ts(&del) < ts(t) {
                tx.execute(
                    &format!(
                        "UPDATE {} SET delete_timestamp = ?1, status = 'DELETED',
                            status_changed_at = ?1",
                        K::STAT_TABLE
                    ),
                    [t],
                )?;
            }
            Ok(())
        })
    }

    /// Rows with ROWID above `since`, oldest first (deleted ones too): what
    /// replication sends.
    pub fn get_items_since(&self, since: i64, limit: usize) -> DbResult<Vec<K::Row>> {
        self.file.read(|tx| items_since::<K>(tx, since, limit))
    }

    /// Merges rows from a replica (one request, one transaction: no group
    /// commit) and raises the incoming sync point for `source`.
    pub fn merge_items(&self, rows: &[K::Row], source: Option<&str>) -> DbResult<()> {
        let updates: Vec<K::Update> = rows.iter().map(K::row_update).collect();
        let point = K::merged_point(rows);
        self.file.write(|tx| {
            K::apply_updates(tx, &updates)?;
            if let (Some(src), Some(point)) = (source, point) {
                sync::raise(tx, true, src, point)?;
            }
            Ok(())
        })
    }

    /// Sync points of one direction.
    pub fn get_syncs(&self, incoming: bool) -> DbResult<Vec<SyncPoint>> {
        self.file.read(|tx| sync::get_all(tx, incoming))
    }

    /// The sync point recorded for `remote_id`, or -1.
    pub fn get_sync(&self, remote_id: &str, incoming: bool) -> DbResult<i64> {
        self.file.read(|tx| sync::get(tx, incoming, remote_id))
    }

    /// Merges sync points (each only raised).
    pub fn merge_syncs(&self, points: &[SyncPoint], incoming: bool) -> DbResult<()> {
        self.file.write(|tx| {
            for p in points {
                sync::raise(tx, incoming, &p.remote_id, p.sync_point)?;
            }
            Ok(())
        })
    }

    /// Swift's `reclaim`: drops deleted rows and blanked metadata older than
    /// `age`, and sync rows not updated since `sync_age`. Returns the rows
    /// dropped.
    pub fn reclaim(&self, age: Timestamp, sync_age: Timestamp) -> DbResult<usize> {
        self.file.write(|tx| {
            let old = tx
                .prepare_cached(&format!(
                    "SELECT {} FROM {} WHERE deleted = 1 AND {} < ?1",
                    K::ROW_COLS,
                    K::ROW_TABLE,
                    K::RECLAIM_BY
                ))?
                .query_map([age.internal()], K::read_row)?
                .collect::<Result<Vec<_>, _>>()?;
            K::drop_rows(tx, &old)?;
            let mut md = read_metadata::<K>(tx)?;
            if metadata::reclaim(&mut md, age) {
                write_metadata::<K>(tx, &md)?;
            }
            sync::reclaim(tx, sync_age)?;
            Ok(old.len())
        })
    }

    /// Swift's `newid`: gives the database a new id, as a copy shipped from
    /// replica `remote_id` must before it becomes a replica of its own; it
    /// is in sync with its sender up to its last row.
    pub fn newid(&self, remote_id: &str) -> DbResult<()> {
        let id = new_db_id(self.path());
        self.file.write(|tx| {
            tx.execute(&format!("UPDATE {} SET id = ?1", K::STAT_TABLE), [&id])?;
            sync::set(tx, true, remote_id, max_row::<K>(tx)?)?;
            K::after_newid(tx)
        })
    }

    /// Writes a consistent copy of the database to `dest` (absent before),
    /// a self-contained file ready to ship to another replica (see
    /// [`DbFile::snapshot`]).
    pub fn snapshot(&self, dest: &Path) -> DbResult<()> {
        self.file.snapshot(dest)
    }

    /// Closes the database as one self-contained file (see [`DbFile::close`]).
    pub fn close(self) -> DbResult<()> {
        self.file.close()
    }

    /// Swift's `complete_rsync`: makes the database another replica
    /// (`remote_id`) shipped whole to `shipped` this replica's database at
    /// `dest`: a new id, then moved into place. `AlreadyExists` when `dest`
    /// (or a WAL file of a database there) exists: the shipped file stays.
    pub fn install_shipped(shipped: &Path, dest: &Path, remote_id: &str) -> DbResult<()> {
        if dest.exists() || wal_files(dest).iter().any(|p| p.exists()) {
            return Err(DbError::AlreadyExists(dest.display().to_string()));
        }
        let b = Self::open(shipped)?;
        // A file of another kind or schema fails here, not once in place.
        b.info()?;
        b.newid(remote_id)?;
        b.close()?;
        let dir = dest
            .parent()
            .ok_or_else(|| DbError::Invalid(format!("no parent dir: {}", dest.display())))?;
        std::fs::create_dir_all(dir)?;
        rename_noreplace(shipped, dest)?;
        fsync_dir(dir)
    }

    /// Swift's `rsync_then_merge`: this replica takes the copy replica
    /// `remote_id` shipped whole to `shipped` in place of its own database,
    /// after merging its own rows, incoming sync points and metadata into
    /// the copy and giving the copy a new id. The copy replaces this
    /// database's content in one transaction (see [`DbFile::replace_with`]),
    /// so open handles stay valid and no write is lost: rows written
    /// during the bulk merge are merged again under the write lock.
    pub fn rsync_then_merge(&self, shipped: &Path, remote_id: &str) -> DbResult<()> {
        let new = Self::open(shipped)?;
        new.info()?;
        let mut point = -1;
        loop {
            let rows = self.get_items_since(point, MERGE_BATCH)?;
            let Some(last) = rows.last() else { break };
            point = K::row_id(last);
            new.merge_items(&rows, None)?;
        }
        self.file.replace_with(&new.file, |tx| {
            loop {
                let rows = items_since::<K>(tx, point, MERGE_BATCH)?;
                let Some(last) = rows.last() else { break };
                point = K::row_id(last);
                new.merge_items(&rows, None)?;
            }
            new.merge_syncs(&sync::get_all(tx, true)?, true)?;
            new.newid(remote_id)?;
            new.update_metadata(&read_metadata::<K>(tx)?, false)
        })?;
        drop(new);
        for p in std::iter::once(shipped.to_path_buf()).chain(wal_files(shipped)) {
            match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }
}

/// Renames `from` to `to` unless `to` exists (atomically where the
/// filesystem can; `AlreadyExists` otherwise).
fn rename_noreplace(from: &Path, to: &Path) -> DbResult<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::EXIST) => Err(DbError::AlreadyExists(to.display().to_string())),
        // A filesystem without RENAME_NOREPLACE: check, then rename.
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) if !to.exists() => {
            Ok(std::fs::rename(from, to)?)
        }
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
            Err(DbError::AlreadyExists(to.display().to_string()))
        }
        Err(e) => Err(std::io::Error::from(e).into()),
    }
}

/// A name's stored row, live or deleted, within one transaction: two index
/// seeks (`deleted IN (0, 1)` builds a temporary table for the list on
/// every run).
pub(super) struct FindRow<'t, K> {
    live: CachedStatement<'t>,
    deleted: CachedStatement<'t>,
    kind: PhantomData<K>,
}

impl<'t, K: Kind> FindRow<'t, K> {
    pub(super) fn new(tx: &'t Transaction) -> DbResult<Self> {
        let find = |deleted: u8| {
            tx.prepare_cached(&format!(
                "SELECT {} FROM {} WHERE deleted = {deleted} AND name = ?1",
                K::ROW_COLS,
                K::ROW_TABLE
            ))
        };
        Ok(FindRow {
            live: find(0)?,
            deleted: find(1)?,
            kind: PhantomData,
        })
    }

    pub(super) fn get(&mut self, name: &str) -> DbResult<Option<K::Row>> {
        Ok(match self.live.query_row([name], K::read_row).optional()? {
            Some(r) => Some(r),
            None => self.deleted.query_row([name], K::read_row).optional()?,
        })
    }
}

/// The largest ROWID in the row table, or -1.
pub(super) fn max_row<K: Kind>(tx: &Transaction) -> DbResult<i64> {
    Ok(tx
        .prepare_cached(&format!(
            "SELECT IFNULL(MAX(ROWID), -1) FROM {}",
            K::ROW_TABLE
        ))?
        .query_row([], |r| r.get(0))?)
}

fn items_since<K: Kind>(tx: &Transaction, since: i64, limit: usize) -> DbResult<Vec<K::Row>> {
    let mut st = tx.prepare_cached(&format!(
        "SELECT {} FROM {} WHERE ROWID > ?1 ORDER BY ROWID LIMIT ?2",
        K::ROW_COLS,
        K::ROW_TABLE
    ))?;
    let rows = st
        .query_map(params![since, limit as i64], K::read_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn read_metadata<K: Kind>(tx: &Transaction) -> DbResult<Metadata> {
    let text: String = tx.query_row(
        &format!("SELECT metadata FROM {}", K::STAT_TABLE),
        [],
        |r| r.get(0),
    )?;
    metadata::parse(&text)
}

fn write_metadata<K: Kind>(tx: &Transaction, md: &Metadata) -> DbResult<()> {
    tx.execute(
        &format!("UPDATE {} SET metadata = ?1", K::STAT_TABLE),
        [metadata::to_json(md)],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::account::AccountBroker;
    use crate::db::container::tests::upd;
    use crate::db::container::ContainerBroker;
    use crate::db::dbfile::{hash_hex, row_hash};
    use std::sync::Arc;

    fn t(i: u64) -> String {
        format!("{}.00000", 1_600_000_000 + i)
    }

    fn container(dir: &Path, name: &str) -> ContainerBroker {
        let p = dir.join(name);
        assert!(ContainerBroker::initialize(&p, "a", "c", &t(1), 0).unwrap());
        ContainerBroker::open(&p).unwrap()
    }

    fn names(b: &ContainerBroker) -> Vec<String> {
        let mut v: Vec<String> = b
            .get_items_since(-1, 100_000)
            .unwrap()
            .into_iter()
            .filter(|r| !r.deleted)
            .map(|r| r.name)
            .collect();
        v.sort();
        v
    }

    /// The stats and hash a database's rows add up to: a copy is
    /// consistent when its stat row says the same.
    fn consistent(b: &ContainerBroker) -> bool {
        let rows = b.get_items_since(-1, 100_000).unwrap();
        let hash = rows
            .iter()
            .fold(0u128, |h, r| h ^ row_hash(&r.name, &r.created_at));
        let live = rows.iter().filter(|r| !r.deleted).count() as i64;
        let i = b.info().unwrap();
        i.hash == hash_hex(hash) && i.object_count == live
    }

    #[test]
    fn newid_gives_a_new_id_in_sync_with_the_sender() {
        let d = tempfile::tempdir().unwrap();
        let b = container(d.path(), "c.db");
        b.put_rows(vec![upd("o1", &t(2), 1, false), upd("o2", &t(2), 2, false)])
            .unwrap();
        b.reported(&t(2), "0", 2, 3).unwrap();
        // A point above the last row is set down to it, not kept.
        b.merge_syncs(
            &[SyncPoint {
                remote_id: "sender".into(),
                sync_point: 99,
            }],
            true,
        )
        .unwrap();
        let before = b.info().unwrap();
        b.newid("sender").unwrap();
        let after = b.info().unwrap();
        assert_ne!(after.id, before.id);
        assert_eq!(after.id.len(), 36);
        assert_eq!(b.get_sync("sender", true).unwrap(), after.max_row);
        assert_eq!(after.max_row, 2);
        // The copy reports itself to its account afresh.
        assert_eq!(
            (
                after.reported_put_timestamp.as_str(),
                after.reported_object_count
            ),
            ("0", 0)
        );
        assert_eq!((after.hash, after.object_count), (before.hash, 2));

        // An account without rows: in sync up to -1.
        let p = d.path().join("a.db");
        assert!(AccountBroker::initialize(&p, "a", &t(1)).unwrap());
        let a = AccountBroker::open(&p).unwrap();
        let old = a.info().unwrap().id;
        a.newid("other").unwrap();
        assert_ne!(a.info().unwrap().id, old);
        assert_eq!(a.get_sync("other", true).unwrap(), -1);
    }

    #[test]
    fn snapshots_are_consistent_self_contained_copies_while_rows_arrive() {
        let d = tempfile::tempdir().unwrap();
        let b = Arc::new(container(d.path(), "c.db"));
        let writer = {
            let b = b.clone();
            std::thread::spawn(move || {
                for i in 0..300u64 {
                    b.put_rows(vec![upd(&format!("o{i}"), &t(2 + i), 1, i % 7 == 0)])
                        .unwrap();
                }
            })
        };
        let mut sizes = Vec::new();
        for n in 0..6 {
            let dest = d.path().join(format!("snap{n}"));
            b.snapshot(&dest).unwrap();
            // One file, out of WAL mode (header bytes 18-19 are 1 then).
            assert!(wal_files(&dest).iter().all(|p| !p.exists()));
            let header = std::fs::read(&dest).unwrap();
            assert_eq!((header[18], header[19]), (1, 1));
            let copy = ContainerBroker::open(&dest).unwrap();
            assert!(consistent(&copy), "snapshot {n} is consistent");
            assert_eq!(copy.info().unwrap().id, b.info().unwrap().id);
            sizes.push(copy.info().unwrap().max_row);
        }
        writer.join().unwrap();
        assert!(b.snapshot(&d.path().join("snap0")).is_err(), "dest exists");
        let last = d.path().join("last");
        b.snapshot(&last).unwrap();
        let copy = ContainerBroker::open(&last).unwrap();
        assert_eq!(names(&copy), names(&b));
        assert_eq!(copy.info().unwrap().hash, b.info().unwrap().hash);
    }

    #[test]
    fn install_shipped_renews_the_id_and_never_replaces_a_database() {
        let d = tempfile::tempdir().unwrap();
        let sender = container(d.path(), "sender.db");
        sender
            .put_rows(vec![upd("o1", &t(2), 1, false), upd("o2", &t(3), 2, true)])
            .unwrap();
        let sender_id = sender.info().unwrap().id;
        let shipped = d.path().join("tmp").join(&sender_id);
        std::fs::create_dir_all(shipped.parent().unwrap()).unwrap();
        sender.snapshot(&shipped).unwrap();
        let dest = d.path().join("containers/0/abc/hash/hash.db");
        ContainerBroker::install_shipped(&shipped, &dest, &sender_id).unwrap();
        assert!(!shipped.exists());
        assert!(wal_files(&dest).iter().all(|p| !p.exists()));
        let got = ContainerBroker::open(&dest).unwrap();
        let i = got.info().unwrap();
        assert_ne!(i.id, sender_id);
        assert_eq!(i.hash, sender.info().unwrap().hash);
        assert_eq!(got.get_sync(&sender_id, true).unwrap(), i.max_row);
        assert_eq!(names(&got), ["o1"]);

        // A database in place stays; the shipped file stays for the sender
        // to try again (Swift answers 404).
        sender.snapshot(&shipped).unwrap();
        assert!(matches!(
            ContainerBroker::install_shipped(&shipped, &dest, &sender_id),
            Err(DbError::AlreadyExists(_))
        ));
        assert!(shipped.exists());
        assert_eq!(got.info().unwrap().id, i.id);
        // Not a database of this kind: refused before it is put anywhere.
        let junk = d.path().join("tmp/junk");
        let p = d.path().join("acct.db");
        assert!(AccountBroker::initialize(&p, "a", &t(1)).unwrap());
        AccountBroker::open(&p).unwrap().snapshot(&junk).unwrap();
        let elsewhere = d.path().join("containers/0/def/h2/h2.db");
        assert!(ContainerBroker::install_shipped(&junk, &elsewhere, "x").is_err());
        assert!(!elsewhere.exists());
    }

    #[test]
    fn rsync_then_merge_keeps_local_rows_syncs_metadata_and_handles() {
        let d = tempfile::tempdir().unwrap();
        let sender = container(d.path(), "sender.db");
        sender
            .put_rows(
                (0..2500)
                    .map(|i| upd(&format!("s{i:04}"), &t(2), 1, false))
                    .collect(),
            )
            .unwrap();
        sender.put_rows(vec![upd("both", &t(5), 5, false)]).unwrap();
        let local = Arc::new(container(d.path(), "local.db"));
        local
            .put_rows(vec![
                upd("mine", &t(3), 3, false),
                upd("both", &t(9), 9, false),
            ])
            .unwrap();
        local
            .merge_syncs(
                &[SyncPoint {
                    remote_id: "third".into(),
                    sync_point: 7,
                }],
                true,
            )
            .unwrap();
        let md: Metadata = [(
            "X-Container-Meta-Color".to_string(),
            ("blue".to_string(), t(4)),
        )]
        .into_iter()
        .collect();
        local.update_metadata(&md, true).unwrap();
        let local_id = local.info().unwrap().id;
        let sender_id = sender.info().unwrap().id;
        let shipped = d.path().join(&sender_id);
        sender.snapshot(&shipped).unwrap();

        // Rows keep arriving through the open handle meanwhile: none is lost.
        let writer = {
            let local = local.clone();
            std::thread::spawn(move || {
                for i in 0..200u64 {
                    local
                        .put_rows(vec![upd(&format!("w{i:03}"), &t(10 + i), 1, false)])
                        .unwrap();
                }
            })
        };
        local.rsync_then_merge(&shipped, &sender_id).unwrap();
        writer.join().unwrap();

        assert!(!shipped.exists());
        let i = local.info().unwrap();
        assert!(i.id != local_id && i.id != sender_id);
        let sent = sender.info().unwrap().max_row;
        assert!(local.get_sync(&sender_id, true).unwrap() >= sent);
        assert_eq!(local.get_sync("third", true).unwrap(), 7);
        assert_eq!(i.metadata["X-Container-Meta-Color"].0, "blue");
        let got = names(&local);
        assert_eq!(got.len(), 2500 + 2 + 200);
        assert!(got.contains(&"mine".to_string()) && got.contains(&"w199".to_string()));
        let both = local
            .get_items_since(-1, 100_000)
            .unwrap()
            .into_iter()
            .find(|r| r.name == "both")
            .unwrap();
        assert_eq!(both.size, 9, "the newer local row wins");
        assert!(consistent(&local));
        // A fresh open sees what the open handle sees.
        let reopened = ContainerBroker::open(local.path()).unwrap();
        assert_eq!(reopened.info().unwrap().hash, i.hash);
        assert_eq!(names(&reopened), got);
    }
}
