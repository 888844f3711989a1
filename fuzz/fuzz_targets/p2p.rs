#![no_main]
//! libFuzzer target: `hypasis_downloader::fuzzing::p2p`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hypasis_downloader::fuzzing::p2p(data);
});
