//! python-swiftclient's `swift` CLI through `swirl proxy-server` on Swift's own
//! storage servers (contract 2: a swirl proxy works on Swift's servers), plus
//! raw-HTTP checks of what the CLI does not show.

use crate::harness::{header, http_request};
use crate::proxy_cluster::{swift_cli, token, ProxyCluster};

fn ok(r: (bool, String, String), what: &str) -> String {
    assert!(r.0, "{what} failed: stdout={} stderr={}", r.1, r.2);
    r.1
}

#[test]
fn swift_cli_round_trip_on_swift_storage_servers() {
    let c = ProxyCluster::start();
    let auth = c.auth_url();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();

    let stat = ok(swift_cli(&auth, w, &["stat"]), "stat");
    assert!(stat.contains("Account: AUTH_test"), "{stat}");

    // Metadata and ACLs.
    ok(
        swift_cli(&auth, w, &["post", "-m", "color:blue"]),
        "post account meta",
    );
    let stat = ok(swift_cli(&auth, w, &["stat"]), "stat");
    assert!(stat.contains("Meta Color: blue"), "{stat}");
    ok(
        swift_cli(
            &auth,
            w,
            &["post", "-r", ".r:*,.rlistings", "-m", "k:v", "pub"],
        ),
        "post container",
    );
    let st = ok(swift_cli(&auth, w, &["stat", "pub"]), "stat container");
    assert!(
        st.contains("Read ACL: .r:*,.rlistings") && st.contains("Meta K: v"),
        "{st}"
    );

    // Upload a file and a folder.
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(w.join("big.bin"), &big).unwrap();
    std::fs::create_dir_all(w.join("dir/sub")).unwrap();
    std::fs::write(w.join("dir/a.txt"), b"alpha").unwrap();
    std::fs::write(w.join("dir/sub/b.txt"), b"beta").unwrap();
    std::fs::write(w.join("dir/sub/c.jpg"), b"not really a jpeg").unwrap();
    ok(
        swift_cli(&auth, w, &["upload", "pub", "big.bin"]),
        "upload file",
    );
    ok(
        swift_cli(&auth, w, &["upload", "pub", "dir"]),
        "upload folder",
    );

    let list = ok(swift_cli(&auth, w, &["list", "pub"]), "list");
    assert_eq!(
        list.lines().collect::<Vec<_>>(),
        vec!["big.bin", "dir/a.txt", "dir/sub/b.txt", "dir/sub/c.jpg"]
    );
    let list = ok(
        swift_cli(&auth, w, &["list", "pub", "--prefix", "dir/sub/"]),
        "list prefix",
    );
    assert_eq!(
        list.lines().collect::<Vec<_>>(),
        vec!["dir/sub/b.txt", "dir/sub/c.jpg"]
    );
    let list = ok(
        swift_cli(&auth, w, &["list", "pub", "--delimiter", "/"]),
        "list delimiter",
    );
    assert_eq!(list.lines().collect::<Vec<_>>(), vec!["big.bin", "dir/"]);
    let long = ok(
        swift_cli(&auth, w, &["list", "pub", "--long", "--prefix", "dir/a"]),
        "list long",
    );
    assert!(long.contains("dir/a.txt") && long.contains(" 5 "), "{long}");
    let containers = ok(swift_cli(&auth, w, &["list"]), "list account");
    assert!(containers.lines().any(|l| l == "pub"), "{containers}");

    // Content-Type guessed from the name.
    let st = ok(
        swift_cli(&auth, w, &["stat", "pub", "dir/sub/c.jpg"]),
        "stat object",
    );
    assert!(st.contains("Content Type: image/jpeg"), "{st}");

    // Byte-exact download.
    ok(
        swift_cli(&auth, w, &["download", "pub", "big.bin", "-o", "big.out"]),
        "download",
    );
    assert!(
        std::fs::read(w.join("big.out")).unwrap() == big,
        "downloaded bytes differ"
    );

    // Server-side copy, with and without fresh metadata.
    ok(
        swift_cli(&auth, w, &["post", "-m", "x:1", "pub", "dir/a.txt"]),
        "post object meta",
    );
    ok(
        swift_cli(
            &auth,
            w,
            &["copy", "-d", "/pub/copied.txt", "pub", "dir/a.txt"],
        ),
        "copy",
    );
    let st = ok(
        swift_cli(&auth, w, &["stat", "pub", "copied.txt"]),
        "stat copy",
    );
    assert!(
        st.contains("Meta X: 1") && st.contains("Content Length: 5"),
        "{st}"
    );
    ok(
        swift_cli(
            &auth,
            w,
            &["download", "pub", "copied.txt", "-o", "copied.out"],
        ),
        "download copy",
    );
    assert_eq!(std::fs::read(w.join("copied.out")).unwrap(), b"alpha");

    // Anonymous read through the .r:* ACL.
    let addr = c.proxy.addr();
    let (s, _, body) = http_request(addr, "GET", "/v1/AUTH_test/pub/dir/a.txt", &[], b"").unwrap();
    assert_eq!((s, body.as_slice()), (200, &b"alpha"[..]));

    // Delete.
    ok(
        swift_cli(&auth, w, &["delete", "pub", "copied.txt"]),
        "delete object",
    );
    ok(swift_cli(&auth, w, &["delete", "pub"]), "delete container");
    let (s, _, _) = http_request(addr, "GET", "/v1/AUTH_test/pub/dir/a.txt", &[], b"").unwrap();
    assert_eq!(s, 401, "container gone: anonymous read now refused");
    let containers = ok(swift_cli(&auth, w, &["list"]), "list account");
    assert!(!containers.lines().any(|l| l == "pub"), "{containers}");
}

#[test]
fn raw_http_contract_on_swift_storage_servers() {
    let c = ProxyCluster::start();
    let addr = c.proxy.addr();
    let (tok, acct) = token(addr, "test:tester", "testing");
    let auth = [("X-Auth-Token", tok.as_str())];

    // Every response carries X-Trans-Id.
    let (s, h, b) = http_request(addr, "GET", "/healthcheck", &[], b"").unwrap();
    assert_eq!((s, b.as_slice()), (200, &b"OK"[..]));
    assert!(header(&h, "x-trans-id").unwrap().starts_with("tx"));
    let (s, h, b) = http_request(addr, "GET", "/info", &[], b"").unwrap();
    assert_eq!(s, 200);
    assert!(header(&h, "x-trans-id").is_some());
    let info: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(info["swift"]["max_file_size"], 5368709122u64);
    assert!(
        info.get("symlink").is_some()
            && info.get("versioned_writes").is_none()
            && info.get("formpost").is_none(),
        "only enabled capabilities are listed: symlink runs by default, \
         versioned_writes only when allowed, formpost only when configured"
    );
    assert_eq!(info["slo"]["max_manifest_segments"], 1000);

    // Bad credentials and tokens.
    let (s, h, _) = http_request(
        addr,
        "GET",
        "/auth/v1.0",
        &[("X-Auth-User", "test:tester"), ("X-Auth-Key", "nope")],
        b"",
    )
    .unwrap();
    assert_eq!(s, 401);
    assert!(header(&h, "x-trans-id").is_some());
    let (s, _, _) = http_request(
        addr,
        "HEAD",
        &acct,
        &[("X-Auth-Token", "AUTH_tkdeadbeef")],
        b"",
    )
    .unwrap();
    assert_eq!(s, 401);
    let (s, _, _) = http_request(addr, "HEAD", &acct, &[], b"").unwrap();
    assert_eq!(s, 401);

    // Container create twice: 201 then 202; with an unknown policy: 400.
    let cpath = format!("{acct}/raw");
    assert_eq!(
        http_request(addr, "PUT", &cpath, &auth, b"").unwrap().0,
        201
    );
    assert_eq!(
        http_request(addr, "PUT", &cpath, &auth, b"").unwrap().0,
        202
    );
    let (s, _, b) = http_request(
        addr,
        "PUT",
        &format!("{acct}/raw2"),
        &[auth[0], ("X-Storage-Policy", "nope")],
        b"",
    )
    .unwrap();
    assert_eq!(
        (s, String::from_utf8_lossy(&b).as_ref()),
        (400, "Invalid X-Storage-Policy 'nope'")
    );

    // Gatekeeper: client sysmeta and backend headers are dropped.
    let opath = format!("{cpath}/o1");
    let (s, h, _) = http_request(
        addr,
        "PUT",
        &opath,
        &[
            auth[0],
            ("X-Object-Sysmeta-Secret", "x"),
            ("X-Backend-Storage-Policy-Index", "7"),
            ("X-Object-Meta-Fine", "y"),
        ],
        b"hello",
    )
    .unwrap();
    assert_eq!(s, 201);
    assert_eq!(header(&h, "etag"), Some("5d41402abc4b2a76b9719d911017c592"));
    let (s, h, b) = http_request(addr, "GET", &opath, &auth, b"").unwrap();
    assert_eq!((s, b.as_slice()), (200, &b"hello"[..]));
    assert_eq!(header(&h, "x-object-meta-fine"), Some("y"));
    assert!(
        h.iter()
            .all(|(k, _)| !k.contains("sysmeta") && !k.starts_with("x-backend")),
        "{h:?}"
    );

    // Constraints.
    let (s, _, _) = http_request(
        addr,
        "PUT",
        &opath,
        &[auth[0], ("ETag", "00000000000000000000000000000000")],
        b"hello",
    )
    .unwrap();
    assert_eq!(s, 422);
    let (s, _, _) = http_request(
        addr,
        "PUT",
        &opath,
        &[auth[0], ("Content-Length", "5368709123")],
        b"",
    )
    .unwrap();
    assert_eq!(s, 413);
    let long = format!("{cpath}/{}", "n".repeat(1025));
    assert_eq!(
        http_request(addr, "PUT", &long, &auth, b"x").unwrap().0,
        400
    );
    let meta = "v".repeat(257);
    let (s, _, b) = http_request(
        addr,
        "POST",
        &opath,
        &[auth[0], ("X-Object-Meta-Big", meta.as_str())],
        b"",
    )
    .unwrap();
    assert_eq!(
        (s, String::from_utf8_lossy(&b).as_ref()),
        (400, "Metadata value longer than 256: x-object-meta-big")
    );
    let (s, _, b) = http_request(
        addr,
        "PUT",
        &opath,
        &[auth[0], ("X-Delete-After", "soon")],
        b"x",
    )
    .unwrap();
    assert_eq!(
        (s, String::from_utf8_lossy(&b).as_ref()),
        (400, "Non-integer X-Delete-After")
    );

    // Chunked upload, Range read, conditional read.
    let chunked = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    let (s, _, _) = http_request(
        addr,
        "PUT",
        &format!("{cpath}/ch"),
        &[auth[0], ("Transfer-Encoding", "chunked")],
        chunked,
    )
    .unwrap();
    assert_eq!(s, 201);
    let (s, h, b) = http_request(
        addr,
        "GET",
        &format!("{cpath}/ch"),
        &[auth[0], ("Range", "bytes=6-")],
        b"",
    )
    .unwrap();
    assert_eq!((s, b.as_slice()), (206, &b"world"[..]));
    assert_eq!(header(&h, "content-range"), Some("bytes 6-10/11"));
    let (s, _, _) = http_request(
        addr,
        "GET",
        &format!("{cpath}/ch"),
        &[auth[0], ("If-None-Match", "*")],
        b"",
    )
    .unwrap();
    assert_eq!(s, 304);

    // X-Delete-After: the object reads as 404 once expired.
    let (s, _, _) = http_request(
        addr,
        "PUT",
        &format!("{cpath}/short"),
        &[auth[0], ("X-Delete-After", "1")],
        b"x",
    )
    .unwrap();
    assert_eq!(s, 201);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (s, _, _) = http_request(addr, "GET", &format!("{cpath}/short"), &auth, b"").unwrap();
        if s == 404 {
            break;
        }
        assert_eq!(s, 200);
        assert!(
            std::time::Instant::now() < deadline,
            "expired object still readable"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    // ACLs: tester3 (no .admin) is refused, then allowed by X-Container-Read.
    let (tok3, _) = token(addr, "test:tester3", "testing3");
    let auth3 = [("X-Auth-Token", tok3.as_str())];
    assert_eq!(
        http_request(addr, "GET", &opath, &auth3, b"").unwrap().0,
        403
    );
    assert_eq!(
        http_request(
            addr,
            "POST",
            &cpath,
            &[auth[0], ("X-Container-Read", "test:tester3")],
            b""
        )
        .unwrap()
        .0,
        204
    );
    assert_eq!(
        http_request(addr, "GET", &opath, &auth3, b"").unwrap().0,
        200
    );
    let (s, h, _) = http_request(addr, "HEAD", &cpath, &auth3, b"").unwrap();
    assert_eq!(s, 204);
    assert!(
        header(&h, "x-container-read").is_none(),
        "ACLs are shown to owners only"
    );
    assert_eq!(
        http_request(addr, "PUT", &opath, &auth3, b"no").unwrap().0,
        403
    );
    assert_eq!(
        http_request(
            addr,
            "POST",
            &cpath,
            &[auth[0], ("X-Container-Read", ".r:")],
            b""
        )
        .unwrap()
        .0,
        400
    );

    // CORS preflight from the container's allowed origin.
    assert_eq!(
        http_request(
            addr,
            "POST",
            &cpath,
            &[
                auth[0],
                (
                    "X-Container-Meta-Access-Control-Allow-Origin",
                    "http://ok.example"
                )
            ],
            b""
        )
        .unwrap()
        .0,
        204
    );
    let (s, h, _) = http_request(
        addr,
        "OPTIONS",
        &opath,
        &[
            ("Origin", "http://ok.example"),
            ("Access-Control-Request-Method", "GET"),
        ],
        b"",
    )
    .unwrap();
    assert_eq!(s, 200);
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some("http://ok.example")
    );
    let (s, _, _) = http_request(
        addr,
        "OPTIONS",
        &opath,
        &[
            ("Origin", "http://evil.example"),
            ("Access-Control-Request-Method", "GET"),
        ],
        b"",
    )
    .unwrap();
    assert_eq!(s, 401);
    let (_, h, _) = http_request(
        addr,
        "GET",
        &opath,
        &[auth[0], ("Origin", "http://ok.example")],
        b"",
    )
    .unwrap();
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some("http://ok.example")
    );

    // COPY verb and X-Copy-From with X-Fresh-Metadata.
    let (s, h, _) = http_request(
        addr,
        "COPY",
        &opath,
        &[auth[0], ("Destination", "raw/o2")],
        b"",
    )
    .unwrap();
    assert_eq!(s, 201);
    assert_eq!(header(&h, "x-copied-from"), Some("raw/o1"));
    let (_, h, b) = http_request(addr, "GET", &format!("{cpath}/o2"), &auth, b"").unwrap();
    assert_eq!(
        (b.as_slice(), header(&h, "x-object-meta-fine")),
        (&b"hello"[..], Some("y"))
    );
    let (s, _, _) = http_request(
        addr,
        "PUT",
        &format!("{cpath}/o3"),
        &[
            auth[0],
            ("X-Copy-From", "raw/o1"),
            ("X-Fresh-Metadata", "true"),
        ],
        b"",
    )
    .unwrap();
    assert_eq!(s, 201);
    let (_, h, _) = http_request(addr, "HEAD", &format!("{cpath}/o3"), &auth, b"").unwrap();
    assert!(header(&h, "x-object-meta-fine").is_none());

    // Listings pass through with their parameters.
    let (s, _, b) = http_request(
        addr,
        "GET",
        &format!("{cpath}?format=json&prefix=o&limit=2"),
        &auth,
        b"",
    )
    .unwrap();
    assert_eq!(s, 200);
    let names: Vec<String> = serde_json::from_slice::<Vec<serde_json::Value>>(&b)
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["o1", "o2"]);

    // Non-empty container: 409; deleted object: 404.
    assert_eq!(
        http_request(addr, "DELETE", &cpath, &auth, b"").unwrap().0,
        409
    );
    assert_eq!(
        http_request(addr, "DELETE", &opath, &auth, b"").unwrap().0,
        204
    );
    assert_eq!(
        http_request(addr, "DELETE", &opath, &auth, b"").unwrap().0,
        404
    );
    assert_eq!(
        http_request(addr, "GET", &opath, &auth, b"").unwrap().0,
        404
    );

    // A DLO on Swift's object servers: they do not verify reads, so the
    // proxy checks each segment's MD5 itself (and the bytes still match).
    let seg1 = vec![b'a'; 70_000];
    let seg2 = vec![b'b'; 5];
    for (n, b) in [("dlo/1", &seg1), ("dlo/2", &seg2)] {
        let p = format!("{cpath}/{n}");
        assert_eq!(http_request(addr, "PUT", &p, &auth, b).unwrap().0, 201);
    }
    let mpath = format!("{cpath}/dlo-manifest");
    let mut mh = auth.to_vec();
    mh.push(("X-Object-Manifest", "raw/dlo/"));
    assert_eq!(http_request(addr, "PUT", &mpath, &mh, b"").unwrap().0, 201);
    let (s, _, b) = http_request(addr, "GET", &mpath, &auth, b"").unwrap();
    assert_eq!((s, b.len()), (200, 70_005));
    assert!(b == [seg1, seg2].concat());
}
