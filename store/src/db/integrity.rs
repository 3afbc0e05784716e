//! Checking a database file's SQLite structure (the account and container
//! auditors): `PRAGMA quick_check` (pages, b-trees, records; O(N)) or
//! `PRAGMA integrity_check` (also that every index matches its table).
//! A file SQLite calls corrupt or not a database is corrupt; anything else
//! that fails (busy, I/O) says nothing about the file.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::error::{DbError, DbResult};

/// Lines of a failed check kept in the verdict.
const KEEP_LINES: usize = 5;

/// Whether a SQLite error says the file itself is damaged.
fn says_corrupt(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

/// Checks the database at `path`: `Ok(None)` when sound, `Ok(Some(why))`
/// when corrupt (quarantine it), `Err` when the check could not run.
/// `full` runs `integrity_check` instead of `quick_check`.
pub fn check(path: &Path, full: bool) -> DbResult<Option<String>> {
    if !path.is_file() {
        return Err(DbError::NotFound(path.display().to_string()));
    }
    let run = || -> rusqlite::Result<Vec<String>> {
        // Read-write: a database in WAL mode needs its -shm to be read.
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(25))?;
        let pragma = if full {
            "PRAGMA integrity_check"
        } else {
            "PRAGMA quick_check"
        };
        let mut st = conn.prepare(pragma)?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect()
    };
    match run() {
        Ok(lines) if lines.len() == 1 && lines[0] == "ok" => Ok(None),
        Ok(lines) => {
            let mut why: Vec<String> = lines.iter().take(KEEP_LINES).cloned().collect();
            if lines.len() > KEEP_LINES {
                why.push(format!("({} more)", lines.len() - KEEP_LINES));
            }
            Ok(Some(why.join("; ")))
        }
        Err(e) if says_corrupt(&e) => Ok(Some(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    fn make(path: &Path) {
        let c = Connection::open(path).unwrap();
        c.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (name TEXT PRIMARY KEY, v BLOB);")
            .unwrap();
        let tx = c.unchecked_transaction().unwrap();
        for i in 0..2000 {
            tx.execute(
                "INSERT INTO t VALUES (?1, ?2)",
                rusqlite::params![format!("row{i:05}"), vec![i as u8; 100]],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    }

    #[test]
    fn sound_damaged_and_foreign_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.db");
        make(&p);
        assert_eq!(check(&p, false).unwrap(), None);
        assert_eq!(check(&p, true).unwrap(), None);
        // Garbage over a few pages in the middle of the table's b-tree.
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        let len = f.metadata().unwrap().len();
        f.write_all_at(&vec![0xa5; 3 * 4096], len / 2 / 4096 * 4096)
            .unwrap();
        drop(f);
        let why = check(&p, false).unwrap().expect("corrupt");
        assert!(!why.is_empty());
        assert!(check(&p, true).unwrap().is_some());
        // Not a database at all.
        let q = d.path().join("y.db");
        std::fs::write(&q, vec![7u8; 8192]).unwrap();
        assert!(check(&q, false).unwrap().is_some());
        assert!(matches!(
            check(&d.path().join("none.db"), false),
            Err(DbError::NotFound(_))
        ));
    }
}
