// Serves a fetch-event handler (`addEventListener('fetch', ...)`, the js-http
// template's shape) with Node.js's own http server, for bench/js-python.sh: the
// same source wisp builds into a component, run once in one Node.js process
// that keeps its state between requests.
//
//   node node-server.mjs APP.js [HOST:PORT]   (port 0 picks a free one)
//
// Prints `listening on http://HOST:PORT` once it accepts connections.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';

const [source, listen = '127.0.0.1:0'] = process.argv.slice(2);
if (!source) {
  console.error('usage: node node-server.mjs APP.js [HOST:PORT]');
  process.exit(2);
}

// The script registers its handler as a service worker would.
let onFetch = null;
globalThis.addEventListener = (type, listener) => {
  if (type === 'fetch') onFetch = listener;
};
vm.runInThisContext(readFileSync(source, 'utf8'), { filename: source });
if (!onFetch) {
  console.error(`${source} registered no fetch listener`);
  process.exit(1);
}

// Runs the handler on one request and resolves to its Response.
function dispatch(request) {
  return new Promise((resolve, reject) => {
    let answered = false;
    const event = {
      request,
      respondWith(response) {
        answered = true;
        Promise.resolve(response).then(resolve, reject);
      },
      waitUntil() {},
    };
    try {
      onFetch(event);
    } catch (err) {
      reject(err);
      return;
    }
    if (!answered) reject(new Error('the handler did not call respondWith'));
  });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const [host, port] = [listen.slice(0, listen.lastIndexOf(':')), Number(listen.slice(listen.lastIndexOf(':') + 1))];
const server = http.createServer(async (req, res) => {
  try {
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    const request = new Request(`http://${req.headers.host ?? listen}${req.url}`, {
      method: req.method,
      headers: req.headers,
      body: hasBody ? await readBody(req) : undefined,
    });
    const response = await dispatch(request);
    const body = Buffer.from(await response.arrayBuffer());
    const headers = Object.fromEntries(response.headers);
    headers['content-length'] = body.length;
    res.writeHead(response.status, headers);
    res.end(body);
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`${err}\n`);
  }
});
server.keepAliveTimeout = 60_000;
server.listen(port, host, () => {
  const a = server.address();
  console.log(`listening on http://${a.address}:${a.port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
