"""The `multisafepay` provider object and the envelope every `/multisafepay/v1/json/` call shares.

Why one object: routes, the hosted page, the control API, the clock job and the notification sender need
the same few things (spec schemas, accepted API keys, settings, state); `reset()` is what
`POST /_emulator/reset` calls. Why one wrapper (`endpoint`): MultiSafepay answers every call with
`{"success": true, "data": ...}` or `{"success": false, "data": {}, "error_code", "error_info"}`
(reference notes §2), so handlers only raise `MSPError` and return their `data`.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from ..app import Emulator
from ..config import env_flag
from ..schema import Validator
from ..server import Request, Response, json_response
from .schemas import load_request_schemas
from .state import MultiSafepayState

BASE = "/multisafepay/v1/json"
DEFAULT_API_KEYS = "msp-emulator-api-key"


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


class MultiSafepayProvider:
    name = "multisafepay"

    def __init__(self, app: Emulator, env: Mapping[str, str] = os.environ) -> None:
        self.app = app
        self.schemas = load_request_schemas()
        self.spec_loaded = self.schemas is not None
        self.validator = Validator({}, coerce=True)  # MSP's own examples send "10000" and "false" as strings
        keys = env.get("EMULATOR_MULTISAFEPAY_API_KEYS") or DEFAULT_API_KEYS
        self.api_keys = {key.strip() for key in keys.split(",") if key.strip()}
        self.state = MultiSafepayState()
        app.config.register("multisafepay", {
            "notifications_sync": env_flag(env.get("EMULATOR_WEBHOOKS_SYNC"), False),
            "notification_url": env.get("EMULATOR_MULTISAFEPAY_NOTIFICATION_URL") or "",  # the site-level URL
            "payment_days": 1,  # Klarna: an order not paid within a day expires
            "ship_days": 28,  # Klarna: an authorised order not shipped within 28 days expires
        })

    def reset(self) -> None:
        self.state.reset()

    # --- time, URLs, settings -------------------------------------------------------------
    def now(self) -> datetime:
        return self.app.clock.now()

    @staticmethod
    def local(moment: datetime | None) -> str | None:
        """MSP's timestamps: `YYYY-MM-DDTHH:MM:SS`, no zone (theirs are Amsterdam time; ours are UTC)."""
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") if moment else None

    @property
    def public_url(self) -> str:
        return self.app.public_url

    def setting(self, key: str) -> Any:
        return self.app.config.get("multisafepay", key)

    # --- authentication ---------------------------------------------------------------------
    def api_key(self, request: Request) -> str | None:
        """The accepted key from the `api_key` header, the `api_key` query parameter or a Bearer token
        (the three ways the docs and SDKs send it), else None."""
        scheme, _, bearer = (request.header("authorization") or "").partition(" ")
        candidates = [request.header("api_key"), request.arg("api_key"),
                      bearer.strip() if scheme.lower() == "bearer" else None]
        for candidate in candidates:
            if candidate and candidate.strip() in self.api_keys:
                return candidate.strip()
        return None

    def finish_response(self, request: Request, response: Response) -> Response:
        """Faults from the control API and emulator crashes answer in MultiSafepay's error envelope."""
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


Handler = Callable[[MultiSafepayProvider, Request, str], Response]


def endpoint(provider: MultiSafepayProvider, handler: Handler) -> Callable[[Request], Response]:
    """Authenticate (1032, HTTP 401), then run the handler with the caller's API key (notifications are
    signed with the key that created the order), turning MSPError into the error envelope."""

    def guarded(request: Request) -> Response:
        key = provider.api_key(request)
        if key is None:
            return error_response(401, 1032, "Invalid API key")
        try:
            return handler(provider, request, key)
        except MSPError as exc:
            return exc.response()

    return guarded


def register_routes(provider: MultiSafepayProvider, routes) -> None:
    for method, path, handler in routes:
        provider.app.router.add(method, BASE + path, endpoint(provider, handler), provider=provider.name)


def json_body(request: Request, **options: Any) -> Any:
    """The request's JSON (numbers as Decimal with `parse_float=Decimal`); not JSON → 1000."""
    if not request.body.strip():
        return {}
    try:
        data = json.loads(request.body, **options)
    except (ValueError, UnicodeDecodeError):
        raise MSPError(400, 1000, "Invalid JSON in request body") from None
    if not isinstance(data, dict):
        raise MSPError(400, 1000, "Request body must be a JSON object")
    return data
