//! The etag-quoter through `swirl aio`: account and container flags (the
//! container's wins), shown under their own names, and `enable_by_default`.

use crate::harness::{self, header, http_request};
use crate::proxy_cluster::token;
use crate::proxy_dlo::aio;

#[test]
fn etag_quoter_flags_and_default() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let mut aio = aio(&data, "");
    let addr = aio.addr();
    let (tok, acct) = token(addr, "test:tester", "testing");
    let req = |method: &str, path: &str, h: &[(&str, &str)], body: &[u8]| {
        let mut hs = vec![("X-Auth-Token", tok.as_str())];
        hs.extend_from_slice(h);
        http_request(addr, method, &format!("{acct}{path}"), &hs, body).unwrap()
    };
    let md5 = format!("{:x}", md5::compute(b"test"));
    let quoted = format!("\"{md5}\"");
    assert_eq!(req("PUT", "/c", &[], b"").0, 201);
    let (s, h, _) = req("PUT", "/c/o", &[], b"test");
    assert_eq!((s, header(&h, "etag")), (201, Some(md5.as_str())));
    let etag = |path: &str| {
        let (s, h, _) = req("HEAD", path, &[], b"");
        assert_eq!(s, 200);
        header(&h, "etag").unwrap().to_string()
    };
    assert_eq!(etag("/c/o"), md5);
    let post = |path: &str, name: &str, v: &str| {
        assert_eq!(req("POST", path, &[(name, v)], b"").0, 204);
    };
    post("/c", "X-Container-Rfc-Compliant-Etags", "t");
    assert_eq!(etag("/c/o"), quoted);
    let (_, h, b) = req("GET", "/c/o", &[], b"");
    assert_eq!(
        (header(&h, "etag"), b.as_slice()),
        (Some(quoted.as_str()), &b"test"[..])
    );
    let (_, h, _) = req("PUT", "/c/o2", &[], b"test");
    assert_eq!(header(&h, "etag"), Some(quoted.as_str()));
    let (_, h, _) = req("HEAD", "/c", &[], b"");
    assert_eq!(header(&h, "x-container-rfc-compliant-etags"), Some("True"));
    assert!(header(&h, "x-container-sysmeta-rfc-compliant-etags").is_none());
    // The account's flag applies where the container says nothing...
    post("", "X-Account-Rfc-Compliant-Etags", "t");
    post("/c", "X-Container-Rfc-Compliant-Etags", "");
    assert_eq!(etag("/c/o"), quoted);
    let (_, h, _) = req("HEAD", "", &[], b"");
    assert_eq!(header(&h, "x-account-rfc-compliant-etags"), Some("True"));
    // ...and the container's wins.
    post("/c", "X-Container-Rfc-Compliant-Etags", "f");
    assert_eq!(etag("/c/o"), md5);
    let (_, h, _) = req("HEAD", "/c", &[], b"");
    assert_eq!(header(&h, "x-container-rfc-compliant-etags"), Some("False"));
    post("", "X-Account-Rfc-Compliant-Etags", "");
    post("/c", "X-Remove-Container-Rfc-Compliant-Etags", "x");
    assert_eq!(etag("/c/o"), md5);
    // Clients cannot set the sysmeta themselves.
    post("/c", "X-Container-Sysmeta-Rfc-Compliant-Etags", "True");
    assert_eq!(etag("/c/o"), md5);
    let (_, _, b) = http_request(addr, "GET", "/info", &[], b"").unwrap();
    let info: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        info["etag_quoter"],
        serde_json::json!({"enable_by_default": false})
    );

    // enable_by_default: quoted unless a flag says otherwise.
    aio.kill9();
    let conf = data.join("etc").join("proxy-server.toml");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(
        &conf,
        format!("{text}\n[etag_quoter]\nenable_by_default = true\n"),
    )
    .unwrap();
    let aio = harness::start_aio(&data);
    let addr = aio.addr();
    let (tok, acct) = token(addr, "test:tester", "testing");
    let head = |path: &str| {
        let (_, h, _) = http_request(
            addr,
            "HEAD",
            &format!("{acct}{path}"),
            &[("X-Auth-Token", &tok)],
            b"",
        )
        .unwrap();
        header(&h, "etag").unwrap().to_string()
    };
    assert_eq!(head("/c/o"), quoted);
    let (s, _, _) = http_request(
        addr,
        "POST",
        &format!("{acct}/c"),
        &[
            ("X-Auth-Token", &tok),
            ("X-Container-Rfc-Compliant-Etags", "no"),
        ],
        b"",
    )
    .unwrap();
    assert_eq!(s, 204);
    assert_eq!(head("/c/o"), md5);
    let (_, _, b) = http_request(addr, "GET", "/info", &[], b"").unwrap();
    let info: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        info["etag_quoter"],
        serde_json::json!({"enable_by_default": true})
    );
}
