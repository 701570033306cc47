"""{{name}}: a wasi:http function in Python.

`wisp build` turns this file into a component with componentize-py; every
call runs in a fresh instance.

  GET  /any/path?x=1   a greeting that names the path it was asked for
  POST /any/path       the request body back, with its content type

An API call (`wisp invoke {{name}} --param name=edge`) is a POST of the
parameters as JSON to `/`, and the response body is its result: here, the
parameters back.

The `wit_world` package is generated from the wasi:http WIT when the
component is built.
"""

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports.types import (
    Fields,
    IncomingBody,
    IncomingRequest,
    Method_Post,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        if isinstance(request.method(), Method_Post):
            content_type = header(request, "content-type") or "application/octet-stream"
            respond(response_out, 200, content_type, read_body(request))
            return
        path = request.path_with_query() or "/"
        text = f"Hello from {{name}}! You asked for {method_name(request)} {path}\n"
        respond(response_out, 200, "text/plain; charset=utf-8", text.encode())


def method_name(request: IncomingRequest) -> str:
    method = request.method()
    value = getattr(method, "value", None)
    if isinstance(value, str):
        return value
    return type(method).__name__.removeprefix("Method_").upper()


def header(request: IncomingRequest, name: str) -> str | None:
    values = request.headers().get(name)
    return values[0].decode() if values else None


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


def respond(response_out: ResponseOutparam, status: int, content_type: str, data: bytes) -> None:
    response = OutgoingResponse(Fields.from_list([("content-type", content_type.encode())]))
    response.set_status_code(status)
    body = response.body()
    ResponseOutparam.set(response_out, Ok(response))
    with body.write() as stream:
        for start in range(0, len(data), 4096):
            stream.blocking_write_and_flush(data[start : start + 4096])
    OutgoingBody.finish(body, None)
