"""The emulator application: shared services plus the providers, and the dispatch of every request.

Why one object: the control API resets and inspects everything (providers, faults, logs, config) in one
call, so tests start from a known state. Providers register their routes, config and reset hooks here and
never import each other.
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
from collections import deque
from datetime import datetime, timezone
from typing import Any, Protocol

from .clock import Clock
from .config import Config
from .faults import Faults
from .server import HTTPError, MethodNotAllowed, NotFound, Request, Response, Router, json_response
from .webhooks import WebhookDispatcher

log = logging.getLogger("emulator")
MAX_LOGGED_REQUESTS = 2000
HIDDEN_HEADERS = {"authorization", "cookie", "proxy-authorization"}


class Provider(Protocol):
    """What the app needs of a provider package's provider object (README, "Adding a provider").

    Optional hooks, looked up with getattr: `finish_response(request, response)` gives every answer on the
    provider's routes its headers and error shape (fault and crash answers included);
    `method_not_allowed(request, allowed)` answers a verb one of its API paths does not serve;
    `not_found(request)` answers a path under its `path_prefix` that no route serves, in its error shape."""

    name: str
    spec_loaded: bool

    def reset(self) -> None: ...


class RequestLog:
    """Requests the providers received, for tests that check what the shop actually sent.

    With `EMULATOR_REQUEST_LOG_FILE`, every entry is also appended to that JSON-lines file, which a reset
    does not clear: the spec tier validates everything the shop's clients sent during a whole test session
    against the official specs, although each test resets the emulator."""

    def __init__(self, path: str | None = None) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict] = deque(maxlen=MAX_LOGGED_REQUESTS)
        self._ids = itertools.count(1)
        self._path = path or None

    def add(self, request: Request, response: Response, provider: str, started: float) -> None:
        body = request.body.decode("utf-8", "replace")
        entry = {
            "id": next(self._ids),
            "at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "provider": provider,
            "method": request.method,
            "path": request.path,
            "query": {k: v if len(v) > 1 else v[0] for k, v in request.query.items()},
            "headers": {k: v for k, v in request.headers.items() if k not in HIDDEN_HEADERS},
            "body": body,
            "status": response.status,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
        }
        with self._lock:
            self._entries.append(entry)
            if self._path:
                with open(self._path, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps({**entry, "route_kind": request.route.kind if request.route else None})
                                 + "\n")

    def list(self, provider: str | None = None) -> list[dict]:
        with self._lock:
            return [e for e in self._entries if provider in (None, e["provider"])]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class Emulator:
    def __init__(self, *, public_url: str) -> None:
        self.public_url = public_url.rstrip("/")
        self.router = Router()
        self.config = Config()
        self.clock = Clock()
        self.faults = Faults()
        self.requests = RequestLog(os.environ.get("EMULATOR_REQUEST_LOG_FILE"))
        self.webhooks = WebhookDispatcher()
        self.providers: dict[str, Provider] = {}

    def add_provider(self, provider: Provider) -> None:
        self.providers[provider.name] = provider

    def reset(self) -> None:
        """Everything back to start-up state: provider data, faults, logs, webhook queue, config, clock."""
        self.faults.clear()
        self.clock.reset()
        self.webhooks.reset()
        self.requests.clear()
        self.config.reset()
        for provider in self.providers.values():
            provider.reset()

    def health(self) -> dict[str, Any]:
        return {"ok": True, "specs": {name: p.spec_loaded for name, p in self.providers.items()}}

    def handle(self, request: Request) -> Response:
        """Route, apply latency and faults to provider API calls, record provider traffic."""
        started = time.monotonic()
        route = None
        try:
            route, request.params = self.router.match(request.method, request.path)
            request.route = route
            if route.kind == "api":
                # `latency_ms` is the provider's answer time counted from the request's arrival, its own
                # processing included, as a client measures a real provider: the work is done first and the
                # answer held back for what is left of it. (Sleeping first and working after would make every
                # answer L plus this process's time under load, which no provider setting describes.)
                fault = self.faults.take(request.method, request.path)
                answer_at = started + self.config.get("latency_ms") / 1000 + self.faults.added_latency(fault)
                response = self.faults.run(fault, request, self._call)
                self.faults.sleep(answer_at - time.monotonic())
            else:
                response = self._call(request)
        except NotFound as exc:  # no route: the provider whose prefix it is answers its own 404
            response = self._not_found(request, exc)
        except MethodNotAllowed as exc:  # a provider's path: its envelope and error shape, then the log
            route = request.route = exc.route
            response = self._method_not_allowed(request, exc)
        except HTTPError as exc:
            response = exc.response()
        if route is not None and route.provider is not None:
            finish = getattr(self.providers.get(route.provider), "finish_response", None)
            if finish is not None:  # provider-wide headers and error shape, fault answers included
                response = finish(request, response)
            self.requests.add(request, response, route.provider, started)
        return response

    def _not_found(self, request: Request, exc: NotFound) -> Response:
        """A path no route serves: the 404 of the provider under whose `path_prefix` it lies (a client
        that mistypes a Klarna path meets Klarna's error body), else DRF's `{"detail": "Not found."}`."""
        for provider in self.providers.values():
            prefix = getattr(provider, "path_prefix", None)
            hook = getattr(provider, "not_found", None)
            if prefix and hook is not None and (request.path == prefix or request.path.startswith(prefix + "/")):
                return hook(request)
        return exc.response()

    def _method_not_allowed(self, request: Request, exc: MethodNotAllowed) -> Response:
        """405 with `Allow`; a provider with `method_not_allowed(request, allowed)` answers it its own way
        (29 Next authenticates first, as Django REST Framework does)."""
        hook = getattr(self.providers.get(exc.route.provider or ""), "method_not_allowed", None)
        if hook is None or exc.route.kind != "api":
            return exc.response()
        try:
            return hook(request, exc.allowed)
        except HTTPError as error:
            return error.response()

    @staticmethod
    def _call(request: Request) -> Response:
        try:
            return request.route.handler(request)
        except HTTPError as exc:
            return exc.response()
        except Exception:  # a bug in the emulator must look like a provider 500, not a dropped socket
            log.exception("unhandled error for %s %s", request.method, request.path)
            return json_response({"detail": "A server error occurred."}, 500)
