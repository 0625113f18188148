"""Stand-in for Klarna Payments v1, Customer Token v1 and Order Management v1 (route key
`klarna_payments`), under the base path `/klarna/` followed by Klarna's EU host paths, plus the JS SDK.

Wire contract: `shared/reference/klarna/*.yaml` (official OpenAPI specs, amended in `schemas.py`) and our
notes in `shared/reference/klarna-payments.md`. Emulator-only rules and choices are listed in
`emulator/README.md` (Klarna section).

Modules: `provider.py` settings and specs · `wire.py` auth, errors, idempotent endpoints · `idempotency.py`
· `schemas.py` spec amendments and fallbacks · `rules.py` cart rules · `state.py` store · `personas.py`
playground emails · `authorize.py` the shopper's approval · `orders.py` orders, captures, fraud review ·
`callbacks.py` authorization callback and notifications · `payments_api.py` · `tokens_api.py` ·
`orders_api.py` · `sdk.py` + `klarna-payments.js` the browser side · `control.py` control routes.
"""
from __future__ import annotations

from ..app import Emulator
from . import control, orders_api, payments_api, sdk, tokens_api
from .orders import process_due_decisions
from .provider import KlarnaProvider


def register(app: Emulator) -> KlarnaProvider:
    provider = KlarnaProvider(app)
    app.add_provider(provider)
    payments_api.register(provider)
    tokens_api.register(provider)
    orders_api.register(provider)
    sdk.register(provider)
    control.register(provider)
    app.clock.add_job("klarna_fraud_decisions", lambda: process_due_decisions(provider))
    return provider
