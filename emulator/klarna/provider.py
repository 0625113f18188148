"""The `klarna` provider object: its three specs, credentials, settings, state and idempotency store.

Why one object: route handlers, the SDK stand-in, the control API and the clock job all need the same few
things; passing one object keeps them free of globals, and `reset()` is what `POST /_emulator/reset` calls.
"""
from __future__ import annotations

import base64
import binascii
import os
from datetime import datetime, timezone
from typing import Any, Mapping

from ..app import Emulator
from ..config import env_flag
from ..schema import Validator
from ..server import Request, Response
from ..spec import Spec
from ..webhooks import Outbound
from .idempotency import IdempotencyStore
from .schemas import FALLBACKS, amend
from .state import KlarnaState
from .wire import finish_foreign_response, not_found_response

SPEC_FILES = {
    "payments": "klarna/payments-v1.openapi.yaml",
    "tokens": "klarna/customer-token-v1.openapi.yaml",
    "orders": "klarna/ordermanagement-v1.openapi.yaml",
}
BASE = "/klarna"
DEFAULT_CREDENTIALS = "PK_TEST:emulator-secret"
DEFAULT_API_KEYS = "klarna_test_api_emulator"
FRAUD_DECISION_SECONDS = 300  # `+pending` personas are decided 5 minutes (emulator clock) after the order
AUTHORIZATION_DAYS = 28  # OM: default authorization lifetime of an order


class KlarnaProvider:
    path_prefix = BASE  # an unknown path under it answers Klarna's 404 (not_found)
    name = "klarna"

    def __init__(self, app: Emulator, env: Mapping[str, str] = os.environ) -> None:
        self.app = app
        self.specs = {api: Spec.load(path) for api, path in SPEC_FILES.items()}
        self.spec_loaded = all(spec is not None for spec in self.specs.values())
        self._validators = {
            api: Validator(amend(api, spec.components) if spec else FALLBACKS[api])
            for api, spec in self.specs.items()
        }
        credentials = env.get("EMULATOR_KLARNA_CREDENTIALS") or DEFAULT_CREDENTIALS
        self.credentials = {c.strip() for c in credentials.split(",") if ":" in c}
        api_keys = env.get("EMULATOR_KLARNA_API_KEYS") or DEFAULT_API_KEYS
        self.api_keys = {k.strip() for k in api_keys.split(",") if k.strip()}
        self.state = KlarnaState()
        self.idempotency = IdempotencyStore(self.now)
        app.config.register("klarna", {
            "webhooks_sync": env_flag(env.get("EMULATOR_WEBHOOKS_SYNC"), False),
            "fraud_decision_seconds": FRAUD_DECISION_SECONDS,
            "authorization_days": AUTHORIZATION_DAYS,
            # Klarna compares only the key; the emulator also refuses a reused key with another body (409)
            "idempotency_body_check": env_flag(env.get("EMULATOR_KLARNA_IDEMPOTENCY_BODY_CHECK"), False),
        })

    def reset(self) -> None:
        self.state.reset()
        self.idempotency.clear()

    # --- time, URLs, settings -------------------------------------------------------------
    def now(self) -> datetime:
        return self.app.clock.now()

    @staticmethod
    def iso(moment: datetime | None) -> str | None:
        """Klarna's timestamps: UTC, second precision, `Z` suffix (e.g. 2015-11-29T10:25:40Z)."""
        if moment is None:
            return None
        return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")

    @property
    def public_url(self) -> str:
        return self.app.public_url

    @property
    def base_url(self) -> str:
        return self.app.public_url + BASE

    def setting(self, key: str) -> Any:
        return self.app.config.get("klarna", key)

    # --- validation -------------------------------------------------------------------------
    def validator(self, api: str) -> Validator:
        return self._validators[api]

    def schema(self, api: str, name: str) -> dict:
        spec = self.specs[api]
        if spec is not None and name in spec.components:
            return {"$ref": f"#/components/schemas/{name}"}
        return FALLBACKS[api][name]

    # --- authentication -----------------------------------------------------------------------
    def authenticated(self, request: Request) -> bool:
        """HTTP Basic: base64(user:password), or an API key sent raw or base64-encoded, alone or as
        `<username>:<API key>` (the docs print `Basic <API key>` without saying whether it is encoded)."""
        scheme, _, value = (request.header("authorization") or "").strip().partition(" ")
        value = value.strip()
        if scheme.lower() != "basic" or not value:
            return False
        try:
            decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            decoded = None
        if decoded is not None and decoded in self.credentials:  # classic credentials: always base64
            return True
        return any(candidate in self.api_keys or candidate.rpartition(":")[2] in self.api_keys
                   for candidate in (value, decoded) if candidate)

    # --- outbound callbacks ----------------------------------------------------------------------
    def send(self, outbounds: list[Outbound]) -> None:
        if outbounds:
            self.app.webhooks.send(outbounds, sync=self.setting("webhooks_sync"))

    def finish_response(self, request: Request, response: Response) -> Response:
        """Called by the app on every Klarna answer, including fault and crash answers the handlers never
        saw: those get the correlation header and Klarna's error body instead of the generic one."""
        return finish_foreign_response(request, response)

    def not_found(self, request: Request) -> Response:
        return not_found_response(request)
