//! The proxy's middleware pipeline comes from its config (`pipeline`, as
//! Swift's `[pipeline:main]`): a filter left out does not run (its
//! requests reach the controllers as plain ones) and /info lists only what
//! the filters that run register; an unknown name stops the proxy at start.

use std::path::Path;
use std::time::Duration;

use crate::harness::{self, http_request, Proc};
use crate::proxy_cluster::token;

/// Starts aio once (to write its configs), then again with `pipeline` set.
fn aio_with_pipeline(data: &Path, pipeline: &str) {
    let mut aio = harness::start_aio(data);
    aio.kill9();
    let conf = data.join("etc").join("proxy-server.toml");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("pipeline = {pipeline}\n{text}")).unwrap();
}

fn info_keys(aio: &Proc) -> Vec<String> {
    let (s, _, b) = http_request(aio.addr(), "GET", "/info", &[], b"").unwrap();
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[test]
fn default_pipeline_info_lists_its_filters() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = harness::start_aio(&tmp.path().join("d"));
    assert_eq!(
        info_keys(&aio),
        [
            "bulk_delete",
            "bulk_upload",
            "container_quotas",
            "etag_quoter",
            "slo",
            "swift",
            "tempauth",
            "tempurl"
        ]
    );
}

#[test]
fn filters_left_out_do_not_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    aio_with_pipeline(
        &data,
        r#"["gatekeeper", "healthcheck", "tempauth", "dlo", "proxy-server"]"#,
    );
    let aio = harness::aio_ready(&data);
    assert!(harness::wait_healthcheck(
        aio.addr(),
        Duration::from_secs(30)
    ));
    assert_eq!(info_keys(&aio), ["swift", "tempauth"]);
    let (tok, url) = token(aio.addr(), "test:tester", "testing");
    let path = url
        .split_once("/v1/")
        .map(|(_, p)| format!("/v1/{p}"))
        .unwrap();
    let auth = [("X-Auth-Token", tok.as_str())];
    let (s, _, _) = http_request(aio.addr(), "PUT", &format!("{path}/c"), &auth, b"").unwrap();
    assert!(s == 201 || s == 202, "{s}");
    let (s, _, _) =
        http_request(aio.addr(), "PUT", &format!("{path}/c/seg"), &auth, b"abc").unwrap();
    assert_eq!(s, 201);
    // Without slo, a manifest PUT is an object PUT of the JSON as it is.
    let manifest = r#"[{"path": "/c/seg", "etag": null, "size_bytes": null}]"#;
    let (s, _, _) = http_request(
        aio.addr(),
        "PUT",
        &format!("{path}/c/m?multipart-manifest=put"),
        &auth,
        manifest.as_bytes(),
    )
    .unwrap();
    assert_eq!(s, 201);
    let (s, h, b) = http_request(aio.addr(), "GET", &format!("{path}/c/m"), &auth, b"").unwrap();
    assert_eq!(s, 200);
    assert_eq!(b, manifest.as_bytes());
    assert!(harness::header(&h, "x-static-large-object").is_none());
    // Without copy, COPY is no method of the object controller.
    let dest = [("X-Auth-Token", tok.as_str()), ("Destination", "c/copy")];
    let (s, _, _) = http_request(aio.addr(), "COPY", &format!("{path}/c/seg"), &dest, b"").unwrap();
    assert_eq!(s, 405);
    // Without bulk, ?bulk-delete is an account POST.
    let (s, _, _) = http_request(
        aio.addr(),
        "POST",
        &format!("{path}?bulk-delete"),
        &[
            ("X-Auth-Token", tok.as_str()),
            ("Content-Type", "text/plain"),
        ],
        b"/c/seg\n",
    )
    .unwrap();
    assert_eq!(s, 204);
    let (s, _, _) = http_request(aio.addr(), "HEAD", &format!("{path}/c/seg"), &auth, b"").unwrap();
    assert_eq!(s, 200, "the segment was not bulk-deleted");
    // dlo runs: a manifest reads as its segments.
    let man = [
        ("X-Auth-Token", tok.as_str()),
        ("X-Object-Manifest", "c/seg"),
    ];
    let (s, _, _) = http_request(aio.addr(), "PUT", &format!("{path}/c/dlo"), &man, b"").unwrap();
    assert_eq!(s, 201);
    let (s, _, b) = http_request(aio.addr(), "GET", &format!("{path}/c/dlo"), &auth, b"").unwrap();
    assert_eq!((s, b.as_slice()), (200, &b"abc"[..]));
}

#[test]
fn unknown_filter_stops_the_proxy_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    aio_with_pipeline(&data, r#"["gatekeeper", "ratelimit", "tempauth"]"#);
    let out = harness::swirl(
        tmp.path(),
        &[
            "aio",
            "--data",
            data.to_str().unwrap(),
            "--bind",
            "127.0.0.1:0",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown filter \"ratelimit\""), "{err}");
}
