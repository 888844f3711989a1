#![no_main]
//! libFuzzer target: `hypasis_downloader::fuzzing::frame`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hypasis_downloader::fuzzing::frame(data);
});
