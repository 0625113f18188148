"""The v2 envelope every Klarna Network call shares: Basic auth, `Klarna-Correlation-Id`, the v2 error
body `{error_id, error_type, error_code, error_message, validation_errors?}` (reference §1), JSON parsing
and `Klarna-Idempotency-Key` (the v1 package's store: duplicate keys replay the first answer for 24 h).

Handlers raise `V2Error` and return their success answer; everything around them is decided here once,
including the error shape of fault answers the handlers never saw (`finish_response`). `endpoint` is the
`wrap` every `*_api.py` route table is registered with (`emulator.routes.register_routes`, README "Adding a
provider"), its one option being "this operation honours `Klarna-Idempotency-Key`".
"""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Callable
from urllib.parse import unquote

from ..klarna.idempotency import answer_once
from ..server import Request, Response, json_response, parse_json

if TYPE_CHECKING:
    from .provider import KlarnaGlobalProvider

BASE = "/klarna-global"  # every route of the provider, API and journey page alike
CORRELATION_HEADER = "Klarna-Correlation-Id"
TYPES = {400: "INPUT_ERROR", 401: "ACCESS_ERROR", 403: "ACCESS_ERROR", 404: "RESOURCE_ERROR",
         405: "INPUT_ERROR", 409: "RESOURCE_ERROR", 415: "INPUT_ERROR", 429: "ACCESS_ERROR"}
CODES = {401: "UNAUTHORIZED", 403: "OPERATION_FORBIDDEN", 404: "RESOURCE_NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
         409: "RESOURCE_CONFLICT", 429: "RATE_LIMITED", 500: "INTERNAL_ERROR", 502: "INTERNAL_ERROR", 503: "INTERNAL_ERROR",
         504: "INTERNAL_ERROR"}


class V2Error(Exception):
    def __init__(self, status: int, code: str, message: str, validation: list[dict] | None = None) -> None:
        super().__init__(status, code, message)
        self.status, self.code, self.message, self.validation = status, code, message, validation or []

    def response(self, correlation_id: str) -> Response:
        return error_response(self.status, self.code, self.message, correlation_id, self.validation)


def error_response(status: int, code: str, message: str, correlation_id: str,
                   validation: list[dict] | None = None, headers: dict | None = None) -> Response:
    body = {"error_id": str(uuid.uuid4()), "error_type": TYPES.get(status, "TECHNICAL_ERROR"),
            "error_code": code, "error_message": message}
    if validation:
        body["validation_errors"] = validation
    return json_response(body, status, {CORRELATION_HEADER: correlation_id, **(headers or {})})


def invalid(*problems: tuple[str, str]) -> V2Error:
    """400 VALIDATION_ERROR naming each (parameter, reason)."""
    return V2Error(400, "VALIDATION_ERROR", "Request validation failed",
                   [{"parameter": p, "reason": r} for p, r in problems])


def not_found(what: str) -> V2Error:
    return V2Error(404, "RESOURCE_NOT_FOUND", f"{what} not found")


def param(request: Request, name: str) -> str:
    """A path segment as sent (the shop percent-encodes the colons of krn ids)."""
    return unquote(request.params[name])


def json_body(request: Request) -> dict:
    if request.content_type not in ("", "application/json"):
        raise V2Error(415, "INVALID_CONTENT_TYPE", "Content-Type must be application/json")
    if not request.body.strip():
        return {}
    try:
        data = parse_json(request.body)
    except (ValueError, UnicodeDecodeError):
        raise invalid(("body", "not valid JSON")) from None
    if not isinstance(data, dict):
        raise invalid(("body", "must be a JSON object"))
    return data


def endpoint(provider: "KlarnaGlobalProvider", handler: Callable, idempotent: bool = False) -> Callable:
    """Authenticate (401 in the v2 body), check the account in the path, then run the handler under the
    idempotency key when the operation honours one (the route table's option: only the creating calls,
    authorize and the notification registry's POSTs, do at Klarna)."""

    def guarded(request: Request) -> Response:
        correlation_id = str(uuid.uuid4())
        if not provider.authenticated(request):
            return error_response(401, "UNAUTHORIZED", "Missing or invalid API key", correlation_id)
        account = request.params.get("account")
        if account is not None and unquote(account) != provider.setting("partner_account_id"):
            return error_response(403, "OPERATION_FORBIDDEN", "The API key is not valid for this account",
                                  correlation_id)

        def produce() -> Response:
            try:
                response = handler(provider, request)
            except V2Error as exc:
                response = exc.response(correlation_id)
            response.headers.setdefault(CORRELATION_HEADER, correlation_id)
            return response

        conflict = V2Error(409, "RESOURCE_CONFLICT", "Idempotency key was already used with another request")
        return answer_once(provider, request, produce, lambda: conflict.response(correlation_id),
                           idempotent=idempotent)

    return guarded


def not_found_response(request: Request) -> Response:
    """A path under `/klarna-global/` that no route serves: the v2 RESOURCE_NOT_FOUND body."""
    return error_response(404, "RESOURCE_NOT_FOUND", "Resource not found", str(uuid.uuid4()))


def finish_response(request: Request, response: Response) -> Response:
    """Fault and crash answers get a correlation id and the v2 error body."""
    if CORRELATION_HEADER in response.headers:
        return response
    correlation_id = str(uuid.uuid4())
    route = request.route
    if response.status < 400 or route is None or route.kind != "api":
        response.headers[CORRELATION_HEADER] = correlation_id
        return response
    kept = {k: v for k, v in response.headers.items() if k.lower() in ("retry-after", "allow")}
    if response.status == 405:  # a verb the path does not serve (the router's answer): a client error
        message = f"Method {request.method} is not allowed on this resource"
    else:
        message = "Temporary error" if response.status >= 500 else "Error"
    return error_response(response.status, CODES.get(response.status, "INTERNAL_ERROR"), message, correlation_id,
                          headers=kept)
