//! `cargo fuzz run config`: see `ringlb_fuzz::targets::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringlb_fuzz::targets::config(data));
