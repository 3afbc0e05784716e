//! Swift's gatekeeper: clients may not send (nor see) backend headers and
//! system metadata; those are for the proxy and the storage servers only.

use http::HeaderMap;
use swirl_common::backend_headers as bh;

use crate::pipeline::{Filter, Fut, Next, Req};

/// The gatekeeper filter: internal headers are stripped from the request
/// on the way in and from the response (or error) on the way out.
pub struct Gatekeeper;

impl Filter for Gatekeeper {
    fn call(&self, mut req: Req, next: Next) -> Fut<'static> {
        Box::pin(async move {
            strip_inbound(&mut req.ctx.headers);
            match next.run(req).await {
                Ok(mut r) => {
                    strip(r.headers_mut());
                    Ok(r)
                }
                Err(mut e) => {
                    if let Some(h) = e.headers_mut() {
                        strip(h);
                    }
                    Err(e)
                }
            }
        })
    }
}

const PREFIXES: [&str; 5] = [
    "x-account-sysmeta-",
    "x-container-sysmeta-",
    "x-object-sysmeta-",
    "x-object-transient-sysmeta-",
    "x-backend",
];

const EXACT: [&str; 11] = [
    bh::ACCOUNT_HOST,
    bh::ACCOUNT_DEVICE,
    bh::ACCOUNT_PARTITION,
    bh::CONTAINER_HOST,
    bh::CONTAINER_DEVICE,
    bh::CONTAINER_PARTITION,
    "x-container-root-db-state",
    bh::DELETE_AT_HOST,
    bh::DELETE_AT_DEVICE,
    bh::DELETE_AT_PARTITION,
    bh::DELETE_AT_CONTAINER,
];

/// True for a header the public side must never set or read.
pub fn is_internal(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    PREFIXES.iter().any(|p| n.starts_with(p)) || EXACT.contains(&n.as_str())
}

/// Drops internal headers from a client request. A client's X-Timestamp is
/// dropped too (Swift's `shunt_inbound_x_timestamp`): the proxy stamps writes.
pub fn strip_inbound(headers: &mut HeaderMap) {
    strip(headers);
    headers.remove("x-timestamp");
}

/// Drops internal headers (inbound from clients, outbound to clients).
pub fn strip(headers: &mut HeaderMap) {
    let doomed: Vec<_> = headers
        .keys()
        .filter(|k| is_internal(k.as_str()))
        .cloned()
        .collect();
    for k in doomed {
        headers.remove(k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn strips_internal_only() {
        let mut h = HeaderMap::new();
        for n in [
            "x-backend-storage-policy-index",
            "x-object-sysmeta-foo",
            "x-container-host",
            "x-delete-at-container",
            "x-object-meta-ok",
            "x-delete-at",
            "x-container-read",
        ] {
            h.insert(
                http::HeaderName::from_static(n),
                HeaderValue::from_static("1"),
            );
        }
        strip(&mut h);
        let mut left: Vec<_> = h.keys().map(|k| k.as_str().to_string()).collect();
        left.sort();
        assert_eq!(
            left,
            vec!["x-container-read", "x-delete-at", "x-object-meta-ok"]
        );
    }
}
