//! Transaction ids (X-Trans-Id) in Swift's form: `tx` + 21 hex digits + `-` + 10 hex digits of time.

use http::HeaderMap;
use rand::Rng;

/// The id the request carries (from a proxy), or a new one.
pub fn from_request_or_new(headers: &HeaderMap) -> String {
    headers
        .get("x-trans-id")
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .map(str::to_string)
        .unwrap_or_else(|| new_trans_id(""))
}

/// A new id; `suffix` is Swift's `trans_id_suffix` (plus X-Trans-Id-Extra).
pub fn new_trans_id(suffix: &str) -> String {
    let r: u128 = rand::rng().random();
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let hex = format!("{:032x}", r);
    format!("tx{}-{:010x}{}", &hex[..21], secs, suffix)
}

#[cfg(test)]
mod tests {
    #[test]
    fn shape() {
        let t = super::new_trans_id("");
        assert_eq!(t.len(), 2 + 21 + 1 + 10);
        assert!(t.starts_with("tx"));
    }
}
