//! Swift's copy middleware, the pure part: `COPY` + `Destination` becomes a
//! PUT with `X-Copy-From`, the copy source is parsed, and the new object's
//! headers are merged from the source and the request.

use http::HeaderMap;

/// `cont/obj` from a Destination or X-Copy-From value (leading '/' optional,
/// percent-encoded), or the 412 text.
pub fn parse_source(value: &str, header: &str) -> Result<(String, String), String> {
    let decoded = percent_encoding::percent_decode_str(value.trim())
        .decode_utf8()
        .map_err(|_| {
            format!("{header} header must be of the form <container name>/<object name>")
        })?;
    let v = decoded.strip_prefix('/').unwrap_or(&decoded);
    match v.split_once('/') {
        Some((c, o)) if !c.is_empty() && !o.is_empty() => Ok((c.to_string(), o.to_string())),
        _ => Err(format!(
            "{header} header must be of the form <container name>/<object name>"
        )),
    }
}

/// Headers of the source that a copy carries over (unless X-Fresh-Metadata).
/// The large-object headers are not among them: a copy of a manifest is the
/// concatenated object (copying the manifest itself is the caller's choice).
fn is_copied(name: &str) -> bool {
    name.starts_with("x-object-meta-")
        || matches!(
            name,
            "content-type"
                | "content-encoding"
                | "content-disposition"
                | "content-language"
                | "cache-control"
                | "expires"
                | "x-delete-at"
        )
}

/// The destination's headers: the source's (all of them, or only its
/// Content-Type with X-Fresh-Metadata), overridden by what the request sets.
pub fn merge_headers(source: &HeaderMap, request: &HeaderMap, fresh: bool) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (k, v) in source {
        let n = k.as_str();
        if (fresh && n == "content-type") || (!fresh && is_copied(n)) {
            out.append(k.clone(), v.clone());
        }
    }
    for k in request.keys() {
        out.remove(k);
    }
    for (k, v) in request {
        out.append(k.clone(), v.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers;

    #[test]
    fn sources() {
        assert_eq!(
            parse_source("c/o/p", "X-Copy-From").unwrap(),
            ("c".into(), "o/p".into())
        );
        assert_eq!(
            parse_source("/c/o%20x", "X-Copy-From").unwrap(),
            ("c".into(), "o x".into())
        );
        assert!(parse_source("c", "Destination").is_err());
        assert!(parse_source("/c/", "Destination").is_err());
    }

    #[test]
    fn merge() {
        let mut s = HeaderMap::new();
        headers::set(&mut s, "x-object-meta-a", "1");
        headers::set(&mut s, "x-object-meta-b", "2");
        headers::set(&mut s, "content-type", "text/plain");
        headers::set(&mut s, "etag", "x");
        headers::set(&mut s, "x-object-manifest", "c/p");
        let mut r = HeaderMap::new();
        headers::set(&mut r, "x-object-meta-b", "3");
        let m = merge_headers(&s, &r, false);
        assert_eq!(headers::get(&m, "x-object-meta-a"), Some("1"));
        assert_eq!(headers::get(&m, "x-object-meta-b"), Some("3"));
        assert!(m.get("etag").is_none());
        assert!(m.get("x-object-manifest").is_none());
        let f = merge_headers(&s, &r, true);
        assert!(f.get("x-object-meta-a").is_none());
        assert_eq!(headers::get(&f, "content-type"), Some("text/plain"));
    }
}
