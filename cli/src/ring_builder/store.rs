//! Reading and writing the files: builder, ring and their backups.
//!
//! Every write is atomic and durable: the bytes go to a temporary file in the
//! target's directory, which is fsynced and renamed over the target, then the
//! directory is fsynced so the rename itself survives a crash. A reader (or a
//! crash) therefore sees the old file or the new one, never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use swirl_ring::builder::RingBuilder;
use swirl_ring::codec::{self, WriteOptions};
use swirl_ring::{builder_file, RingData};

use super::paths::{parent_dir, BuilderPaths};
use super::Fail;

/// Seconds since the Unix epoch (the CLI is the only place that reads the clock).
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Replace `path` with `bytes` atomically (see the module doc).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        // Best effort: do not leave a half-written temp file behind.
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Loads the builder file. `Ok(None)` when it does not exist.
pub fn load_builder(path: &Path) -> Result<Option<RingBuilder>, Fail> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Fail::new(format!(
                "cannot read builder file {}: {e}",
                path.display()
            )))
        }
    };
    builder_file::from_bytes(&bytes).map(Some).map_err(|e| {
        Fail::new(format!(
            "problem reading builder file {}: {e}{}",
            path.display(),
            if bytes.starts_with(&[0x80]) {
                " (it looks like a Swift pickle; swirl reads only its own builder format, \
                 rebuild it from the ring with write_builder)"
            } else {
                ""
            }
        ))
    })
}

/// Serialises the builder, giving it an id first if it has none (as Swift
/// does on save, so ids are persistent from the first write).
pub fn builder_bytes(builder: &mut RingBuilder) -> Result<Vec<u8>, Fail> {
    ensure_id(builder);
    serialise_builder(builder)
}

/// Gives the builder a random id if it has none yet.
pub fn ensure_id(builder: &mut RingBuilder) {
    if !builder.has_id() {
        builder.new_id(&mut ChaCha8Rng::from_os_rng());
    }
}

/// Serialises a builder as it is (see [`builder_bytes`] for the id).
pub fn serialise_builder(builder: &RingBuilder) -> Result<Vec<u8>, Fail> {
    builder_file::to_bytes(builder).map_err(|e| Fail::new(format!("cannot serialise builder: {e}")))
}

/// Atomically writes the builder file.
pub fn save_builder(path: &Path, builder: &mut RingBuilder) -> Result<(), Fail> {
    let bytes = builder_bytes(builder)?;
    write_atomic(path, &bytes)
        .map_err(|e| Fail::new(format!("cannot write {}: {e}", path.display())))
}

/// The ring.gz image Swift would write at `path` in format `format_version`
/// (1 or 2): same bytes, including the gzip header's file name.
pub fn ring_bytes(ring: &RingData, path: &Path, format_version: u8) -> Result<Vec<u8>, Fail> {
    let opts = WriteOptions::for_path(&path.to_string_lossy(), format_version);
    codec::ring_to_bytes(ring, &opts).map_err(|e| Fail::new(format!("cannot encode ring: {e}")))
}

/// Reads a ring.gz file, with the format it was written in.
pub fn load_ring(path: &Path) -> Result<(RingData, WriteOptions), String> {
    let f = File::open(path).map_err(|e| e.to_string())?;
    codec::read_ring_with_options(io::BufReader::new(f)).map_err(|e| e.to_string())
}

/// Writes `bytes` to `backups/<ts>.<name>` (creating `backups/`), then to
/// `file` itself; the backup goes first so a crash never loses the old state
/// without a copy of the new one.
pub fn write_with_backup(
    paths: &BuilderPaths,
    file: &Path,
    bytes: &[u8],
    ts: u64,
) -> Result<(), Fail> {
    write_backup(paths, file, bytes, ts)?;
    write_atomic(file, bytes)
        .map_err(|e| Fail::new(format!("cannot write {}: {e}", file.display())))
}

/// Writes `bytes` to `backups/<ts>.<name>` only (creating `backups/`).
pub fn write_backup(paths: &BuilderPaths, file: &Path, bytes: &[u8], ts: u64) -> Result<(), Fail> {
    let dir = paths.backup_dir();
    fs::create_dir_all(&dir)
        .map_err(|e| Fail::new(format!("cannot create {}: {e}", dir.display())))?;
    let backup = paths.backup_of(file, ts);
    write_atomic(&backup, bytes)
        .map_err(|e| Fail::new(format!("cannot write {}: {e}", backup.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.builder");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f.builder")]);
    }

    #[test]
    fn atomic_write_into_missing_dir_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nope").join("f");
        assert!(write_atomic(&p, b"x").is_err());
    }
}
