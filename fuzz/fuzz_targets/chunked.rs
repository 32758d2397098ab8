//! `cargo fuzz run chunked`: see `ringlb_fuzz::targets::chunked`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringlb_fuzz::targets::chunked(data));
