#![no_main]
//! libFuzzer entry of the `request_path` target (see swirl_fuzz::targets::request_path).

libfuzzer_sys::fuzz_target!(|data: &[u8]| swirl_fuzz::targets::request_path::run(data));
