#![no_main]
//! libFuzzer target: the era1 (e2store) reader, including snappy decompression of each block.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(era) = hypasis_era::Era1::parse(data) {
        for block in &era.blocks {
            let _ = block.header();
            let _ = block.body();
            let _ = block.receipts();
        }
    }
});
