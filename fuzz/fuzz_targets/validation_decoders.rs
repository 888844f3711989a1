#![no_main]
//! libFuzzer target: every decoder of the validation crate that reads remote bytes (bodies,
//! receipts, headers, chain.rlp/headers.rlp inputs, Bor extra-data, SSZ accumulators).

use hypasis_validation::{
    EpochRecord, HistoricalAccumulator, SealedHeader, body, bor, input, receipts,
    split_concatenated,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = body::decode_body(data);
    let _ = receipts::decode_receipts(data);
    let _ = input::split_block(data);
    let _ = split_concatenated(data);
    let _ = SealedHeader::decode(data);
    let _ = bor::fuzz_block_extra(data);
    let _ = bor::parse_validators(data);
    let _ = HistoricalAccumulator::from_ssz(data);
    let _ = EpochRecord::from_ssz(0, data);
    let _ = input::blocks_from_headers_rlp(data);
    let mid = data.len() / 2;
    let _ = input::blocks_from_chain_rlp(&data[..mid], Some(&data[mid..]));
});
