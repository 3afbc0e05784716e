//! Hostile clients and hostile numbers against `swirl aio` (issue 12, items
//! 3, 5, 6, 7 and 9): header bytes that are not text, clients that send
//! half a request or idle or never stop connecting, clients that shut their
//! write side down, row numbers that would overflow a database's totals, and
//! a PUT that loses a timestamp race. Requests that no client library would
//! send go out on raw sockets.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use swirl_common::backend_headers as bh;
use swirl_ring::hash::HashPathConfig;

use swirl_common::backend_auth::BackendAuth;

use crate::harness::{
    aio_backend_auth, header, http_request, parse_response, raw_exchange, signed_headers,
    signed_request, start_aio, token_and_path, Proc, RawResponse,
};

/// The token and storage path of test:tester.
fn login(proxy: SocketAddr) -> (String, String) {
    let (status, h, _) = http_request(
        proxy,
        "GET",
        "/auth/v1.0",
        &[("x-auth-user", "test:tester"), ("x-auth-key", "testing")],
        b"",
    )
    .unwrap();
    assert_eq!(status, 200);
    token_and_path(&h)
}

/// An authenticated request through the proxy.
fn req(
    proxy: SocketAddr,
    tok: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let mut h = vec![("x-auth-token", tok)];
    h.extend_from_slice(headers);
    http_request(proxy, method, path, &h, body).unwrap()
}

/// A request head as raw bytes (`Connection: close`), `extra` appended
/// verbatim before the blank line, then `body`.
fn raw(method: &str, path: &str, headers: &[(&str, &str)], extra: &[u8], body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "PUT" {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    let mut out = r.into_bytes();
    out.extend_from_slice(extra);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// [`raw`] to a storage server, signed with the cluster's key: `extra` is
/// one header whose value may be any bytes.
fn raw_signed(
    signer: &BackendAuth,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    extra: (&str, &[u8]),
    body: &[u8],
) -> Vec<u8> {
    let len = body.len().to_string();
    let mut all: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    if !body.is_empty() || method == "PUT" {
        all.push(("content-length", len.as_bytes()));
    }
    all.push(extra);
    let h = signed_headers(signer, method, path, &all);
    let mut lines = Vec::new();
    for (k, v) in &h {
        if k != "content-length" {
            lines
                .extend_from_slice(&[k.as_str().as_bytes(), b": ", v.as_bytes(), b"\r\n"].concat());
        }
    }
    raw(method, path, &[], &lines, body)
}

/// A value of the aio's config for `role` (`etc/<role>-server.toml`).
fn config_value(data: &Path, role: &str, key: &str) -> toml::Value {
    let text = std::fs::read_to_string(data.join(format!("etc/{role}-server.toml"))).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    v.get(key)
        .cloned()
        .unwrap_or_else(|| panic!("{role}: no {key}"))
}

/// The address of the aio's `role` server (account, container, object).
pub(crate) fn server_addr(data: &Path, role: &str) -> SocketAddr {
    let port = config_value(data, role, "bind_port").as_integer().unwrap();
    SocketAddr::from(([127, 0, 0, 1], u16::try_from(port).unwrap()))
}

/// Partition and primary devices of a path in the aio's `kind` ring.
pub(crate) fn place(
    data: &Path,
    kind: &str,
    a: &str,
    c: Option<&str>,
    o: Option<&str>,
) -> (u32, Vec<String>) {
    let suffix = config_value(data, "proxy", "swift_hash_path_suffix");
    let cfg = HashPathConfig::new("", suffix.as_str().unwrap());
    let f = std::fs::File::open(data.join(format!("etc/{kind}.ring.gz"))).unwrap();
    let ring = swirl_ring::codec::read_ring(f).unwrap();
    let (part, nodes) = ring.get_nodes(&cfg, a, c, o);
    (part, nodes.map(|n| n.dev.device.clone()).collect())
}

pub(crate) fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

pub(crate) fn ts(secs: f64) -> String {
    format!("{secs:016.5}")
}

/// Item 3: a header Swift reads as text whose bytes are not UTF-8 gets
/// 400 from every role, where it used to be read as absent (a copy became
/// an empty overwrite, If-None-Match was ignored, a container went to the
/// default policy).
#[test]
fn non_utf8_text_headers_answer_400_in_every_role() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let aio = start_aio(data);
    let proxy = aio.addr();
    let (tok, acct) = login(proxy);
    assert!(req(proxy, &tok, "PUT", &format!("{acct}/c"), &[], b"").0 < 300);
    let obj = format!("{acct}/c/target");
    assert_eq!(req(proxy, &tok, "PUT", &obj, &[], b"keep").0, 201);
    let auth = [("X-Auth-Token", tok.as_str())];

    // Proxy: each of these used to change something.
    for (name, value, body) in [
        ("X-Copy-From", &b"c/\xff"[..], &b""[..]),
        ("X-Copy-From-Account", b"AUTH_\xff", b""),
        ("If-None-Match", b"\xff", b"over"),
        ("Content-Type", b"text/\xff", b"over"),
    ] {
        let extra = [name.as_bytes(), b": ", value, b"\r\n"].concat();
        let (status, _, text) =
            raw_exchange(proxy, &raw("PUT", &obj, &auth, &extra, body)).unwrap();
        assert_eq!(status, 400, "{name}: {}", String::from_utf8_lossy(&text));
    }
    let (status, _, body) = req(proxy, &tok, "GET", &obj, &[], b"");
    assert_eq!((status, &body[..]), (200, &b"keep"[..]));
    let cont = format!("{acct}/silverish");
    let (status, _, _) = raw_exchange(
        proxy,
        &raw(
            "PUT",
            &cont,
            &auth,
            b"X-Storage-Policy: silver\xff\r\n",
            b"",
        ),
    )
    .unwrap();
    assert_eq!(status, 400);
    assert_eq!(req(proxy, &tok, "HEAD", &cont, &[], b"").0, 404);
    let (status, _, _) = raw_exchange(
        proxy,
        &raw("GET", &obj, &auth, b"Range: bytes=0-\xff\r\n", b""),
    )
    .unwrap();
    assert_eq!(status, 400);

    // The storage servers, each on a header it interprets.
    let t = ts(now_secs());
    let stamp = [("X-Timestamp", t.as_str())];
    let signer = aio_backend_auth(data);
    let object = server_addr(data, "object");
    let (status, _, _) = raw_exchange(
        object,
        &raw_signed(
            &signer,
            "GET",
            "/d1/0/a/c/o",
            &stamp,
            ("range", b"bytes=\xff-"),
            b"",
        ),
    )
    .unwrap();
    assert_eq!(status, 400, "object server");
    let policy = |value: &'static [u8]| (bh::STORAGE_POLICY_INDEX, value);
    let container = server_addr(data, "container");
    let (status, _, _) = raw_exchange(
        container,
        &raw_signed(
            &signer,
            "PUT",
            "/d1/0/a/hostile",
            &stamp,
            policy(b"1\xff"),
            b"",
        ),
    )
    .unwrap();
    assert_eq!(status, 400, "container server");
    let account = server_addr(data, "account");
    let (status, _, _) = raw_exchange(
        account,
        &raw_signed(&signer, "PUT", "/d1/0/a", &stamp, policy(b"\xff"), b""),
    )
    .unwrap();
    assert_eq!(status, 400, "account server");
    drop(aio);
}

/// Starts an aio whose proxy has `client_timeout` and `max_clients` set
/// (a first start creates the cluster's files, the second reads them).
fn aio_with_proxy_limits(data: &Path, client_timeout: f64, max_clients: usize) -> Proc {
    drop(start_aio(data));
    let conf = data.join("etc/proxy-server.toml");
    let text = std::fs::read_to_string(&conf).unwrap();
    // Top-level keys go before the first table.
    let text = format!("client_timeout = {client_timeout:?}\nmax_clients = {max_clients}\n{text}");
    std::fs::write(&conf, text).unwrap();
    start_aio(data)
}

/// Reads until the server closes (Ok(bytes)) or `limit` passes (Err).
fn read_until_closed(s: &mut TcpStream, limit: Duration) -> Result<Vec<u8>, Duration> {
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(start.elapsed());
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(out),
            Err(_) => return Err(start.elapsed()),
        }
    }
}

/// Connections of `pid` on its listener `port` that it has accepted (a
/// connection still in the kernel's backlog has no inode yet).
fn accepted_connections(port: u16) -> usize {
    let mut n = 0;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = f
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            // State 01 is ESTABLISHED; field 9 is the inode.
            if local_port == Some(port) && f.get(3) == Some(&"01") && f.get(9) != Some(&"0") {
                n += 1;
            }
        }
    }
    n
}

/// Item 5: a connection that sends half a header, or idles after an
/// answer, is closed after client_timeout; and with far more slow clients
/// than max_clients, the proxy holds at most max_clients of them while a
/// normal request still gets its answer.
#[test]
fn slow_and_idle_clients_are_cut_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    const TIMEOUT: f64 = 2.0;
    const MAX_CLIENTS: usize = 20;
    const SLOW: usize = 100;
    let aio = aio_with_proxy_limits(data, TIMEOUT, MAX_CLIENTS);
    let proxy = aio.addr();
    // Generous: a loaded machine is slow, but "never" is what failed.
    let limit = Duration::from_secs(60);

    // Half a header.
    let mut s = TcpStream::connect(proxy).unwrap();
    s.write_all(b"GET /healthcheck HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let start = Instant::now();
    read_until_closed(&mut s, limit)
        .unwrap_or_else(|t| panic!("half a header still open after {t:?}"));
    let half = start.elapsed();
    assert!(half >= Duration::from_secs_f64(TIMEOUT * 0.9), "{half:?}");

    // Idle after an answer on a kept-alive connection.
    let mut s = TcpStream::connect(proxy).unwrap();
    s.write_all(b"GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    s.set_read_timeout(Some(limit)).unwrap();
    while !got.ends_with(b"OK") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(parse_response(&got, false).unwrap().0, 200);
    let start = Instant::now();
    read_until_closed(&mut s, limit)
        .unwrap_or_else(|t| panic!("idle keep-alive connection still open after {t:?}"));
    let idle = start.elapsed();

    // Many slow clients: each sends a request line and stops.
    let slow: Vec<TcpStream> = (0..SLOW)
        .map(|_| {
            let mut s = TcpStream::connect(proxy).unwrap();
            s.write_all(b"GET /healthcheck HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let held = accepted_connections(proxy.port());
    assert!(
        held <= MAX_CLIENTS,
        "proxy holds {held} connections, max_clients {MAX_CLIENTS}"
    );
    let start = Instant::now();
    let (status, _, body) = http_request(proxy, "GET", "/healthcheck", &[], b"").unwrap();
    let served = start.elapsed();
    assert_eq!((status, &body[..]), (200, &b"OK"[..]));
    eprintln!(
        "slow clients: half header closed after {half:?}, idle after {idle:?}; \
         {SLOW} slow clients, proxy held {held} (max_clients {MAX_CLIENTS}), \
         a normal request answered in {served:?}"
    );
    drop(slow);
    drop(aio);
}

/// Item 6: a client that shuts its write side down right after its request
/// still gets the answer, and a PUT answered is applied.
#[test]
fn half_closed_clients_get_their_answers() {
    let dir = tempfile::tempdir().unwrap();
    let aio = start_aio(dir.path());
    let proxy = aio.addr();
    let (tok, acct) = login(proxy);
    assert!(req(proxy, &tok, "PUT", &format!("{acct}/c"), &[], b"").0 < 300);
    let obj = format!("{acct}/c/o");
    let auth = [("X-Auth-Token", tok.as_str())];
    let half_closed = |request: Vec<u8>, head: bool| {
        let mut s = TcpStream::connect(proxy).unwrap();
        s.write_all(&request).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let got = read_until_closed(&mut s, Duration::from_secs(60))
            .unwrap_or_else(|t| panic!("no answer after {t:?}"));
        parse_response(&got, head).unwrap_or_else(|e| panic!("{e}: {got:?}"))
    };
    let (status, _, _) = half_closed(raw("PUT", &obj, &auth, b"", b"half-closed"), false);
    assert_eq!(status, 201);
    let (status, _, body) = half_closed(raw("GET", &obj, &auth, b"", b""), false);
    assert_eq!((status, &body[..]), (200, &b"half-closed"[..]));
    let (status, h, _) = half_closed(raw("HEAD", &obj, &auth, b"", b""), true);
    assert_eq!((status, header(&h, "content-length")), (200, Some("11")));
    drop(aio);
}

/// Item 7: container rows whose counts or sizes are negative or near
/// i64::MAX get 400 from the account and container servers, and totals
/// of rows that are each allowed saturate: both databases still answer
/// 200 with sane numbers.
#[test]
fn out_of_range_row_numbers_get_400_and_totals_saturate() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let aio = start_aio(data);
    let signer = aio_backend_auth(data);
    let t = || ts(now_secs());
    let big = (1i64 << 60).to_string();

    // The account server.
    let account = server_addr(data, "account");
    let a = "AUTH_overflow";
    let (part, devs) = place(data, "account", a, None, None);
    let base = format!("/{}/{part}/{a}", devs[0]);
    let (status, _, body) = signed_request(
        &signer,
        account,
        "PUT",
        &base,
        &[("x-timestamp", &t())],
        b"",
    )
    .unwrap();
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let row = |name: &str, count: &str, bytes: &str| {
        let put = t();
        signed_request(
            &signer,
            account,
            "PUT",
            &format!("{base}/{name}"),
            &[
                ("x-timestamp", put.as_str()),
                ("x-put-timestamp", put.as_str()),
                ("x-delete-timestamp", "0"),
                ("x-object-count", count),
                ("x-bytes-used", bytes),
            ],
            b"",
        )
        .unwrap()
        .0
    };
    let near_max = (i64::MAX - 1).to_string();
    for (count, bytes) in [
        (near_max.as_str(), "1"),
        ("1", near_max.as_str()),
        ("-1", "0"),
        ("0", "-5"),
    ] {
        assert_eq!(
            row("refused", count, bytes),
            400,
            "count {count} bytes {bytes}"
        );
    }
    for i in 0..10 {
        assert_eq!(row(&format!("c{i}"), &big, &big), 201);
    }
    let (status, h, _) = signed_request(&signer, account, "HEAD", &base, &[], b"").unwrap();
    assert_eq!(status, 204, "account HEAD {h:?}");
    let max = i64::MAX.to_string();
    assert_eq!(header(&h, "x-account-object-count"), Some(max.as_str()));
    assert_eq!(header(&h, "x-account-bytes-used"), Some(max.as_str()));
    assert_eq!(header(&h, "x-account-container-count"), Some("10"));
    let (status, _, body) = signed_request(
        &signer,
        account,
        "GET",
        &format!("{base}?format=json"),
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(status, 200);
    let listing: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(listing.as_array().map(Vec::len), Some(10));

    // The container server.
    let container = server_addr(data, "container");
    let (part, devs) = place(data, "container", a, Some("big"), None);
    let base = format!("/{}/{part}/{a}/big", devs[0]);
    let (status, _, _) = signed_request(
        &signer,
        container,
        "PUT",
        &base,
        &[("x-timestamp", &t())],
        b"",
    )
    .unwrap();
    assert_eq!(status, 201);
    let object_row = |name: &str, size: &str| {
        signed_request(
            &signer,
            container,
            "PUT",
            &format!("{base}/{name}"),
            &[
                ("x-timestamp", t().as_str()),
                ("x-size", size),
                ("x-content-type", "application/octet-stream"),
                ("x-etag", "d41d8cd98f00b204e9800998ecf8427e"),
            ],
            b"",
        )
        .unwrap()
        .0
    };
    for size in ["-1", near_max.as_str(), "-9223372036854775808"] {
        assert_eq!(object_row("refused", size), 400, "x-size {size}");
    }
    for i in 0..10 {
        assert_eq!(object_row(&format!("o{i}"), &big), 201);
    }
    let (status, h, _) = signed_request(&signer, container, "HEAD", &base, &[], b"").unwrap();
    assert_eq!(status, 204, "container HEAD {h:?}");
    assert_eq!(header(&h, "x-container-object-count"), Some("10"));
    assert_eq!(header(&h, "x-container-bytes-used"), Some(max.as_str()));
    // Overwriting and deleting rows keeps the totals sane.
    assert_eq!(object_row("o0", "5"), 201);
    let (status, _, _) = signed_request(
        &signer,
        container,
        "DELETE",
        &format!("{base}/o1"),
        &[("x-timestamp", &t())],
        b"",
    )
    .unwrap();
    assert_eq!(status, 204);
    let (status, h, _) = signed_request(&signer, container, "HEAD", &base, &[], b"").unwrap();
    assert_eq!(status, 204);
    assert_eq!(header(&h, "x-container-object-count"), Some("9"));
    let bytes: i64 = header(&h, "x-container-bytes-used")
        .unwrap()
        .parse()
        .unwrap();
    assert!(bytes >= 0, "{bytes}");
    drop(aio);
}

/// Item 9: a PUT that meets an object with a newer timestamp on some or
/// all of its nodes answers 202, as Swift's proxy does
/// (`_check_failure_put_connections`), and leaves the newer object in
/// place; a DELETE that loses the race answers 409, also as Swift's does
/// (its 409s go through `best_response`).
#[test]
fn put_losing_a_timestamp_race_answers_202_as_swift() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let aio = start_aio(data);
    let signer = aio_backend_auth(data);
    let proxy = aio.addr();
    let (tok, acct) = login(proxy);
    assert!(req(proxy, &tok, "PUT", &format!("{acct}/c"), &[], b"").0 < 300);
    let a = acct.trim_start_matches("/v1/");
    let object = server_addr(data, "object");
    let future = ts(now_secs() + 3600.0);
    // Stores `body` with a timestamp an hour ahead on the first `n`
    // primaries of `name`, straight to the object server.
    let newer_on = |name: &str, n: usize, body: &[u8]| {
        let (part, devs) = place(data, "object", a, Some("c"), Some(name));
        for dev in devs.iter().take(n) {
            let (status, _, _) = signed_request(
                &signer,
                object,
                "PUT",
                &format!("/{dev}/{part}/{a}/c/{name}"),
                &[
                    ("x-timestamp", future.as_str()),
                    ("content-type", "text/plain"),
                    (bh::STORAGE_POLICY_INDEX, "0"),
                ],
                body,
            )
            .unwrap();
            assert_eq!(status, 201);
        }
    };

    // Newer on every node.
    newer_on("all", 3, b"newer");
    let (status, h, _) = req(proxy, &tok, "PUT", &format!("{acct}/c/all"), &[], b"older");
    assert_eq!(status, 202, "{h:?}");
    assert_eq!(header(&h, "etag"), None);
    let (status, _, body) = req(proxy, &tok, "GET", &format!("{acct}/c/all"), &[], b"");
    assert_eq!((status, &body[..]), (200, &b"newer"[..]));

    // Newer on one node only: the other two take the PUT, still 202.
    newer_on("one", 1, b"newer");
    let (status, _, _) = req(proxy, &tok, "PUT", &format!("{acct}/c/one"), &[], b"older");
    assert_eq!(status, 202);

    // A DELETE older than every copy: Swift's best_response of 409s.
    let (status, _, _) = req(proxy, &tok, "DELETE", &format!("{acct}/c/all"), &[], b"");
    assert_eq!(status, 409);
    drop(aio);
}
