"""Start and drive the provider emulator as a real separate process, for tests and benchmarks.

Why a process and not an in-process server: rule 10 says the emulator is reached only by base URL, like
the real providers, so the tests exercise the same HTTP path (timeouts, connection errors) as production.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_SECONDS = 15


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmulatorProcess:
    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self._output = None
        self._session = requests.Session()
        self._session.trust_env = False  # never send local calls through a proxy from the environment

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the emulator is not started")
        return f"http://127.0.0.1:{self.port}"

    def start(self, port: int | None = None, env: dict[str, str] | None = None) -> "EmulatorProcess":
        """Run `python -m emulator` and wait until /_emulator/health answers; raise with its output if not."""
        self.port = port or free_port()
        env = dict(env or {})
        log_dir = os.environ.get("EMULATOR_REQUEST_LOG_DIR")
        if log_dir and "EMULATOR_REQUEST_LOG_FILE" not in env:  # the spec tier checks what the shop sent
            env["EMULATOR_REQUEST_LOG_FILE"] = str(Path(log_dir) / f"emulator-{self.port}.jsonl")
        self._output = tempfile.TemporaryFile()  # a file, not a pipe: a chatty emulator can't block on it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "emulator", "--port", str(self.port)],
            cwd=REPO_ROOT, env={**os.environ, **env},
            stdout=self._output, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if self._session.get(f"{self.url}/_emulator/health", timeout=1).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        output = self.output()
        self.stop()
        raise RuntimeError(f"emulator did not become healthy on port {self.port}:\n{output}")

    def output(self) -> str:
        if self._output is None:
            return ""
        self._output.seek(0)
        return self._output.read().decode("utf-8", "replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
        self._session.close()

    def control(self, method: str, path: str, json: Any = None) -> Any:
        """Call the control API (`path` like "/_emulator/reset") and return the parsed JSON answer."""
        response = self._session.request(method, f"{self.url}{path}", json=json, timeout=10)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text}")
        return response.json()

    def reset(self) -> Any:
        return self.control("POST", "/_emulator/reset")

    def complete_checkout(self, payment_complete_url: str, action: str) -> dict:
        """Approve, decline or cancel a hosted Klarna checkout without a browser.

        Returns {"return_url", "response" (the exact form value the store would receive), "order_number"}.
        """
        checkout_id = urlsplit(payment_complete_url).path.rstrip("/").rsplit("/", 1)[-1]
        return self.control("POST", f"/_emulator/next/checkouts/{checkout_id}/complete", {"action": action})

    def advance_clock(self, *, seconds: float = 0, days: float = 0) -> dict:
        """Move the emulator clock forward; answers {"now", "renewals": [...]} once due renewals are done."""
        return self.control("POST", "/_emulator/clock/advance", {"seconds": seconds, "days": days})

    def clock_now(self) -> str:
        return self.control("GET", "/_emulator/clock")["now"]

    def script_renewals(self, subscription_id: int, outcome: str, times: int = 1) -> Any:
        """The next `times` renewal charges of that 29 Next subscription approve or decline."""
        return self.control("POST", f"/_emulator/next/subscriptions/{subscription_id}/scenario",
                            {"renewal": outcome, "times": times})

    def script_upsells(self, order_number: str, outcome: str, times: int = 1) -> Any:
        """The next `times` add-line-items charges on that 29 Next order approve or decline."""
        return self.control("POST", f"/_emulator/next/orders/{order_number}/scenario",
                            {"upsell": outcome, "times": times})

    # --- Klarna (route `klarna_payments`): what the shopper or Klarna would do, without a browser ----------
    def klarna_authorize(self, session_id: str, *, approve: bool = True, email: str | None = None,
                         **data: Any) -> dict:
        """Approve or decline a Klarna payment session as the shopper would in the SDK dialog.

        `email` sets the billing email (playground personas: `+denied`, `+pending`, `+reject`); `data` may add
        `billing_address`, `shipping_address`, `payment_method_category`. Returns
        {"authorization_token" (None when declined), "approved", "show_form", ...}.
        """
        body = {"approve": approve, **data}
        if email is not None:
            body["email"] = email
        return self.control("POST", f"/_emulator/klarna/sessions/{session_id}/authorize", body)

    def klarna_decide(self, order_id: str, fraud_status: str = "ACCEPTED") -> dict:
        """Finish Klarna's fraud review of a PENDING order now (the notification goes out)."""
        return self.control("POST", f"/_emulator/klarna/orders/{order_id}/decide", {"fraud_status": fraud_status})

    def script_klarna_token(self, token_id: str, *, charge: str | None = None, times: int = 1,
                            status: str | None = None) -> dict:
        """The next `times` charges on that customer token approve or decline; or set its status now."""
        body: dict[str, Any] = {"times": times}
        if charge is not None:
            body["charge"] = charge
        if status is not None:
            body["status"] = status
        return self.control("POST", f"/_emulator/klarna/tokens/{token_id}/scenario", body)

    def script_klarna_authorization_update(self, order_id: str, outcome: str, times: int = 1) -> dict:
        """The next `times` raising `PATCH .../authorization` calls on that order are accepted or rejected."""
        return self.control("POST", f"/_emulator/klarna/orders/{order_id}/scenario",
                            {"authorization_update": outcome, "times": times})

    def __enter__(self) -> "EmulatorProcess":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class WebhookReceiver:
    """A tiny local webhook target: records each delivery, answers the next scripted status (200 default)."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict, bytes]] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/next/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def clear(self) -> None:
        with self.lock:
            self.deliveries.clear()
            self.statuses.clear()

    def events(self) -> list[dict]:
        with self.lock:
            return [json.loads(body) for _, body in self.deliveries]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict]:
        """The parsed envelopes once at least `count` arrived (or all there are after `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.events()) < count:
            time.sleep(0.02)
        return self.events()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
