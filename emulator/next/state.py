"""In-memory provider-side state of the emulated 29 Next store: checkouts, orders, subscriptions, webhooks,
scripted outcomes (scenarios) and ids.

Why in memory: the emulator is a test double with a lifetime of one test session; `POST /_emulator/reset`
wipes it. One re-entrant lock guards everything, because the HTTP server is threaded and completing a
checkout must turn into exactly one order even when the shopper double-clicks "Pay now", and a renewal
must be charged once even when the clock's ticker and a `/renew/` call meet.
"""
from __future__ import annotations

import bisect
import copy
import itertools
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..scenarios import ScenarioQueue

FIRST_ORDER_NUMBER = 100001

# How list endpoints order each store (newest first by this key) and page it with a cursor.
SORT_KEYS = {"orders": lambda order: int(order["number"]), "subscriptions": lambda sub: sub["id"]}


@dataclass
class Checkout:
    """A pending Klarna payment: no order exists until the shopper approves (docs: `{}` = no order)."""

    id: str
    created_at: str
    data: dict  # the validated CreateOrder body (defaults filled in, unknown keys dropped)
    raw: Any  # exactly what the client sent, for inspection through the control API
    status: str = "pending"  # pending, approved, declined, canceled
    response: str | None = None  # the exact `response` form value sent back (idempotent re-sends)
    order_number: str | None = None
    completed_at: str | None = None

    @property
    def return_url(self) -> str:
        return (self.data.get("payment_details") or {}).get("payment_return_url") or ""

    def as_dict(self, public_url: str) -> dict:
        return {
            "id": self.id, "status": self.status, "created_at": self.created_at,
            "completed_at": self.completed_at, "order_number": self.order_number,
            "payment_complete_url": checkout_url(public_url, self.id), "return_url": self.return_url,
            "response": self.response, "request": copy.deepcopy(self.raw),
        }


def checkout_url(public_url: str, checkout_id: str) -> str:
    return f"{public_url}/next/klarna/{checkout_id}/"


@dataclass
class NextState:
    lock: threading.RLock = field(default_factory=threading.RLock)
    checkouts: dict[str, Checkout] = field(default_factory=dict)
    orders: dict[str, dict] = field(default_factory=dict)  # number -> Order JSON, insertion = age order
    webhooks: dict[int, dict] = field(default_factory=dict)  # id -> Webhook JSON (+ secret_key)
    subscriptions: dict[int, dict] = field(default_factory=dict)  # id -> SubscriptionDetail JSON
    users: dict[str, int] = field(default_factory=dict)  # email -> user id: customers are matched by email
    _counters: dict[str, itertools.count] = field(default_factory=dict)
    # when the renewal job last looked: dates past before it are missed dates (one attempt), not on schedule
    renewals_checked_at: datetime | None = None

    def __post_init__(self) -> None:
        # per store: (size when built, sort keys ascending, store keys in the same order), for bisecting a
        # cursor instead of sorting the store per page; rebuilt when the store grew (nothing is deleted
        # but by reset, which empties it)
        self._indexes: dict[str, tuple[int, list[int], list]] = {}
        # scripted outcomes, consumed one per charge: ("renewal", subscription id) / ("upsell", order number)
        self.scenarios = ScenarioQueue(self.lock)

    def reset(self) -> None:
        with self.lock:
            self.checkouts.clear()
            self.orders.clear()
            self.subscriptions.clear()
            self.scenarios.clear()
            self.webhooks.clear()
            self.users.clear()
            self._counters.clear()
            self._indexes.clear()
            self.renewals_checked_at = None

    def next_id(self, kind: str) -> int:
        """Sequential ids per kind; order numbers start at 100001 like a store's first orders."""
        with self.lock:
            if kind not in self._counters:
                self._counters[kind] = itertools.count(FIRST_ORDER_NUMBER if kind == "order" else 1)
            return next(self._counters[kind])

    def user_id(self, email: str | None) -> int:
        with self.lock:
            if not email:
                return self.next_id("user")
            key = email.strip().lower()
            if key not in self.users:
                self.users[key] = self.next_id("user")
            return self.users[key]

    def add_checkout(self, *, data: dict, raw: Any, created_at: str) -> Checkout:
        with self.lock:
            checkout = Checkout(id=secrets.token_urlsafe(18), created_at=created_at, data=data, raw=raw)
            self.checkouts[checkout.id] = checkout
            return checkout

    def checkout(self, checkout_id: str) -> Checkout | None:
        with self.lock:
            return self.checkouts.get(checkout_id)

    def order(self, number: str) -> dict | None:
        with self.lock:
            order = self.orders.get(number)
            return copy.deepcopy(order) if order else None

    def list_orders(self) -> list[dict]:
        with self.lock:
            return [copy.deepcopy(o) for o in self.orders.values()]

    def subscription(self, subscription_id: int) -> dict | None:
        with self.lock:
            subscription = self.subscriptions.get(subscription_id)
            return copy.deepcopy(subscription) if subscription else None

    def list_subscriptions(self) -> list[dict]:
        with self.lock:
            return [copy.deepcopy(s) for s in self.subscriptions.values()]

    @staticmethod
    def sort_key(kind: str):
        return SORT_KEYS[kind]

    def window(self, kind: str, *, position: int | None, ascending: bool, match, size: int) -> tuple[list[dict], bool]:
        """Copies of up to `size` objects of store `kind` that `match`, walking from the cursor `position`
        (exclusive; None = the newest end) towards newer objects when `ascending`, else older ones; and
        whether another match lies beyond them. Costs the objects walked, not the store's size."""
        with self.lock:
            store = getattr(self, kind)
            sort_values, store_keys = self._index(kind, store)
            if ascending:
                start = 0 if position is None else bisect.bisect_right(sort_values, position)
                walk = range(start, len(store_keys))
            else:
                end = len(store_keys) if position is None else bisect.bisect_left(sort_values, position)
                walk = range(end - 1, -1, -1)
            found = []
            for index in walk:
                item = store[store_keys[index]]
                if match(item):
                    if len(found) == size:
                        return found, True
                    found.append(copy.deepcopy(item))
            return found, False

    def _index(self, kind: str, store: dict) -> tuple[list[int], list]:
        built = self._indexes.get(kind)
        if built is None or built[0] != len(store):
            key = SORT_KEYS[kind]
            pairs = sorted((key(item), store_key) for store_key, item in store.items())
            built = (len(store), [value for value, _ in pairs], [store_key for _, store_key in pairs])
            self._indexes[kind] = built
        return built[1], built[2]

    def add_webhook(self, webhook: dict) -> dict:
        with self.lock:
            self.webhooks[webhook["id"]] = webhook
            return copy.deepcopy(webhook)

    def list_webhooks(self) -> list[dict]:
        with self.lock:
            return [copy.deepcopy(w) for w in self.webhooks.values()]

    def disable_webhook(self, webhook_id: int) -> None:
        with self.lock:
            if webhook_id in self.webhooks:
                self.webhooks[webhook_id]["active"] = False
