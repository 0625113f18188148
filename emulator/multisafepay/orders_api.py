"""MultiSafepay order endpoints under `/multisafepay/v1/json/`: create, read, update (ship, cancel, extend)
and refund, as the official spec names them (CreateOrder, getOrder, updateOrder, refundOrder).

Handlers take the caller's API key as a third argument (`wire.endpoint` passes it on): notifications are
signed with the key that created the order."""
from __future__ import annotations

from decimal import Decimal

from ..routes import register_routes
from ..server import Request, Response
from . import orders
from .provider import MultiSafepayProvider
from .rules import spec_check
from .wire import BASE, MSPError, endpoint, json_body, ok


def register(provider: MultiSafepayProvider) -> None:
    register_routes(provider, BASE, [
        ("POST", "/orders", create_order),
        ("GET", "/orders/<order_id>", get_order),
        ("PATCH", "/orders/<order_id>", update_order),
        ("POST", "/orders/<order_id>/refunds", refund_order),
    ], wrap=endpoint)


def _order(provider: MultiSafepayProvider, request: Request, *, status: int = 404) -> orders.Order:
    order = provider.state.order(request.params["order_id"])
    if order is None:
        if status == 410:  # the spec's PATCH answer for an unknown order
            raise MSPError(410, 1000, "Not found")
        raise MSPError(404, 1006, "Invalid transaction ID")
    return order


def create_order(provider: MultiSafepayProvider, request: Request, api_key: str) -> Response:
    data = json_body(request)
    order = orders.create(provider, api_key, data, json_body(request, parse_float=Decimal))
    with provider.state.lock:
        return ok(orders.create_answer(provider, order))


def get_order(provider: MultiSafepayProvider, request: Request, api_key: str) -> Response:
    order = _order(provider, request)
    with provider.state.lock:
        return ok(orders.render(provider, order))


def update_order(provider: MultiSafepayProvider, request: Request, api_key: str) -> Response:
    """One PATCH for three things, told apart by the body (spec oneOf CancelOrder, ExtendKlarna, ShipOrder)."""
    order = _order(provider, request, status=410)
    data = json_body(request)
    if "extend_expiration" in data:
        spec_check(provider, "extend", data)
        orders.extend(provider, order)
        return ok({})
    status = str(data.get("status") or "")
    if status == "shipped":
        spec_check(provider, "ship", data)
        pending = orders.ship(provider, order, data)
    elif status == "cancelled":
        spec_check(provider, "cancel", data)
        pending = orders.cancel(provider, order)
    else:
        raise MSPError(400, 1000, "Invalid status")
    orders.send(provider, pending)
    return ok({})


def refund_order(provider: MultiSafepayProvider, request: Request, api_key: str) -> Response:
    order = _order(provider, request)
    answer, pending = orders.refund(provider, order, json_body(request), json_body(request, parse_float=Decimal))
    orders.send(provider, pending)
    return ok(answer)
