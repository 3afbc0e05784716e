//! Swift's object versioning (`versioned_writes/object_versioning.py`,
//! 2.30): `X-Versions-Enabled: true` on a container PUT or POST creates a
//! hidden container `\0versions\0<container>` in the reserved namespace.
//! In a versioned container an object PUT stores its data there, as
//! `\0<object>\0<inverted timestamp>`, and writes a static symlink to it
//! in the container (object sysmeta marks it as versioning's own); a
//! DELETE writes a delete marker there. `?version-id=<id>` (or `null`)
//! reads, deletes or re-links one version; `?versions` lists them all.
//! The filter sits right below `versioned_writes` (as Swift's factory
//! wraps it) and above `symlink`, which follows the links. What it does on
//! the caller's behalf in the hidden container is pre-authorized (Swift's
//! `make_pre_authed_request`) and sent with X-Backend-Allow-Reserved-Names;
//! reading or deleting a version is the caller's own request, so the
//! hidden container's ACLs (none: owners only) judge it.

mod container;
mod listing;
mod object;

use http::{HeaderMap, Method, Response, StatusCode};
use serde_json::{json, Map, Value};
use swirl_common::backend_headers as bh;
use swirl_common::reserved;
use swirl_common::{Body, Timestamp};

use crate::app::{Authorizer, Ctx, Proxy};
use crate::error::{Error, Result};
use crate::headers;
use crate::pipeline::{Filter, Fut, Next, Req};
use crate::router::Endpoint;

/// The client's switch on a container (and its answer on HEAD/GET).
pub const CLIENT_VERSIONS_ENABLED: &str = "x-versions-enabled";
/// Where the switch is kept (`True` / `False`, as Swift writes a bool).
pub const SYSMETA_VERSIONS_ENABLED: &str = "x-container-sysmeta-versions-enabled";
/// The hidden container's name, quoted.
pub const SYSMETA_VERSIONS_CONT: &str = "x-container-sysmeta-versions-container";
/// A delete marker's Content-Type (legacy history mode's too).
pub use crate::middleware::versioned_writes::DELETE_MARKER_CONTENT_TYPE;
/// The answer naming the version a request read or wrote.
pub const VERSION_ID: &str = "x-object-version-id";

/// Swift's `Timestamp.__invert__` bound: raw units are 10 µs.
const INVERT_FROM: u64 = 999_999_999_999_999;

/// The object_versioning filter.
pub struct ObjectVersioning;

impl Filter for ObjectVersioning {
    fn call(&self, req: Req, next: Next) -> Fut<'static> {
        if !next.proxy().cfg.versioned_writes.allow_object_versioning {
            return next.run(req);
        }
        match &req.endpoint {
            Endpoint::Account { .. } if req.ctx.method == Method::GET => {
                Box::pin(finish(container::account_get(req, next)))
            }
            Endpoint::Container { .. } => Box::pin(finish(container::request(req, next))),
            Endpoint::Object { .. } => Box::pin(finish(object::request(req, next))),
            _ => next.run(req),
        }
    }

    fn info(&self, proxy: &Proxy, out: &mut Map<String, Value>) {
        if proxy.cfg.versioned_writes.allow_object_versioning {
            out.insert("object_versioning".into(), json!({}));
        }
    }
}

/// A container's info with its versions' bytes counted in
/// X-Container-Bytes-Used. Swift's filters read container info through
/// the pipeline, where this filter's HEAD adds them; swirl's proxy reads
/// info from the backends, so a filter judging bytes (container quotas)
/// asks here.
pub async fn with_versions_bytes(
    proxy: &Proxy,
    ctx: &Ctx,
    account: &str,
    info: std::sync::Arc<crate::app::Info>,
) -> Result<std::sync::Arc<crate::app::Info>> {
    if !proxy.cfg.versioned_writes.allow_object_versioning
        || !proxy.pipeline.has("object_versioning")
    {
        return Ok(info);
    }
    let Some(hidden) = headers::get_utf8(&info.headers, SYSMETA_VERSIONS_CONT)
        .map(|v| crate::middleware::symlink::target::unquote(&v))
        .filter(|v| !v.is_empty())
    else {
        return Ok(info);
    };
    // Counts read now, as the caller's are (the cache keeps them otherwise).
    proxy.info.invalidate(account, Some(&hidden));
    let more = proxy.container_info(ctx, account, &hidden).await?;
    let bytes = |i: &crate::app::Info| {
        i.header("x-container-bytes-used")
            .and_then(|b| b.parse::<u64>().ok())
            .unwrap_or(0)
    };
    if !more.exists() {
        return Ok(info);
    }
    let mut out = (*info).clone();
    headers::set(
        &mut out.headers,
        "x-container-bytes-used",
        &(bytes(&info) + bytes(&more)).to_string(),
    );
    Ok(std::sync::Arc::new(out))
}

/// Why the versioning steps stop early: an answer from below to send as it
/// is (Swift raising an `HTTPException` made of a response), or an error.
pub(crate) enum Halt {
    Answer(Box<Response<Body>>),
    Fail(Error),
}

impl From<Error> for Halt {
    fn from(e: Error) -> Self {
        Halt::Fail(e)
    }
}

/// The result of a step that may halt.
pub(crate) type Step<T> = std::result::Result<T, Halt>;

async fn finish(
    f: impl std::future::Future<Output = Step<Response<Body>>>,
) -> Result<Response<Body>> {
    match f.await {
        Ok(r) => Ok(r),
        Err(Halt::Answer(r)) => Ok(*r),
        Err(Halt::Fail(e)) => Err(e),
    }
}

/// What a sub-request answered: a response, or the error standing for one.
pub(crate) type Answer = Result<Response<Body>>;

pub(crate) fn status(a: &Answer) -> StatusCode {
    match a {
        Ok(r) => r.status(),
        Err(e) => swirl_common::ApiError::status(e),
    }
}

/// Swift's HTTPPreconditionFailed body.
const PRECONDITION_FAILED: &str =
    "<html><h1>Precondition Failed</h1><p>A precondition for this request was not met.</p></html>";

/// Swift's `_check_response_error`: a success passes; a 404 (no such
/// container) is a 412, another client error goes back as it came, and a
/// server error is a 503.
pub(crate) fn check(a: Answer) -> Step<Response<Body>> {
    let s = status(&a);
    if s.is_success() {
        return a.map_err(Halt::Fail);
    }
    if s == StatusCode::NOT_FOUND {
        return Err(Halt::Fail(Error::PreconditionFailed(
            PRECONDITION_FAILED.into(),
        )));
    }
    if s.is_client_error() {
        return Err(match a {
            Ok(r) => Halt::Answer(Box::new(r)),
            Err(e) => Halt::Fail(e),
        });
    }
    Err(Halt::Fail(Error::Unavailable(format!(
        "object versioning: sub-request answered {s}"
    ))))
}

/// The 500 of a versions container gone missing.
pub(crate) fn no_versions_container() -> Error {
    Error::Internal(
        "The versions container does not exist. You may want to re-enable object versioning."
            .into(),
    )
}

/// A pre-authorized sub-request into the reserved namespace.
pub(crate) fn pre_authed(ctx: &Ctx, method: Method, query: Option<String>) -> Ctx {
    let mut sub = ctx.subrequest(method, query).by("OV");
    sub.auth = Authorizer::Open;
    allow_reserved(&mut sub.headers);
    sub
}

/// Lets a request name the reserved namespace.
pub(crate) fn allow_reserved(h: &mut HeaderMap) {
    headers::set(h, bh::ALLOW_RESERVED_NAMES, "true");
}

/// `\0versions\0<container>`; None for a container in the namespace itself.
pub fn versions_container_name(container: &str) -> Option<String> {
    reserved::reserved_name(&["versions", container])
}

/// The container a hidden versions container serves (the name unchanged
/// when it is not one).
pub fn versioned_container_of(name: &str) -> String {
    match reserved::split_reserved_name(name).as_deref() {
        Some(["versions", c]) => c.to_string(),
        _ => name.to_string(),
    }
}

/// Swift's `~Timestamp`: versions sort newest first by name.
pub fn invert(ts: &Timestamp) -> Option<Timestamp> {
    if ts.offset() != 0 {
        return None;
    }
    Timestamp::from_raw(INVERT_FROM.checked_sub(ts.raw())?, 0).ok()
}

/// `\0<object>\0<inverted timestamp>`.
pub fn version_object_name(object: &str, ts: &Timestamp) -> Option<String> {
    reserved::reserved_name(&[object, &invert(ts)?.internal()])
}

/// `\0<object>\0`: what every version's name of `object` starts with.
pub fn version_object_prefix(object: &str) -> Option<String> {
    reserved::reserved_name(&[object, ""])
}

/// A version's object name and version (its timestamp), if it is one.
pub fn split_version(name: &str) -> Option<(String, Timestamp)> {
    match reserved::split_reserved_name(name).as_deref() {
        Some([object, inv]) => {
            let ts = invert(&Timestamp::parse(inv).ok()?)?;
            Some((object.to_string(), ts))
        }
        _ => None,
    }
}

/// A version id as Swift's `Timestamp(version)` reads it.
pub fn parse_version(v: &str) -> Option<Timestamp> {
    Timestamp::parse(v).ok()
}

/// The decoded `(name, value)` pairs of a query, in order.
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// A query from pairs (values quoted).
pub(crate) fn build_query(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                crate::backend::quote_query(k),
                crate::backend::quote_query(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The query with `name` set to `value` (every other parameter kept as sent).
pub(crate) fn with_param(query: Option<&str>, name: &str, value: &str) -> String {
    let mut kept: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let k = p.split_once('=').map_or(*p, |(k, _)| k);
            percent_encoding::percent_decode_str(k).decode_utf8_lossy() != name
        })
        .collect();
    let pair = format!("{name}={}", crate::backend::quote_query(value));
    kept.push(&pair);
    kept.join("&")
}

/// A header of the backend's (sysmeta included), else the client's.
pub(crate) fn backend_or_client<'a>(resp: &'a Response<Body>, name: &str) -> Option<&'a str> {
    crate::response::backend_headers(resp)
        .and_then(|h| headers::get(h, name))
        .or_else(|| headers::get(resp.headers(), name))
}

/// Adds a header to an answer, whether it is a response or an error.
pub(crate) fn with_header(a: Answer, name: &str, value: &str) -> Answer {
    match a {
        Ok(mut r) => {
            headers::set(r.headers_mut(), name, value);
            Ok(r)
        }
        Err(mut e) => {
            if let Some(h) = e.headers_mut() {
                headers::set(h, name, value);
                return Err(e);
            }
            let mut h = HeaderMap::new();
            headers::set(&mut h, name, value);
            Err(Error::WithHeaders(Box::new(e), h))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            versions_container_name("c").as_deref(),
            Some("\0versions\0c")
        );
        assert_eq!(versions_container_name("\0x"), None);
        assert_eq!(versioned_container_of("\0versions\0c"), "c");
        assert_eq!(versioned_container_of("c"), "c");
        let ts = Timestamp::parse("1700000000.12345").unwrap();
        let inv = invert(&ts).unwrap();
        assert_eq!(inv.internal(), "8299999999.87654");
        assert_eq!(invert(&inv).unwrap(), ts);
        assert_eq!(invert(&ts.with_offset(1)), None);
        let name = version_object_name("o/x", &ts).unwrap();
        assert_eq!(name, "\0o/x\u{0}8299999999.87654");
        assert!(name.starts_with(&version_object_prefix("o/x").unwrap()));
        assert_eq!(split_version(&name), Some(("o/x".into(), ts)));
        assert_eq!(split_version("o"), None);
        assert_eq!(split_version("\0o\0x"), None);
        assert_eq!(split_version("\0o\u{0}1\u{0}2"), None);
        // Newer versions sort first.
        let later = Timestamp::parse("1700000001").unwrap();
        assert!(version_object_name("o", &later).unwrap() < name.replace("o/x", "o"));
    }

    #[test]
    fn queries() {
        let q = Some("versions&format=xml&marker=a%20b");
        assert_eq!(
            query_pairs(q),
            vec![
                ("versions".to_string(), String::new()),
                ("format".to_string(), "xml".to_string()),
                ("marker".to_string(), "a b".to_string())
            ]
        );
        assert_eq!(
            with_param(q, "format", "json"),
            "versions&marker=a%20b&format=json"
        );
        assert_eq!(
            build_query(&[("prefix".into(), "\0a".into())]),
            "prefix=%00a"
        );
    }
}
