#![no_main]
//! libFuzzer target: `hypasis_devp2p::fuzzing::discv4`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hypasis_devp2p::fuzzing::discv4(data);
});
