//! Swift's recon cache files (`<recon_cache_path>/object.recon`, ...): JSON
//! objects the daemons update and the recon endpoint serves. Several daemons
//! write one file, so an update is read-merge-write under a lock, and the
//! new file replaces the old by rename (Swift's `dump_recon_cache`).

use std::fs::OpenOptions;
use std::io;
use std::path::Path;

use serde_json::{Map, Value};

/// The object daemons' file.
pub const OBJECT: &str = "object.recon";
/// The account daemons' file (the account replicator's entry).
pub const ACCOUNT: &str = "account.recon";
/// The container daemons' file (the container replicator's entry).
pub const CONTAINER: &str = "container.recon";

/// Merges `update` into `from`: objects merge key by key, anything else replaces.
pub fn merge(from: &mut Map<String, Value>, update: Map<String, Value>) {
    for (k, v) in update {
        match (from.get_mut(&k), v) {
            (Some(Value::Object(old)), Value::Object(new)) => merge(old, new),
            (_, v) => {
                from.insert(k, v);
            }
        }
    }
}

/// Reads a cache file (empty when missing or unreadable, as Swift's `load_recon_cache`).
pub fn load(path: &Path) -> Map<String, Value> {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default()
}

/// `{key: value}` for each of `keys` from the cache file at `path`, null for
/// a key the file lacks (Swift's `_from_recon_cache`: a check always answers
/// every key it promises).
pub fn pick(path: &Path, keys: &[&str]) -> Value {
    let cache = load(path);
    Value::Object(
        keys.iter()
            .map(|k| (k.to_string(), cache.get(*k).cloned().unwrap_or(Value::Null)))
            .collect(),
    )
}

/// Merges `update` into the cache file at `path`.
pub fn dump(path: &Path, update: Map<String, Value>) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let lock_path = path.with_extension("recon.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).map_err(io::Error::from)?;
    let mut cur = load(path);
    merge(&mut cur, update);
    let tmp = path.with_extension("recon.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec(&Value::Object(cur)).map_err(io::Error::other)?,
    )?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn updates_merge() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c").join(OBJECT);
        let obj = |v: Value| match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        dump(&p, obj(json!({"a": 1, "n": {"x": 1, "y": 2}}))).unwrap();
        dump(&p, obj(json!({"b": 2, "n": {"y": 3}}))).unwrap();
        assert_eq!(
            Value::Object(load(&p)),
            json!({"a": 1, "b": 2, "n": {"x": 1, "y": 3}})
        );
        assert!(load(&d.path().join("none")).is_empty());
    }
}
