//! The object side of versioned_writes: a PUT archives the current
//! version first; a DELETE in history mode archives it and writes a delete
//! marker, in stack mode restores the newest archived version (or steps
//! back over a delete marker). Every copy, listing and delete is a
//! pre-authorized sub-request below this filter, made only after the
//! caller's write access to the versioned container was checked.

use std::collections::VecDeque;

use http::{HeaderMap, Method, Response, StatusCode};
use swirl_common::{constraints as c, ApiError, Body, Timestamp};

use super::{
    archive_container, mode_of, version_name, version_prefix, Mode, DELETE_MARKER_CONTENT_TYPE,
    SYSMETA_LOCATION,
};
use crate::app::{Authorizer, Ctx, Proxy};
use crate::backend;
use crate::error::{Error, Result};
use crate::headers;
use crate::middleware::dlo;
use crate::object_path::ObjectPath;
use crate::pipeline::{Next, Req};
use crate::response;

/// Swift's default 412 body (`HTTPPreconditionFailed(request=req)`).
const PRECONDITION_FAILED: &str =
    "<html><h1>Precondition Failed</h1><p>A precondition for this request was not met.</p></html>";

/// A listing page is at most this large (10,000 names of 1 KiB and their rows).
const LISTING_LIMIT: usize = 64 << 20;

/// An object PUT or DELETE: versioned when its container names an archive.
pub(super) async fn object_request(req: Req, next: Next) -> Result<Response<Body>> {
    let Some(path) = req.object_path() else {
        return next.run(req).await;
    };
    let proxy = next.proxy().clone();
    let info = proxy
        .container_info(&req.ctx, &path.account, &path.container)
        .await?;
    let location = headers::get_utf8(&info.headers, SYSMETA_LOCATION);
    let Some(archive) = location.as_deref().and_then(archive_container) else {
        return next.run(req).await;
    };
    let vw = Versioning {
        next,
        path,
        archive,
        write_acl: headers::get_utf8(&info.headers, "x-container-write"),
    };
    if req.ctx.method == Method::PUT {
        vw.copy_current(&proxy, &req.ctx).await?;
        return vw.next.run(req).await;
    }
    match mode_of(&info.headers) {
        Mode::History => {
            vw.copy_current(&proxy, &req.ctx).await?;
            vw.write_delete_marker(&req.ctx).await?;
            vw.next.run(req).await
        }
        Mode::Stack => vw.pop(&proxy, req).await,
    }
}

/// One versioned object and where its versions go.
struct Versioning {
    /// The pipeline below this filter.
    next: Next,
    path: ObjectPath,
    /// The archive container (same account).
    archive: String,
    /// The versioned container's write ACL.
    write_acl: Option<String>,
}

impl Versioning {
    /// The caller must be able to write the versioned container before
    /// anything is copied or restored on its behalf.
    async fn authorize_write(&self, proxy: &Proxy, ctx: &Ctx) -> Result<()> {
        let mut c = ctx.clone();
        let p = &self.path;
        proxy
            .authorize(
                &mut c,
                &p.account,
                Some(&p.container),
                Some(&p.object),
                self.write_acl.as_deref(),
            )
            .await
    }

    fn archived(&self, name: &str) -> ObjectPath {
        ObjectPath::new(self.path.account.clone(), self.archive.clone(), name)
    }

    /// A sub-request's answer: its response, or the error that stands
    /// for one (a missing container is an `Err` from the controllers).
    async fn run(&self, ctx: Ctx, path: &ObjectPath, body: Body) -> Answer {
        self.next.clone().run(Req::object(ctx, path, body)).await
    }

    /// Copies the current version, if any, into the archive.
    async fn copy_current(&self, proxy: &Proxy, ctx: &Ctx) -> Result<()> {
        self.authorize_write(proxy, ctx).await?;
        let Some(src) = self.get_source(ctx, &self.path).await? else {
            return Ok(());
        };
        let ts = source_timestamp(src.headers())?;
        let dest = self.archived(&version_name(&self.path.object, &ts));
        self.put_copy(ctx, src, &dest).await
    }

    /// A history-mode DELETE leaves a marker named for the time of the delete.
    async fn write_delete_marker(&self, ctx: &Ctx) -> Result<()> {
        let dest = self.archived(&version_name(&self.path.object, &Timestamp::now()));
        let mut sub = pre_authed(ctx, Method::PUT, None);
        headers::set(&mut sub.headers, "content-type", DELETE_MARKER_CONTENT_TYPE);
        headers::set(&mut sub.headers, "content-length", "0");
        sub.ctype_overridden = true;
        check(self.run(sub, &dest, swirl_common::body::empty()).await).map(drop)
    }

    /// A stack-mode DELETE (Swift's `handle_obj_versions_delete_pop`).
    async fn pop(&self, proxy: &Proxy, req: Req) -> Result<Response<Body>> {
        let ctx = req.ctx.clone();
        let mut versions = Listing {
            next: self.next.clone(),
            ctx: pre_authed(&ctx, Method::GET, None),
            account: self.path.account.clone(),
            container: self.archive.clone(),
            prefix: version_prefix(&self.path.object),
            marker: String::new(),
            page: VecDeque::new(),
            done: false,
        };
        let mut authed = false;
        while let Some(previous) = versions.next_item().await? {
            if !authed {
                self.authorize_write(proxy, &ctx).await?;
                authed = true;
            }
            if previous.content_type == DELETE_MARKER_CONTENT_TYPE {
                // The newest version is a delete marker: if an object was
                // written since, this DELETE just removes it.
                let mut head = pre_authed(&ctx, Method::HEAD, None);
                headers::set(&mut head.headers, "x-newest", "True");
                let h = self
                    .run(head, &self.path, swirl_common::body::empty())
                    .await;
                if status(&h) != StatusCode::NOT_FOUND {
                    check(h)?;
                    return self.next.clone().run(req).await;
                }
                // Nothing there: bring back the version before the marker
                // (unless that is a marker too), then drop the marker.
                while let Some(older) = versions.next_item().await? {
                    if older.content_type == DELETE_MARKER_CONTENT_TYPE {
                        break;
                    }
                    let Some(restored) = self.restore(&ctx, &older.name).await? else {
                        continue;
                    };
                    let del = pre_authed(&ctx, Method::DELETE, None);
                    let r = self.run(del, &restored, swirl_common::body::empty()).await;
                    if status(&r) != StatusCode::NOT_FOUND {
                        check(r)?;
                    }
                    break;
                }
                let del = pre_authed(&ctx, Method::DELETE, None);
                let marker = self.archived(&previous.name);
                return self.run(del, &marker, swirl_common::body::empty()).await;
            }
            let Some(restored) = self.restore(&ctx, &previous.name).await? else {
                continue;
            };
            // The DELETE becomes one of the restored version's archive copy.
            let del = pre_authed(&ctx, Method::DELETE, None);
            return self.run(del, &restored, swirl_common::body::empty()).await;
        }
        self.next.clone().run(req).await
    }

    /// Copies an archived version over the object; None when it is gone.
    async fn restore(&self, ctx: &Ctx, name: &str) -> Result<Option<ObjectPath>> {
        let from = self.archived(name);
        let Some(src) = self.get_source(ctx, &from).await? else {
            return Ok(None);
        };
        self.put_copy(ctx, src, &self.path).await?;
        Ok(Some(from))
    }

    /// The object at `path` as stored (a manifest or symlink itself), or
    /// None when there is none.
    async fn get_source(&self, ctx: &Ctx, path: &ObjectPath) -> Result<Option<Response<Body>>> {
        let mut sub = pre_authed(ctx, Method::GET, Some("symlink=get".into()));
        headers::set(&mut sub.headers, "x-newest", "True");
        let resp = self.run(sub, path, swirl_common::body::empty()).await;
        if status(&resp) == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = check(resp)?;
        let length: Option<u64> =
            headers::get(resp.headers(), "content-length").and_then(|v| v.parse().ok());
        if length.is_none_or(|l| l > c::MAX_FILE_SIZE) {
            // Swift answers its own 413 here, which it then reports as a
            // client error of the versioning step.
            return Err(Error::PreconditionFailed(PRECONDITION_FAILED.into()));
        }
        Ok(Some(resp))
    }

    /// PUTs a source response's body and headers (its timestamp aside) at `dest`.
    async fn put_copy(&self, ctx: &Ctx, src: Response<Body>, dest: &ObjectPath) -> Result<()> {
        let sysmeta = response::backend_headers(&src).cloned();
        let (parts, body) = src.into_parts();
        let mut sub = pre_authed(ctx, Method::PUT, None);
        sub.headers = copied_headers(&parts.headers, sysmeta.as_ref());
        if let Some(size) = headers::get(&sub.headers, "x-object-sysmeta-slo-size") {
            // A manifest's listing size is its segments' total.
            let ct = format!(
                "{}; swift_bytes={size}",
                headers::get(&sub.headers, "content-type").unwrap_or("")
            );
            headers::set(&mut sub.headers, "content-type", &ct);
            sub.ctype_overridden = true;
        }
        check(self.run(sub, dest, body).await).map(drop)
    }
}

/// A sub-request no ACL judges (Swift's `make_pre_authed_request`).
fn pre_authed(ctx: &Ctx, method: Method, query: Option<String>) -> Ctx {
    let mut sub = ctx.subrequest(method, query).by("VW");
    sub.auth = Authorizer::Open;
    sub
}

/// What a sub-request answered.
type Answer = Result<Response<Body>>;

fn status(a: &Answer) -> StatusCode {
    match a {
        Ok(r) => r.status(),
        Err(e) => e.status(),
    }
}

/// Swift's `_check_response_error`: a client error (missing archive
/// container, no permission) is a 412, anything else a 503.
fn check(a: Answer) -> Result<Response<Body>> {
    let s = status(&a);
    if s.is_success() {
        a
    } else if s.is_client_error() {
        Err(Error::PreconditionFailed(PRECONDITION_FAILED.into()))
    } else {
        Err(Error::Unavailable(format!(
            "versioned_writes: sub-request answered {s}"
        )))
    }
}

/// When the source was written: its X-Timestamp, else its Last-Modified.
fn source_timestamp(h: &HeaderMap) -> Result<Timestamp> {
    if let Some(ts) = headers::get(h, "x-timestamp").and_then(|v| Timestamp::parse(v).ok()) {
        return Ok(ts);
    }
    headers::get(h, "last-modified")
        .and_then(swirl_common::timestamp::parse_http_date)
        .and_then(|s| Timestamp::from_secs_f64(s as f64).ok())
        .ok_or_else(|| Error::Internal("versioned source has no timestamp".into()))
}

/// Response headers a copy must not carry as request headers.
const NOT_COPIED: [&str; 9] = [
    "x-timestamp",
    "last-modified",
    "date",
    "accept-ranges",
    "content-range",
    "x-trans-id",
    "x-openstack-request-id",
    "x-put-timestamp",
    "transfer-encoding",
];

/// The headers of a copy: the source's (as Swift copies all but its
/// X-Timestamp), its object sysmeta included.
pub fn copied_headers(client: &HeaderMap, backend: Option<&HeaderMap>) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (k, v) in client {
        if !NOT_COPIED.contains(&k.as_str()) {
            out.append(k.clone(), v.clone());
        }
    }
    for (k, v) in backend.into_iter().flatten() {
        let n = k.as_str();
        if n.starts_with("x-object-sysmeta-") || n.starts_with("x-object-transient-sysmeta-") {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// One row of the archive's listing.
struct Item {
    name: String,
    content_type: String,
}

/// The archived versions of one object, newest first, a page at a time.
struct Listing {
    next: Next,
    ctx: Ctx,
    account: String,
    container: String,
    prefix: String,
    marker: String,
    page: VecDeque<Item>,
    done: bool,
}

impl Listing {
    async fn next_item(&mut self) -> Result<Option<Item>> {
        loop {
            if let Some(i) = self.page.pop_front() {
                return Ok(Some(i));
            }
            if self.done {
                return Ok(None);
            }
            self.next_page().await?;
        }
    }

    async fn next_page(&mut self) -> Result<()> {
        let query = format!(
            "format=json&prefix={}&marker={}&reverse=on",
            backend::quote_query(&self.prefix),
            backend::quote_query(&self.marker)
        );
        let mut sub = self.ctx.clone();
        sub.query = Some(query);
        let resp = self
            .next
            .clone()
            .run(Req::container(sub, &self.account, &self.container))
            .await;
        let s = status(&resp);
        if s == StatusCode::NOT_FOUND {
            self.done = true;
            return Ok(());
        }
        if s.is_client_error() {
            return Err(Error::PreconditionFailed(PRECONDITION_FAILED.into()));
        }
        let resp = match resp {
            Ok(r) if s.is_success() => r,
            _ => {
                return Err(Error::Internal(format!(
                    "versioned_writes: archive listing answered {s}"
                )))
            }
        };
        let body = dlo::collect(resp.into_body(), LISTING_LIMIT)
            .await
            .ok_or_else(|| Error::Internal("versioned_writes: listing unreadable".into()))?;
        let items = parse_listing(&body)
            .ok_or_else(|| Error::Internal("versioned_writes: listing is not JSON".into()))?;
        match items.last() {
            Some(last) => self.marker = last.name.clone(),
            None => self.done = true,
        }
        self.page.extend(items);
        Ok(())
    }
}

/// A JSON listing's names and content types (an empty body: no rows).
fn parse_listing(body: &[u8]) -> Option<Vec<Item>> {
    if body.is_empty() {
        return Some(Vec::new());
    }
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    Some(
        v.as_array()?
            .iter()
            .filter_map(|row| {
                Some(Item {
                    name: row.get("name")?.as_str()?.to_string(),
                    content_type: row
                        .get("content_type")
                        .and_then(|t| t.as_str())
                        .unwrap_or("")
                        .to_string(),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_all_but_the_timestamp() {
        let mut client = HeaderMap::new();
        headers::set(&mut client, "x-timestamp", "1.00000");
        headers::set(&mut client, "content-type", "text/a");
        headers::set(&mut client, "x-object-meta-a", "1");
        headers::set(&mut client, "etag", "abc");
        headers::set(&mut client, "x-object-manifest", "c/p");
        let mut backend = HeaderMap::new();
        headers::set(&mut backend, "x-object-sysmeta-slo-size", "7");
        headers::set(&mut backend, "x-backend-timestamp", "1.00000");
        let h = copied_headers(&client, Some(&backend));
        assert!(h.get("x-timestamp").is_none());
        assert!(h.get("x-backend-timestamp").is_none());
        for n in [
            "content-type",
            "x-object-meta-a",
            "etag",
            "x-object-manifest",
            "x-object-sysmeta-slo-size",
        ] {
            assert!(h.get(n).is_some(), "{n}");
        }
    }

    #[test]
    fn timestamps() {
        let mut h = HeaderMap::new();
        headers::set(&mut h, "x-timestamp", "1700000000.12345");
        headers::set(&mut h, "last-modified", "Thu, 01 Jan 1970 00:00:01 GMT");
        assert_eq!(source_timestamp(&h).unwrap().internal(), "1700000000.12345");
        h.remove("x-timestamp");
        assert_eq!(source_timestamp(&h).unwrap().internal(), "0000000001.00000");
        h.remove("last-modified");
        assert!(source_timestamp(&h).is_err());
    }

    #[test]
    fn listings() {
        let rows = parse_listing(
            br#"[{"name": "003o/2", "content_type": "application/x-deleted;swift_versions_deleted=1"},
                 {"subdir": "x/"}, {"name": "003o/1", "content_type": "text/plain"}]"#,
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].content_type, DELETE_MARKER_CONTENT_TYPE);
        assert_eq!(rows[1].name, "003o/1");
        assert!(parse_listing(b"").unwrap().is_empty());
        assert!(parse_listing(b"nope").is_none());
    }
}
