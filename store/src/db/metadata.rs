//! Database metadata: a JSON object `{name: [value, timestamp]}` as Swift
//! stores it in `<type>_stat.metadata`. A key is overwritten only by a newer
//! timestamp; an empty value is a deletion kept until reclaim
//! (`DatabaseBroker.update_metadata` / `_reclaim_metadata` in swift/common/db.py).

use std::collections::BTreeMap;

use swirl_common::constraints::{MAX_META_COUNT, MAX_META_OVERALL_SIZE};
use swirl_common::Timestamp;

use super::error::{DbError, DbResult};

/// Metadata of one database: key -> (value, timestamp).
pub type Metadata = BTreeMap<String, (String, String)>;

/// Parses the stored JSON (empty text is no metadata).
pub fn parse(text: &str) -> DbResult<Metadata> {
    if text.is_empty() {
        return Ok(Metadata::new());
    }
    let v: BTreeMap<String, (String, serde_json::Value)> =
        serde_json::from_str(text).map_err(|e| DbError::Invalid(format!("metadata json: {e}")))?;
    // Old Swift databases may hold numeric timestamps; keep their text form.
    Ok(v.into_iter()
        .map(|(k, (val, ts))| {
            let ts = match ts {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, (val, ts))
        })
        .collect())
}

/// The stored JSON form.
pub fn to_json(md: &Metadata) -> String {
    serde_json::to_string(md).unwrap_or_else(|_| "{}".to_string())
}

fn ts_of(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap_or_default()
}

/// Merges `updates` into `md`, newest timestamp per key winning. Returns true
/// when anything changed.
pub fn merge(md: &mut Metadata, updates: &Metadata) -> bool {
    let mut changed = false;
    for (k, (v, t)) in updates {
        let newer = md.get(k).is_none_or(|(_, old)| ts_of(t) > ts_of(old));
        if newer {
            md.insert(k.clone(), (v.clone(), t.clone()));
            changed = true;
        }
    }
    changed
}

/// Swift's `validate_metadata`: at most 90 user-metadata items and 4096 bytes
/// of names (without the prefix) plus values.
pub fn validate(md: &Metadata) -> DbResult<()> {
    let mut count = 0;
    let mut size = 0;
    for (k, (v, _)) in md {
        let lower = k.to_ascii_lowercase();
        if v.is_empty() {
            continue;
        }
        for prefix in ["x-account-meta-", "x-container-meta-"] {
            if let Some(rest) = lower.strip_prefix(prefix) {
                count += 1;
                size += rest.len() + v.len();
            }
        }
    }
    if count > MAX_META_COUNT {
        return Err(DbError::BadMetadata(format!(
            "Too many metadata items; max {MAX_META_COUNT}"
        )));
    }
    if size > MAX_META_OVERALL_SIZE {
        return Err(DbError::BadMetadata(format!(
            "Total metadata too large; max {MAX_META_OVERALL_SIZE}"
        )));
    }
    Ok(())
}

/// Drops deleted (empty) keys older than `before`. Returns true when any went.
pub fn reclaim(md: &mut Metadata, before: Timestamp) -> bool {
    let n = md.len();
    md.retain(|_, (v, t)| !(v.is_empty() && ts_of(t) < before));
    md.len() != n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(items: &[(&str, &str, &str)]) -> Metadata {
        items
            .iter()
            .map(|(k, v, t)| (k.to_string(), (v.to_string(), t.to_string())))
            .collect()
    }

    #[test]
    fn newest_wins_and_reclaim() {
        let mut md = m(&[("X-Container-Meta-A", "1", "0000000002.00000")]);
        assert!(!merge(
            &mut md,
            &m(&[("X-Container-Meta-A", "0", "0000000001.00000")])
        ));
        assert!(merge(
            &mut md,
            &m(&[("X-Container-Meta-A", "", "0000000003.00000")])
        ));
        assert_eq!(md["X-Container-Meta-A"].0, "");
        let text = to_json(&md);
        assert_eq!(text, r#"{"X-Container-Meta-A":["","0000000003.00000"]}"#);
        assert_eq!(parse(&text).unwrap(), md);
        assert!(!reclaim(&mut md, Timestamp::parse("2").unwrap()));
        assert!(reclaim(&mut md, Timestamp::parse("4").unwrap()));
        assert!(md.is_empty());
    }

    #[test]
    fn limits() {
        let many: Metadata = (0..91)
            .map(|i| {
                (
                    format!("X-Container-Meta-K{i}"),
                    ("v".to_string(), "1".to_string()),
                )
            })
            .collect();
        assert!(validate(&many).is_err());
        let big = m(&[("X-Account-Meta-A", &"x".repeat(4096), "1")]);
        assert!(validate(&big).is_err());
        let sys = m(&[("X-Container-Sysmeta-A", &"x".repeat(5000), "1")]);
        assert!(validate(&sys).is_ok());
    }
}
