//! Reading a fuzzer's bytes as a structured input: selector bytes, numbers
//! and NUL-separated fields. Every read succeeds (an exhausted input reads
//! as zeros and empty fields), so each input reaches the parser under test.

use std::borrow::Cow;

/// A cursor over one fuzz input.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// The next byte (0 once the input is used up).
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    /// The next eight bytes as a little-endian number (missing bytes are 0).
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.byte();
        }
        u64::from_le_bytes(b)
    }

    /// Bytes up to the next NUL (which is consumed), or the rest.
    pub fn field(&mut self) -> &'a [u8] {
        match self.data.iter().position(|b| *b == 0) {
            Some(i) => {
                let (f, rest) = self.data.split_at(i);
                self.data = &rest[1..];
                f
            }
            None => std::mem::take(&mut self.data),
        }
    }

    /// Everything not read yet.
    pub fn rest(self) -> &'a [u8] {
        self.data
    }
}

/// Bytes as text the way a caller holding a `&str` could see them.
pub fn text(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// `name: value` lines (LF-separated) as a header map, keeping what hyper
/// would accept: lines whose name or value is no valid header are skipped,
/// values are raw bytes (not necessarily text).
pub fn header_map(b: &[u8]) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for line in b.split(|c| *c == b'\n') {
        let Some(colon) = line.iter().position(|c| *c == b':') else {
            continue;
        };
        let value = line[colon + 1..].trim_ascii();
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(&line[..colon]),
            http::HeaderValue::from_bytes(value),
        ) {
            h.append(n, v);
        }
    }
    h
}
