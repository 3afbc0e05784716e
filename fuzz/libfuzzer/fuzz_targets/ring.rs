#![no_main]
//! libFuzzer entry of the `ring` target (see swirl_fuzz::targets::ring).

libfuzzer_sys::fuzz_target!(|data: &[u8]| swirl_fuzz::targets::ring::run(data));
