//! Where things live on a device (Swift's layout, policy 0):
//!
//! ```text
//! <devices>/<device>/objects/<partition>/<suffix>/<hash>/<timestamp>.{data,meta,ts}
//! <devices>/<device>/objects/<partition>/hashes.json, hashes.invalid, .lock
//! <devices>/<device>/async_pending/<suffix>/<hash>-<timestamp>
//! <devices>/<device>/quarantined/objects/<hash>[-<random>]/
//! <devices>/<device>/tmp/
//! ```
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

/// Paths of one device.
#[derive(Debug, Clone)]
pub struct DeviceLayout {
    pub root: PathBuf,
}

impl DeviceLayout {
    pub fn new(devices: &Path, device: &str) -> Self {
        DeviceLayout {
            root: devices.join(device),
        }
    }
    pub fn objects(&self) -> PathBuf {
        self.root.join("objects")
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
        self.root.join("tmp")
    }
    pub fn async_pending(&self) -> PathBuf {
        self.root.join("async_pending")
    }
    pub fn quarantined(&self) -> PathBuf {
        self.root.join("quarantined").join("objects")
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
        let l = DeviceLayout::new(Path::new("/srv"), "sda");
        assert_eq!(
            l.hash_dir(7, &want),
            PathBuf::from(format!("/srv/sda/objects/7/{}/{}", &want[29..], want))
        );
    }
}
