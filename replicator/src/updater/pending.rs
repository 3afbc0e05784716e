//! Finding a device's async pendings (Swift's `_iter_async_pendings`): every
//! `async_pending[-N]` directory of a policy the node has, suffix
//! directories in random order, and in each the newest update of each
//! object only: older ones of the same object are stale (a later write
//! replaced them) and are unlinked as they are found. Blocking.

use std::io;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use swirl_store::object::layout::dir_policy;
use tracing::warn;

/// One async pending to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    pub policy: u32,
    /// The update's timestamp (from the file name, `<hash>-<timestamp>`).
    pub hash: String,
    pub timestamp: String,
}

/// What a walk found and did.
#[derive(Debug, Default)]
pub struct Walk {
    pub found: Vec<Found>,
    /// Stale pendings removed.
    pub unlinks: u64,
    /// Unreadable directories, misnamed files.
    pub errors: u64,
}

fn listdir(p: &Path, errors: &mut u64) -> Vec<PathBuf> {
    match std::fs::read_dir(p) {
        Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
        Err(e) => {
            *errors += 1;
            warn!(path = %p.display(), error = %e, "unable to access");
            Vec::new()
        }
    }
}

/// The pendings of the device at `dev` for the `policies` the node has.
pub fn walk(dev: &Path, policies: &[u32]) -> Walk {
    let mut w = Walk::default();
    for dir in listdir(dev, &mut w.errors) {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(policy) = dir_policy("async_pending", &name) else {
            continue;
        };
        if !dir.is_dir() {
            continue;
        }
        if !policies.contains(&policy) {
            warn!(directory = %dir.display(), "async pendings of a policy this node does not have; skipped");
            continue;
        }
        let mut suffixes = listdir(&dir, &mut w.errors);
        suffixes.shuffle(&mut rand::rng());
        for sfx in suffixes {
            if !sfx.is_dir() {
                continue;
            }
            let mut files = listdir(&sfx, &mut w.errors);
            // Newest first: names sort by hash, then timestamp.
            files.sort();
            files.reverse();
            let mut last_hash: Option<String> = None;
            for f in files {
                if !f.is_file() {
                    continue;
                }
                let fname = f
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let Some((hash, ts)) = fname.split_once('-').filter(|(_, t)| !t.contains('-'))
                else {
                    w.errors += 1;
                    warn!(path = %f.display(), "async pending file with an unexpected name");
                    continue;
                };
                if last_hash.as_deref() == Some(hash) {
                    match std::fs::remove_file(&f) {
                        Ok(()) => w.unlinks += 1,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => {
                            w.errors += 1;
                            warn!(path = %f.display(), error = %e, "removing a stale async pending failed");
                        }
                    }
                    continue;
                }
                last_hash = Some(hash.to_string());
                w.found.push(Found {
                    policy,
                    hash: hash.to_string(),
                    timestamp: ts.to_string(),
                    path: f,
                });
            }
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_per_object_and_stale_ones_removed() {
        let d = tempfile::tempdir().unwrap();
        let dev = d.path().join("sda");
        let sfx = dev.join("async_pending").join("abc");
        std::fs::create_dir_all(&sfx).unwrap();
        let h1 = "0000000000000000000000000000aabc";
        let h2 = "1111111111111111111111111111babc";
        for name in [
            format!("{h1}-1700000001.00000"),
            format!("{h1}-1700000002.00000"),
            format!("{h2}-1700000001.00000"),
            "junk".to_string(),
        ] {
            std::fs::write(sfx.join(name), b"{}").unwrap();
        }
        let p1 = dev.join("async_pending-1").join("abc");
        std::fs::create_dir_all(&p1).unwrap();
        std::fs::write(p1.join(format!("{h1}-1700000003.00000")), b"{}").unwrap();
        let p9 = dev.join("async_pending-9").join("abc");
        std::fs::create_dir_all(&p9).unwrap();
        std::fs::write(p9.join(format!("{h1}-1700000003.00000")), b"{}").unwrap();

        let mut w = walk(&dev, &[0, 1]);
        w.found.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(w.unlinks, 1);
        assert_eq!(w.errors, 1);
        let got: Vec<(u32, &str, &str)> = w
            .found
            .iter()
            .map(|f| (f.policy, f.hash.as_str(), f.timestamp.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, h1, "1700000002.00000"),
                (0, h2, "1700000001.00000"),
                (1, h1, "1700000003.00000"),
            ]
        );
        assert!(!sfx.join(format!("{h1}-1700000001.00000")).exists());
        assert!(p9.join(format!("{h1}-1700000003.00000")).exists());
    }
}
