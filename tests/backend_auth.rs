//! Backend authentication against `swirl aio` (issue 12, item 8): the
//! object, container and account servers refuse requests that do not carry
//! the cluster's signature (none, another key, a replay, a changed header,
//! a time outside the window) and serve the ones that do, while the proxy,
//! the container updates and the recon endpoints work as before.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use swirl_common::backend_auth::{canonical, BackendAuthConfig, BackendKey};
use swirl_common::backend_headers as bh;

use crate::harness::{
    aio_backend_auth, header, http_request, signed_headers, signed_request, start_aio,
    token_and_path,
};

/// The address of the aio's `role` server (account, container, object).
fn server_addr(data: &Path, role: &str) -> SocketAddr {
    let text = std::fs::read_to_string(data.join(format!("etc/{role}-server.toml"))).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    let port = v["bind_port"].as_integer().unwrap();
    SocketAddr::from(([127, 0, 0, 1], u16::try_from(port).unwrap()))
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Sends headers as the server gets them (text), with `auth_value` as
/// X-Backend-Auth.
fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    h: &http::HeaderMap,
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let text: Vec<(String, String)> = h
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
        .collect();
    let refs: Vec<(&str, &str)> = text.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    http_request(addr, method, path, &refs, body).unwrap()
}

#[test]
fn storage_servers_refuse_requests_not_from_the_cluster() {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let aio = start_aio(data);
    let proxy = aio.addr();

    // Through the proxy everything works: it signs, and so do the object
    // server's container updates and the container server's account
    // updates (the listings show them).
    let (s, h, _) = http_request(
        proxy,
        "GET",
        "/auth/v1.0",
        &[("x-auth-user", "test:tester"), ("x-auth-key", "testing")],
        b"",
    )
    .unwrap();
    assert_eq!(s, 200);
    let (tok, acct) = token_and_path(&h);
    let auth = [("x-auth-token", tok.as_str())];
    let through = |method: &str, path: &str, body: &[u8]| {
        let full = if path.is_empty() {
            acct.clone()
        } else {
            format!("{acct}/{path}")
        };
        http_request(proxy, method, &full, &auth, body).unwrap()
    };
    assert_eq!(through("PUT", "c", b"").0, 201);
    assert_eq!(through("PUT", "c/o", b"precious").0, 201);
    let (s, _, listing) = through("GET", "c", b"");
    assert_eq!((s, String::from_utf8_lossy(&listing).trim()), (200, "o"));
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (s, _, listing) = through("GET", "", b"");
        if (s, String::from_utf8_lossy(&listing).trim()) == (200, "c") {
            break;
        }
        assert!(Instant::now() < deadline, "account listing: {s}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    let account = acct.trim_start_matches("/v1/").to_string();
    let suffix = {
        let text = std::fs::read_to_string(data.join("etc/proxy-server.toml")).unwrap();
        let v: toml::Value = toml::from_str(&text).unwrap();
        v["swift_hash_path_suffix"].as_str().unwrap().to_string()
    };
    let hash = swirl_ring::hash::HashPathConfig::new("", suffix.as_str());
    let place = |kind: &str, c: Option<&str>, o: Option<&str>| {
        let f = std::fs::File::open(data.join(format!("etc/{kind}.ring.gz"))).unwrap();
        let ring = swirl_ring::codec::read_ring(f).unwrap();
        let (part, mut nodes) = ring.get_nodes(&hash, &account, c, o);
        let dev = nodes.next().unwrap().dev.device.clone();
        format!("/{dev}/{part}")
    };
    let obj_path = format!("{}/{account}/c/o", place("object", Some("c"), Some("o")));
    let cont_path = format!("{}/{account}/c", place("container", Some("c"), None));
    let acct_path = format!("{}/{account}", place("account", None, None));
    let object = server_addr(data, "object");
    let container = server_addr(data, "container");
    let account_srv = server_addr(data, "account");
    let signer = aio_backend_auth(data);
    let stamp = format!("{:016.5}", now_secs());
    let ts = [("x-timestamp", stamp.as_str())];

    // Without credentials: refused by each server, for reads and writes.
    for (who, addr, path) in [
        ("object", object, &obj_path),
        ("container", container, &cont_path),
        ("account", account_srv, &acct_path),
    ] {
        for method in ["GET", "HEAD", "DELETE", "PUT"] {
            let (s, _, _) = http_request(addr, method, path, &ts, b"").unwrap();
            assert_eq!(s, 401, "{who}: unsigned {method}");
        }
        // Signed with the cluster's key: served.
        let (s, _, _) = signed_request(&signer, addr, "HEAD", path, &[], b"").unwrap();
        assert!((200..300).contains(&s), "{who}: signed HEAD: {s}");
        // Recon stays open for operators and swift-recon.
        let (s, _, _) = http_request(addr, "GET", "/recon/ringmd5", &[], b"").unwrap();
        assert_eq!(s, 200, "{who}: recon");
        let (s, _, _) = http_request(addr, "GET", "/healthcheck", &[], b"").unwrap();
        assert_eq!(s, 200, "{who}: healthcheck");
    }
    // The object survived the unsigned DELETE and PUT.
    let (s, _, body) = through("GET", "c/o", b"");
    assert_eq!((s, &body[..]), (200, &b"precious"[..]));
    let (s, _, body) = signed_request(&signer, object, "GET", &obj_path, &[], b"").unwrap();
    assert_eq!((s, &body[..]), (200, &b"precious"[..]));

    // Another cluster's key.
    let rogue_key = data.join("rogue.key");
    BackendKey::create(&rogue_key).unwrap();
    let rogue = BackendAuthConfig::signed(rogue_key).load().unwrap();
    let (s, _, _) = signed_request(&rogue, object, "GET", &obj_path, &[], b"").unwrap();
    assert_eq!(s, 401, "another cluster's key");

    // A signed request sent again is a replay.
    let h = signed_headers(&signer, "GET", &obj_path, &[]);
    assert_eq!(send(object, "GET", &obj_path, &h, b"").0, 200);
    assert_eq!(send(object, "GET", &obj_path, &h, b"").0, 401, "replay");

    // A signed overwrite whose update target was changed on the way.
    let put_ts = format!("{:016.5}", now_secs());
    let put_headers: Vec<(&str, &[u8])> = vec![
        ("x-timestamp", put_ts.as_bytes()),
        ("content-type", b"text/plain"),
        ("content-length", b"4"),
        ("x-container-host", b"127.0.0.1:9"),
        ("x-container-device", b"d1"),
        ("x-container-partition", b"1"),
    ];
    let mut h = signed_headers(&signer, "PUT", &obj_path, &put_headers);
    h.insert(bh::CONTAINER_HOST, "203.0.113.7:6201".parse().unwrap());
    assert_eq!(send(object, "PUT", &obj_path, &h, b"evil").0, 401);
    // Or its body's path.
    let h = signed_headers(&signer, "PUT", &obj_path, &put_headers);
    let other = obj_path.replace("/c/o", "/c/p");
    assert_eq!(send(object, "PUT", &other, &h, b"evil").0, 401);

    // A correct MAC over a time outside the window (two minutes ago).
    let key = BackendKey::load(&data.join("etc/tls/node/backend.key")).unwrap();
    let old_ms = ((now_secs() - 120.0) * 1000.0) as u64;
    let nonce = "00112233445566778899aabbccddeeff";
    let method: http::Method = "GET".parse().unwrap();
    let text = canonical(
        &method,
        &obj_path,
        "",
        old_ms,
        nonce,
        &http::HeaderMap::new(),
    );
    let mac = blake3::keyed_hash(key.bytes(), &text).to_hex();
    let value = format!("v1 {old_ms} {nonce} {mac}");
    let (s, _, _) = http_request(object, "GET", &obj_path, &[(bh::AUTH, &value)], b"").unwrap();
    assert_eq!(s, 401, "stale");
    let (s, _, body) = through("GET", "c/o", b"");
    assert_eq!((s, &body[..]), (200, &b"precious"[..]));
    // The refusals say why in the server's log only; the answer is Swift's 401.
    let (_, h, _) = http_request(object, "GET", &obj_path, &[], b"").unwrap();
    assert!(header(&h, "x-backend-timestamp").is_none());
    drop(aio);
    eprintln!("backend auth test: {:.2?}", t0.elapsed());
}
