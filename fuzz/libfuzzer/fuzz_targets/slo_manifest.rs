#![no_main]
//! libFuzzer entry of the `slo_manifest` target (see swirl_fuzz::targets::slo_manifest).

libfuzzer_sys::fuzz_target!(|data: &[u8]| swirl_fuzz::targets::slo_manifest::run(data));
