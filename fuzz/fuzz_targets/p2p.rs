#![no_main]
//! libFuzzer target: `hypasis_devp2p::fuzzing::p2p`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hypasis_devp2p::fuzzing::p2p(data);
});
