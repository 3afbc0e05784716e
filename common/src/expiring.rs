//! The expirer queue's naming (Swift's `swift/obj/expirer.py` and
//! `get_expirer_container`): objects with an X-Delete-At are queued as rows
//! `<delete_at>-<account>/<container>/<object>` of containers named by the
//! day they expire (minus a shard 0-99 of the object's hash path, so one
//! day's queue is spread over 100 containers) in the hidden account
//! `.expiring_objects`. The proxy names the container, the object server
//! queues the row, the expirer reads the queue back. Pure.

use crate::Timestamp;

/// The hidden account of the queue (`AUTO_CREATE_ACCOUNT_PREFIX + 'expiring_objects'`).
pub const ACCOUNT: &str = ".expiring_objects";
/// Swift's `expiring_objects_container_divisor`: one day.
pub const DIVISOR: u64 = 86400;
/// Queue containers per divisor (Swift's `EXPIRER_CONTAINER_PER_DIVISOR`).
pub const CONTAINERS_PER_DIVISOR: u64 = 100;
/// The Content-Type of a queue row.
pub const ROW_CONTENT_TYPE: &str = "text/plain";
/// The ETag of a queue row (MD5 of nothing).
pub const ROW_ETAG: &str = "d41d8cd98f00b204e9800998ecf8427e";

/// Swift's `normalize_delete_at_timestamp`: ten digits, clamped to
/// 0..=9999999999 (so names sort as numbers).
pub fn normalize(t: f64) -> String {
    let v = if t.is_finite() {
        t.clamp(0.0, 9_999_999_999.0) as u64
    } else {
        0
    };
    format!("{v:010}")
}

/// The queue container of an object expiring at `delete_at`, whose hash
/// path (`hash_path(account, container, object)`) is `digest`.
pub fn queue_container(delete_at: u64, digest: &[u8; 16]) -> String {
    let shard = (u128::from_be_bytes(*digest) % u128::from(CONTAINERS_PER_DIVISOR)) as u64;
    let day = delete_at / DIVISOR * DIVISOR;
    normalize(day.saturating_sub(shard) as f64)
}

/// The queue row of an object (Swift's `build_task_obj`).
pub fn task_object(delete_at: u64, account: &str, container: &str, object: &str) -> String {
    format!(
        "{}-{account}/{container}/{object}",
        normalize(delete_at as f64)
    )
}

/// A queue row read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub delete_at: Timestamp,
    pub account: String,
    pub container: String,
    pub object: String,
}

/// Swift's `parse_task_obj`: `<timestamp>-<account>/<container>/<object>`,
/// the object may hold slashes; None for anything else.
pub fn parse_task(name: &str) -> Option<Task> {
    let (ts, target) = name.split_once('-')?;
    let delete_at = Timestamp::parse(ts).ok()?;
    let mut parts = target.splitn(3, '/');
    let (account, container, object) = (parts.next()?, parts.next()?, parts.next()?);
    if account.is_empty() || container.is_empty() || object.is_empty() {
        return None;
    }
    Some(Task {
        delete_at,
        account: account.to_string(),
        container: container.to_string(),
        object: object.to_string(),
    })
}

/// The time a queue container's rows are due from (its name; None when the
/// name is not a timestamp).
pub fn container_time(name: &str) -> Option<Timestamp> {
    Timestamp::parse(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_swifts() {
        assert_eq!(normalize(12.7), "0000000012");
        assert_eq!(normalize(-5.0), "0000000000");
        assert_eq!(normalize(1e12), "9999999999");
        // A digest whose value mod 100 is 42.
        let mut d = [0u8; 16];
        d[15] = 142;
        assert_eq!(queue_container(1_700_000_000, &d), "1699919958");
        let t = task_object(1_700_000_123, "AUTH_a", "c", "d/o");
        assert_eq!(t, "1700000123-AUTH_a/c/d/o");
        let p = parse_task(&t).unwrap();
        assert_eq!(
            (p.account.as_str(), p.container.as_str(), p.object.as_str()),
            ("AUTH_a", "c", "d/o")
        );
        assert_eq!(p.delete_at, Timestamp::parse("1700000123").unwrap());
        assert!(parse_task("1700000123-a/c").is_none());
        assert!(parse_task("x-a/c/o").is_none());
        assert!(parse_task("1700000123-a//o").is_none());
        assert_eq!(
            container_time("1699919958"),
            Timestamp::parse("1699919958").ok()
        );
    }
}
