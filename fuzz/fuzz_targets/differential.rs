#![no_main]

libfuzzer_sys::fuzz_target!(
    init: taskgate_fuzz::check::warm_up(),
    |data: &[u8]| taskgate_fuzz::check::differential(data)
);
