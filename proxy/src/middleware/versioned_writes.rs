//! Swift's legacy versioned_writes: a container names an archive container
//! with `X-Versions-Location` (stack mode: a DELETE brings the previous
//! version back) or `X-History-Location` (history mode: a DELETE leaves a
//! delete marker), kept as container sysmeta. A PUT over an existing object
//! first copies it to `<archive>/<len:03x><name>/<timestamp>`. The copies,
//! listings and restores are pre-authorized sub-requests through the
//! pipeline below this filter (Swift's `make_pre_authed_request` to
//! `self.app`), after the caller's write access to the versioned container
//! was checked. The object side is in `versioned_writes/archive.rs`.

mod archive;

use http::{HeaderMap, HeaderValue, Method, Response};
use serde_json::{json, Map, Value};
use swirl_common::{Body, Timestamp};

use crate::app::Proxy;
use crate::error::{Error, Result};
use crate::headers;
use crate::pipeline::{Filter, Fut, Next, Req};
use crate::response;
use crate::router::Endpoint;

/// The client's header for stack mode.
pub const VERSIONS_LOCATION: &str = "x-versions-location";
/// The client's header for history mode.
pub const HISTORY_LOCATION: &str = "x-history-location";
/// Where the archive container's name is kept.
pub const SYSMETA_LOCATION: &str = "x-container-sysmeta-versions-location";
/// `stack` or `history`.
pub const SYSMETA_MODE: &str = "x-container-sysmeta-versions-mode";
/// The Content-Type of a history-mode delete marker (the `swift_*`
/// parameter says no client wrote it).
pub const DELETE_MARKER_CONTENT_TYPE: &str = "application/x-deleted;swift_versions_deleted=1";

const REMOVE_VERSIONS: &str = "x-remove-versions-location";
const REMOVE_HISTORY: &str = "x-remove-history-location";

/// What a DELETE does in a versioned container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Restore the newest archived version.
    Stack,
    /// Archive the current version and write a delete marker.
    History,
}

/// The versioned_writes filter.
pub struct VersionedWrites;

impl Filter for VersionedWrites {
    fn call(&self, req: Req, next: Next) -> Fut<'static> {
        let allow = next.proxy().cfg.versioned_writes.allow_versioned_writes;
        match (&req.endpoint, allow) {
            (Endpoint::Container { .. }, Some(enabled)) => {
                Box::pin(container_request(req, next, enabled))
            }
            (Endpoint::Object { .. }, Some(true))
                if req.ctx.method == Method::PUT || req.ctx.method == Method::DELETE =>
            {
                Box::pin(archive::object_request(req, next))
            }
            _ => next.run(req),
        }
    }

    fn info(&self, proxy: &Proxy, out: &mut Map<String, Value>) {
        if proxy.cfg.versioned_writes.allow_versioned_writes == Some(true) {
            out.insert(
                "versioned_writes".into(),
                json!({"allowed_flags": [VERSIONS_LOCATION, HISTORY_LOCATION]}),
            );
        }
    }
}

/// A container request: the location headers become sysmeta on the way
/// down, and sysmeta the client's header on the way up.
async fn container_request(mut req: Req, next: Next, enabled: bool) -> Result<Response<Body>> {
    let writes = req.ctx.method == Method::PUT || req.ctx.method == Method::POST;
    location_to_sysmeta(&mut req.ctx.headers, enabled, writes)?;
    let mut resp = next.run(req).await?;
    let backend = response::backend_headers(&resp).cloned();
    if let Some((name, value)) = backend.as_ref().and_then(client_location) {
        set_text(resp.headers_mut(), name, &value);
    }
    Ok(resp)
}

/// Swift's rules for a container request's location headers (`writes`:
/// the request is a PUT or POST): both non-empty is a 400, an empty one
/// removes versioning, a location is checked and kept as sysmeta (with
/// its mode) and wins over X-Remove-*-Location in the same request.
pub fn location_to_sysmeta(h: &mut HeaderMap, enabled: bool, writes: bool) -> Result<()> {
    let value = |h: &HeaderMap, n: &str| headers::get_utf8(h, n);
    if h.contains_key(VERSIONS_LOCATION) && h.contains_key(HISTORY_LOCATION) {
        if value(h, HISTORY_LOCATION).unwrap_or_default().is_empty() {
            h.remove(HISTORY_LOCATION);
        } else if !value(h, VERSIONS_LOCATION).unwrap_or_default().is_empty() {
            return Err(Error::BadRequest(format!(
                "Only one of {VERSIONS_LOCATION} or {HISTORY_LOCATION} may be specified"
            )));
        } else {
            h.remove(VERSIONS_LOCATION);
        }
    }
    let given = if h.contains_key(VERSIONS_LOCATION) {
        Some((VERSIONS_LOCATION, "stack"))
    } else if h.contains_key(HISTORY_LOCATION) {
        Some((HISTORY_LOCATION, "history"))
    } else {
        None
    };
    if let Some((name, mode)) = given {
        let val = value(h, name).unwrap_or_default();
        h.remove(VERSIONS_LOCATION);
        h.remove(HISTORY_LOCATION);
        if val.is_empty() {
            headers::set(h, REMOVE_VERSIONS, "x");
        } else if !enabled && writes {
            return Err(Error::PreconditionFailed(
                "Versioned Writes is disabled".into(),
            ));
        } else {
            if val.contains('/') {
                return Err(Error::PreconditionFailed(
                    "Container name cannot contain slashes".into(),
                ));
            }
            set_text(h, SYSMETA_LOCATION, &val);
            headers::set(h, SYSMETA_MODE, mode);
            h.remove(REMOVE_VERSIONS);
            h.remove(REMOVE_HISTORY);
        }
    }
    let removing = [REMOVE_VERSIONS, REMOVE_HISTORY]
        .iter()
        .any(|n| value(h, n).is_some_and(|v| !v.is_empty()));
    if removing {
        headers::set(h, SYSMETA_LOCATION, "");
        headers::set(h, SYSMETA_MODE, "");
    }
    if removing || given.is_some() {
        h.remove(REMOVE_VERSIONS);
        h.remove(REMOVE_HISTORY);
    }
    Ok(())
}

/// Sets a header to text that may be raw UTF-8 (a container name sent
/// unquoted goes back out as the client sent it, as in Swift).
fn set_text(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
        h.insert(name, v);
    }
}

/// The client's header for a container's versioning sysmeta, if any.
pub fn client_location(backend: &HeaderMap) -> Option<(&'static str, String)> {
    let location = headers::get_utf8(backend, SYSMETA_LOCATION).filter(|l| !l.is_empty())?;
    let name = match mode_of(backend) {
        Mode::History => HISTORY_LOCATION,
        Mode::Stack => VERSIONS_LOCATION,
    };
    Some((name, location))
}

/// A container's mode (stack unless its sysmeta says history).
pub fn mode_of(h: &HeaderMap) -> Mode {
    match headers::get(h, SYSMETA_MODE) {
        Some("history") => Mode::History,
        _ => Mode::Stack,
    }
}

/// The archive container a location names: percent-decoded, up to its
/// first '/'; None when empty.
pub fn archive_container(location: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(location).decode_utf8_lossy();
    let name = decoded.split('/').next().unwrap_or("");
    (!name.is_empty()).then(|| name.to_string())
}

/// The prefix every archived version of `object` has: its length in
/// bytes as (at least) three hex digits, the name, a '/'.
pub fn version_prefix(object: &str) -> String {
    format!("{:03x}{object}/", object.len())
}

/// The archive name of the version of `object` written at `ts`.
pub fn version_name(object: &str, ts: &Timestamp) -> String {
    format!("{}{}", version_prefix(object), ts.internal())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hm(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            headers::set(&mut h, k, v);
        }
        h
    }

    #[test]
    fn names() {
        assert_eq!(version_prefix("obj"), "003obj/");
        assert_eq!(version_prefix(&"x".repeat(1024)).len(), 3 + 1024 + 1);
        assert!(version_prefix(&"x".repeat(1024)).starts_with("400x"));
        // Bytes, not characters.
        assert_eq!(version_prefix("\u{e9}"), "002\u{e9}/");
        let ts = Timestamp::parse("1700000000.5").unwrap();
        assert_eq!(version_name("o", &ts), "001o/1700000000.50000");
        assert_eq!(archive_container("ver%20s").as_deref(), Some("ver s"));
        assert_eq!(archive_container("a%2Fb").as_deref(), Some("a"));
        assert_eq!(archive_container(""), None);
    }

    #[test]
    fn stack_and_history_become_sysmeta() {
        let mut h = hm(&[(VERSIONS_LOCATION, "v"), (REMOVE_VERSIONS, "x")]);
        location_to_sysmeta(&mut h, true, true).unwrap();
        assert_eq!(headers::get(&h, SYSMETA_LOCATION), Some("v"));
        assert_eq!(headers::get(&h, SYSMETA_MODE), Some("stack"));
        assert!(h.get(REMOVE_VERSIONS).is_none() && h.get(VERSIONS_LOCATION).is_none());
        let mut h = hm(&[(HISTORY_LOCATION, "v")]);
        location_to_sysmeta(&mut h, true, true).unwrap();
        assert_eq!(headers::get(&h, SYSMETA_MODE), Some("history"));
        assert_eq!(
            client_location(&h),
            Some((HISTORY_LOCATION, "v".to_string()))
        );
    }

    #[test]
    fn both_headers() {
        let mut h = hm(&[(VERSIONS_LOCATION, "a"), (HISTORY_LOCATION, "b")]);
        let e = location_to_sysmeta(&mut h, true, true).unwrap_err();
        assert!(matches!(e, Error::BadRequest(_)));
        // An empty one defers to the other.
        let mut h = hm(&[(VERSIONS_LOCATION, "a"), (HISTORY_LOCATION, "")]);
        location_to_sysmeta(&mut h, true, true).unwrap();
        assert_eq!(headers::get(&h, SYSMETA_MODE), Some("stack"));
        let mut h = hm(&[(VERSIONS_LOCATION, ""), (HISTORY_LOCATION, "b")]);
        location_to_sysmeta(&mut h, true, true).unwrap();
        assert_eq!(headers::get(&h, SYSMETA_MODE), Some("history"));
    }

    #[test]
    fn removal_and_disabled() {
        let mut h = hm(&[(VERSIONS_LOCATION, "")]);
        location_to_sysmeta(&mut h, false, true).unwrap();
        assert_eq!(headers::get(&h, SYSMETA_LOCATION), Some(""));
        assert_eq!(headers::get(&h, SYSMETA_MODE), Some(""));
        assert!(h.get(REMOVE_VERSIONS).is_none());
        let mut h = hm(&[(REMOVE_HISTORY, "x")]);
        location_to_sysmeta(&mut h, true, true).unwrap();
        assert_eq!(headers::get(&h, SYSMETA_LOCATION), Some(""));
        let mut h = hm(&[(VERSIONS_LOCATION, "v")]);
        let e = location_to_sysmeta(&mut h, false, true).unwrap_err();
        assert!(matches!(e, Error::PreconditionFailed(_)));
        // Not a write: nothing to refuse.
        let mut h = hm(&[(VERSIONS_LOCATION, "v")]);
        location_to_sysmeta(&mut h, false, false).unwrap();
        let mut h = hm(&[(VERSIONS_LOCATION, "a/b")]);
        assert!(location_to_sysmeta(&mut h, true, true).is_err());
        let mut h = hm(&[("x-container-read", ".r:*")]);
        location_to_sysmeta(&mut h, true, true).unwrap();
        assert!(h.get(SYSMETA_LOCATION).is_none());
    }

    #[test]
    fn utf8_locations() {
        let mut h = HeaderMap::new();
        h.insert(
            VERSIONS_LOCATION,
            HeaderValue::from_bytes("v\u{e9}".as_bytes()).unwrap(),
        );
        location_to_sysmeta(&mut h, true, true).unwrap();
        assert_eq!(
            client_location(&h),
            Some((VERSIONS_LOCATION, "v\u{e9}".to_string()))
        );
        assert_eq!(archive_container("v\u{e9}").as_deref(), Some("v\u{e9}"));
    }

    #[test]
    fn modes() {
        assert_eq!(mode_of(&hm(&[])), Mode::Stack);
        assert_eq!(mode_of(&hm(&[(SYSMETA_MODE, "history")])), Mode::History);
        assert_eq!(client_location(&hm(&[(SYSMETA_LOCATION, "")])), None);
        assert_eq!(
            client_location(&hm(&[(SYSMETA_LOCATION, "v")])),
            Some((VERSIONS_LOCATION, "v".to_string()))
        );
    }
}
