//! The same backend requests against Swift's own object server (Debian's
//! swift-object-server, started here on loopback with its own config and
//! swift.conf) and against swirl's: same status codes and the same key
//! headers (and bodies where Swift's are defined), step by step through a
//! table; then REPLICATE's suffix hashes, which must be equal because both
//! name and hash the same versions the same way.

use std::net::SocketAddr;
use std::process::{Command, Stdio};

use crate::harness::{free_port, http_request, swift_server, write_swift_conf, Proc};
use crate::object_common::*;

/// Headers compared between the two servers.
const KEY_HEADERS: &[&str] = &[
    "etag",
    "content-type",
    "content-length",
    "content-range",
    "content-encoding",
    "content-disposition",
    "last-modified",
    "x-timestamp",
    "x-backend-timestamp",
    "x-backend-data-timestamp",
    "x-backend-durable-timestamp",
    "x-backend-content-type",
    "x-delete-at",
    "x-object-meta-color",
    "x-object-meta-shape",
    "x-object-sysmeta-s",
    "x-object-manifest",
];

fn swift_object_server(dir: &std::path::Path) -> Proc {
    let devices = dir.join("swift-devs");
    std::fs::create_dir_all(devices.join("sda")).unwrap();
    let swift_conf = write_swift_conf(dir, "", SUFFIX);
    let port = free_port();
    let conf = dir.join("swift-object.conf");
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\ndevices = {}\nmount_check = false\ndisable_fallocate = true\n\
             bind_ip = 127.0.0.1\nbind_port = {port}\nworkers = 0\nlog_name = object-server\n\
             log_address = /dev/null\nlog_level = ERROR\n\n\
             [pipeline:main]\npipeline = healthcheck object-server\n\n\
             [app:object-server]\nuse = egg:swift#object\n\n\
             [filter:healthcheck]\nuse = egg:swift#healthcheck\n",
            devices.display()
        ),
    )
    .unwrap();
    swift_server(
        "swift-object-server",
        "swift-object-server",
        &conf,
        &swift_conf,
        port,
    )
}

type Raw = (u16, Vec<(String, String)>, Vec<u8>);

fn key(r: &Raw, method: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut h: Vec<(String, String)> =
        r.1.iter()
            .filter(|(k, _)| KEY_HEADERS.contains(&k.as_str()))
            // hyper never sends Content-Length on 204/304 (RFC 9110); swob does.
            .filter(|(k, _)| !(k == "content-length" && (r.0 == 204 || r.0 == 304)))
            .map(|(k, v)| {
                // Multipart boundaries are random on both sides.
                let v = match v.find("boundary=") {
                    Some(i) if k == "content-type" => format!("{}boundary=<b>", &v[..i]),
                    _ => v.clone(),
                };
                (k.clone(), v)
            })
            .collect();
    h.sort();
    let boundary =
        r.1.iter()
            .find(|(k, _)| k == "content-type")
            .and_then(|(_, v)| v.split("boundary=").nth(1))
            .map(str::to_string);
    let mut body = if method == "HEAD" {
        Vec::new()
    } else {
        r.2.clone()
    };
    if let Some(b) = boundary {
        body = String::from_utf8_lossy(&body)
            .replace(&b, "<b>")
            .into_bytes();
    }
    (r.0, h, body)
}

struct Step {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Compare bodies too (Swift's error pages name the drive; ours do not).
    compare_body: bool,
}

fn step(method: &'static str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Step {
    Step {
        method,
        path: path.to_string(),
        headers: headers
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        body: body.to_vec(),
        compare_body: true,
    }
}

fn run(addr: SocketAddr, s: &Step) -> Raw {
    let h: Vec<(&str, &str)> = s
        .headers
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    http_request(addr, s.method, &s.path, &h, &s.body)
        .unwrap_or_else(|e| panic!("{} {}: {e}", s.method, s.path))
}

/// Swift's REPLICATE pickle as JSON, by Swift's python.
fn unpickle(b: &[u8]) -> serde_json::Value {
    use std::io::Write;
    let mut c = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import pickle,sys,json; print(json.dumps(pickle.loads(sys.stdin.buffer.read())))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(b).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn same_answers_as_swift_object_server() {
    let d = tempfile::tempdir().unwrap();
    let swift = swift_object_server(d.path());
    let ours = start(d.path(), "");
    let base = ts(-3000.0).parse::<f64>().unwrap();
    let t = |n: u32| format!("{:016.5}", base + f64::from(n));
    let o = "/sda/1/a/c/o1";
    let body = b"hello world, this is the body";
    let etag = format!("\"{}\"", md5_hex(body));
    let del_at = format!("{}", base as u64 + 100_000);
    let after_del = format!("{}.00000", base as u64 + 100_001);
    let long = format!("/sda/1/a/c/{}", "n".repeat(1025));
    let many: Vec<(String, String)> = (0..91)
        .map(|i| (format!("X-Object-Meta-K{i}"), "v".into()))
        .collect();
    let (t1, t2, t3, t4, t5, t6, t7) = (t(10), t(20), t(30), t(40), t(50), t(60), t(70));
    let ct = ("Content-Type", "text/plain");
    let mut steps = vec![
        step(
            "PUT",
            o,
            &[
                ("X-Timestamp", &t1),
                ct,
                ("X-Object-Meta-Color", "blue"),
                ("X-Object-Sysmeta-S", "s1"),
                ("Content-Encoding", "gzip"),
                ("Content-Disposition", "inline"),
            ],
            body,
        ),
        step("GET", o, &[], b""),
        step("HEAD", o, &[], b""),
        step("GET", o, &[("Range", "bytes=0-4")], b""),
        step("GET", o, &[("Range", "bytes=-3")], b""),
        step("GET", o, &[("Range", "bytes=20-")], b""),
        step("GET", o, &[("Range", "bytes=0-1,4-6")], b""),
        step("GET", o, &[("Range", "bytes=100-")], b""),
        step("GET", o, &[("Range", "bytes=5-1")], b""),
        step("HEAD", o, &[("Range", "bytes=0-1")], b""),
        step("GET", o, &[("If-Match", &etag)], b""),
        step("GET", o, &[("If-Match", "\"nope\"")], b""),
        step("GET", o, &[("If-None-Match", &etag)], b""),
        step("GET", o, &[("If-None-Match", "*")], b""),
        step("HEAD", o, &[("If-None-Match", &etag)], b""),
        step(
            "GET",
            o,
            &[("If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT")],
            b"",
        ),
        step(
            "GET",
            o,
            &[("If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")],
            b"",
        ),
        step("GET", "/sda/1/a/c/nothing", &[("If-Match", "*")], b""),
        step("PUT", o, &[("X-Timestamp", &t1), ct], b"same time"),
        step("PUT", o, &[("X-Timestamp", &t(5)), ct], b"older"),
        step(
            "PUT",
            o,
            &[("X-Timestamp", &t(15)), ct, ("If-None-Match", "*")],
            b"x",
        ),
        step(
            "POST",
            o,
            &[("X-Timestamp", &t2), ("X-Object-Meta-Shape", "round")],
            b"",
        ),
        step("HEAD", o, &[], b""),
        step("POST", o, &[("X-Timestamp", &t(15))], b""),
        step(
            "POST",
            o,
            &[("X-Timestamp", &t3), ("Content-Type", "image/png")],
            b"",
        ),
        step("GET", o, &[], b""),
        step("DELETE", o, &[("X-Timestamp", &t4)], b""),
        step("GET", o, &[], b""),
        step("HEAD", o, &[], b""),
        step("DELETE", o, &[("X-Timestamp", &t5)], b""),
        step("DELETE", o, &[("X-Timestamp", &t(45))], b""),
        step("POST", o, &[("X-Timestamp", &t6)], b""),
        step(
            "PUT",
            o,
            &[("X-Timestamp", &t(35)), ct],
            b"older than the tombstone",
        ),
        step(
            "PUT",
            o,
            &[("X-Timestamp", &t7), ct, ("X-Delete-At", &del_at)],
            b"expiring",
        ),
        step("GET", o, &[], b""),
        step("GET", o, &[("X-Timestamp", &after_del)], b""),
        step(
            "DELETE",
            o,
            &[("X-Timestamp", &t(71)), ("X-If-Delete-At", "12345")],
            b"",
        ),
        step(
            "DELETE",
            o,
            &[("X-Timestamp", &t(72)), ("X-If-Delete-At", &del_at)],
            b"",
        ),
        step(
            "PUT",
            "/sda/1/a/c/chunked",
            &[("X-Timestamp", &t1), ct, ("Transfer-Encoding", "chunked")],
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        ),
        step("GET", "/sda/1/a/c/chunked", &[], b""),
        step("PUT", "/sda/1/a/c/empty", &[("X-Timestamp", &t1), ct], b""),
        step("GET", "/sda/1/a/c/empty", &[("Range", "bytes=-5")], b""),
        step(
            "PUT",
            "/sda/1/a/c/e",
            &[
                ("X-Timestamp", &t1),
                ct,
                ("ETag", "0123456789abcdef0123456789abcdef"),
            ],
            b"x",
        ),
        step("GET", "/sda/1/a/c/e", &[], b""),
        // A DLO manifest: the proxy asks for the whole object (and its
        // headers) whatever the Range, when it carries X-Object-Manifest.
        step(
            "PUT",
            "/sda/1/a/c/man",
            &[("X-Timestamp", &t1), ct, ("X-Object-Manifest", "c/seg/")],
            b"manifest body",
        ),
        step(
            "GET",
            "/sda/1/a/c/man",
            &[
                ("Range", "bytes=3-5"),
                (
                    "X-Backend-Ignore-Range-If-Metadata-Present",
                    "X-Static-Large-Object, X-Object-Manifest",
                ),
            ],
            b"",
        ),
        step(
            "GET",
            "/sda/1/a/c/man",
            &[
                ("Range", "bytes=100-"),
                (
                    "X-Backend-Ignore-Range-If-Metadata-Present",
                    "x-object-manifest",
                ),
            ],
            b"",
        ),
        step(
            "GET",
            o,
            &[
                ("Range", "bytes=0-4"),
                (
                    "X-Backend-Ignore-Range-If-Metadata-Present",
                    "X-Object-Manifest",
                ),
            ],
            b"",
        ),
        step("GET", "/sda/1/a/c/man", &[("If-Match", "\"other\"")], b""),
        // An SLO manifest: conditionals compare with the ETag kept where
        // X-Backend-Etag-Is-At says (the SLO ETag in sysmeta), else the body's.
        step(
            "PUT",
            "/sda/1/a/c/slo",
            &[
                ("X-Timestamp", &t1),
                ("Content-Type", "application/octet-stream;swift_bytes=9"),
                ("X-Static-Large-Object", "True"),
                (
                    "X-Object-Sysmeta-Slo-Etag",
                    "0123456789abcdef0123456789abcdef",
                ),
                ("X-Object-Sysmeta-Slo-Size", "9"),
            ],
            b"[]",
        ),
        step(
            "GET",
            "/sda/1/a/c/slo",
            &[
                ("If-Match", "\"0123456789abcdef0123456789abcdef\""),
                (
                    "X-Backend-Etag-Is-At",
                    "X-Object-Sysmeta-Missing, x-object-sysmeta-slo-etag",
                ),
            ],
            b"",
        ),
        step(
            "HEAD",
            "/sda/1/a/c/slo",
            &[
                ("If-None-Match", "0123456789abcdef0123456789abcdef"),
                ("X-Backend-Etag-Is-At", "X-Object-Sysmeta-Slo-Etag"),
            ],
            b"",
        ),
        step(
            "GET",
            "/sda/1/a/c/slo",
            &[
                ("If-Match", "\"other\""),
                ("X-Backend-Etag-Is-At", "X-Object-Sysmeta-Slo-Etag"),
            ],
            b"",
        ),
        step(
            "GET",
            "/sda/1/a/c/slo",
            &[
                ("If-Match", "\"0123456789abcdef0123456789abcdef\""),
                ("X-Backend-Etag-Is-At", "X-Object-Sysmeta-Nowhere"),
            ],
            b"",
        ),
        // Bad input.
        step("PUT", o, &[ct], b"x"),
        step("PUT", o, &[("X-Timestamp", "not-a-time"), ct], b"x"),
        step("DELETE", o, &[], b""),
        step("POST", o, &[("X-Timestamp", "x")], b""),
        step("GET", o, &[("X-Timestamp", "x")], b""),
        step("PUT", "/sda/1/a/c", &[("X-Timestamp", &t1), ct], b"x"),
        step("PUT", "/sda/1/a/c/", &[("X-Timestamp", &t1), ct], b"x"),
        // (Swift 2.30 stores a partition "x" as is; swirl's partitions are
        // numbers and it answers 400: tested in object_api, not compared here.)
        step("PUT", "/../1/a/c/o", &[("X-Timestamp", &t1), ct], b"x"),
        step("PUT", "/sda/1/a%00/c/o", &[("X-Timestamp", &t1), ct], b"x"),
        step("PUT", "/sda/1/a/c/o%00", &[("X-Timestamp", &t1), ct], b"x"),
        step("PUT", &long, &[("X-Timestamp", &t1), ct], b"x"),
        step("PUT", "/sda/1/a/c/o2", &[("X-Timestamp", &t1)], b"x"),
        step(
            "PUT",
            "/sda/1/a/c/o2",
            &[("X-Timestamp", &t1), ct, ("X-Delete-At", "1000")],
            b"x",
        ),
        step(
            "PUT",
            "/sda/1/a/c/o2",
            &[("X-Timestamp", &t1), ct, ("X-Delete-At", "soon")],
            b"x",
        ),
        step(
            "PUT",
            "/sda/1/a/c/o2",
            &[
                ("X-Timestamp", &t1),
                ct,
                ("X-Object-Meta-Big", &"v".repeat(257)),
            ],
            b"x",
        ),
        step(
            "PUT",
            "/sda/1/a/c/o2",
            &[("X-Timestamp", &t1), ct, ("X-Object-Meta-", "v")],
            b"x",
        ),
        step(
            "PUT",
            "/sda/1/a/c/o2",
            &[("X-Timestamp", &t1), ct, ("Content-Length", "5368709123")],
            b"",
        ),
        step(
            "DELETE",
            "/sda/1/a/c/o2",
            &[("X-Timestamp", &t1), ("X-If-Delete-At", "x")],
            b"",
        ),
        step("PATCH", o, &[("X-Timestamp", &t1)], b""),
        step("GET", "/sda/1/a/c/o2", &[], b""),
    ];
    let mut many_step = step("PUT", "/sda/1/a/c/o3", &[("X-Timestamp", &t1), ct], b"x");
    many_step.headers.extend(many.iter().cloned());
    steps.push(many_step);
    // A missing device: 507 (Swift's page names the drive, so bodies differ).
    for m in ["PUT", "GET", "HEAD", "POST", "DELETE"] {
        let mut s = step(
            m,
            "/sdz/1/a/c/o",
            &[("X-Timestamp", &t1), ct],
            if m == "PUT" { b"x" } else { b"" },
        );
        s.compare_body = false;
        steps.push(s);
    }

    let mut mismatches = Vec::new();
    let mut statuses = Vec::new();
    for s in &steps {
        let a = run(swift.addr(), s);
        let b = run(ours.addr(), s);
        let (mut ka, mut kb) = (key(&a, s.method), key(&b, s.method));
        if !s.compare_body {
            ka.2.clear();
            kb.2.clear();
            ka.1.retain(|(k, _)| k != "content-length" && k != "content-type");
            kb.1.retain(|(k, _)| k != "content-length" && k != "content-type");
        }
        statuses.push(format!(
            "{} {} -> {}",
            s.method,
            &s.path[..s.path.len().min(40)],
            a.0
        ));
        if ka != kb {
            mismatches.push(format!(
                "{} {} {:?}\n  swift: {} {:?} {:?}\n  swirl: {} {:?} {:?}",
                s.method,
                &s.path[..s.path.len().min(60)],
                s.headers
                    .iter()
                    .filter(|(k, _)| !k.starts_with("X-Object-Meta-K"))
                    .collect::<Vec<_>>(),
                ka.0,
                ka.1,
                String::from_utf8_lossy(&ka.2),
                kb.0,
                kb.1,
                String::from_utf8_lossy(&kb.2)
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} steps differ:\n{}",
        mismatches.len(),
        steps.len(),
        mismatches.join("\n")
    );
    // Every status class was exercised.
    for want in [
        "201", "200", "206", "202", "204", "304", "400", "404", "409", "412", "416", "422", "507",
    ] {
        assert!(
            statuses.iter().any(|s| s.ends_with(want)),
            "no step answered {want}"
        );
    }

    // Both hold the same versions, so REPLICATE reports the same suffix hashes.
    let (sa, _, ba) = http_request(swift.addr(), "REPLICATE", "/sda/1", &[], b"").unwrap();
    let (sb, _, bb) = http_request(ours.addr(), "REPLICATE", "/sda/1", &[], b"").unwrap();
    assert_eq!((sa, sb), (200, 200));
    let (ha, hb) = (unpickle(&ba), unpickle(&bb));
    assert!(!ha.as_object().unwrap().is_empty());
    assert_eq!(ha, hb, "suffix hashes differ");
    eprintln!(
        "side by side: {} steps identical; REPLICATE hashes {ha}",
        steps.len()
    );
}
