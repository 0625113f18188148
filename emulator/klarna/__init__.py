"""Stand-in for Klarna Payments v1, Customer Token v1 and Order Management v1 (route key
`klarna_payments`), under the base path `/klarna/` followed by Klarna's EU host paths, plus the JS SDK.

Wire contract: `shared/reference/klarna/*.yaml` (official OpenAPI specs, amended in `schemas.py`) and our
notes in `shared/reference/klarna-payments.md`. Emulator-only rules and choices are listed in
`emulator/README.md` (Klarna section).

Modules, in the shape every provider package has (README, "Adding a provider"): `provider.py` settings and
specs · `wire.py` the API envelope (auth, errors, idempotent endpoints) · `state.py` store · `rules.py` cart
rules · `payments_api.py`, `tokens_api.py`, `orders_api.py` the wire handlers · `pages.py` +
`klarna-payments.js` the browser side (SDK stand-in, badge, confirmation redirect) · `control.py` control
routes. Helpers: `idempotency.py` · `schemas.py` spec amendments and fallbacks · `personas.py` playground
emails · `authorizations.py` the shopper's approval of a session (Payments v1; not Payment Authorize v2,
which is `emulator/klarna_global/`) · `orders.py` orders, captures, fraud review · `callbacks.py`
authorization callback and notifications.
"""
from __future__ import annotations

from ..app import Emulator
from . import control, orders_api, pages, payments_api, tokens_api
from .orders import process_due_decisions
from .provider import KlarnaProvider


def register(app: Emulator) -> KlarnaProvider:
    provider = KlarnaProvider(app)
    app.add_provider(provider)
    payments_api.register(provider)
    tokens_api.register(provider)
    orders_api.register(provider)
    pages.register(provider)
    control.register(provider)
    app.clock.add_job("klarna_fraud_decisions", lambda: process_due_decisions(provider))
    return provider
