"""The envelope of every 29 Next Admin API call: API version header, bearer token, throttle, then the
handler; errors are Django REST Framework-shaped (`{"detail": ...}`).

Why this order: Django REST Framework, which 29 Next's spec comes from, determines the API version, then
authenticates, then throttles, and only then parses and validates the body; the emulator keeps that order
so the shop sees the same error for the same mistake. `endpoint` is the `wrap` every `*_api.py` route
table is registered with (`emulator.routes.register_routes`), its option being the spec's operationId.
"""
from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Callable

from ..faults import throttled_response
from ..server import HTTPError, Request, Response

if TYPE_CHECKING:
    from .provider import NextProvider

BASE = "/next/api/admin"
VERSION_HEADER = "X-29next-API-Version"
Handler = Callable[["NextProvider", Request], Response]


def endpoint(provider: "NextProvider", handler: Handler, operation_id: str) -> Callable[[Request], Response]:
    def guarded(request: Request) -> Response:
        refused = admit(provider, request, provider.api_versions(operation_id))
        if refused is not None:
            return refused
        errors = filter_errors(provider.query_parameters(operation_id), request)
        if errors:
            raise HTTPError(400, errors)
        return handler(provider, request)
    return guarded


def filter_errors(parameters: dict[str, dict], request: Request) -> dict[str, list[str]]:
    """django-filter's checks on the documented filters: a value outside an enum, a non-date for a date, a
    non-number for an integer answer 400 `{name: [message]}`. Unknown parameters and empty values are
    ignored, as django-filter does; booleans it cannot read mean "no filter" (its BooleanWidget)."""
    errors: dict[str, list[str]] = {}
    for name, schema in parameters.items():
        item = schema.get("items") or {} if schema.get("type") == "array" else schema
        for value in request.args(name):
            message = _filter_error(item, value)
            if message:
                errors[name] = [message]
                break
    return errors


def _filter_error(schema: dict, value: str) -> str | None:
    enum = [v for v in schema.get("enum") or [] if v is not None]
    if enum and value not in enum:
        return f"Select a valid choice. {value} is not one of the available choices."
    if schema.get("format") == "date":
        try:
            date.fromisoformat(value)
        except ValueError:
            return "Enter a valid date."
    types = schema.get("type")
    if (types == "integer" or (isinstance(types, list) and "integer" in types)) and not re.fullmatch(r"-?\d+", value):
        return "Enter a number."
    return None


def admit(provider: "NextProvider", request: Request, versions: list[str]) -> Response | None:
    """Version header, token, throttle, in DRF's order: raises HTTPError (400, 401) or answers the 429
    response; None when the call may go on to its handler."""
    version = request.header(VERSION_HEADER)
    if not version:
        raise HTTPError(400, {"detail": f"Missing required header {VERSION_HEADER}."})
    if version not in versions:
        raise HTTPError(400, {"detail": f"Unsupported API version '{version}'."})
    token = _authenticate(provider, request)
    if provider.setting("rate_limit") and not provider.limiter.allow(token):
        return throttled_response()
    return None


def method_not_allowed(provider: "NextProvider", request: Request, allowed: list[str]) -> Response:
    """DRF checks version, token and throttle before it looks for the method's handler, so an unrouted
    verb (OPTIONS, TRACE, PUT on a list, ...) meets the same 400/401/429 first, then 405 with `Allow`."""
    refused = admit(provider, request, provider.api_versions(None))
    if refused is not None:
        return refused
    raise HTTPError(405, {"detail": f'Method "{request.method}" not allowed.'}, {"Allow": ", ".join(allowed)})


def _authenticate(provider: "NextProvider", request: Request) -> str:
    """DRF token authentication messages; answers 401 with a WWW-Authenticate challenge."""
    challenge = {"WWW-Authenticate": 'Bearer realm="api"'}
    parts = (request.header("authorization") or "").split()
    if not parts or parts[0].lower() != "bearer":
        raise HTTPError(401, {"detail": "Authentication credentials were not provided."}, challenge)
    if len(parts) == 1:
        raise HTTPError(401, {"detail": "Invalid token header. No credentials provided."}, challenge)
    if len(parts) > 2:
        raise HTTPError(401, {"detail": "Invalid token header. Token string should not contain spaces."},
                        challenge)
    if parts[1] not in provider.tokens:
        raise HTTPError(401, {"detail": "Invalid token."}, challenge)
    return parts[1]
