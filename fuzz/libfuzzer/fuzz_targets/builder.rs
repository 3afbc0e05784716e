#![no_main]
//! libFuzzer entry of the `builder` target (see swirl_fuzz::targets::builder).

libfuzzer_sys::fuzz_target!(|data: &[u8]| swirl_fuzz::targets::builder::run(data));
