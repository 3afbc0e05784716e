//! Range headers: Swift's parsing, the ranges a header selects from a body
//! of some length (with the limits on abusive multi-range requests), the
//! Content-Range values and the Range a resumed read asks the next replica
//! for.
//!
//! Input: `<length: u64 LE><Range value>`; lengths are kept below 2^50
//! bytes (larger than any object the cluster can hold).

use swirl_common::range;
use swirl_proxy::byteranges;

use crate::input::{text, Input};

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let length = input.u64() % (1 << 50);
    let sent = input.u64() % (1 << 50);
    let value = text(input.rest());

    let Some(header) = range::parse(&value) else {
        return;
    };
    crate::accepted();
    assert!(!header.ranges.is_empty());
    let ranges = header.ranges_for_length(length);
    assert!(ranges.len() <= range::MAX_RANGES);
    for &(a, b) in &ranges {
        assert!(a <= b && b <= length, "range {a}..{b} of {length}");
        let cr = range::content_range(a, b, length);
        if a < b {
            assert_eq!(byteranges::parse_content_range(&cr), Some((a, b, length)));
        }
    }
    let total = byteranges::data_len(&ranges);
    let left: Vec<(u64, u64)> = byteranges::remaining(&ranges, sent)
        .into_iter()
        .filter(|(a, b)| a < b)
        .collect();
    assert!(byteranges::data_len(&left) <= total);
    if !left.is_empty() {
        let again =
            range::parse(&byteranges::range_value(&left)).map(|h| h.ranges_for_length(length));
        if left.len() == 1 {
            assert_eq!(again, Some(left));
        }
    }
}
