//! Ring builder files (our versioned format, gzip or plain, v1 and v2) and
//! swift-ring-builder's device syntax (search values, `add` values,
//! `set_info` changes, weights). A builder that loads must save and load
//! back the same, and a small one must validate, rebalance and give a ring
//! without panicking (the loader's promise: a damaged file is an error,
//! never a panic later).
//!
//! Input: `<flags><seed><file>`; flag bit 0: gzip `<file>` first; bit 1: also
//! read `<file>` as device syntax.

use rand::SeedableRng;
use swirl_ring::{builder_file, codec, search};

use crate::input::{text, Input};
use crate::targets::ring::gzip;

/// Builders up to this many partitions are rebalanced.
const REBALANCE_PARTS: u32 = 1 << 8;

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.byte();
    let seed = input.byte();
    let rest = input.rest();

    if flags & 2 == 2 {
        let t = text(rest);
        let _ = search::parse_search_value(&t);
        let _ = search::parse_add_value(&t);
        let _ = search::parse_change_value(&t);
        let _ = search::parse_weight(&t);
        let _ = search::normalize_address(&t);
        let _ = search::validate_device_name(&t);
    }

    let file = if flags & 1 == 1 {
        gzip(rest)
    } else {
        rest.to_vec()
    };
    let Ok(mut b) = builder_file::from_bytes(&file) else {
        return;
    };
    crate::accepted();
    let saved = builder_file::to_bytes(&b).expect("a builder that loads can be saved");
    let again = builder_file::from_bytes(&saved).expect("a saved builder loads");
    assert!(again == b, "a builder does not load back as saved");

    let _ = b.validate();
    let _ = b.get_balance();
    if b.parts() > REBALANCE_PARTS || b.devs().len() > 64 || b.replicas() > 8.0 {
        return;
    }
    let _ = b.get_required_overload();
    let _ = b.dispersion_report();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(u64::from(seed));
    if b.rebalance(&mut rng, 1 << 40, &mut |_| {}).is_ok() {
        b.validate().expect("a rebalanced builder is valid");
        let ring = b.get_ring().expect("a rebalanced builder has a ring");
        let bytes = codec::ring_to_bytes(&ring, &codec::WriteOptions::default())
            .expect("a rebalanced ring can be written");
        assert!(codec::read_ring(&bytes[..]).is_ok());
    }
}
