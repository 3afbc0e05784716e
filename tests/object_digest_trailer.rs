//! Digest trailers (`swirl_common::digest_trailer`): a swirl proxy sends the
//! body's MD5 and blake3 after a chunked PUT body; the object server checks
//! blake3, skips its own MD5, and stores nothing when the trailers are wrong
//! or missing. It advertises the feature on every successful PUT.

use crate::object_common::{bytes, md5_hex, start, ts, walk};

const P: &str = "/sda/0/a/c/o";

/// A chunked body of `data` in 64 KiB chunks, then `trailers`.
fn chunked(data: &[u8], trailers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in data.chunks(64 << 10) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n");
    for (k, v) in trailers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[test]
fn digest_trailers_replace_md5_and_bad_ones_store_nothing() {
    let d = tempfile::tempdir().unwrap();
    let s = start(d.path(), "");
    let data = bytes(7, 300_000);
    let (etag, b3) = (md5_hex(&data), blake3::hash(&data).to_hex().to_string());
    let len = data.len().to_string();

    // A plain PUT says the server takes digest trailers.
    let r = s.req(
        "PUT",
        P,
        &[("X-Timestamp", &ts(-50.0)), ("Content-Type", "text/plain")],
        b"plain",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.h("x-backend-obj-digest-trailer"), Some("yes"));

    let put = |t: &str, trailers: &[(&str, &str)]| {
        let body = chunked(&data, trailers);
        s.req(
            "PUT",
            P,
            &[
                ("X-Timestamp", t),
                ("Content-Type", "application/octet-stream"),
                ("Transfer-Encoding", "chunked"),
                ("X-Backend-Obj-Content-Length", &len),
                ("X-Backend-Obj-Digest-Trailer", "yes"),
                ("Trailer", "X-Backend-Obj-Etag, X-Backend-Obj-Blake3"),
            ],
            &body,
        )
    };
    let wrong_b3 = blake3::hash(b"other bytes").to_hex().to_string();
    // Wrong blake3: the bytes are not what the sender hashed: 422.
    let r = put(
        &ts(-40.0),
        &[
            ("X-Backend-Obj-Etag", &etag),
            ("X-Backend-Obj-Blake3", &wrong_b3),
        ],
    );
    assert_eq!(r.status, 422, "{}", r.text());
    // No trailers, or a malformed one: 400.
    let r = put(&ts(-30.0), &[]);
    assert_eq!(r.status, 400, "{}", r.text());
    let r = put(
        &ts(-29.0),
        &[("X-Backend-Obj-Etag", "xyz"), ("X-Backend-Obj-Blake3", &b3)],
    );
    assert_eq!(r.status, 400, "{}", r.text());
    // Trailers promised on a Content-Length body cannot come: 400.
    let r = s.req(
        "PUT",
        P,
        &[
            ("X-Timestamp", &ts(-28.0)),
            ("Content-Type", "application/octet-stream"),
            ("X-Backend-Obj-Digest-Trailer", "yes"),
        ],
        &data,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    // None of those left a trace: the plain object is still current.
    let r = s.req("GET", P, &[], b"");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"plain"[..]));
    let tmp: Vec<_> = walk(&s.devices.join("sda/tmp"));
    assert!(tmp.is_empty(), "temp files left: {tmp:?}");

    // Right trailers: stored, with the sender's ETag.
    let r = put(
        &ts(-20.0),
        &[("X-Backend-Obj-Etag", &etag), ("X-Backend-Obj-Blake3", &b3)],
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.h("etag"), Some(format!("\"{etag}\"").as_str()));
    let r = s.req("GET", P, &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.body == data, "body read back differs");
    assert_eq!(
        r.h("etag").map(|e| e.trim_matches('"')),
        Some(etag.as_str())
    );
}

/// A proxy learns at start, from each object server's healthcheck, that it
/// takes digest trailers (so even the first PUTs spare the replicas an MD5
/// pass); a server that does not answer is not taken for one.
#[test]
fn proxies_learn_digest_trailers_from_the_healthcheck() {
    let d = tempfile::tempdir().unwrap();
    let s = start(d.path(), "");
    let r = s.req("GET", "/healthcheck", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.h("x-backend-obj-digest-trailer"), Some("yes"));

    let node = |port: u16, device: &str| swirl_proxy::rings::Node {
        id: 0,
        ip: "127.0.0.1".into(),
        port,
        device: device.into(),
        index: 0,
        handoff: false,
    };
    let here = s.addr().port();
    // A port nothing listens on.
    let gone = crate::harness::free_port();
    let limiter = std::sync::Arc::new(swirl_proxy::error_limit::ErrorLimiter::new(
        10,
        std::time::Duration::from_secs(60),
    ));
    let backend = swirl_proxy::backend::Backend::new(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(2),
        limiter,
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(backend.probe_digest_trailers(vec![
        node(here, "sda"),
        node(here, "sdb"),
        node(gone, "sda"),
    ]));
    // Learned per server: every device on it.
    assert!(backend.takes_digest_trailer(&node(here, "sda")));
    assert!(backend.takes_digest_trailer(&node(here, "sdc")));
    assert!(!backend.takes_digest_trailer(&node(gone, "sda")));
}
