//! The proxy's memory stays bounded while 4 clients each upload and then
//! download a 2 GiB object: bodies stream through bounded channels and are
//! never buffered whole. The storage side is a minimal stand-in speaking
//! Swift's backend protocol (it discards PUT bodies and generates GET
//! bodies), so only the proxy's own memory and CPU are exercised.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;

use crate::harness;
use crate::proxy_cluster::{start_proxy, token, SUFFIX};

const SIZE: u64 = 2 << 30;

/// Object size (a smaller one for quick local experiments).
fn size() -> u64 {
    std::env::var("SWIRL_PROXY_MEM_TEST_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(|m| m << 20)
        .unwrap_or(SIZE)
}
const CLIENTS: usize = 4;

fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

/// Serves one connection of backend requests (keep-alive).
fn serve_conn(stream: TcpStream) {
    let mut r = BufReader::new(stream.try_clone().unwrap());
    let mut w = stream;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut length: u64 = 0;
        let mut chunked = false;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap_or((h, ""));
            match k.to_ascii_lowercase().as_str() {
                "content-length" => length = v.trim().parse().unwrap_or(0),
                "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
                _ => {}
            }
        }
        assert!(!chunked, "the proxy forwards the client's Content-Length");
        let mut left = length;
        let mut buf = vec![0u8; 256 * 1024];
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = r.read(&mut buf[..want]).unwrap_or(0);
            if n == 0 {
                return;
            }
            left -= n as u64;
        }
        let segs = path.split('/').count(); // /dev/part/a[/c[/o]]
        let resp_ok = match (method.as_str(), segs) {
            ("HEAD", 4) | ("HEAD", 5) => {
                w.write_all(b"HTTP/1.1 204 No Content\r\nX-Backend-Storage-Policy-Index: 0\r\nContent-Length: 0\r\n\r\n")
            }
            ("PUT", 4) | ("PUT", 5) => w.write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
            ("PUT", 6) => w.write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
            ("GET", 6) => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: \"fake\"\r\nX-Timestamp: 1.00000\r\n\r\n", size());
                if w.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let block: Vec<u8> = (0..251 * 1024u64).map(pattern).collect();
                let mut sent = 0u64;
                while sent < size() {
                    let n = (size() - sent).min(block.len() as u64) as usize;
                    if w.write_all(&block[..n]).is_err() {
                        return;
                    }
                    sent += n as u64;
                }
                Ok(())
            }
            _ => w.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
        };
        if resp_ok.is_err() {
            return;
        }
    }
}

fn fake_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || serve_conn(s));
        }
    });
    port
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn proxy_memory_bounded_with_four_2gib_transfers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let obj: Vec<u16> = (0..3).map(|_| fake_server()).collect();
    let db = fake_server();
    let devs = |ports: &[u16]| -> serde_json::Value {
        ports
            .iter()
            .enumerate()
            .map(|(n, p)| serde_json::json!({"port": p, "device": format!("d{n}"), "zone": n + 1}))
            .collect()
    };
    let spec = serde_json::json!({"object": devs(&obj), "container": devs(&[db, db, db]), "account": devs(&[db, db, db])});
    let out = Command::new("/usr/bin/python3")
        .arg(harness::py_dir().join("proxy_make_rings.py"))
        .arg(d)
        .arg(spec.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let proxy = start_proxy(d, d, SUFFIX, "");
    let addr = proxy.addr();
    let (tok, acct) = token(addr, "test:tester", "testing");
    let (s, _, _) = harness::http_request(
        addr,
        "PUT",
        &format!("{acct}/big"),
        &[("X-Auth-Token", &tok)],
        b"",
    )
    .unwrap();
    assert_eq!(s, 201);
    let start = std::time::Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (tok, acct) = (tok.clone(), acct.clone());
            std::thread::spawn(move || {
                // Upload.
                let mut s = TcpStream::connect(addr).unwrap();
                write!(s, "PUT {acct}/big/o{i} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {tok}\r\nContent-Length: {}\r\n\r\n", size()).unwrap();
                let block: Vec<u8> = (0..251 * 1024u64).map(pattern).collect();
                let mut sent = 0u64;
                while sent < size() {
                    let n = (size() - sent).min(block.len() as u64) as usize;
                    s.write_all(&block[..n]).unwrap();
                    sent += n as u64;
                }
                let mut r = BufReader::new(s);
                let mut status = String::new();
                r.read_line(&mut status).unwrap();
                assert!(status.contains(" 201 "), "PUT: {status}");
                // Download and check every byte.
                let mut s = TcpStream::connect(addr).unwrap();
                write!(s, "GET {acct}/big/o{i} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {tok}\r\nConnection: close\r\n\r\n").unwrap();
                let mut r = BufReader::new(s);
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                assert!(line.contains(" 200 "), "GET: {line}");
                loop {
                    line.clear();
                    r.read_line(&mut line).unwrap();
                    if line.trim().is_empty() {
                        break;
                    }
                }
                let mut got = 0u64;
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let n = r.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    for (k, b) in buf[..n].iter().enumerate().step_by(4093) {
                        assert_eq!(*b, pattern(got + k as u64));
                    }
                    got += n as u64;
                }
                assert_eq!(got, size());
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let peak = peak_rss_kib(proxy.pid());
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", proxy.pid())).unwrap();
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let cpu = (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0;
    eprintln!("proxy CPU {cpu:.1} s");
    eprintln!(
        "proxy peak RSS {} MiB after {CLIENTS} x 2 GiB PUT (3 replicas) + GET in {secs:.1} s",
        peak / 1024
    );
    assert!(peak < 100 * 1024, "proxy peak RSS {peak} KiB");
}
