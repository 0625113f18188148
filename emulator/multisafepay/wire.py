"""The envelope every `/multisafepay/v1/json/` call shares: the API key, the `success`/`data` body,
MultiSafepay's error codes, and the same shape for fault and crash answers the handlers never saw.

Why here, once: MultiSafepay answers every call with `{"success": true, "data": ...}` or
`{"success": false, "data": {}, "error_code", "error_info"}` (reference notes §2), so handlers only raise
`MSPError` and return `ok(data)`. `endpoint` is the `wrap` every `*_api.py` route table is registered with
(`emulator.routes.register_routes`, README "Adding a provider"); it passes the caller's API key on to the
handler, because notifications are signed with the key that created the order.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable

from ..server import Request, Response, json_response, parse_json

if TYPE_CHECKING:
    from .provider import MultiSafepayProvider

BASE = "/multisafepay/v1/json"
Handler = Callable[["MultiSafepayProvider", Request, str], Response]


class MSPError(Exception):
    """A MultiSafepay error answer. HTTP statuses are not documented reliably: we answer 400 for a refused
    request, 401 for a bad key, 404 for an unknown order (the spec's GET), 5xx for faults."""

    def __init__(self, status: int, code: int, info: str) -> None:
        super().__init__(status, code, info)
        self.status, self.code, self.info = status, code, info

    def response(self) -> Response:
        return error_response(self.status, self.code, self.info)


def error_response(status: int, code: int, info: str, headers: dict | None = None) -> Response:
    return json_response({"success": False, "data": {}, "error_code": code, "error_info": info}, status, headers)


def ok(data: Any) -> Response:
    return json_response({"success": True, "data": data})


def api_key(provider: "MultiSafepayProvider", request: Request) -> str | None:
    """The accepted key from the `api_key` header, the `api_key` query parameter or a Bearer token
    (the three ways the docs and SDKs send it), else None."""
    scheme, _, bearer = (request.header("authorization") or "").partition(" ")
    candidates = [request.header("api_key"), request.arg("api_key"),
                  bearer.strip() if scheme.lower() == "bearer" else None]
    for candidate in candidates:
        if candidate and candidate.strip() in provider.api_keys:
            return candidate.strip()
    return None


def endpoint(provider: "MultiSafepayProvider", handler: Handler) -> Callable[[Request], Response]:
    """Authenticate (1032, HTTP 401), then run the handler with the caller's API key, turning MSPError
    into the error envelope."""

    def guarded(request: Request) -> Response:
        key = api_key(provider, request)
        if key is None:
            return error_response(401, 1032, "Invalid API key")
        try:
            return handler(provider, request, key)
        except MSPError as exc:
            return exc.response()

    return guarded


def json_body(request: Request, **options: Any) -> Any:
    """The request's JSON (numbers as Decimal with `parse_float=Decimal`); not JSON → 1000."""
    if not request.body.strip():
        return {}
    try:
        data = parse_json(request.body, **options)
    except (ValueError, UnicodeDecodeError):
        raise MSPError(400, 1000, "Invalid JSON in request body") from None
    if not isinstance(data, dict):
        raise MSPError(400, 1000, "Request body must be a JSON object")
    return data


def not_found_response(request: Request) -> Response:
    """A path under `/multisafepay/` that no route serves: the error envelope, code 1000 (MSP's "not
    found" code, as its PATCH of an unknown order answers)."""
    return error_response(404, 1000, "Not found")


def finish_response(request: Request, response: Response) -> Response:
    """Faults from the control API and emulator crashes answer in MultiSafepay's error envelope (5xx:
    9999 Unknown error; 429: 1000 Too many requests, `Retry-After` kept); answers already in it pass."""
    route = request.route
    if response.status < 400 or route is None or route.kind != "api":
        return response
    try:
        if json.loads(response.body).get("success") is False:
            return response
    except (ValueError, AttributeError):
        pass
    info = "Too many requests" if response.status == 429 else "Unknown error"
    retry = {k: v for k, v in response.headers.items() if k.lower() == "retry-after"}
    return error_response(response.status, 9999 if response.status >= 500 else 1000, info, retry)
