#![no_main]
//! libFuzzer entry of the `bulk_delete` target (see swirl_fuzz::targets::bulk_delete).

libfuzzer_sys::fuzz_target!(|data: &[u8]| swirl_fuzz::targets::bulk_delete::run(data));
