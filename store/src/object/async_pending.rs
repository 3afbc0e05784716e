//! Async-pending container updates: when the container server named by a PUT
//! or DELETE cannot be told, the update is saved on the object's device and an
//! updater (`swirl object-updater`) retries it.
//!
//! Path (Swift's): `<device>/async_pending[-N]/<suffix>/<hash>-<timestamp>`
//! (`-N` for storage policy N), where
//! `hash` is the object's hash and `timestamp` the update's X-Timestamp (a later
//! update of the same object gets its own file; a retry of the same one
//! overwrites). Content: JSON, version 1, the fields of Swift's pickle:
//! `{"v":1,"op":"PUT"|"DELETE","account":..,"container":..,"obj":..,
//!   "headers":{"x-timestamp":..,"x-size":..,"x-etag":..,"x-content-type":..,..},
//!   "container_path":null|"a/c"}`, plus the updater's `successes` (ring
//! device ids that took it) and `redirect_history` when not empty. Written
//! durably (temp, fsync, rename, fsync dir).

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::layout::{suffix_of, DeviceLayout};

/// One saved update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsyncUpdate {
    pub v: u32,
    pub op: String,
    pub account: String,
    pub container: String,
    pub obj: String,
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub container_path: Option<String>,
    /// Ids (in the container ring) of the replicas that took it already
    /// (the updater's, so a retry skips them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub successes: Vec<u32>,
    /// Shards the update was redirected to, in order (a loop sends it back
    /// to the root container).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_history: Vec<String>,
}

/// Saves `update` for the object `hash` at `timestamp` (internal form).
pub fn save(
    layout: &DeviceLayout,
    hash: &str,
    timestamp: &str,
    update: &AsyncUpdate,
) -> io::Result<PathBuf> {
    let dir = layout.async_pending().join(suffix_of(hash));
    let bytes = serde_json::to_vec(update).map_err(io::Error::other)?;
    super::durable::write_file(&layout.tmp(), &dir, &format!("{hash}-{timestamp}"), &bytes)
        .map(|c| c.path)
}

/// Every saved update file of the device.
pub fn list(layout: &DeviceLayout) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(layout.async_pending()) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for sfx in rd {
        let sfx = sfx?;
        if !sfx.file_type()?.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(sfx.path())? {
            out.push(f?.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Reads one saved update.
pub fn load(path: &std::path::Path) -> io::Result<AsyncUpdate> {
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_list_load() {
        let d = tempfile::tempdir().unwrap();
        let l = DeviceLayout::new(d.path(), "sda", 0);
        let u = AsyncUpdate {
            v: 1,
            op: "PUT".into(),
            account: "a".into(),
            container: "c".into(),
            obj: "o".into(),
            headers: [("x-size".to_string(), "3".to_string())]
                .into_iter()
                .collect(),
            container_path: None,
            successes: vec![],
            redirect_history: vec![],
        };
        let hash = "0123456789abcdef0123456789abcdef";
        let p = save(&l, hash, "1700000000.00000", &u).unwrap();
        assert!(p.ends_with(format!("async_pending/def/{hash}-1700000000.00000")));
        assert_eq!(list(&l).unwrap(), vec![p.clone()]);
        assert_eq!(load(&p).unwrap(), u);
    }
}
