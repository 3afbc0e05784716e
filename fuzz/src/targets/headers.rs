//! Request headers and their values as each role reads them: the proxy's
//! constraints (metadata, X-Delete-At/-After, object creation), header
//! plumbing to and from the backends, copy sources, DLO manifests, container
//! quotas, CORS, tempauth's token and auth headers; the object server's
//! timestamps, lengths, delete-at, metadata and container-update targets;
//! the account/container servers' metadata, timestamps and account-update
//! targets; and the digest trailers.
//!
//! Input: `<now: u64 LE><object name>\0<name: value>\n...`.

use http::HeaderMap;
use swirl_common::{digest_trailer, timestamp, Timestamp};
use swirl_proxy::auth::tempauth::TempAuth;
use swirl_proxy::config::TempAuthConfig;
use swirl_proxy::middleware::{container_quotas, copy, cors, dlo, gatekeeper};
use swirl_proxy::{byteranges, constraints, headers};

use crate::input::{header_map, text, Input};

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let now_raw = input.u64();
    let object = text(input.field()).into_owned();
    let h = header_map(input.rest());
    if !h.is_empty() {
        crate::accepted();
    }
    let now =
        Timestamp::from_raw(now_raw % 40_000_000_000_000, 0).unwrap_or_else(|_| Timestamp::now());

    proxy(&h, &object, now);
    object_server(&h, &object, now);
    db_server(&h, now);
    let _ = digest_trailer::Digests::from_trailers(Some(&h));
    let _ = digest_trailer::requested(&h);
    for (_, v) in &h {
        if let Ok(v) = v.to_str() {
            if let Ok(ts) = Timestamp::parse(v) {
                assert_eq!(Timestamp::parse(&ts.internal()).ok(), Some(ts));
            }
            if let Some(secs) = timestamp::parse_http_date(v) {
                let _ = timestamp::http_date(secs);
            }
        }
    }
}

fn proxy(h: &HeaderMap, object: &str, now: Timestamp) {
    for target in ["account", "container", "object"] {
        let _ = constraints::check_metadata(h, target);
    }
    let mut d = h.clone();
    if constraints::check_delete_headers(&mut d, now.as_f64()).is_ok() {
        if let Some(at) = headers::get(&d, "x-delete-at") {
            assert_eq!(at.len(), 10, "X-Delete-At not normalised: {at:?}");
        }
    }
    let length = headers::get(h, "content-length").and_then(|v| v.parse().ok());
    let chunked = headers::get(h, "transfer-encoding").is_some();
    let _ = constraints::check_object_creation(h, object, length, chunked);

    let backend = headers::to_backend(h, "tx0", Some(now));
    assert!(backend.get("x-auth-token").is_none());
    let _ = headers::to_client(h);
    let mut r = h.clone();
    headers::apply_removals(&mut r, "container");
    headers::apply_removals(&mut r, "object");
    let mut g = h.clone();
    gatekeeper::strip_inbound(&mut g);
    for (k, _) in &g {
        assert!(
            !gatekeeper::is_internal(k.as_str()),
            "{k} passed the gatekeeper"
        );
    }

    for name in ["x-copy-from", "destination"] {
        if let Some(v) = headers::get_utf8(h, name) {
            if let Ok((c, o)) = copy::parse_source(&v, name) {
                assert!(!c.is_empty() && !o.is_empty());
            }
        }
    }
    let _ = copy::merge_headers(h, &r, headers::is_true(h, "x-fresh-metadata"));
    if let Some(m) = headers::get(h, dlo::MANIFEST) {
        let _ = dlo::validate_put(m);
        let _ = dlo::parse_manifest(m);
    }
    let _ = container_quotas::validate(h);
    let info = cors::CorsInfo::from_container(h);
    if let Some(origin) = headers::get(h, "origin") {
        let _ = cors::origin_allowed(&info, &["http://x".to_string()], origin);
    }
    if let Some(ct) = headers::get(h, "content-type") {
        let _ = byteranges::boundary_of(ct);
    }
    if let Some(cr) = headers::get(h, "content-range") {
        if let Some((a, b, total)) = byteranges::parse_content_range(cr) {
            assert!(a < b && b <= total);
        }
    }

    let mut cfg = TempAuthConfig::default();
    cfg.users
        .insert("user_test_tester".into(), "testing .admin".into());
    if let Ok(auth) = TempAuth::new(&cfg) {
        let _ = auth.identify(h, "AUTH_test");
        let _ = auth.handle_auth(h, "http://127.0.0.1:1");
    }
}

fn object_server(h: &HeaderMap, object: &str, now: Timestamp) {
    use swirl_object::headers as oh;
    let _ = oh::name_list(h, swirl_common::backend_headers::ETAG_IS_AT);
    let _ = oh::timestamp(h);
    let _ = oh::timestamp_or_now(h);
    let _ = oh::check_metadata(h);
    let _ = oh::body_length(h);
    let _ = oh::delete_at(h, now);
    let _ = oh::check_object_creation(h, object);
    let _ = oh::stored_headers(h, &["content-disposition".to_string()]);
    if let Some((pairs, part)) = swirl_object::container_update::targets(h) {
        assert!(!part.is_empty());
        let _ = pairs.len();
    }
}

fn db_server(h: &HeaderMap, now: Timestamp) {
    for kind in ["account", "container"] {
        let _ = swirl_db::meta::from_request(kind, h, &now.internal());
    }
    let _ = swirl_db::account_update::AccountTarget::from_headers(h);
    let _ = swirl_db::server::req_timestamp(h);
}
