// Compiles contracts/TestRootChain.sol with the pinned solc-js and writes
// {"abi": [...], "bytecode": "0x..."} to the path given as the first argument (stdout if none).
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const file = 'TestRootChain.sol';
const source = fs.readFileSync(path.join(__dirname, 'contracts', file), 'utf8');
const input = {
  language: 'Solidity',
  sources: { [file]: { content: source } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'cancun',
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === 'error');
if (errors.length > 0) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
const c = output.contracts[file].TestRootChain;
const out = JSON.stringify({ abi: c.abi, bytecode: '0x' + c.evm.bytecode.object, solc: solc.version() });
if (process.argv[2]) fs.writeFileSync(process.argv[2], out);
else process.stdout.write(out + '\n');
