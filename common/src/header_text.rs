//! Headers that Swift reads as text. hyper hands header values over as raw
//! bytes, and a reader that asks for `&str` gets nothing back from a value
//! that is not UTF-8: `X-Copy-From: c/\xff` would read as no X-Copy-From at
//! all and turn a copy into an empty PUT. So every role checks these names
//! once, at its request entry point, and refuses such a value with 400
//! instead of letting it be read as absent.
//!
//! User metadata (`X-*-Meta-*`) is not listed: Swift stores those bytes as
//! they come.

use http::HeaderMap;

use crate::backend_headers as bh;

/// The headers whose value must be UTF-8 (lower case): the public ones the
/// proxy interprets and the backend ones the storage servers interpret.
pub const TEXT_HEADERS: &[&str] = &[
    // Copies and their sources and destinations.
    "x-copy-from",
    "x-copy-from-account",
    "destination",
    "destination-account",
    // Conditional and ranged requests.
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "range",
    // What a container or object is.
    "content-type",
    "content-length",
    "etag",
    "x-storage-policy",
    "x-versions-location",
    "x-history-location",
    "x-versions-mode",
    "x-object-manifest",
    "x-static-large-object",
    "x-symlink-target",
    "x-symlink-target-account",
    "x-delete-at",
    "x-delete-after",
    "x-detect-content-type",
    "x-container-read",
    "x-container-write",
    "x-container-sync-to",
    "x-container-sync-key",
    "x-account-access-control",
    "x-timestamp",
    "x-if-delete-at",
    // Rows and updates between the storage servers.
    "x-size",
    "x-etag",
    "x-content-type",
    "x-object-count",
    "x-bytes-used",
    "x-put-timestamp",
    "x-delete-timestamp",
    bh::STORAGE_POLICY_INDEX,
    bh::STORAGE_POLICY_DEFAULT,
    bh::TIMESTAMP,
    bh::CONTENT_TYPE,
    bh::CONTAINER_PATH,
    bh::QUOTED_CONTAINER_PATH,
    bh::CONTAINER_HOST,
    bh::CONTAINER_DEVICE,
    bh::CONTAINER_PARTITION,
    bh::ACCOUNT_HOST,
    bh::ACCOUNT_DEVICE,
    bh::ACCOUNT_PARTITION,
    bh::DELETE_AT_HOST,
    bh::DELETE_AT_DEVICE,
    bh::DELETE_AT_PARTITION,
    bh::DELETE_AT_CONTAINER,
];

/// A text header whose value is not UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid {0} header: not UTF-8")]
pub struct NotText(pub &'static str);

/// Refuses the first of [`TEXT_HEADERS`] (any of its values) that is not UTF-8.
pub fn check(headers: &HeaderMap) -> Result<(), NotText> {
    for name in TEXT_HEADERS {
        for v in headers.get_all(*name) {
            if std::str::from_utf8(v.as_bytes()).is_err() {
                return Err(NotText(name));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn utf8_passes_and_other_bytes_are_named() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-copy-from",
            HeaderValue::from_bytes("c/ö".as_bytes()).unwrap(),
        );
        h.insert(
            "x-object-meta-raw",
            HeaderValue::from_bytes(b"\xff").unwrap(),
        );
        assert_eq!(check(&h), Ok(()));
        h.append("if-none-match", HeaderValue::from_static("*"));
        h.append(
            "if-none-match",
            HeaderValue::from_bytes(b"\"a\xff\"").unwrap(),
        );
        assert_eq!(check(&h), Err(NotText("if-none-match")));
    }

    #[test]
    fn names_are_lower_case_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for n in TEXT_HEADERS {
            assert_eq!(*n, n.to_ascii_lowercase());
            assert!(seen.insert(*n), "{n} twice");
        }
    }
}
