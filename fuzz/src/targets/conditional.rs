//! Conditional request headers: If-Match and If-None-Match lists and the
//! If-Modified-Since / If-Unmodified-Since dates (IMF-fixdate, RFC 850 and
//! asctime), judged against a resource as Swift orders the checks.
//!
//! Input: `<flags><last-modified: u64 LE><etag>\0<If-Match>\0<If-None-Match>\0<If-Modified-Since>\0<If-Unmodified-Since>`;
//! flag bit 0: the resource exists, bit 1: it has an ETag.

use http::{HeaderMap, HeaderValue};
use swirl_common::conditional::{normalize_etag, Conditions, MatchList};
use swirl_common::timestamp;

use crate::input::{text, Input};

const NAMES: [&str; 4] = [
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
];

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.byte();
    let last_modified = input.u64() % 300_000_000_000;
    let etag = text(input.field()).into_owned();
    let mut h = HeaderMap::new();
    for name in NAMES {
        let raw = input.field();
        if let Ok(v) = HeaderValue::from_bytes(raw) {
            h.insert(name, v);
        }
        let value = text(raw);
        let list = MatchList::parse(&value);
        if list.has_star() || list.contains(normalize_etag(&etag)) {
            crate::accepted();
        }
        assert!(list.contains(normalize_etag(&etag)) || !list.has_star());
        if let Some(secs) = timestamp::parse_http_date(&value) {
            crate::accepted();
            // A date we read is one we can write and read back.
            let again = timestamp::parse_http_date(&timestamp::http_date(secs));
            assert_eq!(again, Some(secs), "{value:?}");
        }
    }
    let found = flags & 1 == 1;
    let etag = (flags & 2 == 2).then_some(etag.as_str());
    let c = Conditions::from_headers(&h);
    if let Some(status) = c.check(etag, Some(last_modified), found) {
        assert!(status == 304 || status == 412);
    }
    let _ = c.check(etag, None, found);
}
