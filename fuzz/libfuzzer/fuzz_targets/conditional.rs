#![no_main]
//! libFuzzer entry of the `conditional` target (see swirl_fuzz::targets::conditional).

libfuzzer_sys::fuzz_target!(|data: &[u8]| swirl_fuzz::targets::conditional::run(data));
