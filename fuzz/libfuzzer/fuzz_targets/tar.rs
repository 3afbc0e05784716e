#![no_main]
//! libFuzzer entry of the `tar` target (see swirl_fuzz::targets::tar).

libfuzzer_sys::fuzz_target!(|data: &[u8]| swirl_fuzz::targets::tar::run(data));
