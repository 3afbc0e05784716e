//! Listing helpers the proxy answers itself: the empty listing of an
//! auto-created account that does not exist yet (Swift's
//! `account_listing_response`), in the format the client asked for.

use http::{HeaderMap, Response, StatusCode};
use swirl_common::{Body, Timestamp};

use crate::headers;

/// The listing format a request asks for (`format=` wins over Accept).
pub fn wanted_format(h: &HeaderMap, query: Option<&str>) -> &'static str {
    let q = query.unwrap_or("");
    for pair in q.split('&') {
        if let Some(v) = pair.strip_prefix("format=") {
            let v = v.to_ascii_lowercase();
            if v.starts_with("json") {
                return "json";
            }
            if v.starts_with("xml") {
                return "xml";
            }
            return "plain";
        }
    }
    let accept = headers::get(h, "accept").unwrap_or("").to_ascii_lowercase();
    if accept.contains("application/json") {
        "json"
    } else if accept.contains("application/xml") || accept.contains("text/xml") {
        "xml"
    } else {
        "plain"
    }
}

/// An empty account listing with zero stats.
pub fn empty_account(
    account: &str,
    h: &HeaderMap,
    query: Option<&str>,
    head: bool,
) -> Response<Body> {
    let (status, ctype, body) = match wanted_format(h, query) {
        "json" => (
            StatusCode::OK,
            "application/json; charset=utf-8",
            "[]".to_string(),
        ),
        "xml" => (
            StatusCode::OK,
            "application/xml; charset=utf-8",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<account name=\"{}\"></account>",
                xml_escape(account)
            ),
        ),
        _ => (
            StatusCode::NO_CONTENT,
            "text/plain; charset=utf-8",
            String::new(),
        ),
    };
    let now = Timestamp::now().normal();
    let mut r = Response::new(if head || body.is_empty() {
        swirl_common::body::empty()
    } else {
        swirl_common::body::full(body.clone())
    });
    *r.status_mut() = if head && status == StatusCode::OK {
        StatusCode::NO_CONTENT
    } else {
        status
    };
    let hm = r.headers_mut();
    headers::set(hm, "content-type", ctype);
    headers::set(hm, "content-length", &body.len().to_string());
    headers::set(hm, "x-account-container-count", "0");
    headers::set(hm, "x-account-object-count", "0");
    headers::set(hm, "x-account-bytes-used", "0");
    headers::set(hm, "x-timestamp", &now);
    headers::set(hm, "x-put-timestamp", &now);
    r
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let h = HeaderMap::new();
        assert_eq!(wanted_format(&h, Some("format=json")), "json");
        assert_eq!(wanted_format(&h, Some("limit=1&format=xml")), "xml");
        assert_eq!(wanted_format(&h, None), "plain");
        let mut h2 = HeaderMap::new();
        headers::set(&mut h2, "accept", "application/json");
        assert_eq!(wanted_format(&h2, None), "json");
        assert_eq!(empty_account("AUTH_x", &h, None, false).status(), 204);
    }
}
