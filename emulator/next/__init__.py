"""Stand-in for the 29 Next (Next Commerce) Admin API, route key `next`: the Klarna redirect flow.

Wire contract: `shared/reference/next-admin-api/2024-04-01.yaml` plus our notes in
`shared/reference/next-admin-api.md`. Emulator-only rules and choices are listed in `emulator/README.md`.
"""
from __future__ import annotations

from ..app import Emulator
from ..server import HTTPError, Request, Response, json_response
from . import api, pages
from .checkout import complete_checkout
from .provider import NextProvider


def register(app: Emulator) -> NextProvider:
    provider = NextProvider(app)
    app.add_provider(provider)
    api.register(provider)
    pages.register(provider)
    _register_control(provider)
    return provider


def _register_control(provider: NextProvider) -> None:
    """Provider-specific control routes: inspect state, finish a checkout without a browser."""

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

    router = provider.app.router
    router.add("GET", "/_emulator/next/orders", orders, kind="control")
    router.add("POST", "/_emulator/next/checkouts/<checkout_id>/complete", complete, kind="control")
