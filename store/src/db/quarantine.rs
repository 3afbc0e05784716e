//! Quarantining a database (Swift's `quarantine_db`): its hash directory
//! moves, whole, from `<dev>/<accounts|containers>/<part>/<suffix>/<hash>`
//! to `<dev>/quarantined/<accounts|containers>/<hash>[-<random>]`, so no
//! server or replicator opens it again and the replicators bring a good
//! copy back from another replica.
//!
//! The move happens under the database's SQLite write lock when the file
//! still takes one: a server's writer that waited for the lock then finds
//! the file gone (`DbFile::write` checks the file's identity) instead of
//! committing into the quarantined copy.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::Rng;
use rusqlite::{Connection, OpenFlags};

use super::placement::DbKind;

/// Where the databases of `kind` on the device at `dev_root` are quarantined.
pub fn quarantine_dir(dev_root: &Path, kind: DbKind) -> PathBuf {
    dev_root.join("quarantined").join(kind.datadir())
}

/// Moves the hash directory of `db_path` (a database of `kind` on the device
/// at `dev_root`) into quarantine; returns where it went.
pub fn quarantine_db(dev_root: &Path, kind: DbKind, db_path: &Path) -> io::Result<PathBuf> {
    let hash_dir = db_path
        .parent()
        .ok_or_else(|| io::Error::other("database path without a directory"))?;
    let qdir = quarantine_dir(dev_root, kind);
    std::fs::create_dir_all(&qdir)?;
    let name = hash_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut dest = qdir.join(&name);
    if dest.exists() {
        let r: u64 = rand::rng().random();
        dest = qdir.join(format!("{name}-{r:016x}"));
    }
    // A damaged file may refuse even the lock; it is moved all the same.
    let held = Connection::open_with_flags(
        db_path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ok()
    .filter(|c| {
        c.busy_timeout(Duration::from_secs(5)).is_ok() && c.execute_batch("BEGIN IMMEDIATE").is_ok()
    });
    let moved = std::fs::rename(hash_dir, &dest);
    if let Some(c) = held {
        let _ = c.execute_batch("ROLLBACK");
    }
    moved?;
    std::fs::File::open(&qdir)?.sync_all()?;
    Ok(dest)
}

/// How many databases of `kind` sit in the quarantine of the device at `dev_root`.
pub fn count(dev_root: &Path, kind: DbKind) -> u64 {
    std::fs::read_dir(quarantine_dir(dev_root, kind))
        .map(|rd| rd.count() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_the_hash_dir_twice_without_clashing() {
        let d = tempfile::tempdir().unwrap();
        let dev = d.path().join("sda");
        let h = "0123456789abcdef0123456789abcdef";
        for _ in 0..2 {
            let dir = dev.join("containers/7/def").join(h);
            std::fs::create_dir_all(&dir).unwrap();
            let db = dir.join(format!("{h}.db"));
            Connection::open(&db)
                .unwrap()
                .execute_batch("CREATE TABLE t (x)")
                .unwrap();
            let q = quarantine_db(&dev, DbKind::Container, &db).unwrap();
            assert!(!dir.exists());
            assert!(q.join(format!("{h}.db")).is_file());
            assert!(q.starts_with(dev.join("quarantined/containers")));
        }
        assert_eq!(count(&dev, DbKind::Container), 2);
        assert_eq!(count(&dev, DbKind::Account), 0);
    }
}
