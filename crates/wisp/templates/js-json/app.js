// {{name}}: an action in JavaScript in OpenWhisk's style: main(params) returns
// the result, a JSON object (or a promise of one). `wisp build` turns this file
// into a wasi:http component with componentize-js.
//
//   wisp invoke {{name}} --param name=edge     {"greeting":"Hello, edge!"}
//   curl 'SERVER/fn/{{name}}/?name=web'        {"greeting":"Hello, web!"}

function main(params) {
  const name = params.name ?? 'world';
  return { greeting: `Hello, ${name}!` };
}

// The glue between wisp and main(); change main() above, not this.
//
// API calls arrive as a POST of the parameters, a JSON object, to `/`. Web
// calls (/fn/{{name}}/...) carry the x-wisp-route-prefix header: their query
// parameters and a JSON object body become the parameters, with __ow_method
// and __ow_path as in OpenWhisk's web actions, and a result with `body` or
// `statusCode` is the HTTP response itself (status, headers, body).
// A main() that throws answers {"error": message}, an application error.

addEventListener('fetch', (event) => event.respondWith(serve(event.request)));

async function serve(request) {
  const web = request.headers.has('x-wisp-route-prefix');
  const params = {};
  if (web) {
    const url = new URL(request.url);
    for (const [key, value] of url.searchParams) params[key] = value;
    params.__ow_method = request.method.toLowerCase();
    params.__ow_path = url.pathname;
  }
  const text = await request.text();
  if (text !== '') {
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (isObject(body)) {
      Object.assign(params, body);
    } else if (web) {
      params.__ow_body = text;
    } else {
      return json(400, { error: 'the parameters must be a JSON object' });
    }
  }
  let result;
  try {
    result = await main(params);
  } catch (e) {
    return json(500, { error: String(e?.message ?? e) });
  }
  if (web && isObject(result) && ('body' in result || 'statusCode' in result)) {
    const headers = { ...(result.headers ?? {}) };
    let body = result.body ?? '';
    if (typeof body !== 'string') {
      body = JSON.stringify(body);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
        headers['content-type'] = 'application/json';
      }
    }
    return new Response(body, { status: result.statusCode ?? 200, headers });
  }
  return json(200, result ?? {});
}

function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function json(status, value) {
  return new Response(JSON.stringify(value) + '\n', {
    status,
    headers: { 'content-type': 'application/json' },
  });
}
