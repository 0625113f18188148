"""Stand-in for Klarna Payment Authorize v2 ("Klarna Network", route key `klarna_authorize`) under the base
path `/klarna-global/`: authorizePayment with step-up, payment requests on the emulator clock, the purchase
journey page, signing keys and webhooks, signed `payment.request.state-change.*` webhooks with retries.

Wire contract: `shared/reference/klarna-authorize-v2.md` (no official OpenAPI exists; [S]/[I] there).
Modules: `provider.py` settings · `wire.py` auth, v2 errors, idempotency (shared with `emulator/klarna/`) ·
`rules.py` validation and personas · `state.py` store · `authorize_api.py` authorize and payment requests ·
`journey.py` the shopper's page · `events.py` webhooks · `notifications_api.py` · `control.py`.
"""
from __future__ import annotations

from ..app import Emulator
from . import authorize_api, control, journey, notifications_api
from .provider import KlarnaGlobalProvider


def register(app: Emulator) -> KlarnaGlobalProvider:
    provider = KlarnaGlobalProvider(app)
    app.add_provider(provider)
    authorize_api.register(provider)
    notifications_api.register(provider)
    journey.register(provider)
    control.register(provider)
    app.clock.add_job("klarna_global_expiry", lambda: authorize_api.expire_due(provider))
    return provider
