//! HTTP `Range` requests as Swift serves them (`swob.Range`): parsing, the
//! byte ranges a header selects for a body of a given length (including
//! Swift's limits on abusive multi-range requests), and `Content-Range` values.

/// Swift refuses (416) more ranges than this...
pub const MAX_RANGES: usize = 50;
/// ...more overlapping pairs than this...
pub const MAX_RANGE_OVERLAPS: usize = 2;
/// ...or this many ranges out of ascending order.
pub const MAX_NONASCENDING_RANGES: usize = 8;

/// A syntactically valid `Range: bytes=...` header: inclusive (first, last)
/// pairs, where `(None, Some(n))` is a suffix range (the last n bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeHeader {
    pub ranges: Vec<(Option<u64>, Option<u64>)>,
}

/// Parses a Range header. `None` means the header is invalid and, as RFC 7233
/// and Swift say, must be ignored (the whole body is served).
pub fn parse(value: &str) -> Option<RangeHeader> {
    let v: String = value.chars().filter(|c| *c != ' ').collect();
    // `get`, not indexing: byte 6 need not be a character boundary.
    if !v.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("bytes=")) {
        return None;
    }
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Python's int() is unbounded: a huge number is still valid syntax.
        Some(s.parse::<u64>().unwrap_or(u64::MAX))
    };
    let mut ranges = Vec::new();
    for spec in v[6..].split(',') {
        let (a, b) = spec.split_once('-')?;
        let start = if a.is_empty() { None } else { Some(num(a)?) };
        let end = if b.is_empty() { None } else { Some(num(b)?) };
        match (start, end) {
            (None, None) => return None,
            (Some(s), Some(e)) if e < s => return None,
            _ => {}
        }
        ranges.push((start, end));
    }
    Some(RangeHeader { ranges })
}

impl RangeHeader {
    /// The half-open byte ranges to serve from a body of `length` bytes.
    /// An empty result means "416 Requested Range Not Satisfiable".
    pub fn ranges_for_length(&self, length: u64) -> Vec<(u64, u64)> {
        let mut all = Vec::new();
        for &(start, end) in &self.ranges {
            match (start, end) {
                (None, Some(0)) => {}
                (None, Some(n)) => all.push((length.saturating_sub(n), length)),
                (Some(s), None) => {
                    if s < length {
                        all.push((s, length));
                    }
                }
                (Some(s), Some(e)) => {
                    if s < length {
                        all.push((s, e.saturating_add(1).min(length)));
                    }
                }
                (None, None) => {}
            }
        }
        if all.len() > MAX_RANGES {
            return Vec::new();
        }
        let mut overlaps = 0;
        for i in 0..all.len() {
            for j in i + 1..all.len() {
                let ((s1, e1), (s2, e2)) = (all[i], all[j]);
                if (s1 < s2 && s2 < e1)
                    || (s1 < e2 && e2 < e1)
                    || (s2 < s1 && s1 < e2)
                    || (s2 < e1 && e1 < e2)
                {
                    overlaps += 1;
                    if overlaps > MAX_RANGE_OVERLAPS {
                        return Vec::new();
                    }
                }
            }
        }
        let ascending = all.windows(2).all(|w| w[0] <= w[1]);
        if !ascending && all.len() >= MAX_NONASCENDING_RANGES {
            return Vec::new();
        }
        all
    }
}

/// `bytes <first>-<last>/<size>` for the half-open range `[start, end)`.
pub fn content_range(start: u64, end: u64, size: u64) -> String {
    format!("bytes {}-{}/{}", start, end.saturating_sub(1), size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(h: &str, len: u64) -> Option<Vec<(u64, u64)>> {
        parse(h).map(|p| p.ranges_for_length(len))
    }

    #[test]
    fn swift_cases() {
        assert_eq!(r("bytes=0-9", 100), Some(vec![(0, 10)]));
        assert_eq!(r("bytes=-5", 100), Some(vec![(95, 100)]));
        assert_eq!(r("bytes=-500", 100), Some(vec![(0, 100)]));
        assert_eq!(r("bytes=90-", 100), Some(vec![(90, 100)]));
        assert_eq!(r("bytes=90-1000", 100), Some(vec![(90, 100)]));
        assert_eq!(r("bytes=0-1,5-6", 100), Some(vec![(0, 2), (5, 7)]));
        assert_eq!(r("bytes=99999-", 100), Some(vec![]));
        assert_eq!(r("bytes=-0", 100), Some(vec![]));
        assert_eq!(r("bytes = 0 - 1", 100), Some(vec![(0, 2)]));
        assert_eq!(r("BYTES=0-1", 100), Some(vec![(0, 2)]));
        assert_eq!(r("bytes=5-3", 100), None);
        assert_eq!(r("bytes=-", 100), None);
        assert_eq!(r("bytes=45", 100), None);
        assert_eq!(r("bytes=a-b", 100), None);
        assert_eq!(r("items=0-1", 100), None);
        assert_eq!(r("bytes=--0", 100), None);
        assert_eq!(r("", 100), None);
        // Found by fuzzing: a multi-byte character across byte 6 panicked.
        assert_eq!(r("bytes\u{e9}=0-1", 100), None);
        assert_eq!(r("byte\u{e9}0-1", 100), None);
        assert_eq!(r("bytes=0-1\u{e9}", 100), None);
        assert_eq!(content_range(0, 10, 100), "bytes 0-9/100");
    }

    #[test]
    fn abusive_requests_are_refused() {
        let many: Vec<String> = (0..51).map(|i| format!("{i}-{i}")).collect();
        assert_eq!(r(&format!("bytes={}", many.join(",")), 100), Some(vec![]));
        assert_eq!(r("bytes=0-50,1-50,2-50,3-50", 100), Some(vec![]));
        let desc: Vec<String> = (0..8).rev().map(|i| format!("{i}-{i}")).collect();
        assert_eq!(r(&format!("bytes={}", desc.join(",")), 100), Some(vec![]));
        let desc7: Vec<String> = (0..7).rev().map(|i| format!("{i}-{i}")).collect();
        assert_eq!(
            r(&format!("bytes={}", desc7.join(",")), 100).unwrap().len(),
            7
        );
    }
}
