//! Where an object audit pass got to on one device, so a restarted auditor
//! resumes there instead of from the start (Swift keeps
//! `auditor_status_<type>.json` per device for the same reason). A small
//! JSON file under the device, `auditor_status_ALL.json` or
//! `auditor_status_ZBF.json`, written at most every `checkpoint_interval`
//! and when the auditor stops or the device is done (marked so, and then
//! skipped by a restarted pass); removed from every device once the pass
//! has been through all of them, so the next pass starts from the beginning.
//!
//! The position is the last hash directory audited, in the walk's order
//! (policy, partition number, suffix, hash), which is also the derived
//! order of [`Position`]. Losing the file costs work, never correctness, so
//! it is renamed into place without an fsync.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A hash directory in walk order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Position {
    pub policy: u32,
    pub partition: u32,
    pub suffix: String,
    pub hash: String,
}

/// What the file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last hash directory audited.
    pub position: Position,
    /// Unix time the interrupted pass started on this device.
    pub started: f64,
    /// Files and bytes that pass had checked on this device.
    pub files: u64,
    pub bytes: u64,
    /// The device is done for this pass: a restart skips it until the pass
    /// has been through every device (then every checkpoint is cleared).
    #[serde(default)]
    pub done: bool,
}

/// The checkpoint file of pass `kind` (`ALL` / `ZBF`) on the device at `dev_root`.
pub fn path(dev_root: &Path, kind: &str) -> PathBuf {
    dev_root.join(format!("auditor_status_{kind}.json"))
}

/// The checkpoint at `path`, if there is a readable one.
pub fn load(path: &Path) -> Option<Checkpoint> {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// Writes `cp` to `path` (a temp file renamed over it).
pub fn save(path: &Path, cp: &Checkpoint) -> io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(cp).map_err(io::Error::other)?)?;
    std::fs::rename(&tmp, path)
}

/// Removes the checkpoint (a pass completed).
pub fn clear(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Writes a device's checkpoint no more often than every `every`.
#[derive(Debug)]
pub struct Saver {
    path: PathBuf,
    every: Duration,
    last: Instant,
}

impl Saver {
    pub fn new(path: PathBuf, every: Duration) -> Self {
        Saver {
            path,
            every,
            last: Instant::now(),
        }
    }

    /// Saves `cp` if the last save is `every` old.
    pub fn tick(&mut self, cp: impl FnOnce() -> Checkpoint) -> io::Result<()> {
        if self.last.elapsed() < self.every {
            return Ok(());
        }
        self.last = Instant::now();
        save(&self.path, &cp())
    }

    /// Saves `cp` now (the auditor is stopping).
    pub fn save_now(&mut self, cp: &Checkpoint) -> io::Result<()> {
        self.last = Instant::now();
        save(&self.path, cp)
    }

    pub fn clear(&self) -> io::Result<()> {
        clear(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(policy: u32, partition: u32, suffix: &str, hash: &str) -> Position {
        Position {
            policy,
            partition,
            suffix: suffix.into(),
            hash: hash.into(),
        }
    }

    #[test]
    fn order_round_trip_and_pacing() {
        // Partitions compare as numbers (9 before 10), not names.
        assert!(pos(0, 9, "fff", "z") < pos(0, 10, "000", "a"));
        assert!(pos(0, 10, "fff", "z") < pos(1, 0, "000", "a"));
        assert!(pos(0, 10, "abc", "1") < pos(0, 10, "abc", "2"));
        let d = tempfile::tempdir().unwrap();
        let p = path(d.path(), "ALL");
        assert_eq!(load(&p), None);
        let cp = Checkpoint {
            position: pos(1, 77, "abc", "00abc"),
            started: 1.5,
            files: 10,
            bytes: 1 << 30,
            done: false,
        };
        let mut s = Saver::new(p.clone(), Duration::from_secs(3600));
        // Too soon after the start: nothing written.
        s.tick(|| cp.clone()).unwrap();
        assert_eq!(load(&p), None);
        s.save_now(&cp).unwrap();
        assert_eq!(load(&p), Some(cp.clone()));
        let mut s = Saver::new(p.clone(), Duration::ZERO);
        let mut cp2 = cp.clone();
        cp2.files = 11;
        s.tick(|| cp2.clone()).unwrap();
        assert_eq!(load(&p).unwrap().files, 11);
        s.clear().unwrap();
        s.clear().unwrap();
        assert_eq!(load(&p), None);
        std::fs::write(&p, b"{not json").unwrap();
        assert_eq!(load(&p), None);
    }
}
