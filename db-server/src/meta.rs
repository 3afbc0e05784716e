//! Which request headers become database metadata and which metadata goes
//! back out as headers (`is_sys_or_user_meta`, the container server's
//! `save_headers`), with keys in swob's title case.

use http::HeaderMap;
use swirl_store::db::metadata::Metadata;

use crate::error::{Error, Result};
use crate::response::{put, title_case};

/// Container headers stored as given besides metadata (ACLs and sync).
const CONTAINER_SAVE: &[&str] = &[
    "x-container-read",
    "x-container-write",
    "x-container-sync-key",
    "x-container-sync-to",
];

/// `x-<kind>-meta-<something>` or `x-<kind>-sysmeta-<something>`.
pub fn is_sys_or_user_meta(kind: &str, key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [format!("x-{kind}-meta-"), format!("x-{kind}-sysmeta-")]
        .iter()
        .any(|p| k.len() > p.len() && k.starts_with(p.as_str()))
}

fn saved(kind: &str, key: &str) -> bool {
    (kind == "container" && CONTAINER_SAVE.contains(&key.to_ascii_lowercase().as_str()))
        || is_sys_or_user_meta(kind, key)
}

/// The metadata updates a PUT/POST carries, stamped with `ts`.
pub fn from_request(kind: &str, h: &HeaderMap, ts: &str) -> Result<Metadata> {
    let mut md = Metadata::new();
    for (name, value) in h {
        if !saved(kind, name.as_str()) {
            continue;
        }
        let v = std::str::from_utf8(value.as_bytes())
            .map_err(|_| Error::BadMetadata("Metadata must be valid UTF-8".into()))?;
        md.insert(title_case(name.as_str()), (v.to_string(), ts.to_string()));
    }
    Ok(md)
}

/// Adds stored metadata with a value to response headers (accounts show every
/// key; containers only saved ones, as Swift's servers do).
pub fn to_headers(kind: &str, md: &Metadata, h: &mut HeaderMap) {
    for (k, (v, _)) in md {
        if v.is_empty() {
            continue;
        }
        if kind == "account" || saved(kind, k) {
            put(h, k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_headers() {
        assert!(is_sys_or_user_meta("container", "X-Container-Meta-A"));
        assert!(!is_sys_or_user_meta("container", "X-Container-Meta-"));
        assert!(is_sys_or_user_meta("account", "x-account-sysmeta-x"));
        let mut h = HeaderMap::new();
        h.insert("x-container-read", ".r:*".parse().unwrap());
        h.insert("x-container-meta-color", "blue".parse().unwrap());
        h.insert("x-object-meta-no", "x".parse().unwrap());
        h.insert("x-remove-container-meta-color", "x".parse().unwrap());
        let md = from_request("container", &h, "1").unwrap();
        let keys: Vec<&String> = md.keys().collect();
        assert_eq!(keys, ["X-Container-Meta-Color", "X-Container-Read"]);
    }
}
