#!/usr/bin/env node
// The Node.js baseline of the experiments: the approach of the paper's
// prototype, a WebAssembly module run by V8 behind a Node.js HTTP server.
//
//     node --single-threaded-gc experiments/node-server.mjs MODULE.wasm [--listen HOST:PORT]
//
// MODULE.wasm is the WASI preview1 command examples/build/workloads-cli.wasm.
// It is compiled once, at start (WebAssembly.compile); every request then gets
// a fresh WebAssembly.Instance and a fresh node:wasi WASI object, and runs the
// module as a CGI program, as wisp runs a WASI command for a web call:
// REQUEST_METHOD, PATH_INFO (the request's path), CONTENT_LENGTH and
// CONTENT_TYPE in its environment, the request body on its stdin, the CGI
// answer (headers, blank line, body) on its stdout. The module itself picks the
// workload from the path's last segment (/plate, /classify, /resize), answers
// 404 for any other path and 400 for an undecodable body, and reports
// X-Compute-Ns, the time of the library call measured inside the module with
// WASI's monotonic clock.
//
// node:wasi takes file descriptors for stdin and stdout, not streams, so each
// request's body goes to a temporary file opened as the module's stdin, and
// its stdout is another temporary file read back after the run. They live in a
// private directory under /dev/shm (memory) when it is writable, else under
// the system temp directory, and are removed after each request.
//
// Instances run on the one JavaScript thread, synchronously: requests are
// served one at a time, in arrival order.
//
// Prints "listening on http://HOST:PORT" as its first line of output.
//
// --single-threaded-gc: Node.js 20.20.2 on the project's machine dies with
// SIGSEGV or SIGABRT after a few dozen to a few hundred runs of this module,
// each in a fresh instance, when V8's garbage collector uses its helper
// threads (a loop of new WASI + new Instance + start reproduces it without any
// HTTP; nodejs/node#52402 reports the same symptom). With the collector on the
// main thread, thousands of runs go through; turning off only concurrent
// marking was not enough. The server warns when it is started without the flag.

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';

// node:wasi is experimental in Node 20 and says so once on stderr.
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (w.name !== 'ExperimentalWarning') console.error(w);
});
const { WASI } = await import('node:wasi');

const MAX_BODY = 64 << 20;
const USAGE = 'usage: node node-server.mjs MODULE.wasm [--listen HOST:PORT]';

function parseArgs(argv) {
  let file = null;
  let listen = '127.0.0.1:0';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--listen') {
      if (i + 1 >= argv.length) throw new Error('--listen needs an address');
      listen = argv[++i];
    } else if (a.startsWith('--listen=')) {
      listen = a.slice('--listen='.length);
    } else if (a === '-h' || a === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else if (a.startsWith('-') || file !== null) {
      throw new Error(`unknown argument ${JSON.stringify(a)}`);
    } else {
      file = a;
    }
  }
  if (file === null) throw new Error('no module given');
  const colon = listen.lastIndexOf(':');
  const host = colon > 0 ? listen.slice(0, colon) : '127.0.0.1';
  const port = Number(colon >= 0 ? listen.slice(colon + 1) : listen);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`bad address ${JSON.stringify(listen)}`);
  }
  return { file, host, port };
}

function scratchDir() {
  for (const base of ['/dev/shm', os.tmpdir()]) {
    try {
      return fs.mkdtempSync(path.join(base, 'wisp-node-server-'));
    } catch {
      // not writable: try the next one
    }
  }
  throw new Error('no writable temporary directory');
}

// Splits a CGI answer into status, headers and body.
function parseCgi(out) {
  let end = out.indexOf('\r\n\r\n');
  let sep = 4;
  const lf = out.indexOf('\n\n');
  if (end < 0 || (lf >= 0 && lf < end)) {
    end = lf;
    sep = 2;
  }
  if (end < 0) throw new Error('the module wrote no CGI header');
  let status = 200;
  const headers = {};
  for (const line of out.subarray(0, end).toString('latin1').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') {
      status = parseInt(value, 10);
      if (!(status >= 100 && status <= 999)) throw new Error(`bad CGI status ${value}`);
    } else {
      headers[name] = value;
    }
  }
  return { status, headers, body: out.subarray(end + sep) };
}

let module;
let scratch;
let seq = 0;

// Runs the module once for one request, synchronously.
function runModule(method, pathInfo, contentType, body) {
  const n = seq++;
  const inPath = path.join(scratch, `in-${n}`);
  const outPath = path.join(scratch, `out-${n}`);
  fs.writeFileSync(inPath, body);
  const inFd = fs.openSync(inPath, 'r');
  const outFd = fs.openSync(outPath, 'w+');
  let code;
  try {
    const env = {
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_PROTOCOL: 'HTTP/1.1',
      REQUEST_METHOD: method,
      PATH_INFO: pathInfo,
      CONTENT_LENGTH: String(body.length),
    };
    if (contentType) env.CONTENT_TYPE = contentType;
    const wasi = new WASI({
      version: 'preview1',
      args: ['workload'],
      env,
      stdin: inFd,
      stdout: outFd,
      stderr: 2,
      returnOnExit: true,
    });
    const instance = new WebAssembly.Instance(module, wasi.getImportObject());
    code = wasi.start(instance);
  } finally {
    fs.closeSync(inFd);
    fs.closeSync(outFd);
  }
  const out = fs.readFileSync(outPath);
  fs.rmSync(inPath, { force: true });
  fs.rmSync(outPath, { force: true });
  if (code !== 0 && code !== undefined) {
    throw new Error(`the module exited with ${code}`);
  }
  return parseCgi(out);
}

function reply(res, status, headers, body) {
  res.writeHead(status, { ...headers, 'Content-Length': body.length });
  res.end(body);
}

function handle(req, res) {
  const chunks = [];
  let size = 0;
  let tooLarge = false;
  req.on('data', (c) => {
    size += c.length;
    if (size > MAX_BODY) tooLarge = true;
    else chunks.push(c);
  });
  req.on('end', () => {
    if (tooLarge) {
      reply(res, 413, { 'Content-Type': 'text/plain' }, Buffer.from('request body too large\n'));
      return;
    }
    const pathInfo = (req.url || '/').split(/[?#]/)[0];
    let answer;
    try {
      answer = runModule(req.method, pathInfo, req.headers['content-type'], Buffer.concat(chunks));
    } catch (e) {
      reply(res, 500, { 'Content-Type': 'text/plain' }, Buffer.from(`${e.message}\n`));
      return;
    }
    reply(res, answer.status, answer.headers, answer.body);
  });
}

async function main() {
  if (!process.execArgv.includes('--single-threaded-gc')) {
    console.error('node-server: warning: started without --single-threaded-gc; Node.js 20 may crash after some calls');
  }
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`node-server: ${e.message}\n${USAGE}`);
    process.exit(2);
  }
  module = await WebAssembly.compile(fs.readFileSync(args.file));
  scratch = scratchDir();
  const cleanup = () => fs.rmSync(scratch, { recursive: true, force: true });
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));

  const server = http.createServer(handle);
  server.keepAliveTimeout = 60_000;
  server.on('error', (e) => {
    console.error(`node-server: ${e.message}`);
    process.exit(1);
  });
  server.listen(args.port, args.host, () => {
    const a = server.address();
    console.log(`listening on http://${a.address}:${a.port}`);
  });
}

await main();
