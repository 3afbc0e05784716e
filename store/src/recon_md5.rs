//! The md5 sums the recon endpoints report (Swift's `ringmd5` and
//! `swiftconfmd5` checks): `swift-recon --md5` compares them with the sums of
//! its own copies, so a node serving a stale ring shows up.

use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value};

/// The key Swift's CLI looks the `swiftconfmd5` answer up by (its own
/// `SWIFT_CONF_FILE`, fixed at import whatever `--swiftdir` says).
pub const SWIFT_CONF_KEY: &str = "/etc/swift/swift.conf";

/// The hex md5 of a file's bytes, read in chunks as Swift's `md5_hash_for_file`.
pub fn file_md5(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut c = md5::Context::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        c.consume(&buf[..n]);
    }
    Ok(format!("{:x}", c.finalize()))
}

/// `{"<swift_dir>/<name>.ring.gz": md5}` for each of `ring_names` present in
/// `swift_dir` (a missing ring is left out, an unreadable one is null, as
/// Swift's `get_ring_md5`).
pub fn rings(swift_dir: &Path, ring_names: &[String]) -> Value {
    let mut m = Map::new();
    for name in ring_names {
        let path = swift_dir.join(format!("{name}.ring.gz"));
        if !path.exists() {
            continue;
        }
        let v = file_md5(&path).map(Value::String).unwrap_or(Value::Null);
        m.insert(path.display().to_string(), v);
    }
    Value::Object(m)
}

/// `{"/etc/swift/swift.conf": md5}` of `swift_dir/swift.conf` (null when the
/// node has none: swirl's settings live in its TOML files).
pub fn swift_conf(swift_dir: &Path) -> Value {
    let v = file_md5(&swift_dir.join("swift.conf"))
        .map(Value::String)
        .unwrap_or(Value::Null);
    let mut m = Map::new();
    m.insert(SWIFT_CONF_KEY.to_string(), v);
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_present_rings_only() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("object.ring.gz"), b"abc").unwrap();
        let v = rings(d.path(), &["object".into(), "account".into()]);
        let m = v.as_object().unwrap();
        assert_eq!(m.len(), 1);
        let key = d.path().join("object.ring.gz").display().to_string();
        assert_eq!(m[&key], "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(swift_conf(d.path())[SWIFT_CONF_KEY], Value::Null);
    }
}
