//! The body digests a swirl proxy sends after an object PUT's body, as
//! HTTP/1.1 chunked trailers, so object servers need not run MD5 again.
//!
//! Why: MD5 is serial and costs ~1.5 ms per MiB-core here; with the proxy
//! and three replicas each hashing, a large PUT spends most of its CPU in
//! four MD5 passes over the same bytes. The proxy computes MD5 (the ETag it
//! answers with anyway) and blake3 once; each object server computes only
//! blake3 (which it stores for read checks), compares it with the proxy's,
//! and takes the proxy's MD5 as the ETag. Equal blake3 digests mean the bytes
//! on disk are the bytes the proxy hashed, so that ETag is theirs.
//!
//! It is opt-in per request (`X-Backend-Obj-Digest-Trailer: yes`), and a
//! swirl object server advertises it with the same header on its PUT
//! responses; a proxy sends trailers only to nodes that advertised it, so a
//! Swift object server (whose eventlet reader does not consume trailers)
//! never gets them.

use http::HeaderMap;

/// Request: digests follow as trailers. Response: this server accepts them.
pub const HEADER: &str = "x-backend-obj-digest-trailer";
/// Trailer: hex MD5 of the body.
pub const ETAG: &str = "x-backend-obj-etag";
/// Trailer: hex blake3 of the body.
pub const BLAKE3: &str = "x-backend-obj-blake3";
/// The `Trailer` header value announcing both.
pub const ANNOUNCE: &str = "X-Backend-Obj-Etag, X-Backend-Obj-Blake3";

/// The two digests of a body, lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub etag: String,
    pub blake3: String,
}

fn hex_of_len(v: &str, len: usize) -> Option<String> {
    let v = v.trim();
    (v.len() == len && v.bytes().all(|b| b.is_ascii_hexdigit())).then(|| v.to_ascii_lowercase())
}

impl Digests {
    /// The digests from received trailers, or why they are unusable.
    pub fn from_trailers(t: Option<&HeaderMap>) -> Result<Digests, String> {
        let t = t.ok_or("no digest trailers after the body")?;
        let get = |name: &str, len: usize| {
            t.get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| hex_of_len(v, len))
                .ok_or_else(|| format!("trailer {name} missing or not {len} hex digits"))
        };
        Ok(Digests {
            etag: get(ETAG, 32)?,
            blake3: get(BLAKE3, 64)?,
        })
    }

    /// The trailers to send.
    pub fn to_trailers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in [(ETAG, &self.etag), (BLAKE3, &self.blake3)] {
            if let Ok(v) = http::HeaderValue::from_str(v) {
                h.insert(k, v);
            }
        }
        h
    }
}

/// Whether a request or response carries [`HEADER`]` = yes`.
pub fn requested(h: &HeaderMap) -> bool {
    h.get(HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_trailers() {
        let d = Digests {
            etag: "5eb63bbbe01eeed093cb22bb8f5acdc3".into(),
            blake3: "d74981efa70a0c880b8d8c1985d075dbcbf679b99a5f9914e5aaf96b831a9e24".into(),
        };
        assert_eq!(
            Digests::from_trailers(Some(&d.to_trailers())),
            Ok(d.clone())
        );
        assert!(Digests::from_trailers(None).is_err());
        let mut t = d.to_trailers();
        t.insert(ETAG, http::HeaderValue::from_static("short"));
        assert!(Digests::from_trailers(Some(&t)).is_err());
        let mut t = d.to_trailers();
        t.remove(BLAKE3);
        assert!(Digests::from_trailers(Some(&t)).is_err());
        let mut t = d.to_trailers();
        t.insert(
            ETAG,
            http::HeaderValue::from_static("5EB63BBBE01EEED093CB22BB8F5ACDC3"),
        );
        assert_eq!(Digests::from_trailers(Some(&t)).unwrap().etag, d.etag);
    }

    #[test]
    fn opt_in_header() {
        let mut h = HeaderMap::new();
        assert!(!requested(&h));
        h.insert(HEADER, http::HeaderValue::from_static(" Yes "));
        assert!(requested(&h));
        h.insert(HEADER, http::HeaderValue::from_static("no"));
        assert!(!requested(&h));
    }
}
