//! Durable, all-or-nothing file creation.
//!
//! Order (Garage's `write_block_inner` with syncs unconditional; Swift's
//! `DiskFileWriter.put`): write the whole file under the device's `tmp/`,
//! create missing parent directories, make the data durable, `rename` it into
//! place, then make the new name (and the new directories) durable. Until the
//! rename nothing is visible under `objects/`; a failed or abandoned write is
//! unlinked by `Drop`, and a temp file orphaned by kill -9 lives only in
//! `tmp/` (swept by [`sweep_tmp`] at startup).
//!
//! For small files both syncs go through the filesystem's group commit
//! ([`FsSync`]): one `syncfs` serves every writer waiting at that moment. A
//! file larger than [`GROUP_SYNC_MAX`] syncs alone (`fdatasync`, then an
//! fsync of each directory that gained an entry), as its data dominates the
//! cost anyway and a syncfs would wait for other uploads' writeback too.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::Rng;

use super::fs_sync::FsSync;

/// Prefix of the temp files this module makes (and [`sweep_tmp`] removes).
pub const TMP_PREFIX: &str = "swirl-obj-";

/// Files up to this size are made durable through the group commit.
pub const GROUP_SYNC_MAX: u64 = 1 << 20;

/// A file being written under `tmp/`; unlinked on drop unless committed.
pub struct TempFile {
    path: PathBuf,
    file: Option<File>,
    group: Arc<FsSync>,
}

impl std::fmt::Debug for TempFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempFile")
            .field("path", &self.path)
            .finish()
    }
}

/// Where a committed file went.
#[derive(Debug)]
pub struct Committed {
    pub path: PathBuf,
    /// The file's directory was created by this commit (so it holds nothing
    /// else to clean up).
    pub new_dir: bool,
}

impl TempFile {
    /// Creates a new, exclusive temp file in `tmp_dir` (created if missing).
    pub fn create(tmp_dir: &Path) -> io::Result<Self> {
        let r: u64 = rand::rng().random();
        let path = tmp_dir.join(format!("{TMP_PREFIX}{r:016x}.tmp"));
        let open = || OpenOptions::new().write(true).create_new(true).open(&path);
        let file = match open() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir_all(tmp_dir)?;
                open()?
            }
            other => other?,
        };
        Ok(TempFile {
            group: FsSync::for_dir(tmp_dir)?,
            path,
            file: Some(file),
        })
    }

    /// The open file.
    pub fn file(&mut self) -> io::Result<&mut File> {
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("temp file already closed"))
    }

    /// Makes the file durable and gives it its final name `dir/name`.
    ///
    /// Missing directories are created before the first sync, so it carries
    /// them too and the second one has only the rename left to write.
    pub fn commit(mut self, dir: &Path, name: &str) -> io::Result<Committed> {
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("temp file already closed"))?;
        let grown = create_dirs(dir)?;
        // A large file syncs alone: a syncfs would also wait for the
        // writeback of every other large upload in flight.
        let alone = file.metadata()?.len() > GROUP_SYNC_MAX;
        if alone {
            file.sync_data()?;
        } else {
            self.group.sync()?;
        }
        drop(file);
        let dest = dir.join(name);
        rename_into(&self.path, dir, &dest)?;
        // Renamed: nothing left for Drop to unlink.
        self.path = PathBuf::new();
        if alone {
            fsync_dir(dir)?;
            for parent in &grown {
                fsync_dir(parent)?;
            }
        } else {
            self.group.sync()?;
        }
        Ok(Committed {
            path: dest,
            new_dir: grown
                .first()
                .is_some_and(|p| Some(p.as_path()) == dir.parent()),
        })
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Commits many temp files at once (a replication batch): every file's data
/// is made durable, then all are renamed, then the renames are made durable,
/// with one filesystem sync per step instead of two per file. Each entry is
/// `(file, dir, name)`; on an error some files may have been renamed
/// (each is whole: the data was durable before any rename).
pub fn commit_batch(files: Vec<(TempFile, PathBuf, String)>) -> io::Result<Vec<Committed>> {
    let mut groups: Vec<Arc<FsSync>> = Vec::new();
    let mut staged = Vec::with_capacity(files.len());
    for (mut t, dir, name) in files {
        let file = t
            .file
            .take()
            .ok_or_else(|| io::Error::other("temp file already closed"))?;
        let grown = create_dirs(&dir)?;
        if file.metadata()?.len() > GROUP_SYNC_MAX {
            file.sync_data()?;
        } else if !groups.iter().any(|g| Arc::ptr_eq(g, &t.group)) {
            groups.push(t.group.clone());
        }
        staged.push((t, dir, name, grown));
    }
    for g in &groups {
        g.sync()?;
    }
    let mut out = Vec::with_capacity(staged.len());
    let mut after: Vec<Arc<FsSync>> = Vec::new();
    for (mut t, dir, name, grown) in staged {
        let dest = dir.join(&name);
        rename_into(&t.path, &dir, &dest)?;
        t.path = PathBuf::new();
        if !after.iter().any(|g| Arc::ptr_eq(g, &t.group)) {
            after.push(t.group.clone());
        }
        out.push(Committed {
            path: dest,
            new_dir: grown
                .first()
                .is_some_and(|p| Some(p.as_path()) == dir.parent()),
        });
    }
    // One sync of the filesystem makes every rename and new directory durable.
    for g in &after {
        g.sync()?;
    }
    Ok(out)
}

/// Writes `bytes` to `dir/name` durably (small files: `.meta`, `.ts`, records).
pub fn write_file(tmp_dir: &Path, dir: &Path, name: &str, bytes: &[u8]) -> io::Result<Committed> {
    use std::io::Write;
    let mut t = TempFile::create(tmp_dir)?;
    t.file()?.write_all(bytes)?;
    t.commit(dir, name)
}

/// fsyncs a directory, making entries created or renamed in it durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and missing parents; each parent that gains an entry is
/// fsynced so the new directory survives a crash.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    for parent in create_dirs(dir)? {
        fsync_dir(&parent)?;
    }
    Ok(())
}

/// Renames `from` to `dest` in `dir`. Between the directory's creation and
/// the rename (a sync apart), a cleanup may remove it as empty (a rehash
/// dropping an empty hash or suffix directory, a handoff partition
/// removed): then it is made again and the rename retried, as Swift's
/// `renamer` does. The new directories are made durable by the caller's
/// sync after the rename, which covers the whole filesystem or `dir`'s
/// parents already fsynced; a recreated directory is fsynced here.
fn rename_into(from: &Path, dir: &Path, dest: &Path) -> io::Result<()> {
    let mut tries = 0;
    loop {
        match std::fs::rename(from, dest) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 5 && from.exists() => {
                tries += 1;
                tracing::warn!(dir = %dir.display(), "directory removed before a rename into it; made again");
                for parent in create_dirs(dir)? {
                    fsync_dir(&parent)?;
                }
            }
            other => return other,
        }
    }
}

/// Creates `dir` and missing parents without syncing; returns the directories
/// that gained an entry (deepest first), which the caller must fsync. A
/// parent removed as empty between its creation and its child's (a rehash
/// dropping a new suffix directory) is made again.
fn create_dirs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    // Directories that gained an entry in attempts that failed: fsynced too.
    let mut earlier: Vec<PathBuf> = Vec::new();
    let mut tries = 0;
    loop {
        let mut made = Vec::new();
        match create_dirs_once(dir, &mut made) {
            Ok(()) => {
                for p in earlier {
                    if !made.contains(&p) {
                        made.push(p);
                    }
                }
                return Ok(made);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 5 => {
                tries += 1;
                earlier.append(&mut made);
            }
            Err(e) => return Err(e),
        }
    }
}

/// One attempt of [`create_dirs`]; `grown` gets what gained an entry, also
/// when it fails.
fn create_dirs_once(dir: &Path, grown: &mut Vec<PathBuf>) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    let mut above = Vec::new();
    let r = create_dirs_once(parent, &mut above).and_then(|()| match std::fs::create_dir(dir) {
        Ok(()) => {
            grown.push(parent.to_path_buf());
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    });
    grown.append(&mut above);
    r
}

/// Removes this module's temp files from `tmp_dir` (orphans of a killed
/// process). Returns how many were removed. Run before serving a device.
pub fn sweep_tmp(tmp_dir: &Path) -> io::Result<usize> {
    let rd = match std::fs::read_dir(tmp_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut n = 0;
    for entry in rd {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            std::fs::remove_file(entry.path())?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A hash directory removed (as empty, by a rehash) after the commit
    /// made it and before the rename: the file still lands, in the
    /// directory made again.
    #[test]
    fn rename_survives_its_directory_removed() {
        let d = tempfile::tempdir().unwrap();
        let tmp = d.path().join("tmp");
        let dir = d.path().join("objects/7/abc/hash");
        let mut t = TempFile::create(&tmp).unwrap();
        t.file().unwrap().write_all(b"body").unwrap();
        create_dirs(&dir).unwrap();
        std::fs::remove_dir(&dir).unwrap();
        std::fs::remove_dir(dir.parent().unwrap()).unwrap();
        let dest = dir.join("1.data");
        rename_into(&t.path, &dir, &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"body");
        // A missing source is still an error.
        let gone = tmp.join("nothing");
        assert!(rename_into(&gone, &dir, &dir.join("2.data")).is_err());
    }

    #[test]
    fn commit_and_abandon() {
        let d = tempfile::tempdir().unwrap();
        let tmp = d.path().join("tmp");
        let dest = d.path().join("objects/1/abc/hash");
        let mut t = TempFile::create(&tmp).unwrap();
        t.file().unwrap().write_all(b"x").unwrap();
        let c = t.commit(&dest, "1.data").unwrap();
        assert_eq!(std::fs::read(&c.path).unwrap(), b"x");
        assert!(c.new_dir, "the hash directory was made by this commit");
        let mut t = TempFile::create(&tmp).unwrap();
        t.file().unwrap().write_all(b"y").unwrap();
        assert!(!t.commit(&dest, "2.data").unwrap().new_dir);
        // Large files sync their own data, and land the same way.
        let mut t = TempFile::create(&tmp).unwrap();
        let big = vec![7u8; GROUP_SYNC_MAX as usize + 1];
        t.file().unwrap().write_all(&big).unwrap();
        let c = t.commit(&dest, "3.data").unwrap();
        assert_eq!(std::fs::read(&c.path).unwrap(), big);
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
        // Dropped before commit: nothing left anywhere.
        let mut t = TempFile::create(&tmp).unwrap();
        t.file().unwrap().write_all(b"partial").unwrap();
        drop(t);
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
        // Orphans are swept, other files are not.
        std::fs::write(tmp.join(format!("{TMP_PREFIX}dead.tmp")), b"").unwrap();
        std::fs::write(tmp.join("other"), b"").unwrap();
        assert_eq!(sweep_tmp(&tmp).unwrap(), 1);
        assert!(tmp.join("other").exists());
    }
}
