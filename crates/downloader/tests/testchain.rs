//! The synthetic test chain (`hypasis_network::testchain`) passes the downloader's checks.

use alloy_primitives::Bytes;
use hypasis_downloader::verify::{check_body, check_header_chain, check_receipts};
use hypasis_network::testchain::generate;

#[test]
fn generated_chain_verifies() {
    let blocks = generate(50, 5, Some(20));
    let headers: Vec<Bytes> = blocks.iter().map(|b| b.header.clone()).collect();
    let checked = check_header_chain(0, None, &headers).unwrap();
    for (b, h) in blocks.iter().zip(&checked) {
        assert_eq!(h.hash, b.hash);
        check_body(&h.header, &b.body).unwrap();
        check_receipts(&h.header, &b.receipts).unwrap();
    }
}
