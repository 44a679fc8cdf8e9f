#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ipcbench::fuzzing::interval_log(data));
