#![no_main]
//! libFuzzer entry of the `raw_request` target (see swirl_fuzz::targets::raw_request).

libfuzzer_sys::fuzz_target!(|data: &[u8]| swirl_fuzz::targets::raw_request::run(data));
