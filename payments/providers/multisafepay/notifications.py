"""What a MultiSafepay notification says, before anyone trusts it (reference notes §5).

MultiSafepay calls our `notification_url` with `transactionid=<our order_id>&timestamp=<ts>` appended:
POST with the order object as body and an `Auth` signature (see signatures.py), or GET with no body and no
signature. It sends no event id, so a delivery's identity is derived from the order, its status pair and the
timestamp: a resend of the same status with a fresh timestamp is a new delivery that changes nothing when
applied (the state machine is idempotent), while the same delivery received twice dedupes. Calls without a
timestamp are ignored, as the docs say; `payload_type=pretransaction` is acknowledged and ignored, as the
official plugins do. The acknowledgement is the text `OK` (ACK_BODY) with HTTP 200.
"""
from collections.abc import Mapping
from dataclasses import dataclass, field

from ...exceptions import InvalidReturn
from ..inbound import load_json

ACK_BODY = "OK"


@dataclass(frozen=True)
class Notification:
    order_id: str
    timestamp: str
    method: str  # POST (signed body) or GET (read the order back)
    pretransaction: bool = False
    status: str = ""  # from the body; '' for GET
    financial_status: str = ""
    payload: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def identity(self) -> str:
        """order:status/financial_status:timestamp (GET: order:get:timestamp)."""
        state = f"{self.status}/{self.financial_status}" if self.method == "POST" else "get"
        return f"{self.order_id}:{state}:{self.timestamp}"

    @property
    def ignorable(self) -> bool:
        return self.pretransaction or not self.timestamp


class NotificationError(ValueError):
    """Not a MultiSafepay notification we can attribute to an order (store it raw, answer non-OK)."""


def parse_notification(*, method: str, query: Mapping[str, str], body: bytes) -> Notification:
    """Read the query and (for POST) the JSON body. Does not verify the signature: do that first, on the
    same raw bytes. Raises NotificationError for a missing order id or a POST body that is not an order
    object, or whose `order_id` differs from the query's `transactionid`."""
    order_id = str(query.get("transactionid") or "").strip()
    timestamp = str(query.get("timestamp") or "").strip()
    pretransaction = str(query.get("payload_type") or "").lower() == "pretransaction"
    method = method.upper()
    if method == "GET" or not body.strip():
        if not order_id:
            raise NotificationError("no transactionid")
        return Notification(order_id, timestamp, "GET", pretransaction)
    try:
        payload = load_json(body)  # bounded: size, depth, encoding
    except InvalidReturn as exc:
        raise NotificationError(str(exc)) from None
    if not isinstance(payload, dict):
        raise NotificationError("body is not an order object")
    body_order = str(payload.get("order_id") or "")
    if order_id and body_order and body_order != order_id:
        raise NotificationError("transactionid and body order_id differ")
    order_id = order_id or body_order
    if not order_id:
        raise NotificationError("no order id")
    return Notification(order_id, timestamp, "POST", pretransaction, str(payload.get("status") or ""),
                        str(payload.get("financial_status") or ""), payload)
