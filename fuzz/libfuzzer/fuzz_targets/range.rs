#![no_main]
//! libFuzzer entry of the `range` target (see swirl_fuzz::targets::range).

libfuzzer_sys::fuzz_target!(|data: &[u8]| swirl_fuzz::targets::range::run(data));
