"""Stand-in for the 29 Next (Next Commerce) Admin API, route key `next`: the Klarna redirect flow,
one-click upsells and subscriptions renewed by the emulator clock.

Wire contract: `shared/reference/next-admin-api/2024-04-01.yaml` plus our notes in
`shared/reference/next-admin-api.md`. Emulator-only rules and choices are listed in `emulator/README.md`.
"""
from __future__ import annotations

import copy

from ..app import Emulator
from ..server import HTTPError, Request, Response, json_response
from . import api, pages
from .checkout import complete_checkout
from .provider import OUTCOMES, NextProvider
from .renewals import process_due


def register(app: Emulator) -> NextProvider:
    provider = NextProvider(app)
    app.add_provider(provider)
    api.register(provider)
    pages.register(provider)
    _register_control(provider)
    app.clock.add_job("renewals", lambda: process_due(provider))
    return provider


def _register_control(provider: NextProvider) -> None:
    """Provider-specific control routes: inspect state, finish a checkout without a browser, script the
    outcome of the next renewals or upsells."""

    def orders(request: Request) -> Response:
        state = provider.state
        with state.lock:
            checkouts = [c.as_dict(provider.public_url) for c in state.checkouts.values()]
        return json_response({"orders": state.list_orders(), "checkouts": checkouts,
                              "webhooks": state.list_webhooks()})

    def complete(request: Request) -> Response:
        action = request.json_object().get("action")
        try:
            completion = complete_checkout(provider, request.params["checkout_id"], str(action))
        except ValueError as exc:
            raise HTTPError(400, {"detail": str(exc)}) from None
        if completion is None:
            raise HTTPError(404, {"detail": "Not found."})
        return json_response(completion.as_dict())

    def subscriptions(request: Request) -> Response:
        return json_response({"subscriptions": provider.state.list_subscriptions()})

    def scenario(kind: str, lookup):
        """Script the next `times` charges of one subscription ("renewal") or order ("upsell")."""
        def handler(request: Request) -> Response:
            key = lookup(request.params["key"])
            if key is None:
                raise HTTPError(404, {"detail": "Not found."})
            body = request.json_object()
            outcome, times = body.get(kind), body.get("times", 1)
            if outcome not in OUTCOMES:
                raise HTTPError(400, {"detail": f"'{kind}' must be one of {', '.join(OUTCOMES)}."})
            if isinstance(times, bool) or not isinstance(times, int) or times < 1:
                raise HTTPError(400, {"detail": "'times' must be a positive integer."})
            return json_response({kind: provider.state.add_scenario(kind, key, outcome, times)})
        return handler

    def seed(request: Request) -> Response:
        """Clone one subscription `count` times (load tests need thousands; checkouts would be slow)."""
        body = request.json_object()
        source = body.get("from_subscription")
        count = body.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100_000:
            raise HTTPError(400, {"detail": "'count' must be an integer from 1 to 100000."})
        template = provider.state.subscription(int(source)) if str(source).isdigit() else None
        if template is None:
            raise HTTPError(404, {"detail": "Not found."})
        state = provider.state
        ids = []
        with state.lock:
            for _ in range(count):
                clone = copy.deepcopy(template)
                clone["id"] = state.next_id("subscription")
                state.subscriptions[clone["id"]] = clone
                ids.append(clone["id"])
        return json_response({"ids": ids}, status=201)

    def subscription_key(raw: str) -> int | None:
        return int(raw) if raw.isdigit() and provider.state.subscription(int(raw)) else None

    def order_key(raw: str) -> str | None:
        return raw if provider.state.order(raw) else None

    router = provider.app.router
    router.add("GET", "/_emulator/next/orders", orders, kind="control")
    router.add("POST", "/_emulator/next/checkouts/<checkout_id>/complete", complete, kind="control")
    router.add("GET", "/_emulator/next/subscriptions", subscriptions, kind="control")
    router.add("POST", "/_emulator/next/subscriptions/seed", seed, kind="control")
    router.add("POST", "/_emulator/next/subscriptions/<key>/scenario", scenario("renewal", subscription_key),
               kind="control")
    router.add("POST", "/_emulator/next/orders/<key>/scenario", scenario("upsell", order_key), kind="control")
