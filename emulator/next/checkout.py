"""The Klarna redirect flow: a pending checkout becomes an order (or nothing) when the shopper decides.

Why the order is created only on approval: 29 Next's docs say a `response` of `{}` means payment failed and
no order was created, so a pending checkout has no order number. Lines carrying `subscription` start their
subscriptions at the same moment (the order's `subscriptions` lists them, billing cycle 0). Completion is
idempotent: a second POST (double click, browser back, a retried test) re-sends the stored response and never
makes a second order, subscription or webhook.
"""
from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass

from .events import queue_events
from .orders import build_order, transaction_resource
from .provider import NextProvider
from .state import Checkout
from .subscriptions import create_from_order

ACTIONS = ("approve", "decline", "cancel")
DENIED_MARKER = "+denied"  # Klarna playground persona: customer+denied@example.com is always declined


@dataclass
class Completion:
    return_url: str
    response: str  # the exact `response` form value: the Order JSON, or "{}"
    order_number: str | None

    def as_dict(self) -> dict:
        return asdict(self)


def is_denied_persona(data: dict) -> bool:
    email = ((data.get("user") or {}).get("email") or "").lower()
    return DENIED_MARKER in email.split("@")[0]


def complete_checkout(provider: NextProvider, checkout_id: str, action: str) -> Completion | None:
    """Approve, decline or cancel; None when the checkout is unknown. Locks the provider state."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}.")
    state = provider.state
    events: list[tuple[str, str, dict]] = []
    with state.lock:
        checkout = state.checkouts.get(checkout_id)
        if checkout is None:
            return None
        if checkout.status == "pending":
            if action == "approve" and is_denied_persona(checkout.data):
                action = "decline"
            if action == "approve":
                number = _create_order(provider, checkout)["number"]
                subscriptions = create_from_order(provider, checkout.data, number)
                order = copy.deepcopy(state.orders[number])
                checkout.status, checkout.order_number = "approved", number
                checkout.response = json.dumps(order)
                events = [("order.created", "order", order),
                          ("transaction.created", "transaction",
                           transaction_resource(order, order["transactions"][0]))]
                events += [("subscription.created", "subscription", s) for s in subscriptions]
            else:
                checkout.status = "declined" if action == "decline" else "canceled"
                checkout.response = "{}"
            checkout.completed_at = provider.now_iso()
        completion = Completion(checkout.return_url, checkout.response or "{}", checkout.order_number)
    if events:
        queue_events(provider, events)  # outside the lock: a sync delivery may take a while
    return completion


def _create_order(provider: NextProvider, checkout: Checkout) -> dict:
    state = provider.state
    data = checkout.data
    number = str(state.next_id("order"))
    ids = {
        "user": state.user_id((data.get("user") or {}).get("email")),
        "lines": [state.next_id("line") for _ in data["lines"]],
        "shipping_address": state.next_id("address"),
        "billing_address": state.next_id("address"),
        "transaction": state.next_id("transaction"),
    }
    order = build_order(data, number=number, ids=ids, payment_status=provider.setting("klarna_payment_status"),
                        now=provider.now_iso(), public_url=provider.public_url)
    state.orders[number] = order
    return copy.deepcopy(order)
