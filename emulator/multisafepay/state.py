"""In-memory provider-side state of the emulated MultiSafepay site: orders, payment sessions, refunds, the
notifications sent, and scripted shopper outcomes.

Why one re-entrant lock: the server is threaded and an order's status must change once even when the
shopper's click, a PATCH from the shop and the expiry job race; every check-then-change runs under `lock`.
Scripted shopper outcomes are one site-wide `ScenarioQueue` entry (kind "approval"): MultiSafepay has no
per-order handle a test could name before the order exists.
"""
from __future__ import annotations

import itertools
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..scenarios import ScenarioQueue

FIRST_TRANSACTION_ID = 20_000_000_000_000_001  # 17 digits, beyond 2^53, as newer MSP PSP ids are
APPROVAL = "approval"  # the scenario kind of scripted shopper outcomes (site-wide: key None)


@dataclass
class Refund:
    refund_id: int
    transaction_id: int
    amount: int
    created: datetime
    fingerprint: str  # the refund lines, to refuse an identical refund within 5 minutes


@dataclass
class Order:
    order_id: str
    transaction_id: int
    session_id: str
    api_key: str  # notifications are signed with the key that created the order
    data: dict  # the request as sent (plain JSON types)
    items: list[dict]  # shopping_cart.items with Decimal unit prices, as sent
    rates: dict[str, Decimal]  # tax table name -> rate ('' = default)
    created: datetime
    modified: datetime
    status: str = "initialized"
    financial_status: str = "initialized"
    completed: datetime | None = None
    amount_refunded: int = 0
    reason: str = ""
    external_id: str = field(default_factory=lambda: secrets.token_hex(16))
    shipping: dict = field(default_factory=dict)  # carrier, tracktrace_code, ... from the ship PATCH
    ship_deadline: datetime | None = None
    refunds: list[Refund] = field(default_factory=list)
    notifications: list[dict] = field(default_factory=list)  # {status, financial_status, body}, oldest first
    get_deliveries: list[dict] = field(default_factory=list)  # notification_method GET attempts

    @property
    def amount(self) -> int:
        return int(self.data["amount"])

    @property
    def type(self) -> str:
        return self.data.get("type") or "redirect"

    @property
    def options(self) -> dict:
        return self.data.get("payment_options") or {}


class MultiSafepayState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.scenarios = ScenarioQueue(self.lock)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.generation = getattr(self, "generation", 0) + 1  # in-flight GET notifications check it
            self.orders: dict[str, Order] = {}
            self.sessions: dict[str, str] = {}  # session id -> order id
            self.transaction_ids = itertools.count(FIRST_TRANSACTION_ID)
            self.refund_ids = itertools.count(1)
            self.scenarios.clear()  # scripted shopper approvals: approve, decline, pending

    def add(self, order: Order) -> None:
        with self.lock:
            self.orders[order.order_id] = order
            self.sessions[order.session_id] = order.order_id

    def order(self, identifier: str) -> Order | None:
        """By our order_id, or by MSP's transaction id (the spec's `psp_id`): the docs use both."""
        with self.lock:
            found = self.orders.get(identifier)
            if found is None and identifier.isdigit():
                found = next((o for o in self.orders.values() if o.transaction_id == int(identifier)), None)
            return found

    def by_session(self, session_id: str) -> Order | None:
        with self.lock:
            order_id = self.sessions.get(session_id)
            return self.orders.get(order_id) if order_id else None

    def script(self, outcome: str, times: int) -> list[str]:
        """Queue the next `times` shopper approvals; answers everything now queued."""
        return self.scenarios.add(APPROVAL, None, outcome, times)

    def next_outcome(self) -> str | None:
        """The next scripted shopper approval (consumed), or None: personas decide."""
        return self.scenarios.take(APPROVAL, None)

    def snapshot(self) -> list[Any]:
        with self.lock:
            return list(self.orders.values())
