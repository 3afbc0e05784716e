//! `swirl aio`: the README's first command starts a working cluster (swirl's
//! own proxy, object, container and account servers in one process); the
//! swift CLI works against it, and a restart on the same DIR keeps the data.
//! It has the SAIO's two storage policies (an older DIR gets them), and takes
//! raw UTF-8 request paths as Swift does.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use crate::harness::{self, http_request, Proc};
use crate::object_common::walk;
use crate::proxy_cluster::{swift_cli, token};

fn start(data: &std::path::Path) -> Proc {
    harness::start_aio(data)
}

#[test]
fn aio_serves_swift_clients_and_keeps_data_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("swirl-data");
    let work = tmp.path();
    let mut aio = start(&data);
    for f in [
        "proxy-server.toml",
        "object-server.toml",
        "container-server.toml",
        "account-server.toml",
        "object.ring.gz",
        "object-1.ring.gz",
        "container.ring.gz",
        "account.ring.gz",
    ] {
        assert!(data.join("etc").join(f).exists(), "{f} created");
    }
    let auth = format!("http://{}/auth/v1.0", aio.addr());
    let body: Vec<u8> = (0..1_500_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(work.join("blob.bin"), &body).unwrap();
    let up = swift_cli(&auth, work, &["upload", "keep", "blob.bin"]);
    assert!(up.0, "upload: {} {}", up.1, up.2);
    let (s, _, b) = http_request(aio.addr(), "GET", "/info", &[], b"").unwrap();
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));

    // Every default user of Swift's functional tests can get a token.
    for (u, k) in [
        ("admin:admin", "admin"),
        ("test:tester3", "testing3"),
        ("test2:tester2", "testing2"),
        ("test5:tester5", "testing5"),
    ] {
        let (s, _, _) = http_request(
            aio.addr(),
            "GET",
            "/auth/v1.0",
            &[("X-Auth-User", u), ("X-Auth-Key", k)],
            b"",
        )
        .unwrap();
        assert_eq!(s, 200, "{u}");
    }

    // Restart on the same directory: the object is still there, byte for byte.
    aio.kill9();
    let aio = start(&data);
    let auth = format!("http://{}/auth/v1.0", aio.addr());
    let dl = swift_cli(
        &auth,
        work,
        &["download", "keep", "blob.bin", "-o", "back.bin"],
    );
    assert!(dl.0, "download: {} {}", dl.1, dl.2);
    assert!(
        std::fs::read(work.join("back.bin")).unwrap() == body,
        "bytes differ after restart"
    );
    let list = swift_cli(&auth, work, &["list", "keep"]);
    assert_eq!(list.1.trim(), "blob.bin");
}

#[test]
fn aio_rejects_unknown_config_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let mut aio = start(&data);
    aio.kill9();
    let conf = data.join("etc").join("proxy-server.toml");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("bind_prot = 1\n{text}")).unwrap();
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
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bind_prot"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `.data` files of `a/c/o` under the policy's directory on every device.
fn data_files(data: &Path, policy_dir: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for d in 1..=4 {
        out.extend(
            walk(&data.join(format!("srv/d{d}/{policy_dir}")))
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "data")),
        );
    }
    out
}

#[test]
fn aio_has_the_saio_policies_and_adds_them_to_older_dirs() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let etc = data.join("etc");
    // A DIR as an older swirl made it: no policies in any config, no silver ring.
    let mut aio = start(&data);
    aio.kill9();
    for f in [
        "proxy-server.toml",
        "object-server.toml",
        "container-server.toml",
        "account-server.toml",
    ] {
        // The policies block goes; the tables after it (TLS, replicator) stay.
        let text = std::fs::read_to_string(etc.join(f)).unwrap();
        let start = text.find("\n# Storage policies").expect(f);
        let rest = &text[start + 1..];
        let end = rest
            .match_indices("\n[")
            .find(|(i, _)| !rest[i + 1..].starts_with("[[storage_policy]]"))
            .map_or(text.len(), |(i, _)| start + 1 + i);
        let old = format!("{}{}", &text[..start], &text[end..]);
        assert!(!old.contains("storage_policy"), "{f}");
        std::fs::write(etc.join(f), old).unwrap();
    }
    std::fs::remove_file(etc.join("object-1.ring.gz")).unwrap();
    let aio = start(&data);
    assert!(etc.join("object-1.ring.gz").exists());

    let (s, _, b) = http_request(aio.addr(), "GET", "/info", &[], b"").unwrap();
    assert_eq!(s, 200);
    let info: serde_json::Value = serde_json::from_slice(&b).unwrap();
    let pols = &info["swift"]["policies"];
    assert_eq!(pols[0]["name"], "gold");
    assert_eq!(pols[0]["default"], true);
    assert_eq!(pols[0]["aliases"], "gold, yellow, orange");
    assert_eq!(pols[1]["name"], "silver");

    let (tok, url) = token(aio.addr(), "test:tester", "testing");
    let auth = [("X-Auth-Token", tok.as_str())];
    let put = |path: &str, extra: &[(&str, &str)], body: &[u8]| {
        let mut h = auth.to_vec();
        h.extend_from_slice(extra);
        http_request(aio.addr(), "PUT", &format!("{url}/{path}"), &h, body).unwrap()
    };
    assert_eq!(put("s", &[("X-Storage-Policy", "silver")], b"").0, 201);
    assert_eq!(put("g", &[("X-Storage-Policy", "yellow")], b"").0, 201);
    // A container keeps its policy: another one is a 409.
    assert_eq!(put("s", &[("X-Storage-Policy", "gold")], b"").0, 409);
    assert_eq!(put("s/o", &[], b"in silver").0, 201);
    assert_eq!(put("g/o", &[], b"in gold").0, 201);
    let (s, h, _) = http_request(aio.addr(), "HEAD", &format!("{url}/s"), &auth, b"").unwrap();
    assert_eq!(s, 204);
    assert_eq!(harness::header(&h, "x-storage-policy"), Some("silver"));
    // Silver keeps 2 replicas in objects-1/, gold 3 in objects/.
    assert_eq!(data_files(&data, "objects-1").len(), 2);
    assert_eq!(data_files(&data, "objects").len(), 3);
    // A cross-policy copy reads through one ring and writes through the other.
    let copy = put("g/c", &[("X-Copy-From", "s/o")], b"");
    assert_eq!(copy.0, 201);
    let (s, _, b) = http_request(aio.addr(), "GET", &format!("{url}/g/c"), &auth, b"").unwrap();
    assert_eq!((s, b.as_slice()), (200, b"in silver".as_slice()));
    assert_eq!(data_files(&data, "objects").len(), 6);
    // The account reports per-policy counts (the container's report to it
    // runs in the background: poll).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (s, h, _) = http_request(aio.addr(), "HEAD", &url, &auth, b"").unwrap();
        assert_eq!(s, 204);
        let silver = harness::header(&h, "x-account-storage-policy-silver-object-count");
        if silver == Some("1") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{h:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads one response from a keep-alive connection: status, headers, body.
fn read_response(r: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap();
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len: usize = harness::header(&headers, "content-length")
        .map(|v| v.parse().unwrap())
        .expect("content-length");
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    (status, headers, body)
}

#[test]
fn aio_takes_raw_utf8_paths_as_swift_does() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = start(&tmp.path().join("d"));
    let (tok, url) = token(aio.addr(), "test:tester", "testing");
    let stream = TcpStream::connect(aio.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    // One request, its body sent with Content-Length or as one chunk.
    let mut send = |head: &[u8], body: &[u8], chunked: bool| {
        let mut req = head.to_vec();
        req.extend_from_slice(format!("\r\nHost: x\r\nX-Auth-Token: {tok}\r\n").as_bytes());
        if chunked {
            req.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            req.extend_from_slice(format!("{:x};ext=1\r\n", body.len()).as_bytes());
            req.extend_from_slice(body);
            req.extend_from_slice(b"\r\n0\r\n\r\n");
        } else {
            req.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            req.extend_from_slice(body);
        }
        w.write_all(&req).unwrap();
        read_response(&mut r)
    };
    let line = |method: &str, path: &[u8]| {
        let mut l = format!("{method} {url}/").into_bytes();
        l.extend_from_slice(path);
        l.extend_from_slice(b" HTTP/1.1");
        l
    };
    // Raw UTF-8 names (the request line holds bytes >= 0x80, unquoted), on one
    // keep-alive connection, after bodies that hold such bytes and look like
    // request lines: those bodies must arrive untouched.
    let euro = "\u{20ac}".as_bytes();
    let cont = [b"c".as_slice(), euro].concat();
    let (s, _, b) = send(&line("PUT", &cont), b"", false);
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&b));
    let body = b"\xe2\x82\xac GET /\xff HTTP/1.1\r\n\r\n";
    let obj = [cont.as_slice(), b"/o", euro].concat();
    assert_eq!(send(&line("PUT", &obj), body, false).0, 201);
    let body2 = b"\xff\xfe PUT /\xe2\x82\xac HTTP/1.1\r\n\r\n";
    let obj2 = [cont.as_slice(), b"/p", euro].concat();
    assert_eq!(send(&line("PUT", &obj2), body2, true).0, 201);
    let (s, _, b) = send(&line("GET", b"c%E2%82%AC/o%E2%82%AC"), b"", false);
    assert_eq!((s, b.as_slice()), (200, body.as_slice()));
    let (s, _, b) = send(&line("GET", &obj2), b"", false);
    assert_eq!((s, b.as_slice()), (200, body2.as_slice()));
    // Invalid UTF-8: Swift's 412, and the connection stays usable.
    let (s, _, b) = send(&line("PUT", b"\xac\x82\xe2c"), b"", false);
    assert_eq!(
        (s, b.as_slice()),
        (412, b"Invalid UTF8 or contains NULL".as_slice())
    );
    let (s, _, b) = send(&line("GET", &cont), b"", false);
    assert_eq!(s, 200);
    assert_eq!(String::from_utf8(b).unwrap(), "o\u{20ac}\np\u{20ac}\n");
}
