//! Container requests: GET/HEAD (listings passed through from the container
//! servers), PUT (with account autocreate and storage policy), POST, DELETE.

use http::{HeaderMap, Method, Response, StatusCode};
use swirl_common::backend_headers as bh;
use swirl_common::{constraints as c, Body, Timestamp};

use crate::app::{Ctx, Proxy};
use crate::auth::acl;
use crate::backend;
use crate::constraints::check_metadata;
use crate::error::{Error, Result};
use crate::headers;
use crate::quorum;
use crate::read::{self, ReadOutcome, ReadReq};
use crate::response;
use crate::rings::{Node, PartNodes, RingKind};

/// Dispatches a container request.
pub async fn handle(
    proxy: &Proxy,
    ctx: &mut Ctx,
    account: &str,
    container: &str,
) -> Result<Response<Body>> {
    match ctx.method.clone() {
        m if m == Method::GET || m == Method::HEAD => {
            get_or_head(proxy, ctx, account, container).await
        }
        m if m == Method::PUT => put(proxy, ctx, account, container).await,
        m if m == Method::POST => post(proxy, ctx, account, container).await,
        m if m == Method::DELETE => delete(proxy, ctx, account, container).await,
        _ => Err(Error::MethodNotAllowed),
    }
}

async fn get_or_head(
    proxy: &Proxy,
    ctx: &mut Ctx,
    account: &str,
    container: &str,
) -> Result<Response<Body>> {
    let r = ReadReq {
        kind: RingKind::Container,
        account,
        container: Some(container),
        object: None,
        method: ctx.method.clone(),
        query: ctx.query.as_deref(),
        headers: headers::to_backend(&ctx.headers, &ctx.txn, None),
        newest: headers::is_true(&ctx.headers, "x-newest"),
    };
    let outcome = read::read(proxy, &r).await?;
    let read_acl = match &outcome {
        ReadOutcome::Good { resp, .. } => {
            headers::get(resp.headers(), "x-container-read").map(str::to_string)
        }
        ReadOutcome::Bad { .. } => None,
    };
    proxy
        .authorize(ctx, account, Some(container), None, read_acl.as_deref())
        .await?;
    match outcome {
        ReadOutcome::Good { mut resp, .. } => {
            // As Swift's set_info_cache: a client's read refreshes the info.
            if resp.status().is_success() {
                proxy.info.remember(
                    account,
                    Some(container),
                    std::sync::Arc::new(crate::app::Info {
                        status: resp.status().as_u16(),
                        headers: resp.headers().clone(),
                    }),
                );
            }
            let name = headers::get(resp.headers(), bh::STORAGE_POLICY_INDEX)
                .and_then(|i| i.trim().parse::<u32>().ok())
                .and_then(|i| proxy.policies.by_index(i))
                .map(|p| p.name.clone());
            if let Some(n) = name {
                headers::set(resp.headers_mut(), "x-storage-policy", &n);
            }
            Ok(response::passthrough(resp, ctx.owner))
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

/// Swift's `clean_acls`: normalises the ACL headers or answers 400.
fn clean_acls(h: &mut HeaderMap) -> Result<()> {
    for name in ["x-container-read", "x-container-write"] {
        if let Some(v) = headers::get(h, name).map(str::to_string) {
            let cleaned = acl::clean_acl(name, &v).map_err(Error::BadRequest)?;
            headers::set(h, name, &cleaned);
        }
    }
    Ok(())
}

/// Per-slot headers carrying the account servers to update (`X-Account-*`).
fn with_account_updates(
    proxy: &Proxy,
    base: HeaderMap,
    slots: usize,
    account: &str,
) -> Result<Vec<HeaderMap>> {
    let acct = proxy.rings.primaries(RingKind::Account, account, None)?;
    let mut out = vec![base; slots.max(1)];
    let names = [bh::ACCOUNT_HOST, bh::ACCOUNT_DEVICE, bh::ACCOUNT_PARTITION];
    add_update_targets(&mut out, &acct, names);
    Ok(out)
}

/// Spreads the servers a write must update over the per-slot headers, as
/// Swift's `_backend_requests` does: target i goes to slot i % slots (hosts
/// and devices comma-joined), with its partition. `names` are the host,
/// device and partition headers.
pub fn add_update_targets(out: &mut [HeaderMap], targets: &PartNodes, names: [&str; 3]) {
    let [host, device, partition] = names;
    let n = out.len().max(1);
    for (i, node) in targets.primaries.iter().enumerate() {
        if let Some(h) = out.get_mut(i % n) {
            append_csv(h, host, &node.addr());
            append_csv(h, device, &node.device);
            headers::set(h, partition, &targets.partition.to_string());
        }
    }
}

/// Swift's `csv_append` on a header.
pub fn append_csv(h: &mut HeaderMap, name: &str, value: &str) {
    let v = match headers::get(h, name) {
        Some(old) if !old.is_empty() => format!("{old},{value}"),
        _ => value.to_string(),
    };
    headers::set(h, name, &v);
}

async fn ensure_account(proxy: &Proxy, ctx: &Ctx, account: &str) -> Result<()> {
    let info = proxy.account_info(ctx, account).await?;
    if info.exists() {
        return Ok(());
    }
    if info.status == 404 && proxy.cfg.account_autocreate {
        return proxy.autocreate_account(ctx, account).await;
    }
    if info.status == 404 || info.status == 410 {
        return Err(Error::NotFound);
    }
    Err(Error::Unavailable(format!(
        "account info status {}",
        info.status
    )))
}

async fn put(
    proxy: &Proxy,
    ctx: &mut Ctx,
    account: &str,
    container: &str,
) -> Result<Response<Body>> {
    proxy
        .authorize(ctx, account, Some(container), None, None)
        .await?;
    clean_acls(&mut ctx.headers)?;
    check_metadata(&ctx.headers, "container").map_err(Error::BadRequest)?;
    if container.len() > c::MAX_CONTAINER_NAME_LENGTH {
        return Err(Error::BadRequestHtml(format!(
            "Container name length of {} longer than {}",
            container.len(),
            c::MAX_CONTAINER_NAME_LENGTH
        )));
    }
    let mut base = headers::to_backend(&ctx.headers, &ctx.txn, Some(Timestamp::now()));
    headers::apply_removals(&mut base, "container");
    match headers::get(&ctx.headers, "x-storage-policy").map(str::to_string) {
        Some(name) if !name.is_empty() => {
            let p = proxy
                .policies
                .by_name(&name)
                .ok_or_else(|| Error::BadRequest(format!("Invalid X-Storage-Policy '{name}'")))?;
            if p.deprecated {
                return Err(Error::BadRequest(format!(
                    "Storage Policy '{}' is deprecated",
                    p.name
                )));
            }
            headers::set(&mut base, bh::STORAGE_POLICY_INDEX, &p.index.to_string());
        }
        _ => {
            let idx = proxy
                .policies
                .default_policy()
                .map(|p| p.index)
                .unwrap_or(0);
            headers::set(&mut base, bh::STORAGE_POLICY_DEFAULT, &idx.to_string());
        }
    }
    base.remove("x-storage-policy");
    ensure_account(proxy, ctx, account).await?;
    let status = send(proxy, account, container, Method::PUT, base, true).await?;
    Ok(response::status(status))
}

async fn post(
    proxy: &Proxy,
    ctx: &mut Ctx,
    account: &str,
    container: &str,
) -> Result<Response<Body>> {
    proxy
        .authorize(ctx, account, Some(container), None, None)
        .await?;
    clean_acls(&mut ctx.headers)?;
    check_metadata(&ctx.headers, "container").map_err(Error::BadRequest)?;
    let info = proxy.account_info(ctx, account).await?;
    if !info.exists() {
        return Err(Error::NotFound);
    }
    let mut base = headers::to_backend(&ctx.headers, &ctx.txn, Some(Timestamp::now()));
    headers::apply_removals(&mut base, "container");
    base.remove("x-storage-policy");
    let status = send(proxy, account, container, Method::POST, base, false).await?;
    Ok(response::status(status))
}

async fn delete(
    proxy: &Proxy,
    ctx: &mut Ctx,
    account: &str,
    container: &str,
) -> Result<Response<Body>> {
    proxy
        .authorize(ctx, account, Some(container), None, None)
        .await?;
    let info = proxy.account_info(ctx, account).await?;
    if !info.exists() {
        return Err(Error::NotFound);
    }
    let base = headers::to_backend(&ctx.headers, &ctx.txn, Some(Timestamp::now()));
    let status = send(proxy, account, container, Method::DELETE, base, true).await?;
    // A 202 from the container servers means "it did not exist here".
    if status == 202 {
        return Err(Error::NotFound);
    }
    Ok(response::status(status))
}

async fn send(
    proxy: &Proxy,
    account: &str,
    container: &str,
    method: Method,
    base: HeaderMap,
    account_updates: bool,
) -> Result<u16> {
    let nodes = proxy
        .rings
        .nodes(RingKind::Container, account, Some(container), None)?;
    let per_slot = if account_updates {
        with_account_updates(proxy, base, nodes.primaries.len(), account)?
    } else {
        vec![base; nodes.primaries.len()]
    };
    let path = |n: &Node| backend::path(n, nodes.partition, account, Some(container), None);
    let res = crate::write::fan_out(proxy, &nodes, method, &path, per_slot, None).await?;
    proxy.info.invalidate(account, Some(container));
    proxy.info.invalidate(account, None);
    let codes: Vec<u16> = res.iter().map(|r| r.0).collect();
    Ok(
        quorum::best_status(&codes, quorum::quorum_size(nodes.replicas))
            .unwrap_or(StatusCode::SERVICE_UNAVAILABLE.as_u16()),
    )
}
