"""HTTP plumbing: request and response objects, a small router and the threaded server.

Why hand-rolled: the emulator stands in for other companies' servers, so it must not share a framework
(or any code) with the shop it is tested against. The standard library's http.server is enough for a
few JSON endpoints and two HTML pages, and keeps the process quick to start in tests.
"""
from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("emulator")

# Deeper request JSON is refused as unparsable. Why a limit at all: json.loads raises RecursionError (not
# ValueError) past about a thousand levels, and a document just below that still overflows the recursive
# code that reads it afterwards (schema validation, copies); no provider body comes near 100 levels.
MAX_JSON_DEPTH = 100


def parse_json(body: bytes | str, **options: Any) -> Any:
    """A request body's JSON, as `json.loads(body, **options)`; anything that cannot be parsed raises
    ValueError (invalid JSON, invalid UTF-8, nesting beyond MAX_JSON_DEPTH), so every caller's `except
    ValueError` turns it into its provider's 400 instead of a crash."""
    try:
        data = json.loads(body, **options)
    except RecursionError:
        raise ValueError(f"Maximum nesting depth of {MAX_JSON_DEPTH} exceeded") from None
    stack = [(data, 1)]
    while stack:  # iterative: the check itself must not recurse
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > MAX_JSON_DEPTH:
                    raise ValueError(f"Maximum nesting depth of {MAX_JSON_DEPTH} exceeded")
                stack.append((child, depth + 1))
    return data


class HTTPError(Exception):
    """Raised by handlers to answer with an error body; the dispatcher turns it into a Response."""

    def __init__(self, status: int, payload: Any, headers: dict[str, str] | None = None):
        super().__init__(status, payload)
        self.status = status
        self.payload = payload
        self.headers = headers or {}

    def response(self) -> "Response":
        return json_response(self.payload, self.status, self.headers)


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload).encode()
    return Response(status, body, {"Content-Type": "application/json", **(headers or {})})


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists, strings, numbers, booleans, None), as copy.deepcopy makes
    one. Why not deepcopy: it keeps a memo and dispatches on every type, which made copying an order's lines
    a third of the emulator's CPU per token charge; JSON values share no references and have no cycles, so
    neither is needed. Anything else (a tuple, a datetime) is returned as it is."""
    if isinstance(value, dict):
        return {key: json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_copy(item) for item in value]
    return value


def html_response(html: str, status: int = 200) -> Response:
    return Response(status, html.encode(), {"Content-Type": "text/html; charset=utf-8"})


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # keys lower-cased: header names are case-insensitive
    body: bytes
    client: str = ""
    params: dict[str, str] = field(default_factory=dict)
    route: "Route | None" = None

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def args(self, name: str) -> list[str]:
        return [v for v in self.query.get(name, []) if v != ""]

    @property
    def content_type(self) -> str:
        return (self.header("content-type") or "").split(";")[0].strip().lower()

    @property
    def is_form(self) -> bool:
        """A form body (urlencoded or multipart): every value arrives as a string, so the validator coerces."""
        return self.content_type in FORM_TYPES

    def data(self) -> Any:
        """The body as a provider API would parse it: JSON, a urlencoded form or multipart/form-data, as
        Django REST Framework's default parsers do (DRF-style errors)."""
        if not self.body.strip():
            return {}
        ctype = self.content_type
        if ctype == "application/x-www-form-urlencoded":
            form = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
            return {k: v[0] if len(v) == 1 else v for k, v in form.items()}
        if ctype == "multipart/form-data":
            return _multipart(self.header("content-type") or "", self.body)
        if ctype not in ("", "application/json") and not ctype.endswith("+json"):
            raise HTTPError(415, {"detail": f'Unsupported media type "{ctype}" in request.'})
        try:
            return parse_json(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise HTTPError(400, {"detail": f"JSON parse error - {exc}"}) from None

    def json_object(self) -> dict:
        """A JSON object body for the control API (no form support, no provider error style needed)."""
        if not self.body.strip():
            return {}
        try:
            data = parse_json(self.body)  # whatever the Content-Type: curl users forget to set it
        except (ValueError, UnicodeDecodeError) as exc:
            raise HTTPError(400, {"detail": f"JSON parse error - {exc}"}) from None
        if not isinstance(data, dict):
            raise HTTPError(400, {"detail": "Expected a JSON object."})
        return data


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """Fields of a multipart/form-data body, one value or a list per name (a file part counts by its text).
    A body the MIME parser cannot split is a DRF parse error (400)."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    if not message.is_multipart():
        raise HTTPError(400, {"detail": "Multipart form parse error - Invalid boundary in multipart: None"})
    fields: dict[str, list[str]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        fields.setdefault(str(name), []).append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return {k: v[0] if len(v) == 1 else v for k, v in fields.items()}


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    regex: re.Pattern
    handler: Handler
    provider: str | None  # None for the control API
    kind: str  # "api" (faults and latency apply), "page" (hosted pages) or "control"


class MethodNotAllowed(HTTPError):
    """The path exists with other methods: 405 with `Allow`. `route` is one route of that path, so the
    dispatcher knows whose path it is and can answer in that provider's error shape."""

    def __init__(self, method: str, allowed: list[str], route: Route):
        super().__init__(405, {"detail": f'Method "{method}" not allowed.'}, {"Allow": ", ".join(allowed)})
        self.route = route
        self.allowed = allowed


class NotFound(HTTPError):
    """No route serves the path: DRF's 404 unless the provider whose prefix it is answers in its own shape
    (the app asks the providers' `not_found` hooks)."""

    def __init__(self) -> None:
        super().__init__(404, {"detail": "Not found."})


class Router:
    """Maps (method, path) to handlers; `<name>` in a pattern captures one path segment."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Handler, *, provider: str | None = None,
            kind: str = "api") -> None:
        regex = re.compile("^" + re.sub(r"<(\w+)>", r"(?P<\1>[^/]+)", pattern) + "$")
        self.routes.append(Route(method.upper(), pattern, regex, handler, provider, kind))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route for (method, path); `MethodNotAllowed` when only other methods serve the path (any
        verb, OPTIONS and TRACE included: no provider API here answers them), 404 when none does."""
        same_path: list[Route] = []
        for route in self.routes:
            found = route.regex.match(path)
            if not found:
                continue
            if route.method == method:
                return route, found.groupdict()
            same_path.append(route)
        if same_path:
            raise MethodNotAllowed(method, sorted({r.method for r in same_path}), same_path[0])
        raise NotFound()


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: benchmarks reuse connections like a real client would
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms delayed-ACK stalls

    def _handle(self) -> None:
        started = time.monotonic()
        parts = urlsplit(self.path)
        body = self._read_body()
        if body is None:
            return
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            client=self.client_address[0],
        )
        response = self.server.app.handle(request)
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. a timeout fault): nothing left to tell it, but say so in the log.
            log.debug("client %s left before the answer", request.client)
        # One line per request; the path only (no query, headers or body): those may carry personal data.
        log.info('%s "%s %s" %s %.1fms', request.client, request.method, request.path,
                 response.status, (time.monotonic() - started) * 1000)

    def _skip_trailers(self) -> None:
        """Trailer fields after the last chunk carry nothing the emulator reads; they end at a blank line."""
        line = self.rfile.readline(65537)
        while line not in (b"\r\n", b"\n", b""):
            line = self.rfile.readline(65537)

    def _read_body(self) -> bytes | None:
        """The request body by Content-Length, or de-chunked (`Transfer-Encoding: chunked`, which some clients
        use for streamed bodies): an unread chunked body would be parsed as the next request on this
        keep-alive connection. None after answering 400 to a body that cannot be framed."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            try:
                while True:
                    size = int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self._skip_trailers()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline(65537)  # CRLF after the chunk
            except ValueError:
                self.close_connection = True
                self.send_error(400, "Bad chunked body")
                return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            self.send_error(400, "Bad Content-Length")
            return None
        return self.rfile.read(length) if length > 0 else b""

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_TRACE = _handle

    def __getattr__(self, name: str) -> Any:
        """Any other verb (`do_PROPFIND`, ...) reaches the router too, which answers 405 or 404, instead
        of the standard library's 501 HTML page that no provider sends."""
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silenced: _handle writes the one line per request, without the query string."""


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # bursts from rate-limit tests and benchmarks must not be refused
    app: Any = None


def make_server(host: str, port: int) -> EmulatorHTTPServer:
    """Bind first (port 0 picks a free one); the caller attaches `.app` before serving."""
    return EmulatorHTTPServer((host, port), _RequestHandler)
