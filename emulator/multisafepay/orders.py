"""The Klarna order's life at MultiSafepay (reference notes §7, §8) and its JSON shape (§4).

    initialized/initialized --shopper approves--> completed/uncleared (authorised) --PATCH shipped-->
    shipped/uncleared (captured; control API `collect` -> shipped/completed) --refunds--> partial_refunded
    / refunded. Declined: declined/declined. Shopper cancels: cancelled/cancelled. PATCH cancelled before
    shipping: initialized -> cancelled/cancelled, authorised -> void/void. Not paid within `payment_days`
    or not shipped within `ship_days`: expired/expired. A `+pending` persona or scenario: uncleared/uncleared
    until the control API decides.

Every change records the rendered order and queues a notification; callers send them (`send`) after
releasing the state lock, because a merchant answering a notification may read the order back at once.
"""
from __future__ import annotations

import json
import secrets
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from .notifications import encode, notification
from .rules import cart_total, check_order, decimal, spec_check
from .state import Order, Refund
from .wire import MSPError

if TYPE_CHECKING:
    from .provider import MultiSafepayProvider

Pending = list[tuple[Order, bytes]]
PAID = ("completed", "uncleared")
EXTENSION = timedelta(weeks=6)
MAX_AUTHORIZATION = timedelta(days=180)
REFUND_REPEAT = timedelta(minutes=5)


def create(provider: "MultiSafepayProvider", api_key: str, data: dict, exact: dict) -> Order:
    items, rates = check_order(provider, data, exact)
    now = provider.now()
    with provider.state.lock:
        if str(data["order_id"]) in provider.state.orders:
            raise MSPError(400, 1006, "Invalid transaction ID")
        order = Order(order_id=str(data["order_id"]), transaction_id=next(provider.state.transaction_ids),
                      session_id=_session_id(), api_key=api_key, data=data, items=items, rates=rates,
                      created=now, modified=now)
        provider.state.add(order)
    return order


def _session_id() -> str:
    return secrets.token_urlsafe(27).replace("-", "x").replace("_", "y")


def payment_url(provider: "MultiSafepayProvider", order: Order) -> str:
    """redirect: MultiSafepay's payment page; direct: straight to (our stand-in for) Klarna."""
    page = "connect" if order.type == "redirect" else "klarna"
    locale = (order.data.get("customer") or {}).get("locale") or "en_US"
    return f"{provider.public_url}/multisafepay/{page}/{order.session_id}/?{urlencode({'lang': locale})}"


def create_answer(provider: "MultiSafepayProvider", order: Order) -> dict:
    if order.type == "redirect":
        return {"order_id": order.order_id, "payment_url": payment_url(provider, order),
                "session_id": order.session_id}
    return {**render(provider, order), "payment_url": payment_url(provider, order)}


def change(provider: "MultiSafepayProvider", order: Order, status: str, financial: str, reason: str = "") -> Pending:
    """Set the statuses (caller holds the lock) and record the notification body."""
    now = provider.now()
    order.status, order.financial_status, order.modified = status, financial, now
    order.reason = reason or order.reason
    if status == "completed" and order.completed is None:
        order.completed = now
        order.ship_deadline = now + timedelta(days=provider.setting("ship_days"))
    body = encode(render(provider, order))
    order.notifications.append({"status": status, "financial_status": financial, "body": body.decode()})
    return [(order, body)]


def send(provider: "MultiSafepayProvider", pending: Pending) -> None:
    outbounds = [out for order, body in pending for out in notification(provider, order, body)]
    if outbounds:
        provider.app.webhooks.send(outbounds, sync=provider.setting("notifications_sync"))


def _persona(order: Order) -> str | None:
    data = order.data
    emails = [(data.get(k) or {}).get("email") or "" for k in ("customer", "delivery", "gateway_info")]
    local_parts = " ".join(e.split("@")[0].lower() for e in emails)
    return "decline" if "+denied" in local_parts else "pending" if "+pending" in local_parts else None


def shopper_action(provider: "MultiSafepayProvider", order: Order, action: str) -> tuple[str, Pending]:
    """The shopper's choice on the hosted page; returns where the browser goes next and the notifications.
    A second click changes nothing and goes where the first one went."""
    pending: Pending = []
    with provider.state.lock:
        if order.status == "initialized":
            if action == "approve":
                action = provider.state.next_outcome() or _persona(order) or "approve"
            if action == "approve":
                pending = change(provider, order, "completed", "uncleared")
            elif action == "pending":
                pending = change(provider, order, "uncleared", "uncleared", "Pending risk review")
            elif action == "decline":
                pending = change(provider, order, "declined", "declined", "Declined by Klarna")
            else:
                pending = change(provider, order, "cancelled", "cancelled", "Cancelled by customer")
        succeeded = order.status in PAID or order.status == "shipped"
        options = order.options
        url = (options.get("redirect_url") if succeeded else options.get("cancel_url")) or ""
    if url:
        url = f"{url}{'&' if '?' in url else '?'}{urlencode({'transactionid': order.order_id})}"
    return url, pending


def ship(provider: "MultiSafepayProvider", order: Order, details: dict) -> Pending:
    with provider.state.lock:
        if order.status == "shipped":
            return []  # shipping again is accepted and changes nothing (a retried PATCH is safe)
        if (order.status, order.financial_status) != ("completed", "uncleared"):
            raise MSPError(400, 1000, f"Order cannot be shipped in status {order.status}")
        order.shipping = {k: v for k, v in details.items() if k != "status"}
        return change(provider, order, "shipped", "uncleared", str(details.get("reason") or ""))


def cancel(provider: "MultiSafepayProvider", order: Order) -> Pending:
    with provider.state.lock:
        if order.status in ("cancelled", "void"):
            return []
        if order.status == "initialized":
            return change(provider, order, "cancelled", "cancelled", "Cancelled by merchant")
        if order.status in PAID:
            return change(provider, order, "void", "void", "Cancelled by merchant")
        raise MSPError(400, 1000, f"Order cannot be cancelled in status {order.status}")


def extend(provider: "MultiSafepayProvider", order: Order) -> None:
    with provider.state.lock:
        if order.status != "completed" or order.ship_deadline is None:
            raise MSPError(400, 1000, f"Expiration cannot be extended in status {order.status}")
        order.ship_deadline = min(order.ship_deadline + EXTENSION, order.created + MAX_AUTHORIZATION)


def refund(provider: "MultiSafepayProvider", order: Order, data: dict, exact: dict) -> tuple[dict, Pending]:
    """A BNPL refund: every original item unchanged, then the refund lines (negative unit_price, or negative
    quantity: both readings of the docs). The refund is the cart total minus the total with the lines."""
    if "checkout_data" not in data:
        raise MSPError(400, 1000, "Invalid checkout_data: a Klarna refund needs the cart")
    spec_check(provider, "refund_bnpl", data)
    items = ((exact.get("checkout_data") or {}).get("items")) or []
    with provider.state.lock:
        if order.status not in ("shipped", "partial_refunded"):
            raise MSPError(400, 1034, f"Cannot refund: order status is {order.status}")
        originals, lines = items[:len(order.items)], items[len(order.items):]
        if len(originals) != len(order.items) or any(not _same_item(a, b) for a, b in zip(originals, order.items)):
            raise MSPError(400, 1000, "Invalid checkout_data: the original items must be sent unchanged")
        known = {str(item.get("merchant_item_id")) for item in order.items}
        if not lines or any(str(line.get("merchant_item_id")) not in known for line in lines):
            raise MSPError(400, 1000, "Invalid checkout_data: refund lines must copy an original item")
        currency = str(order.data["currency"]).upper()
        amount = order.amount - cart_total(items, order.rates, currency)
        now = provider.now()
        fingerprint = json.dumps(lines, sort_keys=True, default=str)
        if any(r.fingerprint == fingerprint and now - r.created < REFUND_REPEAT for r in order.refunds):
            raise MSPError(400, 1034, "Cannot refund: an identical refund was made within 5 minutes")
        if not 0 < amount <= order.amount - order.amount_refunded:
            raise MSPError(400, 1034, "Cannot refund: the amount exceeds what is left to refund")
        refund = Refund(refund_id=next(provider.state.refund_ids),
                        transaction_id=next(provider.state.transaction_ids), amount=amount, created=now,
                        fingerprint=fingerprint)
        order.refunds.append(refund)
        order.amount_refunded += amount
        status = "refunded" if order.amount_refunded == order.amount else "partial_refunded"
        pending = change(provider, order, status, order.financial_status)
        return {"transaction_id": refund.transaction_id, "refund_id": refund.refund_id}, pending


def _same_item(sent: dict, original: dict) -> bool:
    def key(item: dict) -> tuple:
        return (str(item.get("merchant_item_id")), decimal(item.get("unit_price"), 1031, "Invalid unit price"),
                decimal(item.get("quantity"), 1000, "Invalid quantity"), str(item.get("tax_table_selector") or ""))
    return key(sent) == key(original)


def expire_due(provider: "MultiSafepayProvider") -> list[dict]:
    """Clock job: unpaid orders after `payment_days`, unshipped authorisations after `ship_days`."""
    now, done, pending = provider.now(), [], []
    with provider.state.lock:
        for order in provider.state.orders.values():
            unpaid = order.status == "initialized" and now > order.created + timedelta(
                days=provider.setting("payment_days"))
            unshipped = order.status == "completed" and order.ship_deadline and now > order.ship_deadline
            if unpaid or unshipped:
                pending += change(provider, order, "expired", "expired", "Expired")
                done.append({"order_id": order.order_id, "status": "expired"})
    send(provider, pending)
    return done


def _money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


def render(provider: "MultiSafepayProvider", order: Order) -> dict:
    """The order object of GET /orders/{id} `data` and of notification bodies (§4, incl. the quirks of the
    official fixtures: flattened checkout_options, string unit prices)."""
    data, customer = order.data, order.data.get("customer") or {}
    currency = str(data["currency"]).upper()
    payment = {"amount": order.amount, "currency": currency, "description": data.get("description"),
               "external_transaction_id": order.external_id, "payment_description": "Klarna",
               "status": order.financial_status, "type": "KLARNA"}
    related = [{"amount": r.amount, "costs": [], "created": provider.local(r.created), "currency": currency,
                "description": f"Refund {order.order_id}", "modified": provider.local(r.created),
                "order_id": order.order_id, "reference_transaction_id": order.transaction_id,
                "refund_order_id": order.order_id, "status": "completed", "transaction_id": r.transaction_id,
                "type": "refund"} for r in order.refunds]
    tables = (data.get("checkout_options") or {}).get("tax_tables") or {}
    net = sum((decimal(i["unit_price"], 1031, "") * decimal(i["quantity"], 1000, "") for i in order.items), Decimal(0))
    return {
        "amount": order.amount, "amount_refunded": order.amount_refunded,
        "checkout_options": {"default": tables.get("default") or {}, "alternate": tables.get("alternate") or []},
        "completed": provider.local(order.completed), "costs": [], "created": provider.local(order.created),
        "currency": currency,
        "custom_info": {f"custom_{n}": (data.get("custom_info") or {}).get(f"custom_{n}") for n in (1, 2, 3)},
        "customer": {key: customer.get(key) for key in ("address1", "address2", "city", "country", "email",
                                                        "first_name", "house_number", "last_name", "state",
                                                        "zip_code")}
        | {"country_name": None, "locale": customer.get("locale") or "en_US", "phone1": customer.get("phone") or "",
           "phone2": ""},
        "description": data.get("description"), "fastcheckout": "NO", "financial_status": order.financial_status,
        "items": data.get("items") or None, "modified": provider.local(order.modified), "order_id": order.order_id,
        "order_adjustment": {"total_adjustment": "0.00", "total_tax": _money(Decimal(order.amount) / 100 - net)},
        "order_total": _money(Decimal(order.amount) / 100),
        "payment_details": {"account_holder_name": None, "account_id": None, "collecting_flow": None,
                            "external_transaction_id": order.external_id, "recurring_flow": None,
                            "recurring_id": None, "recurring_model": None, "type": "KLARNA"},
        "payment_methods": [payment], "reason": order.reason, "reason_code": "",
        "related_transactions": related or None,
        "shopping_cart": {"items": [_cart_item(item, currency) for item in order.items]},
        "status": order.status, "transaction_id": order.transaction_id,
        "var1": data.get("var1") or None, "var2": data.get("var2") or None, "var3": data.get("var3") or None,
    }


def _cart_item(item: dict, currency: str) -> dict:
    price = decimal(item.get("unit_price"), 1031, "").quantize(Decimal("1e-10"))
    weight = item.get("weight") or {"unit": None, "value": None}
    return {"cashback": "", "currency": currency, "description": item.get("description") or "", "image": "",
            "merchant_item_id": item.get("merchant_item_id"), "name": item.get("name"), "options": [],
            "product_url": "", "quantity": int(item.get("quantity") or 0),
            "tax_table_selector": item.get("tax_table_selector") or "", "unit_price": format(price, "f"),
            "weight": json.loads(json.dumps(weight, default=str))}
