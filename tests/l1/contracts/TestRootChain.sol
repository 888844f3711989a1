// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// A test stand-in for Polygon's RootChain on Ethereum L1, exposing the same read ABI
/// (`currentHeaderBlock()`, `headerBlocks(uint256)`, the `NewHeaderBlock` event) and the same
/// submission rules that matter to readers: header-block ids step by 10,000 and every
/// checkpoint starts right after the previous one ends. Signature checks are left out: the
/// submitter is trusted in tests.
contract TestRootChain {
    event NewHeaderBlock(
        address indexed proposer,
        uint256 indexed headerBlockId,
        uint256 indexed reward,
        uint256 start,
        uint256 end,
        bytes32 root
    );

    struct HeaderBlock {
        bytes32 root;
        uint256 start;
        uint256 end;
        uint256 createdAt;
        address proposer;
    }

    uint256 internal constant MAX_DEPOSITS = 10000;
    uint256 internal _nextHeaderBlock = MAX_DEPOSITS;
    mapping(uint256 => HeaderBlock) public headerBlocks;
    address public owner;

    constructor() {
        owner = msg.sender;
    }

    function currentHeaderBlock() public view returns (uint256) {
        return _nextHeaderBlock - MAX_DEPOSITS;
    }

    function getLastChildBlock() external view returns (uint256) {
        return headerBlocks[currentHeaderBlock()].end;
    }

    /// Same data layout as the real contract: abi.encode(proposer, start, end, rootHash,
    /// accountHash, borChainId); `sigs` is ignored here.
    function submitCheckpoint(bytes calldata data, uint256[3][] calldata sigs) external {
        sigs;
        (address proposer, uint256 start, uint256 end, bytes32 rootHash, , ) =
            abi.decode(data, (address, uint256, uint256, bytes32, bytes32, uint256));
        require(end >= start, "end < start");
        uint256 current = currentHeaderBlock();
        // Contiguous with the previous checkpoint when there is one (after setNextHeaderBlock
        // the previous header block may not exist in this test chain).
        if (headerBlocks[current].createdAt != 0) {
            require(start == headerBlocks[current].end + 1, "not contiguous");
        }
        uint256 id = _nextHeaderBlock;
        headerBlocks[id] = HeaderBlock(rootHash, start, end, block.timestamp, proposer);
        emit NewHeaderBlock(proposer, id, 0, start, end, rootHash);
        _nextHeaderBlock = id + MAX_DEPOSITS;
    }

    /// Moves the next header-block id (the real contract has the same owner-only setter), so a
    /// test can continue from a real checkpoint number.
    function setNextHeaderBlock(uint256 value) external {
        require(msg.sender == owner, "owner only");
        require(value % MAX_DEPOSITS == 0, "not a multiple of 10000");
        _nextHeaderBlock = value;
    }
}
