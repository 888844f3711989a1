#!/usr/bin/env node
// EthereumJS devp2p peers for the Hypasis interop tests (tests/p2p_interop.rs).
//
//   node interop.mjs serve --blocks N [--export DIR]
//       Builds a chain of N blocks with signed transactions (EthereumJS VM block builder),
//       optionally writes DIR/chain.rlp (geth export format, genesis included) and
//       DIR/receipts.rlp (one eth/68 receipt list per block), listens on 127.0.0.1 and serves
//       the chain over RLPx/eth/68. The first stdout line is our enode:// URL. The peer is
//       quiet: its Status names the head by hash only and it never announces a block.
//
//   node interop.mjs serve --load DIR
//       Serves DIR/chain.rlp and DIR/receipts.rlp as written by `serve --export DIR` (so
//       several peers serve the identical chain without building it again).
//
//   node interop.mjs fetch --peer ENODE (--blocks N | --expect DIR)
//       Builds the same chain locally (or loads DIR/chain.rlp written by `serve --export`),
//       connects to ENODE over RLPx/eth/68, fetches every
//       header, body and receipt list 0..=N and checks them: header hashes equal the local
//       chain, bodies against the transactions root / uncle hash (EthereumJS's own block
//       validation), receipts against the receipts root. Exits 0 on success.

import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'

import { createBlockFromBytesArray, createBlockFromRLP } from '@ethereumjs/block'
import { ETH, RLPx } from '@ethereumjs/devp2p'
import { MerklePatriciaTrie } from '@ethereumjs/mpt'
import { RLP } from '@ethereumjs/rlp'
import {
  bigIntToBytes,
  bytesToBigInt,
  bytesToHex,
  bytesToInt,
  concatBytes,
  equalsBytes,
  hexToBytes,
  intToBytes,
} from '@ethereumjs/util'
import { secp256k1 } from 'ethereum-cryptography/secp256k1.js'

import { buildChain, receiptsWire, setup } from './chain.mjs'

const CODES = {
  GET_BLOCK_HEADERS: 0x03,
  BLOCK_HEADERS: 0x04,
  GET_BLOCK_BODIES: 0x05,
  BLOCK_BODIES: 0x06,
  GET_RECEIPTS: 0x0f,
  RECEIPTS: 0x10,
}

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`)
  if (i < 0) {
    if (def === undefined) throw new Error(`missing --${name}`)
    return def
  }
  return process.argv[i + 1]
}

const log = (...a) => console.error(`[interop ${new Date().toISOString()}]`, ...a)

function totalDifficulty(chain) {
  return chain.reduce((td, { block }) => td + block.header.difficulty, 0n)
}

function newKey() {
  for (;;) {
    const k = randomBytes(32)
    try {
      secp256k1.getPublicKey(k)
      return k
    } catch {
      // retry
    }
  }
}

function ethOf(peer) {
  return peer.getProtocols().find((p) => p instanceof ETH)
}

function sendStatus(eth, ctx, chain) {
  const head = chain[chain.length - 1].block
  eth.sendStatus({
    td: bigIntToBytes(totalDifficulty(chain)),
    bestHash: head.hash(),
    genesisHash: ctx.genesisBlock.hash(),
    latestBlock: intToBytes(0),
  })
}

function exportChain(chain, dir) {
  const blocks = chain.map(({ block }) => block.serialize())
  writeFileSync(join(dir, 'chain.rlp'), concatBytes(...blocks))
  const receipts = chain.map(({ receipts }) => RLP.encode(receiptsWire(receipts)))
  writeFileSync(join(dir, 'receipts.rlp'), concatBytes(...receipts))
}

/** Loads a chain and its receipts written by `serve --export DIR`, for serving. */
function loadServed(ctx, dir) {
  const chain = loadChain(ctx, dir)
  let rest = readFileSync(join(dir, 'receipts.rlp'))
  for (const entry of chain) {
    if (rest.length === 0) throw new Error(`${dir}/receipts.rlp: fewer lists than blocks`)
    const { data, remainder } = RLP.decode(rest, true)
    entry.wire = data
    rest = remainder
  }
  if (rest.length > 0) throw new Error(`${dir}/receipts.rlp: more lists than blocks`)
  return chain
}

async function serve() {
  const loadDir = arg('load', '')
  const exportDir = arg('export', '')
  const ctx = await setup()
  const chain = loadDir ? loadServed(ctx, loadDir) : await buildChain(ctx, Number(arg('blocks')), { log })
  const count = chain.length - 1
  if (exportDir) exportChain(chain, exportDir)
  const byHash = new Map(chain.map((e, i) => [bytesToHex(e.block.hash()), i]))
  const rlpx = new RLPx(newKey(), {
    maxPeers: 25,
    capabilities: [ETH.eth68],
    common: ctx.common,
    clientId: new TextEncoder().encode('ethereumjs-interop-server'),
  })
  rlpx.events.on('peer:added', (peer) => {
    const eth = ethOf(peer)
    log('peer added', bytesToHex(peer.getId()).slice(0, 18), 'eth', eth.getVersion())
    eth.events.on('status', () => log('status exchanged'))
    eth.events.on('message', (code, payload) => {
      try {
        handleRequest(eth, code, payload, chain, byHash)
      } catch (e) {
        log('error handling message', code, e)
      }
    })
    sendStatus(eth, ctx, chain)
  })
  rlpx.events.on('peer:removed', (peer, reason) => log('peer removed, reason', reason))
  rlpx.events.on('peer:error', (peer, err) => log('peer error', err.message))
  rlpx.events.on('error', (err) => log('rlpx error', err.message))
  rlpx.events.once('listening', () => {
    const { port } = rlpx._server.address()
    const id = bytesToHex(rlpx.id).slice(2)
    process.stdout.write(`enode://${id}@127.0.0.1:${port}\n`)
    log(`serving ${chain.length} blocks (0..=${count}) on 127.0.0.1:${port}`)
  })
  rlpx.listen(0, '127.0.0.1')
}

function handleRequest(eth, code, payload, chain, byHash) {
  switch (code) {
    case CODES.GET_BLOCK_HEADERS: {
      const [reqId, [origin, amountB, skipB, reverseB]] = payload
      const amount = Math.min(bytesToInt(amountB), 1024)
      const skip = bytesToInt(skipB)
      const reverse = bytesToInt(reverseB) === 1
      let n = origin.length === 32 ? byHash.get(bytesToHex(origin)) : bytesToInt(origin)
      const headers = []
      while (n !== undefined && n >= 0 && n < chain.length && headers.length < amount) {
        headers.push(chain[n].block.header.raw())
        n = reverse ? n - skip - 1 : n + skip + 1
      }
      eth.sendMessage(CODES.BLOCK_HEADERS, [reqId, headers])
      break
    }
    case CODES.GET_BLOCK_BODIES: {
      const [reqId, hashes] = payload
      const bodies = []
      for (const h of hashes.slice(0, 1024)) {
        const i = byHash.get(bytesToHex(h))
        if (i === undefined) break
        bodies.push(chain[i].block.raw().slice(1))
      }
      eth.sendMessage(CODES.BLOCK_BODIES, [reqId, bodies])
      break
    }
    case CODES.GET_RECEIPTS: {
      const [reqId, hashes] = payload
      const lists = []
      for (const h of hashes.slice(0, 1024)) {
        const i = byHash.get(bytesToHex(h))
        if (i === undefined) break
        lists.push(chain[i].wire ?? receiptsWire(chain[i].receipts))
      }
      eth.sendMessage(CODES.RECEIPTS, [reqId, lists])
      break
    }
    default:
      break
  }
}

// Canonical RLP integer: zero is the empty string (a 0x00 byte is rejected by strict peers).
const uint = (n) => (n === 0 ? new Uint8Array() : intToBytes(n))

function parseEnode(url) {
  const m = /^enode:\/\/([0-9a-f]{128})@([^:]+):(\d+)/.exec(url)
  if (!m) throw new Error(`bad enode ${url}`)
  return { id: hexToBytes('0x' + m[1]), address: m[2], tcpPort: Number(m[3]) }
}

async function receiptsRoot(common, encoded) {
  const trie = new MerklePatriciaTrie({ common })
  for (const [i, r] of encoded.entries()) await trie.put(RLP.encode(i), r)
  return trie.root()
}

/** Loads a chain exported by `serve --export DIR` (blocks only; receipts come from roots). */
function loadChain(ctx, dir) {
  let rest = readFileSync(join(dir, 'chain.rlp'))
  const chain = []
  while (rest.length > 0) {
    const { remainder } = RLP.decode(rest, true)
    const raw = rest.subarray(0, rest.length - remainder.length)
    chain.push({ block: createBlockFromRLP(raw, { common: ctx.common }), receipts: [] })
    rest = remainder
  }
  return chain
}

async function fetchAll() {
  const peerInfo = parseEnode(arg('peer'))
  const expect = arg('expect', '')
  const ctx = await setup()
  const chain = expect ? loadChain(ctx, expect) : await buildChain(ctx, Number(arg('blocks')), { log })
  if (!equalsBytes(chain[0].block.hash(), ctx.genesisBlock.hash())) {
    console.error('FAIL: expected chain does not start at our genesis')
    process.exit(1)
  }
  const rlpx = new RLPx(newKey(), {
    maxPeers: 5,
    capabilities: [ETH.eth68],
    common: ctx.common,
    clientId: new TextEncoder().encode('ethereumjs-interop-client'),
  })
  const fail = (msg) => {
    console.error(`FAIL: ${msg}`)
    process.exit(1)
  }
  const timer = setTimeout(() => fail('timed out'), 120000)
  const pending = new Map()
  let nextId = 1
  const request = (eth, code, body) =>
    new Promise((resolve, reject) => {
      const id = nextId++
      pending.set(id, { resolve, reject })
      eth.sendMessage(code, [uint(id), body])
    })

  rlpx.events.on('peer:error', (peer, err) => log('peer error', err.message))
  rlpx.events.on('peer:removed', (peer, reason) => log('peer removed, reason', reason))
  rlpx.events.on('peer:added', (peer) => {
    const eth = ethOf(peer)
    const hello = peer.getHelloMessage()
    const client =
      hello.clientId instanceof Uint8Array ? new TextDecoder().decode(hello.clientId) : hello.clientId
    log('connected to', client, 'eth', eth.getVersion())
    eth.events.on('message', (code, payload) => {
      if (![CODES.BLOCK_HEADERS, CODES.BLOCK_BODIES, CODES.RECEIPTS].includes(code)) return
      const id = bytesToInt(payload[0])
      const p = pending.get(id)
      if (!p) return fail(`unsolicited response ${code} id ${id}`)
      pending.delete(id)
      p.resolve(payload[1])
    })
    eth.events.once('status', async (status) => {
      try {
        if (!equalsBytes(status.genesisHash, ctx.genesisBlock.hash())) fail('genesis mismatch')
        const head = chain[chain.length - 1].block
        if (!equalsBytes(status.bestHash, head.hash())) fail('best hash mismatch')
        log('status ok, td', bytesToBigInt(status.td).toString())
        await check(eth)
        log(`checked ${chain.length} headers, bodies and receipt lists`)
        clearTimeout(timer)
        peer.disconnect(0x08)
        setTimeout(() => process.exit(0), 100)
      } catch (e) {
        fail(e.stack ?? String(e))
      }
    })
    sendStatus(eth, ctx, chain)
  })

  async function check(eth) {
    // Headers in batches of up to 192, then bodies and receipts by hash in batches of 64.
    const headers = []
    while (headers.length < chain.length) {
      const from = headers.length
      const amount = Math.min(192, chain.length - from)
      const got = await request(eth, CODES.GET_BLOCK_HEADERS, [
        uint(from),
        uint(amount),
        uint(0),
        uint(0),
      ])
      if (got.length === 0) fail(`no headers from ${from}`)
      for (const raw of got) {
        const n = headers.length
        const expected = chain[n].block.header.serialize()
        if (!equalsBytes(RLP.encode(raw), expected)) fail(`header ${n} differs`)
        headers.push(raw)
      }
    }
    for (let from = 0; from < chain.length; ) {
      const hashes = chain.slice(from, from + 64).map((e) => e.block.hash())
      const bodies = await request(eth, CODES.GET_BLOCK_BODIES, hashes)
      if (bodies.length === 0) fail(`no bodies from ${from}`)
      for (const body of bodies) {
        const block = createBlockFromBytesArray([headers[from], ...body], {
          common: ctx.common,
        })
        if (!(await block.transactionsTrieIsValid())) fail(`block ${from}: bad transactions root`)
        if (!block.uncleHashIsValid()) fail(`block ${from}: bad uncle hash`)
        if (!equalsBytes(block.serialize(), chain[from].block.serialize()))
          fail(`block ${from} differs`)
        from++
      }
    }
    for (let from = 0; from < chain.length; ) {
      const hashes = chain.slice(from, from + 64).map((e) => e.block.hash())
      const lists = await request(eth, CODES.GET_RECEIPTS, hashes)
      if (lists.length === 0) fail(`no receipts from ${from}`)
      for (const list of lists) {
        const encoded = list.map((r) => (r instanceof Uint8Array ? r : RLP.encode(r)))
        const root = await receiptsRoot(ctx.common, encoded)
        if (!equalsBytes(root, chain[from].block.header.receiptTrie))
          fail(`block ${from}: bad receipts root`)
        from++
      }
    }
  }

  rlpx.connect(peerInfo).catch((e) => fail(`connect: ${e.message}`))
}

const mode = process.argv[2]
if (mode === 'serve') await serve()
else if (mode === 'fetch') await fetchAll()
else {
  console.error('usage: node interop.mjs serve (--blocks N [--export DIR] | --load DIR) | fetch --peer ENODE (--blocks N | --expect DIR)')
  process.exit(2)
}
