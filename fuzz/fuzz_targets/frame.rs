#![no_main]
//! libFuzzer target: `hypasis_devp2p::fuzzing::frame`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hypasis_devp2p::fuzzing::frame(data);
});
