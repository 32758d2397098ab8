//! `cargo fuzz run head`: see `ringlb_fuzz::targets::head`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringlb_fuzz::targets::head(data));
