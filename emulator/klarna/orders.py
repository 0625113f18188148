"""Klarna orders: placing one (from an authorization token or a customer token), the Order Management view
of it (`MerchantOrderDto`), captures, and the fraud review of PENDING orders.

Why one module for both ways in: an order placed by the Payments API and one charged on a customer token
are the same object to Order Management (reference §7-§9), and the fraud decision, the authorization
lifetime and `auto_capture` must behave the same for both.
"""
from __future__ import annotations

import copy
import secrets
import string
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from ..server import json_copy
from .callbacks import fill_placeholders, fraud_notification
from .personas import FraudOutcome
from .state import Order

if TYPE_CHECKING:
    from .provider import KlarnaProvider

# payment_method_category chosen in the widget -> authorized_payment_method (object form, as in the spec)
PAYMENT_METHODS = {
    "pay_later": {"type": "invoice", "number_of_days": 30},
    "pay_over_time": {"type": "fixed_amount", "number_of_installments": 3},
    "pay_now": {"type": "direct_debit"},
    "direct_debit": {"type": "direct_debit"},
    "direct_bank_transfer": {"type": "direct_bank_transfer"},
}
DEFAULT_METHOD = {"type": "invoice", "number_of_days": 30}
INITIAL_METHOD = {"invoice": ("INVOICE", "Pay later"), "fixed_amount": ("FIXED_AMOUNT", "Pay in 3"),
                  "direct_debit": ("DIRECT_DEBIT", "Pay now"),
                  "direct_bank_transfer": ("DIRECT_BANK_TRANSFER", "Pay now")}
ORDER_FIELDS = ("purchase_country", "purchase_currency", "locale", "order_amount", "order_tax_amount",
                "order_lines", "billing_address", "shipping_address", "customer", "merchant_reference1",
                "merchant_reference2", "merchant_data", "merchant_urls")


def klarna_reference() -> str:
    """Klarna's short human reference, e.g. K4MADNY-1 style: 7 letters/digits."""
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(7))


def payment_method(category: str | None) -> dict:
    return json_copy(PAYMENT_METHODS.get(category or "", DEFAULT_METHOD))


def place_order(provider: "KlarnaProvider", *, data: dict, outcome: FraudOutcome, category: str | None,
                source: str, session_id: str | None = None, token_id: str | None = None) -> Order:
    """Create and store the order; `auto_capture` captures it whole at once. Caller holds the state lock."""
    now = provider.now()
    order = Order(
        order_id=str(uuid.uuid4()), klarna_reference=klarna_reference(), fraud_status=outcome.fraud_status,
        data={key: json_copy(data[key]) for key in ORDER_FIELDS if key in data},
        original_order_amount=data["order_amount"], created_at=now,
        expires_at=now + timedelta(days=provider.setting("authorization_days")),
        authorized_payment_method=payment_method(category), source=source, session_id=session_id,
        token_id=token_id)
    order.data.setdefault("order_tax_amount", 0)
    if outcome.fraud_status == "PENDING":
        order.decision, order.decide_at = outcome.decision, now + outcome.delay
    provider.state.add_order(order)
    if data.get("auto_capture") and order.order_amount > 0:
        add_capture(provider, order, {"captured_amount": order.order_amount,
                                      "order_lines": json_copy(order.data["order_lines"])})
    return order


def order_answer(provider: "KlarnaProvider", order: Order) -> dict:
    """The `order` answer of create order / token order; `redirect_url` only with a confirmation URL."""
    answer = {"order_id": order.order_id, "fraud_status": order.fraud_status,
              "authorized_payment_method": json_copy(order.authorized_payment_method)}
    confirmation = (order.data.get("merchant_urls") or {}).get("confirmation")
    if confirmation:
        answer["redirect_url"] = redirect_url(provider, confirmation, session_id=order.session_id,
                                              order_id=order.order_id)
    return answer


def redirect_url(provider: "KlarnaProvider", confirmation: str | None, **ids: str | None) -> str:
    """A Klarna URL that bounces the shopper's browser to the merchant's confirmation page."""
    target = fill_placeholders(confirmation, **ids) if confirmation else provider.public_url + "/"
    return f"{provider.base_url}/redirect/{provider.state.add_redirect(target)}"


# --- captures ------------------------------------------------------------------------------
def add_capture(provider: "KlarnaProvider", order: Order, body: dict) -> dict:
    """Record a capture (amount already checked by the caller) and move the order's status."""
    capture = {
        "capture_id": str(uuid.uuid4()), "klarna_reference": f"{order.klarna_reference}-{len(order.captures) + 1}",
        "captured_amount": body["captured_amount"], "captured_at": provider.iso(provider.now()),
        "description": body.get("description"), "reference": body.get("reference"),
        "order_lines": copy.deepcopy(body.get("order_lines") or []), "refunded_amount": 0,
        "billing_address": copy.deepcopy(order.data.get("billing_address")),
        "shipping_address": copy.deepcopy(order.data.get("shipping_address")),
        "shipping_info": copy.deepcopy(body.get("shipping_info") or []),
    }
    order.captures.append(capture)
    order.captured_amount += capture["captured_amount"]
    order.status = "CAPTURED" if order.captured_amount >= order.order_amount else "PART_CAPTURED"
    return capture


def clean(value: dict) -> dict:
    return {key: item for key, item in value.items() if item is not None}


# --- the Order Management view -----------------------------------------------------------------
def render(provider: "KlarnaProvider", order: Order) -> dict:
    """MerchantOrderDto: GET /ordermanagement/v1/orders/{order_id}. Caller holds the state lock."""
    now = provider.now()
    order.refresh(now)
    data = order.data
    method_type, method_description = INITIAL_METHOD.get(order.authorized_payment_method["type"],
                                                         ("INVOICE", "Pay later"))
    initial = {"type": method_type, "description": method_description}
    if "number_of_installments" in order.authorized_payment_method:
        initial["number_of_installments"] = order.authorized_payment_method["number_of_installments"]
    dto = {
        "order_id": order.order_id, "status": order.status, "fraud_status": order.fraud_status,
        "order_amount": order.order_amount, "original_order_amount": order.original_order_amount,
        "captured_amount": order.captured_amount, "refunded_amount": order.refunded_amount,
        "remaining_authorized_amount": order.remaining_authorized(now),
        "purchase_currency": data.get("purchase_currency"), "purchase_country": data.get("purchase_country"),
        "locale": data.get("locale"), "order_lines": copy.deepcopy(data.get("order_lines") or []),
        "merchant_reference1": data.get("merchant_reference1"), "merchant_reference2": data.get("merchant_reference2"),
        "merchant_data": data.get("merchant_data"), "klarna_reference": order.klarna_reference,
        "created_at": provider.iso(order.created_at), "expires_at": provider.iso(order.expires_at),
        "captures": [clean(copy.deepcopy(c)) for c in order.captures],
        "refunds": [clean(copy.deepcopy(r)) for r in order.refunds],
        "billing_address": copy.deepcopy(data.get("billing_address")),
        "shipping_address": copy.deepcopy(data.get("shipping_address")),
        "customer": copy.deepcopy(data.get("customer")), "initial_payment_method": initial,
        "shipping_info": copy.deepcopy(order.shipping_info),
    }
    return clean(dto)


# --- fraud review of PENDING orders ------------------------------------------------------------------
def decide(provider: "KlarnaProvider", order: Order, fraud_status: str) -> list:
    """Apply the review's outcome (caller holds the lock); a REJECTED order is cancelled. Returns the
    notification to send (after the lock is released)."""
    order.fraud_status = fraud_status
    order.decision, order.decide_at, order.decided_at = None, None, provider.now()
    if fraud_status == "REJECTED" and order.status == "AUTHORIZED":
        order.status = "CANCELLED"
    return fraud_notification(provider, order)


def process_due_decisions(provider: "KlarnaProvider") -> list[dict]:
    """Clock job: decide every PENDING order whose review time has come, and notify the merchant."""
    now = provider.now()
    done, outbounds = [], []
    with provider.state.lock:
        for order in provider.state.orders.values():
            if order.fraud_status == "PENDING" and order.decide_at is not None and order.decide_at <= now:
                outbounds += decide(provider, order, order.decision or "ACCEPTED")
                done.append({"order_id": order.order_id, "fraud_status": order.fraud_status})
    provider.send(outbounds)
    return done
