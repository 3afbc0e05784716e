//! Swift's account_quotas middleware (`swift/common/middleware/account_quotas.py`,
//! 2.30): `X-Account-Meta-Quota-Bytes` caps the bytes an account stores.
//! Only a reseller admin (a token of `.reseller_admin`) sets or removes it
//! (anyone else: 403; a value that is not a whole number: 400). An object
//! PUT (or copy) that would take the account past it gets 413 "Upload
//! exceeds quota." once the caller is otherwise allowed to write there (the
//! others get their 401/403). As in Swift the check uses the account's
//! stats and the request's Content-Length (a chunked upload counts as 0).

use http::Method;
use serde_json::{json, Map, Value};

use crate::app::{Authorizer, Proxy};
use crate::error::{Error, Result};
use crate::headers;
use crate::middleware::container_quotas::EXCEEDED;
use crate::pipeline::{Filter, Fut, Next, Req};
use crate::router::Endpoint;

/// The account_quotas filter.
pub struct AccountQuotas;

const QUOTA: &str = "x-account-meta-quota-bytes";

/// swob's standard 400 page.
const BAD_QUOTA: &str = "<html><h1>Bad Request</h1><p>The server could not comply with the request since it is either malformed or otherwise incorrect.</p></html>";

impl Filter for AccountQuotas {
    fn call(&self, req: Req, next: Next) -> Fut<'static> {
        let m = &req.ctx.method;
        if *m != Method::PUT && *m != Method::POST || req.account().is_none() {
            return next.run(req);
        }
        Box::pin(async move {
            check(&req, &next).await?;
            next.run(req).await
        })
    }

    fn info(&self, _proxy: &Proxy, out: &mut Map<String, Value>) {
        out.insert("account_quotas".into(), json!({}));
    }
}

/// What a quota header asks for: None (nothing), or the new value ("0"
/// when removed; X-Remove wins).
fn new_quota(req: &Req) -> Option<String> {
    if !matches!(req.endpoint, Endpoint::Account { .. }) {
        return None;
    }
    let h = &req.ctx.headers;
    if headers::get(h, "x-remove-account-meta-quota-bytes").is_some_and(|v| !v.is_empty()) {
        return Some("0".into());
    }
    headers::get_utf8(h, QUOTA)
}

async fn check(req: &Req, next: &Next) -> Result<()> {
    let quota = new_quota(req);
    // Swift's `reseller_request`: tempauth's .reseller_admin group, or
    // keystoneauth's reseller admin role on the token keystoneauth uses.
    let reseller = req.ctx.who.groups.iter().any(|g| g == ".reseller_admin")
        || matches!(&req.ctx.auth, Authorizer::Keystone(Some(id))
            if next.proxy().keystoneauth.is_reseller_admin(id));
    if reseller {
        if quota
            .as_deref()
            .is_some_and(|q| !q.is_empty() && !q.bytes().all(|b| b.is_ascii_digit()))
        {
            // swob's bare HTTPBadRequest: its standard page.
            return Err(Error::BadRequestHtml(BAD_QUOTA.into()));
        }
        return Ok(());
    }
    if quota.is_some() {
        return Err(Error::Forbidden);
    }
    let Endpoint::Object {
        account,
        container,
        object,
    } = &req.endpoint
    else {
        return Ok(());
    };
    if req.ctx.method != Method::PUT {
        return Ok(());
    }
    let proxy = next.proxy();
    let info = proxy.account_info(&req.ctx, account).await?;
    let set = |i: &crate::app::Info| i.header(QUOTA).and_then(|v| v.trim().parse::<i64>().ok());
    if !info.exists() || set(&info).is_none_or(|q| q < 0) {
        return Ok(());
    }
    // Object writes do not clear the cached stats (as in Swift): read them now.
    proxy.info.invalidate(account, None);
    let info = proxy.account_info(&req.ctx, account).await?;
    let Some(quota) = set(&info).filter(|q| *q >= 0) else {
        return Ok(());
    };
    let used: i64 = info
        .header("x-account-bytes-used")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let length: i64 = headers::get(&req.ctx.headers, "content-length")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if quota < used.saturating_add(length) {
        // Only whoever may write there learns of the quota (Swift wraps
        // the authorizer).
        let cinfo = proxy.container_info(&req.ctx, account, container).await?;
        let acl = cinfo.header("x-container-write").map(str::to_string);
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
    Ok(())
}
