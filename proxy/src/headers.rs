//! Header plumbing between the client and the storage servers: which client
//! headers travel to the backends, which backend headers reach the client.

use http::{HeaderMap, HeaderName, HeaderValue};
use swirl_common::Timestamp;

use crate::middleware::gatekeeper;

/// Hop-by-hop and per-connection headers never forwarded in either direction.
const HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
];

/// Request framing headers the proxy sets itself on backend requests.
const FRAMING: [&str; 3] = ["content-length", "host", "expect"];

/// Client credentials: the backends must never see them.
const CREDENTIALS: [&str; 4] = [
    "x-auth-token",
    "x-storage-token",
    "x-service-token",
    "authorization",
];

/// The headers a backend request starts from: the client's own (minus
/// hop-by-hop and credentials) plus the transaction id and, for writes, the proxy's timestamp.
pub fn to_backend(client: &HeaderMap, txn: &str, ts: Option<Timestamp>) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (k, v) in client {
        let n = k.as_str();
        // Internal headers here were put by the proxy itself: the
        // gatekeeper already removed every client-sent one.
        if HOP.contains(&n) || FRAMING.contains(&n) || CREDENTIALS.contains(&n) {
            continue;
        }
        out.append(k.clone(), v.clone());
    }
    if let Ok(v) = HeaderValue::from_str(txn) {
        out.insert("x-trans-id", v);
    }
    if let Some(ts) = ts {
        if let Ok(v) = HeaderValue::from_str(&ts.internal()) {
            out.insert("x-timestamp", v);
        }
    }
    out.insert("user-agent", HeaderValue::from_static("proxy-server swirl"));
    out
}

/// The headers of a backend response that the client gets: no hop-by-hop
/// headers, nothing internal (content-length is set again by the caller).
pub fn to_client(backend: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (k, v) in backend {
        let n = k.as_str();
        if HOP.contains(&n) || gatekeeper::is_internal(n) || n == "x-trans-id" {
            continue;
        }
        out.append(k.clone(), v.clone());
    }
    out
}

/// A header's value as text.
pub fn get<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// A header's value as UTF-8 (names in X-Copy-From or Destination may be
/// sent unquoted, as raw UTF-8 bytes).
pub fn get_utf8(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        .map(str::to_string)
}

/// Sets a header from text, ignoring values that are not valid header text.
pub fn set(h: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        h.insert(n, v);
    }
}

/// A query parameter's value, percent-decoded (`+` is a space), as swob's
/// `req.params` gives it: the last occurrence wins, a bare `name` is "".
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut found = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if decode(k) == name {
            found = Some(decode(v));
        }
    }
    found
}

/// Is a header's value one of Swift's "true" words?
pub fn is_true(h: &HeaderMap, name: &str) -> bool {
    get(h, name).is_some_and(is_true_value)
}

/// Swift's `config_true_value` of a text.
pub fn is_true_value(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "on" | "t" | "y"
    )
}

/// Swift's `transfer_headers`: `X-Remove-<Type>-Meta-Foo` (and, for
/// containers, `X-Remove-Container-Read` etc.) become the header itself with
/// an empty value, which is how the storage servers delete metadata.
pub fn apply_removals(h: &mut HeaderMap, server_type: &str) {
    let meta = format!("x-remove-{server_type}-meta-");
    let extra: &[&str] = if server_type == "container" {
        &[
            "x-remove-container-read",
            "x-remove-container-write",
            "x-remove-container-sync-key",
            "x-remove-container-sync-to",
            "x-remove-versions-location",
            "x-remove-history-location",
        ]
    } else {
        &[]
    };
    let names: Vec<String> = h
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| k.starts_with(&meta) || extra.contains(&k.as_str()))
        .collect();
    for n in names {
        h.remove(n.as_str());
        set(h, &n.replacen("-remove", "", 1), "");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removals() {
        let mut h = HeaderMap::new();
        set(&mut h, "x-remove-container-meta-color", "x");
        set(&mut h, "x-remove-container-read", "x");
        set(&mut h, "x-remove-account-meta-a", "x");
        apply_removals(&mut h, "container");
        assert_eq!(get(&h, "x-container-meta-color"), Some(""));
        assert_eq!(get(&h, "x-container-read"), Some(""));
        assert!(h.get("x-remove-container-read").is_none());
        assert_eq!(get(&h, "x-remove-account-meta-a"), Some("x"));
    }

    #[test]
    fn query_params() {
        let q = Some("a=1&bulk-delete&multipart-manifest=get&a=2&p=x%2Fy+z");
        assert_eq!(query_param(q, "a").as_deref(), Some("2"));
        assert_eq!(query_param(q, "bulk-delete").as_deref(), Some(""));
        assert_eq!(query_param(q, "multipart-manifest").as_deref(), Some("get"));
        assert_eq!(query_param(q, "p").as_deref(), Some("x/y z"));
        assert_eq!(query_param(q, "nope"), None);
        assert_eq!(query_param(None, "a"), None);
    }
}
