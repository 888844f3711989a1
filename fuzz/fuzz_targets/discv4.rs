#![no_main]
//! libFuzzer target: `hypasis_downloader::fuzzing::discv4`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hypasis_downloader::fuzzing::discv4(data);
});
