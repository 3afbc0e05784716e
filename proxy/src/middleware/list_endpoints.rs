//! Swift's list_endpoints middleware
//! (`swift/common/middleware/list_endpoints.py`, 2.30): where the rings put
//! an account, container or object, for services inside the cluster that
//! want data locality (Hadoop and the like).
//!
//! `GET /endpoints/[v1/]{account}[/{container}[/{object}]]` answers a JSON
//! list of `http://{ip}:{port}/{device}/{partition}/{path}` URLs, one per
//! primary node; `/endpoints/v2/...` answers
//! `{"endpoints": [...], "headers": {...}}`, the headers naming the
//! object's storage policy (`X-Backend-Storage-Policy-Index`, read from the
//! container). A first segment that does not parse as a version is the
//! account (unless it starts with `v` and has no `_`: 400 "Unsupported
//! version"); a path without an account is 400 "No account specified";
//! any method but GET is 405. The prefix is `list_endpoints_path`. The
//! call is not authenticated (Swift's too): it goes before the auth filters
//! and belongs on proxies only the cluster reaches. Swift registers no
//! /info entry for it, nor does this.

use http::{HeaderMap, HeaderValue, Method, Response};
use serde::Deserialize;

use crate::app::Proxy;
use crate::backend::quote_path;
use crate::error::{Error, Result};
use crate::headers;
use crate::pipeline::{Filter, Fut, Next, Req};
use crate::rings::RingKind;
use crate::router::Endpoint;

/// `[list_endpoints]` options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListEndpointsConfig {
    /// The path prefix served (a `/` is added at its end when missing).
    #[serde(default = "default_path")]
    pub list_endpoints_path: String,
}

impl Default for ListEndpointsConfig {
    fn default() -> Self {
        ListEndpointsConfig {
            list_endpoints_path: default_path(),
        }
    }
}

fn default_path() -> String {
    "/endpoints/".into()
}

impl ListEndpointsConfig {
    /// The prefix, ending in `/` as Swift makes it.
    pub fn prefix(&self) -> String {
        let mut p = self.list_endpoints_path.clone();
        if !p.ends_with('/') {
            p.push('/');
        }
        p
    }
}

/// The list_endpoints filter.
pub struct ListEndpoints;

/// The response formats (`/endpoints/v1/...`, `/endpoints/v2/...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// A parsed request path, its names still percent-encoded as Swift's
/// `request.path` has them. A container may be empty (`/endpoints/a/`),
/// which Swift hashes as the account alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub version: Version,
    pub account: String,
    pub container: Option<String>,
    pub object: Option<String>,
}

impl Filter for ListEndpoints {
    fn call(&self, req: Req, next: Next) -> Fut<'static> {
        let Endpoint::Other(path) = &req.endpoint else {
            return next.run(req);
        };
        // Swift compares its `request.path`: the decoded path quoted again.
        let quoted = quote_path(path);
        let prefix = next.proxy().cfg.list_endpoints.prefix();
        if !quoted.starts_with(&prefix) {
            return next.run(req);
        }
        Box::pin(async move {
            if req.ctx.method != Method::GET {
                let mut allow = HeaderMap::new();
                allow.insert("allow", HeaderValue::from_static("GET"));
                return Err(Error::WithHeaders(Box::new(Error::MethodNotAllowed), allow));
            }
            let target = parse(&quoted[prefix.len() - 1..]).map_err(Error::BadRequestHtml)?;
            let body = answer(next.proxy(), &req, &target).await?;
            let len = body.len().to_string();
            let mut r = Response::new(swirl_common::body::full(body));
            headers::set(r.headers_mut(), "content-type", "application/json");
            headers::set(r.headers_mut(), "content-length", &len);
            Ok(r)
        })
    }
}

/// Swift's `split_path(path, minsegs, maxsegs, rest_with_last=True)`
/// exactly: an empty last segment stays `Some("")`.
fn split_rest(path: &str, minsegs: usize, maxsegs: usize) -> Option<Vec<Option<&str>>> {
    let segs: Vec<&str> = path.splitn(maxsegs + 1, '/').collect();
    let (first, rest) = segs.split_first()?;
    if !first.is_empty()
        || segs.len() < minsegs + 1
        || rest[..minsegs.min(rest.len())].iter().any(|s| s.is_empty())
    {
        return None;
    }
    let mut out: Vec<Option<&str>> = rest.iter().map(|s| Some(*s)).collect();
    out.resize(maxsegs, None);
    Some(out)
}

/// Python's `float()` of a version's digits (underscores between digits
/// allowed, as Python's are).
fn py_float(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    for (i, c) in b.iter().enumerate() {
        if *c == b'_' {
            let digit = |j: Option<usize>| {
                j.and_then(|j| b.get(j))
                    .is_some_and(|c: &u8| c.is_ascii_digit())
            };
            if !digit(i.checked_sub(1)) || !digit(Some(i + 1)) {
                return None;
            }
        }
    }
    s.replace('_', "").parse().ok()
}

/// The version a first segment names, or why it names none.
fn parse_version(raw: &str) -> std::result::Result<Version, String> {
    let err = || format!("Unsupported version '{raw}'");
    let v = py_float(raw.trim_start_matches('v')).ok_or_else(err)?;
    [(1.0, Version::V1), (2.0, Version::V2)]
        .into_iter()
        .find(|(n, _)| *n == v)
        .map(|(_, version)| version)
        .ok_or_else(err)
}

/// Swift's `_parse_path` of what follows the prefix (starting with its
/// `/`), still quoted.
pub fn parse(clean: &str) -> std::result::Result<Target, String> {
    let no_account = || "No account specified".to_string();
    let segs = split_rest(clean, 1, 2).ok_or_else(no_account)?;
    let raw_version = segs[0].unwrap_or_default();
    let (version, rest) = match parse_version(raw_version) {
        Ok(v) => (v, format!("/{}", segs[1].unwrap_or_default())),
        // A first segment that looks like a version but is none is an error;
        // anything else is an account.
        Err(e) if raw_version.starts_with('v') && !raw_version.contains('_') => return Err(e),
        Err(_) => (Version::V1, clean.to_string()),
    };
    let parts = split_rest(&rest, 1, 3).ok_or_else(no_account)?;
    let own = |p: Option<&str>| p.map(str::to_string);
    Ok(Target {
        version,
        account: own(parts[0]).unwrap_or_default(),
        container: own(parts[1]),
        object: own(parts[2]),
    })
}

/// A name from the path, decoded as Swift's `unquote` (undecodable bytes
/// replaced, as Python's `unquote` does).
fn unquote(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The response body for `target`.
async fn answer(proxy: &Proxy, req: &Req, target: &Target) -> Result<String> {
    let account = unquote(&target.account);
    let container = target.container.as_deref().map(unquote);
    let object = target.object.as_deref().map(unquote);
    if object.is_some() && container.as_deref() == Some("") {
        // Swift's hash_path refuses it (an uncaught ValueError: 500).
        return Err(Error::Internal(
            "list_endpoints: container is required if object is provided".into(),
        ));
    }
    let (kind, policy) = match (&container, &object) {
        (Some(c), Some(_)) => {
            let ctx = req.ctx.subrequest(Method::HEAD, None).by("LE");
            let info = proxy.container_info(&ctx, &account, c).await?;
            let index = info.policy_index();
            (RingKind::Object(index), Some(index))
        }
        (Some(_), None) => (RingKind::Container, None),
        _ => (RingKind::Account, None),
    };
    let ring = proxy.rings.ring(kind)?;
    let (partition, nodes) = ring.get_nodes(
        proxy.rings.hash(),
        &account,
        container.as_deref(),
        object.as_deref(),
    );
    let mut tail = quote_path(&account);
    for name in [&container, &object].into_iter().flatten() {
        tail.push('/');
        tail.push_str(&quote_path(name));
    }
    let endpoints: Vec<String> = nodes
        .map(|n| {
            format!(
                "http://{}:{}/{}/{partition}/{tail}",
                n.dev.ip, n.dev.port, n.dev.device
            )
        })
        .collect();
    Ok(format_body(target.version, &endpoints, policy))
}

/// The body in the format of `version`, spaced as Python's `json.dumps`.
pub fn format_body(version: Version, endpoints: &[String], policy: Option<u32>) -> String {
    let list = endpoints
        .iter()
        .map(|e| serde_json::Value::from(e.as_str()).to_string())
        .collect::<Vec<_>>()
        .join(", ");
    match version {
        Version::V1 => format!("[{list}]"),
        Version::V2 => {
            let headers = policy
                .map(|p| format!("\"X-Backend-Storage-Policy-Index\": \"{p}\""))
                .unwrap_or_default();
            format!("{{\"endpoints\": [{list}], \"headers\": {{{headers}}}}}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: Version, a: &str, c: Option<&str>, o: Option<&str>) -> Target {
        Target {
            version: v,
            account: a.into(),
            container: c.map(Into::into),
            object: o.map(Into::into),
        }
    }

    #[test]
    fn paths_parse_as_swifts() {
        use Version::*;
        // Each case checked against Swift 2.30's `_parse_path`.
        let ok = [
            ("/a", t(V1, "a", None, None)),
            ("/a/", t(V1, "a", Some(""), None)),
            ("/a/c", t(V1, "a", Some("c"), None)),
            ("/a/c/o/x/", t(V1, "a", Some("c"), Some("o/x/"))),
            ("/v1/a", t(V1, "a", None, None)),
            ("/v2/a/c/o", t(V2, "a", Some("c"), Some("o"))),
            ("/v_3/a", t(V1, "v_3", Some("a"), None)),
            ("/vv2/a", t(V2, "a", None, None)),
            ("/v2.0/a/c", t(V2, "a", Some("c"), None)),
            ("/v0_1/a", t(V1, "a", None, None)),
            ("/a//o", t(V1, "a", Some(""), Some("o"))),
            ("/v1/a/", t(V1, "a", Some(""), None)),
            ("/a%20b/c/d", t(V1, "a%20b", Some("c"), Some("d"))),
            ("/v1e0/a", t(V1, "a", None, None)),
            ("/AUTH_test/c/o", t(V1, "AUTH_test", Some("c"), Some("o"))),
            ("/2/a", t(V2, "a", None, None)),
        ];
        for (p, want) in ok {
            assert_eq!(parse(p), Ok(want), "{p}");
        }
        let no = "No account specified";
        for (p, e) in [
            ("/v1", no.to_string()),
            ("/", no.into()),
            ("/v2/", no.into()),
            ("//a", no.into()),
            ("/v2//c", no.into()),
            ("/v3/a", "Unsupported version 'v3'".into()),
            ("/v", "Unsupported version 'v'".into()),
            ("/vx/a", "Unsupported version 'vx'".into()),
        ] {
            assert_eq!(parse(p), Err(e), "{p}");
        }
    }

    #[test]
    fn bodies_are_spaced_as_pythons_json() {
        let e = vec![
            "http://10.1.1.1:6200/sda1/2/a/c2/o1".to_string(),
            "http://10.1.1.1:6210/sdb1/2/a/c2/o1".to_string(),
        ];
        assert_eq!(
            format_body(Version::V1, &e, Some(1)),
            "[\"http://10.1.1.1:6200/sda1/2/a/c2/o1\", \"http://10.1.1.1:6210/sdb1/2/a/c2/o1\"]"
        );
        assert_eq!(
            format_body(Version::V2, &e[..1], Some(1)),
            "{\"endpoints\": [\"http://10.1.1.1:6200/sda1/2/a/c2/o1\"], \"headers\": {\"X-Backend-Storage-Policy-Index\": \"1\"}}"
        );
        assert_eq!(
            format_body(Version::V2, &[], None),
            "{\"endpoints\": [], \"headers\": {}}"
        );
        let c = ListEndpointsConfig {
            list_endpoints_path: "/locate".into(),
        };
        assert_eq!(c.prefix(), "/locate/");
    }
}
