#![no_main]
//! libFuzzer entry of the `listing_params` target (see swirl_fuzz::targets::listing_params).

libfuzzer_sys::fuzz_target!(|data: &[u8]| swirl_fuzz::targets::listing_params::run(data));
