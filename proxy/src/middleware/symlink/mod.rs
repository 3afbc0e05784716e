//! Swift's symlink middleware (`swift/common/middleware/symlink.py`, 2.30):
//! a zero-byte object PUT with `X-Symlink-Target: <container>/<object>`
//! (and `X-Symlink-Target-Account`) is a link; with
//! `X-Symlink-Target-Etag` a static one, whose target must exist with that
//! ETag (its size is recorded too). The target is kept as object sysmeta
//! and, for listings, as parameters of the container update's ETag
//! override. A GET or HEAD of a link reads its target instead (as the
//! caller; `symloop_max` links at most, then 409), with Content-Location
//! naming it; `?symlink=get` reads the link itself. A POST to a link is
//! applied to it and answered 307 with the target as Location. JSON
//! container listings show `symlink_path` (and `symlink_etag`,
//! `symlink_bytes` for static links). Copies are the copy filter's: the
//! link's target, or the link itself with `?symlink=get`.

mod follow;
mod listing;
pub mod target;

use http::{Method, Response};
use http_body_util::BodyExt;
use serde_json::{json, Map, Value};
use swirl_common::backend_headers as bh;
use swirl_common::Body;

use self::follow::{walk, Outcome, Walk};
use self::target::*;
use crate::app::{Ctx, Proxy};
use crate::container::append_csv;
use crate::error::{Error, Result};
use crate::headers;
use crate::object_path::ObjectPath;
use crate::pipeline::{Filter, Fut, Next, Req};
use crate::response::backend_headers;
use crate::router::Endpoint;

/// The symlink filter.
pub struct Symlink;

impl Filter for Symlink {
    fn call(&self, req: Req, next: Next) -> Fut<'static> {
        match &req.endpoint {
            Endpoint::Object { .. } => {
                let m = &req.ctx.method;
                let mine = *m == Method::GET
                    || *m == Method::HEAD
                    || *m == Method::POST
                    || (*m == Method::PUT && req.ctx.headers.contains_key(TARGET));
                if !mine {
                    return next.run(req);
                }
                Box::pin(object(req, next))
            }
            Endpoint::Container { .. } if req.ctx.method == Method::GET => {
                Box::pin(listing::container_get(req, next))
            }
            _ => next.run(req),
        }
    }

    fn info(&self, proxy: &Proxy, out: &mut Map<String, Value>) {
        out.insert(
            "symlink".into(),
            json!({
                "symloop_max": proxy.cfg.symlink.symloop_max(),
                "static_links": true,
            }),
        );
    }
}

async fn object(req: Req, next: Next) -> Result<Response<Body>> {
    let Some(path) = req.object_path() else {
        return next.run(req).await;
    };
    let version = if req.v1 { "v1" } else { "v1.0" };
    let m = req.ctx.method.clone();
    if m == Method::GET || m == Method::HEAD {
        if headers::query_param(req.ctx.query.as_deref(), "symlink").as_deref() == Some("get") {
            return link_itself(req, next).await;
        }
        return get_head(req, next, path, version).await;
    }
    if m == Method::POST {
        return post(req, next, path, version).await;
    }
    put(req, next, path, version).await
}

/// `?symlink=get`: the link as stored, its target shown as X-Symlink-* headers.
async fn link_itself(req: Req, next: Next) -> Result<Response<Body>> {
    let mut resp = next.run(req).await?;
    let pairs: Vec<(&str, String)> = {
        let bh = backend_headers(&resp);
        [
            (TARGET, SYS_TARGET),
            (TARGET_ACCOUNT, SYS_TARGET_ACCOUNT),
            (TARGET_ETAG, SYS_TARGET_ETAG),
            (TARGET_BYTES, SYS_TARGET_BYTES),
        ]
        .into_iter()
        .filter_map(|(user, sys)| {
            bh.and_then(|h| headers::get(h, sys))
                .map(|v| (user, v.to_string()))
        })
        .collect()
    };
    for (k, v) in pairs {
        headers::set(resp.headers_mut(), k, &v);
    }
    Ok(resp)
}

/// GET or HEAD: the link's target (or the object, if it is none).
async fn get_head(
    req: Req,
    next: Next,
    path: ObjectPath,
    version: &'static str,
) -> Result<Response<Body>> {
    let max = next.proxy().cfg.symlink.symloop_max();
    let mut ctx = req.ctx;
    // A link is read whole whatever the Range: its target gets the Range.
    append_csv(
        &mut ctx.headers,
        bh::IGNORE_RANGE,
        "X-Object-Sysmeta-Symlink-Target",
    );
    let mut st = Walk {
        version,
        max,
        follow_soft: true,
        target_etag: None,
        loops: 0,
        last: None,
    };
    match walk(next, ctx, path, &mut st).await? {
        Outcome::Found(r) => Ok(r),
        Outcome::TooMany => Err(too_many(max)),
    }
}

fn too_many(max: u32) -> Error {
    Error::ConflictAt {
        body: format!("Too many levels of symbolic links, maximum allowed is {max}"),
        location: None,
    }
}

/// POST: applied to whatever is stored; a link answers 307 to its target.
async fn post(
    req: Req,
    next: Next,
    path: ObjectPath,
    version: &'static str,
) -> Result<Response<Body>> {
    if req.ctx.headers.contains_key(TARGET) {
        return Err(Error::BadRequest(
            "A PUT request is required to set a symlink target".into(),
        ));
    }
    let resp = next.run(req).await?;
    if !resp.status().is_success() {
        return Ok(resp);
    }
    let bh = backend_headers(&resp);
    let Some(link) = bh.and_then(|h| headers::get(h, SYS_TARGET)) else {
        return Ok(resp);
    };
    let account = bh.and_then(|h| headers::get(h, SYS_TARGET_ACCOUNT));
    let location = target::location(version, &path.account, account, link);
    let target_etag = bh
        .and_then(|h| headers::get(h, SYS_TARGET_ETAG))
        .map(str::to_string);
    let versions_symlink = bh
        .and_then(|h| headers::get(h, SYS_VERSIONS_SYMLINK))
        .is_some_and(headers::is_true_value);
    Err(Error::TemporaryRedirect {
        body: "The requested POST was applied to a symlink. POST directly to the target to apply requested metadata.".into(),
        location,
        target_etag,
        versions_symlink,
    })
}

/// Is there a body (Swift reads a byte when no length was given)?
async fn has_body(ctx: &Ctx, body: &mut Body) -> Result<bool> {
    match crate::constraints::request_length(&ctx.headers)? {
        (Some(n), _) => Ok(n != 0),
        (None, _) => {
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|_| Error::ClientDisconnect)?;
                if frame.data_ref().is_some_and(|d| !d.is_empty()) {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
}

/// A link PUT: checked, its target moved to sysmeta and into the container
/// update, stored as a zero-byte object.
async fn put(
    req: Req,
    next: Next,
    path: ObjectPath,
    version: &'static str,
) -> Result<Response<Body>> {
    let Req {
        mut ctx,
        endpoint,
        mut body,
        v1,
        peer,
        path: client_path,
    } = req;
    if has_body(&ctx, &mut body).await? {
        return Err(Error::BadRequest(
            "Symlink requests require a zero byte body".into(),
        ));
    }
    let h = &ctx.headers;
    let raw_target = headers::get_utf8(h, TARGET).unwrap_or_default();
    let raw_account = headers::get_utf8(h, TARGET_ACCOUNT);
    let raw_etag = headers::get_utf8(h, TARGET_ETAG);
    let t = validate(
        &raw_target,
        raw_account.as_deref(),
        raw_etag.as_deref(),
        &path,
    )
    .map_err(|e| match e {
        Invalid::Precondition(m) => Error::PreconditionFailed(m),
        Invalid::Bad(m) => Error::BadRequest(m),
    })?;
    if t.etag.is_none() && headers::get(&ctx.headers, "content-type").is_none_or(str::is_empty) {
        headers::set(&mut ctx.headers, "content-type", "application/symlink");
    }
    let mut etag_bytes = None;
    if let Some(etag) = &t.etag {
        let bytes = static_target(&next, &mut ctx, &t, etag, version).await?;
        etag_bytes = Some((etag.clone(), bytes));
    } else if let (Some(e), Some(b)) = (
        headers::get(&ctx.headers, SYS_TARGET_ETAG),
        headers::get(&ctx.headers, SYS_TARGET_BYTES),
    ) {
        // A middleware below the gatekeeper (object versioning) vouched
        // for the target itself.
        etag_bytes = Some((e.to_string(), b.to_string()));
    }
    let hm = &mut ctx.headers;
    for n in [TARGET, TARGET_ACCOUNT, TARGET_ETAG, TARGET_BYTES] {
        hm.remove(n);
    }
    headers::set(hm, SYS_TARGET, &t.quoted);
    if let Some(a) = &t.account_quoted {
        headers::set(hm, SYS_TARGET_ACCOUNT, a);
    }
    if let Some((e, b)) = &etag_bytes {
        headers::set(hm, SYS_TARGET_ETAG, e);
        headers::set(hm, SYS_TARGET_BYTES, b);
    }
    let over = override_etag(
        headers::get(hm, OVERRIDE_ETAG),
        &t.quoted,
        t.account_quoted.as_deref(),
        etag_bytes.as_ref().map(|(e, b)| (e.as_str(), b.as_str())),
    );
    headers::set(hm, OVERRIDE_ETAG, &over);
    hm.remove("transfer-encoding");
    headers::set(hm, "content-length", "0");
    next.run(Req {
        ctx,
        endpoint,
        body: swirl_common::body::empty(),
        v1,
        peer,
        path: client_path,
    })
    .await
}

/// A static link's target: it must exist (as the caller may read it) with
/// the ETag given, following static links only. Returns its size, and
/// carries its listing ETag parameters and Content-Type over to the link.
async fn static_target(
    next: &Next,
    ctx: &mut Ctx,
    t: &Target,
    etag: &str,
    version: &'static str,
) -> Result<String> {
    let max = next.proxy().cfg.symlink.symloop_max();
    let mut sub = ctx.subrequest(Method::HEAD, None).by("SYM");
    if headers::is_true(&ctx.headers, bh::ALLOW_RESERVED_NAMES) {
        headers::set(&mut sub.headers, bh::ALLOW_RESERVED_NAMES, "true");
    }
    let unquoted = format!(
        "/{version}/{}/{}/{}",
        t.path.account, t.path.container, t.path.object
    );
    let mut st = Walk {
        version,
        max,
        follow_soft: false,
        target_etag: Some(etag.to_string()),
        loops: 0,
        last: Some(unquoted),
    };
    let resp = match walk(next.clone(), sub, t.path.clone(), &mut st).await? {
        Outcome::Found(r) => r,
        Outcome::TooMany => return Err(too_many(max)),
    };
    let status = resp.status().as_u16();
    if status == 404 {
        return Err(Error::ConflictAt {
            body: "X-Symlink-Target does not exist".into(),
            location: st.last,
        });
    }
    if !resp.status().is_success() {
        return Err(relay(status));
    }
    let client = resp.headers();
    let bh = backend_headers(&resp);
    let get = |n: &str| {
        bh.and_then(|h| headers::get(h, n))
            .or_else(|| headers::get(client, n))
            .map(str::to_string)
    };
    if !ctx.headers.contains_key(OVERRIDE_ETAG) {
        if let Some(o) = get(OVERRIDE_ETAG) {
            let params = o
                .split_once(';')
                .map(|(_, p)| format!(";{p}"))
                .unwrap_or_default();
            headers::set(
                &mut ctx.headers,
                OVERRIDE_ETAG,
                &format!("{MD5_OF_EMPTY}{params}"),
            );
        } else if let Some(slo) = get("x-object-sysmeta-slo-etag") {
            headers::set(
                &mut ctx.headers,
                OVERRIDE_ETAG,
                &format!("{MD5_OF_EMPTY}; slo_etag={slo}"),
            );
        }
    }
    let bytes = get("x-object-sysmeta-slo-size")
        .or_else(|| get("content-length"))
        .unwrap_or_else(|| "0".into());
    if headers::get(&ctx.headers, "content-type").is_none_or(str::is_empty) {
        if let Some(ct) = get("content-type") {
            headers::set(&mut ctx.headers, "content-type", &ct);
        }
    }
    Ok(bytes)
}

/// Swift's `status_map[status]()`: a bare answer of the target's status.
fn relay(status: u16) -> Error {
    match status {
        401 => Error::Unauthorized(String::new()),
        403 => Error::Forbidden,
        409 => Error::Conflict,
        412 => Error::PreconditionFailed(String::new()),
        s if s >= 500 => Error::Unavailable(format!("symlink target answered {s}")),
        _ => Error::BadRequest(String::new()),
    }
}
