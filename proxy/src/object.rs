//! Object requests, the proxy-server app's object controller: GET/HEAD
//! (read path with mid-body resume), PUT (streamed to a quorum), POST and
//! DELETE. Large objects, copies and quotas are the middleware's, above it
//! in the pipeline: a response carries the backend's headers
//! (`response::BackendHeaders`) for them.

use std::sync::Arc;

use http::{HeaderMap, Method, Response};
use swirl_common::backend_headers as bh;
use swirl_common::{constraints as c, Body, Timestamp};

use crate::app::{Ctx, Info, Proxy};
use crate::constraints::{self, request_length, CreationError};
use crate::container::add_update_targets;
use crate::content_type;
use crate::error::{Error, Result};
use crate::headers;
use crate::object_path::ObjectPath;
use crate::put::{self, PutPlan};
use crate::quorum;
use crate::read::{self, ReadOutcome, ReadReq};
use crate::response::{self, BackendHeaders};
use crate::rings::{Node, RingKind};
use crate::stream::{self, Resume, Shape};

/// Dispatches an object request; `body` is the request body.
pub async fn handle(
    proxy: &Arc<Proxy>,
    ctx: &mut Ctx,
    path: &ObjectPath,
    body: Body,
) -> Result<Response<Body>> {
    match ctx.method.clone() {
        m if m == Method::GET || m == Method::HEAD => get_or_head(proxy, ctx, path).await,
        m if m == Method::PUT => put_object(proxy, ctx, path, body).await,
        m if m == Method::POST => post(proxy, ctx, path).await,
        m if m == Method::DELETE => delete(proxy, ctx, path).await,
        _ => Err(Error::MethodNotAllowed),
    }
}

fn check_name(object: &str) -> Result<()> {
    if object.len() > c::MAX_OBJECT_NAME_LENGTH {
        return Err(Error::BadRequest(format!(
            "Object name length of {} longer than {}",
            object.len(),
            c::MAX_OBJECT_NAME_LENGTH
        )));
    }
    Ok(())
}

/// Authorizes and performs an object GET/HEAD.
async fn get_or_head(proxy: &Proxy, ctx: &mut Ctx, path: &ObjectPath) -> Result<Response<Body>> {
    let info = proxy
        .container_info(ctx, &path.account, &path.container)
        .await?;
    let acl = info.header("x-container-read").map(str::to_string);
    proxy
        .authorize(
            ctx,
            &path.account,
            Some(&path.container),
            Some(&path.object),
            acl.as_deref(),
        )
        .await?;
    let mut h = headers::to_backend(&ctx.headers, &ctx.txn, None);
    headers::set(
        &mut h,
        bh::STORAGE_POLICY_INDEX,
        &info.policy_index().to_string(),
    );
    let query = ctx.query.clone();
    let outcome = read_object(
        proxy,
        &info,
        path,
        ctx.method.clone(),
        query.as_deref(),
        h.clone(),
        headers::is_true(&ctx.headers, "x-newest"),
    )
    .await?;
    // A 4xx the backends agreed on (412 for If-Match, say) goes out as
    // they sent it, a large object's manifest answering for itself.
    let outcome = match outcome {
        ReadOutcome::Bad {
            status,
            resp: Some(resp),
            partition,
        } if status != 404 => ReadOutcome::Good {
            resp,
            rest: Vec::new(),
            partition,
        },
        other => other,
    };
    match outcome {
        ReadOutcome::Good {
            resp,
            rest,
            partition,
            ..
        } => {
            // A body that can resume mid-way from another node: a whole
            // one, one range or several.
            let shape = (ctx.method != Method::HEAD)
                .then(|| Shape::of(&resp, headers::get(&h, "range")))
                .flatten();
            let Some(shape) = shape else {
                let mut r = response::passthrough(resp, ctx.owner);
                object_response_headers(r.headers_mut());
                return Ok(r);
            };
            let (parts, body) = resp.into_parts();
            let size = headers::get(&parts.headers, "content-length").and_then(|v| v.parse().ok());
            let tail = match query.as_deref() {
                Some(q) if !q.is_empty() => format!("{}?{q}", path.tail(partition)),
                _ => path.tail(partition),
            };
            let resume = Resume {
                backend: proxy.backend.clone(),
                nodes: rest,
                tail,
                headers: h,
                etag: headers::get(&parts.headers, "etag").map(str::to_string),
                timeout: crate::config::secs(proxy.cfg.recoverable_node_timeout),
            };
            let verified =
                headers::get(&parts.headers, bh::READ_VERIFIED) == Some(bh::READ_VERIFIED_BLAKE3);
            let body = stream::pump(body, size, shape, Some(resume));
            let mut h = headers::to_client(&parts.headers);
            object_response_headers(&mut h);
            let mut r = response::with_headers(parts.status, h, body, ctx.owner);
            if verified {
                r.extensions_mut().insert(response::Verified);
            }
            r.extensions_mut().insert(BackendHeaders(parts.headers));
            Ok(r)
        }
        ReadOutcome::Bad { status, .. } => Ok(response::status(status)),
    }
}

async fn read_object(
    proxy: &Proxy,
    info: &Info,
    path: &ObjectPath,
    method: Method,
    query: Option<&str>,
    h: HeaderMap,
    newest: bool,
) -> Result<ReadOutcome> {
    let r = ReadReq {
        kind: RingKind::Object(info.policy_index()),
        account: &path.account,
        container: Some(&path.container),
        object: Some(&path.object),
        method,
        query,
        headers: h,
        newest,
    };
    read::read(proxy, &r).await
}

/// Per-slot headers carrying the container (and expirer queue) servers to update.
fn update_headers(
    proxy: &Proxy,
    base: HeaderMap,
    slots: usize,
    path: &ObjectPath,
) -> Result<Vec<HeaderMap>> {
    let cont = proxy
        .rings
        .primaries(RingKind::Container, &path.account, Some(&path.container))?;
    let mut out = vec![base; slots.max(1)];
    let names = [
        bh::CONTAINER_HOST,
        bh::CONTAINER_DEVICE,
        bh::CONTAINER_PARTITION,
    ];
    add_update_targets(&mut out, &cont, names);
    let delete_at = out
        .first()
        .and_then(|h| headers::get(h, "x-delete-at"))
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(at) = delete_at {
        let digest = swirl_ring::hash::hash_path(
            proxy.rings.hash(),
            &path.account,
            Some(&path.container),
            Some(&path.object),
        );
        let queue = swirl_common::expiring::queue_container(at, &digest);
        let qn = proxy.rings.primaries(
            RingKind::Container,
            swirl_common::expiring::ACCOUNT,
            Some(&queue),
        )?;
        for h in out.iter_mut() {
            headers::set(h, bh::DELETE_AT_CONTAINER, &queue);
            headers::set(h, bh::DELETE_AT_PARTITION, &qn.partition.to_string());
        }
        let names = [
            bh::DELETE_AT_HOST,
            bh::DELETE_AT_DEVICE,
            bh::DELETE_AT_PARTITION,
        ];
        add_update_targets(&mut out, &qn, names);
    }
    Ok(out)
}

fn now_secs() -> f64 {
    Timestamp::now().as_f64()
}

async fn writable_container(
    proxy: &Proxy,
    ctx: &mut Ctx,
    path: &ObjectPath,
) -> Result<std::sync::Arc<Info>> {
    let (account, container) = (&path.account, &path.container);
    let info = proxy.container_info(ctx, account, container).await?;
    let acl = info.header("x-container-write").map(str::to_string);
    proxy
        .authorize(
            ctx,
            account,
            Some(container),
            Some(&path.object),
            acl.as_deref(),
        )
        .await?;
    if !info.exists() {
        return Err(if info.status == 404 {
            Error::NotFound
        } else {
            Error::Unavailable(format!("container info status {}", info.status))
        });
    }
    Ok(info)
}

/// An object PUT of `body`; a middleware may have set `swift_bytes` on
/// its Content-Type (slo's manifests: `Ctx::ctype_overridden`), clients may not.
async fn put_object(
    proxy: &Proxy,
    ctx: &mut Ctx,
    path: &ObjectPath,
    body: Body,
) -> Result<Response<Body>> {
    check_name(&path.object)?;
    let info = writable_container(proxy, ctx, path).await?;
    let (length, chunked) = request_length(&ctx.headers)?;
    if let Some(v) = headers::get(&ctx.headers, "if-none-match") {
        if v.split(',').all(|t| t.trim() != "*") {
            return Err(Error::BadRequest("If-None-Match only supports *".into()));
        }
    }
    prepare_new_object(&mut ctx.headers, &path.object)?;
    if !ctx.ctype_overridden {
        check_content_type(&ctx.headers)?;
    }
    constraints::check_object_creation(&ctx.headers, &path.object, length, chunked).map_err(
        |e| match e {
            CreationError::TooLarge => Error::TooLarge("Your request is too large.".into()),
            CreationError::LengthRequired => Error::LengthRequired,
            CreationError::Bad(m) => Error::BadRequest(m),
        },
    )?;
    constraints::check_delete_headers(&mut ctx.headers, now_secs()).map_err(Error::BadRequest)?;
    let ts = Timestamp::now();
    let base = headers::to_backend(&ctx.headers, &ctx.txn, Some(ts));
    stream_put(proxy, &info, path, base, length, body, ts).await
}

/// Swift's `check_content_type`: `swift_*` parameters are the proxy's own.
fn check_content_type(h: &HeaderMap) -> Result<()> {
    let ct = headers::get(h, "content-type").unwrap_or("");
    if ct.contains(';')
        && ct
            .split(';')
            .skip(1)
            .any(|p| p.trim_start().starts_with("swift_"))
    {
        return Err(Error::BadRequest(
            "Invalid Content-Type, swift_* is not a valid parameter name.".into(),
        ));
    }
    Ok(())
}

/// Swift's `clean_content_type`: the `swift_bytes` an SLO manifest's type
/// carries is not the client's.
fn clean_content_type(v: &str) -> &str {
    match v.rsplit_once(';') {
        Some((left, right)) if right.trim_start().starts_with("swift_bytes=") => left,
        _ => v,
    }
}

/// Fills Content-Type (guessed from the name when absent or when
/// X-Detect-Content-Type asks for it), as Swift's object controller does.
fn prepare_new_object(h: &mut HeaderMap, object: &str) -> Result<()> {
    let detect = headers::is_true(h, "x-detect-content-type");
    if detect || h.get("content-type").is_none() {
        headers::set(h, "content-type", content_type::guess(object));
    }
    h.remove("x-detect-content-type");
    Ok(())
}

async fn stream_put<B>(
    proxy: &Proxy,
    info: &Info,
    path: &ObjectPath,
    mut base: HeaderMap,
    length: Option<u64>,
    body: B,
    ts: Timestamp,
) -> Result<Response<Body>>
where
    B: http_body::Body<Data = bytes::Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let policy = info.policy_index();
    headers::set(&mut base, bh::STORAGE_POLICY_INDEX, &policy.to_string());
    let nodes = path.nodes(&proxy.rings, policy)?;
    let per_slot = update_headers(proxy, base, nodes.primaries.len(), path)?;
    let plan = PutPlan {
        tail: path.tail(nodes.partition),
        headers: per_slot,
        length,
        max_size: c::MAX_FILE_SIZE,
        nodes,
    };
    let out = put::put(
        proxy,
        plan,
        body,
        crate::config::secs(proxy.cfg.listen.client_timeout),
    )
    .await?;
    if !(200..300).contains(&out.status) {
        tracing::info!(statuses = ?out.statuses, "object PUT without a quorum of successes");
        return Ok(response::status(out.status));
    }
    if out.statuses.contains(&quorum::CONFLICT) {
        // A node holds this timestamp or a newer one: Swift's 202, without
        // the ETag of an object that was not stored.
        tracing::debug!(statuses = ?out.statuses, "object PUT lost a timestamp race");
        return Ok(response::status(out.status));
    }
    let mut r = response::status(201);
    headers::set(r.headers_mut(), "etag", &out.etag);
    headers::set(
        r.headers_mut(),
        "last-modified",
        &swirl_common::timestamp::http_date(ts.ceil_secs()),
    );
    Ok(r)
}

async fn post(proxy: &Proxy, ctx: &mut Ctx, path: &ObjectPath) -> Result<Response<Body>> {
    check_name(&path.object)?;
    let info = writable_container(proxy, ctx, path).await?;
    constraints::check_metadata(&ctx.headers, "object").map_err(Error::BadRequest)?;
    constraints::check_delete_headers(&mut ctx.headers, now_secs()).map_err(Error::BadRequest)?;
    if headers::is_true(&ctx.headers, "x-detect-content-type") {
        headers::set(
            &mut ctx.headers,
            "content-type",
            content_type::guess(&path.object),
        );
    }
    let status = fan_out(proxy, ctx, &info, path, Method::POST).await?;
    Ok(response::status(status))
}

async fn delete(proxy: &Proxy, ctx: &mut Ctx, path: &ObjectPath) -> Result<Response<Body>> {
    let info = writable_container(proxy, ctx, path).await?;
    let status = fan_out(proxy, ctx, &info, path, Method::DELETE).await?;
    Ok(response::status(status))
}

async fn fan_out(
    proxy: &Proxy,
    ctx: &Ctx,
    info: &Info,
    path: &ObjectPath,
    method: Method,
) -> Result<u16> {
    let policy = info.policy_index();
    let nodes = path.nodes(&proxy.rings, policy)?;
    let mut base = headers::to_backend(&ctx.headers, &ctx.txn, Some(Timestamp::now()));
    headers::set(&mut base, bh::STORAGE_POLICY_INDEX, &policy.to_string());
    let per_slot = update_headers(proxy, base, nodes.primaries.len(), path)?;
    let on_node = |n: &Node| path.on_node(n, nodes.partition);
    let res = crate::write::fan_out(proxy, &nodes, method, &on_node, per_slot, None).await?;
    let codes: Vec<u16> = res.iter().map(|r| r.0).collect();
    Ok(quorum::best_status(&codes, quorum::quorum_size(nodes.replicas)).unwrap_or(503))
}

/// What Swift's proxy does to an object GET/HEAD response: the ETag is sent
/// unquoted (the object server quotes it) and ranges are advertised.
fn object_response_headers(h: &mut HeaderMap) {
    if let Some(e) = headers::get(h, "etag").map(|e| e.trim_matches('"').to_string()) {
        headers::set(h, "etag", &e);
    }
    if let Some(ct) = headers::get(h, "content-type").map(str::to_string) {
        let clean = clean_content_type(&ct);
        if clean.len() != ct.len() {
            headers::set(h, "content-type", clean);
        }
    }
    headers::set(h, "accept-ranges", "bytes");
}
