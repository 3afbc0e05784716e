//! Account and container listing bodies exactly as Swift writes them: JSON as
//! Python's `json.dumps` (ASCII-only, `", "` / `": "` separators), XML as
//! ElementTree's `tostring` in `listing_formats.container_to_xml` /
//! `account_to_xml`, plain text one name per line; and the content type a
//! request asks for (`get_listing_content_type`, `format=` beating `Accept`).
//! Backends render listings with these; the proxy converts a backend's JSON
//! with [`parse_json`] and the same renderers.

use std::fmt::Write as _;

/// One listing entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListingItem {
    /// A container listing's object.
    Object {
        name: String,
        hash: String,
        bytes: i64,
        content_type: String,
        last_modified: String,
    },
    /// An account listing's container.
    Container {
        name: String,
        count: i64,
        bytes: i64,
        last_modified: String,
    },
    /// A name rolled up at the delimiter.
    Subdir(String),
}

impl ListingItem {
    /// The name (or subdir) of the entry.
    pub fn name(&self) -> &str {
        match self {
            ListingItem::Object { name, .. }
            | ListingItem::Container { name, .. }
            | ListingItem::Subdir(name) => name,
        }
    }
}

/// Python's `json.dumps` string escaping with `ensure_ascii=True`. Runs of
/// printable ASCII (nearly every name) are copied whole.
pub fn json_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let (mut run, mut i) = (0, 0);
    while i < bytes.len() {
        let b = bytes[i];
        if (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\' {
            i += 1;
            continue;
        }
        // `i` is a char boundary: only ASCII bytes were stepped over.
        out.push_str(&s[run..i]);
        let Some(c) = s[i..].chars().next() else {
            break;
        };
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            _ => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
        i += c.len_utf8();
        run = i;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// The JSON body: `[{"bytes": 5, "hash": ...}, {"subdir": "a/"}]`, key order as Swift's dicts.
pub fn to_json(items: &[ListingItem]) -> Vec<u8> {
    let mut out = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match item {
            ListingItem::Object {
                name,
                hash,
                bytes,
                content_type,
                last_modified,
            } => {
                let _ = write!(out, "{{\"bytes\": {bytes}, \"hash\": ");
                json_str(&mut out, hash);
                out.push_str(", \"name\": ");
                json_str(&mut out, name);
                out.push_str(", \"content_type\": ");
                json_str(&mut out, content_type);
                out.push_str(", \"last_modified\": ");
                json_str(&mut out, last_modified);
                out.push('}');
            }
            ListingItem::Container {
                name,
                count,
                bytes,
                last_modified,
            } => {
                out.push_str("{\"name\": ");
                json_str(&mut out, name);
                let _ = write!(
                    out,
                    ", \"count\": {count}, \"bytes\": {bytes}, \"last_modified\": "
                );
                json_str(&mut out, last_modified);
                out.push('}');
            }
            ListingItem::Subdir(s) => {
                out.push_str("{\"subdir\": ");
                json_str(&mut out, s);
                out.push('}');
            }
        }
    }
    out.push(']');
    out.into_bytes()
}

/// ElementTree's text escaping.
fn xml_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
}

/// ElementTree's attribute escaping.
fn xml_attr(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#09;"),
            _ => out.push(c),
        }
    }
}

fn xml_field(out: &mut String, tag: &str, text: &str) {
    let _ = write!(out, "<{tag}>");
    xml_text(out, text);
    let _ = write!(out, "</{tag}>");
}

const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// `container_to_xml`: `<container name="c"><object>...</object><subdir name="d/"><name>d/</name></subdir></container>`.
pub fn container_to_xml(items: &[ListingItem], container: &str) -> Vec<u8> {
    let mut out = String::from(XML_DECL);
    out.push_str("<container name=\"");
    xml_attr(&mut out, container);
    out.push('"');
    if items.is_empty() {
        out.push_str(" />");
        return out.into_bytes();
    }
    out.push('>');
    for item in items {
        match item {
            ListingItem::Object {
                name,
                hash,
                bytes,
                content_type,
                last_modified,
            } => {
                out.push_str("<object>");
                xml_field(&mut out, "name", name);
                xml_field(&mut out, "hash", hash);
                xml_field(&mut out, "bytes", &bytes.to_string());
                xml_field(&mut out, "content_type", content_type);
                xml_field(&mut out, "last_modified", last_modified);
                out.push_str("</object>");
            }
            ListingItem::Container {
                name,
                count,
                bytes,
                last_modified,
            } => {
                // Not produced by container listings; rendered like an object's fields.
                out.push_str("<container>");
                xml_field(&mut out, "name", name);
                xml_field(&mut out, "count", &count.to_string());
                xml_field(&mut out, "bytes", &bytes.to_string());
                xml_field(&mut out, "last_modified", last_modified);
                out.push_str("</container>");
            }
            ListingItem::Subdir(s) => {
                out.push_str("<subdir name=\"");
                xml_attr(&mut out, s);
                out.push_str("\">");
                xml_field(&mut out, "name", s);
                out.push_str("</subdir>");
            }
        }
    }
    out.push_str("</container>");
    out.into_bytes()
}

/// `account_to_xml`: one element per line inside `<account name="a">`.
pub fn account_to_xml(items: &[ListingItem], account: &str) -> Vec<u8> {
    let mut out = String::from(XML_DECL);
    out.push_str("<account name=\"");
    xml_attr(&mut out, account);
    out.push_str("\">\n");
    for item in items {
        match item {
            ListingItem::Container {
                name,
                count,
                bytes,
                last_modified,
            } => {
                out.push_str("<container>");
                xml_field(&mut out, "name", name);
                xml_field(&mut out, "count", &count.to_string());
                xml_field(&mut out, "bytes", &bytes.to_string());
                xml_field(&mut out, "last_modified", last_modified);
                out.push_str("</container>");
            }
            ListingItem::Object { name, .. } => {
                out.push_str("<container>");
                xml_field(&mut out, "name", name);
                out.push_str("</container>");
            }
            ListingItem::Subdir(s) => {
                out.push_str("<subdir name=\"");
                xml_attr(&mut out, s);
                out.push_str("\" />");
            }
        }
        out.push('\n');
    }
    out.push_str("</account>");
    out.into_bytes()
}

/// `listing_to_text`: each name (or subdir) and a newline.
pub fn to_text(items: &[ListingItem]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        out.extend_from_slice(item.name().as_bytes());
        out.push(b'\n');
    }
    out
}

/// Why a JSON listing could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListingFormatError {
    #[error("bad JSON listing: {0}")]
    BadJson(String),
    #[error("Invalid Accept header")]
    BadAccept,
    #[error("Not Acceptable")]
    NotAcceptable,
}

/// Reads a backend's JSON listing back into items (the proxy's conversion path).
pub fn parse_json(body: &[u8]) -> Result<Vec<ListingItem>, ListingFormatError> {
    let bad = |m: &str| ListingFormatError::BadJson(m.to_string());
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ListingFormatError::BadJson(e.to_string()))?;
    let arr = v.as_array().ok_or_else(|| bad("not a list"))?;
    let s = |o: &serde_json::Map<String, serde_json::Value>, k: &str| -> String {
        match o.get(k) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        }
    };
    let n = |o: &serde_json::Map<String, serde_json::Value>, k: &str| -> i64 {
        o.get(k).and_then(serde_json::Value::as_i64).unwrap_or(0)
    };
    arr.iter()
        .map(|e| {
            let o = e.as_object().ok_or_else(|| bad("entry not an object"))?;
            Ok(if o.contains_key("subdir") {
                ListingItem::Subdir(s(o, "subdir"))
            } else if o.contains_key("count") {
                ListingItem::Container {
                    name: s(o, "name"),
                    count: n(o, "count"),
                    bytes: n(o, "bytes"),
                    last_modified: s(o, "last_modified"),
                }
            } else {
                ListingItem::Object {
                    name: s(o, "name"),
                    hash: s(o, "hash"),
                    bytes: n(o, "bytes"),
                    content_type: s(o, "content_type"),
                    last_modified: s(o, "last_modified"),
                }
            })
        })
        .collect()
}

/// What `format=` maps to (anything unknown means plain text).
fn format_type(format: &str) -> &'static str {
    match format.to_ascii_lowercase().as_str() {
        "json" => "application/json",
        "xml" => "application/xml",
        _ => "text/plain",
    }
}

const OFFERS: [&str; 4] = [
    "text/plain",
    "application/json",
    "application/xml",
    "text/xml",
];

fn is_token_char(c: char) -> bool {
    !(c <= ' ' || c == '\x7f' || "()<>@,;:\\\"/[]?={}".contains(c))
}

/// One media range of an Accept header: (type, subtype, q).
fn parse_range(part: &str) -> Result<(String, String, f64), ListingFormatError> {
    let mut pieces = part.split(';');
    let media = pieces.next().unwrap_or("").trim();
    let (t, st) = media.split_once('/').ok_or(ListingFormatError::BadAccept)?;
    let ok = |s: &str| !s.is_empty() && s.chars().all(is_token_char);
    if !ok(t) || !ok(st) {
        return Err(ListingFormatError::BadAccept);
    }
    let mut q = 1.0;
    let mut seen_q = false;
    for p in pieces {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        let (k, v) = p.split_once('=').ok_or(ListingFormatError::BadAccept)?;
        if v.contains('=') {
            return Err(ListingFormatError::BadAccept);
        }
        if k.trim() == "q" {
            if seen_q {
                return Err(ListingFormatError::BadAccept);
            }
            seen_q = true;
            q = v
                .trim()
                .parse()
                .map_err(|_| ListingFormatError::BadAccept)?;
        }
    }
    Ok((t.to_string(), st.to_string(), q))
}

/// Swift's `get_listing_content_type`: `format=json|xml|plain` (anything else
/// is plain) replaces the Accept header; otherwise the Accept header's best
/// match among text/plain, application/json, application/xml, text/xml, by
/// q then specificity (a q of 0 still matches, as in swob), default text/plain.
pub fn negotiate(
    format: Option<&str>,
    accept: Option<&str>,
) -> Result<&'static str, ListingFormatError> {
    let accept = match format.filter(|f| !f.is_empty()) {
        Some(f) => Some(format_type(f)),
        None => accept,
    };
    let Some(accept) = accept.filter(|a| !a.is_empty()) else {
        return Ok(OFFERS[0]);
    };
    let mut ranges = Vec::new();
    for part in accept.split(',') {
        ranges.push(parse_range(part)?);
    }
    // Stable sort by (q, no glob) descending, as swob's Accept does.
    ranges.sort_by(|a, b| {
        let ka = (a.2, a.0 != "*" && a.1 != "*");
        let kb = (b.2, b.0 != "*" && b.1 != "*");
        kb.partial_cmp(&ka).unwrap_or(std::cmp::Ordering::Equal)
    });
    for (t, st, _) in &ranges {
        for offer in OFFERS {
            let (ot, ost) = offer.split_once('/').unwrap_or((offer, ""));
            if (t == "*" || t == ot) && (st == "*" || st == ost) {
                return Ok(offer);
            }
        }
    }
    Err(ListingFormatError::NotAcceptable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> Vec<ListingItem> {
        vec![
            ListingItem::Object {
                name: "a&b<c>\"d'\t\n\r\u{1}é😀".into(),
                hash: "d41d".into(),
                bytes: 5,
                content_type: "text/plain;charset=utf-8".into(),
                last_modified: "2014-06-11T05:31:17.041880".into(),
            },
            ListingItem::Subdir("x/\"&\n".into()),
        ]
    }

    // Expected bodies were produced by Swift 2.30.1's listing_formats and json.dumps.
    #[test]
    fn json_like_python() {
        let want = "[{\"bytes\": 5, \"hash\": \"d41d\", \"name\": \"a&b<c>\\\"d'\\t\\n\\r\\u0001\\u00e9\\ud83d\\ude00\", \"content_type\": \"text/plain;charset=utf-8\", \"last_modified\": \"2014-06-11T05:31:17.041880\"}, {\"subdir\": \"x/\\\"&\\n\"}]";
        assert_eq!(String::from_utf8(to_json(&items())).unwrap(), want);
        assert_eq!(to_json(&[]), b"[]");
        assert_eq!(parse_json(want.as_bytes()).unwrap(), items());
    }

    #[test]
    fn xml_like_elementtree() {
        let want = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<container name=\"c&quot;&amp;&lt;&#10;\"><object><name>a&amp;b&lt;c&gt;\"d'\t\n\r\u{1}é😀</name><hash>d41d</hash><bytes>5</bytes><content_type>text/plain;charset=utf-8</content_type><last_modified>2014-06-11T05:31:17.041880</last_modified></object><subdir name=\"x/&quot;&amp;&#10;\"><name>x/\"&amp;\n</name></subdir></container>";
        assert_eq!(
            String::from_utf8(container_to_xml(&items(), "c\"&<\n")).unwrap(),
            want
        );
        assert_eq!(
            container_to_xml(&[], "c"),
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<container name=\"c\" />"
        );
        assert_eq!(
            account_to_xml(&[], "a"),
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<account name=\"a\">\n</account>"
        );
        let acct = vec![
            ListingItem::Container {
                name: "c1".into(),
                count: 1,
                bytes: 2,
                last_modified: "x".into(),
            },
            ListingItem::Subdir("d/".into()),
        ];
        assert_eq!(
            String::from_utf8(account_to_xml(&acct, "a")).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<account name=\"a\">\n<container><name>c1</name><count>1</count><bytes>2</bytes><last_modified>x</last_modified></container>\n<subdir name=\"d/\" />\n</account>"
        );
        assert_eq!(
            to_text(&items()),
            "a&b<c>\"d'\t\n\r\u{1}é😀\nx/\"&\n\n".as_bytes()
        );
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(None, None).unwrap(), "text/plain");
        assert_eq!(
            negotiate(Some("json"), Some("text/xml")).unwrap(),
            "application/json"
        );
        assert_eq!(negotiate(Some("XML"), None).unwrap(), "application/xml");
        assert_eq!(negotiate(Some("bogus"), None).unwrap(), "text/plain");
        assert_eq!(
            negotiate(None, Some("application/json")).unwrap(),
            "application/json"
        );
        assert_eq!(negotiate(None, Some("*/*")).unwrap(), "text/plain");
        assert_eq!(
            negotiate(None, Some("text/*;q=0.5, application/xml")).unwrap(),
            "application/xml"
        );
        assert_eq!(negotiate(None, Some("text/xml")).unwrap(), "text/xml");
        assert_eq!(
            negotiate(None, Some("image/png")),
            Err(ListingFormatError::NotAcceptable)
        );
        assert_eq!(
            negotiate(None, Some("garbage")),
            Err(ListingFormatError::BadAccept)
        );
    }
}
