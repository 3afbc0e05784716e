//! Memory per request stays at a few MiB whatever the object size: the
//! server's resident memory is sampled while a 128 MiB object is PUT (chunked,
//! as fast as the client can send) and read back by a client that reads slowly.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::object_common::*;

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Samples the RSS of `pid` until `stop`; returns the peak (KiB).
fn sampler(pid: u32, stop: Arc<AtomicBool>, peak: Arc<AtomicU64>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(5));
        }
    })
}

#[test]
fn big_objects_stream_in_bounded_memory() {
    const SIZE: usize = 128 << 20;
    let d = tempfile::tempdir().unwrap();
    let s = start(d.path(), "");
    let pid = s.proc.pid();
    let base = rss_kib(pid);
    let (stop, peak) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let h = sampler(pid, stop.clone(), peak.clone());

    let chunk = bytes(9, 1 << 20);
    let mut md5 = md5::Context::new();
    let mut c = TcpStream::connect(s.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    c.write_all(format!("PUT /sda/1/a/c/big HTTP/1.1\r\nHost: x\r\nX-Timestamp: {}\r\nContent-Type: a/b\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", ts(0.0)).as_bytes()).unwrap();
    for _ in 0..SIZE / chunk.len() {
        c.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .unwrap();
        c.write_all(&chunk).unwrap();
        c.write_all(b"\r\n").unwrap();
        md5.consume(&chunk);
    }
    c.write_all(b"0\r\n\r\n").unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    let want = format!("{:x}", md5.finalize());
    assert!(resp.contains(&want), "{resp}");
    let put_peak = peak.swap(0, Ordering::Relaxed);

    // A slow reader: the server must not read ahead of it.
    let mut c = TcpStream::connect(s.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    c.write_all(b"GET /sda/1/a/c/big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0usize;
    let mut check = md5::Context::new();
    let mut head_done = false;
    loop {
        let n = c.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        let mut data = &buf[..n];
        if !head_done {
            let end = data.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            assert!(data.starts_with(b"HTTP/1.1 200"));
            data = &data[end + 4..];
            head_done = true;
        }
        check.consume(data);
        got += data.len();
        if got < 32 << 20 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    assert_eq!(got, SIZE);
    assert_eq!(format!("{:x}", check.finalize()), want);
    let get_peak = peak.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    h.join().unwrap();
    eprintln!("RSS: base {base} KiB, peak during PUT {put_peak} KiB, during GET {get_peak} KiB");
    // Bounded: a few MiB of buffers above the idle process, not the object.
    for p in [put_peak, get_peak] {
        assert!(
            p < base + 32 * 1024,
            "RSS grew from {base} KiB to {p} KiB for a 128 MiB object"
        );
    }
}
