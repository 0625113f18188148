"""Stand-in for MultiSafepay's JSON API (route key `multisafepay`), Klarna orders only, under
`/multisafepay/v1/json/`, plus the payment page the shopper sees and signed notifications.

Wire contract: the official spec in `shared/reference/multisafepay/openapi/` (request bodies checked) and
our notes `shared/reference/multisafepay.md`. Emulator-only rules and the choices where the docs are silent
are listed in `emulator/README.md` (MultiSafepay section).

Modules: `provider.py` settings · `wire.py` API key, `success`/`data` envelope, error codes · `schemas.py`
spec loading · `rules.py` validation and the cart rounding rule · `state.py` store and scripted outcomes ·
`orders.py` lifecycle and order JSON · `orders_api.py` routes · `pages.py` payment page ·
`notifications.py` signed notifications · `control.py` control routes.
"""
from __future__ import annotations

from ..app import Emulator
from . import control, orders_api, pages
from .orders import expire_due
from .provider import MultiSafepayProvider


def register(app: Emulator) -> MultiSafepayProvider:
    provider = MultiSafepayProvider(app)
    app.add_provider(provider)
    orders_api.register(provider)
    pages.register(provider)
    control.register(provider)
    app.clock.add_job("multisafepay_expiry", lambda: expire_due(provider))
    return provider
