//! Backend authentication: every request between swirl nodes on the storage
//! servers' main ports (proxy to storage, object server to container
//! server, updater and expirer to storage) carries `X-Backend-Auth:
//! v1 <unix-ms> <nonce> <mac>`, a keyed blake3 MAC with the cluster's
//! backend key over the request line and headers ([`canonical`]). A storage
//! server refuses a request without a valid one, one whose time is outside
//! `max_skew` of its clock, and one whose nonce it saw already
//! ([`replay`]).
//!
//! The body is not covered, and not encrypted: encrypting every large body
//! on the backend is the CPU `swirl bench backend-auth` measures (mutual
//! TLS on a 64 MiB body costs tens of milliseconds of CPU per side, a MAC
//! over the head microseconds). Replication keeps its mutual TLS. The
//! headers covered are every header but the transport's own (Host,
//! Transfer-Encoding, Connection and the other hop-by-hop names), which
//! hyper may add or drop on the way; Content-Length is covered unless the
//! body is chunked.
//!
//! `mode = "plain"` ([`key::Mode`]) turns checking off, for a cluster that
//! mixes swirl with Swift's own nodes (which neither sign nor check).

pub mod key;
pub mod replay;

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body::Body as HttpBody;

use crate::backend_headers as bh;
pub use key::{from_config, BackendAuthConfig, BackendKey, KeyError, Mode};
use replay::SeenNonces;

/// The version tag of the scheme, first in the header and in the canonical text.
const VERSION: &str = "v1";

/// Headers left out of the MAC: hop-by-hop and framing ones the HTTP
/// stack may add, drop or rewrite between the signer and the verifier.
const UNSIGNED: &[&str] = &[
    "host",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
];

/// Why a backend request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("backend request without X-Backend-Auth")]
    Missing,
    #[error("malformed X-Backend-Auth")]
    Malformed,
    #[error("the X-Backend-Auth MAC does not match the request")]
    BadSignature,
    #[error("the X-Backend-Auth time is {skew_ms} ms away from this node's clock")]
    Stale { skew_ms: i64 },
    #[error("the X-Backend-Auth nonce was used already")]
    Replayed,
}

/// The text the MAC is computed over: the scheme, method, raw path and
/// query, the signer's time and nonce, then each covered header as
/// `name:value` lines sorted by name (a repeated header's values in their
/// order). No part can hold a newline (HTTP forbids it in all of them), so
/// the text is unambiguous.
pub fn canonical(
    method: &Method,
    path: &str,
    query: &str,
    time_ms: u64,
    nonce: &str,
    headers: &HeaderMap,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    for part in [VERSION, method.as_str(), path, query] {
        out.extend_from_slice(part.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(format!("{time_ms}\n{nonce}\n").as_bytes());
    let chunked = headers.contains_key(TRANSFER_ENCODING);
    let mut names: Vec<&str> = headers
        .keys()
        .map(|k| k.as_str())
        .filter(|n| *n != bh::AUTH && !UNSIGNED.contains(n))
        .filter(|n| !(chunked && *n == CONTENT_LENGTH.as_str()))
        .collect();
    names.sort_unstable();
    for name in names {
        for v in headers.get_all(name) {
            out.extend_from_slice(name.as_bytes());
            out.push(b':');
            out.extend_from_slice(v.as_bytes().trim_ascii());
            out.push(b'\n');
        }
    }
    out
}

/// The MAC of a canonical text, in hex.
fn mac(key: &BackendKey, text: &[u8]) -> String {
    blake3::keyed_hash(key.bytes(), text).to_hex().to_string()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A node's backend credentials and checks: what it signs its requests
/// with and whether (and how) it checks the requests it serves.
#[derive(Debug)]
pub struct BackendAuth {
    key: Option<BackendKey>,
    verify: bool,
    max_skew_ms: u64,
    seen: Mutex<SeenNonces>,
}

impl BackendAuth {
    /// Neither signs nor checks (Swift's behaviour; `mode = "plain"` without a key).
    pub fn plain() -> Self {
        BackendAuth {
            key: None,
            verify: false,
            max_skew_ms: 0,
            seen: Mutex::new(SeenNonces::new(0)),
        }
    }

    /// Signs with `key`; checks what it serves when `verify`, accepting
    /// times within `max_skew_ms` of its clock.
    pub fn new(key: BackendKey, verify: bool, max_skew_ms: u64) -> Self {
        BackendAuth {
            key: Some(key),
            verify,
            max_skew_ms,
            seen: Mutex::new(SeenNonces::new(replay::CAPACITY)),
        }
    }

    /// Whether served requests are checked.
    pub fn verifies(&self) -> bool {
        self.verify
    }

    /// Adds X-Backend-Auth to a request about to be sent (nothing without a
    /// key). Content-Length is set first where hyper would set it (a body
    /// of known, non-zero length and no Transfer-Encoding), and
    /// Transfer-Encoding dropped where hyper would drop it (an empty body),
    /// so the verifier sees the headers that were signed.
    pub fn sign<B: HttpBody>(&self, req: &mut Request<B>) {
        if self.key.is_none() {
            return;
        }
        let body = req.body();
        let (empty, exact) = (body.is_end_stream(), body.size_hint().exact());
        let h = req.headers_mut();
        if empty {
            h.remove(TRANSFER_ENCODING);
        } else if !h.contains_key(CONTENT_LENGTH) && !h.contains_key(TRANSFER_ENCODING) {
            if let Some(n) = exact {
                h.insert(CONTENT_LENGTH, HeaderValue::from(n));
            }
        }
        let (method, uri) = (req.method().clone(), req.uri().clone());
        self.sign_headers(&method, &uri, req.headers_mut());
    }

    /// Adds X-Backend-Auth for a request whose framing headers are already
    /// final (the caller sends them as they are).
    pub fn sign_headers(&self, method: &Method, uri: &Uri, headers: &mut HeaderMap) {
        let nonce = format!("{:032x}", rand::random::<u128>());
        self.sign_at(now_ms(), &nonce, method, uri, headers);
    }

    fn sign_at(&self, time_ms: u64, nonce: &str, method: &Method, uri: &Uri, h: &mut HeaderMap) {
        let Some(key) = &self.key else {
            return;
        };
        h.remove(bh::AUTH);
        let text = canonical(
            method,
            uri.path(),
            uri.query().unwrap_or(""),
            time_ms,
            nonce,
            h,
        );
        let value = format!("{VERSION} {time_ms} {nonce} {}", mac(key, &text));
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(bh::AUTH, v);
        }
    }

    /// Checks a served request (always Ok when not verifying).
    pub fn verify(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<(), AuthError> {
        self.verify_at(now_ms(), method, uri, headers)
    }

    fn verify_at(
        &self,
        now_ms: u64,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<(), AuthError> {
        if !self.verify {
            return Ok(());
        }
        let key = self.key.as_ref().ok_or(AuthError::BadSignature)?;
        let value = headers.get(bh::AUTH).ok_or(AuthError::Missing)?;
        let value = value.to_str().map_err(|_| AuthError::Malformed)?;
        let mut parts = value.split(' ');
        let (Some(VERSION), Some(time), Some(nonce), Some(given), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(AuthError::Malformed);
        };
        let time_ms: u64 = time.parse().map_err(|_| AuthError::Malformed)?;
        let nonce_bits = u128::from_str_radix(nonce, 16).map_err(|_| AuthError::Malformed)?;
        if nonce.len() != 32 {
            return Err(AuthError::Malformed);
        }
        let text = canonical(
            method,
            uri.path(),
            uri.query().unwrap_or(""),
            time_ms,
            nonce,
            headers,
        );
        let want = blake3::keyed_hash(key.bytes(), &text);
        let given = blake3::Hash::from_hex(given).map_err(|_| AuthError::Malformed)?;
        // blake3::Hash compares in constant time.
        if want != given {
            return Err(AuthError::BadSignature);
        }
        let skew_ms = now_ms as i64 - time_ms as i64;
        if skew_ms.unsigned_abs() > self.max_skew_ms {
            return Err(AuthError::Stale { skew_ms });
        }
        let mut seen = self.seen.lock().map_err(|_| AuthError::Replayed)?;
        seen.expire(now_ms.saturating_sub(self.max_skew_ms));
        if seen.insert(time_ms, nonce_bits) {
            Ok(())
        } else {
            Err(AuthError::Replayed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> BackendKey {
        BackendKey::from_bytes([b; 32])
    }

    fn auth() -> BackendAuth {
        BackendAuth::new(key(7), true, 60_000)
    }

    fn req(method: &str, uri: &str, headers: &[(&str, &str)]) -> (Method, Uri, HeaderMap) {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        (method.parse().unwrap(), uri.parse().unwrap(), h)
    }

    const T: u64 = 1_764_921_000_000;
    const NONCE: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn canonical_text() {
        let (m, u, h) = req(
            "PUT",
            "/sda1/12/a/c/o%20x?multipart-manifest=put",
            &[
                ("x-timestamp", "1764921000.00000"),
                ("host", "10.0.0.1:6200"),
                ("x-container-host", "10.0.0.2:6201"),
                ("content-length", "5"),
                ("x-object-meta-a", "1"),
                ("x-object-meta-a", " 2 "),
            ],
        );
        let text = canonical(&m, u.path(), u.query().unwrap_or(""), T, NONCE, &h);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "v1\nPUT\n/sda1/12/a/c/o%20x\nmultipart-manifest=put\n1764921000000\n\
             0123456789abcdef0123456789abcdef\ncontent-length:5\n\
             x-container-host:10.0.0.2:6201\nx-object-meta-a:1\nx-object-meta-a:2\n\
             x-timestamp:1764921000.00000\n"
        );
        // Chunked: Content-Length is the transport's.
        let (m, u, mut h) = req("PUT", "/d/1/a/c/o", &[("content-length", "5")]);
        h.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        let text = canonical(&m, u.path(), "", T, NONCE, &h);
        assert!(!String::from_utf8(text).unwrap().contains("content-length"));
    }

    #[test]
    fn signed_request_verifies_once() {
        let a = auth();
        let (m, u, mut h) = req("DELETE", "/sda1/3/a/c/o", &[("x-timestamp", "1.00000")]);
        a.sign_at(T, NONCE, &m, &u, &mut h);
        assert_eq!(a.verify_at(T + 500, &m, &u, &h), Ok(()));
        // The same request again is a replay.
        assert_eq!(a.verify_at(T + 600, &m, &u, &h), Err(AuthError::Replayed));
        // Another node with the same key has not seen it.
        assert_eq!(auth().verify_at(T, &m, &u, &h), Ok(()));
    }

    #[test]
    fn any_change_breaks_the_mac() {
        let a = auth();
        let (m, u, mut h) = req(
            "PUT",
            "/sda1/3/a/c/o?x=1",
            &[
                ("x-timestamp", "1.00000"),
                ("x-container-host", "10.0.0.2:6201"),
                ("x-backend-storage-policy-index", "0"),
            ],
        );
        a.sign_at(T, NONCE, &m, &u, &mut h);
        let bad = |m: &Method, u: &Uri, h: &HeaderMap| {
            assert_eq!(auth().verify_at(T, m, u, h), Err(AuthError::BadSignature));
        };
        bad(&Method::POST, &u, &h);
        bad(&m, &"/sda1/3/a/c/p?x=1".parse().unwrap(), &h);
        bad(&m, &"/sda1/3/a/c/o?x=2".parse().unwrap(), &h);
        for (name, value) in [
            ("x-container-host", "203.0.113.9:80"),
            ("x-timestamp", "2.00000"),
            ("x-backend-storage-policy-index", "1"),
        ] {
            let mut h2 = h.clone();
            h2.insert(name, HeaderValue::from_static(value));
            bad(&m, &u, &h2);
        }
        // An added header counts too.
        let mut h2 = h.clone();
        h2.insert(
            "x-delete-at-host",
            HeaderValue::from_static("203.0.113.9:80"),
        );
        bad(&m, &u, &h2);
        // The transport's headers do not.
        let mut h2 = h.clone();
        h2.insert("host", HeaderValue::from_static("10.0.0.1:6200"));
        h2.insert("connection", HeaderValue::from_static("keep-alive"));
        assert_eq!(auth().verify_at(T, &m, &u, &h2), Ok(()));
        // Another cluster's key.
        let other = BackendAuth::new(key(8), true, 60_000);
        assert_eq!(other.verify_at(T, &m, &u, &h), Err(AuthError::BadSignature));
    }

    #[test]
    fn missing_malformed_and_stale() {
        let a = auth();
        let (m, u, mut h) = req("GET", "/sda1/3/a", &[]);
        assert_eq!(a.verify_at(T, &m, &u, &h), Err(AuthError::Missing));
        for v in [
            "v1",
            "v2 1 0123456789abcdef0123456789abcdef ab",
            "v1 x 0123456789abcdef0123456789abcdef ab",
            "v1 1 nothex ab",
            "v1 1 0123456789abcdef0123456789abcdef nothex",
        ] {
            h.insert(bh::AUTH, HeaderValue::from_static(v));
            assert_eq!(a.verify_at(T, &m, &u, &h), Err(AuthError::Malformed), "{v}");
        }
        a.sign_at(T, NONCE, &m, &u, &mut h);
        assert_eq!(
            a.verify_at(T + 60_001, &m, &u, &h),
            Err(AuthError::Stale { skew_ms: 60_001 })
        );
        assert_eq!(
            a.verify_at(T - 60_001, &m, &u, &h),
            Err(AuthError::Stale { skew_ms: -60_001 })
        );
        assert_eq!(a.verify_at(T + 60_000, &m, &u, &h), Ok(()));
    }

    #[test]
    fn plain_neither_signs_nor_checks() {
        let p = BackendAuth::plain();
        let (m, u, mut h) = req("GET", "/sda1/3/a", &[]);
        p.sign_at(T, NONCE, &m, &u, &mut h);
        assert!(h.get(bh::AUTH).is_none());
        assert_eq!(p.verify_at(T, &m, &u, &h), Ok(()));
        // A key that signs but does not check: a swirl node of a mixed cluster.
        let s = BackendAuth::new(key(7), false, 60_000);
        s.sign_at(T, NONCE, &m, &u, &mut h);
        assert!(h.get(bh::AUTH).is_some());
        assert_eq!(s.verify_at(T, &m, &u, &HeaderMap::new()), Ok(()));
    }

    #[test]
    fn sign_sets_framing_as_hyper_will() {
        let a = auth();
        let mut r = Request::builder()
            .method("PUT")
            .uri("http://10.0.0.1:6201/sda1/3/a/c/o")
            .body(crate::body::full(bytes::Bytes::from_static(b"hello")))
            .unwrap();
        a.sign(&mut r);
        assert_eq!(r.headers()[CONTENT_LENGTH], "5");
        let mut r = Request::builder()
            .method("PUT")
            .uri("http://10.0.0.1:6201/sda1/3/a/c/o")
            .header(TRANSFER_ENCODING, "chunked")
            .body(crate::body::empty())
            .unwrap();
        a.sign(&mut r);
        assert!(r.headers().get(TRANSFER_ENCODING).is_none());
        let (m, u, h) = (r.method().clone(), r.uri().clone(), r.headers().clone());
        assert_eq!(a.verify(&m, &u, &h), Ok(()));
    }
}
