//! Durable, all-or-nothing file creation.
//!
//! Order (Garage's `write_block_inner` with fsync unconditional; Swift's
//! `DiskFileWriter.put`): write the whole file under the device's `tmp/`,
//! `fdatasync` it, create missing parent directories (fsyncing each parent that
//! gained an entry), `rename` it into place, then fsync the destination
//! directory so the new name survives a power cut. Until the rename nothing is
//! visible under `objects/`; a failed or abandoned write is unlinked by `Drop`,
//! and a temp file orphaned by kill -9 lives only in `tmp/` (swept by
//! [`sweep_tmp`] at startup).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use rand::Rng;

/// Prefix of the temp files this module makes (and [`sweep_tmp`] removes).
pub const TMP_PREFIX: &str = "swirl-obj-";

/// A file being written under `tmp/`; unlinked on drop unless committed.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    file: Option<File>,
}

impl TempFile {
    /// Creates a new, exclusive temp file in `tmp_dir` (created if missing).
    pub fn create(tmp_dir: &Path) -> io::Result<Self> {
        if !tmp_dir.is_dir() {
            std::fs::create_dir_all(tmp_dir)?;
        }
        let r: u64 = rand::rng().random();
        let path = tmp_dir.join(format!("{TMP_PREFIX}{r:016x}.tmp"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(TempFile {
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
    /// Missing directories are created first, then the data is synced: the
    /// journal commit that `fdatasync` forces (a new file's blocks) also
    /// carries those mkdirs, so the parents' fsyncs at the end find nothing
    /// left to commit and cost almost nothing. A new object then costs two
    /// journal commits (data, then the rename) rather than one per directory.
    pub fn commit(mut self, dir: &Path, name: &str) -> io::Result<PathBuf> {
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("temp file already closed"))?;
        let grown = create_dirs(dir)?;
        file.sync_data()?;
        drop(file);
        let dest = dir.join(name);
        std::fs::rename(&self.path, &dest)?;
        // Renamed: nothing left for Drop to unlink.
        self.path = PathBuf::new();
        fsync_dir(dir)?;
        for parent in grown {
            fsync_dir(&parent)?;
        }
        Ok(dest)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Writes `bytes` to `dir/name` durably (small files: `.meta`, `.ts`, records).
pub fn write_file(tmp_dir: &Path, dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
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

/// Creates `dir` and missing parents without syncing; returns the directories
/// that gained an entry (deepest first), which the caller must fsync.
fn create_dirs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut grown = Vec::new();
    if dir.is_dir() {
        return Ok(grown);
    }
    if let Some(parent) = dir.parent() {
        let mut above = create_dirs(parent)?;
        match std::fs::create_dir(dir) {
            Ok(()) => grown.push(parent.to_path_buf()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        grown.append(&mut above);
    }
    Ok(grown)
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

    #[test]
    fn commit_and_abandon() {
        let d = tempfile::tempdir().unwrap();
        let tmp = d.path().join("tmp");
        let dest = d.path().join("objects/1/abc/hash");
        let mut t = TempFile::create(&tmp).unwrap();
        t.file().unwrap().write_all(b"x").unwrap();
        let p = t.commit(&dest, "1.data").unwrap();
        assert_eq!(std::fs::read(p).unwrap(), b"x");
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
