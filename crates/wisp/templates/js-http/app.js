// {{name}}: a wasi:http function in JavaScript. `wisp build` turns this file
// into a component with componentize-js; every call runs in a fresh instance.
//
//   GET  /any/path?x=1   a greeting that names the path it was asked for
//   POST /any/path       the request body back, with its content type
//
// An API call (`wisp invoke {{name}} --param name=edge`) is a POST of the
// parameters as JSON to `/`, and the response body is its result: here, the
// parameters back.

addEventListener('fetch', (event) => event.respondWith(handle(event.request)));

async function handle(request) {
  if (request.method === 'POST') {
    const type = request.headers.get('content-type') ?? 'application/octet-stream';
    return new Response(await request.arrayBuffer(), { headers: { 'content-type': type } });
  }
  const url = new URL(request.url);
  const text = `Hello from {{name}}! You asked for ${request.method} ${url.pathname}${url.search}\n`;
  return new Response(text, { headers: { 'content-type': 'text/plain; charset=utf-8' } });
}
