//! The same requests against Swift's own container and account servers
//! (Debian's swift 2.30.1, started here) and against swirl's: same status,
//! headers and body for every listing parameter combination, format and
//! Accept header, plus the PUT/POST/DELETE/HEAD semantics around them.
//! Only the Date header and the database creation times (X-Timestamp,
//! X-Backend-Timestamp: the wall clock when each server created its file)
//! may differ.

use std::net::SocketAddr;

use crate::db_support::{quote, swift_db, swirl_db};
use crate::harness::http_request;

type Resp = (u16, Vec<(String, String)>, Vec<u8>);

fn call(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    http_request(addr, method, path, headers, b"")
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// Headers that may legitimately differ are dropped or masked.
fn normalize(r: &Resp, method: &str) -> Resp {
    let mut h: Vec<(String, String)> =
        r.1.iter()
            .filter(|(k, _)| !matches!(k.as_str(), "date" | "connection" | "transfer-encoding"))
            // hyper never sends Content-Length on a 204 (RFC 9110); swob does. HEAD
            // lengths are what a GET would send, which both compute differently.
            .filter(|(k, _)| !(k == "content-length" && (r.0 == 204 || method == "HEAD")))
            .map(|(k, v)| {
                let v = if k == "x-timestamp" || k == "x-backend-timestamp" {
                    // The creation time: same shape, different clock reading.
                    assert_eq!(v.len(), 16, "{k}: {v}");
                    "<created_at>".to_string()
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect();
    h.sort();
    (r.0, h, r.2.clone())
}

struct Pair {
    swift: SocketAddr,
    swirl: SocketAddr,
    mismatches: Vec<String>,
    count: usize,
}

impl Pair {
    fn check(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
        let a = call(self.swift, method, path, headers);
        let b = call(self.swirl, method, path, headers);
        self.count += 1;
        let (na, nb) = (normalize(&a, method), normalize(&b, method));
        if na != nb {
            self.mismatches.push(format!(
                "{method} {path} {headers:?}\n  swift: {} {:?}\n         {:?}\n  swirl: {} {:?}\n         {:?}",
                na.0,
                na.1,
                String::from_utf8_lossy(&na.2),
                nb.0,
                nb.1,
                String::from_utf8_lossy(&nb.2)
            ));
        }
        b
    }
}

const OBJECTS: &[&str] = &[
    "a",
    "a/",
    "a/b",
    "a/b/c",
    "a/c",
    "a-b",
    "a b",
    "a-c-d",
    "b",
    "b/1",
    "b/2",
    "c",
    "d/x/y",
    "é",
    "é/1",
    "😀",
    "x\u{7f}",
    "quote\"&<>'",
    "tab\there",
    "z",
];

fn ts(i: usize) -> String {
    format!("{:010}.{:05}", 1_500_000_000 + i, 0)
}

fn populate_container(p: &mut Pair) {
    let c = "/sda/1/acc/con";
    p.check(
        "PUT",
        c,
        &[
            ("X-Timestamp", &ts(1)),
            ("X-Container-Meta-Color", "blue"),
            ("X-Container-Read", ".r:*"),
            ("X-Container-Sysmeta-Secret", "s"),
            ("X-Object-Meta-Ignored", "x"),
        ],
    );
    p.check("PUT", c, &[("X-Timestamp", &ts(2))]);
    let types = [
        "text/plain; charset=utf-8",
        "application/x-foo;swift_bytes=123",
        "image/png",
        "a/b; x=\"y z\"; flag",
    ];
    for (i, name) in OBJECTS.iter().enumerate() {
        let path = format!("{c}/{}", quote(name));
        let size = (i * 7).to_string();
        let etag = format!("{:032x}", i);
        p.check(
            "PUT",
            &path,
            &[
                ("X-Timestamp", &ts(10 + i)),
                ("X-Size", &size),
                ("X-Etag", &etag),
                ("X-Content-Type", types[i % types.len()]),
            ],
        );
    }
    // Older updates lose; newer deletes win; a content-type-only update.
    p.check(
        "PUT",
        &format!("{c}/b"),
        &[
            ("X-Timestamp", &ts(3)),
            ("X-Size", "999"),
            ("X-Etag", "old"),
            ("X-Content-Type", "x/old"),
        ],
    );
    p.check("DELETE", &format!("{c}/c"), &[("X-Timestamp", &ts(100))]);
    p.check("DELETE", &format!("{c}/a/c"), &[("X-Timestamp", &ts(1))]);
    p.check(
        "PUT",
        &format!("{c}/a"),
        &[
            ("X-Timestamp", &ts(10)),
            ("X-Size", "0"),
            ("X-Etag", "e"),
            ("X-Content-Type", "new/type"),
            ("X-Content-Type-Timestamp", &ts(101)),
            ("X-Meta-Timestamp", &ts(102)),
        ],
    );
    // A deleted container keeps a tombstone.
    p.check("PUT", "/sda/1/acc/gone", &[("X-Timestamp", &ts(1))]);
    p.check(
        "PUT",
        "/sda/1/acc/gone/o",
        &[
            ("X-Timestamp", &ts(2)),
            ("X-Size", "1"),
            ("X-Etag", "e"),
            ("X-Content-Type", "t"),
        ],
    );
    p.check("DELETE", "/sda/1/acc/gone", &[("X-Timestamp", &ts(3))]);
    p.check("DELETE", "/sda/1/acc/gone/o", &[("X-Timestamp", &ts(4))]);
    p.check("DELETE", "/sda/1/acc/gone", &[("X-Timestamp", &ts(2))]);
    p.check("DELETE", "/sda/1/acc/gone", &[("X-Timestamp", &ts(5))]);
    p.check("PUT", "/sda/1/acc/empty", &[("X-Timestamp", &ts(1))]);
}

fn container_cases(p: &mut Pair) {
    let c = "/sda/1/acc/con";
    let prefixes = [None, Some(""), Some("a"), Some("a/"), Some("é"), Some("zz")];
    let delims = [None, Some("/"), Some("-"), Some("b/")];
    let markers = [None, Some("a/b"), Some("b"), Some("a/")];
    let end_markers = [None, Some("c"), Some("a/c"), Some("")];
    let reverses = [None, Some("on")];
    for prefix in prefixes {
        for delim in delims {
            for marker in markers {
                for end in end_markers {
                    for rev in reverses {
                        let mut q = vec!["format=json".to_string()];
                        for (k, v) in [
                            ("prefix", prefix),
                            ("delimiter", delim),
                            ("marker", marker),
                            ("end_marker", end),
                            ("reverse", rev),
                        ] {
                            if let Some(v) = v {
                                q.push(format!("{k}={}", quote(v)));
                            }
                        }
                        p.check("GET", &format!("{c}?{}", q.join("&")), &[]);
                    }
                }
            }
        }
    }
    for path in ["", "a", "a/", "b", "d/x", "nope"] {
        for extra in [
            "",
            "&reverse=1",
            "&marker=a%2Fb",
            "&limit=1",
            "&prefix=zz&delimiter=-",
        ] {
            p.check(
                "GET",
                &format!("{c}?format=json&path={}{extra}", quote(path)),
                &[],
            );
        }
    }
    for limit in [
        "0",
        "1",
        "3",
        "10000",
        "10001",
        "-1",
        "abc",
        "",
        "99999999999999999999",
    ] {
        for extra in ["", "&delimiter=/", "&reverse=on&delimiter=/"] {
            p.check("GET", &format!("{c}?format=json&limit={limit}{extra}"), &[]);
        }
    }
    for fmt in [
        "",
        "format=json",
        "format=xml",
        "format=plain",
        "format=XML",
        "format=bogus",
        "format=",
    ] {
        for extra in [
            "",
            "&delimiter=/",
            "&prefix=zz",
            "&prefix=a/&delimiter=/&reverse=t",
        ] {
            for container in ["con", "empty"] {
                p.check("GET", &format!("/sda/1/acc/{container}?{fmt}{extra}"), &[]);
            }
        }
    }
    for accept in [
        "application/json",
        "text/xml",
        "application/xml;q=0.5, text/plain",
        "*/*",
        "text/*",
        "image/png",
        "garbage",
        "application/json;q=0.1, application/xml;q=0.9",
    ] {
        p.check("GET", &format!("{c}?delimiter=/"), &[("Accept", accept)]);
        p.check("HEAD", c, &[("Accept", accept)]);
        p.check("GET", &format!("{c}?format=json"), &[("Accept", accept)]);
    }
    for fmt in ["", "?format=json", "?format=xml"] {
        for target in ["con", "empty", "gone", "never"] {
            p.check("HEAD", &format!("/sda/1/acc/{target}{fmt}"), &[]);
            p.check("GET", &format!("/sda/1/acc/{target}{fmt}"), &[]);
        }
    }
    // Bad input.
    p.check("GET", &format!("{c}?marker=%ff"), &[]);
    p.check("GET", "/sda/1/acc/%ff", &[]);
    p.check("GET", "/sda/1/acc", &[]);
    p.check("PUT", "/sda/1/acc/x", &[("X-Timestamp", "nope")]);
    p.check("PUT", "/sda/1/acc/x", &[]);
    p.check("PUT", "/sdz/1/acc/x", &[("X-Timestamp", &ts(1))]);
    p.check("GET", "/sdz/1/acc/con", &[]);
    p.check("PATCH", "/sda/1/acc/con", &[]);
    p.check(
        "PUT",
        "/sda/1/acc/con",
        &[
            ("X-Timestamp", &ts(3)),
            ("X-Backend-Storage-Policy-Index", "7"),
        ],
    );
    // POST metadata, then HEAD shows it; an empty value removes it.
    p.check(
        "POST",
        c,
        &[
            ("X-Timestamp", &ts(200)),
            ("X-Container-Meta-Color", ""),
            ("X-Container-Meta-Size", "big"),
            ("X-Container-Write", "a:b"),
        ],
    );
    p.check("HEAD", c, &[]);
    p.check("POST", "/sda/1/acc/never", &[("X-Timestamp", &ts(200))]);
    p.check("POST", "/sda/1/acc/gone", &[("X-Timestamp", &ts(200))]);
    p.check("POST", c, &[]);
    // Not empty: 409. Recreate the tombstoned one: 201.
    p.check("DELETE", c, &[("X-Timestamp", &ts(300))]);
    p.check("DELETE", "/sda/1/acc/never", &[("X-Timestamp", &ts(300))]);
    p.check("PUT", "/sda/1/acc/gone", &[("X-Timestamp", &ts(301))]);
    p.check("HEAD", "/sda/1/acc/gone", &[]);
    p.check("DELETE", "/sda/1/acc/empty", &[("X-Timestamp", &ts(302))]);
    p.check("HEAD", "/sda/1/acc/empty", &[]);
    p.check("PUT", "/sda/1/acc/empty", &[("X-Timestamp", &ts(301))]);
}

const CONTAINERS: &[(&str, usize, usize)] = &[
    ("a", 1, 10),
    ("a-1", 2, 20),
    ("a-2", 0, 0),
    ("a-b-c", 5, 50),
    ("b", 3, 3),
    ("c-x", 1, 1),
    ("sp ace", 9, 99),
    ("é-1", 4, 4),
    ("😀", 1, 2),
    ("q\"&<>", 0, 0),
    ("zz", 7, 7),
];

fn populate_account(p: &mut Pair) {
    let a = "/sda/1/acc";
    p.check(
        "PUT",
        a,
        &[
            ("X-Timestamp", &ts(1)),
            ("X-Account-Meta-Color", "red"),
            ("X-Account-Sysmeta-X", "y"),
        ],
    );
    p.check("PUT", a, &[("X-Timestamp", &ts(2))]);
    for (i, (name, count, bytes)) in CONTAINERS.iter().enumerate() {
        let (c, b) = (count.to_string(), bytes.to_string());
        p.check(
            "PUT",
            &format!("{a}/{}", quote(name)),
            &[
                ("X-Put-Timestamp", &ts(10 + i)),
                ("X-Delete-Timestamp", "0"),
                ("X-Object-Count", &c),
                ("X-Bytes-Used", &b),
                ("X-Backend-Storage-Policy-Index", "0"),
                ("X-Timestamp", &ts(10 + i)),
            ],
        );
    }
    // A deleted container row, and an update that changes counts.
    p.check(
        "PUT",
        &format!("{a}/zz"),
        &[
            ("X-Put-Timestamp", &ts(10)),
            ("X-Delete-Timestamp", &ts(50)),
            ("X-Object-Count", "0"),
            ("X-Bytes-Used", "0"),
            ("X-Timestamp", &ts(50)),
        ],
    );
    p.check(
        "PUT",
        &format!("{a}/b"),
        &[
            ("X-Put-Timestamp", &ts(60)),
            ("X-Delete-Timestamp", "0"),
            ("X-Object-Count", "30"),
            ("X-Bytes-Used", "300"),
            ("X-Timestamp", &ts(60)),
        ],
    );
    p.check(
        "PUT",
        "/sda/1/other/c",
        &[
            ("X-Put-Timestamp", &ts(1)),
            ("X-Delete-Timestamp", "0"),
            ("X-Object-Count", "0"),
            ("X-Bytes-Used", "0"),
            ("X-Timestamp", &ts(1)),
        ],
    );
    p.check("PUT", "/sda/1/empty", &[("X-Timestamp", &ts(1))]);
}

fn account_cases(p: &mut Pair) {
    let a = "/sda/1/acc";
    let prefixes = [None, Some(""), Some("a"), Some("a-"), Some("é"), Some("zz")];
    let delims = [None, Some("-"), Some("/"), Some("-b")];
    let markers = [None, Some("a-1"), Some("b"), Some("a-")];
    let end_markers = [None, Some("c"), Some("a-2")];
    for prefix in prefixes {
        for delim in delims {
            for marker in markers {
                for end in end_markers {
                    for rev in [None, Some("yes")] {
                        for limit in [None, Some("2")] {
                            let mut q = vec!["format=json".to_string()];
                            for (k, v) in [
                                ("prefix", prefix),
                                ("delimiter", delim),
                                ("marker", marker),
                                ("end_marker", end),
                                ("reverse", rev),
                                ("limit", limit),
                            ] {
                                if let Some(v) = v {
                                    q.push(format!("{k}={}", quote(v)));
                                }
                            }
                            p.check("GET", &format!("{a}?{}", q.join("&")), &[]);
                        }
                    }
                }
            }
        }
    }
    for fmt in [
        "",
        "format=json",
        "format=xml",
        "format=plain",
        "format=bogus",
    ] {
        for extra in [
            "",
            "&delimiter=-",
            "&prefix=nothing",
            "&limit=0",
            "&limit=10001",
            "&path=a",
        ] {
            for acct in ["acc", "empty"] {
                p.check("GET", &format!("/sda/1/{acct}?{fmt}{extra}"), &[]);
            }
        }
        p.check("HEAD", &format!("{a}?{fmt}"), &[]);
    }
    for accept in [
        "application/json",
        "text/xml",
        "*/*",
        "image/png",
        "garbage",
    ] {
        p.check("GET", a, &[("Accept", accept)]);
        p.check("HEAD", a, &[("Accept", accept)]);
    }
    p.check("GET", "/sda/1/never", &[]);
    p.check("HEAD", "/sda/1/never", &[]);
    p.check("GET", "/sda/1/acc/c", &[]);
    p.check("GET", "/sda/1/%ff", &[]);
    p.check(
        "PUT",
        "/sda/1/never/c",
        &[
            ("X-Put-Timestamp", &ts(1)),
            ("X-Delete-Timestamp", "0"),
            ("X-Object-Count", "0"),
            ("X-Bytes-Used", "0"),
            ("X-Timestamp", &ts(1)),
        ],
    );
    p.check(
        "POST",
        a,
        &[
            ("X-Timestamp", &ts(200)),
            ("X-Account-Meta-Color", ""),
            ("X-Account-Meta-Shape", "round"),
        ],
    );
    p.check("HEAD", a, &[]);
    p.check("POST", "/sda/1/never", &[("X-Timestamp", &ts(200))]);
    p.check("DELETE", "/sda/1/empty", &[("X-Timestamp", &ts(300))]);
    p.check("HEAD", "/sda/1/empty", &[]);
    p.check("GET", "/sda/1/empty", &[]);
    p.check("DELETE", "/sda/1/empty", &[("X-Timestamp", &ts(301))]);
    p.check("PUT", "/sda/1/empty", &[("X-Timestamp", &ts(302))]);
    p.check("POST", "/sda/1/empty", &[("X-Timestamp", &ts(303))]);
    p.check(
        "PUT",
        "/sda/1/empty/c",
        &[
            ("X-Put-Timestamp", &ts(1)),
            ("X-Delete-Timestamp", "0"),
            ("X-Object-Count", "0"),
            ("X-Bytes-Used", "0"),
            ("X-Timestamp", &ts(1)),
        ],
    );
}

fn report(p: &Pair, what: &str) {
    if !p.mismatches.is_empty() {
        let shown: Vec<&String> = p.mismatches.iter().take(15).collect();
        panic!(
            "{what}: {} of {} requests differ from Swift; first ones:\n{}",
            p.mismatches.len(),
            p.count,
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    eprintln!("{what}: {} requests identical to Swift's", p.count);
}

#[test]
fn container_server_matches_swift() {
    let dir = tempfile::tempdir().unwrap();
    let (swift, swirl) = std::thread::scope(|s| {
        let a = s.spawn(|| swift_db(dir.path(), "container"));
        let b = s.spawn(|| swirl_db(dir.path(), "container", "log_requests = false"));
        (a.join().unwrap(), b.join().unwrap())
    });
    let mut p = Pair {
        swift: swift.proc.addr(),
        swirl: swirl.proc.addr(),
        mismatches: Vec::new(),
        count: 0,
    };
    populate_container(&mut p);
    container_cases(&mut p);
    report(&p, "container server");
}

#[test]
fn account_server_matches_swift() {
    let dir = tempfile::tempdir().unwrap();
    let (swift, swirl) = std::thread::scope(|s| {
        let a = s.spawn(|| swift_db(dir.path(), "account"));
        let b = s.spawn(|| swirl_db(dir.path(), "account", "log_requests = false"));
        (a.join().unwrap(), b.join().unwrap())
    });
    let mut p = Pair {
        swift: swift.proc.addr(),
        swirl: swirl.proc.addr(),
        mismatches: Vec::new(),
        count: 0,
    };
    populate_account(&mut p);
    account_cases(&mut p);
    report(&p, "account server");
}
