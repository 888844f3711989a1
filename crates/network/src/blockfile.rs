//! Loading block files (`chain.rlp`, `receipts.rlp`) into a [`MemoryBlockSource`]. The file
//! encodings are the storage API's ([`hypasis_storage_api::blockfile`], re-exported here).

use hypasis_storage_api::blockfile::read;
pub use hypasis_storage_api::blockfile::{
    BlockFileError, FileBlock, block_rlp, parse_chain, parse_receipts, receipts_file_item,
    receipts_from_eth68_list, split_block,
};

use crate::source::MemoryBlockSource;

/// Loads a chain file and an optional receipts file into a [`MemoryBlockSource`]; returns it
/// with the parsed blocks (without receipts, blocks are served with empty receipt lists).
pub fn load_source(
    chain: &std::path::Path,
    receipts: Option<&std::path::Path>,
) -> Result<(MemoryBlockSource, Vec<FileBlock>), BlockFileError> {
    let blocks = parse_chain(&read(chain)?)?;
    let receipts = match receipts {
        Some(p) => {
            let r = parse_receipts(&read(p)?)?;
            if r.len() != blocks.len() {
                return Err(BlockFileError::CountMismatch {
                    blocks: blocks.len(),
                    receipts: r.len(),
                });
            }
            Some(r)
        }
        None => None,
    };
    let mut source = MemoryBlockSource::new();
    for (i, b) in blocks.iter().enumerate() {
        let r = receipts.as_ref().map(|r| r[i].clone()).unwrap_or_default();
        source.insert(b.number, b.header.clone(), b.body.clone(), r);
    }
    Ok((source, blocks))
}
