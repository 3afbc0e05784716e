//! Dynamic large objects through `swirl aio`: python-swiftclient's segmented
//! upload and download, Glance's call pattern (segments `<id>-00001..`, a
//! 0-byte manifest, ranged reads, delete by prefix listing), ranges,
//! conditionals, copies, ACLs on the segment container, listings of more
//! than 10,000 segments and segments that fail mid-body.

use std::path::Path;

use crate::harness::{self, header, http_request, Proc};
use crate::proxy_cluster::token;

/// Starts `swirl aio` on `data`, first writing `extra` (TOML) into a fresh
/// proxy config when given.
pub fn aio(data: &Path, extra: &str) -> Proc {
    if !extra.is_empty() {
        harness::aio_ready(data).kill9();
        let conf = data.join("etc").join("proxy-server.toml");
        let text = std::fs::read_to_string(&conf).unwrap();
        std::fs::write(&conf, format!("{text}\n{extra}\n")).unwrap();
    }
    harness::start_aio(data)
}

pub use crate::proxy_cluster::swift_as as swift;

pub fn data(seed: u32, n: usize) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_mul(2654435761).wrapping_add(seed) >> 11) as u8)
        .collect()
}

pub fn md5_hex(b: &[u8]) -> String {
    format!("{:x}", md5::compute(b))
}

fn chunked(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in b.chunks(30_000) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

pub struct Client {
    pub addr: std::net::SocketAddr,
    pub tok: String,
    pub path: String,
}

impl Client {
    pub fn new(addr: std::net::SocketAddr, user: &str, key: &str) -> Self {
        let (tok, path) = token(addr, user, key);
        Client { addr, tok, path }
    }

    pub fn req(
        &self,
        method: &str,
        rel: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> harness::RawResponse {
        let mut h = vec![("X-Auth-Token", self.tok.as_str())];
        h.extend_from_slice(headers);
        http_request(self.addr, method, &format!("{}{rel}", self.path), &h, body).unwrap()
    }

    pub fn ok(&self, method: &str, rel: &str, headers: &[(&str, &str)], body: &[u8]) {
        let (s, _, b) = self.req(method, rel, headers, body);
        assert!(
            (200..300).contains(&s),
            "{method} {rel}: {s} {}",
            String::from_utf8_lossy(&b)
        );
    }
}

#[test]
fn dlo_with_swiftclient_and_glance_call_pattern() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    let aio = aio(&w.join("d"), "");
    let auth = format!("http://{}/auth/v1.0", aio.addr());

    // swiftclient: a segmented upload (13 segments, a DLO unless the client
    // defaults to SLO, when --use-dlo asks for one) downloads byte for byte.
    let big = data(1, 1_250_001);
    std::fs::write(w.join("big.bin"), &big).unwrap();
    let (_, help, _) = swift(&auth, ("glance:glance", "glance"), w, &["upload", "--help"]);
    let mut up = vec!["upload", "-S", "100000"];
    if help.contains("--use-dlo") {
        up.push("--use-dlo");
    }
    up.extend(["cli", "big.bin"]);
    let r = swift(&auth, ("glance:glance", "glance"), w, &up);
    assert!(r.0, "upload: {} {}", r.1, r.2);
    let r = swift(
        &auth,
        ("glance:glance", "glance"),
        w,
        &["stat", "cli", "big.bin"],
    );
    assert!(
        r.1.contains("Manifest: cli_segments/big.bin/") && r.1.contains("Content Length: 1250001"),
        "{}",
        r.1
    );
    let r = swift(
        &auth,
        ("glance:glance", "glance"),
        w,
        &["download", "cli", "big.bin", "-o", "back.bin"],
    );
    assert!(r.0, "download: {} {}", r.1, r.2);
    assert!(
        std::fs::read(w.join("back.bin")).unwrap() == big,
        "bytes differ"
    );

    // Glance: segments <id>-00001.. (chunked), then a 0-byte manifest.
    let c = Client::new(aio.addr(), "glance:glance", "glance");
    c.ok("PUT", "/images", &[], b"");
    let id = "5f1c9e0a-image";
    let parts = [data(2, 70_000), data(3, 70_000), data(4, 12_345)];
    for (i, p) in parts.iter().enumerate() {
        c.ok(
            "PUT",
            &format!("/images/{id}-{:05}", i + 1),
            &[("Transfer-Encoding", "chunked")],
            &chunked(p),
        );
    }
    c.ok(
        "PUT",
        &format!("/images/{id}"),
        &[
            ("Content-Length", "0"),
            ("X-Object-Manifest", &format!("images/{id}-")),
        ],
        b"",
    );
    let whole: Vec<u8> = parts.concat();
    let etags: String = parts.iter().map(|p| md5_hex(p)).collect();
    let etag = format!("\"{}\"", md5_hex(etags.as_bytes()));
    let obj = format!("/images/{id}");
    let (s, h, b) = c.req("GET", &obj, &[], b"");
    assert_eq!(s, 200);
    assert!(b == whole, "GET body");
    assert_eq!(header(&h, "etag"), Some(etag.as_str()));
    assert_eq!(header(&h, "content-length"), Some("152345"));
    let (s, h, _) = c.req("HEAD", &obj, &[], b"");
    assert_eq!(s, 200);
    assert_eq!(header(&h, "content-length"), Some("152345"));
    assert_eq!(header(&h, "etag"), Some(etag.as_str()));

    // Glance's resume and ranged reads: across segment boundaries.
    let (s, h, b) = c.req("GET", &obj, &[("Range", "bytes=69990-")], b"");
    assert_eq!(s, 206);
    assert_eq!(
        header(&h, "content-range"),
        Some("bytes 69990-152344/152345")
    );
    assert!(b == whole[69_990..], "bytes=N-");
    let (s, _, b) = c.req("GET", &obj, &[("Range", "bytes=-1000")], b"");
    assert_eq!(s, 206);
    assert!(b == whole[whole.len() - 1000..], "suffix range");
    let (s, _, b) = c.req("GET", &obj, &[("Range", "bytes=69999-140000")], b"");
    assert_eq!(s, 206);
    assert!(b == whole[69_999..=140_000], "range over three segments");
    // Several ranges: Swift serves the whole object.
    let (s, _, b) = c.req("GET", &obj, &[("Range", "bytes=0-4,10-14")], b"");
    assert_eq!((s, b.len()), (200, whole.len()));
    let (s, h, _) = c.req("GET", &obj, &[("Range", "bytes=152345-")], b"");
    assert_eq!(s, 416);
    assert_eq!(header(&h, "content-range"), Some("bytes */152345"));

    // Conditionals against the manifest's ETag.
    assert_eq!(c.req("GET", &obj, &[("If-None-Match", &etag)], b"").0, 304);
    assert_eq!(c.req("HEAD", &obj, &[("If-Match", "\"nope\"")], b"").0, 412);
    assert_eq!(c.req("GET", &obj, &[("If-Match", &etag)], b"").0, 200);

    // The manifest itself.
    let (s, h, b) = c.req("GET", &format!("{obj}?multipart-manifest=get"), &[], b"");
    assert_eq!((s, b.len()), (200, 0));
    assert_eq!(
        header(&h, "x-object-manifest"),
        Some(format!("images/{id}-").as_str())
    );
    assert_eq!(header(&h, "etag"), Some("d41d8cd98f00b204e9800998ecf8427e"));

    // Copies: of the concatenation, or of the manifest with multipart-manifest=get.
    c.ok("COPY", &obj, &[("Destination", "images/flat")], b"");
    let (s, h, b) = c.req("GET", "/images/flat", &[], b"");
    assert_eq!(s, 200);
    assert!(b == whole && header(&h, "x-object-manifest").is_none());
    assert_eq!(header(&h, "etag"), Some(md5_hex(&whole).as_str()));
    c.ok(
        "PUT",
        "/images/man2?multipart-manifest=get",
        &[("X-Copy-From", &format!("images/{id}"))],
        b"",
    );
    let (_, h, b) = c.req("GET", "/images/man2", &[], b"");
    assert!(b == whole);
    assert_eq!(
        header(&h, "x-object-manifest"),
        Some(format!("images/{id}-").as_str())
    );

    // A manifest value must name a container and a prefix.
    for bad in ["nocontainer", "images/", "/images/x", "images/x?y"] {
        let (s, _, b) = c.req(
            "PUT",
            "/images/bad",
            &[("Content-Length", "0"), ("X-Object-Manifest", bad)],
            b"",
        );
        assert_eq!(s, 400, "{bad}");
        assert_eq!(
            String::from_utf8_lossy(&b),
            "X-Object-Manifest must be in the format container/prefix"
        );
    }

    // Glance's delete: list by prefix, delete each segment, then the manifest.
    let (s, _, b) = c.req(
        "GET",
        &format!("/images?prefix={id}-&format=json"),
        &[],
        b"",
    );
    assert_eq!(s, 200);
    let list: serde_json::Value = serde_json::from_slice(&b).unwrap();
    let names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 3);
    for n in &names {
        c.ok("DELETE", &format!("/images/{n}"), &[], b"");
    }
    let (s, h, b) = c.req("GET", &obj, &[], b"");
    assert_eq!((s, b.len()), (200, 0));
    assert_eq!(header(&h, "content-length"), Some("0"));
    c.ok("DELETE", &obj, &[], b"");
}

#[test]
fn dlo_segments_are_read_with_the_callers_acls() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = aio(&tmp.path().join("d"), "");
    let admin = Client::new(aio.addr(), "test:tester", "testing");
    let user3 = Client::new(aio.addr(), "test:tester3", "testing3");
    admin.ok("PUT", "/pub", &[], b"");
    admin.ok("PUT", "/segs", &[], b"");
    admin.ok("PUT", "/segs/p/1", &[], b"one");
    admin.ok("PUT", "/segs/p/2", &[], b"two");
    admin.ok(
        "PUT",
        "/pub/m",
        &[("Content-Length", "0"), ("X-Object-Manifest", "segs/p/")],
        b"",
    );
    assert_eq!(admin.req("GET", "/pub/m", &[], b"").2, b"onetwo");
    assert_eq!(user3.req("GET", "/pub/m", &[], b"").0, 403);
    admin.ok("POST", "/pub", &[("X-Container-Read", "test:tester3")], b"");
    // The manifest is readable now, its segments still are not.
    assert_eq!(
        user3
            .req("GET", "/pub/m?multipart-manifest=get", &[], b"")
            .0,
        200
    );
    assert_eq!(user3.req("GET", "/pub/m", &[], b"").0, 403);
    assert_eq!(user3.req("HEAD", "/pub/m", &[], b"").0, 403);
    admin.ok(
        "POST",
        "/segs",
        &[("X-Container-Read", "test:tester3")],
        b"",
    );
    let (s, _, b) = user3.req("GET", "/pub/m", &[], b"");
    assert_eq!((s, b.as_slice()), (200, &b"onetwo"[..]));
    // Referer ACLs need .rlistings on the segment container (the listing).
    let anon = |referer: &str| {
        http_request(
            aio.addr(),
            "GET",
            &format!("{}/pub/m", admin.path),
            &[("Referer", referer)],
            b"",
        )
        .unwrap()
    };
    admin.ok("POST", "/pub", &[("X-Container-Read", ".r:*")], b"");
    admin.ok("POST", "/segs", &[("X-Container-Read", ".r:*")], b"");
    assert_eq!(anon("http://a.example.com").0, 401);
    admin.ok(
        "POST",
        "/segs",
        &[("X-Container-Read", ".r:*,.rlistings")],
        b"",
    );
    let (s, _, b) = anon("http://a.example.com");
    assert_eq!((s, b.as_slice()), (200, &b"onetwo"[..]));
}

/// The container servers holding `account/container` (from the aio's ring).
fn container_replicas(data: &Path, account: &str, container: &str) -> Vec<String> {
    let etc = data.join("etc");
    let conf = std::fs::read_to_string(etc.join("container-server.toml")).unwrap();
    let suffix = conf
        .lines()
        .find_map(|l| l.strip_prefix("swift_hash_path_suffix = "))
        .unwrap()
        .trim_matches('"')
        .to_string();
    let bytes = std::fs::read(etc.join("container.ring.gz")).unwrap();
    let ring = swirl_ring::codec::read_ring(&bytes[..]).unwrap();
    let cfg = swirl_ring::hash::HashPathConfig::new("", suffix.as_str());
    let part = ring.get_part(&cfg, account, Some(container), None);
    let hash = swirl_ring::hash::hash_path_hex(&cfg, account, Some(container), None);
    ring.get_part_nodes(part)
        .iter()
        .map(|n| {
            format!(
                "{}:{}|/{}/{part}/{hash}",
                n.dev.ip, n.dev.port, n.dev.device
            )
        })
        .collect()
}

/// Adds listing rows (no objects behind them) to every replica of a
/// container, through the database replicator's `merge_items`.
fn add_rows(data: &Path, account: &str, container: &str, rows: &[(String, u64)]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let auth = harness::aio_backend_auth(data);
    for target in container_replicas(data, account, container) {
        let (addr, path) = target.split_once('|').unwrap();
        for batch in rows.chunks(1000) {
            let items: Vec<serde_json::Value> = batch
                .iter()
                .map(|(name, size)| {
                    serde_json::json!({
                        "name": name, "created_at": format!("{now:.5}"), "size": size,
                        "content_type": "application/octet-stream",
                        "etag": "d41d8cd98f00b204e9800998ecf8427e", "deleted": 0,
                        "storage_policy_index": 0
                    })
                })
                .collect();
            let body = serde_json::json!(["merge_items", items, "dlo-test"]).to_string();
            let (s, _, b) = harness::signed_request(
                &auth,
                addr.parse().unwrap(),
                "REPLICATE",
                path,
                &[],
                body.as_bytes(),
            )
            .unwrap();
            assert_eq!(s, 202, "{}", String::from_utf8_lossy(&b));
        }
    }
}

#[test]
fn dlo_pages_past_10000_segments_and_cuts_broken_bodies_short() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    let aio = aio(&d, "[dlo]\nrate_limit_segments_per_sec = 0");
    let c = Client::new(aio.addr(), "glance:glance", "glance");
    c.ok("PUT", "/big", &[], b"");
    // 10,000 empty segments fill the first listing page; the data is on the
    // second. Empty segments before any data are never read (Swift skips
    // them), so rows alone stand for them.
    let empties: Vec<(String, u64)> = (0..10_000).map(|i| (format!("s/{i:05}"), 0)).collect();
    add_rows(&d, "AUTH_glance", "big", &empties);
    c.ok("PUT", "/big/s/10000", &[], b"tail ");
    c.ok("PUT", "/big/s/10001", &[], b"end");
    c.ok(
        "PUT",
        "/big/m",
        &[("Content-Length", "0"), ("X-Object-Manifest", "big/s/")],
        b"",
    );
    let (s, h, b) = c.req("GET", "/big/m", &[], b"");
    assert_eq!((s, b.as_slice()), (200, &b"tail end"[..]));
    // Unknown length and ETag past one page: chunked, the manifest's own ETag.
    assert_eq!(header(&h, "content-length"), None);
    assert_eq!(header(&h, "transfer-encoding"), Some("chunked"));
    assert_eq!(header(&h, "etag"), Some("d41d8cd98f00b204e9800998ecf8427e"));
    let (s, h, _) = c.req("HEAD", "/big/m", &[], b"");
    assert_eq!(s, 200);
    assert_ne!(header(&h, "content-length"), Some("0"));
    // A range inside the first page is served; an open one is not known to
    // be satisfiable, so the whole object comes back.
    let (s, _, b) = c.req("GET", "/big/m", &[("Range", "bytes=2-")], b"");
    assert_eq!((s, b.as_slice()), (200, &b"tail end"[..]));
    // Such a source is too large to copy (its length is unknown).
    assert_eq!(
        c.req("COPY", "/big/m", &[("Destination", "big/copy")], b"")
            .0,
        413
    );

    // A listed segment that cannot be read: first, the request fails (409)...
    c.ok("PUT", "/big/b/2", &[], b"second");
    add_rows(&d, "AUTH_glance", "big", &[("b/1".to_string(), 5)]);
    c.ok(
        "PUT",
        "/big/bad",
        &[("Content-Length", "0"), ("X-Object-Manifest", "big/b/")],
        b"",
    );
    assert_eq!(c.req("GET", "/big/bad", &[], b"").0, 409);
    // ...later, the body stops short of its Content-Length.
    c.ok("PUT", "/big/b/0", &[], b"first");
    let (s, h, b) = c.req("GET", "/big/bad", &[], b"");
    assert_eq!(s, 200);
    assert_eq!(header(&h, "content-length"), Some("16"));
    assert_eq!(
        b, b"first",
        "the body ends where the missing segment starts"
    );
}
