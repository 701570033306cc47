#!/usr/bin/env node
// Runs a WASI preview1 command module under Node.js (node:wasi), with this
// process's stdin, stdout and stderr and the given arguments:
//
//     node run-wasm.mjs MODULE.wasm [ARGS...]
//
// e.g. node run-wasm.mjs ../build/workloads-cli.wasm plate < data/plate.png
// The module's exit code becomes this process's. Used by check.sh to compare
// wasm and native outputs, and as the Node.js baseline for the benchmarks.

import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import process from 'node:process';

// node:wasi is experimental in Node 20 and says so on stderr; keep stderr
// for the module's own output.
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (w.name !== 'ExperimentalWarning') console.error(w);
});
const { WASI } = await import('node:wasi');

const [file, ...args] = process.argv.slice(2);
if (!file) {
  console.error('usage: node run-wasm.mjs MODULE.wasm [ARGS...]');
  process.exit(2);
}
const wasi = new WASI({
  version: 'preview1',
  args: [basename(file, '.wasm'), ...args],
  env: {},
  stdin: 0,
  stdout: 1,
  stderr: 2,
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
