//! tempurl on `swirl aio`, beyond what Swift's functional tests check
//! (`functests` runs Swift's test_tempurl.py): client address ranges,
//! base64 signatures, Content-Disposition from `filename` and `inline`, its
//! 401 body, sha1 refused unless configured, headers a write may not carry,
//! object metadata kept from the URL's users, and the `/info` entry.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::harness::{self, header, http_request};
use crate::proxy_cluster::token;

/// Python's `hmac.new(key, message, digest)`, hex or base64 (URL-safe, unpadded).
fn sign(digest: &str, key: &str, message: &str, b64: bool) -> String {
    let script = "import base64,hmac,sys\n\
        d=hmac.new(sys.argv[2].encode(),sys.argv[3].encode(),sys.argv[1]).digest()\n\
        print(base64.urlsafe_b64encode(d).decode().rstrip('=') if sys.argv[4]=='1' else d.hex())";
    let out = Command::new("python3")
        .args([
            "-c",
            script,
            digest,
            key,
            message,
            if b64 { "1" } else { "0" },
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn expires() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 300
}

struct Fixture {
    addr: SocketAddr,
    token: String,
    /// `/v1/AUTH_test`
    account: String,
}

impl Fixture {
    fn req(
        &self,
        method: &str,
        path: &str,
        h: &[(&str, &str)],
        body: &[u8],
    ) -> harness::RawResponse {
        http_request(self.addr, method, path, h, body).unwrap()
    }

    fn authed(&self, method: &str, path: &str, extra: &[(&str, &str)], body: &[u8]) -> u16 {
        let mut h = vec![("X-Auth-Token", self.token.as_str())];
        h.extend_from_slice(extra);
        self.req(method, path, &h, body).0
    }
}

#[test]
fn tempurl_signatures_ranges_and_dispositions() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = harness::start_aio(&tmp.path().join("d"));
    let (tok, url) = token(aio.addr(), "test:tester", "testing");
    let account = url
        .split_once("/v1/")
        .map(|(_, a)| format!("/v1/{a}"))
        .unwrap();
    let f = Fixture {
        addr: aio.addr(),
        token: tok,
        account,
    };
    let acct = &f.account;
    assert_eq!(
        f.authed("POST", acct, &[("X-Account-Meta-Temp-URL-Key", "k€y")], b""),
        204
    );
    assert!(matches!(
        f.authed("PUT", &format!("{acct}/c"), &[], b""),
        201 | 202
    ));
    let meta = [
        ("X-Object-Meta-Secret", "s"),
        ("X-Object-Meta-Public-Note", "n"),
    ];
    assert_eq!(
        f.authed("PUT", &format!("{acct}/c/dir/o.txt"), &meta, b"hello"),
        201
    );

    let exp = expires();
    let path = format!("{acct}/c/dir/o.txt");
    let sig = sign("sha256", "k€y", &format!("GET\n{exp}\n{path}"), false);
    let q = format!("temp_url_sig={sig}&temp_url_expires={exp}");

    // A hex sha256 GET: the body, the object's name as attachment, Expires,
    // and only public object metadata.
    let (s, h, b) = f.req("GET", &format!("{path}?{q}"), &[], b"");
    assert_eq!((s, b.as_slice()), (200, &b"hello"[..]));
    assert_eq!(
        header(&h, "content-disposition"),
        Some("attachment; filename=\"o.txt\"; filename*=UTF-8''o.txt")
    );
    assert!(header(&h, "expires").is_some_and(|e| e.ends_with(" GMT")));
    assert!(header(&h, "x-object-meta-secret").is_none());
    assert_eq!(header(&h, "x-object-meta-public-note"), Some("n"));
    // filename and inline.
    let (_, h, _) = f.req("GET", &format!("{path}?{q}&filename=a%20b.txt"), &[], b"");
    assert_eq!(
        header(&h, "content-disposition"),
        Some("attachment; filename=\"a b.txt\"; filename*=UTF-8''a%20b.txt")
    );
    let (_, h, _) = f.req("GET", &format!("{path}?{q}&inline"), &[], b"");
    assert_eq!(header(&h, "content-disposition"), Some("inline"));
    // HEAD with the GET signature.
    assert_eq!(f.req("HEAD", &format!("{path}?{q}"), &[], b"").0, 200);
    // The same signature as prefixed URL-safe base64.
    let b64 = sign("sha256", "k€y", &format!("GET\n{exp}\n{path}"), true);
    let q64 = format!("temp_url_sig=sha256:{b64}&temp_url_expires={exp}");
    assert_eq!(f.req("GET", &format!("{path}?{q64}"), &[], b"").0, 200);
    // sha512 is allowed by default, sha1 is not.
    let s512 = sign("sha512", "k€y", &format!("GET\n{exp}\n{path}"), false);
    let q512 = format!("temp_url_sig={s512}&temp_url_expires={exp}");
    assert_eq!(f.req("GET", &format!("{path}?{q512}"), &[], b"").0, 200);
    let s1 = sign("sha1", "k€y", &format!("GET\n{exp}\n{path}"), false);
    let q1 = format!("temp_url_sig={s1}&temp_url_expires={exp}");
    let (s, h, b) = f.req("GET", &format!("{path}?{q1}"), &[], b"");
    assert_eq!(s, 401);
    assert_eq!(b, b"401 Unauthorized: Temp URL invalid\n");
    assert!(header(&h, "www-authenticate").is_some_and(|v| v.contains("AUTH_test")));
    // Another object, or a bad token beside a good signature.
    let other = format!("{acct}/c/dir/other");
    assert_eq!(f.req("GET", &format!("{other}?{q}"), &[], b"").0, 401);
    let bad_token = [("X-Auth-Token", "AUTH_tkbogus")];
    assert_eq!(f.req("GET", &format!("{path}?{q}"), &bad_token, b"").0, 200);

    // Client address ranges: the loopback address only.
    for (range, want) in [
        ("127.0.0.1", 200),
        ("127.0.0.0/8", 200),
        ("10.0.0.0/8", 401),
    ] {
        let m = format!("ip={range}\nGET\n{exp}\n{path}");
        let sig = sign("sha256", "k€y", &m, false);
        let q = format!("temp_url_sig={sig}&temp_url_expires={exp}&temp_url_ip_range={range}");
        assert_eq!(
            f.req("GET", &format!("{path}?{q}"), &[], b"").0,
            want,
            "{range}"
        );
    }

    // A prefix URL allows PUTs under it; a PUT may not make a DLO manifest.
    let prefix_path = format!("prefix:{acct}/c/dir/");
    let sig = sign(
        "sha256",
        "k€y",
        &format!("PUT\n{exp}\n{prefix_path}"),
        false,
    );
    let q = format!("temp_url_sig={sig}&temp_url_expires={exp}&temp_url_prefix=dir/");
    let put = format!("{acct}/c/dir/new?{q}");
    assert_eq!(f.req("PUT", &put, &[], b"new").0, 201);
    let manifest = [("X-Object-Manifest", "c/dir/")];
    let (s, _, b) = f.req("PUT", &put, &manifest, b"");
    assert_eq!(s, 400, "{}", String::from_utf8_lossy(&b));
    assert_eq!(
        f.req("PUT", &format!("{acct}/c/elsewhere?{q}"), &[], b"x")
            .0,
        401
    );

    // /info describes it.
    let (_, _, b) = f.req("GET", "/info", &[], b"");
    let info: serde_json::Value = serde_json::from_slice(&b).unwrap();
    let t = &info["tempurl"];
    assert_eq!(
        t["allowed_digests"],
        serde_json::json!(["sha256", "sha512"])
    );
    assert_eq!(
        t["methods"],
        serde_json::json!(["GET", "HEAD", "PUT", "POST", "DELETE"])
    );
    assert_eq!(
        t["outgoing_allow_headers"],
        serde_json::json!(["x-object-meta-public-*"])
    );
    assert!(t.get("deprecated_digests").is_none());
}
