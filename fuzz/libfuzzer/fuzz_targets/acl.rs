#![no_main]
//! libFuzzer entry of the `acl` target (see swirl_fuzz::targets::acl).

libfuzzer_sys::fuzz_target!(|data: &[u8]| swirl_fuzz::targets::acl::run(data));
