//! Where a database lives: `<devices>/<device>/<datadir>/<part>/<suffix>/<hash>/<hash>.db`
//! with `hash` = Swift's hash_path of `/a` or `/a/c` (`storage_directory` in
//! swift/common/utils), so a Swift replicator and ours agree on file names.

use std::path::{Path, PathBuf};

use swirl_ring::hash::{hash_path, to_hex, HashPathConfig};

/// Which kind of database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Account,
    Container,
}

impl DbKind {
    /// The directory under a device (`accounts` / `containers`).
    pub fn datadir(self) -> &'static str {
        match self {
            DbKind::Account => "accounts",
            DbKind::Container => "containers",
        }
    }

    /// The role name (`account` / `container`).
    pub fn name(self) -> &'static str {
        match self {
            DbKind::Account => "account",
            DbKind::Container => "container",
        }
    }
}

/// Hex hash of an account or container path.
pub fn db_hash(cfg: &HashPathConfig, account: &str, container: Option<&str>) -> String {
    to_hex(&hash_path(cfg, account, container, None))
}

/// The database file for `hash` in `partition` on `device`.
pub fn db_path(devices: &Path, device: &str, kind: DbKind, partition: u32, hash: &str) -> PathBuf {
    let suffix = &hash[hash.len().saturating_sub(3)..];
    // Built in one buffer: this runs for every request a server handles.
    let mut p =
        PathBuf::with_capacity(devices.as_os_str().len() + device.len() + 3 * hash.len() + 32);
    p.push(devices);
    p.push(device);
    p.push(kind.datadir());
    p.push(partition.to_string());
    p.push(suffix);
    p.push(hash);
    p.push(hash);
    p.set_extension("db");
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_shape() {
        let cfg = HashPathConfig::new("", "changeme");
        let h = db_hash(&cfg, "AUTH_test", Some("c"));
        assert_eq!(h.len(), 32);
        let p = db_path(Path::new("/srv/node"), "sdb1", DbKind::Container, 7, &h);
        let want = format!("/srv/node/sdb1/containers/7/{}/{h}/{h}.db", &h[29..]);
        assert_eq!(p.to_str().unwrap(), want);
    }
}
