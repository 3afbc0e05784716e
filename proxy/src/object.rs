//! Object requests: GET/HEAD (read path with mid-body resume), PUT (streamed
//! to a quorum, or a server-side copy with X-Copy-From), POST, DELETE, COPY.

use std::sync::Arc;

use http::{HeaderMap, Method, Response, StatusCode};
use hyper::body::Incoming;
use swirl_common::backend_headers as bh;
use swirl_common::{constraints as c, Body, Timestamp};

use crate::app::{Ctx, Info, Proxy};
use crate::backend;
use crate::constraints::{self, CreationError};
use crate::container::add_update_targets;
use crate::content_type;
use crate::error::{Error, Result};
use crate::headers;
use crate::middleware::{container_quotas, copy, dlo, segments, slo};
use crate::object_path::ObjectPath;
use crate::put::{self, PutPlan};
use crate::quorum;
use crate::read::{self, ReadOutcome, ReadReq};
use crate::response;
use crate::rings::{Node, RingKind};
use crate::stream::{self, Resume, Shape};

/// Dispatches an object request; `body` is the client's request body.
pub async fn handle(
    proxy: &Arc<Proxy>,
    ctx: &mut Ctx,
    path: &ObjectPath,
    body: Incoming,
) -> Result<Response<Body>> {
    match ctx.method.clone() {
        m if m == Method::GET || m == Method::HEAD => get_or_head(proxy, ctx, path).await,
        m if m == Method::PUT => {
            check_manifest_header(&ctx.headers)?;
            if let Some(src) = headers::get_utf8(&ctx.headers, "x-copy-from") {
                let parsed =
                    copy::parse_source(&src, "X-Copy-From").map_err(Error::PreconditionFailed)?;
                copy_from(proxy, ctx, path, parsed).await
            } else if slo::is_manifest_put(ctx.query.as_deref()) {
                check_name(&path.object)?;
                slo::put(proxy, ctx, path, body).await
            } else if ctx.headers.contains_key(slo::manifest::MARKER) {
                Err(slo::reserved_header_refused())
            } else {
                put_object(proxy, ctx, path, body).await
            }
        }
        m if m == Method::DELETE && slo::is_manifest_delete(ctx.query.as_deref()) => {
            Ok(slo::delete(proxy, ctx, path))
        }
        _ if ctx.headers.contains_key(slo::manifest::MARKER) && ctx.method != Method::OPTIONS => {
            // slo refuses its marker from clients on every other request.
            Err(slo::reserved_header_refused())
        }
        m if m == Method::POST => post(proxy, ctx, path).await,
        m if m == Method::DELETE => delete(proxy, ctx, path).await,
        m if m.as_str() == "COPY" => {
            check_manifest_header(&ctx.headers)?;
            copy_verb(proxy, ctx, path).await
        }
        _ => Err(Error::MethodNotAllowed),
    }
}

/// The dlo middleware's check of a new manifest's X-Object-Manifest.
fn check_manifest_header(h: &HeaderMap) -> Result<()> {
    match headers::get_utf8(h, dlo::MANIFEST) {
        Some(v) => dlo::validate_put(&v).map_err(|m| Error::BadRequest(m.into())),
        None => Ok(()),
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

/// GET/HEAD through the slo and dlo middleware: a manifest reads as its
/// segments unless the query says `multipart-manifest=get`.
pub(crate) async fn get_or_head(
    proxy: &Arc<Proxy>,
    ctx: &mut Ctx,
    path: &ObjectPath,
) -> Result<Response<Body>> {
    let expand = !dlo::wants_manifest(ctx.query.as_deref());
    match fetch(proxy, ctx, path, expand).await? {
        Found::Plain(r) if expand => Ok(r),
        Found::Plain(r) => slo::manifest_get(ctx, r).await,
        Found::Manifest(h, value) => dlo::respond(proxy, ctx, path, h, &value).await,
        Found::Slo(found) => slo::respond(proxy, ctx, path, found).await,
    }
}

/// GET/HEAD of the object itself, never expanded (large-object segments).
pub(crate) async fn get_plain(
    proxy: &Proxy,
    ctx: &mut Ctx,
    path: &ObjectPath,
) -> Result<Response<Body>> {
    match fetch(proxy, ctx, path, false).await? {
        Found::Plain(r) => Ok(r),
        Found::Manifest(..) | Found::Slo(_) => {
            Err(Error::Internal("manifest found without expansion".into()))
        }
    }
}

/// What an object read found.
pub(crate) enum Found {
    /// The response for the client.
    Plain(Response<Body>),
    /// A DLO manifest: its client headers and raw X-Object-Manifest.
    Manifest(HeaderMap, String),
    /// An SLO manifest, for the slo middleware.
    Slo(slo::Found),
}

/// Authorizes and performs an object GET/HEAD. With `expand`, a DLO or
/// SLO manifest is returned for its middleware instead.
pub(crate) async fn fetch(
    proxy: &Proxy,
    ctx: &mut Ctx,
    path: &ObjectPath,
    expand: bool,
) -> Result<Found> {
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
    if expand {
        slo::request_headers(&mut h);
    }
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
            if expand && headers::is_true(resp.headers(), slo::manifest::MARKER) {
                let mut client = headers::to_client(resp.headers());
                object_response_headers(&mut client);
                let backend = resp.headers().clone();
                return Ok(Found::Slo(slo::Found {
                    status: resp.status(),
                    backend,
                    client,
                    body: resp.into_body(),
                }));
            }
            if expand {
                if let Some(value) = headers::get_utf8(resp.headers(), dlo::MANIFEST) {
                    let mut mh = headers::to_client(resp.headers());
                    object_response_headers(&mut mh);
                    // A small body is read so the connection stays pooled;
                    // a bigger one is dropped (Swift's drain_and_close).
                    let small = headers::get(resp.headers(), "content-length")
                        .and_then(|v| v.parse::<u64>().ok())
                        .is_some_and(|n| n < 1024);
                    if small {
                        let _ = backend::read_small(resp.into_body(), 1024).await;
                    }
                    return Ok(Found::Manifest(mh, value));
                }
            }
            // A body that can resume mid-way from another node: a whole
            // one, one range or several.
            let shape = (ctx.method != Method::HEAD)
                .then(|| Shape::of(&resp, headers::get(&h, "range")))
                .flatten();
            let Some(shape) = shape else {
                let mut r = response::passthrough(resp, ctx.owner);
                object_response_headers(r.headers_mut());
                return Ok(Found::Plain(r));
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
                r.extensions_mut().insert(segments::Verified);
            }
            Ok(Found::Plain(r))
        }
        ReadOutcome::Bad { status, .. } => Ok(Found::Plain(response::status(status))),
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
    let mut info = proxy.container_info(ctx, account, container).await?;
    if container_quotas::has_quota(&info) {
        // The cache is not cleared by object writes (as in Swift), so a
        // quota is checked against counts read now, not up to
        // recheck_container_existence seconds ago.
        proxy.info.invalidate(account, Some(container));
        info = proxy.container_info(ctx, account, container).await?;
    }
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

pub(crate) fn request_length(h: &HeaderMap) -> Result<(Option<u64>, bool)> {
    // Swift's `message_length`: one coding only, and it must be chunked.
    let chunked =
        match headers::get(h, "transfer-encoding") {
            None => false,
            Some(te) if te.contains(',') => return Err(Error::NotImplemented(
                "Unsupported Transfer-Coding header value specified in Transfer-Encoding header"
                    .into(),
            )),
            Some(te) if te.trim().eq_ignore_ascii_case("chunked") => true,
            Some(_) => {
                return Err(Error::BadRequest(
                    "Invalid Transfer-Encoding header value".into(),
                ))
            }
        };
    let length = match headers::get(h, "content-length") {
        Some(v) if !chunked => Some(
            v.trim()
                .parse::<u64>()
                .map_err(|_| Error::BadRequest("Invalid Content-Length header value".into()))?,
        ),
        _ => None,
    };
    Ok((length, chunked))
}

/// An object PUT of `body` (the client's, or an archive member's).
pub(crate) async fn put_object<B>(
    proxy: &Proxy,
    ctx: &mut Ctx,
    path: &ObjectPath,
    body: B,
) -> Result<Response<Body>>
where
    B: http_body::Body<Data = bytes::Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    put_object_with(proxy, ctx, path, body, false).await
}

/// An object PUT; `ctype_overridden` when a middleware set `swift_bytes`
/// on the Content-Type (slo's manifests), which clients may not.
pub(crate) async fn put_object_with<B>(
    proxy: &Proxy,
    ctx: &mut Ctx,
    path: &ObjectPath,
    body: B,
    ctype_overridden: bool,
) -> Result<Response<Body>>
where
    B: http_body::Body<Data = bytes::Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    check_name(&path.object)?;
    let info = writable_container(proxy, ctx, path).await?;
    let (length, chunked) = request_length(&ctx.headers)?;
    if container_quotas::exceeded(&info, length) {
        return Err(Error::TooLarge(container_quotas::EXCEEDED.into()));
    }
    if let Some(v) = headers::get(&ctx.headers, "if-none-match") {
        if v.split(',').all(|t| t.trim() != "*") {
            return Err(Error::BadRequest("If-None-Match only supports *".into()));
        }
    }
    prepare_new_object(&mut ctx.headers, &path.object)?;
    if !ctype_overridden {
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

pub(crate) async fn delete(
    proxy: &Proxy,
    ctx: &mut Ctx,
    path: &ObjectPath,
) -> Result<Response<Body>> {
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

/// `COPY` with `Destination: cont/obj`: a PUT of the destination copying this object.
async fn copy_verb(proxy: &Arc<Proxy>, ctx: &mut Ctx, path: &ObjectPath) -> Result<Response<Body>> {
    let dest = headers::get_utf8(&ctx.headers, "destination")
        .ok_or_else(|| Error::PreconditionFailed("Destination header required".into()))?;
    let (dc, dobj) = copy::parse_source(&dest, "Destination").map_err(Error::PreconditionFailed)?;
    let dest_account = headers::get_utf8(&ctx.headers, "destination-account")
        .map(|a| unquote(&a))
        .unwrap_or_else(|| path.account.clone());
    ctx.headers.remove("destination");
    ctx.headers.remove("destination-account");
    headers::set(
        &mut ctx.headers,
        "x-copy-from-account",
        &backend::quote_path(&path.account),
    );
    ctx.method = Method::PUT;
    headers::set(&mut ctx.headers, "content-length", "0");
    let dest = ObjectPath::new(dest_account, dc, dobj);
    copy_from(
        proxy,
        ctx,
        &dest,
        (path.container.clone(), path.object.clone()),
    )
    .await
}

/// PUT with X-Copy-From: read the source (authorized as a read of it) and
/// stream it into the destination.
async fn copy_from(
    proxy: &Arc<Proxy>,
    ctx: &mut Ctx,
    dest: &ObjectPath,
    (src_container, src_object): (String, String),
) -> Result<Response<Body>> {
    check_name(&dest.object)?;
    let src_account = headers::get_utf8(&ctx.headers, "x-copy-from-account")
        .map(|a| unquote(&a))
        .unwrap_or_else(|| dest.account.clone());
    let src = ObjectPath::new(src_account, src_container, src_object);
    if let Ok((Some(n), _)) = request_length(&ctx.headers) {
        if n != 0 {
            return Err(Error::BadRequest(
                "Copy requests require a zero byte body".into(),
            ));
        }
    }
    // The source is read as a GET by the caller, through the slo and dlo
    // middleware (a manifest copies as its concatenated segments unless the
    // request says ?multipart-manifest=get, an SLO manifest then in the
    // form it was PUT). A Range copies just those bytes.
    let manifest_copy = dlo::wants_manifest(ctx.query.as_deref());
    let mut src_ctx = ctx.subrequest(
        Method::GET,
        manifest_copy.then(|| "multipart-manifest=get&format=raw".to_string()),
    );
    if let Some(r) = ctx.headers.get("range") {
        src_ctx.headers.insert("range", r.clone());
    }
    let src_resp = get_or_head(proxy, &mut src_ctx, &src).await?;
    if !copyable(&src_resp) {
        return Ok(src_resp);
    }
    let (parts, src_body) = src_resp.into_parts();
    // As Swift's copy middleware does: the source is read first (a missing
    // source is a 404 whatever the destination), then the destination checked.
    let dest_info = writable_container(proxy, ctx, dest).await?;
    let length: Option<u64> =
        headers::get(&parts.headers, "content-length").and_then(|v| v.parse().ok());
    // A source of unknown length is a DLO of more than one listing page:
    // Swift refuses to copy it.
    if length.is_none_or(|l| l > c::MAX_FILE_SIZE) {
        return Err(Error::TooLarge("Your request is too large.".into()));
    }
    if container_quotas::exceeded(&dest_info, length) {
        return Err(Error::TooLarge(container_quotas::EXCEEDED.into()));
    }
    let fresh = headers::is_true(&ctx.headers, "x-fresh-metadata");
    let mut req_h = ctx.headers.clone();
    for n in [
        "x-copy-from",
        "x-copy-from-account",
        "x-fresh-metadata",
        "content-length",
        "transfer-encoding",
        "etag",
        "range",
    ] {
        req_h.remove(n);
    }
    let mut merged = copy::merge_headers(&headers::to_client(&parts.headers), &req_h, fresh);
    if manifest_copy {
        if let Some(v) = parts.headers.get(dlo::MANIFEST) {
            merged.insert(dlo::MANIFEST, v.clone());
        }
    }
    if headers::is_true(&merged, "x-detect-content-type") || merged.get("content-type").is_none() {
        prepare_new_object(&mut merged, &dest.object)?;
    }
    constraints::check_metadata(&merged, "object").map_err(Error::BadRequest)?;
    constraints::check_delete_headers(&mut merged, now_secs()).map_err(Error::BadRequest)?;
    let slo_source = manifest_copy && headers::is_true(&parts.headers, slo::manifest::MARKER);
    let mut resp = if slo_source || slo::is_manifest_put(ctx.query.as_deref()) {
        // A copy of an SLO manifest is a manifest PUT of it (its segments
        // are checked again, as the caller, in the destination's account).
        let mut sink = ctx.clone();
        headers::set(
            &mut merged,
            "content-length",
            &length.unwrap_or(0).to_string(),
        );
        sink.headers = merged;
        let query = ctx
            .query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("multipart-manifest"))
            .chain(std::iter::once("multipart-manifest=put"))
            .collect::<Vec<_>>()
            .join("&");
        sink.query = Some(query);
        slo::put(proxy, &sink, dest, src_body).await?
    } else {
        let ts = Timestamp::now();
        let base = headers::to_backend(&merged, &ctx.txn, Some(ts));
        stream_put(proxy, &dest_info, dest, base, length, src_body, ts).await?
    };
    if resp.status().is_success() {
        let hm = resp.headers_mut();
        headers::set(
            hm,
            "x-copied-from",
            &format!(
                "{}/{}",
                backend::quote_query(&src.container),
                crate::backend::quote_path(&src.object)
            ),
        );
        headers::set(
            hm,
            "x-copied-from-account",
            &backend::quote_query(&src.account),
        );
        if let Some(lm) = headers::get(&parts.headers, "last-modified") {
            let lm = lm.to_string();
            headers::set(hm, "x-copied-from-last-modified", &lm);
        }
        if let Some(ts) = headers::get(&parts.headers, "x-timestamp") {
            let ts = ts.to_string();
            headers::set(hm, "x-copied-from-timestamp", &ts);
        }
    }
    Ok(resp)
}

/// A source response a copy can stream: the whole object, or one range of it.
fn copyable(resp: &Response<Body>) -> bool {
    resp.status() == StatusCode::OK
        || (resp.status() == StatusCode::PARTIAL_CONTENT
            && !headers::get(resp.headers(), "content-type")
                .unwrap_or("")
                .starts_with("multipart/byteranges"))
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

/// Percent-decodes an account named in a header (Swift unquotes them).
fn unquote(v: &str) -> String {
    percent_encoding::percent_decode_str(v.trim())
        .decode_utf8_lossy()
        .into_owned()
}
