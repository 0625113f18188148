"""Klarna Order Management API v1 under `/klarna/ordermanagement/v1/orders/`: read, capture, refund,
cancel, release, extend and update the authorization of an order.

Why these refusals (reference §9): money can only move within what is authorized and captured, so an
over-capture is `403 CAPTURE_NOT_ALLOWED`, an over-refund `403 REFUND_NOT_ALLOWED`, a cancel after a capture
`403 CANCEL_NOT_ALLOWED`, and release/extend/update outside their window `403 NOT_ALLOWED`. An order under
fraud review (PENDING) or rejected cannot be captured: the merchant must not ship it. Every POST/PATCH
honours `Klarna-Idempotency-Key`.
"""
from __future__ import annotations

import copy
import uuid
from datetime import datetime, timedelta

from ..routes import register_routes
from ..server import Request, Response, json_response
from .orders import add_capture, clean, render
from .provider import BASE, KlarnaProvider
from .rules import amount_errors
from .state import Order
from .wire import KlarnaError, bad_value, empty, endpoint, json_body, validated

PREFIX = BASE + "/ordermanagement/v1/orders/<order_id>"
MAX_AUTHORIZATION_DAYS = 180


def register(provider: KlarnaProvider) -> None:
    routes = [
        ("GET", "", get_order, False),
        ("POST", "/captures", capture, True),
        ("GET", "/captures", list_captures, False),
        ("GET", "/captures/<capture_id>", get_capture, False),
        ("POST", "/captures/<capture_id>/shipping-info", capture_shipping_info, True),
        ("POST", "/refunds", refund, True),
        ("GET", "/refunds/<refund_id>", get_refund, False),
        ("POST", "/cancel", cancel, True),
        ("POST", "/release-remaining-authorization", release, True),
        ("POST", "/extend-authorization-time", extend, True),
        ("PATCH", "/authorization", update_authorization, True),
        ("PATCH", "/merchant-references", update_references, True),
        ("PATCH", "/customer-details", update_customer, True),
        ("POST", "/acknowledge", acknowledge, True),
    ]
    register_routes(provider, PREFIX, routes, wrap=endpoint)


def _order(provider: KlarnaProvider, request: Request) -> Order:
    order = provider.state.order(request.params["order_id"], provider.now())
    if order is None:
        raise KlarnaError(404, "NO_SUCH_ORDER", "Order not found")
    return order


def _location(provider: KlarnaProvider, order: Order, kind: str, item_id: str) -> str:
    return f"{provider.base_url}/ordermanagement/v1/orders/{order.order_id}/{kind}/{item_id}"


def get_order(provider: KlarnaProvider, request: Request) -> Response:
    with provider.state.lock:
        return json_response(render(provider, _order(provider, request)))


# --- captures ------------------------------------------------------------------------------------
def capture(provider: KlarnaProvider, request: Request) -> Response:
    """201, no body, headers `Capture-Id` and `Location`."""
    with provider.state.lock:
        order = _order(provider, request)
        body = validated(provider, "orders", "CaptureObject", json_body(request))
        amount, now = body["captured_amount"], provider.now()
        if order.fraud_status != "ACCEPTED":
            raise KlarnaError(403, "CAPTURE_NOT_ALLOWED", f"Order fraud status is {order.fraud_status}")
        if order.status in ("CANCELLED", "EXPIRED", "CLOSED"):
            raise KlarnaError(403, "CAPTURE_NOT_ALLOWED", f"Order is {order.status.lower()}")
        if now > order.expires_at:
            raise KlarnaError(403, "CAPTURE_NOT_ALLOWED", "Authorization has expired")
        if amount < 1 or amount > order.remaining_authorized(now):
            raise KlarnaError(403, "CAPTURE_NOT_ALLOWED",
                              "Captured amount is higher than the remaining authorized amount"
                              if amount else "Captured amount must be positive")
        item = add_capture(provider, order, body)
    return empty(201, {"Capture-Id": item["capture_id"],
                       "Location": _location(provider, order, "captures", item["capture_id"])})


def list_captures(provider: KlarnaProvider, request: Request) -> Response:
    with provider.state.lock:
        return json_response([clean(copy.deepcopy(c)) for c in _order(provider, request).captures])


def _capture(provider: KlarnaProvider, request: Request) -> dict:
    order = _order(provider, request)
    for item in order.captures:
        if item["capture_id"] == request.params["capture_id"]:
            return item
    raise KlarnaError(404, "NO_SUCH_CAPTURE", "Capture not found")


def get_capture(provider: KlarnaProvider, request: Request) -> Response:
    with provider.state.lock:
        return json_response(clean(copy.deepcopy(_capture(provider, request))))


def capture_shipping_info(provider: KlarnaProvider, request: Request) -> Response:
    with provider.state.lock:
        item = _capture(provider, request)
        body = validated(provider, "orders", "UpdateShippingInfo", json_body(request))
        item["shipping_info"] = item.get("shipping_info", []) + body["shipping_info"]
    return empty(204)


# --- refunds ---------------------------------------------------------------------------------------
def refund(provider: KlarnaProvider, request: Request) -> Response:
    """201, no body, headers `Refund-Id` and `Location`; at most what was captured and not yet refunded."""
    with provider.state.lock:
        order = _order(provider, request)
        body = validated(provider, "orders", "RefundObject", json_body(request))
        amount = body["refunded_amount"]
        if not order.captures:
            raise KlarnaError(403, "REFUND_NOT_ALLOWED", "Order has no captures to refund")
        if amount < 1 or amount > order.captured_amount - order.refunded_amount:
            raise KlarnaError(403, "REFUND_NOT_ALLOWED", "Over refund is not allowed for this order"
                              if amount else "Refunded amount must be positive")
        item = {"refund_id": str(uuid.uuid4()), "refunded_amount": amount,
                "refunded_at": provider.iso(provider.now()), "description": body.get("description"),
                "reference": body.get("reference"), "order_lines": copy.deepcopy(body.get("order_lines") or [])}
        order.refunds.append(item)
        order.refunded_amount += amount
        _spread_refund(order, amount)
    return empty(201, {"Refund-Id": item["refund_id"],
                       "Location": _location(provider, order, "refunds", item["refund_id"])})


def _spread_refund(order: Order, amount: int) -> None:
    """Attribute the refund to captures, oldest first (each capture shows its own refunded_amount)."""
    for item in order.captures:
        share = min(amount, item["captured_amount"] - item["refunded_amount"])
        item["refunded_amount"] += share
        amount -= share


def get_refund(provider: KlarnaProvider, request: Request) -> Response:
    with provider.state.lock:
        for item in _order(provider, request).refunds:
            if item["refund_id"] == request.params["refund_id"]:
                return json_response(clean(copy.deepcopy(item)))
    raise KlarnaError(404, "NOT_FOUND", "Refund not found")


# --- the authorization ----------------------------------------------------------------------------
def cancel(provider: KlarnaProvider, request: Request) -> Response:
    """204 while nothing is captured; the whole authorization is released."""
    with provider.state.lock:
        order = _order(provider, request)
        if order.captures or order.status != "AUTHORIZED":
            raise KlarnaError(403, "CANCEL_NOT_ALLOWED", "Order has captures" if order.captures
                              else f"Order is {order.status.lower()}")
        order.status = "CANCELLED"
    return empty(204)


def release(provider: KlarnaProvider, request: Request) -> Response:
    """204 for a part-captured order: the uncaptured rest is given up, the order counts as captured."""
    with provider.state.lock:
        order = _order(provider, request)
        if order.status != "PART_CAPTURED" or order.released:
            raise KlarnaError(403, "NOT_ALLOWED", "Only a part-captured order can release its remaining authorization")
        order.released, order.status = True, "CAPTURED"
    return empty(204)


def extend(provider: KlarnaProvider, request: Request) -> Response:
    """204: `expires_at` = today + the authorization period (same day, same date), within 180 days of
    creation, never for an expired, cancelled or fully captured order."""
    with provider.state.lock:
        order = _order(provider, request)
        now = provider.now()
        if order.status not in ("AUTHORIZED", "PART_CAPTURED") or now > order.expires_at:
            raise KlarnaError(403, "NOT_ALLOWED", "Authorization time cannot be extended for this order")
        days = provider.setting("authorization_days")
        day_start = datetime.combine(now.date(), order.created_at.timetz())
        limit = order.created_at + timedelta(days=MAX_AUTHORIZATION_DAYS)
        order.expires_at = min(day_start + timedelta(days=days), limit)
        order.extended_on = now.date().isoformat()
    return empty(204)


def update_authorization(provider: KlarnaProvider, request: Request) -> Response:
    """204: a new amount (and lines). Lowering is always allowed down to what is captured; raising needs a
    new risk check, which a control scenario can make fail (`authorization_update: reject`)."""
    with provider.state.lock:
        order = _order(provider, request)
        body = validated(provider, "orders", "Update authorization", json_body(request))
        if body.get("order_lines"):
            errors = amount_errors(body, check_tax=False)
            if errors:
                raise bad_value(*errors)
        amount, now = body["order_amount"], provider.now()
        if order.status not in ("AUTHORIZED", "PART_CAPTURED") or now > order.expires_at \
                or order.fraud_status == "REJECTED" or amount < order.captured_amount:
            raise KlarnaError(403, "NOT_ALLOWED", "Order authorization cannot be updated")
        if amount > order.order_amount and provider.state.scenarios.take("authorization_update",
                                                                        order.order_id) == "reject":
            raise KlarnaError(403, "NOT_ALLOWED", "Update authorization was rejected")
        order.data["order_amount"] = amount
        if body.get("order_lines"):
            order.data["order_lines"] = copy.deepcopy(body["order_lines"])
            order.data["order_tax_amount"] = sum(line.get("total_tax_amount", 0) for line in body["order_lines"])
        if order.captured_amount and order.captured_amount >= amount:
            order.status = "CAPTURED"
    return empty(204)


def update_references(provider: KlarnaProvider, request: Request) -> Response:
    with provider.state.lock:
        order = _order(provider, request)
        order.data.update(validated(provider, "orders", "Update merchant references", json_body(request)))
    return empty(204)


def update_customer(provider: KlarnaProvider, request: Request) -> Response:
    with provider.state.lock:
        order = _order(provider, request)
        body = validated(provider, "orders", "UpdateConsumer", json_body(request))
        if body.get("shipping_address"):
            order.data["shipping_address"] = {**(order.data.get("shipping_address") or {}),
                                              **body["shipping_address"]}
    return empty(204)


def acknowledge(provider: KlarnaProvider, request: Request) -> Response:
    """KCO only; Payments orders need no acknowledgement, so it is accepted and changes nothing."""
    with provider.state.lock:
        _order(provider, request)
    return empty(204)
