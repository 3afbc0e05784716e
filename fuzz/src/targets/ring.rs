//! Ring files (ring.gz, format v1 and v2): the gzip member, the ring's JSON
//! and tables, and the invariants lookups rely on. A ring that reads must
//! write back and read back the same, and answer lookups of its partitions.
//!
//! Input: `<flags><file>`; flag bit 0: `<file>` is the uncompressed ring,
//! gzipped here first (so mutations reach below the gzip CRC).

use std::io::Write;

use swirl_ring::codec;
use swirl_ring::hash::HashPathConfig;

use crate::input::Input;

/// Rings with more table entries than this are read but not written back
/// (writing is level-9 deflate; a huge table would only slow the fuzzer).
const ROUNDTRIP_ENTRIES: usize = 1 << 16;

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.byte();
    let rest = input.rest();
    let file = if flags & 1 == 1 {
        gzip(rest)
    } else {
        rest.to_vec()
    };
    let Ok((ring, opts)) = codec::read_ring_with_options(&file[..]) else {
        return;
    };
    crate::accepted();
    ring.validate().expect("a ring that reads is valid");

    let parts = ring.partition_count();
    let cfg = HashPathConfig::new("", "changeme");
    if parts > 0 && !ring.replica2part2dev.is_empty() {
        for part in [0, parts / 2, parts - 1] {
            let part = part as u32;
            for node in ring.get_part_nodes(part) {
                let _ = node;
            }
            let _ = ring.get_more_nodes(part).take(8).count();
        }
        // A ring of less than one replica (one short row) is valid, so a
        // hashed partition may lie past the first row: it has no primaries,
        // and lookups must say so rather than fail.
        let (part, primaries) = ring.get_nodes(&cfg, "AUTH_test", Some("c"), Some("o"));
        assert!(u64::from(part) < 1u64 << ring.part_power());
        let _ = primaries.count();
        let _ = ring.get_more_nodes(part).take(8).count();
    }

    let entries: usize = ring.replica2part2dev.iter().map(Vec::len).sum();
    if entries <= ROUNDTRIP_ENTRIES && ring.devs.len() <= 1 << 12 {
        let bytes = codec::ring_to_bytes(&ring, &opts).expect("a ring that reads can be written");
        let (again, _) = codec::read_ring_with_options(&bytes[..]).expect("a written ring reads");
        assert_eq!(again, ring);
    }
}

/// `data` as one gzip member.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(data);
    gz.finish().unwrap_or_default()
}
