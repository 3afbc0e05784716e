//! staticweb and domain_remap through `swirl aio` (whose pipeline has
//! both, domain_remap for `example.net`): a public container served as a
//! web site to anonymous clients (index, HTML listings, redirects to the
//! trailing slash, custom 401/404 pages), the same through a container's
//! own host name, and the owner's ordinary API untouched.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::harness::{self, header, http_request, http_request_on, RawResponse};
use crate::proxy_cluster::token;

fn with_host(addr: SocketAddr, host: &str, method: &str, path: &str) -> RawResponse {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    http_request_on(s, host, method, path, &[], b"").unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn staticweb_serves_public_containers_as_sites() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = harness::start_aio(&tmp.path().join("d"));
    let addr = aio.addr();
    let (tok, acct) = token(addr, "test:tester", "testing");
    let put = |path: &str, h: &[(&str, &str)], body: &[u8]| {
        let mut hs = vec![("X-Auth-Token", tok.as_str())];
        hs.extend_from_slice(h);
        let (s, _, b) = http_request(addr, "PUT", &format!("{acct}{path}"), &hs, body).unwrap();
        assert!(s == 201 || s == 202, "PUT {path}: {s} {}", text(&b));
    };
    let post = |path: &str, h: &[(&str, &str)]| {
        let mut hs = vec![("X-Auth-Token", tok.as_str())];
        hs.extend_from_slice(h);
        let (s, _, _) = http_request(addr, "POST", &format!("{acct}{path}"), &hs, b"").unwrap();
        assert_eq!(s, 204, "POST {path}");
    };
    let anon = |path: &str| http_request(addr, "GET", &format!("{acct}{path}"), &[], b"").unwrap();

    put("/web", &[("X-Container-Read", ".r:*,.rlistings")], b"");
    put("/web/index.html", &[], b"<p>home</p>");
    put("/web/404err.html", &[], b"<p>no such page</p>");
    put("/web/site.css", &[], b"h1 {}");
    put(
        "/web/docs",
        &[("Content-Type", "application/directory")],
        b"",
    );
    put(
        "/web/docs/a%20b.txt",
        &[("Content-Type", "text/plain")],
        &[b'x'; 2048],
    );
    put("/web/docs/sub/deep.txt", &[], b"deep");

    // Nothing set: anonymous reads are the plain API.
    let (s, _, b) = anon("/web");
    assert_eq!(s, 200);
    assert!(text(&b).contains("index.html\n"), "{}", text(&b));

    // Listings on: a redirect to the slash, then HTML.
    post(
        "/web",
        &[
            ("X-Container-Meta-Web-Listings", "true"),
            ("X-Container-Meta-Web-Listings-Css", "site.css"),
        ],
    );
    let (s, h, _) = anon("/web");
    assert_eq!(s, 301);
    assert_eq!(
        header(&h, "location"),
        Some(format!("http://{addr}{acct}/web/").as_str())
    );
    let (s, h, b) = anon("/web/");
    let page = text(&b);
    assert_eq!(s, 200, "{page}");
    assert_eq!(header(&h, "content-type"), Some("text/html; charset=UTF-8"));
    assert!(page.contains(&format!("<title>Listing of {acct}/web/</title>")));
    assert!(page.contains("href=\"site.css\""), "{page}");
    assert!(page.contains("<a href=\"docs/\">docs/</a>"), "{page}");
    assert!(page.contains("<a href=\"index.html\">index.html</a>"));
    assert!(!page.contains("a b.txt"));
    // A "directory" lists its own part, with its parent and the style
    // sheet one level up.
    let (s, _, b) = anon("/web/docs/");
    let page = text(&b);
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("<a href=\"../\">../</a>"));
    assert!(page.contains("href=\"../site.css\""));
    assert!(page.contains("<a href=\"a%20b.txt\">a b.txt</a>"), "{page}");
    assert!(page.contains("<td class=\"colsize\">2Ki</td>"));
    assert!(page.contains("<a href=\"sub/\">sub/</a>"));
    let (s, h, _) = anon("/web/docs");
    assert_eq!(s, 301);
    assert_eq!(
        header(&h, "location"),
        Some(format!("http://{addr}{acct}/web/docs/").as_str())
    );
    // The owner sees the plain API unless asking for the web view.
    let (s, _, b) = http_request(
        addr,
        "GET",
        &format!("{acct}/web/"),
        &[("X-Auth-Token", &tok)],
        b"",
    )
    .unwrap();
    assert_eq!(s, 200);
    assert!(!text(&b).contains("<html>"));
    let (s, _, b) = http_request(
        addr,
        "GET",
        &format!("{acct}/web/"),
        &[("X-Auth-Token", &tok), ("X-Web-Mode", "true")],
        b"",
    )
    .unwrap();
    assert_eq!(s, 200);
    assert!(text(&b).contains("Listing of"));

    // An index and an error page.
    post(
        "/web",
        &[
            ("X-Container-Meta-Web-Index", "index.html"),
            ("X-Container-Meta-Web-Error", "err.html"),
        ],
    );
    let (s, _, b) = anon("/web/");
    assert_eq!((s, text(&b).as_str()), (200, "<p>home</p>"));
    let (s, h, b) = anon("/web/missing.html");
    assert_eq!((s, text(&b).as_str()), (404, "<p>no such page</p>"));
    assert_eq!(header(&h, "content-length"), Some("19"));
    // Objects themselves are served as they are.
    let (s, _, b) = anon("/web/docs/sub/deep.txt");
    assert_eq!((s, text(&b).as_str()), (200, "deep"));

    // Listings off, index missing: the "disabled" page, a 404.
    post(
        "/web",
        &[
            ("X-Remove-Container-Meta-Web-Listings", "x"),
            ("X-Remove-Container-Meta-Web-Error", "x"),
            ("X-Container-Meta-Web-Index", "nothere.html"),
        ],
    );
    let (s, _, b) = anon("/web/");
    let page = text(&b);
    assert_eq!(s, 404);
    assert!(page.contains("Web Listing Disabled") && page.contains("nothere.html"));

    // Readable objects but no listings: the container is the caller's 401,
    // with the site's 401 page.
    put("/pub", &[("X-Container-Read", ".r:*")], b"");
    put("/pub/401oops.html", &[], b"<p>members only</p>");
    post(
        "/pub",
        &[
            ("X-Container-Meta-Web-Listings", "true"),
            ("X-Container-Meta-Web-Error", "oops.html"),
        ],
    );
    let (s, _, b) = anon("/pub/");
    assert_eq!((s, text(&b).as_str()), (401, "<p>members only</p>"));
    // A private container stays private, with no page to show.
    put(
        "/private",
        &[("X-Container-Meta-Web-Listings", "true")],
        b"",
    );
    assert_eq!(anon("/private/").0, 401);
    assert_eq!(anon("/private/x").0, 401);

    // The same site by its own host name (domain_remap), redirects naming
    // the path the client sent.
    let account = acct.trim_start_matches("/v1/");
    let host = format!("web.{}.example.net", account.replace('_', "-"));
    post("/web", &[("X-Container-Meta-Web-Index", "index.html")]);
    let (s, _, b) = with_host(addr, &host, "GET", "/");
    assert_eq!((s, text(&b).as_str()), (200, "<p>home</p>"));
    let (s, h, _) = with_host(addr, &host, "GET", "/docs");
    assert_eq!(s, 301);
    assert_eq!(
        header(&h, "location"),
        Some(format!("http://{host}/docs/").as_str())
    );
    let (s, _, b) = with_host(addr, &host, "GET", "/docs/sub/deep.txt");
    assert_eq!((s, text(&b).as_str()), (200, "deep"));
    // A host of too many parts is a bad request, not a server error.
    let (s, _, b) = with_host(addr, "a.b.c.example.net", "GET", "/");
    assert_eq!((s, text(&b).as_str()), (400, "Bad domain in host header"));
    // Any other host is the plain API.
    let (s, _, _) = with_host(addr, "other.example.org", "GET", &format!("{acct}/web/"));
    assert_eq!(s, 200);
}
