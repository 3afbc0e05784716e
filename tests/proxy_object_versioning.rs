//! Swift's object versioning (X-Versions-Enabled) through `swirl aio`
//! (which sets `allow_object_versioning = true`): versions kept in the
//! hidden `\0versions\0<container>`, `?versions` listings, `?version-id`
//! reads, deletes and re-links, the null version of data written while
//! versioning was off, delete markers, and bad input answered 4xx, never
//! 5xx. The hidden container stays out of client listings, and clients
//! cannot name the reserved namespace at all.

use crate::harness::{self, header};
use crate::proxy_dlo::Client;

/// `?versions` rows: (name, version_id, is_latest, content_type).
fn versions(c: &Client, cont: &str) -> Vec<(String, String, bool, String)> {
    let (s, _, b) = c.req("GET", &format!("/{cont}?versions&format=json"), &[], b"");
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["version_id"].as_str().unwrap().to_string(),
                r["is_latest"].as_bool().unwrap(),
                r["content_type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A request that must be refused: method, path, headers, body, status.
type BadCase<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a [u8], u16);

fn put(c: &Client, rel: &str, body: &[u8], ctype: &str) -> String {
    let (s, h, b) = c.req("PUT", rel, &[("Content-Type", ctype)], body);
    assert_eq!(s, 201, "PUT {rel}: {}", String::from_utf8_lossy(&b));
    header(&h, "x-object-version-id").unwrap_or("").to_string()
}

#[test]
fn object_versioning_enable_list_read_delete_and_refuse() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = harness::start_aio(&tmp.path().join("d"));
    let c = Client::new(aio.addr(), "test:tester", "testing");
    let reader = Client::new(aio.addr(), "test:tester3", "testing3");

    let (s, _, b) = harness::http_request(aio.addr(), "GET", "/info", &[], b"").unwrap();
    assert_eq!(s, 200);
    let info: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(info["object_versioning"], serde_json::json!({}));

    // Enable: the switch shows on HEAD; the hidden container is no
    // client's to see or name.
    c.ok("PUT", "/ver", &[("X-Versions-Enabled", "true")], b"");
    let (_, h, _) = c.req("HEAD", "/ver", &[], b"");
    assert_eq!(header(&h, "x-versions-enabled"), Some("True"));
    let (s, _, b) = c.req("GET", "?format=json", &[], b"");
    assert_eq!(s, 200);
    let names: Vec<String> = serde_json::from_slice::<serde_json::Value>(&b)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["ver"]);
    let (s, _, _) = c.req("GET", "/%00versions%00ver", &[], b"");
    assert_eq!(s, 412);
    let (s, _, _) = c.req("PUT", "/%00mine", &[], b"");
    assert_eq!(s, 412);

    // Two writes: two versions, the newest current.
    let v1 = put(&c, "/ver/o", b"one", "text/one");
    let v2 = put(&c, "/ver/o", b"two!", "text/two");
    assert!(!v1.is_empty() && !v2.is_empty() && v1 != v2);
    let (s, h, b) = c.req("GET", "/ver/o", &[], b"");
    assert_eq!((s, b.as_slice()), (200, &b"two!"[..]));
    assert_eq!(header(&h, "x-object-version-id"), Some(v2.as_str()));
    assert!(header(&h, "content-location")
        .unwrap()
        .ends_with(&format!("/ver/o?version-id={v2}")));
    assert_eq!(
        versions(&c, "ver"),
        [
            ("o".to_string(), v2.clone(), true, "text/two".to_string()),
            ("o".to_string(), v1.clone(), false, "text/one".to_string()),
        ]
    );
    // The container counts its versions' bytes; its listing the current one.
    let (_, h, _) = c.req("HEAD", "/ver", &[], b"");
    assert_eq!(header(&h, "x-container-bytes-used"), Some("7"));
    let (_, _, b) = c.req("GET", "/ver?format=json", &[], b"");
    let rows: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(rows[0]["bytes"], 4);
    assert_eq!(rows[0]["version_symlink"], true);

    // A version by id; another user with read access to the container
    // still may not read versions (the hidden container's ACLs).
    let (s, h, b) = c.req("GET", &format!("/ver/o?version-id={v1}"), &[], b"");
    assert_eq!((s, b.as_slice()), (200, &b"one"[..]));
    assert_eq!(header(&h, "content-type"), Some("text/one"));
    c.ok("POST", "/ver", &[("X-Container-Read", "test:tester3")], b"");
    assert_eq!(reader.req("GET", "/ver/o", &[], b"").0, 200);
    let (s, _, _) = reader.req("GET", &format!("/ver/o?version-id={v1}"), &[], b"");
    assert_eq!(s, 403);

    // DELETE leaves a marker: the object is gone, its versions stay.
    let (s, h, _) = c.req("DELETE", "/ver/o", &[], b"");
    assert_eq!(s, 204);
    let marker = header(&h, "x-object-version-id").unwrap().to_string();
    assert_eq!(c.req("GET", "/ver/o", &[], b"").0, 404);
    let vs = versions(&c, "ver");
    assert_eq!(vs.len(), 3);
    assert_eq!(
        vs[0],
        (
            "o".to_string(),
            marker.clone(),
            true,
            "application/x-deleted;swift_versions_deleted=1".to_string()
        )
    );
    assert_eq!(
        c.req("GET", &format!("/ver/o?version-id={marker}"), &[], b"")
            .0,
        404
    );
    // An old version made current again (a zero-byte PUT ?version-id).
    let (s, h, _) = c.req("PUT", &format!("/ver/o?version-id={v1}"), &[], b"");
    assert_eq!(s, 201);
    assert_eq!(header(&h, "x-object-version-id"), Some(v1.as_str()));
    let (s, _, b) = c.req("GET", "/ver/o", &[], b"");
    assert_eq!((s, b.as_slice()), (200, &b"one"[..]));
    // Deleting an old version removes just it.
    let (s, h, _) = c.req("DELETE", &format!("/ver/o?version-id={v2}"), &[], b"");
    assert_eq!(s, 204);
    assert_eq!(header(&h, "x-object-current-version-id"), Some(v1.as_str()));
    assert!(versions(&c, "ver").iter().all(|v| v.1 != v2));

    // Versioning off: new data is the null version, overwritten in place.
    c.ok("POST", "/ver", &[("X-Versions-Enabled", "false")], b"");
    assert_eq!(put(&c, "/ver/n", b"null", "text/n"), "");
    let (s, h, b) = c.req("GET", "/ver/n?version-id=null", &[], b"");
    assert_eq!((s, b.as_slice()), (200, &b"null"[..]));
    assert_eq!(header(&h, "x-object-version-id"), Some("null"));
    assert!(versions(&c, "ver")
        .iter()
        .any(|v| v.0 == "n" && v.1 == "null" && v.2));
    // Versioning on again: the null version is kept when overwritten.
    c.ok("POST", "/ver", &[("X-Versions-Enabled", "true")], b"");
    let n2 = put(&c, "/ver/n", b"new", "text/n");
    let ns: Vec<_> = versions(&c, "ver")
        .into_iter()
        .filter(|v| v.0 == "n")
        .collect();
    assert_eq!(ns.len(), 2, "{ns:?}");
    assert_eq!((ns[0].1.as_str(), ns[0].2), (n2.as_str(), true));
    assert!(!ns[1].2);

    // Bad input: 4xx, never 5xx.
    let bad: &[BadCase] = &[
        ("GET", "/ver/o?version-id=bogus", &[], b"", 400),
        ("GET", "/ver/o?version-id=-1", &[], b"", 400),
        ("POST", "/ver/o?version-id=null", &[], b"", 400),
        (
            "PUT",
            "/ver/o?version-id=1700000000.00000",
            &[],
            b"data",
            400,
        ),
        ("PUT", "/ver/o?version-id=1700000000.00000", &[], b"", 404),
        ("GET", "/ver/o?version-id=1700000000.00000", &[], b"", 404),
        ("GET", "/ver?versions&format=xml", &[], b"", 406),
        (
            "GET",
            "/ver?versions",
            &[("Accept", "text/plain")],
            b"",
            406,
        ),
        ("GET", "/ver?versions&version_marker=1", &[], b"", 400),
        (
            "GET",
            "/ver?versions&marker=o&version_marker=x",
            &[],
            b"",
            400,
        ),
        ("GET", "/ver?versions&delimiter=1", &[], b"", 400),
        ("DELETE", "/ver", &[], b"", 409),
    ];
    for (m, rel, h, body, want) in bad {
        let (s, _, b) = c.req(m, rel, h, body);
        assert_eq!(s, *want, "{m} {rel}: {}", String::from_utf8_lossy(&b));
    }
    c.ok("PUT", "/plain", &[], b"");
    c.ok("PUT", "/plain/x", &[], b"x");
    let (s, _, _) = c.req("GET", "/plain/x?version-id=1700000000.00000", &[], b"");
    assert_eq!(s, 400);

    // Legacy versioning and object versioning exclude each other.
    c.ok("PUT", "/legacy-arch", &[], b"");
    c.ok(
        "PUT",
        "/legacy",
        &[("X-Versions-Location", "legacy-arch")],
        b"",
    );
    let (s, _, _) = c.req("POST", "/legacy", &[("X-Versions-Enabled", "true")], b"");
    assert_eq!(s, 400);

    // Emptied of versions, a versioned container goes, its hidden one too.
    c.ok("POST", "/ver", &[("X-Versions-Enabled", "false")], b"");
    for _ in 0..3 {
        for v in versions(&c, "ver") {
            let rel = format!("/ver/{}?version-id={}", v.0, v.1);
            let (s, _, _) = c.req("DELETE", &rel, &[], b"");
            assert!(s == 204 || s == 404, "{rel}: {s}");
        }
    }
    for o in ["o", "n"] {
        c.req("DELETE", &format!("/ver/{o}"), &[], b"");
    }
    assert_eq!(versions(&c, "ver"), []);
    let (s, _, b) = c.req("DELETE", "/ver", &[], b"");
    assert_eq!(s, 204, "{}", String::from_utf8_lossy(&b));
    // The account shows no container left behind.
    let (_, _, b) = c.req("GET", "?format=json", &[], b"");
    let left: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert!(left
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["name"].as_str().unwrap() != "ver"));
}

/// The storage servers' side of the reserved namespace, as Swift 2.30's:
/// names starting with NUL are stored (Swift's servers check paths with
/// `check_utf8(internal=True)`, so the header is not needed to write
/// them), a NUL anywhere else or a user object in a reserved container
/// (and the other way round) is a 400, and listings leave reserved names
/// out unless the request sends X-Backend-Allow-Reserved-Names: true. The
/// proxy refuses them from clients (412), whatever headers they send.
#[test]
fn storage_servers_keep_reserved_names_out_of_listings() {
    use crate::proxy_hardening::{now_secs, place, server_addr, ts};
    use swirl_common::backend_headers as bh;

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let aio = harness::start_aio(&data);
    let signer = harness::aio_backend_auth(&data);
    let c = Client::new(aio.addr(), "test:tester", "testing");
    c.ok("PUT", "/vis", &[("X-Versions-Enabled", "true")], b"");
    put(&c, "/vis/o", b"data", "text/plain");
    // A client cannot send the header through the gatekeeper.
    let (s, _, _) = c.req(
        "GET",
        "/%00versions%00vis",
        &[(bh::ALLOW_RESERVED_NAMES, "true")],
        b"",
    );
    assert_eq!(s, 412);

    let allow = [(bh::ALLOW_RESERVED_NAMES, "true")];
    let names = |body: &[u8]| -> Vec<String> {
        serde_json::from_slice::<serde_json::Value>(body)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.get("name")
                    .or_else(|| r.get("subdir"))
                    .and_then(|n| n.as_str())
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let get = |addr, path: &str, h: &[(&str, &str)]| {
        let (s, _, b) = harness::signed_request(&signer, addr, "GET", path, h, b"").unwrap();
        assert!(s == 200 || s == 204, "GET {path}: {s}");
        names(if b.is_empty() { b"[]" } else { &b })
    };

    // The account server: the hidden container only with the header.
    let account = server_addr(&data, "account");
    let (part, devs) = place(&data, "account", "AUTH_test", None, None);
    let acct = format!("/{}/{part}/AUTH_test?format=json", devs[0]);
    assert_eq!(get(account, &acct, &[]), ["vis"]);
    assert_eq!(get(account, &acct, &allow), ["\0versions\0vis", "vis"]);
    let pfx = format!("{acct}&prefix=%00");
    assert_eq!(get(account, &pfx, &[]), Vec::<String>::new());
    assert_eq!(get(account, &pfx, &allow), ["\0versions\0vis"]);

    // The container server: the hidden container's versions only with it.
    let container = server_addr(&data, "container");
    let hidden = "%00versions%00vis";
    let (part, devs) = place(
        &data,
        "container",
        "AUTH_test",
        Some("\0versions\0vis"),
        None,
    );
    let listing = format!("/{}/{part}/AUTH_test/{hidden}?format=json", devs[0]);
    assert_eq!(get(container, &listing, &[]), Vec::<String>::new());
    let versions = get(container, &listing, &allow);
    assert_eq!(versions.len(), 1);
    assert!(versions[0].starts_with("\0o\0"), "{versions:?}");
    // A row named in the namespace is kept without the header; misplaced
    // NULs are refused.
    let row = |obj: &str, h: &[(&str, &str)]| {
        let path = format!("/{}/{part}/AUTH_test/{hidden}/{obj}", devs[0]);
        let mut hs = vec![
            ("x-timestamp", ts(now_secs())),
            ("x-size", "0".to_string()),
            ("x-content-type", "text/plain".to_string()),
            ("x-etag", "d41d8cd98f00b204e9800998ecf8427e".to_string()),
        ];
        hs.extend(h.iter().map(|(k, v)| (*k, v.to_string())));
        let refs: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        harness::signed_request(&signer, container, "PUT", &path, &refs, b"")
            .unwrap()
            .0
    };
    assert_eq!(row("%00p%009", &[]), 201);
    assert_eq!(row("%00q%009", &allow), 201);
    assert_eq!(row("user", &allow), 400);
    assert_eq!(row("%00p%009%00", &[]), 201);
    let (cpart, cdevs) = place(&data, "container", "AUTH_test", Some("vis"), None);
    let user_row = format!("/{}/{cpart}/AUTH_test/vis/%00x%001", cdevs[0]);
    let (s, _, b) = harness::signed_request(
        &signer,
        container,
        "PUT",
        &user_row,
        &[
            ("x-timestamp", &ts(now_secs())),
            ("x-size", "0"),
            ("x-content-type", "text/plain"),
            ("x-etag", "d41d8cd98f00b204e9800998ecf8427e"),
        ],
        b"",
    )
    .unwrap();
    assert_eq!(s, 400);
    assert!(String::from_utf8_lossy(&b)
        .contains("Invalid reserved-namespace object in user-namespace container"));
    let (s, _, _) = harness::signed_request(
        &signer,
        container,
        "HEAD",
        &format!("/{}/{cpart}/AUTH_test/vis%00", cdevs[0]),
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(s, 400);
    assert_eq!(get(container, &listing, &[]), Vec::<String>::new());
    assert_eq!(get(container, &listing, &allow).len(), 4);

    // The object server: an object in the namespace is stored and read
    // back; a NUL inside a name, or a user object there, is a 400.
    let object = server_addr(&data, "object");
    let obj = |name: &str, method: &str, h: &[(&str, &str)]| {
        let decoded = name.replace("%00", "\0");
        let (part, devs) = place(
            &data,
            "object",
            "AUTH_test",
            Some("\0versions\0vis"),
            Some(&decoded),
        );
        let path = format!("/{}/{part}/AUTH_test/{hidden}/{name}", devs[0]);
        let t = ts(now_secs());
        let mut hs: Vec<(&str, &str)> = vec![
            ("x-timestamp", &t),
            ("content-type", "text/plain"),
            ("content-length", "2"),
        ];
        hs.extend_from_slice(h);
        let body: &[u8] = if method == "PUT" { b"hi" } else { b"" };
        harness::signed_request(&signer, object, method, &path, &hs, body)
            .unwrap()
            .0
    };
    assert_eq!(obj("%00n%001", "PUT", &[]), 201);
    assert_eq!(obj("%00m%001", "PUT", &allow), 201);
    assert_eq!(obj("plain", "PUT", &allow), 400);
    let (opart, odevs) = place(&data, "object", "AUTH_test", Some("vis"), Some("o\0"));
    let (s, _, _) = harness::signed_request(
        &signer,
        object,
        "HEAD",
        &format!("/{}/{opart}/AUTH_test/vis/o%00", odevs[0]),
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(s, 400);
}
