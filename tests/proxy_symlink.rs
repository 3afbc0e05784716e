//! The symlink middleware against `swirl aio`, as Swift 2.30's: a link
//! PUT (zero bytes only), GET/HEAD following it with Content-Location,
//! `?symlink=get` for the link itself, chains past `symloop_max` (409),
//! static links whose target changed (409 at PUT and at GET), a link into
//! an account the caller cannot read (401/403, never 5xx), POST (307),
//! copies of the link itself, JSON listings with `symlink_path`,
//! `symlink_etag` and `symlink_bytes`, and `/info`.

use crate::harness::{self, header, http_request};
use crate::proxy_cluster::token;

struct Client {
    addr: std::net::SocketAddr,
    tok: String,
    path: String,
}

impl Client {
    fn req(
        &self,
        method: &str,
        rel: &str,
        hdrs: &[(&str, &str)],
        body: &[u8],
    ) -> harness::RawResponse {
        let mut h = vec![("X-Auth-Token", self.tok.as_str())];
        h.extend_from_slice(hdrs);
        http_request(self.addr, method, &format!("{}/{rel}", self.path), &h, body).unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn symlinks_behave_as_swifts() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = harness::start_aio(&tmp.path().join("d"));
    let (tok, url) = token(aio.addr(), "test:tester", "testing");
    let path = url
        .split_once("/v1/")
        .map(|(_, p)| format!("/v1/{p}"))
        .unwrap();
    let acct = path.trim_start_matches("/v1/").to_string();
    let c = Client {
        addr: aio.addr(),
        tok,
        path: path.clone(),
    };

    // /info
    let (s, _, b) = http_request(aio.addr(), "GET", "/info", &[], b"").unwrap();
    assert_eq!(s, 200);
    let info: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        info["symlink"],
        serde_json::json!({"symloop_max": 2, "static_links": true})
    );

    for cont in ["tc", "lc"] {
        let (s, _, _) = c.req("PUT", cont, &[], b"");
        assert!(s == 201 || s == 202, "{s}");
    }
    let (s, th, _) = c.req(
        "PUT",
        "tc/target",
        &[("Content-Type", "text/x-target")],
        b"target body",
    );
    assert_eq!(s, 201);
    let tgt_etag = header(&th, "etag").unwrap().to_string();

    // A link must be empty, and well formed.
    let (s, _, b) = c.req("PUT", "lc/bad", &[("X-Symlink-Target", "tc/target")], b"x");
    assert_eq!(
        (s, text(&b).as_str()),
        (400, "Symlink requests require a zero byte body")
    );
    let (s, _, b) = c.req("PUT", "lc/bad", &[("X-Symlink-Target", "/tc/target")], b"");
    assert_eq!(s, 412, "{}", text(&b));
    assert_eq!(
        text(&b),
        "X-Symlink-Target header must be of the form <container name>/<object name>"
    );
    let (s, _, b) = c.req("PUT", "lc/self", &[("X-Symlink-Target", "lc/self")], b"");
    assert_eq!(
        (s, text(&b).as_str()),
        (400, "Symlink cannot target itself")
    );

    // A dynamic link: GET and HEAD read the target.
    let (s, _, _) = c.req("PUT", "lc/link", &[("X-Symlink-Target", "tc/target")], b"");
    assert_eq!(s, 201);
    let loc = format!("/v1/{acct}/tc/target");
    let (s, h, b) = c.req("GET", "lc/link", &[], b"");
    assert_eq!((s, b.as_slice()), (200, &b"target body"[..]));
    assert_eq!(header(&h, "content-location"), Some(loc.as_str()));
    assert_eq!(header(&h, "etag"), Some(tgt_etag.as_str()));
    assert_eq!(header(&h, "content-type"), Some("text/x-target"));
    let (s, h, _) = c.req("GET", "lc/link", &[("Range", "bytes=0-5")], b"");
    assert_eq!((s, header(&h, "content-length")), (206, Some("6")));
    let (s, h, _) = c.req("HEAD", "lc/link", &[], b"");
    assert_eq!((s, header(&h, "content-length")), (200, Some("11")));
    // ?symlink=get: the link itself.
    let (s, h, b) = c.req("GET", "lc/link?symlink=get", &[], b"");
    assert_eq!((s, b.len()), (200, 0));
    assert_eq!(header(&h, "x-symlink-target"), Some("tc/target"));
    assert_eq!(header(&h, "content-type"), Some("application/symlink"));
    assert!(header(&h, "content-location").is_none());
    assert!(h.iter().all(|(k, _)| !k.starts_with("x-object-sysmeta")));

    // Chains: two links are followed, a third is one too many.
    c.req("PUT", "lc/l2", &[("X-Symlink-Target", "lc/link")], b"");
    c.req("PUT", "lc/l3", &[("X-Symlink-Target", "lc/l2")], b"");
    let (s, h, b) = c.req("GET", "lc/l2", &[], b"");
    assert_eq!((s, b.as_slice()), (200, &b"target body"[..]));
    assert_eq!(header(&h, "content-location"), Some(loc.as_str()));
    let (s, _, b) = c.req("GET", "lc/l3", &[], b"");
    assert_eq!(s, 409);
    assert_eq!(
        text(&b),
        "Too many levels of symbolic links, maximum allowed is 2"
    );

    // A static link: the target must exist with that ETag.
    let (s, _, b) = c.req(
        "PUT",
        "lc/static",
        &[
            ("X-Symlink-Target", "tc/target"),
            ("X-Symlink-Target-Etag", "0123"),
        ],
        b"",
    );
    assert_eq!(s, 409, "{}", text(&b));
    let (s, _, b) = c.req(
        "PUT",
        "lc/static",
        &[
            ("X-Symlink-Target", "tc/nowhere"),
            ("X-Symlink-Target-Etag", &tgt_etag),
        ],
        b"",
    );
    assert_eq!(
        (s, text(&b).as_str()),
        (409, "X-Symlink-Target does not exist")
    );
    let (s, _, _) = c.req(
        "PUT",
        "lc/static",
        &[
            ("X-Symlink-Target", "tc/target"),
            ("X-Symlink-Target-Etag", &tgt_etag),
        ],
        b"",
    );
    assert_eq!(s, 201);
    let (s, h, _) = c.req("HEAD", "lc/static?symlink=get", &[], b"");
    assert_eq!(s, 200);
    assert_eq!(header(&h, "x-symlink-target-etag"), Some(tgt_etag.as_str()));
    assert_eq!(header(&h, "x-symlink-target-bytes"), Some("11"));
    // The static link's Content-Type is its target's.
    assert_eq!(header(&h, "content-type"), Some("text/x-target"));
    let (s, _, b) = c.req("GET", "lc/static", &[], b"");
    assert_eq!((s, b.as_slice()), (200, &b"target body"[..]));

    // The listing shows the links' targets.
    let (s, _, b) = c.req("GET", "lc?format=json", &[], b"");
    assert_eq!(s, 200);
    let list: serde_json::Value = serde_json::from_slice(&b).unwrap();
    let entry = |n: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == n)
            .unwrap()
            .clone()
    };
    let l = entry("link");
    assert_eq!(l["symlink_path"], loc.as_str());
    assert_eq!(l["hash"], "d41d8cd98f00b204e9800998ecf8427e");
    assert!(l.get("symlink_etag").is_none());
    let st = entry("static");
    assert_eq!(st["symlink_path"], loc.as_str());
    assert_eq!(st["symlink_etag"], tgt_etag.as_str());
    assert_eq!(st["symlink_bytes"], 11);
    let (s, _, b) = c.req("GET", "lc?format=xml", &[], b"");
    assert_eq!(s, 200);
    assert!(!text(&b).contains("symlink_target"), "{}", text(&b));

    // The target changes: the static link no longer reads (409), the
    // dynamic one does.
    let (s, _, _) = c.req("PUT", "tc/target", &[], b"new body");
    assert_eq!(s, 201);
    let (s, h, b) = c.req("GET", "lc/static", &[], b"");
    assert_eq!(s, 409, "{}", text(&b));
    assert!(
        text(&b).contains("does not match X-Symlink-Target-Etag header"),
        "{}",
        text(&b)
    );
    assert_eq!(header(&h, "content-location"), Some(loc.as_str()));
    let (s, _, b) = c.req("GET", "lc/link", &[], b"");
    assert_eq!((s, b.as_slice()), (200, &b"new body"[..]));

    // POST to a link: applied to it, answered 307 to the target.
    let (s, h, _) = c.req("POST", "lc/static", &[("X-Object-Meta-A", "1")], b"");
    assert_eq!(s, 307);
    assert_eq!(header(&h, "location"), Some(loc.as_str()));
    assert_eq!(header(&h, "x-symlink-target-etag"), Some(tgt_etag.as_str()));
    let (s, h, _) = c.req("HEAD", "lc/static?symlink=get", &[], b"");
    assert_eq!((s, header(&h, "x-object-meta-a")), (200, Some("1")));
    let (s, _, b) = c.req("POST", "lc/link", &[("X-Symlink-Target", "tc/x")], b"");
    assert_eq!(s, 400, "{}", text(&b));

    // Copies: the target's bytes, or with ?symlink=get the link itself.
    let (s, _, _) = c.req("PUT", "lc/copy", &[("X-Copy-From", "lc/link")], b"");
    assert_eq!(s, 201);
    let (s, h, b) = c.req("GET", "lc/copy", &[], b"");
    assert_eq!((s, b.as_slice()), (200, &b"new body"[..]));
    assert!(header(&h, "content-location").is_none());
    let (s, _, _) = c.req(
        "PUT",
        "lc/copy2?symlink=get",
        &[("X-Copy-From", "lc/link")],
        b"",
    );
    assert_eq!(s, 201);
    let (s, h, _) = c.req("HEAD", "lc/copy2?symlink=get", &[], b"");
    assert_eq!(
        (s, header(&h, "x-symlink-target")),
        (200, Some("tc/target"))
    );
    let (s, h, _) = c.req("GET", "lc/copy2", &[], b"");
    assert_eq!(
        (s, header(&h, "content-location")),
        (200, Some(loc.as_str()))
    );

    // A link into an account the caller may not read: refused, never a 5xx.
    let (tok2, url2) = token(aio.addr(), "test2:tester2", "testing2");
    let path2 = url2
        .split_once("/v1/")
        .map(|(_, p)| format!("/v1/{p}"))
        .unwrap();
    let acct2 = path2.trim_start_matches("/v1/").to_string();
    let c2 = Client {
        addr: aio.addr(),
        tok: tok2,
        path: path2,
    };
    let (s, _, _) = c2.req("PUT", "secret", &[], b"");
    assert!(s == 201 || s == 202, "{s}");
    let (s, _, _) = c2.req("PUT", "secret/o", &[], b"theirs");
    assert_eq!(s, 201);
    let (s, _, _) = c.req(
        "PUT",
        "lc/across",
        &[
            ("X-Symlink-Target", "secret/o"),
            ("X-Symlink-Target-Account", &acct2),
        ],
        b"",
    );
    assert_eq!(s, 201);
    for m in ["GET", "HEAD"] {
        let (s, _, b) = c.req(m, "lc/across", &[], b"");
        assert!(s == 401 || s == 403, "{m}: {s} {}", text(&b));
    }
    let (s, _, b) = c.req(
        "PUT",
        "lc/across-static",
        &[
            ("X-Symlink-Target", "secret/o"),
            ("X-Symlink-Target-Account", &acct2),
            ("X-Symlink-Target-Etag", "abc"),
        ],
        b"",
    );
    assert!(s == 401 || s == 403, "{s} {}", text(&b));
    // Its listing names the other account.
    let (_, _, b) = c.req("GET", "lc?format=json", &[], b"");
    let list: serde_json::Value = serde_json::from_slice(&b).unwrap();
    let across = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "across")
        .unwrap();
    assert_eq!(
        across["symlink_path"],
        format!("/v1/{acct2}/secret/o").as_str()
    );
}
