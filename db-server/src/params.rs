//! Query strings as Swift reads them (`parse_qsl` with blank values kept,
//! Latin-1 then UTF-8 checked per parameter, last value wins) and the listing
//! parameters built from them (`validate_container_params`, `constrain_req_limit`).

use std::collections::HashMap;

use swirl_store::db::listing::ListingParams;

use crate::error::{Error, Result};

/// Decoded query parameters: name -> raw bytes of the value.
#[derive(Debug, Default, Clone)]
pub struct Query(HashMap<Vec<u8>, Vec<u8>>);

fn unquote_plus(s: &str) -> Vec<u8> {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s).collect()
}

impl Query {
    /// Parses `a=1&b&c=%20` (pairs without `=` have an empty value).
    pub fn parse(qs: Option<&str>) -> Query {
        let mut map = HashMap::new();
        for pair in qs.unwrap_or("").split('&') {
            if pair.is_empty() {
                continue;
            }
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(unquote_plus(k), unquote_plus(v));
        }
        Query(map)
    }

    /// Swift's `get_param`: the value as UTF-8, 400 when it is not.
    pub fn get(&self, name: &str) -> Result<Option<String>> {
        match self.0.get(name.as_bytes()) {
            None => Ok(None),
            Some(v) => String::from_utf8(v.clone())
                .map(Some)
                .map_err(|_| Error::BadRequest(format!("\"{name}\" parameter not valid UTF-8"))),
        }
    }
}

/// Swift's `config_true_value`.
pub fn true_value(v: Option<&str>) -> bool {
    v.is_some_and(|v| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on" | "t" | "y"
        )
    })
}

/// Does the request name Swift's reserved namespace on purpose
/// (X-Backend-Allow-Reserved-Names: true)? Its listings show those names.
pub fn allows_reserved(h: &http::HeaderMap) -> bool {
    true_value(
        h.get(swirl_common::backend_headers::ALLOW_RESERVED_NAMES)
            .and_then(|v| v.to_str().ok()),
    )
}

/// The listing parameters of an account (`allow_path` false) or container GET.
pub fn listing_params(q: &Query, cap: usize, allow_path: bool) -> Result<ListingParams> {
    let mut names = vec!["marker", "end_marker", "prefix", "delimiter", "reverse"];
    if allow_path {
        names.push("path");
    }
    let mut vals: HashMap<&str, String> = HashMap::new();
    for n in names {
        if let Some(v) = q.get(n)? {
            vals.insert(n, v);
        }
    }
    let mut limit = cap;
    if let Some(l) = q.get("limit")? {
        if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) {
            // Digits beyond u64 are over the cap as well.
            let n = l.parse::<usize>().unwrap_or(usize::MAX);
            if n > cap {
                return Err(Error::LimitTooLarge(cap));
            }
            limit = n;
        }
    }
    Ok(ListingParams {
        limit,
        marker: vals.remove("marker"),
        end_marker: vals.remove("end_marker"),
        prefix: vals.remove("prefix"),
        delimiter: vals.remove("delimiter"),
        path: vals.remove("path"),
        reverse: true_value(vals.get("reverse").map(String::as_str)),
        allow_reserved: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_like_parse_qsl() {
        let q = Query::parse(Some("a=1&b&c=x+y%2Fz&a=2&&d="));
        assert_eq!(q.get("a").unwrap().as_deref(), Some("2"));
        assert_eq!(q.get("b").unwrap().as_deref(), Some(""));
        assert_eq!(q.get("c").unwrap().as_deref(), Some("x y/z"));
        assert_eq!(q.get("d").unwrap().as_deref(), Some(""));
        assert_eq!(q.get("e").unwrap(), None);
        let bad = Query::parse(Some("marker=%ff"));
        assert_eq!(
            bad.get("marker").unwrap_err().to_string(),
            "\"marker\" parameter not valid UTF-8"
        );
    }

    #[test]
    fn limits_and_flags() {
        let p = listing_params(
            &Query::parse(Some("limit=5&reverse=on&path=a")),
            10_000,
            true,
        )
        .unwrap();
        assert_eq!(
            (p.limit, p.reverse, p.path.as_deref()),
            (5, true, Some("a"))
        );
        let p = listing_params(&Query::parse(Some("limit=-1&path=a")), 10_000, false).unwrap();
        assert_eq!((p.limit, p.path), (10_000, None));
        assert!(matches!(
            listing_params(&Query::parse(Some("limit=10001")), 10_000, true),
            Err(Error::LimitTooLarge(10_000))
        ));
        assert!(matches!(
            listing_params(
                &Query::parse(Some("limit=99999999999999999999999")),
                10_000,
                true
            ),
            Err(Error::LimitTooLarge(_))
        ));
    }
}
