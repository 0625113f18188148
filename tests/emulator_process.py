"""Start and drive the provider emulator as a real separate process, for tests and benchmarks.

Why a process and not an in-process server: rule 10 says the emulator is reached only by base URL, like
the real providers, so the tests exercise the same HTTP path (timeouts, connection errors) as production.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
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
        self._output = tempfile.TemporaryFile()  # a file, not a pipe: a chatty emulator can't block on it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "emulator", "--port", str(self.port)],
            cwd=REPO_ROOT, env={**os.environ, **(env or {})},
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

    def __enter__(self) -> "EmulatorProcess":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
