//! Finding the databases of one kind on one device (Swift's
//! `roundrobin_datadirs` walk): `<datadir>/<partition>/<suffix>/<hash>/<hash>.db`.
//! Partition, suffix and hash directories left empty are removed on the
//! way, as Swift's walk does (a removed database leaves them behind).

use std::io;
use std::path::{Path, PathBuf};

/// One database found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The partition directory it is in (not necessarily the one its name
    /// hashes to: the replicator checks).
    pub partition: u32,
    pub path: PathBuf,
}

/// A partition directory's number (digits only, as Swift's `looks_like_partition`).
pub fn partition_of(name: &str) -> Option<u32> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

fn dir_names(dir: &Path) -> io::Result<Vec<String>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            v.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    v.sort();
    Ok(v)
}

/// Removes `dir` if it is empty (a non-empty or vanished one stays as is).
fn remove_if_empty(dir: &Path) {
    let _ = std::fs::remove_dir(dir);
}

/// The databases under `datadir` in the partitions `keep` accepts, by
/// partition. A missing `datadir` has none.
pub fn databases(datadir: &Path, keep: impl Fn(u32) -> bool) -> io::Result<Vec<Found>> {
    let parts = match dir_names(datadir) {
        Ok(v) => v,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for p in parts {
        let Some(partition) = partition_of(&p).filter(|n| keep(*n)) else {
            continue;
        };
        let part_dir = datadir.join(&p);
        let suffixes = dir_names(&part_dir)?;
        if suffixes.is_empty() {
            remove_if_empty(&part_dir);
            continue;
        }
        for s in suffixes {
            let suffix_dir = part_dir.join(&s);
            let hashes = dir_names(&suffix_dir)?;
            if hashes.is_empty() {
                remove_if_empty(&suffix_dir);
                continue;
            }
            for h in hashes {
                let hash_dir = suffix_dir.join(&h);
                let db = hash_dir.join(format!("{h}.db"));
                if db.is_file() {
                    out.push(Found {
                        partition,
                        path: db,
                    });
                } else {
                    remove_if_empty(&hash_dir);
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_databases_and_prunes_empty_dirs() {
        let d = tempfile::tempdir().unwrap();
        let dd = d.path().join("containers");
        let mk = |rel: &str| {
            let p = dd.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"").unwrap();
        };
        mk("3/abc/h1abc/h1abc.db");
        mk("3/abc/h2abc/h2abc.db");
        mk("12/def/h3def/h3def.db");
        // A hash dir with only a stray file is kept; empty ones go.
        mk("12/def/h4def/other.tmp");
        std::fs::create_dir_all(dd.join("12/def/h5def")).unwrap();
        std::fs::create_dir_all(dd.join("7/fff")).unwrap();
        std::fs::create_dir_all(dd.join("8")).unwrap();
        std::fs::create_dir_all(dd.join("tmp")).unwrap();
        let found = databases(&dd, |_| true).unwrap();
        let got: Vec<(u32, String)> = found
            .iter()
            .map(|f| {
                (
                    f.partition,
                    f.path.file_name().unwrap().to_string_lossy().into_owned(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (12, "h3def.db".to_string()),
                (3, "h1abc.db".to_string()),
                (3, "h2abc.db".to_string())
            ]
        );
        assert!(!dd.join("12/def/h5def").exists());
        assert!(dd.join("12/def/h4def").exists());
        assert!(!dd.join("7/fff").exists());
        assert!(!dd.join("8").exists());
        assert!(dd.join("tmp").exists(), "not a partition: left alone");
        let only3 = databases(&dd, |p| p == 3).unwrap();
        assert_eq!(only3.len(), 2);
        assert!(databases(&d.path().join("none"), |_| true)
            .unwrap()
            .is_empty());
        assert_eq!(partition_of("0012"), Some(12));
        assert_eq!(partition_of("1a"), None);
    }
}
