//! The object rings of the storage policies, read from `swift_dir`, and
//! whether a ring file changed since (Swift's `Ring.has_changed`: a pass that
//! sees a new ring stops, and the next pass follows the new one).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use swirl_ring::RingData;

use crate::error::{Error, Result};

/// The ring file of a policy: `object.ring.gz`, `object-N.ring.gz`.
pub fn ring_path(swift_dir: &Path, policy: u32) -> PathBuf {
    if policy == 0 {
        swift_dir.join("object.ring.gz")
    } else {
        swift_dir.join(format!("object-{policy}.ring.gz"))
    }
}

/// What identifies a ring file's version cheaply: mtime and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    mtime: Option<SystemTime>,
    len: u64,
}

/// A file's stamp (None when it cannot be read).
pub fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        mtime: m.modified().ok(),
        len: m.len(),
    })
}

/// One policy's ring as loaded.
#[derive(Debug, Clone)]
pub struct LoadedRing {
    pub policy: u32,
    pub path: PathBuf,
    pub ring: Arc<RingData>,
    pub stamp: Option<Stamp>,
}

impl LoadedRing {
    /// Reads the ring of `policy`.
    pub fn load(swift_dir: &Path, policy: u32) -> Result<Self> {
        let path = ring_path(swift_dir, policy);
        let err = |message: String| Error::Ring {
            path: path.display().to_string(),
            message,
        };
        let st = stamp(&path);
        let bytes = std::fs::read(&path).map_err(|e| err(e.to_string()))?;
        let ring = swirl_ring::codec::read_ring(&bytes[..]).map_err(|e| err(e.to_string()))?;
        Ok(LoadedRing {
            policy,
            path: path.clone(),
            ring: Arc::new(ring),
            stamp: st,
        })
    }

    /// Whether the file on disk is no longer the one loaded.
    pub fn changed(&self) -> bool {
        stamp(&self.path) != self.stamp
    }
}
