"""29 Next control routes under `/_emulator/next/`: inspect state, finish a checkout without a browser,
script the outcome of the next renewals or upsells, clone subscriptions for load tests.

Why: rule 11 says tests make the emulator misbehave instead of mocking the shop, and 29 Next's sandbox
cannot be told "decline the next renewal". Errors use the control API's `{"detail": ...}` shape.
"""
from __future__ import annotations

import copy
from typing import Any, Callable

from ..routes import register_routes
from ..scenarios import scripted
from ..server import HTTPError, Request, Response, json_response
from .checkout import complete_checkout
from .provider import OUTCOMES, NextProvider

MAX_SEED = 100_000


def register(provider: NextProvider) -> None:
    register_routes(provider, "/_emulator/next", [
        ("GET", "/orders", orders),
        ("POST", "/checkouts/<checkout_id>/complete", complete),
        ("GET", "/subscriptions", subscriptions),
        ("POST", "/subscriptions/seed", seed),
        ("POST", "/subscriptions/<key>/scenario", _scenario("renewal", _subscription_key)),
        ("POST", "/orders/<key>/scenario", _scenario("upsell", _order_key)),
    ], kind="control")


def orders(provider: NextProvider, request: Request) -> Response:
    state = provider.state
    with state.lock:
        checkouts = [c.as_dict(provider.public_url) for c in state.checkouts.values()]
    return json_response({"orders": state.list_orders(), "checkouts": checkouts,
                          "webhooks": state.list_webhooks()})


def complete(provider: NextProvider, request: Request) -> Response:
    """`{"action": approve|decline|cancel}`: what the hosted page's buttons do, without a browser."""
    action = request.json_object().get("action")
    try:
        completion = complete_checkout(provider, request.params["checkout_id"], str(action))
    except ValueError as exc:
        raise HTTPError(400, {"detail": str(exc)}) from None
    if completion is None:
        raise HTTPError(404, {"detail": "Not found."})
    return json_response(completion.as_dict())


def subscriptions(provider: NextProvider, request: Request) -> Response:
    return json_response({"subscriptions": provider.state.list_subscriptions()})


def _scenario(kind: str, lookup: Callable[[NextProvider, str], Any]):
    """Script the next `times` charges of one subscription ("renewal") or order ("upsell")."""
    def handler(provider: NextProvider, request: Request) -> Response:
        key = lookup(provider, request.params["key"])
        if key is None:
            raise HTTPError(404, {"detail": "Not found."})
        outcome, times = scripted(request.json_object(), kind, OUTCOMES)
        return json_response({kind: provider.state.scenarios.add(kind, key, outcome, times)})
    return handler


def _subscription_key(provider: NextProvider, raw: str) -> int | None:
    return int(raw) if raw.isdigit() and provider.state.subscription(int(raw)) else None


def _order_key(provider: NextProvider, raw: str) -> str | None:
    return raw if provider.state.order(raw) else None


def seed(provider: NextProvider, request: Request) -> Response:
    """Clone one subscription `count` times (load tests need thousands; checkouts would be slow)."""
    body = request.json_object()
    source = body.get("from_subscription")
    count = body.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_SEED:
        raise HTTPError(400, {"detail": f"'count' must be an integer from 1 to {MAX_SEED}."})
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
