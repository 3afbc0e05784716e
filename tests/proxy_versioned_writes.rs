//! Swift's legacy versioned_writes through `swirl aio` (which sets
//! `allow_versioned_writes = true`, as the SAIO does): stack mode archives
//! each overwritten version and DELETEs bring them back newest first;
//! history mode leaves delete markers; both location headers at once are a
//! 400; callers without write access get 4xx, never 5xx, and nothing is
//! archived on their behalf.

use crate::harness::{self, header};
use crate::proxy_dlo::Client;

/// The archive's listing under `prefix`: (name, content_type) rows.
fn listing(c: &Client, archive: &str, prefix: &str) -> Vec<(String, String)> {
    let (s, _, b) = c.req(
        "GET",
        &format!("/{archive}?format=json&prefix={prefix}"),
        &[],
        b"",
    );
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["content_type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn body(c: &Client, rel: &str) -> (u16, Vec<u8>) {
    let (s, _, b) = c.req("GET", rel, &[], b"");
    (s, b)
}

#[test]
fn versioned_writes_stack_history_and_permissions() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = harness::start_aio(&tmp.path().join("d"));
    let c = Client::new(aio.addr(), "test:tester", "testing");
    let nobody = Client::new(aio.addr(), "test:tester3", "testing3");

    let (s, _, b) = harness::http_request(aio.addr(), "GET", "/info", &[], b"").unwrap();
    assert_eq!(s, 200);
    let info: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        info["versioned_writes"]["allowed_flags"],
        serde_json::json!(["x-versions-location", "x-history-location"])
    );

    // Both modes at once: 400, and nothing is created.
    let (s, _, b) = c.req(
        "PUT",
        "/both",
        &[("X-Versions-Location", "a"), ("X-History-Location", "b")],
        b"",
    );
    assert_eq!(s, 400, "{}", String::from_utf8_lossy(&b));
    assert_eq!(c.req("HEAD", "/both", &[], b"").0, 404);

    // Stack mode: the location is shown as the client set it.
    c.ok("PUT", "/stack-ver", &[], b"");
    c.ok(
        "PUT",
        "/stack",
        &[("X-Versions-Location", "stack-ver")],
        b"",
    );
    let (_, h, _) = c.req("HEAD", "/stack", &[], b"");
    assert_eq!(header(&h, "x-versions-location"), Some("stack-ver"));
    assert_eq!(header(&h, "x-history-location"), None);
    assert!(h
        .iter()
        .all(|(k, _)| !k.to_ascii_lowercase().contains("sysmeta")));

    let mut written = Vec::new();
    for v in ["v1", "v2", "v3"] {
        c.ok(
            "PUT",
            "/stack/o",
            &[("Content-Type", &format!("text/{v}"))],
            v.as_bytes(),
        );
        let (_, h, _) = c.req("HEAD", "/stack/o", &[], b"");
        written.push(header(&h, "x-timestamp").unwrap().to_string());
    }
    assert_eq!(body(&c, "/stack/o"), (200, b"v3".to_vec()));
    let archived = listing(&c, "stack-ver", "001o/");
    assert_eq!(
        archived.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
        ["text/v1", "text/v2"]
    );
    // The archive name is <len:03x><name>/<timestamp of that version>.
    assert_eq!(archived[0].0, format!("001o/{}", written[0]));
    assert_eq!(archived[1].0, format!("001o/{}", written[1]));

    // Someone without write access can neither overwrite nor pop.
    let (s, _, _) = nobody.req("PUT", "/stack/o", &[], b"x");
    assert_eq!(s, 403);
    let (s, _, _) = nobody.req("DELETE", "/stack/o", &[], b"");
    assert_eq!(s, 403);
    let (s, _, _) = nobody.req("POST", "/stack", &[("X-Versions-Location", "x")], b"");
    assert_eq!(s, 403);
    let (s, _, _) =
        harness::http_request(aio.addr(), "PUT", &format!("{}/stack/o", c.path), &[], b"x")
            .unwrap();
    assert_eq!(s, 401);
    assert_eq!(listing(&c, "stack-ver", "001o/").len(), 2);
    assert_eq!(body(&c, "/stack/o"), (200, b"v3".to_vec()));

    // DELETEs restore the versions newest first, headers and all.
    c.ok("DELETE", "/stack/o", &[], b"");
    let (s, h, b) = c.req("GET", "/stack/o", &[], b"");
    assert_eq!((s, b.as_slice()), (200, b"v2".as_slice()));
    assert_eq!(header(&h, "content-type"), Some("text/v2"));
    c.ok("DELETE", "/stack/o", &[], b"");
    assert_eq!(body(&c, "/stack/o"), (200, b"v1".to_vec()));
    assert!(listing(&c, "stack-ver", "001o/").is_empty());
    c.ok("DELETE", "/stack/o", &[], b"");
    assert_eq!(body(&c, "/stack/o").0, 404);

    // An archive container that does not exist: the overwrite is refused
    // (a client error of the versioning step), the first write is not.
    c.ok("PUT", "/orphan", &[("X-Versions-Location", "missing")], b"");
    c.ok("PUT", "/orphan/o", &[], b"1");
    let (s, _, _) = c.req("PUT", "/orphan/o", &[], b"2");
    assert_eq!(s, 412);
    assert_eq!(body(&c, "/orphan/o"), (200, b"1".to_vec()));

    // X-Remove-Versions-Location turns versioning off.
    c.ok(
        "POST",
        "/stack",
        &[("X-Remove-Versions-Location", "x")],
        b"",
    );
    let (_, h, _) = c.req("HEAD", "/stack", &[], b"");
    assert_eq!(header(&h, "x-versions-location"), None);
    c.ok("PUT", "/stack/p", &[], b"1");
    c.ok("PUT", "/stack/p", &[], b"2");
    assert!(listing(&c, "stack-ver", "001p/").is_empty());

    // History mode: a DELETE archives the object and leaves a marker; the
    // object is gone, and each later DELETE (a 404) leaves one more.
    c.ok("PUT", "/hist-ver", &[], b"");
    c.ok("PUT", "/hist", &[("X-History-Location", "hist-ver")], b"");
    let (_, h, _) = c.req("HEAD", "/hist", &[], b"");
    assert_eq!(header(&h, "x-history-location"), Some("hist-ver"));
    assert_eq!(header(&h, "x-versions-location"), None);
    c.ok("PUT", "/hist/obj", &[], b"a");
    c.ok("PUT", "/hist/obj", &[], b"b");
    let (s, _, _) = nobody.req("DELETE", "/hist/obj", &[], b"");
    assert_eq!(s, 403);
    assert_eq!(listing(&c, "hist-ver", "003obj/").len(), 1);
    let (s, _, _) = c.req("DELETE", "/hist/obj", &[], b"");
    assert_eq!(s, 204);
    assert_eq!(body(&c, "/hist/obj").0, 404);
    let (s, _, _) = c.req("DELETE", "/hist/obj", &[], b"");
    assert_eq!(s, 404);
    let marker = "application/x-deleted;swift_versions_deleted=1";
    let rows = listing(&c, "hist-ver", "003obj/");
    assert_eq!(
        rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
        [
            "application/octet-stream",
            "application/octet-stream",
            marker,
            marker
        ]
    );
    let bodies: Vec<Vec<u8>> = rows
        .iter()
        .map(|r| body(&c, &format!("/hist-ver/{}", r.0)).1)
        .collect();
    assert_eq!(bodies, [b"a".to_vec(), b"b".to_vec(), vec![], vec![]]);

    // Large objects are archived as their manifests (the copy is made
    // below slo and dlo): an SLO keeps its segments' total as its listing
    // size, a DLO its X-Object-Manifest, and both come back whole.
    c.ok("PUT", "/segs", &[], b"");
    c.ok("PUT", "/segs/a", &[], &[b'a'; 1000]);
    c.ok("PUT", "/segs/b", &[], &[b'b'; 2000]);
    c.ok(
        "POST",
        "/stack",
        &[("X-Versions-Location", "stack-ver")],
        b"",
    );
    for seg in ["a", "b"] {
        let manifest = format!(r#"[{{"path": "/segs/{seg}", "etag": null, "size_bytes": null}}]"#);
        c.ok(
            "PUT",
            "/stack/slo?multipart-manifest=put",
            &[],
            manifest.as_bytes(),
        );
    }
    let (s, _, b) = c.req("GET", "/stack-ver?format=json&prefix=003slo/", &[], b"");
    assert_eq!(s, 200);
    let rows: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["bytes"], 1000, "{rows}");
    let archived = format!("/stack-ver/{}", rows[0]["name"].as_str().unwrap());
    let (s, h, _) = c.req(
        "GET",
        &format!("{archived}?multipart-manifest=get"),
        &[],
        b"",
    );
    assert_eq!(s, 200);
    assert!(header(&h, "x-static-large-object").is_some());
    assert_eq!(body(&c, &archived), (200, vec![b'a'; 1000]));
    c.ok("DELETE", "/stack/slo", &[], b"");
    assert_eq!(body(&c, "/stack/slo"), (200, vec![b'a'; 1000]));
    let (_, h, _) = c.req("HEAD", "/stack/slo", &[], b"");
    assert!(header(&h, "x-static-large-object").is_some());

    c.ok("PUT", "/stack/dlo", &[("X-Object-Manifest", "segs/a")], b"");
    c.ok("PUT", "/stack/dlo", &[], b"plain");
    let rows = listing(&c, "stack-ver", "003dlo/");
    assert_eq!(rows.len(), 1);
    let archived = format!("/stack-ver/{}", rows[0].0);
    let (s, h, b) = c.req("GET", &archived, &[], b"");
    assert_eq!(s, 200);
    assert_eq!(header(&h, "x-object-manifest"), Some("segs/a"));
    assert_eq!(b.len(), 1000);
    c.ok("DELETE", "/stack/dlo", &[], b"");
    let (_, h, b) = c.req("GET", "/stack/dlo", &[], b"");
    assert_eq!(
        (header(&h, "x-object-manifest"), b.len()),
        (Some("segs/a"), 1000)
    );

    // Back to stack mode: a DELETE over the markers steps back to "b".
    c.ok("POST", "/hist", &[("X-Versions-Location", "hist-ver")], b"");
    c.ok("DELETE", "/hist/obj", &[], b"");
    assert_eq!(body(&c, "/hist/obj").0, 404);
    c.ok("DELETE", "/hist/obj", &[], b"");
    assert_eq!(body(&c, "/hist/obj"), (200, b"b".to_vec()));
    assert_eq!(listing(&c, "hist-ver", "003obj/").len(), 1);
}

#[test]
fn versioned_writes_disabled_refuses_locations() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    harness::aio_ready(&data).kill9();
    let conf = data.join("etc").join("proxy-server.toml");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.contains("allow_versioned_writes = true"));
    let text = text.replace(
        "allow_versioned_writes = true",
        "allow_versioned_writes = false",
    );
    std::fs::write(&conf, text).unwrap();
    let aio = harness::start_aio(&data);
    let c = Client::new(aio.addr(), "test:tester", "testing");

    let (s, _, b) = harness::http_request(aio.addr(), "GET", "/info", &[], b"").unwrap();
    assert_eq!(s, 200);
    let info: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert!(info.get("versioned_writes").is_none(), "{info}");

    // Set explicitly to false, the filter refuses to turn versioning on
    // (Swift's 412), but an empty location (removal) is fine.
    let (s, _, b) = c.req("PUT", "/c", &[("X-Versions-Location", "v")], b"");
    assert_eq!(s, 412);
    assert_eq!(String::from_utf8_lossy(&b), "Versioned Writes is disabled");
    c.ok("PUT", "/c", &[("X-History-Location", "")], b"");
    let (s, _, _) = c.req("POST", "/c", &[("X-History-Location", "v")], b"");
    assert_eq!(s, 412);
    let (_, h, _) = c.req("HEAD", "/c", &[], b"");
    assert_eq!(header(&h, "x-versions-location"), None);
    c.ok("PUT", "/c/o", &[], b"1");
    c.ok("PUT", "/c/o", &[], b"2");
    assert_eq!(body(&c, "/c/o"), (200, b"2".to_vec()));
}
