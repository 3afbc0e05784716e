//! The bulk middleware through `swirl aio`. Bulk delete: the result body in
//! each format, objects before containers, per-name failures, the request
//! limits, the heartbeat of a long request. Extract-archive: tar, tar.gz and
//! tar.bz2 archives (made by Python's tarfile) unpacked into objects with
//! their pax metadata. And /info's `bulk_delete` and `bulk_upload`.

use std::time::Instant;

use crate::harness::{header, http_request};
use crate::proxy_cluster::token;
use crate::proxy_dlo::aio;

#[test]
fn bulk_delete_formats_limits_and_heartbeat() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = aio(
        &tmp.path().join("d"),
        "[bulk]\nmax_deletes_per_request = 8\nmax_failed_deletes = 2\n\
         yield_frequency = 1\ndelete_container_retry_count = 1",
    );
    let addr = aio.addr();
    let (tok, acct) = token(addr, "glance:glance", "glance");
    let req = |method: &str, path: &str, h: &[(&str, &str)], body: &[u8]| {
        let mut hs = vec![("X-Auth-Token", tok.as_str())];
        hs.extend_from_slice(h);
        http_request(addr, method, &format!("{acct}{path}"), &hs, body).unwrap()
    };
    let put = |path: &str, body: &[u8]| {
        let s = req("PUT", path, &[], body).0;
        assert!(s == 201 || s == 202, "PUT {path}: {s}");
    };
    for c in ["/c1", "/c2", "/c3"] {
        put(c, b"");
    }
    put("/c1/o1", b"1");
    put("/c1/o2", b"2");
    put("/c1/a%20b/%E2%98%83", b"3");
    put("/c3/keep", b"k");

    // Objects go first, then containers: c2 is empty and goes; c3 is not
    // (409, retried once after 1.5 s, so the client gets a heartbeat space
    // before the result).
    let list = "/c1/o1\n c1/o2 \n/c1/a%20b/%E2%98%83\n/c1/missing\n/c3\n/c2\n";
    let t0 = Instant::now();
    let (s, h, b) = req(
        "POST",
        "?bulk-delete",
        &[
            ("Accept", "application/json"),
            ("Content-Type", "text/plain"),
        ],
        list.as_bytes(),
    );
    assert!(t0.elapsed().as_secs_f64() >= 1.5);
    assert_eq!(s, 200);
    assert_eq!(header(&h, "content-type"), Some("application/json"));
    let text = String::from_utf8(b).unwrap();
    assert!(text.starts_with(" \r\n\r\n{"), "{text:?}");
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(v["Number Deleted"], 4, "{v}");
    assert_eq!(v["Number Not Found"], 1);
    assert_eq!(v["Response Status"], "400 Bad Request");
    assert_eq!(v["Errors"], serde_json::json!([["/c3", "409 Conflict"]]));
    assert_eq!(req("HEAD", "/c2", &[], b"").0, 404);
    assert_eq!(req("HEAD", "/c1/o1", &[], b"").0, 404);
    assert_eq!(req("HEAD", "/c3/keep", &[], b"").0, 200);

    // As Swift's functional test: DELETE on an object's path, XML, Expect.
    put("/c1/x", b"x");
    let (s, h, b) = req(
        "DELETE",
        "/c1/x?bulk-delete",
        &[
            ("Accept", "application/xml"),
            ("Expect", "100-continue"),
            ("Content-Type", "text/plain"),
        ],
        b"c1/x",
    );
    assert_eq!(
        (s, header(&h, "content-type")),
        (200, Some("application/xml"))
    );
    assert_eq!(
        String::from_utf8(b).unwrap(),
        "<delete>\n<number_deleted>1</number_deleted>\n<number_not_found>0</number_not_found>\n\
         <response_body></response_body>\n<response_status>200 OK</response_status>\n\
         <errors>\n</errors>\n</delete>\n"
    );

    // Plain text by default; a name that is not UTF-8 fails on its own.
    let (_, h, b) = req("POST", "?bulk-delete", &[], b"/c1/%FF\n/c1/gone\n");
    assert_eq!(header(&h, "content-type"), Some("text/plain"));
    assert_eq!(
        String::from_utf8(b).unwrap(),
        "Number Deleted: 0\nNumber Not Found: 1\nResponse Body: \n\
         Response Status: 400 Bad Request\nErrors:\n/c1/%FF, 412 Precondition Failed\n"
    );

    // Request-level failures are reported in the body of a 200.
    let status = |h: &[(&str, &str)], body: &[u8]| {
        let mut hs = vec![("Accept", "application/json")];
        hs.extend_from_slice(h);
        let (s, _, b) = req("POST", "?bulk-delete", &hs, body);
        assert_eq!(s, 200);
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        (
            v["Response Status"].as_str().unwrap().to_string(),
            v["Response Body"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(
        status(&[], b""),
        ("400 Bad Request".into(), "Invalid bulk delete.".into())
    );
    assert_eq!(
        status(&[], b"a\nb\nc\nd\ne\nf\ng\nh\ni\n"),
        (
            "413 Request Entity Too Large".into(),
            "Maximum Bulk Deletes: 8 per request".into()
        )
    );
    assert_eq!(
        status(&[("Content-Type", "application/json")], b"/c1/o"),
        ("406 Not Acceptable".into(), String::new())
    );
    let long = format!("/c1/{}", "x".repeat(3000));
    assert_eq!(
        status(&[], long.as_bytes()),
        ("400 Bad Request".into(), "Invalid File Name".into())
    );
    // max_failed_deletes = 2: two non-empty containers stop the request.
    put("/c4", b"");
    put("/c4/o", b"o");
    let (st, body) = status(&[], b"/c3\n/c4\n");
    assert_eq!(
        (st.as_str(), body.as_str()),
        ("400 Bad Request", "Max delete failures exceeded")
    );

    // An unusable Accept: 406 in a plain body.
    let (s, _, b) = req("POST", "?bulk-delete", &[("Accept", "image/png")], b"/c1/o");
    assert_eq!(s, 200);
    assert!(String::from_utf8_lossy(&b).contains("Response Status: 406 Not Acceptable"));

    // A refused token fails every delete, not the request.
    let (s, _, b) = http_request(
        addr,
        "POST",
        &format!("{acct}?bulk-delete"),
        &[
            ("X-Auth-Token", "AUTH_tkbogus"),
            ("Accept", "application/json"),
        ],
        b"/c3/keep",
    )
    .unwrap();
    assert_eq!(s, 200);
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        v["Errors"],
        serde_json::json!([["/c3/keep", "401 Unauthorized"]])
    );
    assert_eq!(req("HEAD", "/c3/keep", &[], b"").0, 200);

    let (_, _, b) = http_request(addr, "GET", "/info", &[], b"").unwrap();
    let info: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        info["bulk_delete"],
        serde_json::json!({"max_deletes_per_request": 8, "max_failed_deletes": 2})
    );
}

/// Writes an archive with Python's tarfile (pax format, as GNU tar writes
/// xattrs) in `mode` ("w", "w:gz", "w:bz2").
fn make_tar(dir: &std::path::Path, mode: &str) -> Vec<u8> {
    let script = dir.join("mk.py");
    std::fs::write(
        &script,
        r#"import io, sys, tarfile
with tarfile.open(sys.argv[1], sys.argv[2], format=tarfile.PAX_FORMAT) as t:
    def add(name, data, pax=None):
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        if pax:
            ti.pax_headers = pax
        t.addfile(ti, io.BytesIO(data))
    add('c1/a.txt', b'alpha')
    add('./c1/dir/b.bin', bytes(range(256)) * 400)
    add('top.txt', b'top level')
    d = tarfile.TarInfo('c2/emptydir')
    d.type = tarfile.DIRTYPE
    t.addfile(d)
    add('c2/x.dat', b'x', {'SCHILY.xattr.user.mime_type': 'application/x-test',
                           'SCHILY.xattr.user.meta.lunch': 'burger'})
    add('c2/' + 'n' * 150, b'long name')
"#,
    )
    .unwrap();
    let out = dir.join("a.tar");
    let st = std::process::Command::new("python3")
        .arg(&script)
        .arg(&out)
        .arg(mode)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::read(out).unwrap()
}

fn chunked(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in b.chunks(7000) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[test]
fn extract_archive_uploads_members() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = aio(&tmp.path().join("d"), "");
    let addr = aio.addr();
    let (tok, acct) = token(addr, "glance:glance", "glance");
    let req = |method: &str, path: &str, h: &[(&str, &str)], body: &[u8]| {
        let mut hs = vec![("X-Auth-Token", tok.as_str())];
        hs.extend_from_slice(h);
        http_request(addr, method, &format!("{acct}{path}"), &hs, body).unwrap()
    };
    let json = |b: &[u8]| -> serde_json::Value { serde_json::from_slice(b).unwrap() };
    let b_bin: Vec<u8> = (0..400).flat_map(|_| 0u8..=255).collect();

    // At the account: the first path element is the container (created).
    let gz = make_tar(tmp.path(), "w:gz");
    let (s, h, b) = req(
        "PUT",
        "?extract-archive=tar.gz",
        &[
            ("Accept", "application/json"),
            ("X-Object-Meta-Color", "red"),
        ],
        &gz,
    );
    assert_eq!(
        (s, header(&h, "content-type")),
        (200, Some("application/json"))
    );
    let v = json(&b);
    assert_eq!(v["Response Status"], "201 Created", "{v}");
    assert_eq!(v["Number Files Created"], 4);
    assert_eq!(v["Errors"], serde_json::json!([]));
    let (s, h, b) = req("GET", "/c1/a.txt", &[], b"");
    assert_eq!((s, b.as_slice()), (200, &b"alpha"[..]));
    assert_eq!(header(&h, "x-object-meta-color"), Some("red"));
    assert_eq!(header(&h, "content-type"), Some("text/plain"));
    assert!(req("GET", "/c1/dir/b.bin", &[], b"").2 == b_bin);
    let (_, h, _) = req("HEAD", "/c2/x.dat", &[], b"");
    assert_eq!(header(&h, "content-type"), Some("application/x-test"));
    assert_eq!(header(&h, "x-object-meta-lunch"), Some("burger"));
    let long = format!("/c2/{}", "n".repeat(150));
    assert_eq!(req("GET", &long, &[], b"").2, b"long name");
    assert_eq!(req("HEAD", "/c2/emptydir", &[], b"").0, 404);

    // Under a container (bzip2, chunked): top-level files land there too.
    let bz = make_tar(tmp.path(), "w:bz2");
    assert_eq!(req("PUT", "/base", &[], b"").0, 201);
    let (s, _, b) = req(
        "PUT",
        "/base/sub/?extract-archive=tar.bz2",
        &[("Transfer-Encoding", "chunked"), ("Accept", "text/plain")],
        &chunked(&bz),
    );
    assert_eq!(s, 200);
    let text = String::from_utf8(b).unwrap();
    assert!(
        text.contains("Number Files Created: 5\n") && text.contains("201 Created"),
        "{text}"
    );
    assert_eq!(req("GET", "/base/sub/top.txt", &[], b"").2, b"top level");
    assert!(req("GET", "/base/sub/c1/dir/b.bin", &[], b"").2 == b_bin);

    // A plain tar, XML.
    let plain = make_tar(tmp.path(), "w");
    let (_, _, b) = req(
        "PUT",
        "/plain?extract-archive=tar",
        &[("Accept", "application/xml")],
        &plain,
    );
    assert!(String::from_utf8_lossy(&b).contains("<number_files_created>5</number_files_created>"));

    // Bad input.
    let (_, _, b) = req(
        "PUT",
        "?extract-archive=tar.gz",
        &[("Accept", "application/json")],
        b"not a gzip stream at all",
    );
    let v = json(&b);
    assert_eq!(v["Response Status"], "400 Bad Request");
    assert!(
        v["Response Body"]
            .as_str()
            .unwrap()
            .starts_with("Invalid Tar File: "),
        "{v}"
    );
    let (_, _, b) = req(
        "PUT",
        "?extract-archive=tar",
        &[("Accept", "application/json")],
        &plain[..plain.len() / 2],
    );
    let v = json(&b);
    assert_eq!(
        v["Response Body"], "Invalid Tar File: unexpected end of data",
        "{v}"
    );
    let (_, _, b) = req(
        "PUT",
        "?extract-archive=tar",
        &[("Accept", "application/json")],
        &[0u8; 1024],
    );
    assert_eq!(
        json(&b)["Response Body"],
        "Invalid Tar File: No Valid Files"
    );
    let (s, _, b) = req("PUT", "?extract-archive=zip", &[], b"x");
    assert_eq!((s, b.as_slice()), (400, &b"Unsupported archive format"[..]));

    let (_, _, b) = http_request(addr, "GET", "/info", &[], b"").unwrap();
    let info: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        info["bulk_upload"],
        serde_json::json!({"max_containers_per_extraction": 10000, "max_failed_extractions": 1000})
    );
}
