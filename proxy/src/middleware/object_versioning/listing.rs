//! The listing side of object versioning, pure: a versioned container's
//! entries show their versions' sizes and ETags, `?versions` merges the
//! container's listing with its hidden container's (Swift's
//! `_list_versions`), an account listing adds its hidden containers' bytes
//! (Swift's `AccountContext`), and what a `?versions` request may ask.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value};
use swirl_common::listing_format::ListingItem;
use swirl_common::reserved;

use super::{parse_version, split_version, version_object_name, DELETE_MARKER_CONTENT_TYPE};
use crate::backend::quote_path;
use crate::error::{Error, Result};
use crate::middleware::symlink::target::unquote;

/// Swift's `build_listing`: entries (or subdirs) in name order (stable,
/// reversed on request), at most `limit`.
pub fn build(mut items: Vec<Value>, reverse: bool, limit: usize) -> Vec<Value> {
    let key = |v: &Value| -> String {
        v.get("subdir")
            .or_else(|| v.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    if reverse {
        items.sort_by_key(|v| std::cmp::Reverse(key(v)));
    } else {
        items.sort_by_key(key);
    }
    items.truncate(limit);
    items
}

fn text<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// Swift's `parse_header` of a listing hash: its parameters after the ETag.
fn hash_params(hash: &str) -> String {
    hash.split(';')
        .skip(1)
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some(format!("; {}={}", k.trim().to_ascii_lowercase(), v.trim()))
        })
        .collect()
}

/// A versioned container's entries that are versioning links show the
/// version's size and ETag and are marked `version_symlink`; outside a
/// `?versions` listing their `symlink_path` names the object with its
/// `?version-id`. `location` is the hidden container.
pub fn rewrite_links(
    items: &mut [Value],
    container: &str,
    location: Option<&str>,
    versions_listing: bool,
    api: &str,
) {
    for item in items.iter_mut() {
        let Some(obj) = item.as_object_mut() else {
            continue;
        };
        let (Some(path), Some(etag), Some(bytes)) = (
            obj.get("symlink_path")
                .and_then(Value::as_str)
                .map(str::to_string),
            obj.get("symlink_etag")
                .and_then(Value::as_str)
                .map(str::to_string),
            obj.get("symlink_bytes").and_then(Value::as_i64),
        ) else {
            continue;
        };
        let path = unquote(&path);
        let mut parts = path.trim_start_matches('/').splitn(4, '/');
        let (_, acct, cont, tgt) = (parts.next(), parts.next(), parts.next(), parts.next());
        let (Some(acct), Some(cont), Some(tgt)) = (acct, cont, tgt) else {
            continue;
        };
        if Some(cont) != location {
            continue;
        }
        let params = hash_params(text(&Value::Object(obj.clone()), "hash").unwrap_or(""));
        obj.remove("symlink_etag");
        obj.remove("symlink_bytes");
        obj.insert("bytes".into(), Value::from(bytes));
        obj.insert("version_symlink".into(), Value::Bool(true));
        obj.insert("hash".into(), Value::from(format!("{etag}{params}")));
        if let (Some((name, ts)), false) = (split_version(tgt), versions_listing) {
            let sp = format!(
                "/{api}/{}?version-id={}",
                quote_path(&format!("{acct}/{container}/{name}")),
                ts.internal()
            );
            obj.insert("symlink_path".into(), Value::from(sp));
        }
    }
}

/// A `?versions` request's parameters, checked (Swift's `_list_versions`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct VersionsQuery {
    /// The query of the hidden container's listing.
    pub pairs: Vec<(String, String)>,
    pub reverse: bool,
    pub limit: usize,
}

/// Reads a `?versions` request's parameters (the last of each wins).
pub fn versions_query(params: &[(String, String)], max_limit: usize) -> Result<VersionsQuery> {
    let mut p: BTreeMap<&str, String> = BTreeMap::new();
    for (k, v) in params {
        p.insert(k.as_str(), v.clone());
    }
    if let Some(vm) = p.get("version_marker").cloned() {
        let Some(marker) = p.get("marker").cloned() else {
            return Err(Error::BadRequest(
                "version_marker param requires marker".into(),
            ));
        };
        if vm != "null" {
            let name = parse_version(&vm)
                .and_then(|ts| version_object_name(&marker, &ts))
                .ok_or_else(|| Error::BadRequest("invalid version_marker param".into()))?;
            p.insert("marker", name);
        }
    } else if let Some(m) = p.get("marker").cloned() {
        // Just past every version of the marker's object.
        let prefix = reserved::reserved_name(&[&m, ""])
            .ok_or_else(|| Error::BadRequest("invalid marker param".into()))?;
        p.insert("marker", format!("{prefix}:"));
    }
    let delim = p.get("delimiter").cloned().unwrap_or_default();
    if delim.chars().any(|c| "0123456789.\0".contains(c)) {
        return Err(Error::BadRequest("invalid delimiter param".into()));
    }
    if let Some(prefix) = p.get("prefix").cloned() {
        let r = reserved::reserved_name(&[&prefix])
            .ok_or_else(|| Error::BadRequest("invalid prefix param".into()))?;
        p.insert("prefix", r);
    }
    let reverse = p
        .get("reverse")
        .is_some_and(|r| crate::headers::is_true_value(r));
    let limit = match p.get("limit") {
        Some(l) if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) => {
            let n = l.parse::<usize>().unwrap_or(usize::MAX);
            if n > max_limit {
                return Err(Error::PreconditionFailed(format!(
                    "Maximum limit is {max_limit}"
                )));
            }
            n
        }
        _ => max_limit,
    };
    let pairs = ["prefix", "marker", "limit", "delimiter", "reverse"]
        .iter()
        .map(|k| (k.to_string(), p.get(k).cloned().unwrap_or_default()))
        .collect();
    Ok(VersionsQuery {
        pairs,
        reverse,
        limit,
    })
}

/// Swift's `_list_versions` once both listings are in: the container's
/// own entries (unversioned data is version `null`, links name their
/// versions), the hidden container's versions (None: it is missing), in
/// one listing. `account` and `location` name the hidden container.
pub fn merge_versions(
    primary: Vec<Value>,
    versions: Option<Vec<Value>>,
    account: &str,
    location: &str,
    q: &VersionsQuery,
) -> Vec<Value> {
    let mut nulls = Vec::new();
    let mut subdirs: Vec<String> = Vec::new();
    let mut current: Vec<(String, Value)> = Vec::new();
    let mut latest: HashSet<String> = HashSet::new();
    for item in primary {
        if let Some(s) = text(&item, "subdir") {
            if !subdirs.iter().any(|d| d == s) {
                subdirs.push(s.to_string());
            }
            continue;
        }
        if item.get("name").is_none() {
            continue;
        }
        if item.get("version_symlink").and_then(Value::as_bool) == Some(true) {
            let path = unquote(text(&item, "symlink_path").unwrap_or(""));
            current.push((path, item));
        } else {
            latest.insert(text(&item, "name").unwrap_or("").to_string());
            let mut m = item.as_object().cloned().unwrap_or_default();
            m.insert("version_id".into(), Value::from("null"));
            m.insert("is_latest".into(), Value::Bool(true));
            nulls.push(Value::Object(m));
        }
    }
    let mut out = nulls;
    match versions {
        None => {
            // No hidden container: what the links say is all there is.
            for (path, item) in &current {
                let linked = path.splitn(5, '/').last().unwrap_or("");
                let Some((name, ts)) = split_version(linked) else {
                    continue;
                };
                let is_latest = latest.insert(name.clone());
                let mut m = Map::new();
                m.insert("name".into(), Value::from(name));
                m.insert("is_latest".into(), Value::Bool(is_latest));
                m.insert("version_id".into(), Value::from(ts.internal()));
                for k in ["content_type", "bytes", "hash", "last_modified"] {
                    m.insert(k.into(), item.get(k).cloned().unwrap_or(Value::Null));
                }
                out.push(Value::Object(m));
            }
        }
        Some(listing) => {
            for mut item in listing {
                if let Some(s) = text(&item, "subdir") {
                    let s = reserved::split_reserved_name(s)
                        .and_then(|p| p.first().map(|f| f.to_string()))
                        .unwrap_or_else(|| s.to_string());
                    if !subdirs.contains(&s) {
                        subdirs.push(s);
                    }
                    continue;
                }
                let Some(vname) = text(&item, "name").map(str::to_string) else {
                    continue;
                };
                let Some((name, ts)) = split_version(&vname) else {
                    continue;
                };
                let path = format!("/v1/{account}/{location}/{vname}");
                let is_latest = if let Some(i) = current.iter().position(|(p, _)| *p == path) {
                    current.remove(i);
                    latest.insert(name.clone());
                    true
                } else if text(&item, "content_type") == Some(DELETE_MARKER_CONTENT_TYPE)
                    && !latest.contains(&name)
                {
                    latest.insert(name.clone());
                    true
                } else {
                    false
                };
                if let Some(m) = item.as_object_mut() {
                    m.insert("is_latest".into(), Value::Bool(is_latest));
                    m.insert("name".into(), Value::from(name));
                    m.insert("version_id".into(), Value::from(ts.internal()));
                }
                out.push(item);
            }
            // Swift reads what links are left as `v1/...` paths, which
            // never split into a version: nothing more is listed.
        }
    }
    out.extend(subdirs.into_iter().map(|s| {
        let mut m = Map::new();
        m.insert("subdir".into(), Value::from(s));
        Value::Object(m)
    }));
    build(out, q.reverse, q.limit)
}

/// Does a `?versions` request accept JSON (swob's `best_match` of
/// `application/json`; no Accept at all takes anything)?
pub fn accepts_json(format: Option<&str>, accept: Option<&str>) -> bool {
    let accept = match format.filter(|f| !f.is_empty()) {
        Some(f) if f.eq_ignore_ascii_case("json") => return true,
        Some(_) => return false,
        None => accept,
    };
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return true;
    };
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q_zero = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                == Some(0.0)
        });
        !q_zero && matches!(media.as_str(), "*/*" | "application/*" | "application/json")
    })
}

/// JSON entries as listing items (for XML and plain text).
pub fn as_items(entries: &[Value]) -> Vec<ListingItem> {
    entries
        .iter()
        .map(|v| match text(v, "subdir") {
            Some(s) => ListingItem::Subdir(s.to_string()),
            None => ListingItem::Object {
                name: text(v, "name").unwrap_or("").to_string(),
                hash: text(v, "hash").unwrap_or("").to_string(),
                bytes: v.get("bytes").and_then(Value::as_i64).unwrap_or(0),
                content_type: text(v, "content_type").unwrap_or("").to_string(),
                last_modified: text(v, "last_modified").unwrap_or("").to_string(),
            },
        })
        .collect()
}

/// Swift's account listing with versioning: each container's bytes count
/// its hidden container's too, and hidden containers whose container is
/// gone are listed (no objects) so their owner sees them.
pub fn merge_account(
    mut listing: Vec<ListingItem>,
    hidden: Vec<ListingItem>,
    reverse: bool,
    limit: usize,
) -> Vec<ListingItem> {
    let mut left: Vec<(String, ListingItem)> = hidden
        .into_iter()
        .filter(|i| matches!(i, ListingItem::Container { .. }))
        .map(|i| (super::versioned_container_of(i.name()), i))
        .collect();
    for item in listing.iter_mut() {
        if let ListingItem::Container { name, bytes, .. } = item {
            if let Some(i) = left.iter().position(|(n, _)| n == name) {
                if let (_, ListingItem::Container { bytes: b, .. }) = left.remove(i) {
                    *bytes += b;
                }
            }
        }
    }
    for (name, item) in left {
        if let ListingItem::Container {
            bytes,
            last_modified,
            ..
        } = item
        {
            listing.push(ListingItem::Container {
                name,
                count: 0,
                bytes,
                last_modified,
            });
        }
    }
    let key = |i: &ListingItem| i.name().to_string();
    if reverse {
        listing.sort_by_key(|i| std::cmp::Reverse(key(i)));
    } else {
        listing.sort_by_key(key);
    }
    listing.truncate(limit);
    listing
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use swirl_common::Timestamp;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn links_show_their_versions() {
        let v = version_object_name("o", &ts("1700000000.00001")).unwrap();
        let path = format!("/v1/AUTH_a/{}", quote_path(&format!("\0versions\0c/{v}")));
        let mut items = vec![
            json!({"name": "o", "hash": "d41d8cd98f00b204e9800998ecf8427e; slo_etag=x", "bytes": 0,
                   "symlink_path": path, "symlink_etag": "abc", "symlink_bytes": 5}),
            json!({"name": "p", "hash": "e", "bytes": 3}),
            json!({"name": "q", "hash": "e", "bytes": 0,
                   "symlink_path": "/v1/AUTH_a/other/x", "symlink_etag": "e", "symlink_bytes": 2}),
        ];
        rewrite_links(&mut items, "c", Some("\0versions\0c"), false, "v1");
        assert_eq!(items[0]["bytes"], json!(5));
        assert_eq!(items[0]["hash"], json!("abc; slo_etag=x"));
        assert_eq!(items[0]["version_symlink"], json!(true));
        assert_eq!(
            items[0]["symlink_path"],
            json!("/v1/AUTH_a/c/o?version-id=1700000000.00001")
        );
        assert!(items[0].get("symlink_etag").is_none());
        assert_eq!(items[1], json!({"name": "p", "hash": "e", "bytes": 3}));
        assert_eq!(items[2]["bytes"], json!(0));
    }

    #[test]
    fn versions_queries() {
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let q = versions_query(&pairs(&[("versions", ""), ("marker", "o")]), 10_000).unwrap();
        assert_eq!(q.pairs[1], ("marker".to_string(), "\0o\0:".to_string()));
        assert_eq!(q.limit, 10_000);
        let q = versions_query(
            &pairs(&[
                ("marker", "o"),
                ("version_marker", "1700000000.00001"),
                ("prefix", "p"),
            ]),
            10_000,
        )
        .unwrap();
        assert_eq!(q.pairs[0], ("prefix".to_string(), "\0p".to_string()));
        assert_eq!(q.pairs[1].1, "\0o\u{0}8299999999.99998");
        let bad = |v: &[(&str, &str)]| versions_query(&pairs(v), 10_000).unwrap_err().to_string();
        assert_eq!(
            bad(&[("version_marker", "1")]),
            "version_marker param requires marker"
        );
        assert_eq!(
            bad(&[("marker", "o"), ("version_marker", "nope")]),
            "invalid version_marker param"
        );
        assert_eq!(bad(&[("delimiter", "1")]), "invalid delimiter param");
        assert!(matches!(
            versions_query(&pairs(&[("limit", "10001")]), 10_000),
            Err(Error::PreconditionFailed(_))
        ));
        let q = versions_query(&pairs(&[("reverse", "on"), ("limit", "2")]), 10_000).unwrap();
        assert!(q.reverse);
        assert_eq!(q.limit, 2);
    }

    #[test]
    fn versions_merged() {
        let t1 = ts("1700000001");
        let t2 = ts("1700000002");
        let v1 = version_object_name("o", &t1).unwrap();
        let v2 = version_object_name("o", &t2).unwrap();
        let link = format!("/v1/AUTH_a/{}", quote_path(&format!("\0versions\0c/{v2}")));
        let primary = vec![
            json!({"name": "a", "hash": "h", "bytes": 1}),
            json!({"name": "o", "hash": "h2", "bytes": 2, "version_symlink": true,
                   "symlink_path": link}),
        ];
        let hidden = vec![
            json!({"name": v2, "hash": "h2", "bytes": 2, "content_type": "t"}),
            json!({"name": v1, "hash": "h1", "bytes": 1, "content_type": "t"}),
        ];
        let q = versions_query(&[], 10_000).unwrap();
        let out = merge_versions(primary.clone(), Some(hidden), "AUTH_a", "\0versions\0c", &q);
        let names: Vec<(String, bool, String)> = out
            .iter()
            .map(|v| {
                (
                    v["name"].as_str().unwrap().to_string(),
                    v["is_latest"].as_bool().unwrap(),
                    v["version_id"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            names,
            vec![
                ("a".to_string(), true, "null".to_string()),
                ("o".to_string(), true, t2.internal()),
                ("o".to_string(), false, t1.internal()),
            ]
        );
        // The hidden container missing: the link alone.
        let out = merge_versions(primary, None, "AUTH_a", "\0versions\0c", &q);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1]["version_id"], json!(t2.internal()));
    }

    #[test]
    fn accept() {
        assert!(accepts_json(None, None));
        assert!(accepts_json(Some("json"), Some("text/plain")));
        assert!(!accepts_json(Some("xml"), None));
        assert!(!accepts_json(Some("plain"), None));
        assert!(!accepts_json(None, Some("text/plain")));
        assert!(!accepts_json(None, Some("foo/bar")));
        assert!(accepts_json(
            None,
            Some("text/plain, application/json;q=0.5")
        ));
        assert!(accepts_json(None, Some("*/*")));
        assert!(!accepts_json(None, Some("application/json;q=0")));
    }

    #[test]
    fn accounts() {
        let c = |n: &str, count: i64, bytes: i64| ListingItem::Container {
            name: n.into(),
            count,
            bytes,
            last_modified: "t".into(),
        };
        let out = merge_account(
            vec![c("a", 1, 10), c("b", 2, 20)],
            vec![c("\0versions\0a", 3, 5), c("\0versions\0z", 1, 7)],
            false,
            10,
        );
        assert_eq!(out, vec![c("a", 1, 15), c("b", 2, 20), c("z", 0, 7)]);
    }
}
