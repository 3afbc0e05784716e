//! One SQLite database file: WAL mode, one writer connection, a small pool of
//! reader connections (WAL readers never wait on the writer), and atomic
//! creation (built under a temp name, fsynced, renamed into place, directory
//! fsynced) so a half-initialised database is never visible.
//!
//! Whole files move between replicas through SQLite's online backup, never a
//! file copy or a rename over a live database: a WAL database's committed
//! state is its file plus its `-wal` file, and a `-wal` left beside a
//! replaced file would be replayed into the wrong database.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags, Statement, Transaction};

use super::error::{DbError, DbResult};
use super::listing::{lower_value, Entry, RangeQuery, Visit};

/// Readers kept open per database; more concurrent readers open and drop extra ones.
const MAX_IDLE_READERS: usize = 4;

/// An open database file.
pub struct DbFile {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

fn lock_err<T>(_: std::sync::PoisonError<T>) -> DbError {
    DbError::Invalid("database lock poisoned".into())
}

fn configure(conn: &Connection, cache_kib: i64) -> DbResult<()> {
    conn.busy_timeout(Duration::from_secs(25))?;
    // WAL: readers do not block the writer; synchronous=FULL: every commit is
    // fsynced, so an acknowledged (committed) batch survives a crash.
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(DbError::Invalid(format!("journal_mode is {mode}, not wal")));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Room for every statement a broker prepares (listing shapes, stats,
    // row merges), so none is parsed again while the connection lives.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

fn open_conn(path: &Path, cache_kib: i64) -> DbResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn, cache_kib)?;
    Ok(conn)
}

/// Copies all of `from` into `to` in one backup step: one snapshot of the
/// source, one transaction in the destination.
fn backup_all(from: &Connection, to: &mut Connection) -> DbResult<()> {
    match Backup::new(from, to)?.step(-1)? {
        StepResult::Done => Ok(()),
        other => Err(DbError::Invalid(format!("backup stopped: {other:?}"))),
    }
}

/// The `-wal` and `-shm` files SQLite keeps beside a database in WAL mode.
pub fn wal_files(path: &Path) -> [PathBuf; 2] {
    ["-wal", "-shm"].map(|s| {
        let mut p = path.as_os_str().to_owned();
        p.push(s);
        PathBuf::from(p)
    })
}

pub(crate) fn fsync_dir(dir: &Path) -> DbResult<()> {
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

impl DbFile {
    /// Opens an existing database; `NotFound` when the file is absent.
    pub fn open(path: &Path) -> DbResult<DbFile> {
        if !path.is_file() {
            return Err(DbError::NotFound(path.display().to_string()));
        }
        let writer = open_conn(path, 16 * 1024)?;
        Ok(DbFile {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// Creates the database at `path` with `init` (schema and first row) unless
    /// it exists. Returns whether this call created it.
    pub fn create(path: &Path, init: impl FnOnce(&Transaction) -> DbResult<()>) -> DbResult<bool> {
        if path.exists() {
            return Ok(false);
        }
        let dir = path
            .parent()
            .ok_or_else(|| DbError::Invalid(format!("no parent dir: {}", path.display())))?;
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("db"),
            rand_suffix()
        ));
        let res = (|| -> DbResult<()> {
            let mut conn = Connection::open(&tmp)?;
            // Build in rollback-journal mode so the temp file is self-contained,
            // then switch to WAL (persistent in the file header).
            let tx = conn.transaction()?;
            init(&tx)?;
            tx.commit()?;
            let _: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
            drop(conn);
            std::fs::File::open(&tmp)?.sync_all()?;
            Ok(())
        })();
        if let Err(e) = res {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        // Whoever renames first wins; a loser's file is dropped.
        if path.exists() {
            let _ = std::fs::remove_file(&tmp);
            return Ok(false);
        }
        std::fs::rename(&tmp, path)?;
        fsync_dir(dir)?;
        Ok(true)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one write transaction (committed, hence fsynced, on Ok).
    pub fn write<T>(&self, f: impl FnOnce(&Transaction) -> DbResult<T>) -> DbResult<T> {
        let mut conn = self.writer.lock().map_err(lock_err)?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` in one read transaction (a consistent snapshot).
    pub fn read<T>(&self, f: impl FnOnce(&Transaction) -> DbResult<T>) -> DbResult<T> {
        self.with_reader(|conn| {
            let tx = conn.transaction()?;
            let out = f(&tx)?;
            tx.finish()?;
            Ok(out)
        })
    }

    /// Runs `f` on a pooled reader connection (outside any transaction).
    fn with_reader<T>(&self, f: impl FnOnce(&mut Connection) -> DbResult<T>) -> DbResult<T> {
        let pooled = self.readers.lock().map_err(lock_err)?.pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => open_conn(&self.path, 8 * 1024)?,
        };
        let out = f(&mut conn)?;
        let mut pool = self.readers.lock().map_err(lock_err)?;
        if pool.len() < MAX_IDLE_READERS {
            pool.push(conn);
        }
        Ok(out)
    }

    /// Writes a consistent copy of the database to `dest` (which must not
    /// exist) as one self-contained file, out of WAL mode and fsynced:
    /// what a replicator ships. The backup reads one snapshot, so writers
    /// go on meanwhile; the copy has the same pages, so two snapshots of a
    /// database differ only where it changed.
    pub fn snapshot(&self, dest: &Path) -> DbResult<()> {
        if dest.exists() {
            return Err(DbError::Invalid(format!("{} exists", dest.display())));
        }
        let res = self.with_reader(|src| {
            let mut out = Connection::open(dest)?;
            backup_all(src, &mut out)?;
            let mode: String =
                out.pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("delete") {
                return Err(DbError::Invalid(format!("snapshot journal_mode is {mode}")));
            }
            out.close().map_err(|(_, e)| e)?;
            std::fs::File::open(dest)?.sync_all()?;
            Ok(())
        });
        if res.is_err() {
            let _ = std::fs::remove_file(dest);
        }
        res
    }

    /// Replaces this database's whole content with `source`'s in one
    /// transaction of this file's writer (SQLite's backup into a live
    /// database): readers see the old content or the new, every open
    /// connection stays valid, and a crash leaves one or the other.
    /// `prepare` runs first, under the same write lock, in a read
    /// transaction of this database, so nothing is written here between
    /// what it reads and the replacement.
    pub fn replace_with<T>(
        &self,
        source: &DbFile,
        prepare: impl FnOnce(&Transaction) -> DbResult<T>,
    ) -> DbResult<T> {
        let mut conn = self.writer.lock().map_err(lock_err)?;
        let out = {
            let tx = conn.transaction()?;
            let out = prepare(&tx)?;
            tx.finish()?;
            out
        };
        let src = source.writer.lock().map_err(lock_err)?;
        backup_all(&src, &mut conn)?;
        Ok(out)
    }

    /// Closes the database as one self-contained file: checkpointed and
    /// out of WAL mode (which needs every other connection to it closed),
    /// then fsynced. A file must be so before it is renamed: its `-wal`
    /// would not follow it.
    pub fn close(self) -> DbResult<()> {
        let DbFile {
            path,
            writer,
            readers,
        } = self;
        drop(readers);
        let conn = writer.into_inner().map_err(lock_err)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("delete") {
            return Err(DbError::Invalid(format!(
                "{}: journal_mode stayed {mode}",
                path.display()
            )));
        }
        conn.close().map_err(|(_, e)| e)?;
        std::fs::File::open(&path)?.sync_all()?;
        Ok(())
    }
}

/// Binds a range scan's bounds (`?1` lower, `?2` upper) to a statement from
/// [`super::listing::range_sql`].
pub fn bind_range(st: &mut Statement, q: &RangeQuery<'_>) -> rusqlite::Result<()> {
    if let Some(lower) = lower_value(q) {
        st.raw_bind_parameter(1, lower)?;
    }
    if let Some(upper) = q.upper {
        st.raw_bind_parameter(2, upper)?;
    }
    Ok(())
}

/// Walks a listing scan's rows (the name in column 0): at most `limit`,
/// each name shown to `visit`, and the rows it takes built by `build` (from
/// the row and its name) into `out`.
pub fn visit_rows<T>(
    mut rows: rusqlite::Rows<'_>,
    limit: usize,
    visit: &mut dyn FnMut(&str) -> Visit,
    out: &mut Vec<Entry<T>>,
    mut build: impl FnMut(&rusqlite::Row, &str) -> DbResult<T>,
) -> DbResult<()> {
    let mut left = limit;
    while left > 0 {
        let Some(r) = rows.next()? else { break };
        left -= 1;
        let name = text(r, 0)?;
        match visit(name) {
            Visit::Take => out.push(Entry::Row(build(r, name)?)),
            Visit::Skip => {}
            Visit::Stop => break,
        }
    }
    Ok(())
}

/// Column `i` of `r` as text, borrowed from SQLite (no copy).
pub fn text<'r>(r: &'r rusqlite::Row, i: usize) -> rusqlite::Result<&'r str> {
    r.get_ref(i)?.as_str().map_err(rusqlite::Error::from)
}

/// A short random-looking suffix for temp names (pid and time suffice: the
/// rename decides the winner anyway).
fn rand_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}-{nanos:x}", std::process::id())
}

/// Swift's `chexor`: the running XOR of `md5(name + "-" + timestamp)` over all
/// rows, order independent, as 32 hex digits.
pub fn chexor(old: &str, name: &str, timestamp: &str) -> String {
    hash_hex(parse_hash(old) ^ row_hash(name, timestamp))
}

/// One row's term of [`chexor`]: `md5(name + "-" + timestamp)`.
pub fn row_hash(name: &str, timestamp: &str) -> u128 {
    let mut ctx = md5::Context::new();
    ctx.consume(name.as_bytes());
    ctx.consume(b"-");
    ctx.consume(timestamp.as_bytes());
    u128::from_be_bytes(ctx.finalize().0)
}

/// A stored hash (32 hex digits; anything else reads as zero).
pub fn parse_hash(hex: &str) -> u128 {
    u128::from_str_radix(hex, 16).unwrap_or(0)
}

/// A hash as stored: 32 lowercase hex digits.
pub fn hash_hex(h: u128) -> String {
    format!("{h:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chexor_matches_swift() {
        // Swift: chexor('0'*32, 'o', '0000000001.00000')
        let zero = "0".repeat(32);
        let h = chexor(&zero, "o", "0000000001.00000");
        let want = format!("{:x}", md5::compute(b"o-0000000001.00000"));
        assert_eq!(h, want);
        assert_eq!(chexor(&h, "o", "0000000001.00000"), zero);
    }

    #[test]
    fn create_is_atomic_and_idempotent() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x/y.db");
        let init = |tx: &Transaction| -> DbResult<()> {
            tx.execute_batch("CREATE TABLE t (a INTEGER)")?;
            Ok(())
        };
        assert!(DbFile::create(&p, init).unwrap());
        assert!(!DbFile::create(&p, init).unwrap());
        let db = DbFile::open(&p).unwrap();
        db.write(|tx| {
            tx.execute("INSERT INTO t VALUES (1)", [])?;
            Ok(())
        })
        .unwrap();
        let n: i64 = db
            .read(|tx| Ok(tx.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(n, 1);
        assert!(matches!(
            DbFile::open(&d.path().join("nope.db")),
            Err(DbError::NotFound(_))
        ));
    }
}
