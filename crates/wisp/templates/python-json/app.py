"""{{name}}: an action in Python in OpenWhisk's style: main(params) returns the
result, a JSON object. `wisp build` turns this file into a wasi:http component
with componentize-py.

  wisp invoke {{name}} --param name=edge     {"greeting": "Hello, edge!"}
  curl 'SERVER/fn/{{name}}/?name=web'        {"greeting": "Hello, web!"}
"""


def main(params: dict) -> dict:
    name = params.get("name", "world")
    return {"greeting": f"Hello, {name}!"}


# The glue between wisp and main(); change main() above, not this.
#
# API calls arrive as a POST of the parameters, a JSON object, to `/`. Web
# calls (/fn/{{name}}/...) carry the x-wisp-route-prefix header: their query
# parameters and a JSON object body become the parameters, with __ow_method
# and __ow_path as in OpenWhisk's web actions, and a result with "body" or
# "statusCode" is the HTTP response itself (status, headers, body).
# A main() that raises answers {"error": message}, an application error.

import json  # noqa: E402
from urllib.parse import parse_qsl, urlsplit  # noqa: E402

from componentize_py_types import Err, Ok  # noqa: E402
from wit_world import exports  # noqa: E402
from wit_world.imports.types import (  # noqa: E402
    Fields,
    IncomingBody,
    IncomingRequest,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        status, headers, body = serve(request)
        respond(response_out, status, headers, body)


def serve(request: IncomingRequest) -> tuple[int, dict, bytes]:
    web = bool(request.headers().get("x-wisp-route-prefix"))
    params: dict = {}
    if web:
        url = urlsplit(request.path_with_query() or "/")
        params.update(parse_qsl(url.query, keep_blank_values=True))
        params["__ow_method"] = method_name(request).lower()
        params["__ow_path"] = url.path
    text = read_body(request).decode("utf-8", "replace")
    if text:
        try:
            given = json.loads(text)
        except ValueError:
            given = None
        if isinstance(given, dict):
            params.update(given)
        elif web:
            params["__ow_body"] = text
        else:
            return as_json(400, {"error": "the parameters must be a JSON object"})
    try:
        result = main(params)
    except Exception as e:  # noqa: BLE001 - any failure of main() is the action's error
        return as_json(500, {"error": str(e) or type(e).__name__})
    if web and isinstance(result, dict) and ("body" in result or "statusCode" in result):
        headers = dict(result.get("headers") or {})
        body = result.get("body", "")
        if not isinstance(body, str):
            body = json.dumps(body)
            if not any(h.lower() == "content-type" for h in headers):
                headers["content-type"] = "application/json"
        return int(result.get("statusCode", 200)), headers, body.encode()
    return as_json(200, {} if result is None else result)


def as_json(status: int, value) -> tuple[int, dict, bytes]:
    return status, {"content-type": "application/json"}, (json.dumps(value) + "\n").encode()


def method_name(request: IncomingRequest) -> str:
    method = request.method()
    value = getattr(method, "value", None)
    if isinstance(value, str):
        return value
    return type(method).__name__.removeprefix("Method_").upper()


def read_body(request: IncomingRequest) -> bytes:
    body = request.consume()
    chunks = []
    with body.stream() as stream:
        while True:
            try:
                chunks.append(stream.blocking_read(64 * 1024))
            except Err:
                break  # the end of the body
    IncomingBody.finish(body)
    return b"".join(chunks)


def respond(response_out: ResponseOutparam, status: int, headers: dict, data: bytes) -> None:
    fields = Fields.from_list([(k, str(v).encode()) for k, v in headers.items()])
    response = OutgoingResponse(fields)
    response.set_status_code(status)
    body = response.body()
    ResponseOutparam.set(response_out, Ok(response))
    with body.write() as stream:
        for start in range(0, len(data), 4096):
            stream.blocking_write_and_flush(data[start : start + 4096])
    OutgoingBody.finish(body, None)
