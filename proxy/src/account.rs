//! Account requests: GET/HEAD (listing and stats), POST (metadata, account
//! ACLs), PUT/DELETE (reseller admins, with allow_account_management).

use http::{HeaderMap, Method, Response, StatusCode};
use swirl_common::{constraints as c, Body, Timestamp};

use crate::app::{Ctx, Proxy};
use crate::auth::acl;
use crate::backend;
use crate::constraints::check_metadata;
use crate::error::{Error, Result};
use crate::headers;
use crate::listing;
use crate::quorum;
use crate::read::{self, ReadOutcome, ReadReq};
use crate::response;
use crate::rings::{Node, RingKind};

const ACL_SYSMETA: &str = "x-account-sysmeta-core-access-control";

/// Dispatches an account request.
pub async fn handle(proxy: &Proxy, ctx: &mut Ctx, account: &str) -> Result<Response<Body>> {
    if account.len() > c::MAX_ACCOUNT_NAME_LENGTH {
        return Err(Error::BadRequestHtml(format!(
            "Account name length of {} longer than {}",
            account.len(),
            c::MAX_ACCOUNT_NAME_LENGTH
        )));
    }
    match ctx.method.clone() {
        m if m == Method::GET || m == Method::HEAD => get_or_head(proxy, ctx, account).await,
        m if m == Method::POST => post(proxy, ctx, account).await,
        m if m == Method::PUT || m == Method::DELETE => {
            if !proxy.cfg.allow_account_management {
                return Err(Error::MethodNotAllowed);
            }
            proxy.authorize(ctx, account, None, None, None).await?;
            check_metadata(&ctx.headers, "account").map_err(Error::BadRequest)?;
            let status = write(proxy, ctx, account, m).await?;
            Ok(response::status(status))
        }
        _ => Err(Error::MethodNotAllowed),
    }
}

async fn get_or_head(proxy: &Proxy, ctx: &mut Ctx, account: &str) -> Result<Response<Body>> {
    proxy.authorize(ctx, account, None, None, None).await?;
    let r = ReadReq {
        kind: RingKind::Account,
        account,
        container: None,
        object: None,
        method: ctx.method.clone(),
        query: ctx.query.as_deref(),
        headers: headers::to_backend(&ctx.headers, &ctx.txn, None),
        newest: headers::is_true(&ctx.headers, "x-newest"),
    };
    match read::read(proxy, &r).await? {
        ReadOutcome::Good { mut resp, .. } => {
            if ctx.owner {
                let acl =
                    headers::get(resp.headers(), ACL_SYSMETA).and_then(acl::format_account_acl);
                if let Some(a) = acl {
                    headers::set(resp.headers_mut(), "x-account-access-control", &a);
                }
            }
            Ok(response::passthrough(resp, ctx.owner))
        }
        ReadOutcome::Bad {
            status: 404, resp, ..
        } => {
            let deleted = resp
                .as_ref()
                .and_then(|r| headers::get(r.headers(), "x-account-status"))
                .map(|s| s.eq_ignore_ascii_case("deleted"))
                .unwrap_or(false);
            if deleted {
                return Err(Error::Gone);
            }
            if proxy.cfg.account_autocreate {
                return Ok(listing::empty_account(
                    account,
                    &ctx.headers,
                    ctx.query.as_deref(),
                    ctx.method == Method::HEAD,
                ));
            }
            Err(Error::NotFound)
        }
        // A 4xx the backends agreed on (a bad listing parameter) goes out as sent.
        ReadOutcome::Bad {
            status,
            resp: Some(resp),
            ..
        } if status != 404 => Ok(response::passthrough(resp, ctx.owner)),
        ReadOutcome::Bad { status, .. } => Ok(response::status(status)),
    }
}

async fn post(proxy: &Proxy, ctx: &mut Ctx, account: &str) -> Result<Response<Body>> {
    if let Some(v) = headers::get(&ctx.headers, "x-account-access-control").map(str::to_string) {
        // Validated before authorization, as tempauth does.
        acl::check_account_acl(&v).map_err(|e| {
            Error::BadRequest(format!(
                "X-Account-Access-Control invalid: {e}\n\nInput: {v}\n"
            ))
        })?;
    }
    proxy.authorize(ctx, account, None, None, None).await?;
    check_metadata(&ctx.headers, "account").map_err(Error::BadRequest)?;
    if let Some(v) = ctx.headers.remove("x-account-access-control") {
        ctx.headers.insert(ACL_SYSMETA, v);
    }
    let mut status = write(proxy, ctx, account, Method::POST).await?;
    if status == 404 && proxy.cfg.account_autocreate {
        proxy.autocreate_account(ctx, account).await?;
        status = write(proxy, ctx, account, Method::POST).await?;
    }
    Ok(response::status(status))
}

/// Sends a PUT/POST/DELETE to the account's replicas; returns the quorum status.
async fn write(proxy: &Proxy, ctx: &Ctx, account: &str, method: Method) -> Result<u16> {
    let nodes = proxy.rings.nodes(RingKind::Account, account, None, None)?;
    let mut h: HeaderMap = headers::to_backend(&ctx.headers, &ctx.txn, Some(Timestamp::now()));
    headers::apply_removals(&mut h, "account");
    let path = |n: &Node| backend::path(n, nodes.partition, account, None, None);
    let res = crate::write::fan_out(
        proxy,
        &nodes,
        method,
        &path,
        vec![h; nodes.primaries.len()],
        None,
    )
    .await?;
    proxy.info.invalidate(account, None);
    let codes: Vec<u16> = res.iter().map(|r| r.0).collect();
    Ok(
        quorum::best_status(&codes, quorum::quorum_size(nodes.replicas))
            .unwrap_or(StatusCode::SERVICE_UNAVAILABLE.as_u16()),
    )
}
