//! Object requests in a versioned container (Swift's `ObjectContext`): a
//! PUT keeps the data as a version and links to it, a DELETE leaves a
//! delete marker, a POST reaches the current version through its link,
//! and `?version-id` acts on one version.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode};
use http_body_util::BodyExt;
use swirl_common::{constraints as c, Body, Timestamp};

use super::*;
use crate::backend::quote_path;
use crate::content_type;
use crate::middleware::symlink::target::{
    unquote, SYS_ALLOW_RESERVED_NAMES, SYS_SYMLOOP_EXTEND, SYS_TARGET_BYTES, SYS_TARGET_ETAG,
    SYS_VERSIONS_SYMLINK, TARGET, TARGET_ACCOUNT,
};
use crate::middleware::versioned_writes::copied_headers;
use crate::object_path::ObjectPath;
use crate::response::backend_headers;

/// The object a request addresses and its container's versioning state.
struct Versioned {
    path: ObjectPath,
    /// The hidden container (empty: never versioned).
    versions: Option<String>,
    enabled: bool,
    write_acl: Option<String>,
}

impl Versioned {
    fn version_path(&self, versions: &str, name: &str) -> ObjectPath {
        ObjectPath::new(self.path.account.clone(), versions.to_string(), name)
    }
}

/// An object request: versioned when its container is or `?version-id` asks.
pub(super) async fn request(req: Req, next: Next) -> Step<Response<Body>> {
    let Some(path) = req.object_path() else {
        return Ok(next.run(req).await?);
    };
    let proxy = next.proxy().clone();
    let info = proxy
        .container_info(&req.ctx, &path.account, &path.container)
        .await?;
    let versions = headers::get_utf8(&info.headers, SYSMETA_VERSIONS_CONT)
        .map(|v| unquote(&v).split('/').next().unwrap_or("").to_string())
        .filter(|v| !v.is_empty());
    let v = Versioned {
        path,
        versions,
        enabled: info
            .header(SYSMETA_VERSIONS_ENABLED)
            .is_some_and(headers::is_true_value),
        write_acl: headers::get_utf8(&info.headers, "x-container-write"),
    };
    let version =
        headers::query_param(req.ctx.query.as_deref(), "version-id").filter(|id| !id.is_empty());
    if let Some(id) = version {
        return versioned_request(req, next, &v, &id).await;
    }
    if v.versions.is_none() {
        return Ok(next.run(req).await?);
    }
    match req.ctx.method.clone() {
        m if m == Method::PUT => put(req, next, &v).await,
        m if m == Method::POST => post(req, next, &v).await,
        m if m == Method::DELETE => delete(req, next, &v).await,
        _ => {
            let versions = v.versions.clone().unwrap_or_default();
            let version = req.v1;
            let a = next.run(req).await;
            Ok(name_versions(a, &v.path, &versions, version)?)
        }
    }
}

/// A GET or HEAD answer names the version read (`null` for data not
/// versioned) and points at it with `?version-id`.
fn name_versions(a: Answer, path: &ObjectPath, versions: &str, v1: bool) -> Answer {
    let mut a = with_header(a, VERSION_ID, "null");
    let Ok(resp) = a.as_mut() else {
        return a;
    };
    let api = if v1 { "v1" } else { "v1.0" };
    let here = format!(
        "/{api}/{}",
        quote_path(&format!(
            "{}/{}/{}",
            path.account, path.container, path.object
        ))
    );
    let h = resp.headers_mut();
    if let Some(loc) = headers::get_utf8(h, "content-location") {
        let loc = unquote(&loc);
        let mut parts = loc.trim_start_matches('/').splitn(4, '/');
        let (_, acct, cont, obj) = (parts.next(), parts.next(), parts.next(), parts.next());
        if acct == Some(path.account.as_str()) && cont == Some(versions) {
            if let Some((_, ts)) = obj.and_then(split_version) {
                let id = ts.internal();
                headers::set(h, VERSION_ID, &id);
                headers::set(h, "content-location", &format!("{here}?version-id={id}"));
            }
        }
    }
    if let Some(target) = headers::get_utf8(h, TARGET) {
        let target = unquote(&target);
        if let Some((cont, obj)) = target.trim_start_matches('/').split_once('/') {
            if cont == versions {
                if let Some((_, ts)) = split_version(obj) {
                    let id = ts.internal();
                    headers::set(h, VERSION_ID, &id);
                    let link = quote_path(&format!("{}/{}", path.container, path.object));
                    headers::set(h, TARGET, &format!("{link}?version-id={id}"));
                }
            }
        }
    }
    a
}

/// A request of the caller's own on another object (a version).
fn at(ctx: Ctx, path: &ObjectPath, body: Body, v1: bool) -> Req {
    let mut r = Req::object(ctx, path, body);
    r.v1 = v1;
    r
}

/// The caller may write the versioned container before anything is copied
/// on its behalf.
async fn authorize_write(next: &Next, ctx: &Ctx, v: &Versioned) -> Result<()> {
    let mut c = ctx.clone();
    let p = &v.path;
    next.proxy()
        .authorize(
            &mut c,
            &p.account,
            Some(&p.container),
            Some(&p.object),
            v.write_acl.as_deref(),
        )
        .await
}

/// Swift's `_copy_current`: data written before versioning was enabled
/// (not a versioning link) becomes a version of its own.
async fn copy_current(next: &Next, ctx: &Ctx, v: &Versioned, versions: &str) -> Step<()> {
    authorize_write(next, ctx, v).await?;
    let mut sub = pre_authed(ctx, Method::GET, Some("symlink=get".into()));
    headers::set(&mut sub.headers, "x-newest", "True");
    let src = next
        .clone()
        .run(at(sub, &v.path, swirl_common::body::empty(), true))
        .await;
    if status(&src) == StatusCode::NOT_FOUND {
        return Ok(());
    }
    let src = check(src)?;
    let length: Option<u64> =
        headers::get(src.headers(), "content-length").and_then(|l| l.parse().ok());
    if length.is_none_or(|l| l > c::MAX_FILE_SIZE) {
        return Err(Error::TooLarge("Your request is too large.".into()).into());
    }
    if backend_or_client(&src, SYS_VERSIONS_SYMLINK) == Some("true") {
        return Ok(());
    }
    let ts = source_timestamp(src.headers())?;
    let name = version_object_name(&v.path.object, &ts)
        .ok_or_else(|| Error::BadRequest("Invalid object name".into()))?;
    let sysmeta = backend_headers(&src).cloned();
    let (parts, body) = src.into_parts();
    let mut put = pre_authed(ctx, Method::PUT, None);
    put.headers = copied_headers(&parts.headers, sysmeta.as_ref());
    allow_reserved(&mut put.headers);
    if let Some(size) = headers::get(&put.headers, "x-object-sysmeta-slo-size") {
        // A manifest's listing size is its segments' total.
        let ct = format!(
            "{}; swift_bytes={size}",
            headers::get(&put.headers, "content-type").unwrap_or("")
        );
        headers::set(&mut put.headers, "content-type", &ct);
        put.ctype_overridden = true;
    }
    let a = next
        .clone()
        .run(at(put, &v.version_path(versions, &name), body, true))
        .await;
    if status(&a) == StatusCode::NOT_FOUND {
        return Err(no_versions_container().into());
    }
    check(a).map(drop)
}

/// When the source was written: its X-Timestamp, else its Last-Modified.
fn source_timestamp(h: &HeaderMap) -> Result<Timestamp> {
    if let Some(ts) = headers::get(h, "x-timestamp").and_then(|v| Timestamp::parse(v).ok()) {
        return Ok(ts);
    }
    headers::get(h, "last-modified")
        .and_then(swirl_common::timestamp::parse_http_date)
        .and_then(|s| Timestamp::from_secs_f64(s as f64).ok())
        .ok_or_else(|| Error::Internal("versioned object has no timestamp".into()))
}

/// A body that counts the bytes read from it.
fn counted(body: Body, n: Arc<AtomicU64>) -> Body {
    body.map_frame(move |f| {
        if let Some(d) = f.data_ref() {
            n.fetch_add(d.len() as u64, Ordering::Relaxed);
        }
        f
    })
    .boxed()
}

/// Swift's `handle_put`: the current data (if not yet a version) is kept,
/// the new data is written as a version, and the object becomes a link to it.
async fn put(req: Req, next: Next, v: &Versioned) -> Step<Response<Body>> {
    let Some(versions) = v.versions.clone().filter(|_| v.enabled) else {
        return Ok(next.run(req).await?);
    };
    copy_current(&next, &req.ctx, v, &versions).await?;
    let ts = Timestamp::now();
    let name = version_object_name(&v.path.object, &ts)
        .ok_or_else(|| Error::BadRequest("Invalid object name".into()))?;
    let Req {
        mut ctx, body, v1, ..
    } = req;
    let mut sub = pre_authed(&ctx, Method::PUT, None);
    sub.headers = ctx.headers.clone();
    sub.headers.remove("x-delete-at");
    sub.headers.remove("x-delete-after");
    allow_reserved(&mut sub.headers);
    sub.ctype_overridden = std::mem::take(&mut ctx.ctype_overridden);
    let read = Arc::new(AtomicU64::new(0));
    let a = next
        .clone()
        .run(at(
            sub.clone(),
            &v.version_path(&versions, &name),
            counted(body, read.clone()),
            true,
        ))
        .await;
    if status(&a) == StatusCode::NOT_FOUND {
        return Err(no_versions_container().into());
    }
    let stored = check(a)?;
    let etag = headers::get(stored.headers(), "etag")
        .unwrap_or("")
        .trim_matches('"')
        .to_string();
    let bytes = match headers::get(&sub.headers, "x-object-sysmeta-slo-size") {
        Some(s) => s.to_string(),
        None => read.load(Ordering::Relaxed).to_string(),
    };
    let ctype = match headers::get(&sub.headers, "content-type") {
        Some(ct) if !headers::is_true(&sub.headers, "x-detect-content-type") => {
            ct.split(';').next().unwrap_or("").trim().to_string()
        }
        _ => content_type::guess(&v.path.object).to_string(),
    };
    let link = Link {
        versions: &versions,
        name: &name,
        etag: &etag,
        bytes: &bytes,
        content_type: &ctype,
    };
    Ok(put_link(&next, ctx, &v.path, v1, &link, &ts).await?)
}

/// What a versioning link points at.
struct Link<'a> {
    versions: &'a str,
    name: &'a str,
    etag: &'a str,
    bytes: &'a str,
    content_type: &'a str,
}

/// Swift's `_put_symlink_to_version`: the caller's request becomes a PUT of
/// a static link to the version (symlink, below, stores it).
async fn put_link(
    next: &Next,
    mut ctx: Ctx,
    path: &ObjectPath,
    v1: bool,
    link: &Link<'_>,
    version: &Timestamp,
) -> Answer {
    ctx.method = Method::PUT;
    ctx.ctype_overridden = false;
    let h = &mut ctx.headers;
    for n in [
        "etag",
        "x-if-delete-at",
        TARGET_ACCOUNT,
        "x-object-manifest",
        "x-static-large-object",
        "x-object-sysmeta-slo-etag",
        "x-object-sysmeta-slo-size",
        "transfer-encoding",
        "x-detect-content-type",
    ] {
        h.remove(n);
    }
    headers::set(h, SYS_TARGET_ETAG, link.etag);
    headers::set(h, SYS_TARGET_BYTES, link.bytes);
    headers::set(h, "content-type", link.content_type);
    headers::set(
        h,
        TARGET,
        &quote_path(&format!("{}/{}", link.versions, link.name)),
    );
    for n in [
        SYS_VERSIONS_SYMLINK,
        SYS_SYMLOOP_EXTEND,
        SYS_ALLOW_RESERVED_NAMES,
    ] {
        headers::set(h, n, "true");
    }
    allow_reserved(h);
    headers::set(h, "content-length", "0");
    let ctx = ctx.by("OV");
    let a = next
        .clone()
        .run(at(ctx, path, swirl_common::body::empty(), v1))
        .await;
    let a = with_header(a, "etag", link.etag);
    with_header(a, VERSION_ID, &version.internal())
}

/// Swift's `handle_delete`: the current data is kept as a version, a delete
/// marker is written, then the object (its link) is deleted.
async fn delete(req: Req, next: Next, v: &Versioned) -> Step<Response<Body>> {
    let Some(versions) = v.versions.clone().filter(|_| v.enabled) else {
        return Ok(next.run(req).await?);
    };
    copy_current(&next, &req.ctx, v, &versions).await?;
    let ts = Timestamp::now();
    let name = version_object_name(&v.path.object, &ts)
        .ok_or_else(|| Error::BadRequest("Invalid object name".into()))?;
    let mut marker = pre_authed(&req.ctx, Method::PUT, None);
    headers::set(
        &mut marker.headers,
        "content-type",
        DELETE_MARKER_CONTENT_TYPE,
    );
    headers::set(&mut marker.headers, "content-length", "0");
    marker.ctype_overridden = true;
    let m = next
        .clone()
        .run(at(
            marker,
            &v.version_path(&versions, &name),
            swirl_common::body::empty(),
            true,
        ))
        .await;
    check(m)?;
    let a = next.run(req).await;
    let s = status(&a);
    if s.is_success() || s == StatusCode::NOT_FOUND {
        return Ok(with_header(a, VERSION_ID, &ts.internal())?);
    }
    Ok(a?)
}

/// Swift's `handle_post`: a POST to a versioning link (symlink's 307) is
/// applied to the version it points at too.
async fn post(req: Req, next: Next, v: &Versioned) -> Step<Response<Body>> {
    let mut sub = pre_authed(&req.ctx, Method::POST, None);
    sub.headers = req.ctx.headers.clone();
    sub.headers.remove("x-delete-at");
    sub.headers.remove("x-delete-after");
    allow_reserved(&mut sub.headers);
    let v1 = req.v1;
    let a = next.clone().run(req).await;
    if let Err(Error::TemporaryRedirect {
        location,
        versions_symlink: true,
        ..
    }) = &a
    {
        let loc = unquote(location);
        let mut parts = loc.trim_start_matches('/').splitn(4, '/');
        let (_, acct, cont, obj) = (parts.next(), parts.next(), parts.next(), parts.next());
        if let (Some(acct), Some(cont), Some(obj)) = (acct, cont, obj) {
            if acct == v.path.account && Some(cont) == v.versions.as_deref() && !obj.is_empty() {
                let target = ObjectPath::new(acct, cont, obj);
                let r = next
                    .run(at(sub, &target, swirl_common::body::empty(), v1))
                    .await;
                return Ok(r?);
            }
        }
    }
    Ok(a?)
}

/// Swift's `handle_versioned_request`: `?version-id=<id>` on GET, HEAD,
/// DELETE, and PUT (make that version the current one).
async fn versioned_request(req: Req, next: Next, v: &Versioned, id: &str) -> Step<Response<Body>> {
    let m = req.ctx.method.clone();
    if m == Method::POST {
        return Err(Error::BadRequest("POST to a specific version is not allowed".into()).into());
    }
    let null = id == "null";
    if v.versions.is_none() && !null {
        return Err(Error::BadRequest(
            "version-aware operations require that the container is versioned".into(),
        )
        .into());
    }
    let version = match null {
        true => None,
        false => Some(
            parse_version(id)
                .filter(|ts| invert(ts).is_some())
                .ok_or_else(|| Error::BadRequest("Invalid version parameter".into()))?,
        ),
    };
    let versions = v.versions.clone().unwrap_or_default();
    if m == Method::DELETE {
        return match version {
            // Straight to the current object, whatever it is.
            None => Ok(next.run(req).await?),
            Some(ts) => delete_version(req, next, v, &versions, id, &ts).await,
        };
    }
    if m == Method::PUT {
        let Some(ts) = version else {
            return Err(Error::BadRequest("Invalid version parameter".into()).into());
        };
        return put_version(req, next, v, &versions, &ts).await;
    }
    let Some(ts) = version else {
        let a = next.run(req).await;
        let mut resp = a?;
        if resp.status().is_success() {
            let loc = headers::get_utf8(resp.headers(), "content-location")
                .map(|l| unquote(&l))
                .unwrap_or_default();
            if loc.contains("\0versions\0") {
                // The current data is a version with an id of its own.
                return Err(Error::NotFound.into());
            }
            headers::set(resp.headers_mut(), VERSION_ID, "null");
        }
        return Ok(resp);
    };
    let name = version_object_name(&v.path.object, &ts)
        .ok_or_else(|| Error::BadRequest("Invalid version parameter".into()))?;
    let Req {
        mut ctx, body, v1, ..
    } = req;
    allow_reserved(&mut ctx.headers);
    let a = next
        .run(at(ctx, &v.version_path(&versions, &name), body, v1))
        .await;
    let marker = match &a {
        Ok(r) => {
            backend_or_client(r, swirl_common::backend_headers::CONTENT_TYPE)
                .or_else(|| headers::get(r.headers(), "content-type"))
                == Some(DELETE_MARKER_CONTENT_TYPE)
        }
        Err(_) => false,
    };
    if marker {
        let mut h = HeaderMap::new();
        headers::set(&mut h, VERSION_ID, id);
        headers::set(&mut h, "content-type", DELETE_MARKER_CONTENT_TYPE);
        return Err(Error::WithHeaders(Box::new(Error::NotFound), h).into());
    }
    if status(&a).is_success() {
        return Ok(with_header(a, VERSION_ID, id)?);
    }
    Ok(a?)
}

/// Swift's `_check_head`: is there a current object, and is it a
/// versioning link (to which version)?
async fn current_link(next: &Next, ctx: &Ctx, path: &ObjectPath) -> Step<(bool, Option<String>)> {
    let mut sub = pre_authed(ctx, Method::HEAD, Some("symlink=get".into()));
    headers::set(&mut sub.headers, "x-newest", "True");
    let a = next
        .clone()
        .run(at(sub, path, swirl_common::body::empty(), true))
        .await;
    if status(&a) == StatusCode::NOT_FOUND {
        return Ok((true, None));
    }
    let r = check(a)?;
    let target = (backend_or_client(&r, SYS_VERSIONS_SYMLINK) == Some("true"))
        .then(|| headers::get_utf8(r.headers(), TARGET))
        .flatten();
    Ok((false, target))
}

/// Swift's `handle_delete_version`: deletes one version; when it is the
/// current one, its link goes first.
async fn delete_version(
    req: Req,
    next: Next,
    v: &Versioned,
    versions: &str,
    id: &str,
    ts: &Timestamp,
) -> Step<Response<Body>> {
    let (gone, target) = current_link(&next, &req.ctx, &v.path).await?;
    let name = version_object_name(&v.path.object, ts)
        .ok_or_else(|| Error::BadRequest("Invalid version parameter".into()))?;
    let wanted = format!("{versions}/{name}");
    let target = target.map(|t| unquote(&t));
    let current_id;
    let Req {
        mut ctx, body, v1, ..
    } = req;
    match &target {
        Some(t) if !gone && *t == wanted => {
            // The current version: its link goes first.
            let mut link = ctx.clone();
            link.query = None;
            let l = next
                .clone()
                .run(at(link, &v.path, swirl_common::body::empty(), v1))
                .await;
            check(l)?;
            current_id = "null".to_string();
        }
        Some(t) if !gone => {
            current_id = t
                .split_once('/')
                .and_then(|(_, n)| split_version(n))
                .map(|(_, ts)| ts.internal())
                .unwrap_or_else(|| "null".into());
        }
        _ => current_id = "null".to_string(),
    }
    allow_reserved(&mut ctx.headers);
    let a = next
        .run(at(ctx, &v.version_path(versions, &name), body, v1))
        .await;
    let a = with_header(a, VERSION_ID, id);
    Ok(with_header(a, "x-object-current-version-id", &current_id)?)
}

/// Is there a request body (a byte is read when no length was given)?
async fn has_body(ctx: &Ctx, body: &mut Body) -> Result<bool> {
    match crate::constraints::request_length(&ctx.headers)? {
        (Some(n), _) => Ok(n != 0),
        (None, _) => {
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|_| Error::ClientDisconnect)?;
                if frame.data_ref().is_some_and(|d: &Bytes| !d.is_empty()) {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
}

/// Swift's `handle_put_version`: a zero-byte PUT `?version-id=<id>` links
/// the object to that version again.
async fn put_version(
    mut req: Req,
    next: Next,
    v: &Versioned,
    versions: &str,
    ts: &Timestamp,
) -> Step<Response<Body>> {
    if has_body(&req.ctx, &mut req.body).await? {
        return Err(
            Error::BadRequest("PUT version-id requests require a zero byte body".into()).into(),
        );
    }
    let name = version_object_name(&v.path.object, ts)
        .ok_or_else(|| Error::BadRequest("Invalid version parameter".into()))?;
    let vpath = v.version_path(versions, &name);
    let head = pre_authed(&req.ctx, Method::HEAD, Some("symlink=get".into()));
    let a = next
        .clone()
        .run(at(head, &vpath, swirl_common::body::empty(), true))
        .await;
    if status(&a) == StatusCode::NOT_FOUND {
        let info = next
            .proxy()
            .container_info(&req.ctx, &v.path.account, versions)
            .await?;
        if info.exists() {
            return Err(Error::NotFound.into());
        }
        return Err(no_versions_container().into());
    }
    let found = check(a)?;
    let h = found.headers();
    let etag = headers::get(h, "etag")
        .unwrap_or("")
        .trim_matches('"')
        .to_string();
    let bytes = headers::get(h, "content-length").unwrap_or("0").to_string();
    let ctype = headers::get(h, "content-type").unwrap_or("").to_string();
    drop(found);
    let link = Link {
        versions,
        name: &name,
        etag: &etag,
        bytes: &bytes,
        content_type: &ctype,
    };
    let mut ctx = req.ctx;
    ctx.query = None;
    Ok(put_link(&next, ctx, &v.path, req.v1, &link, ts).await?)
}
