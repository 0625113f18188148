"""29 Next Admin API `/orders/`: create (the Klarna redirect flow: a pending checkout, no order yet),
list and retrieve. Add-line-items is in `upsells_api.py`.
"""
from __future__ import annotations

from datetime import datetime, timezone

from ..routes import register_routes
from ..server import HTTPError, Request, Response, json_response
from .orders import order_list_item
from .pagination import date_arg, paginate_store
from .provider import NextProvider
from .rules import validate_create_order
from .state import checkout_url
from .wire import BASE, endpoint


def register(provider: NextProvider) -> None:
    register_routes(provider, BASE, [
        ("POST", "/orders/", orders_create, "ordersCreate"),
        ("GET", "/orders/", orders_list, "ordersList"),
        ("GET", "/orders/<number>/", orders_retrieve, "ordersRetrieve"),
    ], wrap=endpoint)


def orders_create(provider: NextProvider, request: Request) -> Response:
    """Store a pending Klarna checkout and answer with where to send the shopper (no order yet)."""
    body = request.data()
    validator = provider.validator(coerce=request.is_form)
    data, errors = validate_create_order(validator, provider.schema("CreateOrder"), body)
    if errors:
        raise HTTPError(400, errors)
    checkout = provider.state.add_checkout(data=data, raw=body, created_at=provider.now_iso())
    return json_response({"reference_transaction_id": None,
                          "payment_complete_url": checkout_url(provider.public_url, checkout.id)}, 201)


def orders_retrieve(provider: NextProvider, request: Request) -> Response:
    order = provider.state.order(request.params["number"])
    if order is None:
        raise HTTPError(404, {"detail": "Not found."})
    return json_response(order)


def orders_list(provider: NextProvider, request: Request) -> Response:
    """Newest first; only the page is copied and rendered (pagination.paginate_store)."""
    date_from, date_to = date_arg(request, "date_placed_from"), date_arg(request, "date_placed_to")
    return json_response(paginate_store(
        provider, request, "orders", render=order_list_item,
        match=lambda o: _matches(o, request, date_from=date_from, date_to=date_to)))


def _matches(order: dict, request: Request, *, date_from, date_to) -> bool:
    """Reads only: `order` is the stored object.

    `date_placed_from` / `_to` are days, compared with the day the order was placed in the store's time zone
    (DRF's date filter on a DateTimeField converts to the current time zone first). A 29 Next store sets its
    own time zone; the emulated store's is UTC, so its days do not depend on the host's: an order placed at
    23:54 UTC on 1 December is on 1 December, also for a caller whose local day (Europe/Amsterdam, as the
    shop's tests run) is already 2 December."""
    placed = datetime.fromisoformat(order["date_placed"]).astimezone(timezone.utc).date()
    checks = [
        not request.args("tags") or any(tag in order["tags"] for tag in request.args("tags")),
        not request.args("payment_method")
        or any(t["payment_method"] in request.args("payment_method") for t in order["transactions"]),
        not request.arg("order_number") or order["number"] == request.arg("order_number"),
        not request.args("status") or order["status"] in request.args("status"),
        not request.args("payment_status") or order["payment_status"] in request.args("payment_status"),
        not request.args("sources") or order["source"] in request.args("sources"),
        date_from is None or placed >= date_from,
        date_to is None or placed <= date_to,
    ]
    return all(checks)
