// Hardhat Network settings for `hardhat node` in the L1 checkpoint tests. Blocks are mined on
// every transaction (automine) and on `hardhat_mine`; the tests control finality by mining.
module.exports = {
  networks: {
    hardhat: {
      chainId: 31337,
      mining: { auto: true, interval: 0 },
    },
  },
};
