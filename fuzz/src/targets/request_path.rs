//! Request targets: the method and the raw path and query of a request line,
//! through the proxy's, object server's and account/container servers'
//! routers, Swift's `split_path` and the device/partition check, and the
//! query parameters that pick a middleware (`multipart-manifest`,
//! `extract-archive`, `bulk-delete`, `format`).
//!
//! Input: `<method>\0<path>[?<query>]`.

use http::{HeaderMap, Method};
use swirl_common::path;
use swirl_proxy::router::Endpoint;
use swirl_store::db::placement::DbKind;

use crate::input::{text, Input};

/// `split_path` shapes the servers use (minsegs, maxsegs, rest_with_last).
const SHAPES: [(usize, usize, bool); 7] = [
    (1, 1, false),
    (1, 3, false),
    (2, 3, true),
    (2, 4, true),
    (3, 5, true),
    (4, 5, true),
    (5, 5, true),
];

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let method = Method::from_bytes(input.field()).unwrap_or(Method::GET);
    let target = text(input.rest());
    let (raw_path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (&*target, None),
    };

    match swirl_proxy::router::route(&method, raw_path) {
        Ok(Endpoint::Account { account }) => assert!(!account.is_empty()),
        Ok(Endpoint::Container { account, container }) => {
            assert!(!account.is_empty() && !container.is_empty());
        }
        Ok(Endpoint::Object {
            account,
            container,
            object,
        }) => assert!(!account.is_empty() && !container.is_empty() && !object.is_empty()),
        Ok(_) | Err(_) => {}
    }
    let _ = swirl_object::router::route(&method, raw_path);
    for kind in [DbKind::Account, DbKind::Container] {
        let _ = swirl_db::router::route(kind, method.as_str(), raw_path);
    }

    if let Ok(decoded) = path::decode(raw_path) {
        crate::accepted();
        assert!(!decoded.contains('\0'));
        for (min, max, rest) in SHAPES {
            let Ok(segs) = path::split_path(&decoded, min, max, rest) else {
                continue;
            };
            assert_eq!(segs.len(), max);
            assert!(segs[..min]
                .iter()
                .all(|s| s.as_deref().is_some_and(|s| !s.is_empty())));
            if min >= 2 {
                if let (Some(dev), Some(part)) = (&segs[0], &segs[1]) {
                    let _ = path::validate_device_partition(dev, part);
                }
            }
        }
    }

    let _ = swirl_proxy::headers::query_param(query, "multipart-manifest");
    let _ = swirl_proxy::middleware::bulk::extract_format(&method, query);
    let _ = swirl_proxy::middleware::bulk::is_bulk_delete(&method, query);
    let _ = swirl_proxy::middleware::dlo::wants_manifest(query);
    let _ = swirl_proxy::listing::wanted_format(&HeaderMap::new(), query);
}
