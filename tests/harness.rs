//! Shared helpers for integration tests: run the swirl binary, start server
//! processes and wait for their readiness line, pick free ports, start Swift's
//! own servers from Debian's packages, and clean up on drop.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Path of the `swirl` binary cargo built for this test run.
pub fn swirl_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_swirl"))
}

/// Runs `swirl <args>` to completion in `dir`.
pub fn swirl(dir: &Path, args: &[&str]) -> Output {
    Command::new(swirl_bin())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run swirl")
}

/// Runs Swift's python (/usr/bin/python3, where Debian's swift package lives).
pub fn swift_python(script: &Path, args: &[&str]) -> Output {
    Command::new("/usr/bin/python3")
        .arg(script)
        .args(args)
        .output()
        .expect("run /usr/bin/python3")
}

/// Directory of the python helper scripts (tests/py).
pub fn py_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tests")
        .join("py")
}

/// A port that was free a moment ago (for servers, like Swift's, that cannot
/// bind port 0, or whose port goes into a ring before they start). Taken
/// below the kernel's ephemeral range (32768 and up), so that no outgoing
/// connection of the busy test machine takes it before the server binds it;
/// tests of this process take turns through the range.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let base = std::process::id().wrapping_mul(7_919) % SPAN;
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (LOW + (base + n) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 0");
    l.local_addr().expect("addr").port()
}

/// A running server process, killed (SIGKILL) and reaped on drop.
pub struct Proc {
    pub child: Child,
    pub name: String,
    /// The address from its `READY <role> <addr>` line (swirl servers).
    pub addr: Option<SocketAddr>,
    /// Later READY lines (`<role> <addr>`), as they arrive.
    // A Mutex only so that a Proc is Sync (shared by test threads).
    ready_rx: Option<std::sync::Mutex<mpsc::Receiver<String>>>,
    ready_seen: Vec<String>,
}

impl Proc {
    /// Starts `swirl <args>` and waits (up to `timeout`) for its `READY <role> <addr>` line.
    pub fn swirl_server(name: &str, args: &[&str], timeout: Duration) -> Proc {
        let mut cmd = Command::new(swirl_bin());
        cmd.args(args).stderr(Stdio::inherit());
        Proc::spawn_ready(name, cmd, timeout)
    }

    /// Starts `cmd` (a swirl server, possibly behind a launcher such as `ip
    /// netns exec` that execs it) and waits up to `timeout` for its `READY
    /// <role> <addr>` line. Its stderr goes where `cmd` says.
    pub fn spawn_ready(name: &str, cmd: Command, timeout: Duration) -> Proc {
        Proc::spawn_ready_roles(name, cmd, &[], timeout)
    }

    /// As [`spawn_ready`](Self::spawn_ready), waiting for a READY line of
    /// every role in `roles` (any one line when empty); the address kept is
    /// the first line's.
    pub fn spawn_ready_roles(
        name: &str,
        mut cmd: Command,
        roles: &[&str],
        timeout: Duration,
    ) -> Proc {
        // Servers log every request at info; tests keep warnings only unless
        // SWIRL_TEST_LOG asks for more (e.g. SWIRL_TEST_LOG=info).
        let log = std::env::var("SWIRL_TEST_LOG").unwrap_or_else(|_| "warn".to_string());
        let mut child = cmd
            .env("RUST_LOG", log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            loop {
                line.clear();
                match r.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if let Some(rest) = line.trim().strip_prefix("READY ") {
                            let _ = tx.send(rest.to_string());
                        }
                    }
                }
            }
        });
        let mut p = Proc {
            child,
            name: name.to_string(),
            addr: None,
            ready_rx: None,
            ready_seen: Vec::new(),
        };
        let deadline = std::time::Instant::now() + timeout;
        let mut missing: Vec<&str> = roles.to_vec();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(rest) => {
                    p.ready_seen.push(rest.clone());
                    let mut words = rest.split_whitespace();
                    let role = words.next().unwrap_or("");
                    if p.addr.is_none() {
                        let addr = words.last().unwrap_or("");
                        p.addr = addr.parse().ok();
                        assert!(p.addr.is_some(), "{name}: bad READY line {rest:?}");
                    }
                    missing.retain(|r| *r != role);
                    if missing.is_empty() {
                        // Later READY lines stay readable (ready_addr).
                        p.ready_rx = Some(std::sync::Mutex::new(rx));
                        return p;
                    }
                }
                Err(_) => {
                    let status = p.child.try_wait().ok().flatten();
                    panic!(
                        "{name}: no READY line {missing:?} within {timeout:?} (exit status {status:?})"
                    );
                }
            }
        }
    }

    /// The address of a later `READY <role> <addr>` line (`swirl aio` prints
    /// one per listener after the proxy's), waiting for it if need be.
    pub fn ready_addr(&mut self, role: &str) -> SocketAddr {
        let a = self.ready_text(role);
        a.parse()
            .unwrap_or_else(|_| panic!("{}: READY {role} {a:?} is no address", self.name))
    }

    /// What follows the role on a later `READY <role> ...` line (an address,
    /// or a Unix socket's path), waiting for it if need be.
    pub fn ready_text(&mut self, role: &str) -> String {
        let find = |lines: &[String]| {
            lines.iter().find_map(|l| {
                let (r, a) = l.split_once(' ')?;
                (r == role).then(|| a.trim().to_string())
            })
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(a) = find(&self.ready_seen) {
                return a;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let rx = self.ready_rx.as_mut().expect("a swirl server");
            let rx = rx.get_mut().expect("ready lines");
            match rx.recv_timeout(left) {
                Ok(line) => self.ready_seen.push(line),
                Err(_) => panic!("{}: no READY {role} line", self.name),
            }
        }
    }

    /// Starts an arbitrary command and waits until `ready_port` answers GET /healthcheck.
    pub fn external(name: &str, cmd: &mut Command, ready_port: u16, timeout: Duration) -> Proc {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let mut p = Proc {
            child,
            name: name.to_string(),
            addr: Some(SocketAddr::from(([127, 0, 0, 1], ready_port))),
            ready_rx: None,
            ready_seen: Vec::new(),
        };
        if !wait_healthcheck(p.addr.expect("addr"), timeout) {
            let status = p.child.try_wait().ok().flatten();
            panic!("{name}: not healthy within {timeout:?} (exit status {status:?})");
        }
        p
    }

    /// Starts `cmd` and polls `ready` until it says yes (a server whose
    /// readiness is an answer of its own, such as Keystone's `/v3`).
    pub fn polled(
        name: &str,
        cmd: &mut Command,
        addr: SocketAddr,
        ready: impl Fn() -> bool,
        timeout: Duration,
    ) -> Proc {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let mut p = Proc {
            child,
            name: name.to_string(),
            addr: Some(addr),
            ready_rx: None,
            ready_seen: Vec::new(),
        };
        let deadline = Instant::now() + timeout;
        let mut backoff = Duration::from_millis(20);
        while !ready() {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("{name}: exited before it was ready ({status})");
            }
            assert!(
                Instant::now() < deadline,
                "{name}: not ready within {timeout:?}"
            );
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(200));
        }
        p
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("server address")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// kill -9 and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Starts `swirl aio --data <data> --bind 127.0.0.1:0` (the volume gateway on
/// free ports too) and waits for the proxy's READY line (not for the
/// healthcheck: a TLS proxy does not answer plain HTTP). The gateway's
/// addresses: `ready_addr("volume-api")`, `ready_addr("volume-nbd")`.
pub fn aio_ready(data: &Path) -> Proc {
    aio_ready_with(data, &[])
}

/// As [`aio_ready`], with `extra` arguments for aio.
pub fn aio_ready_with(data: &Path, extra: &[&str]) -> Proc {
    let data = data.to_str().unwrap();
    let mut args = vec![
        "aio",
        "--data",
        data,
        "--bind",
        "127.0.0.1:0",
        "--volume-api",
        "127.0.0.1:0",
        "--volume-nbd",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    Proc::swirl_server("aio", &args, Duration::from_secs(60))
}

/// As [`aio_ready`], then waits for the proxy's healthcheck.
pub fn start_aio(data: &Path) -> Proc {
    let p = aio_ready(data);
    assert!(wait_healthcheck(p.addr(), Duration::from_secs(30)));
    p
}

/// Polls `GET /healthcheck` until it answers 200 or `timeout` passes.
pub fn wait_healthcheck(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut backoff = Duration::from_millis(10);
    while Instant::now() < deadline {
        if let Ok((status, _, _)) = http_request(addr, "GET", "/healthcheck", &[], b"") {
            if status == 200 {
                return true;
            }
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_millis(200));
    }
    false
}

/// Status, headers (lower-case names) and body of a raw HTTP response.
pub type RawResponse = (u16, Vec<(String, String)>, Vec<u8>);

/// A minimal blocking HTTP/1.1 request (Connection: close) for tests that need
/// exact control of what goes on the wire. Returns status, headers (lower-case
/// names), body.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<RawResponse> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    http_request_on(s, &addr.to_string(), method, path, headers, body)
}

/// As [`http_request`], on a connected stream (e.g. one opened inside a
/// network namespace); `host` is the Host header.
pub fn http_request_on(
    mut s: TcpStream,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<RawResponse> {
    use std::io::Write;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    let mut has_len = false;
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding") {
            has_len = true;
        }
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_len && (!body.is_empty() || matches!(method, "PUT" | "POST")) {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw, method == "HEAD")
}

/// Sends `request` (raw bytes, which should say `Connection: close`), reads
/// until the server closes, and parses the answer: for requests no client
/// library would send (bytes that are not UTF-8 in a header).
pub fn raw_exchange(addr: SocketAddr, request: &[u8]) -> std::io::Result<RawResponse> {
    use std::io::Write;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.write_all(request)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw, request.starts_with(b"HEAD "))
}

/// Parses a raw HTTP/1.1 answer (`head`: to a HEAD, so no body).
pub fn parse_response(mut raw: &[u8], head: bool) -> std::io::Result<RawResponse> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    // Interim answers (100 Continue to an Expect) come before the real one.
    while raw.starts_with(b"HTTP/1.1 1") {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| bad("no header end"))?;
        raw = &raw[end + 4..];
    }
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head_text = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if head {
        body.clear();
    } else if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    }
    Ok((status, headers, body))
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// The value of header `name` (lower-case) in a parsed response.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The token and storage path (`/v1/AUTH_x`) of a tempauth answer's headers.
pub fn token_and_path(h: &[(String, String)]) -> (String, String) {
    let tok = header(h, "x-auth-token").expect("x-auth-token").to_string();
    let url = header(h, "x-storage-url").expect("x-storage-url");
    let path = url
        .splitn(4, '/')
        .nth(3)
        .map(|p| format!("/{p}"))
        .expect("storage path");
    (tok, path)
}

/// Deterministic pseudo-random bytes (xorshift), different for each `seed`.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Flips bits of the byte at `at` of the file at `path` (a rotten disk).
pub fn flip_byte(path: &Path, at: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open for flipping");
    let mut b = [0u8];
    f.read_exact_at(&mut b, at).expect("read byte");
    f.write_all_at(&[b[0] ^ 0x5a], at).expect("write byte");
}

/// Writes a swift.conf with the given hash path suffix (and prefix) into `dir`
/// and returns its path: for Swift's tools and servers, so /etc/swift is never written.
pub fn write_swift_conf(dir: &Path, prefix: &str, suffix: &str) -> PathBuf {
    let p = dir.join("swift.conf");
    let text = format!(
        "[swift-hash]\nswift_hash_path_prefix = {prefix}\nswift_hash_path_suffix = {suffix}\n\n\
         [storage-policy:0]\nname = gold\ndefault = yes\n"
    );
    std::fs::write(&p, text).expect("write swift.conf");
    p
}

/// Starts one of Swift's own servers (`swift-object-server`, ...) from Debian's
/// packages with `conf`, using `swift_conf` instead of /etc/swift/swift.conf, and
/// waits for /healthcheck on `port`.
pub fn swift_server(name: &str, server: &str, conf: &Path, swift_conf: &Path, port: u16) -> Proc {
    let launcher = py_dir().join("swift_launch.py");
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(launcher)
        .arg(swift_conf)
        .arg(format!("/usr/bin/{server}"))
        .arg(conf);
    // Importing Swift takes seconds; on a loaded 2-core machine, far more.
    Proc::external(name, &mut cmd, port, Duration::from_secs(120))
}

#[test]
fn binary_exists() {
    assert!(swirl_bin().exists());
}

/// What signs backend requests as a node of the aio in `data` does (its
/// `etc/tls/node/backend.key`), for tests that talk to its storage
/// servers directly.
pub fn aio_backend_auth(data: &Path) -> swirl_common::backend_auth::BackendAuth {
    swirl_common::backend_auth::BackendAuthConfig::signed(
        data.join("etc/tls/node")
            .join(swirl_common::tls::issue::BACKEND_KEY),
    )
    .load()
    .unwrap()
}

/// The headers of a backend request with its X-Backend-Auth added
/// (values as raw bytes, so that tests can sign bytes that are not text).
pub fn signed_headers(
    auth: &swirl_common::backend_auth::BackendAuth,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for (k, v) in headers {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_bytes(v).unwrap(),
        );
    }
    let method: http::Method = method.parse().unwrap();
    let uri: http::Uri = path.parse().unwrap();
    auth.sign_headers(&method, &uri, &mut h);
    h
}

/// [`http_request`] signed with `auth`.
pub fn signed_request(
    auth: &swirl_common::backend_auth::BackendAuth,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<RawResponse> {
    let text = signed_text_headers(auth, method, path, headers, body);
    let refs: Vec<(&str, &str)> = text.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    http_request(addr, method, path, &refs, body)
}

/// The headers of an [`http_request`] with X-Backend-Auth added:
/// Content-Length is set first where `http_request` would add it, so that
/// the server sees what was signed.
pub fn signed_text_headers(
    auth: &swirl_common::backend_auth::BackendAuth,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<(String, String)> {
    let len = body.len().to_string();
    let mut all: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    let framed = headers.iter().any(|(k, _)| {
        k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
    });
    if !framed && (!body.is_empty() || matches!(method, "PUT" | "POST")) {
        all.push(("content-length", len.as_bytes()));
    }
    let h = signed_headers(auth, method, path, &all);
    h.iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
        .collect()
}
