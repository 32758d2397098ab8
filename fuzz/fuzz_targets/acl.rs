//! `cargo fuzz run acl`: see `ringlb_fuzz::targets::acl`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringlb_fuzz::targets::acl(data));
