//! Static large objects through `swirl aio`: python-swiftclient's
//! `upload --use-slo`, `download`, `stat` and `delete` (which deletes with
//! `?multipart-manifest=delete`, as Glance does), ranges across segment
//! boundaries and several ranges, the manifest PUT's checks and error
//! lists, inline data, nested manifests, conditionals on the SLO ETag, the
//! manifest itself (`multipart-manifest=get`, `format=raw`), copies of a
//! manifest, heartbeats, listings, and segments that go missing; and the
//! same manifest on Swift's own storage servers (the backend contract:
//! X-Backend-Etag-Is-At, the container row's override ETag, swift_bytes).

use crate::harness::{header, http_request};
use crate::proxy_cluster::ProxyCluster;
use crate::proxy_dlo::{aio, data, md5_hex, swift, Client};

#[test]
fn slo_with_swiftclient() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    let aio = aio(&w.join("d"), "");
    let auth = format!("http://{}/auth/v1.0", aio.addr());
    let user = ("glance:glance", "glance");
    let c = Client::new(aio.addr(), user.0, user.1);
    // /info says what swiftclient and Swift's tests look for.
    let (_, _, body) = http_request(aio.addr(), "GET", "/info", &[], b"").unwrap();
    let info: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        info["slo"],
        serde_json::json!({"max_manifest_segments": 1000, "max_manifest_size": 8388608,
            "yield_frequency": 10, "min_segment_size": 1, "allow_async_delete": false})
    );

    // Five segments of 100,000 bytes (small enough to be rate limited only
    // after ten, as Swift would).
    let big = data(7, 450_001);
    std::fs::write(w.join("big.bin"), &big).unwrap();
    let r = swift(
        &auth,
        user,
        w,
        &["upload", "-S", "100000", "--use-slo", "cli", "big.bin"],
    );
    assert!(r.0, "upload: {} {}", r.1, r.2);
    let etags: String = big.chunks(100_000).map(md5_hex).collect();
    let slo_etag = format!("\"{}\"", md5_hex(etags.as_bytes()));
    let r = swift(&auth, user, w, &["stat", "cli", "big.bin"]);
    assert!(r.0, "stat: {}", r.2);
    for want in [
        "X-Static-Large-Object: True".to_string(),
        "Content Length: 450001".to_string(),
        format!("ETag: {slo_etag}"),
    ] {
        assert!(r.1.contains(&want), "stat lacks {want}: {}", r.1);
    }
    let r = swift(
        &auth,
        user,
        w,
        &["download", "cli", "big.bin", "-o", "back.bin"],
    );
    assert!(r.0, "download: {} {}", r.1, r.2);
    assert!(
        std::fs::read(w.join("back.bin")).unwrap() == big,
        "bytes differ"
    );

    // The listing shows the whole size, the manifest's ETag and the SLO's.
    let (_, h, _) = c.req("HEAD", "/cli/big.bin", &[], b"");
    let manifest_etag = header(&h, "x-manifest-etag").unwrap().to_string();
    let (s, _, b) = c.req("GET", "/cli?format=json", &[], b"");
    assert_eq!(s, 200);
    let list: serde_json::Value = serde_json::from_slice(&b).unwrap();
    let row = &list[0];
    assert_eq!(row["name"], "big.bin");
    assert_eq!(row["bytes"], 450_001);
    assert_eq!(row["hash"], manifest_etag.as_str());
    assert_eq!(row["slo_etag"], slo_etag.as_str());
    assert_eq!(row["content_type"], "application/octet-stream");
    let (_, _, xml) = c.req("GET", "/cli?format=xml", &[], b"");
    let xml = String::from_utf8(xml).unwrap();
    assert!(
        xml.contains(&format!("<hash>{manifest_etag}</hash>")),
        "{xml}"
    );

    // One range across a segment boundary.
    let (s, h, b) = c.req(
        "GET",
        "/cli/big.bin",
        &[("Range", "bytes=99990-100009")],
        b"",
    );
    assert_eq!(s, 206);
    assert_eq!(
        header(&h, "content-range"),
        Some("bytes 99990-100009/450001")
    );
    assert_eq!(header(&h, "etag"), Some(slo_etag.as_str()));
    assert!(b == big[99_990..=100_009], "range across segments");
    let (s, _, b) = c.req("GET", "/cli/big.bin", &[("Range", "bytes=-5")], b"");
    assert_eq!(s, 206);
    assert!(b == big[450_001 - 5..]);
    // Several ranges: multipart/byteranges, as swob frames them.
    let (s, h, b) = c.req(
        "GET",
        "/cli/big.bin",
        &[("Range", "bytes=0-9,199995-200004")],
        b"",
    );
    assert_eq!(s, 206);
    let ctype = header(&h, "content-type").unwrap();
    let boundary = ctype
        .strip_prefix("multipart/byteranges;boundary=")
        .unwrap();
    let mut want = Vec::new();
    for (a, z) in [(0, 9), (199_995, 200_004)] {
        want.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {a}-{z}/450001\r\n\r\n"
            )
            .as_bytes(),
        );
        want.extend_from_slice(&big[a..=z]);
        want.extend_from_slice(b"\r\n");
    }
    want.extend_from_slice(format!("--{boundary}--").as_bytes());
    assert!(b == want, "multipart body: {}", String::from_utf8_lossy(&b));
    assert_eq!(
        header(&h, "content-length"),
        Some(want.len().to_string().as_str())
    );
    let (s, h, _) = c.req("GET", "/cli/big.bin", &[("Range", "bytes=450001-")], b"");
    assert_eq!(s, 416);
    assert_eq!(header(&h, "content-range"), Some("bytes */450001"));

    // swift delete: the manifest says it is an SLO, so its segments go too.
    let r = swift(&auth, user, w, &["delete", "cli", "big.bin"]);
    assert!(r.0, "delete: {} {}", r.1, r.2);
    let r = swift(&auth, user, w, &["list", "cli_segments"]);
    assert!(r.0 && r.1.trim().is_empty(), "segments left: {}", r.1);
    assert_eq!(c.req("HEAD", "/cli/big.bin", &[], b"").0, 404);
}

/// The bytes and SLO ETag a manifest's segments make.
fn etag_of(parts: &[String]) -> String {
    md5_hex(parts.concat().as_bytes())
}

#[test]
fn slo_manifests_checks_nesting_copies_and_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = aio(&tmp.path().join("d"), "");
    let c = Client::new(aio.addr(), "test:tester", "testing");
    c.ok("PUT", "/segs", &[], b"");
    c.ok("PUT", "/c", &[], b"");
    let (a, b, cc) = (b"aaa".to_vec(), b"bbbb".to_vec(), b"ccccc".to_vec());
    c.ok("PUT", "/segs/a", &[], &a);
    c.ok("PUT", "/segs/b", &[], &b);
    c.ok("PUT", "/segs/c", &[], &cc);
    let put = |name: &str, q: &str, hdrs: &[(&str, &str)], body: &str| {
        c.req(
            "PUT",
            &format!("/c/{name}?multipart-manifest=put{q}"),
            hdrs,
            body.as_bytes(),
        )
    };

    // A bad ETag and a missing segment: 400, each one listed.
    let bad = r#"[{"path": "/segs/a", "etag": "nope"}, {"path": "segs/missing"}]"#;
    let (s, h, body) = put("bad", "", &[], bad);
    assert_eq!(s, 400);
    assert_eq!(header(&h, "content-type"), Some("text/plain"));
    assert_eq!(
        String::from_utf8_lossy(&body),
        "Errors:\n/segs/a, Etag Mismatch\nsegs/missing, 404 Not Found\n"
    );
    let (s, _, body) = put("bad", "", &[("Accept", "application/json")], bad);
    assert_eq!(s, 400);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"Errors": [["/segs/a", "Etag Mismatch"], ["segs/missing", "404 Not Found"]]})
    );
    let (s, _, body) = put("bad", "", &[], "not json");
    assert_eq!(
        (s, body.as_slice()),
        (400, &b"Manifest must be valid JSON.\n"[..])
    );
    let (s, _, body) = put("bad", "", &[], r#"[{"path": "/segs/a", "teag": "x"}]"#);
    assert_eq!(
        (s, String::from_utf8_lossy(&body).as_ref()),
        (400, "Index 0: extraneous keys \"teag\"\n")
    );
    let (s, _, body) = put("bad", "", &[], r#"[{"path": "/segs/a", "size_bytes": 2}]"#);
    assert_eq!(
        (s, String::from_utf8_lossy(&body).as_ref()),
        (400, "Errors:\n/segs/a, Size Mismatch\n")
    );
    assert_eq!(c.req("HEAD", "/c/bad", &[], b"").0, 404);

    // Inline data and a ranged segment.
    let m1 = format!(
        r#"[{{"path": "/segs/a", "etag": "{}", "size_bytes": 3}}, {{"data": "WFla"}}, {{"path": "/segs/b", "range": "1-2"}}]"#,
        md5_hex(&a)
    );
    let (s, h, _) = put("m1", "", &[], &m1);
    assert_eq!(s, 201);
    let e1 = etag_of(&[
        md5_hex(&a),
        md5_hex(b"XYZ"),
        format!("{}:1-2;", md5_hex(&b)),
    ]);
    assert_eq!(header(&h, "etag"), Some(format!("\"{e1}\"").as_str()));
    let content1 = b"aaaXYZbb".to_vec();
    let (s, h, body) = c.req("GET", "/c/m1", &[], b"");
    assert_eq!(s, 200);
    assert!(body == content1, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&h, "x-static-large-object"), Some("True"));
    let (s, h, _) = c.req("HEAD", "/c/m1", &[], b"");
    assert_eq!(s, 200);
    assert_eq!(header(&h, "content-length"), Some("8"));
    assert_eq!(header(&h, "etag"), Some(format!("\"{e1}\"").as_str()));

    // A nested manifest: its ETag is the MD5 of the SLO ETag and the rest.
    let m2 =
        format!(r#"[{{"path": "/c/m1", "etag": "{e1}", "size_bytes": 8}}, {{"path": "/segs/c"}}]"#);
    assert_eq!(put("m2", "", &[], &m2).0, 201);
    let e2 = etag_of(&[e1.clone(), md5_hex(&cc)]);
    let content2 = [content1.clone(), cc.clone()].concat();
    let (s, h, body) = c.req("GET", "/c/m2", &[], b"");
    assert_eq!(s, 200);
    assert!(body == content2);
    assert_eq!(header(&h, "etag"), Some(format!("\"{e2}\"").as_str()));
    let (s, _, body) = c.req("GET", "/c/m2", &[("Range", "bytes=5-9")], b"");
    assert_eq!(s, 206);
    assert!(body == content2[5..=9], "range across the nested manifest");

    // Conditionals compare with the SLO ETag.
    let q = format!("\"{e2}\"");
    assert_eq!(
        c.req("GET", "/c/m2", &[("If-Match", "\"nope\"")], b"").0,
        412
    );
    assert_eq!(
        c.req("HEAD", "/c/m2", &[("If-Match", "\"nope\"")], b"").0,
        412
    );
    assert_eq!(c.req("GET", "/c/m2", &[("If-Match", &q)], b"").0, 200);
    assert_eq!(c.req("GET", "/c/m2", &[("If-None-Match", &q)], b"").0, 304);
    assert_eq!(c.req("HEAD", "/c/m2", &[("If-None-Match", &q)], b"").0, 304);

    // The manifest itself, as stored and in the PUT format.
    let (s, h, body) = c.req("GET", "/c/m1?multipart-manifest=get", &[], b"");
    assert_eq!(s, 200);
    assert_eq!(
        header(&h, "content-type"),
        Some("application/json; charset=utf-8")
    );
    let manifest_etag = md5_hex(&body);
    assert_eq!(header(&h, "etag"), Some(manifest_etag.as_str()));
    let stored: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(stored[0]["name"], "/segs/a");
    assert_eq!(stored[0]["bytes"], 3);
    assert_eq!(stored[1]["data"], "WFla");
    assert_eq!(stored[2]["range"], "1-2");
    let (s, h, raw) = c.req("GET", "/c/m1?multipart-manifest=get&format=raw", &[], b"");
    assert_eq!(s, 200);
    assert_eq!(header(&h, "etag"), Some(md5_hex(&raw).as_str()));
    let raw: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        raw[0],
        serde_json::json!({"path": "/segs/a", "etag": md5_hex(&a), "size_bytes": 3})
    );
    assert_eq!(raw[2]["range"], "1-2");

    // A copy of the manifest (not of its bytes) with multipart-manifest=get.
    let (s, _, _) = c.req(
        "PUT",
        "/c/m3?multipart-manifest=get",
        &[("X-Copy-From", "c/m1")],
        b"",
    );
    assert_eq!(s, 201);
    let (s, h, body) = c.req("GET", "/c/m3", &[], b"");
    assert!(s == 200 && body == content1);
    assert_eq!(header(&h, "etag"), Some(format!("\"{e1}\"").as_str()));
    // ... and a copy of its bytes without.
    c.ok("COPY", "/c/m1", &[("Destination", "c/flat")], b"");
    let (_, h, body) = c.req("GET", "/c/flat", &[], b"");
    assert!(body == content1 && header(&h, "x-static-large-object").is_none());

    // The listing shows each manifest's total size and both ETags.
    let (_, _, body) = c.req("GET", "/c?format=json", &[], b"");
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let row = |n: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == n)
            .unwrap()
            .clone()
    };
    for n in ["m1", "m3"] {
        assert_eq!(row(n)["bytes"], 8);
        assert_eq!(row(n)["hash"], manifest_etag.as_str());
        assert_eq!(row(n)["slo_etag"], format!("\"{e1}\"").as_str());
    }
    assert!(row("flat").get("slo_etag").is_none());
    // A POST keeps them (and the size), whatever Content-Type it sets.
    c.ok("POST", "/c/m1", &[("Content-Type", "image/jpeg")], b"");
    let (_, _, body) = c.req("GET", "/c?format=json", &[], b"");
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let m1row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "m1")
        .unwrap()
        .clone();
    assert_eq!(
        (m1row["bytes"].clone(), m1row["content_type"].clone()),
        (serde_json::json!(8), serde_json::json!("image/jpeg"))
    );
    assert_eq!(m1row["slo_etag"], format!("\"{e1}\"").as_str());

    // heartbeat=on: 202 at once, whitespace, then the result.
    let (s, h, body) = put("hb", "&heartbeat=on", &[], &m1);
    assert_eq!(s, 202);
    assert_eq!(header(&h, "content-type"), Some("text/plain"));
    let text = String::from_utf8(body).unwrap();
    let (pad, result) = text.split_once("\r\n\r\n").unwrap();
    assert!(pad.trim().is_empty() && !pad.is_empty(), "{text:?}");
    assert!(result.contains("Response Status: 201 Created\n"), "{text}");
    assert!(result.contains(&format!("Etag: \"{e1}\"\n")), "{text}");
    assert!(result.ends_with("Errors:\n"), "{text}");

    // Clients may not mark objects as manifests, nor use swift_ parameters.
    let (s, _, body) = c.req("PUT", "/c/x", &[("X-Static-Large-Object", "True")], b"[]");
    assert_eq!(s, 400);
    assert!(String::from_utf8_lossy(&body).contains("reserved header"));
    let (s, _, _) = c.req(
        "PUT",
        "/c/x",
        &[("Content-Type", "a/b;swift_bytes=5")],
        b"x",
    );
    assert_eq!(s, 400);

    // A segment that disappears: the first one is a 409 before any byte, a
    // later one cuts the body short.
    let m4 = r#"[{"path": "/segs/c"}, {"path": "/segs/a"}]"#;
    assert_eq!(put("m4", "", &[], m4).0, 201);
    c.ok("DELETE", "/segs/c", &[], b"");
    assert_eq!(c.req("GET", "/c/m4", &[], b"").0, 409);
    let (s, h, body) = c.req("GET", "/c/m2", &[], b"");
    assert_eq!(s, 200);
    assert_eq!(header(&h, "content-length"), Some("13"));
    assert!(body == content1, "cut after m1's bytes: {body:?}");

    // multipart-manifest=delete: the segments (a nested manifest's first),
    // then the manifests; c is gone already.
    let (s, h, body) = c.req(
        "DELETE",
        "/c/m2?multipart-manifest=delete",
        &[("Accept", "application/json")],
        b"",
    );
    assert_eq!(s, 200);
    assert_eq!(header(&h, "content-type"), Some("application/json"));
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"Response Status": "200 OK", "Response Body": "",
            "Number Deleted": 4, "Number Not Found": 1, "Errors": []})
    );
    for gone in ["/segs/a", "/segs/b", "/c/m1", "/c/m2"] {
        assert_eq!(c.req("HEAD", gone, &[], b"").0, 404, "{gone}");
    }
    // Not a manifest: nothing is deleted.
    let (s, _, body) = c.req("DELETE", "/c/flat?multipart-manifest=delete", &[], b"");
    assert_eq!(s, 200);
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("Response Status: 400 Bad Request\n")
            && text.ends_with("Errors:\n/c/flat, Not an SLO manifest\n"),
        "{text}"
    );
    assert_eq!(c.req("HEAD", "/c/flat", &[], b"").0, 200);
}

#[test]
fn slo_on_swift_storage_servers() {
    let cluster = ProxyCluster::start();
    let c = Client::new(cluster.proxy.addr(), "test:tester", "testing");
    c.ok("PUT", "/segs", &[], b"");
    c.ok("PUT", "/c", &[], b"");
    let (a, b) = (data(1, 2000), data(2, 3000));
    c.ok("PUT", "/segs/a", &[], &a);
    c.ok("PUT", "/segs/b", &[], &b);
    let manifest = r#"[{"path": "/segs/a"}, {"path": "/segs/b", "range": "-1000"}]"#;
    let (s, _, _) = c.req(
        "PUT",
        "/c/m?multipart-manifest=put",
        &[],
        manifest.as_bytes(),
    );
    assert_eq!(s, 201);
    let etag = format!(
        "\"{}\"",
        md5_hex(format!("{}{}:2000-2999;", md5_hex(&a), md5_hex(&b)).as_bytes())
    );
    let whole = [a.clone(), b[2000..].to_vec()].concat();
    let (s, h, body) = c.req("GET", "/c/m", &[], b"");
    assert_eq!(s, 200);
    assert!(body == whole);
    assert_eq!(header(&h, "etag"), Some(etag.as_str()));
    assert_eq!(header(&h, "content-type"), Some("application/octet-stream"));
    // Swift's object server compares If-Match with the SLO ETag it keeps.
    assert_eq!(c.req("HEAD", "/c/m", &[("If-Match", &etag)], b"").0, 200);
    assert_eq!(
        c.req("GET", "/c/m", &[("If-None-Match", &etag)], b"").0,
        304
    );
    assert_eq!(c.req("GET", "/c/m", &[("If-Match", "\"x\"")], b"").0, 412);
    let (s, _, body) = c.req("GET", "/c/m", &[("Range", "bytes=1990-2009")], b"");
    assert_eq!(s, 206);
    assert!(body == whole[1990..=2009]);
    // Its container server keeps both ETags and the total size, POST or not.
    c.ok("POST", "/c/m", &[("Content-Type", "text/x-slo")], b"");
    let (_, _, body) = c.req("GET", "/c?format=json", &[], b"");
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(list[0]["bytes"], 3000);
    assert_eq!(list[0]["content_type"], "text/x-slo");
    assert_eq!(list[0]["slo_etag"], etag.as_str());
    let (s, _, body) = c.req(
        "DELETE",
        "/c/m?multipart-manifest=delete",
        &[("Accept", "application/json")],
        b"",
    );
    assert_eq!(s, 200);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["Number Deleted"], 3, "{doc}");
    assert_eq!(c.req("HEAD", "/segs/a", &[], b"").0, 404);
}
