//! Swift's etag-quoter middleware (`swift/common/middleware/etag_quoter.py`).
//! RFC 7232 wants ETags in double quotes; Swift sends bare MD5s. Setting
//! `X-Account-Rfc-Compliant-Etags: true` (or `X-Container-...`, which wins
//! over the account) makes object responses quote them. The flag is kept in
//! sysmeta as `True`/`False` (an empty value removes it) and shown to
//! clients under its own name; without either flag, `enable_by_default`
//! decides.

use http::{HeaderMap, Method};

use crate::app::{Ctx, Proxy};
use crate::headers;
use crate::pipeline::{Filter, Fut, Next, Req};
use crate::response::backend_headers;
use crate::router::Endpoint;

/// The etag-quoter filter (early in the pipeline, as Swift's sample says).
pub struct EtagQuoter;

impl Filter for EtagQuoter {
    fn call(&self, mut req: Req, next: Next) -> Fut<'static> {
        if matches!(
            req.endpoint,
            Endpoint::Healthcheck | Endpoint::Info | Endpoint::Auth | Endpoint::Metrics
        ) {
            return next.run(req);
        }
        Box::pin(async move {
            let level = match &req.endpoint {
                Endpoint::Account { .. } => Level::Account,
                Endpoint::Container { .. } => Level::Container,
                Endpoint::Object {
                    account, container, ..
                } => {
                    let (a, c) = (account.clone(), container.clone());
                    let txn = req.ctx.txn.clone();
                    let proxy = next.proxy().clone();
                    let mut resp = next.run(req).await?;
                    let ctx = Ctx::new(&txn, Method::HEAD, HeaderMap::new(), None);
                    Box::pin(apply(&proxy, &ctx, &a, &c, &mut resp)).await;
                    return Ok(resp);
                }
                Endpoint::Healthcheck | Endpoint::Info | Endpoint::Auth | Endpoint::Metrics => {
                    return next.run(req).await
                }
            };
            translate_request(&mut req.ctx.headers, level);
            let mut resp = next.run(req).await?;
            if let Some(b) = backend_headers(&resp) {
                let shown = exposed(b);
                for (k, v) in shown {
                    resp.headers_mut().insert(k, v);
                }
            }
            Ok(resp)
        })
    }

    fn info(&self, proxy: &Proxy, out: &mut serde_json::Map<String, serde_json::Value>) {
        out.insert(
            "etag_quoter".into(),
            serde_json::json!({"enable_by_default": proxy.cfg.etag_quoter.enable_by_default}),
        );
    }
}

/// Account or container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Account,
    Container,
}

impl Level {
    fn client(self) -> &'static str {
        match self {
            Level::Account => "x-account-rfc-compliant-etags",
            Level::Container => "x-container-rfc-compliant-etags",
        }
    }

    fn remove(self) -> &'static str {
        match self {
            Level::Account => "x-remove-account-rfc-compliant-etags",
            Level::Container => "x-remove-container-rfc-compliant-etags",
        }
    }

    fn sysmeta(self) -> &'static str {
        match self {
            Level::Account => "x-account-sysmeta-rfc-compliant-etags",
            Level::Container => "x-container-sysmeta-rfc-compliant-etags",
        }
    }
}

/// Swift's `config_true_value`.
fn is_true(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "on" | "t" | "y"
    )
}

/// Turns a client's flag on an account or container request into sysmeta
/// (after the gatekeeper, which drops any sysmeta the client sent itself).
pub fn translate_request(h: &mut HeaderMap, level: Level) {
    if let Some(v) = headers::get(h, level.client()).map(str::to_string) {
        let stored = if v.is_empty() {
            ""
        } else if is_true(&v) {
            "True"
        } else {
            "False"
        };
        headers::set(h, level.sysmeta(), stored);
    }
    if headers::get(h, level.remove()).is_some_and(|v| !v.is_empty()) {
        headers::set(h, level.sysmeta(), "");
    }
}

/// The stored flags of an account or container response's backend
/// headers, under their client names.
pub fn exposed(backend: &HeaderMap) -> Vec<(http::HeaderName, http::HeaderValue)> {
    let mut out = Vec::new();
    for level in [Level::Account, Level::Container] {
        if let Some(v) = backend.get(level.sysmeta()) {
            out.push((http::HeaderName::from_static(level.client()), v.clone()));
        }
    }
    out
}

/// Whether object ETags are quoted, from the container's flag, else the
/// account's, else the default.
pub fn decide(container: Option<&str>, account: Option<&str>, default: bool) -> bool {
    match container.or(account) {
        Some(v) => is_true(v),
        None => default,
    }
}

/// Quotes a bare ETag (one already quoted, or weak, is left alone).
pub fn quote(h: &mut HeaderMap) {
    let Some(e) = headers::get(h, "etag") else {
        return;
    };
    let quoted = (e.starts_with('"') || e.starts_with("W/\"")) && e.ends_with('"') && e.len() > 1;
    if !quoted {
        let v = format!("\"{e}\"");
        headers::set(h, "etag", &v);
    }
}

/// Applies the middleware to an object response.
pub async fn apply(
    proxy: &Proxy,
    ctx: &Ctx,
    account: &str,
    container: &str,
    resp: &mut http::Response<swirl_common::Body>,
) {
    if resp.headers().get("etag").is_none() {
        return;
    }
    let Ok(cinfo) = proxy.container_info(ctx, account, container).await else {
        return;
    };
    if !cinfo.exists() {
        return;
    }
    let cflag = cinfo.header(Level::Container.sysmeta()).map(str::to_string);
    let aflag = match cflag {
        Some(_) => None,
        None => match proxy.account_info(ctx, account).await {
            Ok(a) if a.exists() => a.header(Level::Account.sysmeta()).map(str::to_string),
            _ => return,
        },
    };
    if decide(
        cflag.as_deref(),
        aflag.as_deref(),
        proxy.cfg.etag_quoter.enable_by_default,
    ) {
        quote(resp.headers_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            headers::set(&mut h, k, v);
        }
        h
    }

    #[test]
    fn flags_become_sysmeta() {
        let mut h = with(&[("x-container-rfc-compliant-etags", "t")]);
        translate_request(&mut h, Level::Container);
        assert_eq!(
            headers::get(&h, "x-container-sysmeta-rfc-compliant-etags"),
            Some("True")
        );
        let mut h = with(&[("x-account-rfc-compliant-etags", "nope")]);
        translate_request(&mut h, Level::Account);
        assert_eq!(
            headers::get(&h, "x-account-sysmeta-rfc-compliant-etags"),
            Some("False")
        );
        let mut h = with(&[("x-container-rfc-compliant-etags", "")]);
        translate_request(&mut h, Level::Container);
        assert_eq!(
            headers::get(&h, "x-container-sysmeta-rfc-compliant-etags"),
            Some("")
        );
        let mut h = with(&[("x-remove-account-rfc-compliant-etags", "1")]);
        translate_request(&mut h, Level::Account);
        assert_eq!(
            headers::get(&h, "x-account-sysmeta-rfc-compliant-etags"),
            Some("")
        );
        let mut h = with(&[("x-container-meta-x", "1")]);
        translate_request(&mut h, Level::Container);
        assert_eq!(h.len(), 1);
        let r = with(&[("x-container-sysmeta-rfc-compliant-etags", "True")]);
        let shown = exposed(&r);
        assert_eq!(shown.len(), 1);
        assert_eq!(shown[0].0.as_str(), "x-container-rfc-compliant-etags");
        assert_eq!(shown[0].1, "True");
    }

    #[test]
    fn container_wins_over_account() {
        assert!(decide(Some("True"), None, false));
        assert!(!decide(Some("False"), Some("True"), true));
        assert!(decide(None, Some("True"), false));
        assert!(!decide(None, None, false));
        assert!(decide(None, None, true));
    }

    #[test]
    fn quoting() {
        let q = |e: &str| {
            let mut h = with(&[("etag", e)]);
            quote(&mut h);
            headers::get(&h, "etag").unwrap().to_string()
        };
        assert_eq!(q("abc"), "\"abc\"");
        assert_eq!(q("\"abc\""), "\"abc\"");
        assert_eq!(q("W/\"abc\""), "W/\"abc\"");
        assert_eq!(q("\""), "\"\"\"");
        let mut none = HeaderMap::new();
        quote(&mut none);
        assert!(none.is_empty());
    }
}
