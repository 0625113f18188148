"""Outbound webhooks: signed deliveries, a background sender with retries, and scripted delivery modes.

Why a real sender: the shop's webhook endpoint must cope with what providers actually do (late, repeated
or missing deliveries, retries after a non-200 answer), and rule 11 says tests make the emulator misbehave
rather than faking the shop's side. Providers build the body and headers (each signs differently); this
module only moves bytes and records every attempt so tests can assert on them.

Order: new events go out in the order they were queued. A failed delivery is retried later on its own
schedule and does not hold back the events queued after it (the real platform behaves the same way).
"""
from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

import requests

log = logging.getLogger("emulator.webhooks")

MODES = ("normal", "drop", "duplicate", "delay")
MAX_ATTEMPTS = 10  # as documented by 29 Next; the emulator shortens "several days" to 0.5 s doubling
FIRST_BACKOFF_SECONDS = 0.5
TIMEOUT = (2.0, 20.0)  # handlers are expected to answer within about 20 s
MAX_RECORDS = 2000


def hmac_sha256_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Outbound:
    """One event for one target, with its exact body bytes and headers (already signed)."""

    provider: str
    target: str
    body: bytes
    headers: dict[str, str]
    event_id: str
    event_type: str
    webhook_id: int | None = None
    on_gone: Callable[[], None] | None = None  # called when the receiver answers 410


@dataclass
class Delivery:
    id: str
    outbound: Outbound
    generation: int
    duplicate: bool = False
    state: str = "pending"  # pending, delivered, failed, dropped, gone
    attempts: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        out = self.outbound
        return {
            "id": self.id, "provider": out.provider, "event_id": out.event_id, "event_type": out.event_type,
            "target": out.target, "webhook_id": out.webhook_id, "state": self.state,
            "duplicate": self.duplicate, "attempts": list(self.attempts),
            "last_status": self.attempts[-1]["status"] if self.attempts else None,
            "headers": dict(out.headers), "body": out.body.decode("utf-8", "replace"),
        }


class WebhookDispatcher:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, Delivery]] = []  # heap of (due, sequence, delivery)
        self._seq = itertools.count()
        self._records: list[Delivery] = []
        self._generation = 0
        self._mode = {"mode": "normal", "delay_ms": 0, "times": None}
        self._local = threading.local()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="webhook-sender", daemon=True)
        self._thread.start()

    # --- control -------------------------------------------------------------------------
    def set_mode(self, mode: str, delay_ms: int = 500, times: int | None = None) -> dict:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}.")
        if times is not None and (not isinstance(times, int) or times < 1):
            raise ValueError("times must be a positive integer.")
        with self._cond:
            self._mode = {"mode": mode, "delay_ms": int(delay_ms), "times": times}
            return dict(self._mode)

    def mode(self) -> dict:
        with self._cond:
            return dict(self._mode)

    def records(self, provider: str | None = None) -> list[dict]:
        with self._cond:
            return [d.as_dict() for d in self._records if provider in (None, d.outbound.provider)]

    def reset(self) -> None:
        """Forget queued and recorded deliveries; in-flight retries of the old generation are dropped."""
        with self._cond:
            self._generation += 1
            self._queue.clear()
            self._records.clear()
            self._mode = {"mode": "normal", "delay_ms": 0, "times": None}
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    # --- sending -------------------------------------------------------------------------
    def send(self, outbounds: list[Outbound], *, sync: bool = False) -> None:
        """Queue events in order. With `sync`, first attempts happen now, before the caller answers."""
        now_due: list[tuple[float, Delivery]] = []
        with self._cond:
            for outbound in outbounds:
                mode, delay = self._take_mode()
                copies = 2 if mode == "duplicate" else 1
                for n in range(copies):
                    delivery = Delivery(uuid.uuid4().hex, outbound, self._generation, duplicate=n > 0)
                    self._remember(delivery)
                    if mode == "drop":
                        delivery.state = "dropped"
                        continue
                    now_due.append((delay, delivery))
            if not sync:
                for delay, delivery in now_due:
                    self._push(time.monotonic() + delay, delivery)
                return
        for delay, delivery in now_due:
            if delay:
                time.sleep(delay)
            self._attempt(delivery)

    def _take_mode(self) -> tuple[str, float]:
        mode = self._mode
        name, delay = mode["mode"], mode["delay_ms"] / 1000 if mode["mode"] == "delay" else 0.0
        if mode["times"] is not None:
            mode["times"] -= 1
            if mode["times"] <= 0:
                self._mode = {"mode": "normal", "delay_ms": 0, "times": None}
        return name, delay

    def _remember(self, delivery: Delivery) -> None:
        self._records.append(delivery)
        del self._records[:-MAX_RECORDS]

    def _push(self, due: float, delivery: Delivery) -> None:
        heapq.heappush(self._queue, (due, next(self._seq), delivery))
        self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._queue or self._queue[0][0] > time.monotonic()):
                    timeout = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                _, _, delivery = heapq.heappop(self._queue)
            try:
                self._attempt(delivery)
            except Exception:  # never let one bad delivery kill the sender thread
                log.exception("webhook sender failed")

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.trust_env = False  # targets are local; a proxy from the environment must not interfere
        return session

    def _attempt(self, delivery: Delivery) -> None:
        out = delivery.outbound
        started = time.monotonic()
        status, error = None, None
        try:
            answer = self._session().post(out.target, data=out.body, headers=out.headers, timeout=TIMEOUT)
            status = answer.status_code
        except requests.RequestException as exc:
            error = type(exc).__name__
        attempt = {"at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "status": status,
                   "error": error, "duration_ms": round((time.monotonic() - started) * 1000, 1)}
        log.info("webhook %s %s -> %s", out.event_type, out.target, status or error)
        gone = False
        with self._cond:
            if delivery.generation != self._generation:
                return  # a reset happened meanwhile: this delivery belongs to a forgotten test
            delivery.attempts.append(attempt)
            if status == 200:  # the docs say the receiver must answer 200; anything else is a failure
                delivery.state = "delivered"
            elif status == 410:
                delivery.state, gone = "gone", True
            elif len(delivery.attempts) >= MAX_ATTEMPTS:
                delivery.state = "failed"
            else:
                backoff = FIRST_BACKOFF_SECONDS * 2 ** (len(delivery.attempts) - 1)
                self._push(time.monotonic() + backoff, delivery)
        if gone and out.on_gone:
            out.on_gone()
