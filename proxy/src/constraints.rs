//! Swift's request constraints as the proxy applies them
//! (swift/common/constraints.py: `check_metadata`, `check_object_creation`,
//! `check_delete_headers`). Pure: headers in, the 400 text out.

use http::HeaderMap;
use swirl_common::constraints as c;

use crate::headers;

/// Swift's `check_metadata` for `target` = account, container or object.
pub fn check_metadata(h: &HeaderMap, target: &str) -> Result<(), String> {
    let prefix = format!("x-{target}-meta-");
    let mut count = 0usize;
    let mut size = 0usize;
    for (k, v) in h {
        let value = v.as_bytes();
        if value.len() > c::MAX_HEADER_SIZE {
            let name: String = k.as_str().chars().take(c::MAX_META_NAME_LENGTH).collect();
            return Err(format!("Header value too long: {name}"));
        }
        let Some(key) = k.as_str().strip_prefix(prefix.as_str()) else {
            continue;
        };
        if key.is_empty() {
            return Err("Metadata name cannot be empty".into());
        }
        if target != "object" && std::str::from_utf8(value).is_err() {
            return Err("Metadata must be valid UTF-8".into());
        }
        count += 1;
        size += key.len() + value.len();
        if key.len() > c::MAX_META_NAME_LENGTH {
            return Err(format!("Metadata name too long: {prefix}{key}"));
        }
        if value.len() > c::MAX_META_VALUE_LENGTH {
            return Err(format!(
                "Metadata value longer than {}: {prefix}{key}",
                c::MAX_META_VALUE_LENGTH
            ));
        }
        if count > c::MAX_META_COUNT {
            return Err(format!(
                "Too many metadata items; max {}",
                c::MAX_META_COUNT
            ));
        }
        if size > c::MAX_META_OVERALL_SIZE {
            return Err(format!(
                "Total metadata too large; max {}",
                c::MAX_META_OVERALL_SIZE
            ));
        }
    }
    Ok(())
}

/// Swift's `check_delete_headers`: turns X-Delete-After into X-Delete-At and
/// refuses non-integers and times in the past. `now` is Unix seconds.
pub fn check_delete_headers(h: &mut HeaderMap, now: f64) -> Result<(), String> {
    if let Some(after) = headers::get(h, "x-delete-after").map(str::to_string) {
        let after = parse_int(&after).ok_or_else(|| "Non-integer X-Delete-After".to_string())?;
        let at = normalize_delete_at(now + after);
        if at.parse::<f64>().unwrap_or(0.0) <= now {
            return Err("X-Delete-After in past".into());
        }
        h.remove("x-delete-after");
        headers::set(h, "x-delete-at", &at);
    }
    if let Some(at) = headers::get(h, "x-delete-at").map(str::to_string) {
        let v = parse_int(&at).ok_or_else(|| "Non-integer X-Delete-At".to_string())?;
        let norm = normalize_delete_at(v);
        if norm.parse::<f64>().unwrap_or(0.0) <= now {
            return Err("X-Delete-At in past".into());
        }
        headers::set(h, "x-delete-at", &norm);
    }
    Ok(())
}

/// Python's `int()` of a header: an optionally signed run of digits of any
/// length (the value is only compared and clamped, so f64 is enough).
fn parse_int(v: &str) -> Option<f64> {
    let t = v.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse::<f64>().ok()
}

/// Swift's `normalize_delete_at_timestamp`: ten digits, clamped.
pub fn normalize_delete_at(t: f64) -> String {
    let v = t.clamp(0.0, 9_999_999_999.0) as u64;
    format!("{v:010}")
}

/// What an object PUT must satisfy before any backend is asked.
/// `length` is the Content-Length (None when chunked).
pub fn check_object_creation(
    h: &HeaderMap,
    object: &str,
    length: Option<u64>,
    chunked: bool,
) -> Result<(), CreationError> {
    if let Some(l) = length {
        if l > c::MAX_FILE_SIZE {
            return Err(CreationError::TooLarge);
        }
    } else if !chunked {
        return Err(CreationError::LengthRequired);
    }
    if object.len() > c::MAX_OBJECT_NAME_LENGTH {
        return Err(CreationError::Bad(format!(
            "Object name length of {} longer than {}",
            object.len(),
            c::MAX_OBJECT_NAME_LENGTH
        )));
    }
    match h.get("content-type") {
        None => return Err(CreationError::Bad("No content type".into())),
        Some(v) if std::str::from_utf8(v.as_bytes()).is_err() => {
            return Err(CreationError::Bad("Invalid Content-Type".into()))
        }
        Some(_) => {}
    }
    check_metadata(h, "object").map_err(CreationError::Bad)
}

/// Why an object PUT was refused up front.
#[derive(Debug, PartialEq, Eq)]
pub enum CreationError {
    TooLarge,
    LengthRequired,
    Bad(String),
}

/// The request body's length from its framing headers (Swift's
/// `message_length`), and whether it is chunked.
pub fn request_length(h: &HeaderMap) -> crate::error::Result<(Option<u64>, bool)> {
    // Swift's `message_length`: one coding only, and it must be chunked.
    let chunked =
        match headers::get(h, "transfer-encoding") {
            None => false,
            Some(te) if te.contains(',') => return Err(crate::error::Error::NotImplemented(
                "Unsupported Transfer-Coding header value specified in Transfer-Encoding header"
                    .into(),
            )),
            Some(te) if te.trim().eq_ignore_ascii_case("chunked") => true,
            Some(_) => {
                return Err(crate::error::Error::BadRequest(
                    "Invalid Transfer-Encoding header value".into(),
                ))
            }
        };
    let length = match headers::get(h, "content-length") {
        Some(v) if !chunked => Some(v.trim().parse::<u64>().map_err(|_| {
            crate::error::Error::BadRequest("Invalid Content-Length header value".into())
        })?),
        _ => None,
    };
    Ok((length, chunked))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};

    fn hm(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn metadata_limits() {
        assert!(check_metadata(&hm(&[("x-object-meta-a", "b")]), "object").is_ok());
        assert_eq!(
            check_metadata(&hm(&[("x-object-meta-", "b")]), "object").unwrap_err(),
            "Metadata name cannot be empty"
        );
        let long = "k".repeat(129);
        assert!(
            check_metadata(&hm(&[(&format!("x-object-meta-{long}"), "v")]), "object")
                .unwrap_err()
                .starts_with("Metadata name too long")
        );
        assert!(check_metadata(
            &hm(&[("x-container-meta-a", &"v".repeat(257))]),
            "container"
        )
        .unwrap_err()
        .starts_with("Metadata value longer than 256"));
        let many: Vec<(String, String)> = (0..91)
            .map(|i| (format!("x-account-meta-{i}"), "v".into()))
            .collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(
            check_metadata(&hm(&many), "account").unwrap_err(),
            "Too many metadata items; max 90"
        );
        let big: Vec<(String, String)> = (0..17)
            .map(|i| (format!("x-object-meta-{i:02}"), "v".repeat(250)))
            .collect();
        let big: Vec<(&str, &str)> = big.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(
            check_metadata(&hm(&big), "object").unwrap_err(),
            "Total metadata too large; max 4096"
        );
    }

    #[test]
    fn delete_headers() {
        let mut h = hm(&[("x-delete-after", "10")]);
        check_delete_headers(&mut h, 1000.5).unwrap();
        assert_eq!(headers::get(&h, "x-delete-at"), Some("0000001010"));
        assert!(h.get("x-delete-after").is_none());
        assert_eq!(
            check_delete_headers(&mut hm(&[("x-delete-after", "x")]), 1.0).unwrap_err(),
            "Non-integer X-Delete-After"
        );
        assert_eq!(
            check_delete_headers(&mut hm(&[("x-delete-after", "-5")]), 100.0).unwrap_err(),
            "X-Delete-After in past"
        );
        assert_eq!(
            check_delete_headers(&mut hm(&[("x-delete-at", "50")]), 100.0).unwrap_err(),
            "X-Delete-At in past"
        );
        let mut far = hm(&[("x-delete-at", &"1".repeat(100))]);
        check_delete_headers(&mut far, 100.0).unwrap();
        assert_eq!(headers::get(&far, "x-delete-at"), Some("9999999999"));
        assert!(check_delete_headers(&mut hm(&[("x-delete-at", "1.5")]), 1.0).is_err());
    }

    #[test]
    fn creation() {
        let h = hm(&[("content-type", "text/plain")]);
        assert_eq!(
            check_object_creation(&h, "o", None, false),
            Err(CreationError::LengthRequired)
        );
        assert_eq!(
            check_object_creation(&h, "o", Some(c::MAX_FILE_SIZE + 1), false),
            Err(CreationError::TooLarge)
        );
        assert!(check_object_creation(&h, "o", None, true).is_ok());
        assert!(matches!(
            check_object_creation(&h, &"o".repeat(1025), Some(1), false),
            Err(CreationError::Bad(_))
        ));
    }
}
