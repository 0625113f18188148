"""Stand-in for the 29 Next (Next Commerce) Admin API, route key `next`: the Klarna redirect flow,
one-click upsells and subscriptions renewed by the emulator clock.

Wire contract: `shared/reference/next-admin-api/2024-04-01.yaml` plus our notes in
`shared/reference/next-admin-api.md`. Emulator-only rules and choices are listed in `emulator/README.md`.

Modules, in the shape every provider package has (README, "Adding a provider"): `provider.py` settings and
spec · `wire.py` the API envelope (version, token, throttle) · `state.py` store · `rules.py` validation
(`schemas.py` its fallback schemas) · `orders_api.py`, `order_actions_api.py` (capture, refund, cancel),
`upsells_api.py`, `subscriptions_api.py`, `webhooks_api.py` the wire handlers · `pages.py` the hosted Klarna
page · `control.py` control routes.
Helpers: `checkout.py` the flow, `orders.py` Order JSON, `subscriptions.py` SubscriptionDetail and schedule,
`renewals.py` renewal charges, `outcomes.py` who approves a charge, `pagination.py`, `events.py` webhooks.
"""
from __future__ import annotations

from ..app import Emulator
from . import control, order_actions_api, orders_api, pages, subscriptions_api, upsells_api, webhooks_api
from .provider import NextProvider
from .renewals import process_due


def register(app: Emulator) -> NextProvider:
    provider = NextProvider(app)
    app.add_provider(provider)
    for module in (orders_api, order_actions_api, upsells_api, subscriptions_api, webhooks_api, pages, control):
        module.register(provider)
    app.clock.add_job("renewals", lambda: process_due(provider))
    return provider
