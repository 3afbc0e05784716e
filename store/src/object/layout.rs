//! Where things live on a device (Swift's layout):
//!
//! ```text
//! <devices>/<device>/objects/<partition>/<suffix>/<hash>/<timestamp>.{data,meta,ts}
//! <devices>/<device>/objects/<partition>/hashes.json, hashes.invalid, .lock
//! <devices>/<device>/async_pending/<suffix>/<hash>-<timestamp>
//! <devices>/<device>/quarantined/objects/<hash>[-<random>]/
//! <devices>/<device>/tmp/
//! ```
//!
//! That is storage policy 0; policy N uses `objects-N`, `async_pending-N`,
//! `quarantined/objects-N` and `tmp-N` instead (Swift's `get_data_dir`,
//! `get_async_dir`, `get_tmp_dir`), so the policies of one device never share a
//! partition directory and a temp file is renamed within one directory tree.
//!
//! `hash` is Swift's hash path: hex MD5 of prefix + `/a/c/o` + suffix, and the
//! suffix directory is its last three hex digits.

use std::path::{Path, PathBuf};

use swirl_ring::hash::{hash_path_hex, HashPathConfig};

/// The cluster's hash-path secret (`swift_hash_path_prefix` / `_suffix`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HashSecret {
    pub prefix: String,
    pub suffix: String,
}

/// Hex MD5 of Swift's hash path for an object: the ring's own
/// [`swirl_ring::hash::hash_path`], so placement and the on-disk layout can
/// never disagree.
pub fn object_hash(secret: &HashSecret, account: &str, container: &str, object: &str) -> String {
    let cfg = HashPathConfig::new(secret.prefix.as_bytes(), secret.suffix.as_bytes());
    hash_path_hex(&cfg, account, Some(container), Some(object))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// The suffix of a hash: its last three hex digits.
pub fn suffix_of(hash: &str) -> &str {
    &hash[hash.len().saturating_sub(3)..]
}

/// True for a three-hex-digit suffix name.
pub fn is_suffix(s: &str) -> bool {
    s.len() == 3
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Swift's per-policy name (`get_policy_string`): `base` for policy 0,
/// `base-N` for policy N.
pub fn policy_dir(base: &str, policy: u32) -> String {
    if policy == 0 {
        base.to_string()
    } else {
        format!("{base}-{policy}")
    }
}

/// The policy a per-policy directory name belongs to (`split_policy_string`):
/// `tmp` is 0, `tmp-3` is 3, `tmp-03` and `tmpx` are nothing.
pub fn dir_policy(base: &str, name: &str) -> Option<u32> {
    let rest = name.strip_prefix(base)?;
    if rest.is_empty() {
        return Some(0);
    }
    let n: u32 = rest.strip_prefix('-')?.parse().ok()?;
    (n > 0 && policy_dir(base, n) == name).then_some(n)
}

/// Paths of one storage policy on one device.
#[derive(Debug, Clone)]
pub struct DeviceLayout {
    pub root: PathBuf,
    pub policy: u32,
}

impl DeviceLayout {
    pub fn new(devices: &Path, device: &str, policy: u32) -> Self {
        DeviceLayout {
            root: devices.join(device),
            policy,
        }
    }
    pub fn objects(&self) -> PathBuf {
        self.root.join(policy_dir("objects", self.policy))
    }
    pub fn partition(&self, partition: u32) -> PathBuf {
        self.objects().join(partition.to_string())
    }
    pub fn suffix_dir(&self, partition: u32, hash: &str) -> PathBuf {
        self.partition(partition).join(suffix_of(hash))
    }
    pub fn hash_dir(&self, partition: u32, hash: &str) -> PathBuf {
        self.suffix_dir(partition, hash).join(hash)
    }
    pub fn tmp(&self) -> PathBuf {
        self.root.join(policy_dir("tmp", self.policy))
    }
    pub fn async_pending(&self) -> PathBuf {
        self.root.join(policy_dir("async_pending", self.policy))
    }
    pub fn quarantined(&self) -> PathBuf {
        self.root
            .join("quarantined")
            .join(policy_dir("objects", self.policy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_swift() {
        // swift.common.utils.hash_path('a', 'c', 'o') with prefix '' and suffix 'changeme'
        // (md5 of b"/a/c/ochangeme").
        let s = HashSecret {
            prefix: String::new(),
            suffix: "changeme".into(),
        };
        let want = hex(&md5::compute(b"/a/c/ochangeme").0);
        assert_eq!(object_hash(&s, "a", "c", "o"), want);
        assert_eq!(suffix_of(&want), &want[29..]);
        assert!(is_suffix("a0f") && !is_suffix("A0F") && !is_suffix("a0") && !is_suffix("xyz"));
        let l = DeviceLayout::new(Path::new("/srv"), "sda", 0);
        assert_eq!(
            l.hash_dir(7, &want),
            PathBuf::from(format!("/srv/sda/objects/7/{}/{}", &want[29..], want))
        );
    }

    #[test]
    fn policy_dirs_are_swifts() {
        let l = DeviceLayout::new(Path::new("/srv"), "sda", 0);
        assert_eq!(l.tmp(), Path::new("/srv/sda/tmp"));
        assert_eq!(l.async_pending(), Path::new("/srv/sda/async_pending"));
        assert_eq!(l.quarantined(), Path::new("/srv/sda/quarantined/objects"));
        let l = DeviceLayout::new(Path::new("/srv"), "sda", 2);
        assert_eq!(l.partition(9), Path::new("/srv/sda/objects-2/9"));
        assert_eq!(l.tmp(), Path::new("/srv/sda/tmp-2"));
        assert_eq!(l.async_pending(), Path::new("/srv/sda/async_pending-2"));
        assert_eq!(l.quarantined(), Path::new("/srv/sda/quarantined/objects-2"));
        for (name, want) in [
            ("tmp", Some(0)),
            ("tmp-1", Some(1)),
            ("tmp-12", Some(12)),
            ("tmp-0", None),
            ("tmp-01", None),
            ("tmp-", None),
            ("tmp-x", None),
            ("tmpx", None),
            ("objects", None),
        ] {
            assert_eq!(dir_policy("tmp", name), want, "{name}");
        }
    }
}
