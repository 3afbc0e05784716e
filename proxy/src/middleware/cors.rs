//! CORS as Swift's proxy does it: OPTIONS preflight answered from the
//! container's `X-Container-Meta-Access-Control-*` metadata (plus the
//! `cors_allow_origin` option), and Access-Control-* headers added to actual
//! responses of allowed origins.

use http::{HeaderMap, Response, StatusCode};
use swirl_common::Body;

use crate::headers;

/// The container's CORS metadata.
#[derive(Debug, Clone, Default)]
pub struct CorsInfo {
    pub allow_origin: Option<String>,
    pub max_age: Option<String>,
    pub expose_headers: Option<String>,
}

impl CorsInfo {
    /// Reads the container's CORS metadata from its HEAD headers.
    pub fn from_container(h: &HeaderMap) -> Self {
        let g = |n: &str| headers::get(h, n).map(str::to_string);
        CorsInfo {
            allow_origin: g("x-container-meta-access-control-allow-origin"),
            max_age: g("x-container-meta-access-control-max-age"),
            expose_headers: g("x-container-meta-access-control-expose-headers"),
        }
    }

    fn allows_all(&self) -> bool {
        self.allow_origin.as_deref().map(str::trim) == Some("*")
    }
}

/// Swift's `is_origin_allowed`.
pub fn origin_allowed(cors: &CorsInfo, global: &[String], origin: &str) -> bool {
    let mut allowed: Vec<&str> = cors
        .allow_origin
        .as_deref()
        .map(|a| {
            a.split(' ')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    allowed.extend(global.iter().map(String::as_str));
    allowed.contains(&origin) || allowed.contains(&"*")
}

/// The methods a path level allows (the `Allow` header).
pub fn allowed_methods(object: bool) -> &'static str {
    if object {
        "HEAD, GET, PUT, POST, DELETE, COPY, OPTIONS"
    } else {
        "HEAD, GET, PUT, POST, DELETE, OPTIONS"
    }
}

/// Answers an OPTIONS request. `cors` is None at the account level.
pub fn preflight(
    req: &HeaderMap,
    cors: Option<&CorsInfo>,
    global: &[String],
    object: bool,
) -> Response<Body> {
    let methods = allowed_methods(object);
    let mut r = Response::new(swirl_common::body::empty());
    headers::set(r.headers_mut(), "allow", methods);
    headers::set(r.headers_mut(), "content-length", "0");
    let (Some(origin), Some(cors)) = (headers::get(req, "origin"), cors) else {
        return r;
    };
    let method_ok = headers::get(req, "access-control-request-method")
        .map(|m| methods.split(", ").any(|x| x == m))
        .unwrap_or(false);
    if !origin_allowed(cors, global, origin) || !method_ok {
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        return r;
    }
    let h = r.headers_mut();
    let mut vary = Vec::new();
    if cors.allows_all() {
        headers::set(h, "access-control-allow-origin", "*");
    } else {
        headers::set(h, "access-control-allow-origin", origin);
        vary.push("Origin");
    }
    if let Some(age) = &cors.max_age {
        headers::set(h, "access-control-max-age", age);
    }
    headers::set(h, "access-control-allow-methods", methods);
    if let Some(req_h) = headers::get(req, "access-control-request-headers") {
        let list: Vec<&str> = req_h
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if !list.is_empty() {
            let joined = list.join(", ");
            headers::set(h, "access-control-allow-headers", &joined);
            vary.push("Access-Control-Request-Headers");
        }
    }
    if !vary.is_empty() {
        headers::set(h, "vary", &vary.join(", "));
    }
    r
}

/// Adds Access-Control-Allow-Origin / -Expose-Headers to an actual response.
pub fn decorate(h: &mut HeaderMap, origin: &str, cors: &CorsInfo, global: &[String], strict: bool) {
    if strict && !origin_allowed(cors, global, origin) {
        return;
    }
    if h.get("access-control-expose-headers").is_none() {
        let mut expose: Vec<String> = [
            "cache-control",
            "content-language",
            "content-type",
            "expires",
            "last-modified",
            "pragma",
            "etag",
            "x-timestamp",
            "x-trans-id",
            "x-openstack-request-id",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for k in h.keys() {
            let n = k.as_str();
            if (n.starts_with("x-container-meta") || n.starts_with("x-object-meta"))
                && !expose.iter().any(|e| e == n)
            {
                expose.push(n.to_string());
            }
        }
        if let Some(extra) = &cors.expose_headers {
            for e in extra
                .split(' ')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
            {
                if !expose.contains(&e) {
                    expose.push(e);
                }
            }
        }
        headers::set(h, "access-control-expose-headers", &expose.join(", "));
    }
    if h.get("access-control-allow-origin").is_none() {
        if cors.allows_all() {
            headers::set(h, "access-control-allow-origin", "*");
        } else {
            headers::set(h, "access-control-allow-origin", origin);
            let vary = match headers::get(h, "vary") {
                Some(v) => format!("{v}, Origin"),
                None => "Origin".to_string(),
            };
            headers::set(h, "vary", &vary);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preflight_rules() {
        let cors = CorsInfo {
            allow_origin: Some("http://a.com http://b.com".into()),
            max_age: Some("10".into()),
            ..Default::default()
        };
        let mut req = HeaderMap::new();
        headers::set(&mut req, "origin", "http://a.com");
        headers::set(&mut req, "access-control-request-method", "GET");
        let r = preflight(&req, Some(&cors), &[], true);
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["access-control-allow-origin"], "http://a.com");
        assert_eq!(r.headers()["access-control-max-age"], "10");
        headers::set(&mut req, "origin", "http://evil.com");
        assert_eq!(preflight(&req, Some(&cors), &[], true).status(), 401);
        assert_eq!(
            preflight(&req, Some(&cors), &["http://evil.com".into()], true).status(),
            200
        );
        let none = HeaderMap::new();
        assert_eq!(preflight(&none, Some(&cors), &[], false).status(), 200);
    }

    #[test]
    fn decorates() {
        let cors = CorsInfo {
            allow_origin: Some("*".into()),
            expose_headers: Some("X-Foo".into()),
            ..Default::default()
        };
        let mut r = Response::new(swirl_common::body::empty());
        headers::set(r.headers_mut(), "x-object-meta-color", "red");
        decorate(r.headers_mut(), "http://x", &cors, &[], true);
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
        let exp = r.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap();
        assert!(
            exp.contains("x-object-meta-color") && exp.contains("x-foo") && exp.contains("etag")
        );
    }
}
