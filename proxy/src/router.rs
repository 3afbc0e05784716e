//! Pure routing: a request's method and raw path to the endpoint that serves it.

use http::Method;
use swirl_common::path::{decode, split_path, PathError};

/// What a request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `/healthcheck`.
    Healthcheck,
    /// `/info`.
    Info,
    /// `GET /metrics` (Prometheus; outside Swift's `/v1`, `/auth` and
    /// `/info`, so no account name can reach it).
    Metrics,
    /// `/auth/v1.0`, `/auth/v1`, `/v1.0` (tempauth's token endpoint).
    Auth,
    /// `/v1/<account>`.
    Account { account: String },
    /// `/v1/<account>/<container>`.
    Container { account: String, container: String },
    /// `/v1/<account>/<container>/<object>`.
    Object {
        account: String,
        container: String,
        object: String,
    },
}

/// Why a path could not be routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// Undecodable path (412 "Invalid UTF8 or contains NULL").
    BadEncoding,
    /// Not a path the proxy serves (404).
    NotFound,
    /// A version without an account, `/v1` (412 "Bad URL").
    BadUrl,
}

/// Routes `raw_path` (still percent-encoded, without the query).
pub fn route(method: &Method, raw_path: &str) -> Result<Endpoint, RouteError> {
    let path = decode(raw_path).map_err(|e| match e {
        PathError::BadUtf8 => RouteError::BadEncoding,
        PathError::Invalid(_) => RouteError::NotFound,
    })?;
    match path.as_str() {
        "/healthcheck" => return Ok(Endpoint::Healthcheck),
        "/info" => return Ok(Endpoint::Info),
        swirl_common::metrics::PATH if method == Method::GET => return Ok(Endpoint::Metrics),
        "/auth/v1.0" | "/auth/v1.0/" | "/auth/v1" | "/auth/v1/" | "/v1.0" | "/v1.0/"
            if method == Method::GET || method == Method::HEAD =>
        {
            return Ok(Endpoint::Auth)
        }
        _ => {}
    }
    if matches!(path.as_str(), "/v1" | "/v1/" | "/v1.0/") {
        return Err(RouteError::BadUrl);
    }
    let segs = split_path(&path, 2, 4, true).map_err(|_| RouteError::NotFound)?;
    let seg = |i: usize| segs.get(i).cloned().flatten();
    let version = seg(0).ok_or(RouteError::NotFound)?;
    if version != "v1" && version != "v1.0" {
        return Err(RouteError::NotFound);
    }
    let account = seg(1).ok_or(RouteError::NotFound)?;
    match (seg(2), seg(3)) {
        (None, None) => Ok(Endpoint::Account { account }),
        (Some(container), None) => Ok(Endpoint::Container { account, container }),
        (Some(container), Some(object)) => Ok(Endpoint::Object {
            account,
            container,
            object,
        }),
        (None, Some(_)) => Err(RouteError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(p: &str) -> Result<Endpoint, RouteError> {
        route(&Method::GET, p)
    }

    #[test]
    fn table() {
        assert_eq!(r("/healthcheck"), Ok(Endpoint::Healthcheck));
        assert_eq!(r("/info"), Ok(Endpoint::Info));
        assert_eq!(r("/metrics"), Ok(Endpoint::Metrics));
        // An account named "metrics" is still an account.
        assert_eq!(
            r("/v1/metrics"),
            Ok(Endpoint::Account {
                account: "metrics".into()
            })
        );
        assert_eq!(route(&Method::PUT, "/metrics"), Err(RouteError::NotFound));
        assert_eq!(r("/auth/v1.0"), Ok(Endpoint::Auth));
        assert_eq!(r("/auth/v1"), Ok(Endpoint::Auth));
        assert_eq!(r("/v1.0"), Ok(Endpoint::Auth));
        assert_eq!(
            r("/v1/AUTH_test"),
            Ok(Endpoint::Account {
                account: "AUTH_test".into()
            })
        );
        assert_eq!(
            r("/v1/AUTH_test/"),
            Ok(Endpoint::Account {
                account: "AUTH_test".into()
            })
        );
        assert_eq!(
            r("/v1/AUTH_test/c%20d"),
            Ok(Endpoint::Container {
                account: "AUTH_test".into(),
                container: "c d".into()
            })
        );
        assert_eq!(
            r("/v1/AUTH_test/c/a/b/"),
            Ok(Endpoint::Object {
                account: "AUTH_test".into(),
                container: "c".into(),
                object: "a/b/".into()
            })
        );
        assert_eq!(r("/v1/AUTH_test/c/o%00"), Err(RouteError::BadEncoding));
        assert_eq!(r("/v2/AUTH_test"), Err(RouteError::NotFound));
        assert_eq!(r("/v1"), Err(RouteError::BadUrl));
        assert_eq!(r("/v1//c"), Err(RouteError::NotFound));
        assert_eq!(r("/"), Err(RouteError::NotFound));
        assert_eq!(route(&Method::PUT, "/auth/v1.0"), Err(RouteError::NotFound));
    }
}
