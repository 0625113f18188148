"""`Klarna-Idempotency-Key`: a retried POST/PATCH with the same key runs once and replays the first answer.

Why: rule 5 (exactly once with money). Klarna honours the key for 24 hours after the first attempt and
compares only the key (reference §10). The emulator keys on (method, path, key), replays the stored answer
verbatim (status, headers such as `Capture-Id`, body), and holds a per-key lock so a concurrent duplicate
waits for the first call and then replays it instead of running twice. Answers of 5xx are not stored: the
emulator crashed or refused, nothing happened, so a retry must run again.

By default the emulator does the same (replays whatever the body). `PATCH /_emulator/config {"klarna":
{"idempotency_body_check": true}}` (or EMULATOR_KLARNA_IDEMPOTENCY_BODY_CHECK=1) makes it refuse the same
key with a *different* body with `409 CONFLICT`, to catch a client that reuses keys by mistake.
"""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from ..server import Response, parse_json

TTL = timedelta(hours=24)
IDEMPOTENCY_HEADER = "Klarna-Idempotency-Key"


@dataclass
class Stored:
    fingerprint: str
    stored_at: datetime
    response: Response


def fingerprint(body: bytes) -> str:
    """The body's meaning, not its bytes: key order and whitespace of a re-serialised retry don't matter."""
    try:
        canonical = json.dumps(parse_json(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body.strip()
    return hashlib.sha256(canonical).hexdigest()


class IdempotencyStore:
    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._key_locks: dict[tuple, threading.Lock] = {}
        self._stored: dict[tuple, Stored] = {}

    def clear(self) -> None:
        with self._lock:
            self._stored.clear()
            self._key_locks.clear()

    def run(self, key: tuple, body_fingerprint: str, produce: Callable[[], Response],
            conflict: Callable[[], Response], *, check_body: bool = True) -> Response:
        """Replay the stored answer for `key`, or call `produce()` once and store what it answered."""
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                stored = self._stored.get(key)
                if stored is not None and self._now() - stored.stored_at > TTL:
                    del self._stored[key]
                    stored = None
            if stored is not None:
                if check_body and stored.fingerprint != body_fingerprint:
                    return conflict()
                return _copy(stored.response)
            response = produce()
            if response.status < 500:
                with self._lock:
                    self._stored[key] = Stored(body_fingerprint, self._now(), _copy(response))
            return response



def _copy(response: Response) -> Response:
    """An answer that can be stored or replayed without the caller's later changes reaching it: the body is
    bytes (immutable), so only the headers need their own dict (copy.deepcopy cost more than the charge)."""
    return Response(response.status, response.body, dict(response.headers))


def answer_once(provider, request, produce: Callable[[], Response], conflict: Callable[[], Response], *,
                idempotent: bool) -> Response:
    """The shared tail of every Klarna envelope (v1 and v2): without an idempotency key, or for an operation
    that honours none, just `produce()`; with one, run it once per (method, path, key) and replay after."""
    key = request.header(IDEMPOTENCY_HEADER) if idempotent else None
    if not key:
        return produce()
    return provider.idempotency.run((request.method, request.path, key), fingerprint(request.body), produce,
                                    conflict, check_body=provider.setting("idempotency_body_check"))
