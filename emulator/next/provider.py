"""The `next` provider object: its spec, settings, tokens, rate limiter and state, in one place.

Why: route handlers, the hosted page and the webhook builder all need the same few things; passing one
object keeps them free of globals, and `reset()` is what `POST /_emulator/reset` calls for this provider.
"""
from __future__ import annotations

import os
from datetime import datetime
from typing import Any, Mapping

from ..app import Emulator
from ..config import env_flag
from ..ratelimit import SlidingWindowLimiter
from ..schema import Validator
from ..server import Request, Response
from ..spec import Spec
from .schemas import FALLBACKS
from .state import NextState
from .wire import method_not_allowed

SPEC_FILE = "next-admin-api/2024-04-01.yaml"
API_VERSION = "2024-04-01"
RATE_LIMIT_PER_SECOND = 4  # documented: 4 requests/second per access token
PAYMENT_STATUSES = ("paid", "authorized")
OUTCOMES = ("approve", "decline")


class NextProvider:
    name = "next"

    def __init__(self, app: Emulator, env: Mapping[str, str] = os.environ) -> None:
        self.app = app
        self.spec = Spec.load(SPEC_FILE)
        self.spec_loaded = self.spec is not None
        tokens = env.get("EMULATOR_NEXT_TOKENS") or "emulator-token"
        self.tokens = {t.strip() for t in tokens.split(",") if t.strip()}
        self.state = NextState()
        self.state.renewals_checked_at = self.now()
        self.limiter = SlidingWindowLimiter(RATE_LIMIT_PER_SECOND, 1.0)
        app.config.register(
            "next",
            {
                "rate_limit": env_flag(env.get("EMULATOR_RATE_LIMIT"), True),
                "webhook_target": env.get("EMULATOR_NEXT_WEBHOOK_TARGET", ""),
                "webhook_secret": env.get("EMULATOR_NEXT_WEBHOOK_SECRET") or "emulator-webhook-secret",
                "webhook_target_active": True,  # a 410 answer from the configured target turns it off
                "klarna_payment_status": env.get("EMULATOR_NEXT_KLARNA_PAYMENT_STATUS") or "paid",
                "webhooks_sync": env_flag(env.get("EMULATOR_WEBHOOKS_SYNC"), False),
                # merchant-initiated charges on the stored Klarna method; "approve" still lets personas decline
                "renewal_outcome": env.get("EMULATOR_NEXT_RENEWAL_OUTCOME") or "approve",
                "upsell_outcome": env.get("EMULATOR_NEXT_UPSELL_OUTCOME") or "approve",
            },
            choices={"klarna_payment_status": PAYMENT_STATUSES, "renewal_outcome": OUTCOMES,
                     "upsell_outcome": OUTCOMES},
        )

    def reset(self) -> None:
        self.state.reset()
        self.limiter.reset()
        self.state.renewals_checked_at = self.now()  # dates before this are missed, not on schedule

    def now(self) -> datetime:
        """The emulator clock (real time plus the offset tests move): every stored timestamp uses it."""
        return self.app.clock.now()

    def now_iso(self) -> str:
        return self.app.clock.now_iso()

    def setting(self, key: str) -> Any:
        return self.app.config.get("next", key)

    @property
    def public_url(self) -> str:
        return self.app.public_url

    def api_versions(self, operation_id: str | None) -> list[str]:
        """The versions an operation accepts (its header enum); None = any operation (unrouted methods)."""
        versions = self.spec.header_enum(operation_id, "X-29next-API-Version") if self.spec and operation_id \
            else None
        return versions or [API_VERSION]

    def query_parameters(self, operation_id: str) -> dict[str, dict]:
        return self.spec.query_parameters(operation_id) if self.spec else {}

    def method_not_allowed(self, request: Request, allowed: list[str]) -> Response:
        return method_not_allowed(self, request, allowed)

    def validator(self, *, coerce: bool = False) -> Validator:
        return self.spec.validator(coerce=coerce) if self.spec else Validator(coerce=coerce)

    def schema(self, name: str) -> dict:
        return (self.spec.schema(name) if self.spec else None) or FALLBACKS[name]

    def webhook_events(self) -> list[str]:
        return self.spec.webhook_events() if self.spec else []
