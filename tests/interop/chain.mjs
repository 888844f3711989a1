// Shared chain setup for the EthereumJS interop peers: the Common of genesis.json, the genesis
// block, and a chain of signed transactions built with EthereumJS's VM block builder (so
// every header root and receipt is EthereumJS's own).

import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

import { createBlock, createBlockHeader } from '@ethereumjs/block'
import { createCommonFromGethGenesis } from '@ethereumjs/common'
import { RLP } from '@ethereumjs/rlp'
import {
  createAccessList2930Tx,
  createFeeMarket1559Tx,
  createLegacyTx,
} from '@ethereumjs/tx'
import { createAddressFromString, hexToBytes } from '@ethereumjs/util'
import { buildBlock, createVM, encodeReceipt } from '@ethereumjs/vm'

const here = dirname(fileURLToPath(import.meta.url))

export const GENESIS_PATH = join(here, 'genesis.json')

// Well-known development keys funded in genesis.json.
const KEYS = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
].map((k) => hexToBytes(k))

const LOGGER = createAddressFromString('0x00000000000000000000000000000000000000cc')
const REVERTER = createAddressFromString('0x00000000000000000000000000000000000000dd')

function genesisState(genesis) {
  const state = {}
  for (const [address, account] of Object.entries(genesis.alloc)) {
    state[address.toLowerCase()] = [account.balance, account.code, undefined, undefined]
  }
  return state
}

/** Reads genesis.json and returns { genesis, common (with fork hashes), genesisBlock, vm }. */
export async function setup() {
  const genesis = JSON.parse(readFileSync(GENESIS_PATH, 'utf8'))
  // A first Common without fork hashes to compute the genesis state root and header.
  const plain = createCommonFromGethGenesis(genesis, { chain: 'hypasis-interop' })
  const vm0 = await createVM({ common: plain })
  await vm0.stateManager.generateCanonicalGenesis(genesisState(genesis))
  const stateRoot = await vm0.stateManager.getStateRoot()
  const headerData = {
    number: 0n,
    gasLimit: BigInt(genesis.gasLimit),
    difficulty: BigInt(genesis.difficulty),
    extraData: hexToBytes(genesis.extraData),
    nonce: hexToBytes('0x' + BigInt(genesis.nonce).toString(16).padStart(16, '0')),
    timestamp: BigInt(genesis.timestamp),
    mixHash: hexToBytes(genesis.mixHash),
    coinbase: createAddressFromString(genesis.coinbase),
    baseFeePerGas: BigInt(genesis.baseFeePerGas),
    stateRoot,
  }
  const genesisHeader = createBlockHeader(headerData, { common: plain })
  const genesisHash = genesisHeader.hash()
  const common = createCommonFromGethGenesis(genesis, {
    chain: 'hypasis-interop',
    genesisHash,
    hardfork: 'london',
  })
  const genesisBlock = createBlock({ header: headerData }, { common })
  const vm = await createVM({ common })
  await vm.stateManager.generateCanonicalGenesis(genesisState(genesis))
  return { genesis, common, genesisBlock, vm }
}

function makeTx(common, n, i, nonces) {
  const signer = (n + i) % KEYS.length
  const key = KEYS[signer]
  const nonce = nonces[signer]++
  const kind = (n * 7 + i) % 5
  const to = kind === 3 ? REVERTER : kind === 4 ? undefined : LOGGER
  const data =
    kind === 4
      ? // Contract creation: init code copying and returning a 1-byte runtime (STOP).
        hexToBytes('0x6001600c60003960016000f300')
      : hexToBytes('0x' + (n * 100 + i).toString(16).padStart(8, '0'))
  const common_fields = {
    nonce,
    gasLimit: 200000n,
    to,
    value: BigInt(n * 10 + i),
    data,
  }
  switch ((n + i) % 3) {
    case 0:
      return createLegacyTx({ ...common_fields, gasPrice: 2000000000n }, { common }).sign(key)
    case 1:
      return createAccessList2930Tx(
        {
          ...common_fields,
          gasPrice: 2000000000n,
          accessList: [{ address: LOGGER.toString(), storageKeys: [] }],
        },
        { common },
      ).sign(key)
    default:
      return createFeeMarket1559Tx(
        { ...common_fields, maxFeePerGas: 3000000000n, maxPriorityFeePerGas: 1000000000n },
        { common },
      ).sign(key)
  }
}

/**
 * Builds blocks 1..=count on top of genesis. Returns [{ block, receipts }] including the
 * genesis block at index 0 (with no receipts); `receipts` are EIP-2718 consensus encodings.
 */
export async function buildChain(ctx, count, { log } = {}) {
  const { common, genesisBlock, vm } = ctx
  const chain = [{ block: genesisBlock, receipts: [] }]
  const nonces = KEYS.map(() => 0)
  let parent = genesisBlock
  for (let n = 1; n <= count; n++) {
    const builder = await buildBlock(vm, {
      parentBlock: parent,
      headerData: {
        timestamp: parent.header.timestamp + 12n,
        gasLimit: parent.header.gasLimit,
        coinbase: createAddressFromString('0x000000000000000000000000000000000000c0de'),
      },
      blockOpts: { calcDifficultyFromHeader: parent.header, putBlockIntoBlockchain: false },
    })
    // Every 8th block is empty; others carry 1..4 transactions.
    const txCount = n % 8 === 0 ? 0 : 1 + (n % 4)
    const txs = []
    for (let i = 0; i < txCount; i++) {
      const tx = makeTx(common, n, i, nonces)
      await builder.addTransaction(tx)
      txs.push(tx)
    }
    const receipts = builder.transactionReceipts.map((r, i) => encodeReceipt(r, txs[i].type))
    const { block } = await builder.build()
    chain.push({ block, receipts })
    parent = block
    if (log && n % 500 === 0) log(`built ${n}/${count} blocks`)
  }
  return chain
}

/** eth/68 wire value of one block's receipts: legacy receipts as lists, typed as strings. */
export function receiptsWire(receipts) {
  return receipts.map((r) => (r[0] >= 0xc0 ? RLP.decode(r) : r))
}
