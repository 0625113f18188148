"""MultiSafepay control routes under `/_emulator/multisafepay/`: inspect orders, pay without a browser,
script the next shopper outcomes, force a status (collection, expiry, chargeback, a pending review's
decision) and re-send an earlier notification (late, repeated or out of order).

Why: rule 11 says tests make the emulator misbehave; a sandbox cannot be told "send the old `uncleared`
notification again now". 5xx and timeouts come from the shared `POST /_emulator/faults` (path
`/multisafepay/v1/json/orders`), dropped/duplicated/delayed deliveries from `POST /_emulator/webhooks/mode`.
Scripted outcomes go to the state's `ScenarioQueue`; errors use the control API's `{"detail": ...}` shape.
"""
from __future__ import annotations

import json

from ..routes import register_routes
from ..scenarios import scripted, times_of
from ..server import HTTPError, Request, Response, json_response
from . import orders
from .provider import MultiSafepayProvider

OUTCOMES = ("approve", "decline", "pending")
ACTIONS = ("approve", "decline", "cancel", "pending")
STATUSES = ("initialized", "uncleared", "completed", "shipped", "declined", "cancelled", "void", "expired",
            "refunded", "partial_refunded", "reserved", "chargedback", "chargeback")
FINANCIAL = ("initialized", "uncleared", "completed", "declined", "cancelled", "void", "expired", "chargedback")


def register(provider: MultiSafepayProvider) -> None:
    register_routes(provider, "/_emulator/multisafepay", [
        ("GET", "/orders", list_orders),
        ("POST", "/orders/<order_id>/complete", complete),
        ("POST", "/orders/<order_id>/status", force_status),
        ("POST", "/orders/<order_id>/notify", resend),
        ("POST", "/scenario", scenario),
    ], kind="control")


def _order(provider: MultiSafepayProvider, request: Request) -> orders.Order:
    order = provider.state.order(request.params["order_id"])
    if order is None:
        raise HTTPError(404, {"detail": "Not found."})
    return order


def list_orders(provider: MultiSafepayProvider, request: Request) -> Response:
    with provider.state.lock:
        listed = [{**orders.render(provider, o), "session_id": o.session_id, "type": o.type,
                   "payment_url": orders.payment_url(provider, o), "shipping": dict(o.shipping),
                   "ship_deadline": provider.local(o.ship_deadline),
                   "notifications": [{k: v for k, v in n.items() if k != "body"} for n in o.notifications],
                   "get_deliveries": list(o.get_deliveries)} for o in provider.state.snapshot()]
    return json_response({"orders": listed})


def complete(provider: MultiSafepayProvider, request: Request) -> Response:
    """`{"action": approve|decline|cancel|pending}`: what the shopper does on the payment page; answers
    `{"redirect_url" (where the browser would go; "" without one), "status", "financial_status"}`."""
    action = request.json_object().get("action", "approve")
    if action not in ACTIONS:
        raise HTTPError(400, {"detail": f"'action' must be one of {', '.join(ACTIONS)}."})
    order = _order(provider, request)
    url, pending = orders.shopper_action(provider, order, action)
    orders.send(provider, pending)
    return json_response({"redirect_url": url, "status": order.status, "financial_status": order.financial_status})


def force_status(provider: MultiSafepayProvider, request: Request) -> Response:
    """`{"status", "financial_status"?, "reason"?}`: set it as MultiSafepay would (collection, expiry,
    chargeback, a review's decision) and notify. No transition check: this is the emulator's hand."""
    body = request.json_object()
    status = body.get("status")
    if status not in STATUSES:
        raise HTTPError(400, {"detail": f"'status' must be one of {', '.join(STATUSES)}."})
    order = _order(provider, request)
    financial = body.get("financial_status", order.financial_status)
    if financial not in FINANCIAL:
        raise HTTPError(400, {"detail": f"'financial_status' must be one of {', '.join(FINANCIAL)}."})
    with provider.state.lock:
        pending = orders.change(provider, order, status, financial, str(body.get("reason") or ""))
    orders.send(provider, pending)
    return json_response({"status": order.status, "financial_status": order.financial_status})


def resend(provider: MultiSafepayProvider, request: Request) -> Response:
    """`{"index": n, "times": 1}`: send the n-th recorded notification of this order again (default the last;
    negative counts from the end) with a fresh timestamp and signature, as a manual resend from the
    dashboard does; its body is the order as it was then, so an old index arrives out of order."""
    body = request.json_object()
    index = body.get("index", -1)
    if isinstance(index, bool) or not isinstance(index, int):
        raise HTTPError(400, {"detail": "'index' must be an integer."})
    order = _order(provider, request)
    with provider.state.lock:
        try:
            recorded = order.notifications[index]
        except IndexError:
            raise HTTPError(409, {"detail": "No such notification for this order."}) from None
    pending = [(order, recorded["body"].encode())] * times_of(body)
    orders.send(provider, pending)
    return json_response({"sent": len(pending), "status": json.loads(recorded["body"])["status"]})


def scenario(provider: MultiSafepayProvider, request: Request) -> Response:
    """`{"outcome": approve|decline|pending, "times": 1}`: the next shopper approvals (page or control)
    end that way, before personas are considered."""
    outcome, times = scripted(request.json_object(), "outcome", OUTCOMES)
    return json_response({"outcomes": provider.state.script(outcome, times)})
