//! Swift's container_quotas middleware (`swift/common/middleware/container_quotas.py`).
//! `X-Container-Meta-Quota-Bytes` and `X-Container-Meta-Quota-Count` are
//! ordinary container metadata (so only those who may POST the container,
//! the account's owners, set them); they must be whole numbers. An object
//! PUT (or copy) that would take the container past either gets 413 "Upload
//! exceeds quota." As in Swift the check uses the cached container info and
//! the request's Content-Length (a chunked upload counts as 0 bytes).

use http::{HeaderMap, Method};

use crate::app::Info;
use crate::error::Error;
use crate::headers;
use crate::pipeline::{Filter, Fut, Next, Req};
use crate::router::Endpoint;

/// The container_quotas filter.
pub struct ContainerQuotas;

impl Filter for ContainerQuotas {
    fn call(&self, req: Req, next: Next) -> Fut<'static> {
        let m = &req.ctx.method;
        if *m != Method::PUT && *m != Method::POST {
            return next.run(req);
        }
        Box::pin(async move {
            let m = &req.ctx.method;
            match &req.endpoint {
                Endpoint::Container { .. } if *m == Method::PUT || *m == Method::POST => {
                    validate(&req.ctx.headers).map_err(|m| Error::BadRequest(m.to_string()))?;
                }
                Endpoint::Object {
                    account,
                    container,
                    object,
                } if *m == Method::PUT => {
                    let proxy = next.proxy();
                    let info = proxy.container_info(&req.ctx, account, container).await?;
                    if info.exists() && has_quota(&info) {
                        // The cache is not cleared by object writes (as in
                        // Swift), so a quota is checked against counts read
                        // now, not up to recheck_container_existence ago.
                        proxy.info.invalidate(account, Some(container));
                        let info = proxy.container_info(&req.ctx, account, container).await?;
                        let length = headers::get(&req.ctx.headers, "content-length")
                            .and_then(|v| v.trim().parse().ok());
                        if exceeded(&info, length) {
                            // Whoever could not have written here learns
                            // nothing of the quota (Swift's bad_response).
                            let acl = info.header("x-container-write").map(str::to_string);
                            let mut ctx = req.ctx.clone();
                            proxy
                                .authorize(
                                    &mut ctx,
                                    account,
                                    Some(container),
                                    Some(object),
                                    acl.as_deref(),
                                )
                                .await?;
                            return Err(Error::TooLarge(EXCEEDED.into()));
                        }
                    }
                }
                _ => {}
            }
            next.run(req).await
        })
    }

    fn info(
        &self,
        _proxy: &crate::app::Proxy,
        out: &mut serde_json::Map<String, serde_json::Value>,
    ) {
        out.insert("container_quotas".into(), serde_json::json!({}));
    }
}

const QUOTA_BYTES: &str = "x-container-meta-quota-bytes";
const QUOTA_COUNT: &str = "x-container-meta-quota-count";

/// The 413 body.
pub const EXCEEDED: &str = "Upload exceeds quota.";

fn is_number(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

/// Checks new quota values on a container PUT or POST (empty removes one).
pub fn validate(h: &HeaderMap) -> Result<(), &'static str> {
    let bad = |name: &str| headers::get(h, name).is_some_and(|v| !v.is_empty() && !is_number(v));
    if bad(QUOTA_BYTES) {
        return Err("Invalid bytes quota.");
    }
    if bad(QUOTA_COUNT) {
        return Err("Invalid count quota.");
    }
    Ok(())
}

fn number(info: &Info, name: &str) -> Option<u64> {
    info.header(name).filter(|v| is_number(v))?.parse().ok()
}

/// Does the container carry a quota (so uploads need fresh counts)?
pub fn has_quota(info: &Info) -> bool {
    number(info, QUOTA_BYTES).is_some() || number(info, QUOTA_COUNT).is_some()
}

/// Would an upload of `length` bytes take the container past a quota?
pub fn exceeded(info: &Info, length: Option<u64>) -> bool {
    if let Some(quota) = number(info, QUOTA_BYTES) {
        let used = number(info, "x-container-bytes-used").unwrap_or(0);
        if used.saturating_add(length.unwrap_or(0)) > quota {
            return true;
        }
    }
    if let Some(quota) = number(info, QUOTA_COUNT) {
        let count = number(info, "x-container-object-count").unwrap_or(0);
        if count.saturating_add(1) > quota {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pairs: &[(&str, &str)]) -> Info {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            headers::set(&mut h, k, v);
        }
        Info {
            status: 204,
            headers: h,
        }
    }

    #[test]
    fn quota_values_are_numbers() {
        let h = |k: &str, v: &str| {
            let mut m = HeaderMap::new();
            headers::set(&mut m, k, v);
            m
        };
        assert!(validate(&h(QUOTA_BYTES, "10")).is_ok());
        assert!(validate(&h(QUOTA_BYTES, "")).is_ok());
        assert_eq!(validate(&h(QUOTA_BYTES, "-1")), Err("Invalid bytes quota."));
        assert_eq!(
            validate(&h(QUOTA_COUNT, "1.5")),
            Err("Invalid count quota.")
        );
        assert!(validate(&HeaderMap::new()).is_ok());
    }

    #[test]
    fn uploads_against_quotas() {
        let i = info(&[
            (QUOTA_BYTES, "10"),
            ("x-container-bytes-used", "4"),
            ("x-container-object-count", "1"),
        ]);
        assert!(!exceeded(&i, Some(6)));
        assert!(exceeded(&i, Some(7)));
        assert!(!exceeded(&i, None));
        let c = info(&[(QUOTA_COUNT, "2"), ("x-container-object-count", "1")]);
        assert!(!exceeded(&c, Some(1 << 40)));
        let full = info(&[(QUOTA_COUNT, "1"), ("x-container-object-count", "1")]);
        assert!(exceeded(&full, Some(0)));
        // A quota that is not a number is no quota.
        assert!(!exceeded(&info(&[(QUOTA_BYTES, "lots")]), Some(5)));
        assert!(!exceeded(&info(&[]), Some(u64::MAX)));
    }
}
