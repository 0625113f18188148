"""Scripted misbehaviour: make the next N matching provider API calls fail, hang or slow down.

Why: the shop must survive a provider that errors, throttles or times out, and rule 11 says tests make the
emulator misbehave instead of mocking our own code. `when="after"` is the nasty case: the provider DID do
the work (an order exists) but the client never learns it, so the shop has to reconcile before retrying.
"""
from __future__ import annotations

import itertools
import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable

from .server import Request, Response, json_response

KINDS = ("error", "timeout", "latency", "rate_limit")
THROTTLED = {"detail": "Request was throttled. Expected available in 1 second."}


def throttled_response() -> Response:
    """The DRF throttle answer that 29 Next documents (429 plus Retry-After: 1)."""
    return json_response(THROTTLED, 429, {"Retry-After": "1"})


@dataclass
class Fault:
    id: int
    method: str
    path: str
    kind: str
    status: int = 503
    seconds: float = 30.0
    latency_ms: int = 200
    times: int = 1
    when: str = "before"


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._wake = threading.Event()

    def add(self, spec: dict) -> Fault:
        """Validate a fault from the control API; raises ValueError with a message for the caller."""
        kind = spec.get("kind", "error")
        when = spec.get("when", "before")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}.")
        if when not in ("before", "after"):
            raise ValueError("when must be 'before' or 'after'.")
        try:
            fault = Fault(
                id=next(self._ids),
                method=str(spec.get("method", "*")).upper(),
                path=str(spec.get("path", "/")),
                kind=kind,
                status=int(spec.get("status", 503)),
                seconds=float(spec.get("seconds", 30)),
                latency_ms=int(spec.get("latency_ms", 200)),
                times=int(spec.get("times", 1)),
                when=when,
            )
        except (TypeError, ValueError):
            raise ValueError("status, seconds, latency_ms and times must be numbers.") from None
        if fault.times < 1:
            raise ValueError("times must be at least 1.")
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first fault matching this request (method, path prefix)."""
        with self._lock:
            for fault in self._faults:
                if fault.method in ("*", method) and path.startswith(fault.path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def list(self) -> list[dict]:
        with self._lock:
            return [asdict(f) for f in self._faults]

    def clear(self) -> None:
        """Drop all faults and wake requests sleeping in one, so a reset never waits out a timeout."""
        with self._lock:
            self._faults.clear()
            self._wake.set()
            self._wake = threading.Event()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            wake = self._wake
        if seconds > 0:
            wake.wait(seconds)

    @staticmethod
    def added_latency(fault: Fault | None) -> float:
        """Seconds a latency fault adds to the answer time, on top of the configured latency."""
        return fault.latency_ms / 1000 if fault is not None and fault.kind == "latency" else 0.0

    def run(self, fault: Fault | None, request: Request, handler: Callable[[Request], Response]) -> Response:
        """Call the handler with the fault applied before or after it."""
        if fault is None:
            return handler(request)
        if fault.kind == "latency":  # the caller holds the answer back (added_latency)
            return handler(request)
        if fault.when == "before":
            if fault.kind == "timeout":
                self.sleep(fault.seconds)
                return json_response({"detail": "Gateway timeout."}, 504)
            return self._failure(fault)
        started = time.monotonic()
        response = handler(request)  # the work is done; only the answer is lost or late
        if fault.kind == "timeout":
            self.sleep(fault.seconds - (time.monotonic() - started))
            return response
        return self._failure(fault)

    @staticmethod
    def _failure(fault: Fault) -> Response:
        if fault.kind == "rate_limit":
            return throttled_response()
        return json_response({"detail": "A server error occurred."}, fault.status)
