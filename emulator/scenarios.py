"""Scripted outcomes: "the next N charges of this token/subscription/order go this way".

Why one module: every provider needs the same thing (rule 11: tests make the emulator misbehave instead
of mocking the shop), and sandboxes cannot be told "decline the next renewal". A queue is keyed by
(kind, key), e.g. ("renewal", 3) or ("charge", "<customer token>"); each charge takes one outcome, and an
empty queue means "nothing scripted" so the provider's usual rules (config, personas) decide.

The queue shares its provider's state lock (passed in), so a charge that checks state and takes an outcome
does both atomically, and `reset()` of the provider state clears the queue with everything else.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Iterable

from .server import HTTPError


class ScenarioQueue:
    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._queues: dict[tuple[str, Any], deque] = {}

    def add(self, kind: str, key: Any, outcome: str, times: int = 1) -> list[str]:
        """Append `times` outcomes; answers what is now queued for (kind, key)."""
        with self._lock:
            queue = self._queues.setdefault((kind, key), deque())
            queue.extend([outcome] * times)
            return list(queue)

    def take(self, kind: str, key: Any) -> str | None:
        """The next scripted outcome for one charge (consumed), or None when nothing is scripted."""
        with self._lock:
            queue = self._queues.get((kind, key))
            return queue.popleft() if queue else None

    def pending(self, kind: str, key: Any) -> list[str]:
        with self._lock:
            return list(self._queues.get((kind, key), ()))

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()


def scripted(body: dict, kind: str, outcomes: Iterable[str]) -> tuple[str, int]:
    """Read `{"<kind>": outcome, "times": n}` from a control request; 400 (control shape) when invalid."""
    allowed = tuple(outcomes)
    outcome = body.get(kind)
    if outcome not in allowed:
        raise HTTPError(400, {"detail": f"'{kind}' must be one of {', '.join(allowed)}."})
    return outcome, times_of(body)


def times_of(body: dict) -> int:
    times = body.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise HTTPError(400, {"detail": "'times' must be a positive integer."})
    return times
