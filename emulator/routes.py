"""The route-table helper every provider package uses: one list of (method, path, handler, *options) per
module, registered under a prefix, each handler wrapped by the provider's own envelope.

Why one helper: a provider's API modules (`*_api.py`), hosted pages (`pages.py`) and control routes
(`control.py`) all declare their routes as a table, so a reader sees every path of a module in one place
and a new provider package (see README, "Adding a provider") registers its routes the same way. The
envelope is the provider's business (29 Next checks its version header, token and throttle; Klarna its
Basic auth, correlation id and idempotency key), so it is passed in as `wrap`.

Handlers take `(provider, request)`; `wrap(provider, handler, *options)` turns one into a router handler,
and the options (an operationId, "honours an idempotency key") are whatever that envelope needs.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Protocol

from .server import Request, Response

ProviderHandler = Callable[[Any, Request], Response]
Wrap = Callable[..., Callable[[Request], Response]]


class RoutedProvider(Protocol):
    name: str
    app: Any  # the Emulator: routes go to app.router


def bound(provider: Any, handler: ProviderHandler) -> Callable[[Request], Response]:
    """The envelope of routes that need none (hosted pages, control routes): just pass the provider."""
    def call(request: Request) -> Response:
        return handler(provider, request)
    return call


def register_routes(provider: RoutedProvider, prefix: str, routes: Iterable[tuple], *,
                    wrap: Wrap | None = None, kind: str = "api") -> None:
    """Add every (method, path, handler, *options) under `prefix`.

    `kind` is "api" (faults and latency apply; the provider's error shape and request log), "page" (a
    hosted page: logged as the provider's traffic, no faults) or "control" (the emulator's own API: not
    attributed to the provider, so it is neither logged nor reshaped into the provider's error format)."""
    owner = None if kind == "control" else provider.name
    for method, path, handler, *options in routes:
        call = wrap(provider, handler, *options) if wrap is not None else bound(provider, handler)
        provider.app.router.add(method, prefix + path, call, provider=owner, kind=kind)
