"""The `klarna_global` provider object (Klarna Payment Authorize v2 under `/klarna-global/`): settings,
credentials, state and the idempotency store, passed to every handler.

Shared with the v1 package (`emulator/klarna/`): Basic authentication with a raw API key and the
`Klarna-Idempotency-Key` store, which behave the same across Klarna's APIs. `reset()` is what
`POST /_emulator/reset` calls.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

from ..app import Emulator
from ..config import env_flag
from ..klarna.idempotency import IdempotencyStore
from ..klarna.provider import DEFAULT_API_KEYS, KlarnaProvider
from ..server import Request, Response
from ..webhooks import Outbound
from .state import GlobalState
from .wire import BASE, finish_response, not_found_response

PARTNER_ACCOUNT_ID = "krn:partner:global:account:test:EMULATOR"
SIGNING_KEY = "emulator-klarna-signing-key"
SIGNING_KEY_ID = "krn:partner:global:notification:signing-key:emulator"
REQUEST_LIFETIME_SECONDS = 3 * 3600  # default payment request lifetime (§2, §5)
SESSION_TOKEN_SECONDS = 3600  # the network session token is valid for one hour (§6)


class KlarnaGlobalProvider:
    name = "klarna_global"
    path_prefix = BASE  # an unknown path under it answers the v2 404 (not_found)
    spec_loaded = False  # there is no official OpenAPI document for v2 (reference: gaps)

    def __init__(self, app: Emulator, env: Mapping[str, str] = os.environ) -> None:
        self.app = app
        self.credentials: set[str] = set()
        api_keys = env.get("EMULATOR_KLARNA_GLOBAL_API_KEYS") or DEFAULT_API_KEYS
        self.api_keys = {k.strip() for k in api_keys.split(",") if k.strip()}
        self.state = GlobalState()
        self.idempotency = IdempotencyStore(self.now)
        app.config.register("klarna_global", {
            "partner_account_id": env.get("EMULATOR_KLARNA_GLOBAL_ACCOUNT") or PARTNER_ACCOUNT_ID,
            "webhook_target": env.get("EMULATOR_KLARNA_GLOBAL_WEBHOOK_TARGET") or "",
            "signing_key": env.get("EMULATOR_KLARNA_GLOBAL_SIGNING_KEY") or SIGNING_KEY,
            "webhooks_sync": env_flag(env.get("EMULATOR_WEBHOOKS_SYNC"), False),
            "request_lifetime_seconds": REQUEST_LIFETIME_SECONDS,
            "session_token_seconds": SESSION_TOKEN_SECONDS,
            "idempotency_body_check": False,
        })

    # Same rules as Klarna v1: `Basic <API key>` raw or base64-encoded.
    authenticated = KlarnaProvider.authenticated

    # Same state reset, clock and timestamp format as Klarna v1.
    reset = KlarnaProvider.reset
    now = KlarnaProvider.now
    iso = staticmethod(KlarnaProvider.iso)

    @property
    def base_url(self) -> str:
        return self.app.public_url + BASE

    def setting(self, key: str) -> Any:
        return self.app.config.get("klarna_global", key)

    def send(self, outbounds: list[Outbound]) -> None:
        if outbounds:
            self.app.webhooks.send(outbounds, sync=self.setting("webhooks_sync"))

    def finish_response(self, request: Request, response: Response) -> Response:
        """Fault and crash answers in the v2 error body, with a correlation id (called by the app)."""
        return finish_response(request, response)

    def not_found(self, request: Request) -> Response:
        return not_found_response(request)
