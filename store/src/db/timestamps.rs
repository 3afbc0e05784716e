//! Pure helpers for object rows: the three timestamps Swift packs into a
//! row's `created_at` (data, content-type, metadata; `encode_timestamps` /
//! `decode_timestamps` in swift/common/utils), and the `swift_bytes`
//! content-type parameter that overrides a listed object's size.

use swirl_common::Timestamp;

use super::error::{DbError, DbResult};

/// The data, content-type and metadata times of an object row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowTimes {
    pub data: Timestamp,
    pub ctype: Timestamp,
    pub meta: Timestamp,
}

impl RowTimes {
    /// All three equal (a plain PUT or DELETE).
    pub fn single(t: Timestamp) -> Self {
        RowTimes {
            data: t,
            ctype: t,
            meta: t,
        }
    }
}

/// Swift's `Timestamp.short`: the normal form, with `_<hex offset>` when set.
fn short(t: &Timestamp) -> String {
    if t.offset() == 0 {
        t.normal()
    } else {
        format!("{}_{:x}", t.normal(), t.offset())
    }
}

fn signed_hex(delta: i128) -> String {
    if delta < 0 {
        format!("-{:x}", -delta)
    } else {
        format!("+{delta:x}")
    }
}

/// `<t1>[<+/-><t2-t1>[<+/-><t3-t2>]]` with deltas in 10 µs units, omitted when
/// all three are equal.
pub fn encode(t: &RowTimes) -> String {
    let d2 = i128::from(t.ctype.raw()) - i128::from(t.data.raw());
    let d3 = i128::from(t.meta.raw()) - i128::from(t.ctype.raw());
    let mut s = short(&t.data);
    if d2 != 0 || d3 != 0 {
        s.push_str(&signed_hex(d2));
        s.push_str(&signed_hex(d3));
    }
    s
}

fn plus_delta(base: Timestamp, delta: i128) -> DbResult<Timestamp> {
    if delta == 0 {
        return Ok(base);
    }
    let raw = i128::from(base.raw()) + delta;
    let raw = u64::try_from(raw).map_err(|_| DbError::Invalid("negative timestamp".into()))?;
    Timestamp::from_raw(raw, 0).map_err(|e| DbError::Invalid(e.to_string()))
}

/// Inverse of [`encode`]; a missing delta means "same as the previous one".
pub fn decode(encoded: &str) -> DbResult<RowTimes> {
    let bad = || DbError::Invalid(format!("bad encoded timestamp {encoded:?}"));
    // Split into signed parts: "x-y+z" -> [(+,x), (-,y), (+,z)].
    let mut parts: Vec<(i128, &str)> = Vec::with_capacity(3);
    let mut start = 0;
    let mut sign = 1i128;
    for (i, c) in encoded.char_indices() {
        if c == '+' || c == '-' {
            parts.push((sign, &encoded[start..i]));
            sign = if c == '+' { 1 } else { -1 };
            start = i + 1;
        }
    }
    parts.push((sign, &encoded[start..]));
    let first = parts.first().ok_or_else(bad)?;
    let data = Timestamp::parse(first.1).map_err(|_| bad())?;
    let delta = |i: usize| -> DbResult<i128> {
        match parts.get(i) {
            None => Ok(0),
            Some((s, hex)) => i128::from_str_radix(hex, 16)
                .map(|v| s * v)
                .map_err(|_| bad()),
        }
    };
    let ctype = plus_delta(data, delta(1)?)?;
    let meta = plus_delta(ctype, delta(2)?)?;
    Ok(RowTimes { data, ctype, meta })
}

fn is_token_char(c: char) -> bool {
    !(c <= ' ' || c == '\x7f' || "()<>@,;:\\\"/[]?={}".contains(c))
}

/// Swift's `parse_content_type`: the type before the first `;`, then every
/// `; key[=value]` parameter its RFC pattern finds (unmatched text is skipped).
pub fn parse_content_type(ct: &str) -> (&str, Vec<(String, String)>) {
    let Some((base, rest)) = ct.split_once(';') else {
        return (ct, Vec::new());
    };
    let parms: Vec<char> = std::iter::once(';').chain(rest.chars()).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < parms.len() {
        match match_param(&parms, i) {
            Some((end, k, v)) => {
                out.push((k, v));
                i = end;
            }
            None => i += 1,
        }
    }
    (base, out)
}

/// Matches `\s*;\s*(token)\s*(?:=\s*(token|"quoted"))?` at `i`.
fn match_param(s: &[char], mut i: usize) -> Option<(usize, String, String)> {
    let ws = |i: &mut usize| {
        while *i < s.len() && s[*i].is_whitespace() {
            *i += 1;
        }
    };
    ws(&mut i);
    if s.get(i) != Some(&';') {
        return None;
    }
    i += 1;
    ws(&mut i);
    let kstart = i;
    while i < s.len() && is_token_char(s[i]) {
        i += 1;
    }
    if i == kstart {
        return None;
    }
    let key: String = s[kstart..i].iter().collect();
    let after_key = i;
    ws(&mut i);
    if s.get(i) == Some(&'=') {
        let mut j = i + 1;
        ws(&mut j);
        let vstart = j;
        if s.get(j) == Some(&'"') {
            j += 1;
            loop {
                match s.get(j) {
                    None => return Some((after_key, key, String::new())),
                    Some('"') => {
                        j += 1;
                        break;
                    }
                    Some('\\') if j + 1 < s.len() => j += 2,
                    Some('\\') => return Some((after_key, key, String::new())),
                    Some(_) => j += 1,
                }
            }
            return Some((j, key, s[vstart..j].iter().collect()));
        }
        while j < s.len() && is_token_char(s[j]) {
            j += 1;
        }
        if j > vstart {
            return Some((j, key, s[vstart..j].iter().collect()));
        }
    }
    // The optional `=value` group did not match: the match ends after the key
    // (regex backtracking gives back the trailing whitespace).
    Some((after_key, key, String::new()))
}

/// Swift's `extract_swift_bytes`: the content type rebuilt without spaces and
/// without `swift_bytes`, and that parameter's value.
pub fn extract_swift_bytes(ct: &str) -> (String, Option<String>) {
    let (base, params) = parse_content_type(ct);
    let mut out = base.to_string();
    let mut swift_bytes = None;
    for (k, v) in params {
        if k == "swift_bytes" {
            swift_bytes = Some(v);
        } else {
            out.push(';');
            out.push_str(&k);
            out.push('=');
            out.push_str(&v);
        }
    }
    (out, swift_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn encode_decode_like_swift() {
        let t1 = ts("1402464677.04188");
        assert_eq!(encode(&RowTimes::single(t1)), "1402464677.04188");
        let t = RowTimes {
            data: t1,
            ctype: ts("1402464678.04188"),
            meta: ts("1402464677.04189"),
        };
        // Swift: encode_timestamps(t1, t2, t3) == '1402464677.04188+186a0-1869f'
        assert_eq!(encode(&t), "1402464677.04188+186a0-1869f");
        assert_eq!(decode("1402464677.04188+186a0-1869f").unwrap(), t);
        assert_eq!(decode("1402464677.04188").unwrap(), RowTimes::single(t1));
        let off = t1.with_offset(3);
        assert_eq!(encode(&RowTimes::single(off)), "1402464677.04188_3");
        assert_eq!(decode("1402464677.04188_3").unwrap().data, off);
        assert!(decode("x+1").is_err());
    }

    #[test]
    fn swift_bytes_and_params() {
        assert_eq!(
            extract_swift_bytes("text/plain; charset=UTF-8"),
            ("text/plain;charset=UTF-8".to_string(), None)
        );
        assert_eq!(
            extract_swift_bytes("application/x-foo;swift_bytes=123; a=b"),
            ("application/x-foo;a=b".to_string(), Some("123".to_string()))
        );
        assert_eq!(
            extract_swift_bytes("text/plain; flag; q=\"x y\""),
            ("text/plain;flag=;q=\"x y\"".to_string(), None)
        );
        assert_eq!(
            extract_swift_bytes("text/plain"),
            ("text/plain".to_string(), None)
        );
    }
}
