#![no_main]
//! libFuzzer entry of the `backend_bodies` target (see swirl_fuzz::targets::backend_bodies).

libfuzzer_sys::fuzz_target!(|data: &[u8]| swirl_fuzz::targets::backend_bodies::run(data));
