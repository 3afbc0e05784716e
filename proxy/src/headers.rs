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
/// hop-by-hop, credentials and anything internal, which the gatekeeper already
/// dropped) plus the transaction id and, for writes, the proxy's timestamp.
pub fn to_backend(client: &HeaderMap, txn: &str, ts: Option<Timestamp>) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (k, v) in client {
        let n = k.as_str();
        if HOP.contains(&n)
            || FRAMING.contains(&n)
            || CREDENTIALS.contains(&n)
            || gatekeeper::is_internal(n)
        {
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

/// Sets a header from text, ignoring values that are not valid header text.
pub fn set(h: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        h.insert(n, v);
    }
}

/// Is a header's value one of Swift's "true" words?
pub fn is_true(h: &HeaderMap, name: &str) -> bool {
    get(h, name)
        .map(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "true" | "1" | "yes" | "on" | "t" | "y"
            )
        })
        .unwrap_or(false)
}
