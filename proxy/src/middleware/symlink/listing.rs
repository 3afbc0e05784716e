//! Container listings of links (Swift's `SymlinkContainerContext`): the
//! link parameters of each entry's `hash` become `symlink_path` (and
//! `symlink_etag`, `symlink_bytes`) in JSON; XML keeps only the rest of
//! the hash, as Swift renders XML from that JSON.

use std::fmt::Write as _;

use http::{Response, StatusCode};
use http_body_util::BodyExt;
use swirl_common::listing_format::{self, json_str, ListingItem};
use swirl_common::Body;

use super::target::parse_listed;
use crate::error::{Error, Result};
use crate::headers;
use crate::middleware::slo::manifest::split_slo_etag;
use crate::pipeline::{Next, Req};

/// Swift's `MAX_CONTAINER_LISTING_CONTENT_LENGTH`: bigger listings pass unchanged.
const MAX_LISTING_REWRITE: u64 = 1024 * 10000 * 2;

/// A container GET, its listing rewritten when it holds links.
pub async fn container_get(req: Req, next: Next) -> Result<Response<Body>> {
    let version = if req.v1 { "v1" } else { "v1.0" };
    let account = req.account().unwrap_or("").to_string();
    let slo = next.proxy().pipeline.has("slo");
    let resp = next.run(req).await?;
    if resp.status() != StatusCode::OK {
        return Ok(resp);
    }
    let ctype = headers::get(resp.headers(), "content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let json = ctype == "application/json";
    if !json && ctype != "application/xml" && ctype != "text/xml" {
        return Ok(resp);
    }
    let small = headers::get(resp.headers(), "content-length")
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n <= MAX_LISTING_REWRITE);
    if !small {
        return Ok(resp);
    }
    let (mut parts, body) = resp.into_parts();
    let whole = body
        .collect()
        .await
        .map_err(|e| Error::Unavailable(format!("container listing: {e}")))?
        .to_bytes();
    let rewritten = if !whole.windows(14).any(|w| w == b"symlink_target") {
        None
    } else if json {
        rewrite_json(&whole, version, &account, slo)
    } else {
        rewrite_xml(&whole)
    };
    let out = rewritten.unwrap_or_else(|| whole.to_vec());
    headers::set(&mut parts.headers, "content-length", &out.len().to_string());
    Ok(Response::from_parts(parts, swirl_common::body::full(out)))
}

/// The JSON listing with each link's parameters as keys of their own (and,
/// when slo runs above, an SLO's `slo_etag` too, as it would add it: it
/// reads listings as plain entries).
pub fn rewrite_json(body: &[u8], version: &str, account: &str, slo: bool) -> Option<Vec<u8>> {
    let items = listing_format::parse_json(body).ok()?;
    let mut out = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let ListingItem::Object {
            name,
            hash,
            bytes,
            content_type,
            last_modified,
        } = item
        else {
            let one = listing_format::to_json(std::slice::from_ref(item));
            let s = String::from_utf8_lossy(&one);
            out.push_str(s.trim_start_matches('[').trim_end_matches(']'));
            continue;
        };
        let link = parse_listed(hash);
        let (h, slo_etag) = match slo.then(|| split_slo_etag(&link.hash)).flatten() {
            Some((h, e)) => (h, Some(e)),
            None => (link.hash.clone(), None),
        };
        let _ = write!(out, "{{\"bytes\": {bytes}, \"hash\": ");
        json_str(&mut out, &h);
        out.push_str(", \"name\": ");
        json_str(&mut out, name);
        out.push_str(", \"content_type\": ");
        json_str(&mut out, content_type);
        out.push_str(", \"last_modified\": ");
        json_str(&mut out, last_modified);
        if let Some(e) = &link.etag {
            out.push_str(", \"symlink_etag\": ");
            json_str(&mut out, e);
        }
        if let Some(b) = link.bytes {
            let _ = write!(out, ", \"symlink_bytes\": {b}");
        }
        if let Some(t) = &link.target {
            let acct = link
                .account
                .clone()
                .unwrap_or_else(|| crate::backend::quote_path(account));
            out.push_str(", \"symlink_path\": ");
            json_str(
                &mut out,
                &format!("/{version}/{acct}/{}", t.trim_start_matches('/')),
            );
        }
        if let Some(e) = &slo_etag {
            out.push_str(", \"slo_etag\": ");
            json_str(&mut out, e);
        }
        out.push('}');
    }
    out.push(']');
    Some(out.into_bytes())
}

/// The XML listing with the link parameters dropped from each `<hash>`.
pub fn rewrite_xml(body: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("<hash>") {
        let (before, after) = rest.split_at(i + "<hash>".len());
        out.push_str(before);
        let Some(j) = after.find("</hash>") else {
            rest = after;
            break;
        };
        let inner = &after[..j];
        if inner.contains("symlink_target") && !inner.contains('&') {
            out.push_str(&parse_listed(inner).hash);
        } else {
            out.push_str(inner);
        }
        rest = &after[j..];
    }
    out.push_str(rest);
    Some(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_links_get_their_keys() {
        let body = br#"[{"bytes": 0, "hash": "d41d8cd98f00b204e9800998ecf8427e; symlink_target=c/o%20x; symlink_target_etag=abc; symlink_target_bytes=12", "name": "l", "content_type": "application/symlink", "last_modified": "2020-01-01T00:00:00.000000"}, {"subdir": "d/"}, {"bytes": 3, "hash": "e", "name": "p", "content_type": "text/plain", "last_modified": "x"}]"#;
        let out = String::from_utf8(rewrite_json(body, "v1", "AUTH_a", false).unwrap()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v[0]["hash"], "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(v[0]["symlink_path"], "/v1/AUTH_a/c/o%20x");
        assert_eq!(v[0]["symlink_etag"], "abc");
        assert_eq!(v[0]["symlink_bytes"], 12);
        assert_eq!(v[1]["subdir"], "d/");
        assert_eq!(v[2]["hash"], "e");
        assert!(v[2].get("symlink_path").is_none());
        let other = br#"[{"bytes": 0, "hash": "x; symlink_target=c/o; symlink_target_account=AUTH_b", "name": "l", "content_type": "a", "last_modified": "t"}]"#;
        let out = String::from_utf8(rewrite_json(other, "v1", "AUTH_a", false).unwrap()).unwrap();
        assert!(out.contains(r#""symlink_path": "/v1/AUTH_b/c/o""#), "{out}");
        assert!(!out.contains("symlink_etag"));
    }

    #[test]
    fn xml_keeps_only_the_hash() {
        let body = b"<object><hash>e; symlink_target=c/o</hash></object>";
        assert_eq!(
            rewrite_xml(body).unwrap(),
            b"<object><hash>e</hash></object>".to_vec()
        );
    }
}
