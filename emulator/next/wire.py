"""The envelope of every 29 Next Admin API call: API version header, bearer token, throttle, then the
handler; errors are Django REST Framework-shaped (`{"detail": ...}`).

Why this order: Django REST Framework, which 29 Next's spec comes from, determines the API version, then
authenticates, then throttles, and only then parses and validates the body; the emulator keeps that order
so the shop sees the same error for the same mistake. `endpoint` is the `wrap` every `*_api.py` route
table is registered with (`emulator.routes.register_routes`), its option being the spec's operationId.
"""
from __future__ import annotations

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
        version = request.header(VERSION_HEADER)
        if not version:
            raise HTTPError(400, {"detail": f"Missing required header {VERSION_HEADER}."})
        if version not in provider.api_versions(operation_id):
            raise HTTPError(400, {"detail": f"Unsupported API version '{version}'."})
        token = _authenticate(provider, request)
        if provider.setting("rate_limit") and not provider.limiter.allow(token):
            return throttled_response()
        return handler(provider, request)
    return guarded


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
