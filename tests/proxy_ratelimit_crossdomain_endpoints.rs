//! ratelimit, crossdomain and list_endpoints through `swirl aio` (its
//! pipeline has all three, as Swift's SAIO has ratelimit and crossdomain):
//! the policy document and its /info entry; the nodes' URLs of accounts,
//! containers and objects, compared with what Swift's own list_endpoints
//! answers over the same rings, and its 400s and 405s; writes slowed to
//! the configured rates, 498 "Slow down" past the maximum sleep, and
//! accounts listed (by config or by their sysmeta) exempted or refused
//! with 497.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::{self, header, http_request, Proc};
use crate::proxy_cluster::token;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A bodiless request's whole answer, as sent (the reason phrase and
/// header names included).
fn raw(addr: SocketAddr, method: &str, path: &str, token: &str) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nX-Auth-Token: {token}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    text(&raw)
}

/// The status line of a bodiless request's answer (the reason phrase included).
fn status_line(addr: SocketAddr, method: &str, path: &str, token: &str) -> String {
    let all = raw(addr, method, path, token);
    all.lines().next().unwrap_or_default().to_string()
}

fn info(addr: SocketAddr) -> serde_json::Value {
    let (s, _, b) = http_request(addr, "GET", "/info", &[], b"").unwrap();
    assert_eq!(s, 200);
    serde_json::from_slice(&b).unwrap()
}

/// Starts aio once (to write its configs), then again with `top` at the
/// head of the proxy's config and `tables` at its end.
fn aio_with(data: &Path, top: &str, tables: &str) -> Proc {
    let mut aio = harness::start_aio(data);
    aio.kill9();
    let conf = data.join("etc").join("proxy-server.toml");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("{top}\n{text}\n{tables}\n")).unwrap();
    harness::start_aio(data)
}

const SWIFT_DEFAULT_DOC: &str = "<?xml version=\"1.0\"?>\n<!DOCTYPE cross-domain-policy SYSTEM \"http://www.adobe.com/xml/dtds/cross-domain-policy.dtd\" >\n<cross-domain-policy>\n<allow-access-from domain=\"*\" secure=\"false\" />\n</cross-domain-policy>";

/// What Swift's list_endpoints answers for `paths` over the aio's rings,
/// the container's policy being `policy`: (status, content type, body).
fn swift_answers(etc: &Path, policy: u32, paths: &[&str]) -> Vec<(u16, String, String)> {
    let out = harness::swift_python(
        &harness::py_dir().join("list_endpoints.py"),
        &[&[etc.to_str().unwrap(), &policy.to_string()], paths].concat(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn crossdomain_and_list_endpoints_in_aio() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let aio = harness::start_aio(&data);
    let addr = aio.addr();

    // crossdomain: Swift's document, for anyone, GET only.
    let (s, h, b) = http_request(addr, "GET", "/crossdomain.xml", &[], b"").unwrap();
    assert_eq!(s, 200);
    assert_eq!(header(&h, "content-type"), Some("application/xml"));
    assert_eq!(text(&b), SWIFT_DEFAULT_DOC);
    let (s, _, _) = http_request(addr, "HEAD", "/crossdomain.xml", &[], b"").unwrap();
    assert_eq!(s, 404);
    let (s, _, _) = http_request(addr, "GET", "/crossdomain.xml/x", &[], b"").unwrap();
    assert_eq!(s, 404);
    let i = info(addr);
    assert_eq!(i["crossdomain"], serde_json::json!({}));
    // The aio's ratelimit has Swift's defaults, which limit nothing.
    assert_eq!(
        i["ratelimit"],
        serde_json::json!({"account_ratelimit": 0.0, "max_sleep_time_seconds": 60.0,
            "container_ratelimits": [], "container_listing_ratelimits": []})
    );
    // Swift's list_endpoints registers nothing.
    assert!(i.get("list_endpoints").is_none(), "{i}");

    // list_endpoints: a container of policy 1 (silver) with an object.
    let (tok, acct) = token(addr, "test:tester", "testing");
    let auth = [("X-Auth-Token", tok.as_str())];
    let put = |path: &str, h: &[(&str, &str)], body: &[u8]| {
        let mut hs = auth.to_vec();
        hs.extend_from_slice(h);
        let (s, _, b) = http_request(addr, "PUT", &format!("{acct}{path}"), &hs, body).unwrap();
        assert!(s == 201 || s == 202, "PUT {path}: {s} {}", text(&b));
    };
    put("/silver", &[("X-Storage-Policy", "silver")], b"");
    put("/silver/a%20b/c", &[], b"x");
    let a = acct.trim_start_matches("/v1/");
    let paths: Vec<String> = [
        format!("/endpoints/{a}"),
        format!("/endpoints/{a}/"),
        format!("/endpoints/v1/{a}/silver"),
        format!("/endpoints/{a}/silver/a%20b/c"),
        format!("/endpoints/v2/{a}/silver/a%20b/c"),
        format!("/endpoints/v2/{a}/silver"),
        format!("/endpoints/v2/{a}"),
        "/endpoints/".into(),
        "/endpoints/v1".into(),
        format!("/endpoints/v3/{a}"),
        format!("/endpoints//{a}"),
    ]
    .to_vec();
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    let etc = data.join("etc");
    let swift = swift_answers(&etc, 1, &refs);
    for (path, want) in paths.iter().zip(&swift) {
        let (s, h, b) = http_request(addr, "GET", path, &[], b"").unwrap();
        let got = (
            s,
            header(&h, "content-type").unwrap_or_default().to_string(),
            text(&b),
        );
        assert_eq!(&got, want, "GET {path}");
    }
    // What the answers say, not only that they are Swift's.
    let v2: serde_json::Value = serde_json::from_str(&swift[4].2).unwrap();
    assert_eq!(v2["headers"]["X-Backend-Storage-Policy-Index"], "1");
    let urls = v2["endpoints"].as_array().unwrap();
    assert!(!urls.is_empty());
    for u in urls {
        assert!(
            u.as_str()
                .unwrap()
                .ends_with(&format!("/{a}/silver/a%20b/c")),
            "{u}"
        );
    }
    assert_eq!(swift[7].0, 400);
    assert_eq!(swift[7].2, "No account specified");
    assert_eq!(swift[9].2, "Unsupported version 'v3'");
    // The URLs reach the object's servers: a signed backend GET finds it.
    let signer = harness::aio_backend_auth(&data);
    let u = urls[0].as_str().unwrap().trim_start_matches("http://");
    let (host, path) = u.split_once('/').unwrap();
    let path = format!("/{path}");
    let (s, _, b) = harness::signed_request(
        &signer,
        host.parse().unwrap(),
        "GET",
        &path,
        &[("X-Backend-Storage-Policy-Index", "1")],
        b"",
    )
    .unwrap();
    assert_eq!((s, text(&b).as_str()), (200, "x"), "GET {u}");

    // Only GET: anything else is 405, with Allow.
    for m in ["PUT", "POST", "DELETE", "HEAD"] {
        let (s, h, _) = http_request(addr, m, &format!("/endpoints/{a}"), &[], b"").unwrap();
        assert_eq!(s, 405, "{m}");
        assert_eq!(header(&h, "allow"), Some("GET"), "{m}");
    }
    // Outside the prefix, the proxy's 404.
    let (s, _, _) = http_request(addr, "GET", "/endpoints", &[], b"").unwrap();
    assert_eq!(s, 404);
}

#[test]
fn ratelimit_sleeps_refuses_and_lists_accounts() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let aio = aio_with(
        &data,
        // Info read again soon, so object counts and sysmeta show quickly.
        "recheck_container_existence = 0.2\nrecheck_account_existence = 0.2",
        "[ratelimit]\naccount_ratelimit = 4\nmax_sleep_time_seconds = 1\n\
         rate_buffer_seconds = 0\ncontainer_ratelimit_1 = 5\n\
         container_listing_ratelimit_2 = 5\naccount_blacklist = \"AUTH_test2\"\n\n\
         [crossdomain]\ncross_domain_policy = '<allow-access-from domain=\"*.example.com\" />'\n",
    );
    let addr = aio.addr();
    let (s, _, b) = http_request(addr, "GET", "/crossdomain.xml", &[], b"").unwrap();
    assert_eq!(s, 200);
    assert!(
        text(&b).contains("<cross-domain-policy>\n<allow-access-from domain=\"*.example.com\" />\n</cross-domain-policy>"),
        "{}",
        text(&b)
    );
    assert_eq!(
        info(addr)["ratelimit"],
        serde_json::json!({"account_ratelimit": 4.0, "max_sleep_time_seconds": 1.0,
            "container_ratelimits": [[1, 5.0]], "container_listing_ratelimits": [[2, 5.0]]})
    );

    let (tok, acct) = token(addr, "test:tester", "testing");
    let req = |m: &str, path: &str| {
        let (s, h, b) = http_request(
            addr,
            m,
            &format!("{acct}{path}"),
            &[("X-Auth-Token", tok.as_str())],
            b"",
        )
        .unwrap();
        (s, h, text(&b))
    };

    // Container PUTs at 4/s: eight one after the other take 7/4 s at least.
    let t = Instant::now();
    for i in 0..8 {
        let (s, _, b) = req("PUT", &format!("/c{i}"));
        assert_eq!(s, 201, "{b}");
    }
    let paced = t.elapsed();
    assert!(paced >= Duration::from_millis(1650), "{paced:?}");
    // Reads of the account are not limited.
    let t = Instant::now();
    for _ in 0..8 {
        assert_eq!(req("GET", "").0, 200);
    }
    assert!(t.elapsed() < paced, "{:?}", t.elapsed());

    // All at once: those that would sleep a second or more get 498
    // "Slow down" (four fit in a second at 4/s when they come together).
    std::thread::sleep(Duration::from_millis(300));
    let answers: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..10)
            .map(|i| {
                let (tok, acct) = (&tok, &acct);
                s.spawn(move || raw(addr, "PUT", &format!("{acct}/burst{i}"), tok))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let refusals: Vec<&String> = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 498 Rate Limited\r\n"))
        .collect();
    let created = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 201"))
        .count();
    assert!(
        refusals.len() >= 2 && created >= 2 && refusals.len() + created == 10,
        "{answers:?}"
    );
    for r in refusals {
        assert!(r.ends_with("\r\n\r\nSlow down"), "{r}");
        assert!(
            r.contains("\r\nContent-Type: text/html; charset=UTF-8\r\n"),
            "{r}"
        );
    }
    std::thread::sleep(Duration::from_millis(1200));

    // Object writes at 5/s once the container holds an object (its count
    // as the proxy reads it); listings at 5/s from two objects on.
    assert_eq!(req("PUT", "/c0/first").0, 201);
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    for i in 0..6 {
        assert_eq!(req("PUT", &format!("/c0/o{i}")).0, 201);
    }
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    // An empty container's object writes go at full speed.
    let t = Instant::now();
    for i in 0..6 {
        assert_eq!(req("DELETE", &format!("/c1/none{i}")).0, 404);
    }
    let fast = t.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    for _ in 0..6 {
        assert_eq!(req("GET", "/c0").0, 200);
    }
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    assert!(fast < Duration::from_millis(900), "{fast:?}");

    // Accounts listed by sysmeta (set on the account servers, as Swift's
    // internal clients do; the servers from list_endpoints).
    let signer = harness::aio_backend_auth(&data);
    let a = acct.trim_start_matches("/v1/");
    let set_sysmeta = |value: &str| {
        let (s, _, b) = http_request(addr, "GET", &format!("/endpoints/{a}"), &[], b"").unwrap();
        assert_eq!(s, 200);
        let urls: Vec<String> = serde_json::from_slice(&b).unwrap();
        let ts = swirl_common::Timestamp::now().internal();
        for u in urls {
            let (host, path) = u.trim_start_matches("http://").split_once('/').unwrap();
            let (s, _, _) = harness::signed_request(
                &signer,
                host.parse().unwrap(),
                "POST",
                &format!("/{path}"),
                &[
                    ("X-Timestamp", ts.as_str()),
                    ("X-Account-Sysmeta-Global-Write-Ratelimit", value),
                ],
                b"",
            )
            .unwrap();
            assert_eq!(s, 204, "POST {u}");
        }
        std::thread::sleep(Duration::from_millis(400));
    };
    // WHITELIST: container PUTs no longer paced.
    set_sysmeta("WHITELIST");
    let t = Instant::now();
    for i in 0..6 {
        assert_eq!(req("PUT", &format!("/w{i}")).0, 201);
    }
    assert!(
        t.elapsed() < Duration::from_millis(1200),
        "{:?}",
        t.elapsed()
    );
    // A rate: every write of the account, container POSTs included.
    set_sysmeta("3");
    let t = Instant::now();
    for _ in 0..4 {
        assert_eq!(req("POST", "/c2").0, 204);
    }
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    // BLACKLIST: every request, reads too, is 497 after a second.
    set_sysmeta("BLACKLIST");
    let t = Instant::now();
    assert_eq!(
        status_line(addr, "GET", &acct, &tok),
        "HTTP/1.1 497 Blacklisted"
    );
    assert!(t.elapsed() >= Duration::from_secs(1));
    let (s, _, b) = req("GET", "/c0");
    assert_eq!((s, b.as_str()), (497, "Your account has been blacklisted"));

    // account_blacklist: refused before authentication, whoever asks.
    let (s, _, b) = http_request(addr, "GET", "/v1/AUTH_test2/c", &[], b"").unwrap();
    assert_eq!(
        (s, text(&b).as_str()),
        (497, "Your account has been blacklisted")
    );
    // Outside /v1 nothing is limited.
    let (s, _, _) = http_request(addr, "GET", "/crossdomain.xml", &[], b"").unwrap();
    assert_eq!(s, 200);
}
