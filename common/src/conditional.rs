//! Conditional requests as Swift answers them (`swob.Response
//! ._get_conditional_response_status`): If-Match, If-None-Match,
//! If-Modified-Since and If-Unmodified-Since, checked in Swift's order.

use http::HeaderMap;

use crate::timestamp::parse_http_date;

/// An If-Match / If-None-Match list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchList {
    tags: Vec<String>,
}

/// Strips one pair of surrounding quotes (Swift's `normalize_etag`).
pub fn normalize_etag(tag: &str) -> &str {
    if tag.len() >= 2 && tag.starts_with('"') && tag.ends_with('"') {
        &tag[1..tag.len() - 1]
    } else {
        tag
    }
}

impl MatchList {
    pub fn parse(value: &str) -> Self {
        MatchList {
            tags: value
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| normalize_etag(t).to_string())
                .collect(),
        }
    }

    /// `*` is in the list.
    pub fn has_star(&self) -> bool {
        self.tags.iter().any(|t| t == "*")
    }

    /// Whether `etag` matches (always, with `*`).
    pub fn contains(&self, etag: &str) -> bool {
        let e = normalize_etag(etag);
        self.has_star() || self.tags.iter().any(|t| t == e)
    }
}

/// The conditional headers of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    pub if_match: Option<MatchList>,
    pub if_none_match: Option<MatchList>,
    /// Unix seconds; an unparsable date is ignored, as Swift ignores it.
    pub if_modified_since: Option<u64>,
    pub if_unmodified_since: Option<u64>,
}

impl Conditions {
    pub fn from_headers(h: &HeaderMap) -> Self {
        let s = |k: &str| h.get(k).and_then(|v| v.to_str().ok());
        Conditions {
            if_match: s("if-match").map(MatchList::parse),
            if_none_match: s("if-none-match").map(MatchList::parse),
            if_modified_since: s("if-modified-since").and_then(parse_http_date),
            if_unmodified_since: s("if-unmodified-since").and_then(parse_http_date),
        }
    }

    /// 304 or 412 when a condition fails, given the resource's ETag and
    /// Last-Modified (Unix seconds) and whether it was found at all.
    pub fn check(
        &self,
        etag: Option<&str>,
        last_modified: Option<u64>,
        found: bool,
    ) -> Option<u16> {
        if let (Some(e), Some(m)) = (etag, &self.if_none_match) {
            if m.contains(e) {
                return Some(304);
            }
        }
        if let (Some(e), Some(m)) = (etag, &self.if_match) {
            if !m.contains(e) {
                return Some(412);
            }
        }
        if !found && self.if_match.as_ref().is_some_and(MatchList::has_star) {
            return Some(412);
        }
        if let (Some(lm), Some(since)) = (last_modified, self.if_modified_since) {
            if lm <= since {
                return Some(304);
            }
        }
        if let (Some(lm), Some(since)) = (last_modified, self.if_unmodified_since) {
            if lm > since {
                return Some(412);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(pairs: &[(&'static str, &str)]) -> Conditions {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        Conditions::from_headers(&h)
    }

    #[test]
    fn swift_order() {
        let e = Some("abc");
        let lm = Some(784111777);
        assert_eq!(c(&[]).check(e, lm, true), None);
        assert_eq!(
            c(&[("if-none-match", "\"abc\"")]).check(e, lm, true),
            Some(304)
        );
        assert_eq!(c(&[("if-none-match", "*")]).check(e, lm, true), Some(304));
        assert_eq!(c(&[("if-none-match", "x")]).check(e, lm, true), None);
        assert_eq!(c(&[("if-match", "x, y")]).check(e, lm, true), Some(412));
        assert_eq!(c(&[("if-match", "x, abc")]).check(e, lm, true), None);
        assert_eq!(c(&[("if-match", "*")]).check(None, None, false), Some(412));
        assert_eq!(c(&[("if-match", "x")]).check(None, None, false), None);
        let d = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(c(&[("if-modified-since", d)]).check(e, lm, true), Some(304));
        assert_eq!(
            c(&[("if-modified-since", d)]).check(e, Some(784111778), true),
            None
        );
        assert_eq!(
            c(&[("if-unmodified-since", d)]).check(e, Some(784111778), true),
            Some(412)
        );
        assert_eq!(
            c(&[("if-unmodified-since", "garbage")]).check(e, lm, true),
            None
        );
        // If-None-Match wins over If-Match.
        assert_eq!(
            c(&[("if-none-match", "abc"), ("if-match", "x")]).check(e, lm, true),
            Some(304)
        );
    }
}
