//! No corrupt byte reaches a client: one replica of an 8 MiB object has a
//! byte flipped (in the middle of a 64 KiB block, or on a block's first
//! byte); the object server checks each block before sending it, ends the
//! body after the last good byte and quarantines the file, and the proxy
//! continues from another replica at that byte. Whole GETs, a range over the
//! bad byte and a multi-range GET all return exactly the stored bytes, with
//! the right status and length. An object written before block digests (no
//! digest area in its `.data`) still reads, whole and in ranges.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::{flip_byte, header, http_request};
use crate::object_common::walk;
use crate::proxy_cluster::{object_nodes, ProxyCluster, Storage, SUFFIX};
use crate::proxy_faults::with_container;

const SIZE: usize = 8 << 20;
const BLOCK: u64 = 64 * 1024;

fn body(seed: u32) -> Vec<u8> {
    (0..SIZE as u32)
        .map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 17) as u8)
        .collect()
}

/// The hash directory of `/AUTH_test/<container>/<object>` on object server `n`.
fn hash_dir(c: &ProxyCluster, n: usize, part: u32, container: &str, object: &str) -> PathBuf {
    let cfg = swirl_ring::hash::HashPathConfig::new("", SUFFIX);
    let hash: String =
        swirl_ring::hash::hash_path(&cfg, "AUTH_test", Some(container), Some(object))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
    c.dir.path().join(format!(
        "object{n}/d{n}/objects/{part}/{}/{hash}",
        &hash[29..]
    ))
}

fn data_file(dir: &Path) -> PathBuf {
    let datas: Vec<PathBuf> = walk(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "data"))
        .collect();
    assert_eq!(datas.len(), 1, "{}: {datas:?}", dir.display());
    datas[0].clone()
}

/// The parts of a `multipart/byteranges` body: (first, last, bytes).
fn parts(content_type: &str, body: &[u8]) -> Vec<(u64, u64, Vec<u8>)> {
    let boundary = content_type.split("boundary=").nth(1).unwrap().trim();
    let delim = format!("--{boundary}");
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        assert!(rest.starts_with(delim.as_bytes()), "no delimiter");
        rest = &rest[delim.len()..];
        if rest == b"--" {
            return out;
        }
        let end = rest.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&rest[..end]).to_string();
        let cr = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Range: bytes "))
            .unwrap();
        let (span, _) = cr.split_once('/').unwrap();
        let (a, b) = span.split_once('-').unwrap();
        let (a, b): (u64, u64) = (a.parse().unwrap(), b.parse().unwrap());
        rest = &rest[end + 4..];
        let len = (b - a + 1) as usize;
        out.push((a, b, rest[..len].to_vec()));
        assert_eq!(&rest[len..len + 2], b"\r\n");
        rest = &rest[len + 2..];
    }
}

/// GETs a backend object straight from an object server and returns the
/// body bytes that arrived before the server ended the response.
fn backend_body(addr: std::net::SocketAddr, path: &str, range: Option<&str>) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let range = range.map(|r| format!("Range: {r}\r\n")).unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         X-Backend-Storage-Policy-Index: 0\r\n{range}\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    // Until the server closes (or resets) the connection.
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let status = String::from_utf8_lossy(&raw[9..12]).parse().unwrap();
    (status, raw[end + 4..].to_vec())
}

#[derive(Debug, Clone, Copy)]
enum Get {
    Whole,
    Range,
    /// Three ranges, the bad byte in the middle one.
    MultiRange,
    /// Two ranges, the bad byte in the last one (what is left is one range).
    MultiRangeLast,
}

/// Checks a GET through the proxy returns exactly `data`'s bytes.
fn check_get(addr: std::net::SocketAddr, auth: &str, url: &str, data: &[u8], how: Get, bad: u64) {
    let n = data.len() as u64;
    let bad = bad.min(n - 1);
    let (lo, hi) = (bad.saturating_sub(100_000), (bad + 100_000).min(n - 1));
    let range = match how {
        Get::Whole => None,
        Get::Range => Some(format!("bytes={lo}-{hi}")),
        Get::MultiRange => Some(format!(
            "bytes=0-99,{}-{},{}-",
            bad.saturating_sub(5),
            (bad + 70_000).min(n - 100),
            n - 50
        )),
        Get::MultiRangeLast => Some(format!(
            "bytes=0-99,{}-{}",
            bad.saturating_sub(5),
            (bad + 70_000).min(n - 1)
        )),
    };
    let mut h = vec![("X-Auth-Token", auth)];
    if let Some(r) = &range {
        h.push(("Range", r));
    }
    let (status, headers, got) = http_request(addr, "GET", url, &h, b"").unwrap();
    let len: usize = header(&headers, "content-length").unwrap().parse().unwrap();
    assert_eq!(
        got.len(),
        len,
        "{how:?}: body length is the promised length"
    );
    match how {
        Get::Whole => {
            assert_eq!(status, 200);
            assert!(got == data, "{how:?}: body differs from what was stored");
        }
        Get::Range => {
            assert_eq!(status, 206);
            assert_eq!(
                header(&headers, "content-range"),
                Some(format!("bytes {lo}-{hi}/{n}").as_str())
            );
            assert!(
                got == data[lo as usize..=hi as usize],
                "{how:?}: bytes differ"
            );
        }
        Get::MultiRange | Get::MultiRangeLast => {
            assert_eq!(status, 206);
            let ps = parts(header(&headers, "content-type").unwrap(), &got);
            assert_eq!(ps.len(), if matches!(how, Get::MultiRange) { 3 } else { 2 });
            for (a, b, bytes) in ps {
                assert!(
                    bytes == data[a as usize..=b as usize],
                    "part {a}-{b} differs"
                );
            }
        }
    }
}

#[test]
fn corrupt_replica_never_reaches_the_client() {
    let (c, addr, tok, acct) = with_container(Storage::Swirl, 3, "i");
    let mid = 3 * (1 << 20) + 12_345;
    let start = 5 * (1 << 20);
    assert!(mid % BLOCK != 0 && start % BLOCK == 0);
    let mut seed = 0;
    for (where_, bad) in [("mid-block", mid), ("block start", start)] {
        for how in [Get::Whole, Get::Range, Get::MultiRange, Get::MultiRangeLast] {
            seed += 1;
            let name = format!("obj-{seed}");
            let data = body(seed);
            let url = format!("{acct}/i/{name}");
            let (s, _, _) =
                http_request(addr, "PUT", &url, &[("X-Auth-Token", &tok)], &data).unwrap();
            assert_eq!(s, 201);
            let (part, primaries, _) = object_nodes(c.dir.path(), "AUTH_test", "i", &name);
            // The proxy reads the first primary first: corrupt that replica.
            let n = primaries[0];
            let dir = hash_dir(&c, n, part, "i", &name);
            let file = data_file(&dir);
            flip_byte(&file, bad);
            check_get(addr, &tok, &url, &data, how, bad);
            // The bad replica was quarantined, the others are intact.
            assert!(
                !file.exists(),
                "{where_} {how:?}: corrupt file still in place"
            );
            let q = c
                .dir
                .path()
                .join(format!("object{n}/d{n}/quarantined/objects"));
            assert_eq!(
                walk(&q)
                    .iter()
                    .filter(|p| p.ends_with(file.file_name().unwrap()))
                    .count(),
                1,
                "{where_} {how:?}: quarantined"
            );
            for &other in &primaries[1..] {
                assert!(data_file(&hash_dir(&c, other, part, "i", &name)).exists());
            }
            // And reads go on from the good replicas.
            check_get(addr, &tok, &url, &data, how, bad);
        }
    }

    // Straight from the object server: not one byte of the bad block (or
    // after it) leaves it, whole or ranged; what it sends is the object's.
    for (k, bad) in [mid, start].into_iter().enumerate() {
        let name = format!("direct-{k}");
        let data = body(100 + k as u32);
        let url = format!("{acct}/i/{name}");
        let (s, _, _) = http_request(addr, "PUT", &url, &[("X-Auth-Token", &tok)], &data).unwrap();
        assert_eq!(s, 201);
        let (part, primaries, _) = object_nodes(c.dir.path(), "AUTH_test", "i", &name);
        let n = primaries[0];
        let block_start = bad / BLOCK * BLOCK;
        let backend = format!("/d{n}/{part}/AUTH_test/i/{name}");
        let server = c.object_servers[n].addr();
        // A range over the bad byte, then the whole body.
        let dir = hash_dir(&c, n, part, "i", &name);
        flip_byte(&data_file(&dir), bad);
        let lo = block_start - 3 * BLOCK + 17;
        let (status, got) =
            backend_body(server, &backend, Some(&format!("bytes={lo}-{}", bad + 10)));
        assert_eq!(status, 206);
        assert!(
            got.len() as u64 <= block_start - lo,
            "sent {} bytes",
            got.len()
        );
        assert!(got == data[lo as usize..lo as usize + got.len()]);
        assert!(!dir.exists(), "quarantined after the ranged read");
        // Put the object back and read it whole.
        let (s, _, _) = http_request(addr, "PUT", &url, &[("X-Auth-Token", &tok)], &data).unwrap();
        assert_eq!(s, 201);
        flip_byte(&data_file(&dir), bad);
        let (status, got) = backend_body(server, &backend, None);
        assert_eq!(status, 200);
        assert!(got.len() as u64 <= block_start, "sent {} bytes", got.len());
        assert!(got == data[..got.len()]);
        assert!(!dir.exists(), "quarantined after the whole read");
    }
}

#[test]
fn objects_without_block_digests_still_read() {
    let (c, addr, tok, acct) = with_container(Storage::Swirl, 3, "o");
    let data = body(7);
    let url = format!("{acct}/o/old");
    let (s, _, _) = http_request(addr, "PUT", &url, &[("X-Auth-Token", &tok)], &data).unwrap();
    assert_eq!(s, 201);
    // Rewrite every replica as a `.data` was written before block digests:
    // body, then the metadata (no block_size), no digest area.
    let (part, primaries, _) = object_nodes(c.dir.path(), "AUTH_test", "o", "old");
    for n in primaries {
        let file = data_file(&hash_dir(&c, n, part, "o", "old"));
        let raw = std::fs::read(&file).unwrap();
        let (mut md, body_len) = swirl_store::object::metadata::decode_tail(&raw, raw.len() as u64)
            .unwrap()
            .unwrap();
        assert_eq!(md.block_size, Some(BLOCK), "written with block digests");
        assert_eq!(
            raw.len() as u64,
            body_len + (SIZE as u64 / BLOCK) * 32 + md.encode().unwrap().len() as u64
        );
        md.block_size = None;
        let mut old = raw[..body_len as usize].to_vec();
        old.extend(md.encode().unwrap());
        std::fs::write(&file, old).unwrap();
    }
    for how in [Get::Whole, Get::Range, Get::MultiRange, Get::MultiRangeLast] {
        check_get(addr, &tok, &url, &data, how, 4 << 20);
    }
    let (s, h, _) = http_request(addr, "HEAD", &url, &[("X-Auth-Token", &tok)], b"").unwrap();
    assert_eq!((s, header(&h, "content-length")), (200, Some("8388608")));
}
