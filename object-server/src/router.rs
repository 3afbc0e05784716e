//! Request -> endpoint, pure. Swift's object-server paths:
//! `/<device>/<partition>/<account>/<container>/<object>` for object verbs,
//! `/<device>/<partition>[/<suffix>-<suffix>...]` for REPLICATE, plus the
//! `/healthcheck` and `/recon/<check>` middlewares' paths, and `/metrics`.

use http::Method;
use swirl_common::path::{self, PathError};

use crate::error::Error;

/// The object verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectVerb {
    Put,
    Get,
    Head,
    Post,
    Delete,
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Healthcheck,
    /// `/recon/<check>`.
    Recon(String),
    /// `/metrics` (Prometheus).
    Metrics,
    Object {
        verb: ObjectVerb,
        device: String,
        partition: u32,
        account: String,
        container: String,
        object: String,
    },
    Replicate {
        device: String,
        partition: u32,
        suffixes: Vec<String>,
    },
}

/// A `split_path` error: Swift's body is `Invalid path: <path>`.
fn path_err(e: PathError) -> Error {
    match e {
        PathError::Invalid(_) => Error::BadRequest(e.to_string()),
        PathError::BadUtf8 => Error::BadUtf8,
    }
}

/// A `validate_device_partition` error: the message already says what is wrong.
fn dev_part_err(e: PathError) -> Error {
    match e {
        PathError::Invalid(m) => Error::BadRequest(m),
        PathError::BadUtf8 => Error::BadUtf8,
    }
}

/// Routes a request line. `raw_path` is the percent-encoded path.
pub fn route(method: &Method, raw_path: &str) -> Result<Endpoint, Error> {
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(raw_path).collect();
    let path = String::from_utf8(bytes).map_err(|_| Error::BadUtf8)?;
    if (method == Method::GET || method == Method::HEAD) && path == "/healthcheck" {
        return Ok(Endpoint::Healthcheck);
    }
    if method == Method::GET {
        if path == swirl_common::metrics::PATH {
            return Ok(Endpoint::Metrics);
        }
        if let Some(check) = path.strip_prefix("/recon/") {
            return Ok(Endpoint::Recon(check.to_string()));
        }
    }
    let verb = match method.as_str() {
        "PUT" => ObjectVerb::Put,
        "GET" => ObjectVerb::Get,
        "HEAD" => ObjectVerb::Head,
        "POST" => ObjectVerb::Post,
        "DELETE" => ObjectVerb::Delete,
        "REPLICATE" => {
            let segs = path::split_path(&path, 2, 3, true).map_err(path_err)?;
            let device = segs[0].clone().unwrap_or_default();
            let partition = segs[1].clone().unwrap_or_default();
            let partition =
                path::validate_device_partition(&device, &partition).map_err(dev_part_err)?;
            let suffixes = match &segs[2] {
                Some(s) => s.split('-').map(str::to_string).collect(),
                None => Vec::new(),
            };
            return Ok(Endpoint::Replicate {
                device,
                partition,
                suffixes,
            });
        }
        _ => return Err(Error::MethodNotAllowed),
    };
    let segs = path::split_path(&path, 5, 5, true).map_err(path_err)?;
    let seg = |i: usize| segs[i].clone().unwrap_or_default();
    let (device, partition) = (seg(0), seg(1));
    let partition = path::validate_device_partition(&device, &partition).map_err(dev_part_err)?;
    // Swift keeps names holding NUL for its reserved namespace; no client may use them.
    for (what, name) in [
        ("account", seg(2)),
        ("container", seg(3)),
        ("object", seg(4)),
    ] {
        if name.contains('\0') {
            return Err(Error::BadRequestHtml(format!(
                "Invalid reserved-namespace {what}"
            )));
        }
    }
    Ok(Endpoint::Object {
        verb,
        device,
        partition,
        account: seg(2),
        container: seg(3),
        object: seg(4),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Method {
        Method::from_bytes(s.as_bytes()).unwrap()
    }

    #[test]
    fn table() {
        let obj = |verb, o: &str| Endpoint::Object {
            verb,
            device: "sda1".into(),
            partition: 12,
            account: "a".into(),
            container: "c".into(),
            object: o.into(),
        };
        let ok: Vec<(&str, &str, Endpoint)> = vec![
            ("PUT", "/sda1/12/a/c/o", obj(ObjectVerb::Put, "o")),
            ("GET", "/sda1/12/a/c/dir/o/", obj(ObjectVerb::Get, "dir/o/")),
            ("HEAD", "/sda1/12/a/c/%C3%A9", obj(ObjectVerb::Head, "é")),
            ("POST", "/sda1/12/a/c/o%20x", obj(ObjectVerb::Post, "o x")),
            ("DELETE", "/sda1/12/a/c/o", obj(ObjectVerb::Delete, "o")),
            ("GET", "/healthcheck", Endpoint::Healthcheck),
            ("GET", "/metrics", Endpoint::Metrics),
            (
                "GET",
                "/recon/diskusage",
                Endpoint::Recon("diskusage".into()),
            ),
            (
                "REPLICATE",
                "/sda1/12",
                Endpoint::Replicate {
                    device: "sda1".into(),
                    partition: 12,
                    suffixes: vec![],
                },
            ),
            (
                "REPLICATE",
                "/sda1/12/abc-def",
                Endpoint::Replicate {
                    device: "sda1".into(),
                    partition: 12,
                    suffixes: vec!["abc".into(), "def".into()],
                },
            ),
        ];
        for (meth, p, want) in ok {
            assert_eq!(route(&m(meth), p).unwrap(), want, "{meth} {p}");
        }
        let bad: Vec<(&str, &str, u16)> = vec![
            ("PUT", "/sda1/12/a/c", 400),
            ("PUT", "/sda1/12/a/c/", 400),
            ("PUT", "/sda1/x/a/c/o", 400),
            ("PUT", "/sda1/-1/a/c/o", 400),
            ("PUT", "/../12/a/c/o", 400),
            ("PUT", "/sda1/12/a/c/o%00", 400),
            ("PUT", "/sda1/12/a%00/c/o", 400),
            ("PUT", "/sda1/12/a/c/o%ff", 412),
            ("PUT", "//12/a/c/o", 400),
            ("PATCH", "/sda1/12/a/c/o", 405),
            ("COPY", "/sda1/12/a/c/o", 405),
            ("REPLICATE", "/sda1", 400),
        ];
        for (meth, p, status) in bad {
            let e = route(&m(meth), p).unwrap_err();
            use swirl_common::ApiError;
            assert_eq!(e.status().as_u16(), status, "{meth} {p}: {e}");
        }
    }
}
