"""The control API under `/_emulator/`: health, reset, config, faults, webhook modes, clock and inspection.

Why: tests and benchmarks drive scenarios the way a sandbox can't (server errors, lost answers, late or
repeated webhooks) and assert on what the shop really sent. JSON in and out, no auth: it only ever listens
on a developer's or CI machine. Provider-specific control routes live in each provider package.
"""
from __future__ import annotations

from .app import Emulator
from .config import ConfigError
from .server import HTTPError, Request, Response, json_response


def register(app: Emulator) -> None:
    def health(request: Request) -> Response:
        return json_response(app.health())

    def reset(request: Request) -> Response:
        app.reset()
        return json_response({"ok": True})

    def config_get(request: Request) -> Response:
        return json_response(app.config.snapshot())

    def config_patch(request: Request) -> Response:
        try:
            return json_response(app.config.patch(request.json_object()))
        except ConfigError as exc:
            raise HTTPError(400, {"detail": str(exc)}) from None

    def faults_list(request: Request) -> Response:
        return json_response({"faults": app.faults.list()})

    def faults_add(request: Request) -> Response:
        try:
            fault = app.faults.add(request.json_object())
        except ValueError as exc:
            raise HTTPError(400, {"detail": str(exc)}) from None
        return json_response({"id": fault.id, "faults": app.faults.list()}, 201)

    def faults_clear(request: Request) -> Response:
        app.faults.clear()
        return json_response({"faults": []})

    def webhook_mode(request: Request) -> Response:
        body = request.json_object()
        try:
            mode = app.webhooks.set_mode(str(body.get("mode", "normal")), int(body.get("delay_ms", 500)),
                                         body.get("times"))
        except (TypeError, ValueError) as exc:
            raise HTTPError(400, {"detail": str(exc)}) from None
        return json_response(mode)

    def webhook_deliveries(request: Request) -> Response:
        return json_response({"mode": app.webhooks.mode(),
                              "deliveries": app.webhooks.records(request.arg("provider"))})

    def clock_get(request: Request) -> Response:
        return json_response({"now": app.clock.now_iso()})

    def clock_advance(request: Request) -> Response:
        """{"seconds": N} and/or {"days": N}; answers after the work that became due was done."""
        body = request.json_object()
        seconds = 0.0
        for key, factor in (("seconds", 1), ("days", 86400)):
            value = body.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise HTTPError(400, {"detail": f"'{key}' must be a number."})
            seconds += value * factor
        try:
            return json_response(app.clock.advance(seconds))
        except ValueError as exc:
            raise HTTPError(400, {"detail": str(exc)}) from None

    def requests_list(request: Request) -> Response:
        return json_response({"requests": app.requests.list(request.arg("provider"))})

    routes = [
        ("GET", "/_emulator/health", health),
        ("POST", "/_emulator/reset", reset),
        ("GET", "/_emulator/config", config_get),
        ("PATCH", "/_emulator/config", config_patch),
        ("GET", "/_emulator/faults", faults_list),
        ("POST", "/_emulator/faults", faults_add),
        ("DELETE", "/_emulator/faults", faults_clear),
        ("POST", "/_emulator/webhooks/mode", webhook_mode),
        ("GET", "/_emulator/webhooks", webhook_deliveries),
        ("GET", "/_emulator/requests", requests_list),
        ("GET", "/_emulator/clock", clock_get),
        ("POST", "/_emulator/clock/advance", clock_advance),
    ]
    for method, path, handler in routes:
        app.router.add(method, path, handler, kind="control")
