//! The pure router: method and raw path to an operation on an account,
//! container or object row, with Swift's path rules per server
//! (`split_and_validate_path` arguments of swift/account/server.py and
//! swift/container/server.py) and their error texts.

use swirl_common::path::{decode, split_path, validate_device_partition, PathError};
use swirl_store::db::placement::DbKind;

use crate::error::{Error, Result};

/// What the request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Get,
    Head,
    Put,
    Post,
    Delete,
    Replicate,
}

/// A routed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /healthcheck`.
    Healthcheck,
    /// `GET /recon/<check>`.
    Recon(String),
    /// `GET /metrics` (Prometheus).
    Metrics,
    /// An operation on `/device/partition/account[/container[/object]]`.
    Db {
        op: Op,
        device: String,
        partition: u32,
        account: String,
        container: Option<String>,
        object: Option<String>,
    },
    /// `REPLICATE /device/partition/hash`.
    Replicate {
        device: String,
        partition: u32,
        hash: String,
    },
}

fn path_err(e: PathError) -> Error {
    match e {
        PathError::Invalid(p) => Error::BadPath(if p.starts_with("Invalid ") {
            p
        } else {
            format!("Invalid path: {p}")
        }),
        PathError::BadUtf8 => Error::BadUtf8Path("Invalid UTF8 or contains NULL"),
    }
}

/// Routes one request for the `kind` server.
pub fn route(kind: DbKind, method: &str, raw_path: &str) -> Result<Route> {
    let path = decode(raw_path).map_err(|_| {
        Error::BadUtf8Path(match kind {
            DbKind::Account => "Invalid UTF8",
            DbKind::Container => "Invalid UTF8 or contains NULL",
        })
    })?;
    if method == "GET" && path == "/healthcheck" {
        return Ok(Route::Healthcheck);
    }
    if method == "GET" && path == swirl_common::metrics::PATH {
        return Ok(Route::Metrics);
    }
    if let (true, Some(check)) = (method == "GET", path.strip_prefix("/recon/")) {
        return Ok(Route::Recon(check.to_string()));
    }
    let op = match method {
        "GET" => Op::Get,
        "HEAD" => Op::Head,
        "PUT" => Op::Put,
        "POST" => Op::Post,
        "DELETE" => Op::Delete,
        "REPLICATE" => Op::Replicate,
        _ => return Err(Error::MethodNotAllowed),
    };
    let (min, max, rest) = match (kind, op) {
        (_, Op::Replicate) => (3, 3, false),
        (DbKind::Account, Op::Put) => (3, 4, false),
        (DbKind::Account, _) => (3, 3, false),
        (DbKind::Container, Op::Post) => (4, 4, false),
        (DbKind::Container, _) => (4, 5, true),
    };
    let mut segs = split_path(&path, min, max, rest)
        .map_err(path_err)?
        .into_iter()
        .map(Option::unwrap_or_default);
    let mut seg = || segs.next().unwrap_or_default();
    let device = seg();
    let part_text = seg();
    let partition = validate_device_partition(&device, &part_text).map_err(path_err)?;
    let third = seg();
    if op == Op::Replicate {
        return Ok(Route::Replicate {
            device,
            partition,
            hash: third,
        });
    }
    let present = |s: String| Some(s).filter(|s| !s.is_empty());
    Ok(Route::Db {
        op,
        device,
        partition,
        account: third,
        container: present(seg()),
        object: present(seg()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(op: Op, a: &str, c: Option<&str>, o: Option<&str>) -> Route {
        Route::Db {
            op,
            device: "sda".into(),
            partition: 1,
            account: a.into(),
            container: c.map(str::to_string),
            object: o.map(str::to_string),
        }
    }

    #[test]
    fn container_server_paths() {
        let k = DbKind::Container;
        assert_eq!(
            route(k, "GET", "/sda/1/a/c").unwrap(),
            db(Op::Get, "a", Some("c"), None)
        );
        assert_eq!(
            route(k, "PUT", "/sda/1/a/c/o/x%20y").unwrap(),
            db(Op::Put, "a", Some("c"), Some("o/x y"))
        );
        assert!(matches!(
            route(k, "GET", "/sda/1/a"),
            Err(Error::BadPath(_))
        ));
        assert!(matches!(
            route(k, "POST", "/sda/1/a/c/o"),
            Err(Error::BadPath(_))
        ));
        assert!(matches!(
            route(k, "GET", "/../1/a/c"),
            Err(Error::BadPath(_))
        ));
        assert!(matches!(
            route(k, "GET", "/sda/1/a/%ff"),
            Err(Error::BadUtf8Path(_))
        ));
        assert!(matches!(
            route(k, "PATCH", "/sda/1/a/c"),
            Err(Error::MethodNotAllowed)
        ));
        assert_eq!(route(k, "GET", "/healthcheck").unwrap(), Route::Healthcheck);
        assert_eq!(route(k, "GET", "/metrics").unwrap(), Route::Metrics);
        assert_eq!(
            route(k, "GET", "/recon/ringmd5").unwrap(),
            Route::Recon("ringmd5".into())
        );
        assert_eq!(
            route(k, "REPLICATE", "/sda/1/abc").unwrap(),
            Route::Replicate {
                device: "sda".into(),
                partition: 1,
                hash: "abc".into()
            }
        );
    }

    #[test]
    fn account_server_paths() {
        let k = DbKind::Account;
        assert_eq!(
            route(k, "HEAD", "/sda/1/a").unwrap(),
            db(Op::Head, "a", None, None)
        );
        assert_eq!(
            route(k, "PUT", "/sda/1/a/c").unwrap(),
            db(Op::Put, "a", Some("c"), None)
        );
        assert!(matches!(
            route(k, "GET", "/sda/1/a/c"),
            Err(Error::BadPath(_))
        ));
        assert!(matches!(
            route(k, "PUT", "/sda/1/a/c/o"),
            Err(Error::BadPath(_))
        ));
        assert!(matches!(
            route(k, "GET", "/sda/1/%ff"),
            Err(Error::BadUtf8Path("Invalid UTF8"))
        ));
    }
}
