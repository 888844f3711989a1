#![no_main]
//! libFuzzer target: `hypasis_downloader::fuzzing::eth`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hypasis_downloader::fuzzing::eth(data);
});
