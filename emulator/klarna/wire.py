"""The envelope every Klarna API call shares: Basic auth, `Klarna-Correlation-Id`, the error body
`{"error_code", "error_messages", "correlation_id"}`, JSON parsing, spec validation and idempotency.

Why one wrapper: Klarna's three APIs (Payments, Customer Token, Order Management) answer errors the same
way (reference §2), so handlers only raise `KlarnaError(status, code, message)` and return their success
answer; everything around it is decided here, once.
"""
from __future__ import annotations

import re
import uuid
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Callable

from ..server import Request, Response, json_response, parse_json
from .idempotency import answer_once

if TYPE_CHECKING:
    from .provider import KlarnaProvider

CORRELATION_HEADER = "Klarna-Correlation-Id"
Handler = Callable[["KlarnaProvider", Request], Response]


class KlarnaError(Exception):
    """A Klarna error answer; `extra` adds ErrorV2's optional keys (fraud_status, reason, ...)."""

    def __init__(self, status: int, code: str, *messages: str, extra: dict | None = None,
                 headers: dict | None = None) -> None:
        super().__init__(status, code, messages)
        self.status, self.code, self.messages = status, code, list(messages)
        self.extra = extra or {}
        self.headers = headers or {}

    def response(self, correlation_id: str) -> Response:
        return error_response(self.status, self.code, self.messages, correlation_id, self.extra, self.headers)


def error_response(status: int, code: str, messages: list[str], correlation_id: str,
                   extra: dict | None = None, headers: dict | None = None) -> Response:
    body = {"error_code": code, "error_messages": messages, "correlation_id": correlation_id, **(extra or {})}
    return json_response(body, status, {CORRELATION_HEADER: correlation_id, **(headers or {})})


def bad_value(*fields: str) -> KlarnaError:
    return KlarnaError(400, "BAD_VALUE", *[f"Bad value: {field}" for field in fields])


def empty(status: int = 204, headers: dict | None = None) -> Response:
    return Response(status, b"", dict(headers or {}))


def endpoint(provider: "KlarnaProvider", handler: Handler, idempotent: bool = False) -> Callable:
    """The envelope of every Klarna API route (the `wrap` of `emulator.routes.register_routes`; the route
    table's option says whether the operation honours `Klarna-Idempotency-Key`). Wrap a handler: authenticate (401, empty body), then run it under the idempotency key if the
    operation honours one, turning `KlarnaError` into Klarna's error body with this call's correlation id."""

    def guarded(request: Request) -> Response:
        correlation_id = str(uuid.uuid4())
        if not provider.authenticated(request):
            return empty(401, {CORRELATION_HEADER: correlation_id})

        def produce() -> Response:
            try:
                response = handler(provider, request)
            except KlarnaError as exc:
                response = exc.response(correlation_id)
            response.headers.setdefault(CORRELATION_HEADER, correlation_id)
            return response

        conflict = KlarnaError(409, "CONFLICT", "Idempotency key was already used with a different request body")
        return answer_once(provider, request, produce, lambda: conflict.response(correlation_id),
                           idempotent=idempotent)

    return guarded


def json_body(request: Request) -> dict:
    """The JSON object a Klarna call carries ({} when empty); anything else is a BAD_REQUEST."""
    if not request.body.strip():
        return {}
    try:
        data = parse_json(request.body)
    except (ValueError, UnicodeDecodeError):
        raise KlarnaError(400, "BAD_REQUEST", "Invalid JSON in request body") from None
    if not isinstance(data, dict):
        raise KlarnaError(400, "BAD_REQUEST", "Request body must be a JSON object")
    return data


def validated(provider: "KlarnaProvider", api: str, schema_name: str, data: dict) -> dict:
    """Check `data` against the spec schema; errors become one `Bad value: <field path>` message per field."""
    cleaned, errors = provider.validator(api).validate(provider.schema(api, schema_name), data)
    if errors:
        raise bad_value(*error_fields(errors))
    return cleaned


def error_fields(errors: Any, prefix: str = "") -> list[str]:
    """Flatten the validator's DRF-shaped error tree into Klarna's paths: `order_lines[0].total_amount`."""
    if isinstance(errors, dict):
        fields: list[str] = []
        for key, value in errors.items():
            if key == "non_field_errors":
                fields.extend(error_fields(value, prefix))
            elif re.fullmatch(r"\d+", str(key)):  # list of scalars: {"0": [...]}
                fields.extend(error_fields(value, f"{prefix}[{key}]"))
            else:
                fields.extend(error_fields(value, f"{prefix}.{key}" if prefix else str(key)))
        return fields
    if isinstance(errors, list) and errors and not all(isinstance(e, str) for e in errors):
        fields = []
        for index, item in enumerate(errors):  # list of objects: one entry per item, {} when valid
            if item:
                fields.extend(error_fields(item, f"{prefix}[{index}]"))
        return fields
    return [prefix or "body"]


def not_found_response(request: Request) -> Response:
    """A path under `/klarna/` that no route serves: Klarna's 404 body with a fresh correlation id."""
    return error_response(404, "NOT_FOUND", ["Resource not found"], str(uuid.uuid4()))


# --- answers the handlers never produced (faults, crashes) ---------------------------------------
_FOREIGN_CODES = {405: "METHOD_NOT_ALLOWED", 429: "TOO_MANY_REQUESTS", 500: "INTERNAL_SERVER_ERROR", 502: "TEMPORARILY_UNAVAILABLE",
                  503: "TEMPORARILY_UNAVAILABLE", 504: "TEMPORARILY_UNAVAILABLE"}


def finish_foreign_response(request: Request, response: Response) -> Response:
    """Give a correlation id to every answer; reshape error bodies made outside the Klarna handlers (a
    fault from the control API, an emulator crash, a 405 for a verb the path does not serve) into Klarna's
    error format, keeping `Retry-After` and `Allow`."""
    if CORRELATION_HEADER in response.headers:
        return response
    correlation_id = str(uuid.uuid4())
    route = request.route
    if response.status < 400 or route is None or route.kind != "api":
        response.headers[CORRELATION_HEADER] = correlation_id
        return response
    try:
        known = HTTPStatus(response.status)
    except ValueError:  # a fault may script any status number
        known = None
    code = _FOREIGN_CODES.get(response.status) or (known.name if known else "ERROR")
    message = "Internal error" if response.status == 500 else (known.phrase if known else "Error")
    extra_headers = {k: v for k, v in response.headers.items() if k.lower() in ("retry-after", "allow")}
    return error_response(response.status, code, [message], correlation_id, headers=extra_headers)
