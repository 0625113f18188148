"""The `multisafepay` provider object: settings, spec schemas, accepted API keys and state.

Why one object: routes, the hosted page, the control API, the clock job and the notification sender need
the same few things (spec schemas, accepted API keys, settings, state); `reset()` is what
`POST /_emulator/reset` calls. The envelope every API call shares (API key, `success`/`data` body, error
codes) is `wire.py`; `finish_response` hands fault answers to it.
"""
from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any, Mapping

from ..app import Emulator
from ..config import env_flag
from ..schema import Validator
from ..server import Request, Response
from .schemas import load_request_schemas
from .state import MultiSafepayState
from .wire import finish_response, not_found_response

DEFAULT_API_KEYS = "msp-emulator-api-key"


class MultiSafepayProvider:
    name = "multisafepay"
    path_prefix = "/multisafepay"  # API and payment pages: an unknown path under it answers MSP's 404

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

    def finish_response(self, request: Request, response: Response) -> Response:
        """Faults from the control API and emulator crashes answer in MultiSafepay's error envelope."""
        return finish_response(request, response)

    def not_found(self, request: Request) -> Response:
        return not_found_response(request)
