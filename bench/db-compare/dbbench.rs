//! Load client for bench/db-compare (std only, built with `rustc -O`): speaks
//! Swift's backend container API over keep-alive HTTP/1.1 to any container
//! server, Swift's or swirl's.
//!
//!   dbbench updates ADDR PATH N CONC        PUT N object rows under PATH/, CONC at once; prints rows/s
//!   dbbench populate ADDR REPL_PATH N BATCH  REPLICATE merge_items N rows ("dddd/nnnnnn") in BATCH-row requests
//!   dbbench list ADDR PATH_QS REPS           GET PATH_QS REPS times; prints median ms, rows, bytes

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Conn {
    fn new(addr: &str) -> Conn {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).ok();
        Conn { r: BufReader::new(s.try_clone().expect("clone")), w: s }
    }

    fn call(&mut self, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, Vec<u8>) {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {}\r\n", body.len());
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.w.write_all(req.as_bytes()).expect("write");
        self.w.write_all(body).expect("write body");
        let mut line = String::new();
        self.r.read_line(&mut line).expect("status");
        let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status code");
        let mut len = 0usize;
        let mut chunked = false;
        loop {
            line.clear();
            self.r.read_line(&mut line).expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                if k == "content-length" {
                    len = v.trim().parse().unwrap_or(0);
                } else if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                    chunked = true;
                }
            }
        }
        let mut out = Vec::new();
        if method == "HEAD" || status == 204 || status == 304 {
            return (status, out);
        }
        if chunked {
            loop {
                line.clear();
                self.r.read_line(&mut line).expect("chunk size");
                let n = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16).expect("hex");
                let mut buf = vec![0; n + 2];
                self.r.read_exact(&mut buf).expect("chunk");
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
        } else {
            out.resize(len, 0);
            self.r.read_exact(&mut out).expect("body");
        }
        (status, out)
    }
}

fn updates(addr: &str, path: &str, n: usize, conc: usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let hs: Vec<_> = (0..conc)
        .map(|_| {
            let (addr, path, next) = (addr.to_string(), path.to_string(), next.clone());
            std::thread::spawn(move || {
                let mut c = Conn::new(&addr);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    let ts = format!("{}.{:05}", 1_700_000_000 + i / 100_000, i % 100_000);
                    let (st, _) = c.call(
                        "PUT",
                        &format!("{path}/obj-{i:08}"),
                        &[
                            ("X-Timestamp", ts),
                            ("X-Size", "4096".into()),
                            ("X-Etag", "d41d8cd98f00b204e9800998ecf8427e".into()),
                            ("X-Content-Type", "application/octet-stream".into()),
                        ],
                        b"",
                    );
                    assert_eq!(st, 201, "row update failed");
                }
            })
        })
        .collect();
    for h in hs {
        h.join().expect("worker");
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{:.0} rows/s ({n} rows, concurrency {conc}, {secs:.2} s)", n as f64 / secs);
}

fn populate(addr: &str, repl_path: &str, n: usize, batch: usize) {
    let mut c = Conn::new(addr);
    let start = Instant::now();
    let mut i = 0;
    while i < n {
        let end = (i + batch).min(n);
        let mut body = String::from("[\"merge_items\", [");
        for j in i..end {
            if j > i {
                body.push_str(", ");
            }
            body.push_str(&format!(
                "{{\"ROWID\": {}, \"name\": \"{:04}/{:06}\", \"created_at\": \"1690000000.00000\", \"size\": 4096, \
                 \"content_type\": \"application/octet-stream\", \"etag\": \"d41d8cd98f00b204e9800998ecf8427e\", \
                 \"deleted\": 0, \"storage_policy_index\": 0}}",
                j + 1,
                j / 100,
                j
            ));
        }
        body.push_str("], \"bench-source\"]");
        let (st, b) = c.call("REPLICATE", repl_path, &[], body.as_bytes());
        assert!(st == 202 || st == 204, "merge_items: {st} {}", String::from_utf8_lossy(&b));
        i = end;
    }
    println!("{n} rows merged in {:.1} s", start.elapsed().as_secs_f64());
}

fn list(addr: &str, path: &str, reps: usize) {
    let mut c = Conn::new(addr);
    let mut times = Vec::new();
    let mut rows = 0;
    let mut bytes = 0;
    for _ in 0..reps {
        let t = Instant::now();
        let (st, b) = c.call("GET", path, &[], b"");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(st == 200 || st == 204, "listing: {st}");
        rows = b.iter().filter(|&&x| x == b'\n').count();
        bytes = b.len();
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    println!("{:.1} ms median ({} rows, {} bytes, {reps} runs)", times[times.len() / 2], rows, bytes);
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let arg = |i: usize| a.get(i).cloned().unwrap_or_else(|| panic!("missing argument {i}"));
    let num = |i: usize| arg(i).parse::<usize>().expect("number");
    match a.get(1).map(String::as_str) {
        Some("updates") => updates(&arg(2), &arg(3), num(4), num(5)),
        Some("populate") => populate(&arg(2), &arg(3), num(4), num(5)),
        Some("list") => list(&arg(2), &arg(3), num(4)),
        _ => {
            eprintln!("usage: dbbench updates|populate|list ...");
            std::process::exit(2);
        }
    }
}
