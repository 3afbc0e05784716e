//! Swift's `keystoneauth` as a pipeline filter: it becomes the authorizer
//! of every account, container and object request (the confirmed identity
//! from authtoken, or anonymous), unless a middleware before it (tempurl)
//! authorized the request and `allow_overrides` lets it. Responses that
//! carry the account's project domain show it as X-Account-Project-Domain-Id.

use std::sync::Arc;

use super::rules::{AccountDomain, KsIdentity, DOMAIN_HEADER, DOMAIN_SYSMETA};
use crate::app::{Authorizer, Ctx, Proxy};
use crate::auth::tempauth::{AuthzRequest, Decision, Identity};
use crate::error::Result;
use crate::headers;
use crate::pipeline::{Filter, Fut, Next, Req};
use crate::response::BackendHeaders;

/// The keystoneauth filter (its rules are `Proxy::keystoneauth`).
pub struct KeystoneAuthFilter;

impl Filter for KeystoneAuthFilter {
    fn call(&self, mut req: Req, next: Next) -> Fut<'static> {
        if req.account().is_none() {
            return next.run(req);
        }
        let overridden = matches!(req.ctx.auth, Authorizer::TempUrl { .. });
        if overridden && next.proxy().keystoneauth.allow_overrides {
            return next.run(req);
        }
        req.ctx.who = Identity::default();
        req.ctx.auth = Authorizer::Keystone(req.ctx.keystone.clone());
        Box::pin(async move {
            let mut resp = next.run(req).await?;
            // The controllers keep backend headers (sysmeta) aside for the filters above.
            let domain = headers::get(resp.headers(), DOMAIN_SYSMETA)
                .or_else(|| {
                    resp.extensions()
                        .get::<BackendHeaders>()
                        .and_then(|b| headers::get(&b.0, DOMAIN_SYSMETA))
                })
                .map(str::to_string);
            if let Some(d) = domain {
                headers::set(resp.headers_mut(), DOMAIN_HEADER, &d);
            }
            Ok(resp)
        })
    }

    fn info(&self, proxy: &Proxy, out: &mut serde_json::Map<String, serde_json::Value>) {
        // Swift registers nothing for keystoneauth; swirl names it so
        // /info lists every filter that runs.
        out.insert(
            "keystoneauth".into(),
            serde_json::json!({"reseller_prefix": proxy.keystoneauth.prefixes()}),
        );
    }
}

/// keystoneauth's decision on one request, with what it reads of the
/// account (its project domain) and writes into the request (the domain
/// to store with an account PUT/POST or container PUT).
pub async fn decide(
    proxy: &Proxy,
    ctx: &mut Ctx,
    id: Option<Arc<KsIdentity>>,
    req: &AuthzRequest<'_>,
) -> Result<Decision> {
    let rules = &proxy.keystoneauth;
    let Some(id) = id else {
        return Ok(rules.authorize_anonymous(req));
    };
    let mut stored: Option<AccountDomain> = None;
    let may_store = *req.method == http::Method::PUT || *req.method == http::Method::POST;
    let needed = (may_store && req.object.is_none() && !ctx.headers.contains_key(DOMAIN_SYSMETA))
        || rules.needs_account_domain(&id, req.account, req.acl);
    if needed && *req.method != http::Method::OPTIONS {
        let info = proxy.account_info(ctx, req.account).await?;
        stored = Some(AccountDomain {
            exists: info.exists(),
            domain_id: info.header(DOMAIN_SYSMETA).map(str::to_string),
        });
    }
    if let Some(s) = &stored {
        if !ctx.headers.contains_key(DOMAIN_SYSMETA) {
            if let Some(d) = rules.domain_to_store(&id, req, s) {
                headers::set(&mut ctx.headers, DOMAIN_SYSMETA, &d);
            }
        }
    }
    Ok(rules.authorize(&id, req, stored.as_ref()))
}
