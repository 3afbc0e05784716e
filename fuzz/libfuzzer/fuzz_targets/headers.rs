#![no_main]
//! libFuzzer entry of the `headers` target (see swirl_fuzz::targets::headers).

libfuzzer_sys::fuzz_target!(|data: &[u8]| swirl_fuzz::targets::headers::run(data));
