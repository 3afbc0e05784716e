//! Static large object manifests, the pure part of Swift's slo middleware
//! (`swift/common/middleware/slo.py`): the manifest a client PUTs
//! (`parse_and_validate_input`) and the checks of each segment against its
//! HEAD, the manifest stored on the object servers (as Python's
//! `json.dumps` writes it) and its SLO ETag (the MD5 of the segments' ETags,
//! `etag:range;` for ranged segments, the MD5 of the bytes for inline data),
//! the `?multipart-manifest=get&format=raw` conversion back to the PUT
//! format, the walk of the byte ranges a GET wants across segments and
//! nested manifests (`_byterange_listing_iterator`), and the container
//! listing rewrite that exposes `slo_etag`.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use swirl_common::range::{self, RangeHeader};

/// Object sysmeta holding the SLO ETag (unquoted) and the total size.
pub const SYSMETA_SLO_ETAG: &str = "x-object-sysmeta-slo-etag";
pub const SYSMETA_SLO_SIZE: &str = "x-object-sysmeta-slo-size";
/// The sysmeta whose value the object server sends as the container row's ETag.
pub const OVERRIDE_ETAG: &str = "x-object-sysmeta-container-update-override-etag";
/// The marker header of a manifest.
pub const MARKER: &str = "x-static-large-object";
/// Swift's `max_slo_recursion_depth`.
pub const MAX_RECURSION_DEPTH: u32 = 10;
/// Sub-manifests a GET keeps (twice the depth: a tree cannot run the proxy
/// out of memory).
const SUB_CACHE: usize = 20;

// ---------------------------------------------------------------------------
// Python compatibility: base64, int(), json.dumps.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_value(c: u8) -> Option<u8> {
    B64.iter().position(|b| *b == c).map(|p| p as u8)
}

/// Standard base64 with padding.
pub fn b64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes the alphabet characters of `s` (others skipped), as Python's
/// `base64.b64decode` does without validation; None when the characters
/// left over cannot form a byte or padding is missing.
fn b64_decode_lenient(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut n) = (0u32, 0u32);
    let mut data_chars = 0usize;
    let mut pads = 0usize;
    for c in s.bytes() {
        if c == b'=' {
            if data_chars % 4 >= 2 {
                pads += 1;
                if data_chars % 4 + pads >= 4 {
                    break; // the quantum is complete
                }
            }
            continue;
        }
        let Some(v) = b64_value(c) else { continue };
        if pads > 0 {
            // Data after padding: Python ends the quantum at its padding.
            break;
        }
        data_chars += 1;
        acc = (acc << 6) | u32::from(v);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((acc >> n) as u8);
            acc &= (1 << n) - 1;
        }
    }
    match data_chars % 4 {
        0 => Some(out),
        1 => None,
        r => (r + pads >= 4).then_some(out),
    }
}

/// Swift's `strict_b64decode`: only the base64 alphabet inside any `=` at
/// either end, and complete padding.
pub fn b64_decode_strict(s: &str) -> Option<Vec<u8>> {
    let inner = s.trim_matches('=');
    if !inner.bytes().all(|c| b64_value(c).is_some()) {
        return None;
    }
    b64_decode_lenient(s)
}

/// Python's `int()` of a JSON value: integers, floats truncated toward
/// zero, booleans, and strings of decimal digits (spaces, a sign and single
/// underscores between digits allowed).
fn py_int(v: &Value) -> Option<i128> {
    match v {
        Value::Bool(b) => Some(i128::from(*b)),
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.trunc() as i128)
            }),
        Value::String(s) => {
            let t = s.trim();
            let (neg, digits) = match t.as_bytes().first() {
                Some(b'-') => (true, &t[1..]),
                Some(b'+') => (false, &t[1..]),
                _ => (false, t),
            };
            let bytes = digits.as_bytes();
            let ok = !bytes.is_empty()
                && bytes.first().is_some_and(u8::is_ascii_digit)
                && bytes.last().is_some_and(u8::is_ascii_digit)
                && bytes
                    .windows(2)
                    .all(|w| w[0].is_ascii_digit() || w[1].is_ascii_digit())
                && bytes.iter().all(|b| b.is_ascii_digit() || *b == b'_');
            if !ok {
                return None;
            }
            let n: i128 = digits.replace('_', "").parse().ok()?;
            Some(if neg { -n } else { n })
        }
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

// Python's `json.dumps` of a string (`ensure_ascii`), as listings write it.
use swirl_common::listing_format::json_str as py_str;

/// Python's `json.dumps` of a value; objects in key order (serde_json's
/// map is sorted, which is what `sort_keys=True` writes).
pub fn py_dumps(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e16 => {
                let _ = write!(out, "{f:.1}");
            }
            _ => {
                let _ = write!(out, "{n}");
            }
        },
        Value::String(s) => py_str(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_dumps(out, x);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_str(out, k);
                out.push_str(": ");
                py_dumps(out, x);
            }
            out.push('}');
        }
    }
}

fn md5_hex(data: &[u8]) -> String {
    format!("{:x}", md5::compute(data))
}

// ---------------------------------------------------------------------------
// The manifest a client PUTs.

/// One validated segment of a manifest PUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Inline bytes (decoded).
    Data(Vec<u8>),
    Object(ObjectInput),
}

/// An object-backed segment of a manifest PUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInput {
    /// `/container/object` (relative to the manifest's account).
    pub path: String,
    /// The ETag to check, when given.
    pub etag: Option<String>,
    /// The size to check, when given.
    pub size_bytes: Option<i128>,
    /// The one range wanted of the object.
    pub range: Option<RangeHeader>,
}

/// Why a manifest PUT body is refused (400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    /// The body as a whole (Swift sends these as text/html).
    Body(&'static str),
    /// One line per bad segment (text/plain).
    Segments(String),
}

/// Swift's `parse_and_validate_input`, for a manifest at `/<account>/<container>/<object>`.
/// Where Swift 2.30.1 fails with a 500 (a segment that is not an object or
/// has neither `path` nor `data`), this reports the segment instead.
pub fn parse_input(body: &[u8], container: &str, object: &str) -> Result<Vec<Input>, InputError> {
    let parsed: Value = serde_json::from_slice(body)
        .map_err(|_| InputError::Body("Manifest must be valid JSON.\n"))?;
    let Value::Array(items) = parsed else {
        return Err(InputError::Body("Manifest must be a list.\n"));
    };
    let own = format!("{container}/{object}");
    let last = items.len().saturating_sub(1);
    let mut errors: Vec<String> = Vec::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(seg) = item else {
            errors.push(format!("Index {i}: not a JSON object"));
            continue;
        };
        // 'data' is looked for first, as Swift's SLO_KEYS orders them.
        let (kind, allowed): (&str, &[&str]) = if seg.contains_key("data") {
            ("data", &["data"])
        } else if seg.contains_key("path") {
            ("path", &["path", "range", "etag", "size_bytes"])
        } else {
            errors.push(format!(
                "Index {i}: expected keys to include one of 'data' or 'path'"
            ));
            continue;
        };
        let extra: Vec<String> = seg
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .map(|k| {
                let mut s = String::new();
                py_str(&mut s, k);
                s
            })
            .collect();
        if !extra.is_empty() {
            errors.push(format!("Index {i}: extraneous keys {}", extra.join(", ")));
            continue;
        }
        if kind == "data" {
            let decoded = match &seg["data"] {
                Value::String(s) => b64_decode_strict(s),
                _ => None,
            };
            match decoded {
                None => errors.push(format!("Index {i}: data must be valid base64")),
                Some(d) if d.is_empty() => errors.push(format!(
                    "Index {i}: too small; each segment must be at least 1 byte."
                )),
                Some(d) => out.push(Input::Data(d)),
            }
            continue;
        }
        let Value::String(path) = &seg["path"] else {
            errors.push(format!("Index {i}: \"path\" must be a string"));
            continue;
        };
        let etag = match seg.get("etag") {
            None | Some(Value::Null) => None,
            Some(Value::String(e)) => Some(e.clone()),
            Some(_) => {
                errors.push(format!(
                    "Index {i}: \"etag\" must be a string or null (if provided)"
                ));
                continue;
            }
        };
        if !path.trim_matches('/').contains('/') {
            errors.push(format!(
                "Index {i}: path does not refer to an object. Path must be of the form /container/object."
            ));
            continue;
        }
        let size_bytes = match seg.get("size_bytes") {
            None | Some(Value::Null) => None,
            Some(v) => match py_int(v) {
                None => {
                    errors.push(format!("Index {i}: invalid size_bytes"));
                    continue;
                }
                Some(n) if n < 1 && i != last => {
                    errors.push(format!(
                        "Index {i}: too small; each segment must be at least 1 byte."
                    ));
                    continue;
                }
                Some(n) => Some(n),
            },
        };
        if path.trim_start_matches('/') == own {
            errors.push(format!(
                "Index {i}: manifest must not include itself as a segment"
            ));
            continue;
        }
        let range = match seg.get("range") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::Number(n)) if n.as_f64() == Some(0.0) => None,
            Some(v) => {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => String::new(),
                };
                let Some(r) = range::parse(&format!("bytes={text}")) else {
                    errors.push(format!("Index {i}: invalid range"));
                    continue;
                };
                if r.ranges.len() > 1 {
                    errors.push(format!("Index {i}: multiple ranges (only one allowed)"));
                    continue;
                }
                if let Some(n) = size_bytes {
                    let len = u64::try_from(n).unwrap_or(0);
                    if r.ranges_for_length(len).len() != 1 {
                        errors.push(format!("Index {i}: unsatisfiable range"));
                        continue;
                    }
                }
                Some(r)
            }
        };
        out.push(Input::Object(ObjectInput {
            path: path.clone(),
            etag,
            size_bytes,
            range,
        }));
    }
    if !items.is_empty() && items.iter().all(|s| s.get("data").is_some()) {
        errors.push("Inline data segments require at least one object-backed segment.".into());
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(InputError::Segments(
            errors.iter().map(|e| format!("{e}\n")).collect(),
        ))
    }
}

/// What the HEAD of a segment said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// `"404 Not Found"` when the HEAD failed, None when it succeeded.
    pub failed: Option<String>,
    pub length: Option<u64>,
    /// Without quotes.
    pub etag: Option<String>,
    /// Without parameters.
    pub content_type: Option<String>,
    /// `%Y-%m-%dT%H:%M:%S.%f` of its Last-Modified.
    pub last_modified: String,
    /// It is a manifest itself.
    pub slo: bool,
}

/// A segment as the stored manifest holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Base64, padded.
    Data(String),
    Object {
        name: String,
        bytes: u64,
        hash: Option<String>,
        content_type: Option<String>,
        last_modified: String,
        /// `first-last`, inclusive, when not the whole object.
        range: Option<String>,
        sub_slo: bool,
    },
}

/// Swift's `validate_seg_dict`: checks a segment against its HEAD, adding
/// `[quoted path, problem]` pairs; the bytes it adds to the object and what
/// to store (None when its HEAD failed).
pub fn check_segment(
    input: &ObjectInput,
    head: &Head,
    allow_empty: bool,
    problems: &mut Vec<(String, String)>,
) -> (u64, Option<Stored>) {
    let quoted = quote(&input.path);
    if let Some(status) = &head.failed {
        problems.push((quoted, status.clone()));
        return (0, None);
    }
    let full = head.length.unwrap_or(0);
    let mut length = full;
    let mut range = None;
    if let Some(r) = &input.range {
        let ranges = r.ranges_for_length(full);
        match ranges.first() {
            None => problems.push((quoted.clone(), "Unsatisfiable Range".into())),
            Some(&(0, e)) if ranges.len() == 1 && e == full => {}
            Some(&(a, e)) => {
                range = Some(format!("{a}-{}", e - 1));
                length = e - a;
            }
        }
    }
    if length < 1 && !allow_empty {
        problems.push((
            quoted.clone(),
            "Too small; each segment must be at least 1 byte.".into(),
        ));
    }
    if input
        .size_bytes
        .is_some_and(|s| Some(s) != head.length.map(i128::from))
    {
        problems.push((quoted.clone(), "Size Mismatch".into()));
    }
    if input.etag.is_some() && input.etag != head.etag {
        problems.push((quoted, "Etag Mismatch".into()));
    }
    let stored = Stored::Object {
        name: format!("/{}", input.path.trim_start_matches('/')),
        bytes: full,
        hash: head.etag.clone(),
        content_type: head.content_type.clone(),
        last_modified: head.last_modified.clone(),
        range,
        sub_slo: head.slo,
    };
    (length, Some(stored))
}

/// Swift's `quote(name)` (UTF-8, '/' kept), as error lists show names.
pub fn quote(name: &str) -> String {
    crate::middleware::bulk::quote(name.as_bytes())
}

/// The stored manifest, byte for byte as Swift's `json.dumps` writes it.
pub fn render_stored(segments: &[Stored]) -> Vec<u8> {
    let mut out = String::from("[");
    let opt = |out: &mut String, v: &Option<String>| match v {
        Some(s) => py_str(out, s),
        None => out.push_str("null"),
    };
    for (i, s) in segments.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match s {
            Stored::Data(d) => {
                out.push_str("{\"data\": ");
                py_str(&mut out, d);
                out.push('}');
            }
            Stored::Object {
                name,
                bytes,
                hash,
                content_type,
                last_modified,
                range,
                sub_slo,
            } => {
                out.push_str("{\"name\": ");
                py_str(&mut out, name);
                let _ = write!(out, ", \"bytes\": {bytes}, \"hash\": ");
                opt(&mut out, hash);
                out.push_str(", \"content_type\": ");
                opt(&mut out, content_type);
                out.push_str(", \"last_modified\": ");
                py_str(&mut out, last_modified);
                if let Some(r) = range {
                    out.push_str(", \"range\": ");
                    py_str(&mut out, r);
                }
                if *sub_slo {
                    out.push_str(", \"sub_slo\": true");
                }
                out.push('}');
            }
        }
    }
    out.push(']');
    out.into_bytes()
}

/// One segment's part of the SLO ETag.
fn etag_part(m: &mut md5::Context, data: Option<&[u8]>, hash: Option<&str>, range: Option<&str>) {
    match (data, range) {
        (Some(d), _) => m.consume(md5_hex(d).as_bytes()),
        (None, Some(r)) => m.consume(format!("{}:{r};", hash.unwrap_or("None")).as_bytes()),
        (None, None) => m.consume(hash.unwrap_or("None").as_bytes()),
    }
}

/// The SLO ETag (unquoted) of a manifest being stored.
pub fn slo_etag(segments: &[Stored]) -> String {
    let mut m = md5::Context::new();
    for s in segments {
        match s {
            Stored::Data(d) => {
                let raw = b64_decode_lenient(d).unwrap_or_default();
                etag_part(&mut m, Some(&raw), None, None);
            }
            Stored::Object { hash, range, .. } => {
                etag_part(&mut m, None, hash.as_deref(), range.as_deref());
            }
        }
    }
    format!("{:x}", m.finalize())
}

// ---------------------------------------------------------------------------
// The stored manifest, read back.

/// A stored manifest's segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Data(Bytes),
    Object {
        /// `/container/object`.
        name: String,
        hash: Option<String>,
        bytes: u64,
        /// Inclusive.
        range: Option<(u64, u64)>,
        sub_slo: bool,
    },
}

impl Seg {
    /// Bytes a plain GET reads from it (Swift's `_segment_length`).
    pub fn length(&self) -> u64 {
        match self {
            Seg::Data(d) => d.len() as u64,
            Seg::Object {
                range: Some((a, b)),
                ..
            } => b.saturating_sub(*a).saturating_add(1),
            Seg::Object { bytes, .. } => *bytes,
        }
    }
}

/// Swift's `config_true_value`.
fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on" | "t" | "y"
        ),
        _ => false,
    }
}

/// The segments of a stored manifest; Err for a body that is not one.
/// `top`: a GET's own manifest, whose sub-manifest entries may carry their
/// size in `swift_bytes` (Swift's `override_bytes_from_content_type`).
pub fn parse_stored(body: &[u8], top: bool) -> Result<Vec<Seg>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let Value::Array(items) = v else {
        return Err("not a list".into());
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Some(d) = item.get("data") {
            let raw = d
                .as_str()
                .and_then(b64_decode_lenient)
                .ok_or_else(|| format!("segment {i}: bad data"))?;
            out.push(Seg::Data(Bytes::from(raw)));
            continue;
        }
        let name = item
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("segment {i}: no name"))?;
        let sub_slo = truthy(item.get("sub_slo"));
        let mut bytes = item
            .get("bytes")
            .and_then(py_int)
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| format!("segment {i}: no bytes"))?;
        if top && sub_slo {
            let ct = item
                .get("content_type")
                .and_then(Value::as_str)
                .unwrap_or("");
            let swift_bytes = ct
                .split(';')
                .filter_map(|p| p.trim().strip_prefix("swift_bytes="))
                .next_back()
                .and_then(|b| b.parse().ok());
            if let Some(b) = swift_bytes {
                bytes = b;
            }
        }
        let range = match item.get("range").and_then(Value::as_str) {
            None => None,
            Some(r) => {
                let (a, b) = r
                    .split_once('-')
                    .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                    .filter(|(a, b): &(u64, u64)| a <= b)
                    .ok_or_else(|| format!("segment {i}: bad range"))?;
                Some((a, b))
            }
        };
        out.push(Seg::Object {
            name: name.to_string(),
            hash: item.get("hash").and_then(Value::as_str).map(str::to_string),
            bytes,
            range,
            sub_slo,
        });
    }
    Ok(out)
}

/// The SLO ETag (unquoted) and size of stored segments, for manifests
/// stored without them in sysmeta.
pub fn etag_and_size(segments: &[Seg]) -> (String, u64) {
    let mut m = md5::Context::new();
    let mut size: u64 = 0;
    for s in segments {
        match s {
            Seg::Data(d) => etag_part(&mut m, Some(d), None, None),
            Seg::Object { hash, range, .. } => {
                let r = range.map(|(a, b)| format!("{a}-{b}"));
                etag_part(&mut m, None, hash.as_deref(), r.as_deref());
            }
        }
        // Saturating: a stored manifest may claim sizes that add up past u64.
        size = size.saturating_add(s.length());
    }
    (format!("{:x}", m.finalize()), size)
}

/// `?multipart-manifest=get&format=raw`: the stored manifest in the form it
/// was PUT (`path`, `etag`, `size_bytes`, `range`; data segments as they
/// are), keys sorted. A body that is not a manifest converts to `[]`.
pub fn raw_manifest(body: &[u8]) -> Vec<u8> {
    let items = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    let converted: Vec<Value> = items
        .into_iter()
        .map(|item| match item {
            Value::Object(mut m) if !m.contains_key("data") => {
                for k in ["content_type", "last_modified", "sub_slo"] {
                    m.remove(k);
                }
                for (from, to) in [("name", "path"), ("bytes", "size_bytes"), ("hash", "etag")] {
                    let v = m.remove(from).unwrap_or(Value::Null);
                    m.insert(to.to_string(), v);
                }
                Value::Object(m)
            }
            other => other,
        })
        .collect();
    let mut out = String::new();
    py_dumps(&mut out, &Value::Array(converted));
    out.into_bytes()
}

// ---------------------------------------------------------------------------
// The byte ranges of a GET across segments.

/// A piece the walk wants read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// Inline bytes.
    Data(Bytes),
    /// Bytes `first..=last` of a segment object.
    Object {
        name: String,
        hash: Option<String>,
        bytes: u64,
        first: u64,
        last: u64,
    },
}

/// What the walk needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalkStep {
    Want(Want),
    /// The segments of this sub-manifest (`/container/object`), to be
    /// given with [`Walker::provide`].
    Fetch(String),
    Done,
}

#[derive(Debug)]
struct Level {
    segs: Arc<Vec<Seg>>,
    idx: usize,
    first: i128,
    last: i128,
    depth: u32,
}

/// A descent waiting for its sub-manifest.
#[derive(Debug)]
struct Pending {
    name: String,
    first: i128,
    last: i128,
    depth: u32,
}

/// Walks the wanted byte ranges across a manifest's segments and its
/// nested manifests (Swift's `_byterange_listing_iterator`), asking for
/// each sub-manifest it must descend into; the last 20 are kept.
#[derive(Debug)]
pub struct Walker {
    top: Arc<Vec<Seg>>,
    ranges: VecDeque<(i128, i128)>,
    stack: Vec<Level>,
    pending: Option<Pending>,
    cache: VecDeque<(String, Arc<Vec<Seg>>)>,
    /// The manifest's path, for messages.
    path: String,
}

impl Walker {
    /// For inclusive `ranges` of the whole object (empty: all of it).
    pub fn new(top: Vec<Seg>, ranges: &[(u64, u64)], path: &str) -> Self {
        let total: i128 = top.iter().map(|s| i128::from(s.length())).sum();
        let ranges: VecDeque<(i128, i128)> = if ranges.is_empty() {
            VecDeque::from([(0, total - 1)])
        } else {
            ranges
                .iter()
                .map(|(a, b)| (i128::from(*a), i128::from(*b)))
                .collect()
        };
        Walker {
            top: Arc::new(top),
            ranges,
            stack: Vec::new(),
            pending: None,
            cache: VecDeque::new(),
            path: path.to_string(),
        }
    }

    /// The segments of the sub-manifest last asked for.
    pub fn provide(&mut self, segs: Vec<Seg>) {
        let segs = Arc::new(segs);
        if let Some(p) = self.pending.take() {
            if self.cache.len() >= SUB_CACHE {
                self.cache.pop_front();
            }
            self.cache.push_back((p.name, segs.clone()));
            self.stack.push(Level {
                segs,
                idx: 0,
                first: p.first,
                last: p.last,
                depth: p.depth,
            });
        }
    }

    fn cached(&mut self, name: &str) -> Option<Arc<Vec<Seg>>> {
        let i = self.cache.iter().position(|(n, _)| n == name)?;
        let entry = self.cache.remove(i)?;
        let segs = entry.1.clone();
        self.cache.push_back(entry);
        Some(segs)
    }

    /// The next step; Err (Swift's ListingIterError) past the nesting limit.
    pub fn step(&mut self) -> Result<WalkStep, String> {
        if let Some(p) = &self.pending {
            return Ok(WalkStep::Fetch(p.name.clone()));
        }
        loop {
            let Some(level) = self.stack.last_mut() else {
                let Some((first, last)) = self.ranges.pop_front() else {
                    return Ok(WalkStep::Done);
                };
                self.stack.push(Level {
                    segs: self.top.clone(),
                    idx: 0,
                    first,
                    last,
                    depth: 1,
                });
                continue;
            };
            let Some(seg) = level.segs.get(level.idx).cloned() else {
                self.stack.pop();
                continue;
            };
            level.idx += 1;
            let len = i128::from(seg.length());
            if level.first >= len {
                level.first -= len;
                level.last -= len;
                continue;
            }
            if level.last < 0 {
                self.stack.pop();
                continue;
            }
            let (first, last) = (level.first, level.last);
            level.first -= len;
            level.last -= len;
            let depth = level.depth;
            match seg {
                Seg::Data(d) => {
                    let a = first.max(0) as usize;
                    let b = (last.min(len - 1) + 1) as usize;
                    return Ok(WalkStep::Want(Want::Data(d.slice(a..b))));
                }
                Seg::Object {
                    name,
                    hash,
                    bytes,
                    range,
                    sub_slo,
                } => {
                    let (rs, re) = match range {
                        Some((a, b)) => (i128::from(a), i128::from(b)),
                        None => (0, len - 1),
                    };
                    let sub_first = rs + first.max(0);
                    let sub_last = re.min(rs + last);
                    if sub_slo {
                        if depth >= MAX_RECURSION_DEPTH {
                            return Err(format!(
                                "While processing manifest {:?}, max recursion depth was exceeded",
                                self.path
                            ));
                        }
                        match self.cached(&name) {
                            Some(segs) => self.stack.push(Level {
                                segs,
                                idx: 0,
                                first: sub_first,
                                last: sub_last,
                                depth: depth + 1,
                            }),
                            None => {
                                self.pending = Some(Pending {
                                    name: name.clone(),
                                    first: sub_first,
                                    last: sub_last,
                                    depth: depth + 1,
                                });
                                return Ok(WalkStep::Fetch(name));
                            }
                        }
                        continue;
                    }
                    return Ok(WalkStep::Want(Want::Object {
                        name,
                        hash,
                        bytes,
                        first: sub_first.max(0) as u64,
                        last: sub_last.max(0) as u64,
                    }));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Container listings.

/// cgi's `parse_header` of a listing's hash: `etag; slo_etag=x` becomes
/// the etag (with any other parameters) and the quoted SLO ETag.
pub fn split_slo_etag(hash: &str) -> Option<(String, String)> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut prev = '\0';
    for c in hash.chars() {
        if c == '"' && prev != '\\' {
            quoted = !quoted;
        }
        if c == ';' && !quoted {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
        prev = c;
    }
    parts.push(cur);
    let mut it = parts.into_iter();
    let etag = it.next().unwrap_or_default().trim().to_string();
    let mut params: Vec<(String, String)> = Vec::new();
    for p in it {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let k = k.trim().to_ascii_lowercase();
        let mut v = v.trim().to_string();
        if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
            v = v[1..v.len() - 1]
                .replace("\\\\", "\\")
                .replace("\\\"", "\"");
        }
        params.retain(|(n, _)| *n != k);
        params.push((k, v));
    }
    let i = params.iter().position(|(k, _)| k == "slo_etag")?;
    let (_, slo) = params.remove(i);
    let rest: String = params.iter().map(|(k, v)| format!("; {k}={v}")).collect();
    Some((format!("{etag}{rest}"), format!("\"{slo}\"")))
}

/// A JSON container listing with each manifest's `slo_etag` split out of
/// its hash into a key of its own (Swift's `handle_container_listing`);
/// None when there is nothing to change.
pub fn rewrite_json_listing(body: &[u8]) -> Option<Vec<u8>> {
    if !contains(body, b"slo_etag") {
        return None;
    }
    // Entries keep every key they have (object versioning adds its own).
    let items: Vec<Value> = match serde_json::from_slice(body).ok()? {
        Value::Array(a) => a,
        _ => return None,
    };
    let mut out = String::from("[");
    let mut changed = false;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let Some(obj) = item.as_object().filter(|o| !o.contains_key("subdir")) else {
            py_dumps(&mut out, item);
            continue;
        };
        let hash = obj.get("hash").and_then(Value::as_str).unwrap_or("");
        let split = split_slo_etag(hash);
        changed |= split.is_some();
        let h = split.as_ref().map_or(hash, |(h, _)| h.as_str());
        // Swift's order of a listing entry, then what else it carries.
        let mut first = true;
        let mut key = |out: &mut String, k: &str| {
            if !std::mem::take(&mut first) {
                out.push_str(", ");
            }
            py_str(out, k);
            out.push_str(": ");
        };
        out.push('{');
        for k in ["bytes", "hash", "name", "content_type", "last_modified"] {
            if k == "hash" {
                if obj.contains_key("hash") {
                    key(&mut out, k);
                    py_str(&mut out, h);
                }
            } else if let Some(v) = obj.get(k) {
                key(&mut out, k);
                py_dumps(&mut out, v);
            }
        }
        if let Some((_, slo)) = &split {
            key(&mut out, "slo_etag");
            py_str(&mut out, slo);
        }
        for (k, v) in obj {
            let standard = ["bytes", "hash", "name", "content_type", "last_modified"];
            if standard.contains(&k.as_str()) || (split.is_some() && k == "slo_etag") {
                continue;
            }
            key(&mut out, k);
            py_dumps(&mut out, v);
        }
        out.push('}');
    }
    out.push(']');
    changed.then(|| out.into_bytes())
}

/// An XML container listing with the `slo_etag` parameter dropped from
/// each `<hash>` (Swift renders XML from the rewritten JSON, whose extra
/// key XML does not show); None when there is nothing to change.
pub fn rewrite_xml_listing(body: &[u8]) -> Option<Vec<u8>> {
    if !contains(body, b"slo_etag") {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(i) = rest.find("<hash>") {
        let (before, after) = rest.split_at(i + "<hash>".len());
        out.push_str(before);
        let Some(j) = after.find("</hash>") else {
            rest = after;
            break;
        };
        let inner = &after[..j];
        match split_slo_etag(inner) {
            Some((h, _)) if !inner.contains('&') => {
                out.push_str(&h);
                changed = true;
            }
            _ => out.push_str(inner),
        }
        rest = &after[j..];
    }
    out.push_str(rest);
    changed.then(|| out.into_bytes())
}

/// Does `needle` occur in the concatenation of `frames` (also across the
/// frames' boundaries)?
pub fn frames_contain(frames: &[Bytes], needle: &[u8]) -> bool {
    if frames.iter().any(|f| contains(f, needle)) {
        return true;
    }
    // A match split between frames lies within needle.len() - 1 bytes on
    // either side of a boundary (frames shorter than that are joined up).
    let k = needle.len().saturating_sub(1);
    let mut tail: Vec<u8> = Vec::new();
    for f in frames {
        let mut seam = tail.clone();
        seam.extend_from_slice(&f[..f.len().min(k)]);
        if contains(&seam, needle) {
            return true;
        }
        tail.extend_from_slice(f);
        let drop = tail.len().saturating_sub(k);
        tail.drain(..drop);
    }
    false
}

/// A substring test fast enough for whole listings: the standard library's
/// (vectorised) search on text; listings are UTF-8, anything else is
/// searched byte by byte.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    match (std::str::from_utf8(hay), std::str::from_utf8(needle)) {
        (Ok(h), Ok(n)) => h.contains(n),
        _ => hay.windows(needle.len()).any(|w| w == needle),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_like_python() {
        for (s, want) in [
            ("YWJj", Some(&b"abc"[..])),
            ("YWI", None),
            ("YWI=", Some(b"ab")),
            ("YWI==", Some(b"ab")),
            ("YWI===", Some(b"ab")),
            ("=YWJj", Some(b"abc")),
            ("==YWJj", Some(b"abc")),
            ("YQ", None),
            ("YQ==", Some(b"a")),
            ("YQ=", None),
            ("Y", None),
            ("YWJjZA", None),
            ("YWJjZA=", None),
            ("YWJjZA==", Some(b"abcd")),
            ("", Some(b"")),
            ("====", Some(b"")),
            ("YW Jj", None),
            (" YWJj", None),
            ("YWJj\n", None),
            ("YW=Jj", None),
        ] {
            assert_eq!(b64_decode_strict(s).as_deref(), want, "{s:?}");
        }
        for data in [
            &b""[..],
            b"a",
            b"ab",
            b"abc",
            b"APRE",
            &[0xff, 0x00, 0x10, 0x80],
        ] {
            let e = b64_encode(data);
            assert_eq!(e.len() % 4, 0);
            assert_eq!(b64_decode_strict(&e).unwrap(), data);
        }
        assert_eq!(b64_encode(b"APREAPRE"), "QVBSRUFQUkU=");
    }

    #[test]
    fn python_int() {
        let j = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        assert_eq!(py_int(&j("12")), Some(12));
        assert_eq!(py_int(&j("12.7")), Some(12));
        assert_eq!(py_int(&j("-1.5")), Some(-1));
        assert_eq!(py_int(&j("true")), Some(1));
        assert_eq!(py_int(&j("\" 1_0 \"")), Some(10));
        assert_eq!(py_int(&j("\"+7\"")), Some(7));
        for bad in [
            "\"1.5\"", "\"1__0\"", "\"_1\"", "\"\"", "null", "[1]", "\"0x10\"",
        ] {
            assert_eq!(py_int(&j(bad)), None, "{bad}");
        }
    }

    fn errors(body: &str) -> String {
        match parse_input(body.as_bytes(), "c", "m") {
            Err(InputError::Segments(s)) => s,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn input_validation_messages_are_swifts() {
        assert_eq!(
            parse_input(b"x", "c", "m"),
            Err(InputError::Body("Manifest must be valid JSON.\n"))
        );
        assert_eq!(
            parse_input(b"{}", "c", "m"),
            Err(InputError::Body("Manifest must be a list.\n"))
        );
        assert_eq!(parse_input(b"[]", "c", "m"), Ok(vec![]));
        assert_eq!(
            errors(r#"[{"path":"/c/o","x":1,"a":2}]"#),
            "Index 0: extraneous keys \"a\", \"x\"\n"
        );
        assert_eq!(
            errors(r#"[{"path":5}]"#),
            "Index 0: \"path\" must be a string\n"
        );
        assert_eq!(
            errors(r#"[{"path":"/c/o","etag":5}]"#),
            "Index 0: \"etag\" must be a string or null (if provided)\n"
        );
        assert_eq!(
            errors(r#"[{"path":"co"}]"#),
            "Index 0: path does not refer to an object. Path must be of the form /container/object.\n"
        );
        assert_eq!(
            errors(r#"[{"path":"/c/o","size_bytes":"1.5"}]"#),
            "Index 0: invalid size_bytes\n"
        );
        assert_eq!(
            errors(r#"[{"path":"/c/o","size_bytes":0},{"path":"/c/p"}]"#),
            "Index 0: too small; each segment must be at least 1 byte.\n"
        );
        assert_eq!(
            errors(r#"[{"path":"/c/o","range":"5-2"}]"#),
            "Index 0: invalid range\n"
        );
        assert_eq!(
            errors(r#"[{"path":"/c/o","range":"1-2,3-4"}]"#),
            "Index 0: multiple ranges (only one allowed)\n"
        );
        assert_eq!(
            errors(r#"[{"path":"/c/o","range":"20-","size_bytes":10}]"#),
            "Index 0: unsatisfiable range\n"
        );
        assert_eq!(
            errors(r#"[{"data":""}]"#),
            "Index 0: too small; each segment must be at least 1 byte.\n\
             Inline data segments require at least one object-backed segment.\n"
        );
        assert_eq!(
            errors(r#"[{"data":"YQ"}]"#),
            "Index 0: data must be valid base64\n\
             Inline data segments require at least one object-backed segment.\n"
        );
        assert_eq!(
            errors(r#"[{"path":"/c/m"}]"#),
            "Index 0: manifest must not include itself as a segment\n"
        );
        assert_eq!(
            errors(r#"[{"path":"/c/o"},{"foo":1},2,{"data":"YQ==","path":"/c/o"}]"#),
            "Index 1: expected keys to include one of 'data' or 'path'\n\
             Index 2: not a JSON object\n\
             Index 3: extraneous keys \"path\"\n"
        );
        // A zero-byte last segment and a range larger than the object pass here.
        let ok = parse_input(
            br#"[{"path":"/c/o","range":"1-200","size_bytes":10},{"data":"YQ=="},{"path":"c/p","size_bytes":0,"etag":null}]"#,
            "c",
            "m",
        )
        .unwrap();
        assert_eq!(ok.len(), 3);
        let Input::Object(o) = &ok[2] else { panic!() };
        assert_eq!((o.size_bytes, o.etag.clone()), (Some(0), None));
        let target = crate::object_path::ObjectPath::in_account("a", &o.path);
        assert_eq!(
            (target.container.as_str(), target.object.as_str()),
            ("c", "p")
        );
        assert_eq!(ok[1], Input::Data(b"a".to_vec()));
        // A numeric range is Python's str() of it: -5 is "the last 5 bytes".
        assert!(parse_input(br#"[{"path":"/c/o","range":-5}]"#, "c", "m").is_ok());
    }

    fn head(len: u64, etag: &str) -> Head {
        Head {
            failed: None,
            length: Some(len),
            etag: Some(etag.into()),
            content_type: Some("text/plain".into()),
            last_modified: "2017-10-25T17:08:55.000000".into(),
            slo: false,
        }
    }

    fn obj(path: &str, etag: Option<&str>, size: Option<i128>, range: Option<&str>) -> ObjectInput {
        ObjectInput {
            path: path.into(),
            etag: etag.map(str::to_string),
            size_bytes: size,
            range: range.map(|r| range::parse(&format!("bytes={r}")).unwrap()),
        }
    }

    #[test]
    fn segments_checked_against_their_heads() {
        let mut p = Vec::new();
        let (n, s) = check_segment(
            &obj("/c/a", Some("x"), Some(10), None),
            &head(10, "x"),
            false,
            &mut p,
        );
        assert_eq!((n, p.len()), (10, 0));
        assert_eq!(
            s,
            Some(Stored::Object {
                name: "/c/a".into(),
                bytes: 10,
                hash: Some("x".into()),
                content_type: Some("text/plain".into()),
                last_modified: "2017-10-25T17:08:55.000000".into(),
                range: None,
                sub_slo: false,
            })
        );
        // Ranges are stored normalized; one covering the object is dropped.
        let (n, s) = check_segment(
            &obj("c/a", None, None, Some("-3")),
            &head(10, "x"),
            false,
            &mut p,
        );
        assert_eq!(n, 3);
        let Some(Stored::Object { range, name, .. }) = s else {
            panic!()
        };
        assert_eq!((range.as_deref(), name.as_str()), (Some("7-9"), "/c/a"));
        let (n, s) = check_segment(
            &obj("/c/a", None, None, Some("0-99")),
            &head(10, "x"),
            false,
            &mut p,
        );
        let Some(Stored::Object { range, .. }) = s else {
            panic!()
        };
        assert_eq!((n, range), (10, None));
        assert!(p.is_empty());
        check_segment(
            &obj("/c/é", Some("y"), Some(9), Some("20-")),
            &head(10, "x"),
            false,
            &mut p,
        );
        assert_eq!(
            p,
            vec![
                ("/c/%C3%A9".to_string(), "Unsatisfiable Range".to_string()),
                ("/c/%C3%A9".into(), "Size Mismatch".into()),
                ("/c/%C3%A9".into(), "Etag Mismatch".into()),
            ]
        );
        p.clear();
        check_segment(&obj("/c/e", None, None, None), &head(0, "x"), false, &mut p);
        assert_eq!(p[0].1, "Too small; each segment must be at least 1 byte.");
        p.clear();
        check_segment(&obj("/c/e", None, None, None), &head(0, "x"), true, &mut p);
        assert!(p.is_empty());
        let failed = Head {
            failed: Some("404 Not Found".into()),
            ..head(0, "")
        };
        assert_eq!(
            check_segment(
                &obj("non-existent/segment", None, None, None),
                &failed,
                false,
                &mut p
            ),
            (0, None)
        );
        assert_eq!(
            p,
            vec![("non-existent/segment".into(), "404 Not Found".into())]
        );
    }

    #[test]
    fn stored_manifest_and_etags() {
        let segs = vec![
            Stored::Data(b64_encode(b"APRE")),
            Stored::Object {
                name: "/c/a".into(),
                bytes: 3,
                hash: Some("e1".into()),
                content_type: Some("text/plain".into()),
                last_modified: "2017-10-25T17:08:55.000000".into(),
                range: None,
                sub_slo: false,
            },
            Stored::Object {
                name: "/c/\u{e9}".into(),
                bytes: 10,
                hash: Some("e2".into()),
                content_type: None,
                last_modified: "x".into(),
                range: Some("1-2".into()),
                sub_slo: true,
            },
        ];
        assert_eq!(
            String::from_utf8(render_stored(&segs)).unwrap(),
            "[{\"data\": \"QVBSRQ==\"}, \
             {\"name\": \"/c/a\", \"bytes\": 3, \"hash\": \"e1\", \"content_type\": \"text/plain\", \"last_modified\": \"2017-10-25T17:08:55.000000\"}, \
             {\"name\": \"/c/\\u00e9\", \"bytes\": 10, \"hash\": \"e2\", \"content_type\": null, \"last_modified\": \"x\", \"range\": \"1-2\", \"sub_slo\": true}]"
        );
        let want = md5_hex(format!("{}e1e2:1-2;", md5_hex(b"APRE")).as_bytes());
        assert_eq!(slo_etag(&segs), want);
        // Read back, the same ETag and the size of what a GET serves.
        let back = parse_stored(&render_stored(&segs), true).unwrap();
        assert_eq!(etag_and_size(&back), (want, 4 + 3 + 2));
        // Two segments without ranges: the MD5 of the ETags, concatenated.
        let plain = parse_stored(
            br#"[{"name": "/c/a", "bytes": 1, "hash": "etagoftheobjectsegment1"}, {"name": "/c/b", "bytes": 1, "hash": "etagoftheobjectsegment2"}]"#,
            true,
        )
        .unwrap();
        assert_eq!(
            etag_and_size(&plain).0,
            md5_hex(b"etagoftheobjectsegment1etagoftheobjectsegment2")
        );
        assert!(parse_stored(b"nope", true).is_err());
        assert!(parse_stored(br#"[{"hash": "x"}]"#, true).is_err());
        // A sub-manifest's size may come from swift_bytes.
        let sub = parse_stored(
            br#"[{"name": "/c/s", "bytes": 5, "hash": "h", "content_type": "a/b;swift_bytes=99", "sub_slo": true}]"#,
            true,
        )
        .unwrap();
        assert_eq!(sub[0].length(), 99);
    }

    /// Found by fuzzing: sizes that add up past u64 overflowed (a panic in
    /// debug builds, a wrong Content-Length in release), and a backwards
    /// range was read as one byte.
    #[test]
    fn stored_manifest_extremes() {
        let huge = parse_stored(
            br#"[{"name": "/c/a", "bytes": 18446744073709551615}, {"name": "/c/b", "bytes": 18446744073709551615, "range": "0-18446744073709551615"}]"#,
            true,
        )
        .unwrap();
        assert_eq!(huge[1].length(), u64::MAX);
        assert_eq!(etag_and_size(&huge).1, u64::MAX);
        assert_eq!(
            parse_stored(br#"[{"name": "/c/a", "bytes": 9, "range": "5-2"}]"#, true),
            Err("segment 0: bad range".to_string())
        );
    }

    #[test]
    fn raw_format_is_the_put_format() {
        let stored = br#"[{"name": "/c/d", "bytes": 3, "hash": "h", "content_type": "t", "last_modified": "l", "sub_slo": true, "range": "0-1"}, {"data": "QQ=="}]"#;
        assert_eq!(
            String::from_utf8(raw_manifest(stored)).unwrap(),
            "[{\"etag\": \"h\", \"path\": \"/c/d\", \"range\": \"0-1\", \"size_bytes\": 3}, {\"data\": \"QQ==\"}]"
        );
        assert_eq!(raw_manifest(b"garbage"), b"[]");
    }

    fn objseg(name: &str, bytes: u64, range: Option<(u64, u64)>, sub: bool) -> Seg {
        Seg::Object {
            name: name.into(),
            hash: Some(format!("h{name}")),
            bytes,
            range,
            sub_slo: sub,
        }
    }

    /// Walks to the end, answering sub-manifest fetches from `subs`.
    fn walk(top: Vec<Seg>, ranges: &[(u64, u64)], subs: &[(&str, Vec<Seg>)]) -> (Vec<Want>, usize) {
        let mut w = Walker::new(top, ranges, "/v1/a/c/m");
        let mut out = Vec::new();
        let mut fetches = 0;
        loop {
            match w.step().unwrap() {
                WalkStep::Done => return (out, fetches),
                WalkStep::Want(p) => out.push(p),
                WalkStep::Fetch(name) => {
                    fetches += 1;
                    let segs = subs.iter().find(|(n, _)| *n == name).unwrap().1.clone();
                    w.provide(segs);
                }
            }
        }
    }

    fn o(name: &str, bytes: u64, first: u64, last: u64) -> Want {
        Want::Object {
            name: name.into(),
            hash: Some(format!("h{name}")),
            bytes,
            first,
            last,
        }
    }

    #[test]
    fn ranges_map_across_segments() {
        let mb = 1 << 20;
        let abcde = || {
            vec![
                objseg("a", mb, None, false),
                objseg("b", mb, None, false),
                objseg("c", mb, None, false),
                objseg("d", mb, None, false),
                objseg("e", 1, None, false),
            ]
        };
        // The whole object: every segment whole.
        let (all, _) = walk(abcde(), &[], &[]);
        assert_eq!(all[0], o("a", mb, 0, mb - 1));
        assert_eq!(all[4], o("e", 1, 0, 0));
        // A range across a boundary: the end of a, all of b, the start of c.
        let (r, _) = walk(abcde(), &[(mb - 1, 2 * mb)], &[]);
        assert_eq!(
            r,
            vec![
                o("a", mb, mb - 1, mb - 1),
                o("b", mb, 0, mb - 1),
                o("c", mb, 0, 0)
            ]
        );
        // Two ranges: each walked in turn.
        let (r, _) = walk(abcde(), &[(mb - 5, mb + 4), (2 * mb - 5, 2 * mb + 4)], &[]);
        assert_eq!(
            r,
            vec![
                o("a", mb, mb - 5, mb - 1),
                o("b", mb, 0, 4),
                o("b", mb, mb - 5, mb - 1),
                o("c", mb, 0, 4)
            ]
        );
        // Segment ranges and inline data.
        let top = vec![
            Seg::Data(Bytes::from_static(b"APRE")),
            objseg("a", 10, Some((2, 5)), false),
            Seg::Data(Bytes::from_static(b"xy")),
        ];
        let (r, _) = walk(top.clone(), &[], &[]);
        assert_eq!(
            r,
            vec![
                Want::Data(Bytes::from_static(b"APRE")),
                o("a", 10, 2, 5),
                Want::Data(Bytes::from_static(b"xy"))
            ]
        );
        let (r, _) = walk(top, &[(2, 8)], &[]);
        assert_eq!(
            r,
            vec![
                Want::Data(Bytes::from_static(b"RE")),
                o("a", 10, 2, 5),
                Want::Data(Bytes::from_static(b"x"))
            ]
        );
    }

    #[test]
    fn nested_manifests_are_descended_once() {
        // s = b|c|d (3 bytes each); top = a | s[2..=6] | s | e.
        let s = vec![
            objseg("b", 3, None, false),
            objseg("c", 3, None, false),
            objseg("d", 3, None, false),
        ];
        let top = vec![
            objseg("a", 3, None, false),
            objseg("s", 9, Some((2, 6)), true),
            objseg("s", 9, None, true),
            objseg("e", 1, None, false),
        ];
        let (r, fetches) = walk(top.clone(), &[], &[("s", s.clone())]);
        assert_eq!(fetches, 1, "the sub-manifest is cached");
        assert_eq!(
            r,
            vec![
                o("a", 3, 0, 2),
                o("b", 3, 2, 2),
                o("c", 3, 0, 2),
                o("d", 3, 0, 0),
                o("b", 3, 0, 2),
                o("c", 3, 0, 2),
                o("d", 3, 0, 2),
                o("e", 1, 0, 0),
            ]
        );
        // Bytes 4..=9 of the whole: the middle of the ranged sub-manifest
        // and the start of the second; e is never reached.
        let (r, _) = walk(top, &[(4, 9)], &[("s", s)]);
        assert_eq!(r, vec![o("c", 3, 0, 2), o("d", 3, 0, 0), o("b", 3, 0, 1)]);
        // A manifest including itself is cut off at the depth limit.
        let me = vec![objseg("m", 5, None, true)];
        let mut w = Walker::new(me.clone(), &[], "/v1/a/c/m");
        let mut depth = 0;
        let err = loop {
            match w.step() {
                Ok(WalkStep::Fetch(_)) => {
                    depth += 1;
                    w.provide(me.clone());
                }
                Ok(other) => panic!("{other:?}"),
                Err(e) => break e,
            }
        };
        assert_eq!(depth, 1, "cached after the first fetch");
        assert!(err.contains("max recursion depth was exceeded"), "{err}");
    }

    #[test]
    fn listings_show_slo_etags() {
        assert_eq!(
            split_slo_etag("abc; slo_etag=def"),
            Some(("abc".into(), "\"def\"".into()))
        );
        assert_eq!(
            split_slo_etag("abc; x=\"1;2\"; SLO_ETAG=def"),
            Some(("abc; x=1;2".into(), "\"def\"".into()))
        );
        assert_eq!(split_slo_etag("abc"), None);
        let body = br#"[{"bytes": 5, "hash": "m1; slo_etag=s1", "name": "big", "content_type": "text/plain", "last_modified": "2014"}, {"bytes": 1, "hash": "x", "name": "small", "content_type": "a/b", "last_modified": "2015"}, {"subdir": "d/"}]"#;
        assert_eq!(
            String::from_utf8(rewrite_json_listing(body).unwrap()).unwrap(),
            "[{\"bytes\": 5, \"hash\": \"m1\", \"name\": \"big\", \"content_type\": \"text/plain\", \"last_modified\": \"2014\", \"slo_etag\": \"\\\"s1\\\"\"}, \
             {\"bytes\": 1, \"hash\": \"x\", \"name\": \"small\", \"content_type\": \"a/b\", \"last_modified\": \"2015\"}, {\"subdir\": \"d/\"}]"
        );
        assert_eq!(rewrite_json_listing(br#"[{"bytes": 1, "hash": "x", "name": "n", "content_type": "a", "last_modified": "l"}]"#), None);
        let xml = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<container name=\"c\"><object><name>slo_etag</name><hash>m1; slo_etag=s1</hash><bytes>5</bytes></object><object><name>o</name><hash>x</hash></object></container>";
        assert_eq!(
            String::from_utf8(rewrite_xml_listing(xml).unwrap()).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<container name=\"c\"><object><name>slo_etag</name><hash>m1</hash><bytes>5</bytes></object><object><name>o</name><hash>x</hash></object></container>"
        );
        assert_eq!(
            rewrite_xml_listing(b"<container><hash>x</hash></container>"),
            None
        );
    }
}
