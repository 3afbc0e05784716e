//! Seed inputs for every target: well-formed examples of what each parser
//! reads (and a few near misses), in the target's input layout. The test
//! suite's short run mutates them; `fuzz-seeds` writes them out as the
//! starting corpus of a long run.

use std::io::Write;

use rand::SeedableRng;
use swirl_ring::builder::RingBuilder;
use swirl_ring::{builder_file, codec, Device};

use crate::targets::ring::gzip;

/// The seeds of the target named `name` (empty for an unknown name).
pub fn for_target(name: &str) -> Vec<Vec<u8>> {
    match name {
        "request_path" => request_path(),
        "listing_params" => listing_params(),
        "headers" => headers(),
        "range" => range(),
        "conditional" => conditional(),
        "acl" => acl(),
        "slo_manifest" => slo_manifest(),
        "tar" => tar(),
        "bulk_delete" => bulk_delete(),
        "raw_request" => raw_request(),
        "backend_bodies" => backend_bodies(),
        "ring" => ring(),
        "builder" => builder(),
        _ => Vec::new(),
    }
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn le(n: u64) -> [u8; 8] {
    n.to_le_bytes()
}

fn request_path() -> Vec<Vec<u8>> {
    [
        "GET\0/v1/AUTH_test/c/o?multipart-manifest=get",
        "PUT\0/v1/AUTH_test/c?extract-archive=tar.gz",
        "POST\0/v1/AUTH_test?bulk-delete&format=json",
        "GET\0/v1/AUTH_test/c/%E2%82%AC/x/?format=xml&limit=1",
        "DELETE\0/v1.0/AUTH_test/c/o/with//slashes/",
        "HEAD\0/v1/AUTH_test",
        "GET\0/sda1/0/AUTH_test/c/o",
        "PUT\0/sdb2/1023/AUTH_test/c",
        "REPLICATE\0/sda1/12/abc-def",
        "GET\0/healthcheck",
        "GET\0/auth/v1.0",
        "GET\0/v1",
        "GET\0/v1/a%00b",
        "GET\0/v1/a%ff",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn listing_params() -> Vec<Vec<u8>> {
    [
        "\x01limit=5&marker=a&end_marker=z&prefix=a&delimiter=/&reverse=on\0application/json\0a\na/b\na/c/d\nb\nab",
        "\x01path=a&format=xml\0text/xml;q=0.5, */*\0a/\na/b\na/b/c\na/d",
        "\x01prefix=&delimiter=-&reverse=true\0*/*;q=0\0a-b\na-c\nb-\nb-x-y\nc",
        "\x00limit=10001\0\0a",
        "\x00marker=b&end_marker=a&limit=2\0text/plain\0a\nb\nc",
        "\x01delimiter=%C3%A9&prefix=x\0application/xml;q=0.9,application/json;q=1\0x\u{e9}a\nx\u{e9}\u{e9}b\nxy",
        "\x01marker=%ff\0\0",
        "\x00format=json&limit=00003&limit=1\0bad accept\0",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn headers() -> Vec<Vec<u8>> {
    let now = le(1_700_000_000 * 100_000);
    let sets: [&str; 5] = [
        "o\0Content-Type: text/plain\nContent-Length: 10\nX-Object-Meta-Color: blue\nX-Delete-After: 60\nX-Timestamp: 1700000000.12345_0000000000000001\nX-Copy-From: /c/o%20x\nX-Object-Manifest: c/prefix",
        "dir/obj\0Transfer-Encoding: chunked\nX-Delete-At: 9999999999\nX-Container-Host: 127.0.0.1:6201,127.0.0.2:6201\nX-Container-Device: sda1,sdb1\nX-Container-Partition: 7\nX-Backend-Replication: true",
        "o\0X-Container-Meta-Quota-Bytes: 100\nX-Container-Meta-Quota-Count: x\nX-Container-Meta-Access-Control-Allow-Origin: http://a http://b\nOrigin: http://a\nX-Auth-Token: AUTH_tk123\nX-Auth-User: test:tester\nX-Auth-Key: testing",
        "o\0Content-Type: multipart/byteranges; boundary=abc\nContent-Range: bytes 0-9/100\nX-Object-Meta-Digest-Etag: d41d8cd98f00b204e9800998ecf8427e\nX-Put-Timestamp: 1.5e9\nX-Account-Override-Deleted: yes\nX-Account-Host: 127.0.0.1:6202\nX-Account-Partition: 3\nX-Account-Device: sda",
        "o\0X-Remove-Container-Meta-A: 1\nX-Remove-Container-Read: x\nX-Backend-Storage-Policy-Index: 1\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\nX-Object-Sysmeta-X: y\nDestination: c2/o2\nX-Fresh-Metadata: true",
    ];
    sets.iter().map(|s| cat(&[&now, s.as_bytes()])).collect()
}

fn range() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (len, sent, v) in [
        (100, 0, "bytes=0-9"),
        (100, 5, "bytes=0-9,20-29,-5"),
        (100, 0, "bytes=90-"),
        (0, 0, "bytes=-5"),
        (1000, 300, "bytes = 0 - 1 , 5-6,8-,-1"),
        (10, 0, "bytes=5-3"),
        (10, 0, "BYTES=0-0,0-0,0-0"),
        (1 << 40, 7, "bytes=99999999999999999999999-"),
    ] {
        out.push(cat(&[&le(len), &le(sent), v.as_bytes()]));
    }
    out
}

fn conditional() -> Vec<Vec<u8>> {
    let lm = le(784_111_777);
    [
        "abc\0\"abc\", x\0*\0Sun, 06 Nov 1994 08:49:37 GMT\0Sunday, 06-Nov-94 08:49:37 GMT",
        "abc\0\0\"abc\"\0Sun Nov  6 08:49:37 1994\0garbage",
        "\"q\"\0*\0 , ,\0Mon, 31 Feb 2020 23:59:60 GMT\0Thu, 01 Jan 1970 00:00:00 GMT",
    ]
    .iter()
    .flat_map(|s| {
        [
            cat(&[&[3], &lm, s.as_bytes()]),
            cat(&[&[0], &lm, s.as_bytes()]),
        ]
    })
    .collect()
}

fn acl() -> Vec<Vec<u8>> {
    [
        "\x00.r:*,.rlistings,AUTH_test:tester\0http://example.com/x\0{\"admin\":[\"a:b\"],\"read-only\":[\"\u{e9}\"]}",
        "\x00.r:-*.example.com, .r:.example.com,  .ref:host\0https://user@www.example.com:8080/\0{}",
        "\x01.r:*\0\0{\"read-write\": \"x\"}",
        "\x00.referrer: - bad.host , test%3Atester\0http://[::1]:80/\0[1]",
        "\x01.x:y, a:b, c\0ftp://x\0{\"other\": []}",
        "\x00.r:,.r:.\0\0 ",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn slo_manifest() -> Vec<Vec<u8>> {
    let bodies: [&str; 6] = [
        r#"[{"path": "/c/seg1", "etag": "d41d8cd98f00b204e9800998ecf8427e", "size_bytes": 1048576}, {"path": "c/seg2", "range": "1-5"}, {"data": "aGVsbG8="}]"#,
        r#"[{"path": "/c/s", "size_bytes": "1_000", "range": "-10", "etag": null}, {"path": "/c/o"}, {"path": "nocontainer"}, {"data": "!!"}, {"path": "/c/x", "extra": 1}]"#,
        r#"[{"name": "/c/seg1", "bytes": 10, "hash": "abc", "content_type": "text/plain", "last_modified": "2024-01-01T00:00:00.000000"}, {"name": "/c/sub", "bytes": 20, "hash": "def", "sub_slo": true, "content_type": "application/json;swift_bytes=300", "range": "2-11"}, {"data": "aGk="}]"#,
        r#"[{"name": "/c/sub", "bytes": 5, "sub_slo": "yes", "range": "5-2"}, {"name": "/c/big", "bytes": 18446744073709551615}, {"name": "/c/big2", "bytes": 18446744073709551615, "range": "0-18446744073709551615"}]"#,
        r#"[{"name": "o1", "hash": "d41d; slo_etag=\"abc\"", "bytes": 3, "content_type": "x", "last_modified": "2024"}, {"subdir": "d/"}]"#,
        r#"<?xml version="1.0"?><container><object><name>o</name><hash>abc; slo_etag=def; x="y;z"</hash></object></container>"#,
    ];
    let mut out = Vec::new();
    for (i, b) in bodies.iter().enumerate() {
        let flags = (i % 4) as u8;
        out.push(cat(&[
            &[flags],
            &le(1 << 20),
            &le(3),
            &le(100),
            b.as_bytes(),
        ]));
    }
    out
}

/// One tar member (ustar header, data, padding).
fn member(out: &mut Vec<u8>, name: &str, data: &[u8], kind: u8) {
    let mut h = [0u8; 512];
    h[..name.len().min(100)].copy_from_slice(&name.as_bytes()[..name.len().min(100)]);
    h[100..108].copy_from_slice(b"0000644\0");
    h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out.resize(out.len() + (512 - data.len() % 512) % 512, 0);
}

/// A pax record `"<len> <key>=<value>\n"`.
fn pax(key: &str, value: &str) -> Vec<u8> {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}").len() + body.len() != len {
        len += 1;
    }
    format!("{len}{body}").into_bytes()
}

fn archive() -> Vec<u8> {
    let mut a = Vec::new();
    member(&mut a, "c/", b"", b'5');
    member(&mut a, "c/hello.txt", b"hello world\n", b'0');
    member(&mut a, "c/empty", b"", b'0');
    let mut records = pax("SCHILY.xattr.user.mime_type", "text/x-test");
    records.extend(pax("SCHILY.xattr.user.meta.color", "blue"));
    records.extend(pax("path", "c/renamed by pax"));
    member(&mut a, "PaxHeader", &records, b'x');
    member(&mut a, "c/x", b"pax file", b'0');
    member(&mut a, "GlobalHead", &pax("comment", "all"), b'g');
    member(
        &mut a,
        "././@LongLink",
        &[b"c/".as_slice(), &[b'n'; 150]].concat(),
        b'L',
    );
    member(&mut a, "short", &[7u8; 700], b'0');
    member(&mut a, "c/link", b"", b'2');
    member(&mut a, "./top", b"no container", b'0');
    a.extend_from_slice(&[0u8; 1024]);
    a
}

fn tar() -> Vec<Vec<u8>> {
    let a = archive();
    let mut zeros = Vec::new();
    member(&mut zeros, "c/zeros", &vec![0u8; 4 << 20], b'0');
    zeros.extend_from_slice(&[0u8; 1024]);
    let mut out = Vec::new();
    for piece in [0u8, 3, 255] {
        out.push(cat(&[&[0, piece], &a]));
        out.push(cat(&[&[1, piece], &gzip(&a)]));
        out.push(cat(&[&[2, piece], &bzip2(&a)]));
    }
    // Highly compressible members: bounded pieces out of a small input.
    out.push(cat(&[&[1, 40], &gzip(&zeros)]));
    out.push(cat(&[&[2, 40], &bzip2(&zeros)]));
    out.push(cat(&[&[0, 0], &a[..700]]));
    out
}

fn bzip2(data: &[u8]) -> Vec<u8> {
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    let _ = bz.write_all(data);
    bz.finish().unwrap_or_default()
}

fn bulk_delete() -> Vec<Vec<u8>> {
    [
        "\x00/c/o\nc2/o%20x\n\n/c3\n%ff\n/c/o/with/slashes",
        "\x05c\n/c/\n//\n/c%00x/o\n  spaced  \r\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn raw_request() -> Vec<Vec<u8>> {
    let get: &[u8] = b"GET /v1/AUTH_test/c/\xe2\x82\xac?x=\xff HTTP/1.1\r\nHost: a\r\n\r\n";
    let put: &[u8] =
        b"PUT /v1/a/c/\xc3\xa9 HTTP/1.1\r\nContent-Length: 5\r\n\r\n\xff\xfe\xfd\xfc\xfb";
    let chunked: &[u8] = b"POST /v1/a/\x80 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\n\xff\xff\xff\r\n0\r\nTrailer: x\r\n\r\n";
    let upgrade: &[u8] =
        b"GET /\xff HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n\xff\xff";
    vec![
        cat(&[&[0], get, put, chunked]),
        cat(&[&[6], b"\r\n\r\n", put, get]),
        cat(&[&[0], upgrade, get]),
        cat(&[&[2], b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff"]),
        cat(&[&[1], b"GET /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab\xff /\xff\r\n\r\n"]),
    ]
}

fn backend_bodies() -> Vec<Vec<u8>> {
    let multipart: &[u8] = b"--abc\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-4/100\r\n\r\nhello\r\n--abc\r\nContent-Range: bytes 10-10/100\r\n\r\nx\r\n--abc--\r\nepilogue";
    let listing: &[u8] = br#"[{"name": "o", "hash": "abc", "bytes": 5, "content_type": "text/plain", "last_modified": "2024-01-01T00:00:00.000000"}, {"subdir": "d/"}, {"name": "c", "count": 1, "bytes": 2, "last_modified": "x"}]"#;
    let sync: &[u8] =
        br#"[5, "hash", "id", "1.0", "2.0", "0", "{\"X-Container-Meta-A\": [\"b\", \"1.0\"]}"]"#;
    vec![
        cat(&[&[0], b"abc\0", multipart]),
        cat(&[&[7], b"abc\0", multipart]),
        cat(&[&[0], b"\0", listing]),
        cat(&[&[0], b"\0", sync]),
    ]
}

fn small_builder(part_power: u32, replicas: f64) -> Option<RingBuilder> {
    let mut b = RingBuilder::new(part_power, replicas, 1).ok()?;
    for (i, (region, zone)) in [(1, 1), (1, 2), (1, 3), (2, 1)].iter().enumerate() {
        let dev = Device {
            region: *region,
            zone: *zone,
            ip: format!("127.0.0.{}", i + 1),
            port: 6200 + i as u16,
            replication_ip: format!("127.0.0.{}", i + 1),
            replication_port: 6300,
            device: format!("sd{}", (b'a' + i as u8) as char),
            weight: 100.0 + i as f64,
            meta: "m".into(),
            ..Default::default()
        };
        b.add_dev(dev, None).ok()?;
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    b.rebalance(&mut rng, 1 << 30, &mut |_| {}).ok()?;
    Some(b)
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(data), &mut out);
    out
}

fn ring() -> Vec<Vec<u8>> {
    let swift: [&[u8]; 4] = [
        include_bytes!("../../ring/src/codec/testdata/swift-2.30.1-frac-holes.ring.gz"),
        include_bytes!("../../ring/src/codec/testdata/swift-master-frac-holes-v2.ring.gz"),
        include_bytes!("../../ring/src/codec/testdata/swift-master-saio-p6-v1.ring.gz"),
        include_bytes!("../../ring/src/codec/testdata/swift-master-saio-p6-v2-4byte.ring.gz"),
    ];
    let mut files: Vec<Vec<u8>> = swift.iter().map(|f| f.to_vec()).collect();
    if let Some(r) = small_builder(4, 2.5).and_then(|b| b.get_ring().ok()) {
        for v in [1, 2] {
            let opts = codec::WriteOptions {
                format_version: v,
                ..Default::default()
            };
            files.extend(codec::ring_to_bytes(&r, &opts).ok());
        }
    }
    let mut out = Vec::new();
    for f in files {
        out.push(cat(&[&[1], &gunzip(&f)]));
        out.push(cat(&[&[0], &f]));
    }
    out
}

fn builder() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (pp, replicas) in [(3, 3.0), (4, 2.5)] {
        let Some(b) = small_builder(pp, replicas) else {
            continue;
        };
        let Ok(file) = builder_file::to_bytes(&b) else {
            continue;
        };
        out.push(cat(&[&[0, 1], &file]));
        let raw = gunzip(&file);
        out.push(cat(&[&[1, 2], &raw]));
        out.extend(v1(&raw).map(|v| cat(&[&[0, 3], &v])));
    }
    for syntax in [
        "r1z1-127.0.0.1:6200/sda1_meta 100",
        "r2z3-[::1]:6000R[::1]:6001/sdb",
        "d1r1z1-10.0.0.1",
        "z1-127.0.0.1:6200/sdc 1.5",
        "1.5",
    ] {
        out.push(cat(&[&[2, 0], syntax.as_bytes()]));
    }
    out
}

/// The version-1 form (tables as hex inside the JSON) of a version-2 file.
fn v1(raw: &[u8]) -> Option<Vec<u8>> {
    let nl = raw.iter().position(|b| *b == b'\n')?;
    let mut meta: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&raw[..nl]).ok()?;
    let width = meta.get("dev_id_bytes")?.as_u64()? as usize;
    let lengths: Vec<usize> = meta
        .remove("row_lengths")?
        .as_array()?
        .iter()
        .filter_map(|v| v.as_u64().map(|n| n as usize))
        .collect();
    let moves_len = meta.remove("last_part_moves_len")?.as_u64()? as usize;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut rest = &raw[nl + 1..];
    let mut rows = Vec::new();
    for len in lengths {
        // Version 1 stores ids of 2 bytes.
        let (row, tail) = rest.split_at(len * width);
        let mut wide = Vec::new();
        for id in row.chunks(width) {
            let v = id
                .iter()
                .rev()
                .fold(0u32, |acc, b| acc << 8 | u32::from(*b));
            wide.extend_from_slice(&(v as u16).to_le_bytes());
        }
        rows.push(serde_json::Value::String(hex(&wide)));
        rest = tail;
    }
    meta.insert("format_version".into(), 1.into());
    meta.insert("dev_id_bytes".into(), 2.into());
    meta.insert("replica2part2dev".into(), rows.into());
    meta.insert("last_part_moves".into(), hex(&rest[..moves_len]).into());
    serde_json::to_vec_pretty(&meta).ok()
}
