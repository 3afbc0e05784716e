//! The object server's backend API through the real process: every method and
//! its Swift statuses and headers, ranges and conditionals, container updates
//! and async pendings, REPLICATE, quarantine, 507, and malformed input.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::object_common::*;

const P: &str = "/sda/1/a/c/o";

#[test]
fn object_lifecycle_statuses_and_headers() {
    let d = tempfile::tempdir().unwrap();
    let s = start(d.path(), "");
    let t1 = ts(-10.0);
    let body = b"hello world";
    let r = s.req(
        "PUT",
        P,
        &[
            ("X-Timestamp", &t1),
            ("Content-Type", "text/plain"),
            ("X-Object-Meta-Color", "blue"),
            ("X-Object-Sysmeta-S", "sys"),
            ("Content-Encoding", "gzip"),
            ("Content-Disposition", "inline"),
        ],
        body,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.h("etag"), Some(format!("\"{}\"", md5_hex(body)).as_str()));

    let r = s.req("GET", P, &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, body);
    assert_eq!(r.h("content-type"), Some("text/plain"));
    assert_eq!(r.h("content-length"), Some("11"));
    assert_eq!(r.h("x-object-meta-color"), Some("blue"));
    assert_eq!(r.h("x-object-sysmeta-s"), Some("sys"));
    assert_eq!(r.h("content-encoding"), Some("gzip"));
    assert_eq!(r.h("content-disposition"), Some("inline"));
    assert_eq!(r.h("x-timestamp"), Some(t1.as_str()));
    assert_eq!(r.h("x-backend-timestamp"), Some(t1.as_str()));
    assert_eq!(r.h("x-backend-data-timestamp"), Some(t1.as_str()));
    assert!(r.h("last-modified").unwrap().ends_with(" GMT"));

    let r = s.req("HEAD", P, &[], b"");
    assert_eq!((r.status, r.h("content-length")), (200, Some("11")));
    assert!(r.body.is_empty());

    // An older or equal PUT loses with 409 and the stored time.
    let r = s.req(
        "PUT",
        P,
        &[("X-Timestamp", &t1), ("Content-Type", "x/y")],
        b"x",
    );
    assert_eq!(
        (r.status, r.h("x-backend-timestamp")),
        (409, Some(t1.as_str()))
    );
    // If-None-Match: * on an existing object.
    let r = s.req(
        "PUT",
        P,
        &[
            ("X-Timestamp", &ts(-5.0)),
            ("Content-Type", "x/y"),
            ("If-None-Match", "*"),
        ],
        b"x",
    );
    assert_eq!(r.status, 412);

    // POST replaces user metadata, keeps sysmeta, size and type.
    let t2 = ts(-8.0);
    let r = s.req(
        "POST",
        P,
        &[("X-Timestamp", &t2), ("X-Object-Meta-Shape", "round")],
        b"",
    );
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.h("x-backend-content-type"), Some("text/plain"));
    let r = s.req("HEAD", P, &[], b"");
    assert_eq!(r.h("x-object-meta-shape"), Some("round"));
    assert_eq!(r.h("x-object-meta-color"), None);
    assert_eq!(r.h("x-object-sysmeta-s"), Some("sys"));
    assert_eq!(r.h("x-timestamp"), Some(t2.as_str()));
    assert_eq!(r.h("x-backend-data-timestamp"), Some(t1.as_str()));
    assert_eq!(r.h("content-length"), Some("11"));
    let r = s.req("POST", P, &[("X-Timestamp", &t1)], b"");
    assert_eq!(
        (r.status, r.h("x-backend-timestamp")),
        (409, Some(t2.as_str()))
    );
    // POST can change the Content-Type.
    let t3 = ts(-7.0);
    let r = s.req(
        "POST",
        P,
        &[("X-Timestamp", &t3), ("Content-Type", "image/png")],
        b"",
    );
    assert_eq!(r.status, 202);
    assert_eq!(
        s.req("HEAD", P, &[], b"").h("content-type"),
        Some("image/png")
    );
    // An empty Content-Type is none: the stored one stays (as in Swift).
    let r = s.req(
        "POST",
        P,
        &[("X-Timestamp", &ts(-6.5)), ("Content-Type", "")],
        b"",
    );
    assert_eq!(r.status, 202);
    assert_eq!(r.h("x-backend-content-type"), Some("image/png"));
    assert_eq!(
        s.req("HEAD", P, &[], b"").h("content-type"),
        Some("image/png")
    );

    // DELETE: 204, then reads are 404 with the tombstone's time.
    let t4 = ts(-6.0);
    let r = s.req("DELETE", P, &[("X-Timestamp", &t4)], b"");
    assert_eq!(r.status, 204);
    assert_eq!(r.h("x-backend-timestamp"), Some(t4.as_str()));
    assert_eq!(r.h("x-backend-content-type"), Some("image/png"));
    let r = s.req("GET", P, &[], b"");
    assert_eq!(
        (r.status, r.h("x-backend-timestamp")),
        (404, Some(t4.as_str()))
    );
    let r = s.req("HEAD", P, &[], b"");
    assert_eq!(
        (r.status, r.h("x-backend-timestamp")),
        (404, Some(t4.as_str()))
    );
    assert_eq!(
        s.req("POST", P, &[("X-Timestamp", &ts(-1.0))], b"").status,
        404
    );
    // Deleting again answers 404 but still lays the newer tombstone (as Swift does).
    let t5 = ts(-2.0);
    let r = s.req("DELETE", P, &[("X-Timestamp", &t5)], b"");
    assert_eq!(
        (r.status, r.h("x-backend-timestamp")),
        (404, Some(t5.as_str()))
    );
    // Older than the tombstone: 409; newer: stored again.
    let r = s.req(
        "PUT",
        P,
        &[("X-Timestamp", &t3), ("Content-Type", "x/y")],
        b"x",
    );
    assert_eq!(
        (r.status, r.h("x-backend-timestamp")),
        (409, Some(t5.as_str()))
    );
    let r = s.req(
        "PUT",
        P,
        &[("X-Timestamp", &ts(-1.0)), ("Content-Type", "x/y")],
        b"again",
    );
    assert_eq!(r.status, 201);
    assert_eq!(s.req("GET", P, &[], b"").body, b"again");

    // Only the current files remain on disk, and nothing in tmp.
    let files = walk(&s.devices.join("sda/objects/1"));
    let data: Vec<_> = files
        .iter()
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "data" || e == "ts" || e == "meta")
        })
        .collect();
    assert_eq!(data.len(), 1, "{files:?}");
    assert!(walk(&s.devices.join("sda/tmp")).is_empty());

    let r = s.req("GET", "/healthcheck", &[], b"");
    assert_eq!((r.status, r.text().as_str()), (200, "OK"));
}

#[test]
fn bad_input_gets_clear_4xx() {
    let d = tempfile::tempdir().unwrap();
    let s = start(d.path(), "");
    let t = ts(0.0);
    let ct = ("Content-Type", "text/plain");
    let x = ("X-Timestamp", t.as_str());
    let long_name = format!("/sda/1/a/c/{}", "o".repeat(1025));
    let many: Vec<(String, String)> = (0..91)
        .map(|i| (format!("X-Object-Meta-K{i}"), "v".into()))
        .collect();
    let mut many_h: Vec<(&str, &str)> =
        many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    many_h.push(x);
    many_h.push(ct);
    let big_v = "v".repeat(257);
    let past = "1000000000";
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("PUT", P, vec![ct], 400, "Missing X-Timestamp header"),
        (
            "PUT",
            P,
            vec![("X-Timestamp", "yesterday"), ct],
            400,
            "Invalid X-Timestamp header",
        ),
        (
            "PUT",
            P,
            vec![("X-Timestamp", "-1"), ct],
            400,
            "Invalid X-Timestamp header",
        ),
        ("DELETE", P, vec![], 400, "Missing X-Timestamp header"),
        (
            "POST",
            P,
            vec![("X-Timestamp", "x")],
            400,
            "Invalid X-Timestamp header",
        ),
        (
            "GET",
            P,
            vec![("X-Timestamp", "x")],
            400,
            "Invalid X-Timestamp header",
        ),
        ("PUT", "/sda/1/a/c", vec![x, ct], 400, "Invalid path"),
        ("PUT", "/sda/x/a/c/o", vec![x, ct], 400, "Invalid partition"),
        ("PUT", "/../1/a/c/o", vec![x, ct], 400, "Invalid device"),
        (
            "PUT",
            "/sda/1/a/c/o%00",
            vec![x, ct],
            400,
            "Invalid reserved-namespace object",
        ),
        (
            "PUT",
            "/sda/1/a/c/%ff",
            vec![x, ct],
            412,
            "Invalid UTF8 or contains NULL",
        ),
        (
            "PUT",
            long_name.as_str(),
            vec![x, ct],
            400,
            "Object name length of 1025 longer than 1024",
        ),
        ("PUT", P, vec![x], 400, "Invalid Content-Type"),
        ("PUT", P, many_h, 400, "Too many metadata items; max 90"),
        (
            "PUT",
            P,
            vec![x, ct, ("X-Object-Meta-Big", big_v.as_str())],
            400,
            "Metadata value longer than 256",
        ),
        (
            "PUT",
            P,
            vec![x, ct, ("X-Object-Meta-", "v")],
            400,
            "Metadata name cannot be empty",
        ),
        (
            "PUT",
            P,
            vec![x, ct, ("X-Delete-At", past)],
            400,
            "X-Delete-At in past",
        ),
        (
            "PUT",
            P,
            vec![x, ct, ("X-Delete-At", "soon")],
            400,
            "Non-integer X-Delete-At",
        ),
        (
            "PUT",
            P,
            vec![x, ct, ("ETag", "00000000000000000000000000000000")],
            422,
            "",
        ),
        (
            "PUT",
            P,
            vec![x, ct, ("Content-Length", "5368709123")],
            413,
            "Your request is too large.",
        ),
        (
            "DELETE",
            P,
            vec![x, ("X-If-Delete-At", "x")],
            400,
            "Bad X-If-Delete-At header value",
        ),
        ("PATCH", P, vec![x], 405, ""),
        ("GET", "/recon/nonsense", vec![], 404, ""),
    ];
    for (m, p, h, status, text) in cases {
        let body: &[u8] = if m == "PUT" && !h.iter().any(|(k, _)| *k == "Content-Length") {
            b"data"
        } else {
            b""
        };
        let r = if h.iter().any(|(k, _)| *k == "Content-Length") {
            // Announce more than is sent and close: the server must not hang or store.
            raw_send(
                &s,
                format!(
                    "{m} {p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{}\r\n",
                    h.iter()
                        .map(|(k, v)| format!("{k}: {v}\r\n"))
                        .collect::<String>()
                )
                .as_bytes(),
                false,
            )
        } else {
            s.req(m, p, &h, body)
        };
        assert_eq!(r.status, status, "{m} {p} {h:?}: {}", r.text());
        assert!(
            r.text().contains(text),
            "{m} {p}: {:?} lacks {text:?}",
            r.text()
        );
    }
    // No Content-Length and not chunked: 411.
    let r = raw_send(&s, format!("PUT {P} HTTP/1.1\r\nHost: x\r\nX-Timestamp: {t}\r\nContent-Type: a/b\r\nConnection: close\r\n\r\n").as_bytes(), false);
    assert_eq!(r.status, 411, "{}", r.text());
    // Nothing of the above was stored.
    assert_eq!(s.req("GET", P, &[], b"").status, 404);
    assert!(walk(&s.devices.join("sda/objects"))
        .iter()
        .all(|p| !p.to_string_lossy().ends_with(".data")));
}

/// Sends raw bytes, half-closes, reads the response.
fn raw(s: &ObjServer, head: &str) -> Resp {
    raw_bytes(s, head.as_bytes())
}

/// Sends raw bytes; with `half_close` the client then closes its side (a
/// client that went away), otherwise it just waits for the answer.
fn raw_bytes(s: &ObjServer, bytes: &[u8]) -> Resp {
    raw_send(s, bytes, true)
}

fn raw_send(s: &ObjServer, bytes: &[u8], half_close: bool) -> Resp {
    let mut c = TcpStream::connect(s.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.write_all(bytes).unwrap();
    if half_close {
        let _ = c.shutdown(std::net::Shutdown::Write);
    }
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    parse(&out)
}

fn parse(out: &[u8]) -> Resp {
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(out.len());
    let head = String::from_utf8_lossy(&out[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: out.get(end + 4..).unwrap_or(&[]).to_vec(),
    }
}

/// Bodies of known length from 4 MiB on go to disk around the page cache
/// (O_DIRECT, whole 4 KiB blocks): lengths around that threshold and tails
/// of odd sizes come back whole, a wrong ETag or a cut-off body stores
/// nothing, and no temp file is left behind.
#[test]
fn large_bodies_of_known_length_are_whole() {
    let d = tempfile::tempdir().unwrap();
    let s = start(d.path(), "");
    const MIN: usize = 4 << 20;
    for (i, len) in [MIN - 1, MIN, MIN + 1, MIN + 4097, 6 * (1 << 20) + 12_345]
        .into_iter()
        .enumerate()
    {
        let path = format!("/sda/1/a/c/big{len}");
        let body = bytes(40 + i as u64, len);
        let t = ts(i as f64);
        let r = s.req(
            "PUT",
            &path,
            &[("X-Timestamp", &t), ("Content-Type", "a/b")],
            &body,
        );
        assert_eq!(r.status, 201, "{len}: {}", r.text());
        assert_eq!(
            r.h("etag"),
            Some(format!("\"{}\"", md5_hex(&body)).as_str())
        );
        let r = s.req("GET", &path, &[], b"");
        assert_eq!(r.status, 200, "{len}");
        assert!(r.body == body, "{len}: the body came back changed");
    }
    // A wrong ETag: 422 and nothing stored.
    let body = bytes(50, MIN + 4097);
    let t = ts(10.0);
    let r = s.req(
        "PUT",
        "/sda/1/a/c/badetag",
        &[
            ("X-Timestamp", &t),
            ("Content-Type", "a/b"),
            ("ETag", "0123456789abcdef0123456789abcdef"),
        ],
        &body,
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(s.req("GET", "/sda/1/a/c/badetag", &[], b"").status, 404);
    // Content-Length 6 MiB, 5 MiB sent (whole direct buffers on disk
    // already), then the client goes away.
    let mut req = format!("PUT /sda/1/a/c/cut HTTP/1.1\r\nHost: x\r\nX-Timestamp: {t}\r\nContent-Type: a/b\r\nContent-Length: {}\r\n\r\n", 6 << 20).into_bytes();
    req.extend_from_slice(&bytes(51, 5 << 20));
    let r = raw_bytes(&s, &req);
    assert!(r.status == 499 || r.status == 0, "{r:?}");
    assert_eq!(s.req("GET", "/sda/1/a/c/cut", &[], b"").status, 404);
    let datas = walk(&s.devices.join("sda/objects"))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".data"))
        .count();
    assert_eq!(datas, 5, "only the five whole bodies are stored");
    assert!(
        walk(&s.devices.join("sda/tmp")).is_empty(),
        "{:?}",
        walk(&s.devices.join("sda/tmp"))
    );
}

#[test]
fn cut_off_and_wrong_length_bodies_leave_nothing() {
    let d = tempfile::tempdir().unwrap();
    let s = start(d.path(), "");
    let t = ts(0.0);
    // Content-Length larger than what is sent, then the client closes.
    let big = bytes(1, 300_000);
    let mut req = format!("PUT {P} HTTP/1.1\r\nHost: x\r\nX-Timestamp: {t}\r\nContent-Type: a/b\r\nContent-Length: 1000000\r\n\r\n").into_bytes();
    req.extend_from_slice(&big);
    let r = raw_bytes(&s, &req);
    assert!(r.status == 499 || r.status == 0, "{r:?}");
    // A chunked body cut off mid-way (no terminating chunk).
    let mut req = format!("PUT {P} HTTP/1.1\r\nHost: x\r\nX-Timestamp: {t}\r\nContent-Type: a/b\r\nTransfer-Encoding: chunked\r\n\r\n").into_bytes();
    for _ in 0..10 {
        req.extend_from_slice(format!("{:x}\r\n", 50_000).as_bytes());
        req.extend_from_slice(&bytes(2, 50_000));
        req.extend_from_slice(b"\r\n");
    }
    let r = raw_bytes(&s, &req);
    assert!(r.status == 499 || r.status == 0, "{r:?}");
    // A small body cut short.
    let r = raw(&s, &format!("PUT {P} HTTP/1.1\r\nHost: x\r\nX-Timestamp: {t}\r\nContent-Type: a/b\r\nContent-Length: 10\r\n\r\nabc"));
    assert!(r.status == 499 || r.status == 0, "{r:?}");
    assert_eq!(s.req("GET", P, &[], b"").status, 404);
    assert!(walk(&s.devices.join("sda/objects"))
        .iter()
        .all(|p| !p.to_string_lossy().ends_with(".data")));
    assert!(
        walk(&s.devices.join("sda/tmp")).is_empty(),
        "{:?}",
        walk(&s.devices.join("sda/tmp"))
    );
    // A complete chunked upload works, and so does Expect: 100-continue.
    let mut req = format!("PUT {P} HTTP/1.1\r\nHost: x\r\nX-Timestamp: {t}\r\nContent-Type: a/b\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").into_bytes();
    req.extend_from_slice(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    assert_eq!(raw_send(&s, &req, false).status, 201);
    assert_eq!(s.req("GET", P, &[], b"").body, b"hello world");
    let mut c = TcpStream::connect(s.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t2 = ts(1.0);
    c.write_all(format!("PUT {P} HTTP/1.1\r\nHost: x\r\nX-Timestamp: {t2}\r\nContent-Type: a/b\r\nContent-Length: 3\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let mut buf = [0u8; 25];
    c.read_exact(&mut buf).unwrap();
    assert!(
        buf.starts_with(b"HTTP/1.1 100 Continue"),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );
    c.write_all(b"abc").unwrap();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert!(
        String::from_utf8_lossy(&rest).contains("201 Created"),
        "{}",
        String::from_utf8_lossy(&rest)
    );
    // A conflicting PUT with Expect is refused before the body is sent.
    let mut c = TcpStream::connect(s.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(format!("PUT {P} HTTP/1.1\r\nHost: x\r\nX-Timestamp: {t}\r\nContent-Type: a/b\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n").as_bytes()).unwrap();
    let mut buf = [0u8; 12];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 409");
}

#[test]
fn ranges_conditionals_and_expiry() {
    let d = tempfile::tempdir().unwrap();
    let s = start(d.path(), "disk_chunk_size = 65536");
    let body = bytes(7, 200_000); // larger than a chunk: the streaming path
    let t = ts(-100.0);
    let del = format!(
        "{}",
        (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs())
            + 1000
    );
    let r = s.req(
        "PUT",
        P,
        &[
            ("X-Timestamp", &t),
            ("Content-Type", "app/x"),
            ("X-Delete-At", &del),
        ],
        &body,
    );
    assert_eq!(r.status, 201);
    let etag = md5_hex(&body);
    let r = s.req("GET", P, &[], b"");
    assert_eq!((r.status, r.body.len()), (200, body.len()));
    assert_eq!(r.body, body);
    assert_eq!(r.h("x-delete-at"), Some(del.as_str()));
    // A whole read is checked against the stored blake3; a ranged one is not.
    assert_eq!(r.h("x-backend-read-verified"), Some("blake3"));
    let r = s.req("GET", P, &[("Range", "bytes=10-19")], b"");
    assert_eq!(r.h("x-backend-read-verified"), None);
    assert_eq!(
        (r.status, r.h("content-range")),
        (206, Some("bytes 10-19/200000"))
    );
    assert_eq!(r.body, &body[10..20]);
    let r = s.req("GET", P, &[("Range", "bytes=-5")], b"");
    assert_eq!(r.body, &body[body.len() - 5..]);
    let r = s.req("GET", P, &[("Range", "bytes=0-1,100000-100002")], b"");
    assert_eq!(r.status, 206);
    let ct = r.h("content-type").unwrap().to_string();
    let boundary = ct.strip_prefix("multipart/byteranges;boundary=").unwrap();
    let text = r.body.clone();
    let mut want = Vec::new();
    for (a, b) in [(0usize, 2usize), (100000, 100003)] {
        want.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: app/x\r\nContent-Range: bytes {a}-{}/200000\r\n\r\n",
                b - 1
            )
            .as_bytes(),
        );
        want.extend_from_slice(&body[a..b]);
        want.extend_from_slice(b"\r\n");
    }
    want.extend_from_slice(format!("--{boundary}--").as_bytes());
    assert_eq!(text, want);
    assert_eq!(r.h("content-length"), Some(want.len().to_string().as_str()));
    let r = s.req("GET", P, &[("Range", "bytes=300000-")], b"");
    assert_eq!(
        (r.status, r.h("content-range")),
        (416, Some("bytes */200000"))
    );
    // An invalid Range header is ignored.
    assert_eq!(s.req("GET", P, &[("Range", "bytes=5-1")], b"").status, 200);
    // Conditionals.
    let q = format!("\"{etag}\"");
    assert_eq!(s.req("GET", P, &[("If-Match", &q)], b"").status, 200);
    assert_eq!(
        s.req("GET", P, &[("If-Match", "\"nope\"")], b"").status,
        412
    );
    assert_eq!(s.req("GET", P, &[("If-None-Match", &q)], b"").status, 304);
    assert_eq!(s.req("HEAD", P, &[("If-None-Match", "*")], b"").status, 304);
    assert_eq!(
        s.req(
            "GET",
            P,
            &[("If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT")],
            b""
        )
        .status,
        304
    );
    assert_eq!(
        s.req(
            "GET",
            P,
            &[("If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")],
            b""
        )
        .status,
        412
    );
    assert_eq!(
        s.req("GET", "/sda/1/a/c/missing", &[("If-Match", "*")], b"")
            .status,
        412
    );
    // Read at a time after X-Delete-At: expired, 404.
    let later = format!("{}.00000", del.parse::<u64>().unwrap() + 1);
    let r = s.req("GET", P, &[("X-Timestamp", &later)], b"");
    assert_eq!(
        (r.status, r.h("x-backend-timestamp")),
        (404, Some(t.as_str()))
    );
    // X-If-Delete-At must match.
    let r = s.req(
        "DELETE",
        P,
        &[("X-Timestamp", &ts(-1.0)), ("X-If-Delete-At", "12345")],
        b"",
    );
    assert_eq!(r.status, 412);
    let r = s.req(
        "DELETE",
        P,
        &[("X-Timestamp", &ts(-1.0)), ("X-If-Delete-At", &del)],
        b"",
    );
    assert_eq!(r.status, 204);
}

/// A fake container server: records request lines and headers, answers `status`.
fn fake_container(status: u16) -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            let mut buf = vec![0u8; 65536];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = c.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            seen2
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&got).into_owned());
            let _ = c.write_all(
                format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    (addr, seen)
}

#[test]
fn container_updates_and_async_pendings() {
    let d = tempfile::tempdir().unwrap();
    let s = start(d.path(), "");
    let (caddr, seen) = fake_container(201);
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let (bad, _) = fake_container(503);
    // Updates go only to the container ring's hosts.
    write_container_ring(
        d.path(),
        &[(&caddr, "cdev"), (&dead, "cdev"), (&bad, "cdev")],
    );
    let t = ts(-5.0);
    let r = s.req(
        "PUT",
        P,
        &[
            ("X-Timestamp", &t),
            ("Content-Type", "text/plain"),
            ("X-Container-Host", &caddr),
            ("X-Container-Device", "cdev"),
            ("X-Container-Partition", "7"),
            ("X-Trans-Id", "tx123"),
        ],
        b"abc",
    );
    assert_eq!(r.status, 201);
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    let g = got[0].to_ascii_lowercase();
    assert!(g.starts_with("put /cdev/7/a/c/o http/1.1"), "{g}");
    for want in [
        "x-size: 3",
        &format!("x-etag: {}", md5_hex(b"abc")),
        "x-content-type: text/plain",
        &format!("x-timestamp: {t}"),
        "x-trans-id: tx123",
        "x-backend-storage-policy-index: 0",
    ] {
        assert!(g.contains(want), "{want} not in {g}");
    }
    let r = s.req(
        "DELETE",
        P,
        &[
            ("X-Timestamp", &ts(-4.0)),
            ("X-Container-Host", &caddr),
            ("X-Container-Device", "cdev"),
            ("X-Container-Partition", "7"),
        ],
        b"",
    );
    assert_eq!(r.status, 204);
    let got = seen.lock().unwrap().clone();
    assert!(got[1].starts_with("DELETE /cdev/7/a/c/o"), "{}", got[1]);

    // A container server that is down, and one that fails: two async pendings.
    for (i, host) in [dead, bad].iter().enumerate() {
        let p = format!("/sda/1/a/c/o{i}");
        let r = s.req(
            "PUT",
            &p,
            &[
                ("X-Timestamp", &ts(-3.0)),
                ("Content-Type", "t/p"),
                ("X-Container-Host", host),
                ("X-Container-Device", "cdev"),
                ("X-Container-Partition", "7"),
            ],
            b"x",
        );
        assert_eq!(r.status, 201);
    }
    let pendings = walk(&s.devices.join("sda/async_pending"));
    assert_eq!(pendings.len(), 2, "{pendings:?}");
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&pendings[0]).unwrap()).unwrap();
    assert_eq!(rec["op"], "PUT");
    assert_eq!(rec["account"], "a");
    assert_eq!(rec["headers"]["x-size"], "1");
    let r = s.req("GET", "/recon/async", &[], b"");
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["async_pending"], 2);
    let r = s.req("GET", "/recon/swirl", &[], b"");
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["since_start"]["async_pending_written"], 2);
    assert_eq!(v["since_start"]["container_updates_ok"], 2);
    assert!(v["diskusage"][0]["size"].as_u64().unwrap() > 0);
}

#[test]
fn replicate_quarantine_and_507() {
    let d = tempfile::tempdir().unwrap();
    let s = start(d.path(), "disk_chunk_size = 65536");
    let t = ts(-5.0);
    assert_eq!(
        s.req(
            "PUT",
            P,
            &[("X-Timestamp", &t), ("Content-Type", "t/p")],
            b"small"
        )
        .status,
        201
    );
    let r = s.req(
        "REPLICATE",
        "/sda/1",
        &[("Accept", "application/json")],
        b"",
    );
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let m = v.as_object().unwrap();
    assert_eq!(m.len(), 1);
    let (sfx, h) = m.iter().next().unwrap();
    assert_eq!(h.as_str().unwrap(), md5_hex(format!("{t}.data").as_bytes()));
    // The default body is Swift's pickle.
    let r = s.req("REPLICATE", &format!("/sda/1/{sfx}"), &[], b"");
    assert!(r.body.starts_with(b"\x80\x02}"));
    assert_eq!(s.req("REPLICATE", "/sda/1/zzz", &[], b"").status, 400);
    assert_eq!(s.req("REPLICATE", "/nodev/1", &[], b"").status, 507);

    // Flip a body byte of the small object: GET quarantines and answers 404.
    let data = walk(&s.devices.join("sda/objects"))
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".data"))
        .unwrap();
    let mut b = std::fs::read(&data).unwrap();
    b[0] ^= 1;
    std::fs::write(&data, &b).unwrap();
    assert_eq!(s.req("GET", P, &[], b"").status, 404);
    assert_eq!(s.req("GET", P, &[], b"").status, 404);
    // A large object: the body is cut short instead of completed.
    let big = bytes(3, 500_000);
    let p2 = "/sda/1/a/c/big";
    assert_eq!(
        s.req(
            "PUT",
            p2,
            &[("X-Timestamp", &t), ("Content-Type", "t/p")],
            &big
        )
        .status,
        201
    );
    let data = walk(&s.devices.join("sda/objects"))
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".data"))
        .unwrap();
    let mut b = std::fs::read(&data).unwrap();
    b[400_000] ^= 1;
    std::fs::write(&data, &b).unwrap();
    let got = crate::harness::http_request(s.addr(), "GET", p2, &[], b"");
    match got {
        Ok((200, _, body)) => assert!(body.len() < big.len(), "a corrupt object was served whole"),
        Ok((st, _, _)) => panic!("status {st}"),
        Err(_) => {}
    }
    assert_eq!(s.req("GET", p2, &[], b"").status, 404);
    let v: serde_json::Value =
        serde_json::from_slice(&s.req("GET", "/recon/quarantined", &[], b"").body).unwrap();
    assert_eq!(v["objects"], 2);
    assert_eq!(walk(&s.devices.join("sda/quarantined/objects")).len(), 2);

    // A missing device: 507 for every verb.
    for m in ["PUT", "GET", "HEAD", "POST", "DELETE"] {
        let r = s.req(
            m,
            "/sdz/1/a/c/o",
            &[("X-Timestamp", &ts(0.0)), ("Content-Type", "t/p")],
            if m == "PUT" { b"x" } else { b"" },
        );
        assert_eq!(r.status, 507, "{m}");
    }
}

/// Swift's layout per storage policy: policy 1 lives in `objects-1/`,
/// `async_pending-1/`, `tmp-1/`; REPLICATE and recon see each policy apart; an
/// index the config does not have is a 503, as in Swift.
#[test]
fn storage_policies_keep_apart_on_disk() {
    let d = tempfile::tempdir().unwrap();
    let s = start(
        d.path(),
        "mount_check = false\n[[storage_policy]]\nindex = 0\nname = \"gold\"\ndefault = true\n\
         [[storage_policy]]\nindex = 1\nname = \"silver\"\n",
    );
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let t = ts(-5.0);
    let pol1 = ("X-Backend-Storage-Policy-Index", "1");
    let r = s.req(
        "PUT",
        P,
        &[
            ("X-Timestamp", &t),
            ("Content-Type", "t/p"),
            pol1,
            ("X-Container-Host", &dead),
            ("X-Container-Device", "cdev"),
            ("X-Container-Partition", "7"),
        ],
        b"silver",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let sda = s.devices.join("sda");
    let files = walk(&sda.join("objects-1/1"));
    assert!(
        files.iter().any(|p| p.to_string_lossy().ends_with(".data")),
        "{files:?}"
    );
    assert!(!sda.join("objects").exists() && sda.join("tmp-1").is_dir());
    let pend = walk(&sda.join("async_pending-1"));
    assert_eq!(pend.len(), 1, "{pend:?}");
    let rec: serde_json::Value = serde_json::from_slice(&std::fs::read(&pend[0]).unwrap()).unwrap();
    assert_eq!(rec["headers"]["x-backend-storage-policy-index"], "1");

    // The same name in policy 0 is another object.
    assert_eq!(s.req("GET", P, &[], b"").status, 404);
    let r = s.req("GET", P, &[pol1], b"");
    assert_eq!((r.status, r.body.as_slice()), (200, b"silver".as_slice()));
    let r = s.req(
        "PUT",
        P,
        &[("X-Timestamp", &t), ("Content-Type", "t/p")],
        b"gold",
    );
    assert_eq!(r.status, 201);
    assert_eq!(s.req("GET", P, &[], b"").body, b"gold");
    assert_eq!(s.req("GET", P, &[pol1], b"").body, b"silver");
    let r = s.req("DELETE", P, &[("X-Timestamp", &ts(-4.0)), pol1], b"");
    assert_eq!(r.status, 204);
    assert_eq!(s.req("GET", P, &[pol1], b"").status, 404);
    assert_eq!(s.req("GET", P, &[], b"").body, b"gold");

    // Unknown or malformed indexes: Swift's 503, before anything is touched.
    for bad in ["2", "-1", "silver"] {
        let r = s.req(
            "PUT",
            "/sda/1/a/c/other",
            &[
                ("X-Timestamp", &t),
                ("Content-Type", "t/p"),
                ("X-Backend-Storage-Policy-Index", bad),
            ],
            b"x",
        );
        assert_eq!(r.status, 503, "{bad}");
        assert_eq!(r.text(), format!("No policy with index {bad}"));
        let r = s.req(
            "REPLICATE",
            "/sda/1",
            &[("X-Backend-Storage-Policy-Index", bad)],
            b"",
        );
        assert_eq!(r.status, 503, "{bad}");
    }
    assert!(!sda.join("objects-2").exists());

    // REPLICATE answers for the policy asked: each has its own suffix hash.
    let hashes = |extra: &[(&str, &str)]| -> serde_json::Value {
        let mut h = vec![("Accept", "application/json")];
        h.extend_from_slice(extra);
        let r = s.req("REPLICATE", "/sda/1", &h, b"");
        assert_eq!(r.status, 200);
        serde_json::from_slice(&r.body).unwrap()
    };
    let (h0, h1) = (hashes(&[]), hashes(&[pol1]));
    assert_eq!(h0.as_object().unwrap().len(), 1);
    assert_eq!(h1.as_object().unwrap().len(), 1);
    assert_ne!(h0, h1);

    let r = s.req("GET", "/recon/swirl", &[], b"");
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["async_pending"], 1);
    assert_eq!(v["policies"]["1"]["async_pending"], 1);
    assert_eq!(v["policies"]["0"]["async_pending"], 0);
    let r = s.req("GET", "/recon/quarantined", &[], b"");
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["policies"]["1"]["objects"], 0);
}

#[test]
fn mount_check_and_full_device_give_507() {
    let d = tempfile::tempdir().unwrap();
    // A plain directory is not a mount point.
    let s = start(d.path(), "mount_check = true");
    let r = s.req(
        "PUT",
        P,
        &[("X-Timestamp", &ts(0.0)), ("Content-Type", "t/p")],
        b"x",
    );
    assert_eq!(r.status, 507);
    drop(s);
    // A reserve larger than the disk: nothing fits.
    let d = tempfile::tempdir().unwrap();
    let s = start(d.path(), "fallocate_reserve = \"99.99%\"");
    let r = s.req(
        "PUT",
        P,
        &[("X-Timestamp", &ts(0.0)), ("Content-Type", "t/p")],
        b"x",
    );
    assert_eq!(r.status, 507);
}
