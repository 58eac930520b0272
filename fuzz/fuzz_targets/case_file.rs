#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| taskgate_fuzz::files::case_file(data));
