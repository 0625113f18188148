"""Build 29 Next `Order`, `OrderList` and `Transaction` JSON from an approved checkout.

Why a builder: the same Order JSON is returned by `GET /orders/{number}/`, carried in the `response` form
field of the return POST and sent in `order.created`, and the shop compares them, so it is built once at
approval and stored. The emulator has no catalog and computes no tax: line prices come from the request and
are taken as tax-inclusive, so `total_tax` is "0.00". `price_incl_tax` on a line is the line total
(unit price x quantity), as in django-oscar's `line_price_incl_tax` that 29 Next is built on.
"""
from __future__ import annotations

import copy
import secrets
import string
import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

GATEWAY = {"id": 1, "name": "NEXT Payments", "type": "nextpayments"}
ORDER_LIST_FIELDS = (
    "created_at", "currency", "date_placed", "display_taxes", "fulfillment_status", "is_test", "metadata",
    "number", "order_status_url", "original_shipping_excl_tax", "original_shipping_incl_tax",
    "original_total_discount", "original_total_excl_tax", "original_total_incl_tax", "payment_status",
    "shipping_code", "shipping_excl_tax", "shipping_incl_tax", "shipping_method", "shipping_tax", "source",
    "status", "total_cost", "total_discount", "total_excl_tax", "total_incl_tax", "total_outstanding",
    "total_tax", "updated_at", "user",
)
ATTRIBUTION_FIELDS = ("affiliate", "funnel", "gclid", "subaffiliate1", "subaffiliate2", "subaffiliate3",
                      "subaffiliate4", "subaffiliate5", "utm_campaign", "utm_content", "utm_medium",
                      "utm_source", "utm_term")
ADDRESS_FIELDS = ("first_name", "last_name", "line1", "line2", "line3", "line4", "state", "postcode",
                  "country", "phone_number")
ZERO = "0.00"


def money(value: Any) -> str:
    return str(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def order_total(data: dict) -> Decimal:
    """What the shopper pays: line prices x quantities plus the shipping price (no tax, no discounts)."""
    lines = sum(Decimal(line["price"]) * line["quantity"] for line in data["lines"])
    return Decimal(money(lines + Decimal(data.get("shipping_price") or "0")))


def line_title(line: dict) -> str:
    metadata = line.get("metadata") if isinstance(line.get("metadata"), dict) else {}
    return str(metadata.get("title") or f"Product {line['product_id']}")


def address(source: dict | None, address_id: int, *, shipping: bool) -> dict | None:
    if not source:
        return None
    address = {"id": address_id, **{k: source.get(k, "") or "" for k in ADDRESS_FIELDS}}
    if shipping:
        address["notes"] = source.get("notes", "") or ""
    return address


def _user(data: dict, user_id: int) -> dict:
    user = data.get("user") or {}
    return {
        "id": user_id, "email": user.get("email"), "first_name": user.get("first_name", ""),
        "last_name": user.get("last_name", ""), "phone_number": user.get("phone_number"),
        "language": user.get("language"), "accepts_marketing": bool(user.get("accepts_marketing", False)),
        "ip": user.get("ip"), "user_agent": user.get("user_agent"),
    }


def build_line(line: dict, *, line_id: int, currency: str, now: str) -> dict:
    metadata = line.get("metadata") if isinstance(line.get("metadata"), dict) else {}
    total = money(Decimal(line["price"]) * line["quantity"])
    prices = {"price_incl_tax": total, "price_excl_tax": total, "original_price_incl_tax": total,
              "original_price_excl_tax": total, "total_discount": ZERO, "original_total_discount": ZERO,
              "total_cost": ZERO, "unit_cost": ZERO}
    return {
        "id": line_id, "product_id": line["product_id"], "variant_id": line["product_id"],
        "product_title": line_title(line), "variant_title": str(metadata.get("variant_title", "")),
        "sku": str(metadata.get("sku", "")), "product_image": str(metadata.get("image", "")),
        "product_url": str(metadata.get("url", "")),
        "quantity": line["quantity"], "current_quantity": line["quantity"],
        "fulfillable_quantity": line["quantity"], "editable_quantity": line["quantity"],
        **prices, "currency": currency, "is_upsell": bool(line.get("is_upsell", False)),
        "is_gift_card": False, "requires_shipping": metadata.get("requires_shipping", True) is not False,
        "metadata": copy.deepcopy(line.get("metadata")) if line.get("metadata") is not None else {},
        "tax_lines": [], "report_values": {"currency": currency, **prices},
        "created_at": now, "updated_at": now,
    }


def build_transaction(*, transaction_id: int, amount: str, currency: str, payment_status: str,
                      statement_descriptor: str | None, now: str) -> dict:
    """One successful Klarna charge; an "authorize" when the store is configured to authorize only."""
    return {
        "id": transaction_id, "type": "authorize" if payment_status == "authorized" else "debit",
        "status": "succeeded", "amount": amount, "currency": currency, "payment_method": "klarna",
        "response_code": 100, "auth_code": "".join(secrets.choice(string.ascii_uppercase + string.digits)
                                                   for _ in range(6)),
        "parent_id": None, "is_test": True, "is_external": False, "is_disputed": False,
        "is_initial_retry": None, "external_id": str(uuid.uuid4()), "network_transaction_id": None,
        "statement_descriptor": statement_descriptor, "date_created": now,
        "payment_details": {"gateway": dict(GATEWAY), "bankcard_first_six": None, "bankcard_last_four": None,
                            "card_token": "", "is_3ds": False, "optimized_3ds": False, "paypal_vault_id": "",
                            "sca_flow": ""},
        "report_values": {"amount": amount, "currency": currency},
    }


def build_order(data: dict, *, number: str, ids: dict[str, Any], payment_status: str, now: str,
                public_url: str) -> dict:
    """The Admin API `Order` for an approved checkout. `ids` holds user, line, address and transaction ids."""
    currency = data["currency"]
    shipping = money(data.get("shipping_price") or "0")
    total = money(order_total(data))
    outstanding = total if payment_status == "authorized" else ZERO
    shipping_address = address(data.get("shipping_address"), ids["shipping_address"], shipping=True)
    billing_source = data.get("billing_address")
    if data.get("billing_same_as_shipping_address") or not billing_source:
        billing_source = data.get("shipping_address")
    billing_address = address(billing_source, ids["billing_address"], shipping=False)
    attribution = {k: (data.get("attribution") or {}).get(k) for k in ATTRIBUTION_FIELDS}
    attribution.update(agent=None, metadata=(data.get("attribution") or {}).get("metadata") or {})
    payment_details = data.get("payment_details") or {}
    totals = {
        "total_incl_tax": total, "total_excl_tax": total, "total_tax": ZERO, "total_discount": ZERO,
        "total_cost": ZERO, "shipping_incl_tax": shipping, "shipping_excl_tax": shipping,
        "original_total_incl_tax": total, "original_total_excl_tax": total, "original_total_discount": ZERO,
        "original_shipping_incl_tax": shipping, "original_shipping_excl_tax": shipping,
    }
    recurring = any(line.get("subscription") for line in data["lines"])
    return {
        "number": number, "status": "open", "payment_status": payment_status,
        "fulfillment_status": "unfulfilled", "currency": currency, **totals,
        "total_outstanding": outstanding, "shipping_tax": ZERO, "display_taxes": "",
        "report_values": {"currency": currency, **totals},
        "tax_lines": [], "shipping_tax_lines": [], "voucher_discounts": [], "offer_discounts": [],
        "lines": [build_line(line, line_id=line_id, currency=currency, now=now)
                  for line, line_id in zip(data["lines"], ids["lines"])],
        "user": _user(data, ids["user"]),
        "shipping_address": shipping_address, "billing_address": billing_address,
        "shipping_code": data.get("shipping_code") or "default", "shipping_method": "Standard shipping",
        "transactions": [build_transaction(transaction_id=ids["transaction"], amount=total, currency=currency,
                                           payment_status=payment_status, now=now,
                                           statement_descriptor=payment_details.get("statement_descriptor"))],
        "refunds": [], "fulfillments": [], "subscriptions": [],
        "subscription_lifecycle": "recurring" if recurring else "non-recurring",
        "supports_post_purchase_upsells": True,
        "metadata": copy.deepcopy(data.get("metadata")) if data.get("metadata") is not None else {},
        "tags": [t for t in data.get("tags") or [] if t is not None], "attribution": attribution,
        "created_at": now, "date_placed": now, "updated_at": now,
        "order_status_url": f"{public_url}/next/orders/{number}/status/", "is_test": True,
        "source": "admin_api",
    }


def transaction_resource(order: dict, transaction: dict, subscription: dict | None = None) -> dict:
    """The `Transaction` resource (webhook data): TransactionObject plus its order, customer and, for a
    renewal, `subscription: {id, billing_cycle}`."""
    return {
        **copy.deepcopy(transaction), "order": order["number"], "user": copy.deepcopy(order["user"]),
        "attribution": copy.deepcopy(order["attribution"]), "subscription": copy.deepcopy(subscription),
        "initiator": None,
        "amount_available_for_refund": transaction["amount"] if transaction["type"] == "debit" else ZERO,
    }


def failed_transaction_resource(*, transaction_id: int, amount: str, currency: str, order_number: str | None,
                                user: dict, attribution: dict, subscription: dict | None, now: str) -> dict:
    """A declined merchant-initiated Klarna charge (renewal or upsell), as `transaction.created` carries it.

    It is not added to any order: a declined renewal makes no order, and a declined upsell leaves the
    order untouched. Response code 200 is "declined" in the gateway's 100/200/300 scheme.
    """
    transaction = build_transaction(transaction_id=transaction_id, amount=amount, currency=currency,
                                    payment_status="paid", statement_descriptor=None, now=now)
    transaction.update(status="failed", response_code=200, auth_code="")
    return {
        **transaction, "order": order_number, "user": copy.deepcopy(user),
        "attribution": copy.deepcopy(attribution), "subscription": copy.deepcopy(subscription),
        "initiator": None, "amount_available_for_refund": ZERO,
    }


def order_list_item(order: dict) -> dict:
    return {key: copy.deepcopy(order[key]) for key in ORDER_LIST_FIELDS}
