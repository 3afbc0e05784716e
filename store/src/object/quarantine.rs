//! Quarantine: a hash directory holding a corrupt file is moved, whole, out of
//! `objects[-N]/` into `quarantined/objects[-N]/<hash>[-<random>]` (Swift's
//! `quarantine_renamer`), so it is never served again and replication brings a
//! good copy back. The suffix is invalidated so its hash changes.

use std::io;
use std::path::{Path, PathBuf};

use rand::Rng;

use super::durable::ensure_dir;
use super::layout::DeviceLayout;

/// Moves `hash_dir` of `partition` into quarantine; returns where it went.
pub fn quarantine_hash_dir(
    layout: &DeviceLayout,
    partition: u32,
    hash_dir: &Path,
) -> io::Result<PathBuf> {
    let qdir = layout.quarantined();
    ensure_dir(&qdir)?;
    let name = hash_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut dest = qdir.join(&name);
    if dest.exists() {
        let r: u32 = rand::rng().random();
        dest = qdir.join(format!("{name}-{r:08x}"));
    }
    std::fs::rename(hash_dir, &dest)?;
    super::durable::fsync_dir(&qdir)?;
    if let Some(suffix) = hash_dir.parent().and_then(|p| p.file_name()) {
        super::hashes::invalidate(&layout.partition(partition), &suffix.to_string_lossy())?;
    }
    Ok(dest)
}

/// How many objects sit in the device's quarantine.
pub fn count(layout: &DeviceLayout) -> u64 {
    std::fs::read_dir(layout.quarantined())
        .map(|rd| rd.count() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_whole_dir_and_counts() {
        let d = tempfile::tempdir().unwrap();
        let l = DeviceLayout::new(d.path(), "sda", 0);
        for _ in 0..2 {
            let h = l.hash_dir(3, "00000000000000000000000000000abc");
            std::fs::create_dir_all(&h).unwrap();
            std::fs::write(h.join("x.data"), b"bad").unwrap();
            let q = quarantine_hash_dir(&l, 3, &h).unwrap();
            assert!(!h.exists() && q.join("x.data").exists());
        }
        assert_eq!(count(&l), 2);
        let inv = std::fs::read_to_string(l.partition(3).join("hashes.invalid")).unwrap();
        assert_eq!(inv, "abc\nabc\n");
    }
}
