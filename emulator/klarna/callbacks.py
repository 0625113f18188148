"""Server-to-server calls Klarna makes to the merchant: the authorization callback and the pending-order
(fraud decision) notification. Both are unsigned JSON POSTs (reference: the v1 playground signs nothing).

Why through the shared webhook sender: deliveries then show up in `GET /_emulator/webhooks?provider=klarna`,
obey `POST /_emulator/webhooks/mode` (drop, duplicate, delay) and are forgotten on reset, like every other
provider's. Klarna's own policy (2xx = success, 3 attempts) is looser than the sender's (only 200 counts,
up to 10 attempts): a receiver answering 200 sees no difference.
"""
from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

from ..webhooks import Outbound

if TYPE_CHECKING:
    from .provider import KlarnaProvider
    from .state import Order

HEADERS = {"Content-Type": "application/json", "User-Agent": "Klarna-Emulator/1.0"}


def fill_placeholders(url: str, *, session_id: str | None = None, order_id: str | None = None) -> str:
    """`{session.id}` and `{order.id}` are allowed in confirmation, notification and push URLs (§3)."""
    if session_id:
        url = url.replace("{session.id}", session_id)
    if order_id:
        url = url.replace("{order.id}", order_id)
    return url


def _outbound(target: str, payload: dict, event_type: str) -> Outbound:
    return Outbound(provider="klarna", target=target, body=json.dumps(payload).encode(),
                    headers=dict(HEADERS), event_id=str(uuid.uuid4()), event_type=event_type)


def authorization_callback(url: str | None, *, authorization_token: str, session_id: str) -> list[Outbound]:
    """§6: after a successful authorize(), POST {"authorization_token", "session_id"} to
    `merchant_urls.authorization` (best effort; the browser also hands the token to the shop)."""
    if not url:
        return []
    return [_outbound(url, {"authorization_token": authorization_token, "session_id": session_id},
                      "authorization")]


def fraud_notification(provider: "KlarnaProvider", order: "Order") -> list[Outbound]:
    """§9 pending orders: POST {order_id, event_type: FRAUD_RISK_ACCEPTED|FRAUD_RISK_REJECTED, event_time}
    to the order's `merchant_urls.notification` once the review is decided."""
    url = (order.data.get("merchant_urls") or {}).get("notification")
    if not url:
        return []
    event_type = f"FRAUD_RISK_{order.fraud_status}"
    payload = {"order_id": order.order_id, "event_type": event_type, "event_time": provider.iso(order.decided_at)}
    target = fill_placeholders(url, session_id=order.session_id, order_id=order.order_id)
    return [_outbound(target, payload, event_type)]
