//! Load generator for Swift's *backend* object API (what `bench/object-compare`
//! runs against swirl's and Swift's object servers). std only, so the script
//! builds it with plain `rustc -O`: N threads, one keep-alive HTTP/1.1
//! connection each, PUT (with X-Timestamp, as a proxy sends) or GET of
//! `/<dev>/<part>/a/c/<prefix><i>`.
//!
//! usage: object-loadgen <host:port> put|get <size> <concurrency> <count> <prefix> [partitions]
//! prints one JSON line: {"op":..,"ok":..,"errors":..,"secs":..,"ops_per_s":..,"mb_per_s":..}

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

fn read_response(r: &mut BufReader<TcpStream>, sink: &mut [u8]) -> std::io::Result<(u16, u64)> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut len = 0u64;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("eof in headers"));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut left = len;
    while left > 0 {
        let n = (left as usize).min(sink.len());
        r.read_exact(&mut sink[..n])?;
        left -= n as u64;
    }
    Ok((status, len))
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 7 {
        eprintln!("usage: object-loadgen <host:port> put|get <size> <concurrency> <count> <prefix> [partitions]");
        std::process::exit(2);
    }
    let addr = a[1].clone();
    let op = a[2].clone();
    let size: usize = a[3].parse().expect("size");
    let conc: usize = a[4].parse().expect("concurrency");
    let count: u64 = a[5].parse().expect("count");
    let prefix = a[6].clone();
    let parts: u64 = a.get(7).map(|s| s.parse().expect("partitions")).unwrap_or(64);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let ts = format!("{:016.5}", now);
    let chunk: Arc<Vec<u8>> = Arc::new((0..(1usize << 20).min(size.max(1))).map(|i| (i * 31 % 251) as u8).collect());
    let next = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut hs = Vec::new();
    for _ in 0..conc {
        let (addr, op, prefix, ts, chunk) = (addr.clone(), op.clone(), prefix.clone(), ts.clone(), chunk.clone());
        let (next, ok, errors, bytes) = (next.clone(), ok.clone(), errors.clone(), bytes.clone());
        hs.push(std::thread::spawn(move || {
            let mut sink = vec![0u8; 1 << 20];
            let mut conn: Option<(TcpStream, BufReader<TcpStream>)> = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return;
                }
                if conn.is_none() {
                    let s = TcpStream::connect(&addr).expect("connect");
                    s.set_nodelay(true).ok();
                    let r = BufReader::with_capacity(1 << 16, s.try_clone().expect("clone"));
                    conn = Some((s, r));
                }
                let Some((w, r)) = conn.as_mut() else { return };
                let path = format!("/sda/{}/a/c/{prefix}{i:08}", i % parts);
                let res = if op == "put" {
                    let head = format!(
                        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nX-Timestamp: {ts}\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n"
                    );
                    let mut go = || -> std::io::Result<(u16, u64)> {
                        w.write_all(head.as_bytes())?;
                        let mut left = size;
                        while left > 0 {
                            let n = left.min(chunk.len());
                            w.write_all(&chunk[..n])?;
                            left -= n;
                        }
                        read_response(r, &mut sink)
                    };
                    go()
                } else {
                    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
                    w.write_all(head.as_bytes()).and_then(|_| read_response(r, &mut sink))
                };
                match res {
                    Ok((st, len)) if (200..300).contains(&st) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                        bytes.fetch_add(if op == "put" { size as u64 } else { len }, Ordering::Relaxed);
                    }
                    Ok(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        conn = None;
                    }
                }
            }
        }));
    }
    for h in hs {
        h.join().expect("worker");
    }
    let secs = start.elapsed().as_secs_f64();
    let okn = ok.load(Ordering::Relaxed);
    println!(
        "{{\"op\":\"{op}\",\"size\":{size},\"concurrency\":{conc},\"ok\":{okn},\"errors\":{},\"secs\":{secs:.3},\"ops_per_s\":{:.1},\"mb_per_s\":{:.1}}}",
        errors.load(Ordering::Relaxed),
        okn as f64 / secs,
        bytes.load(Ordering::Relaxed) as f64 / secs / 1e6
    );
}
