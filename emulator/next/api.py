"""29 Next Admin API routes under `/next/api/admin/`: orders (Klarna redirect flow), upsells, subscriptions
and webhooks. Upsell and subscription handlers live in `upsells.py` and `subscription_api.py`.

Why each check sits where it does: Django REST Framework, which 29 Next's spec comes from, determines the
API version, then authenticates, then throttles, and only then parses and validates the body; the emulator
keeps that order so the shop sees the same error for the same mistake.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from ..faults import throttled_response
from ..server import HTTPError, Request, Response, json_response
from .orders import order_list_item
from .pagination import date_arg, paginate
from .provider import API_VERSION, NextProvider
from .rules import validate_create_order
from .state import checkout_url
from .subscription_api import (
    subscriptions_cancel,
    subscriptions_list,
    subscriptions_partial_update,
    subscriptions_renew,
    subscriptions_retrieve,
    subscriptions_retry,
)
from .upsells import orders_add_line_items

BASE = "/next/api/admin"
VERSION_HEADER = "X-29next-API-Version"


def register(provider: NextProvider) -> None:
    routes = [
        ("POST", "/orders/", "ordersCreate", orders_create),
        ("GET", "/orders/", "ordersList", orders_list),
        ("GET", "/orders/<number>/", "ordersRetrieve", orders_retrieve),
        ("POST", "/orders/<number>/add-line-items/", "ordersAddLineItemsCreate", orders_add_line_items),
        ("GET", "/subscriptions/", "subscriptionsList", subscriptions_list),
        ("GET", "/subscriptions/<id>/", "subscriptionsRetrieve", subscriptions_retrieve),
        ("PATCH", "/subscriptions/<id>/", "subscriptionsPartialUpdate", subscriptions_partial_update),
        ("POST", "/subscriptions/<id>/renew/", "subscriptionsRenewCreate", subscriptions_renew),
        ("POST", "/subscriptions/<id>/retry/", "subscriptionsRetryCreate", subscriptions_retry),
        ("POST", "/subscriptions/<id>/cancel/", "subscriptionsCancelCreate", subscriptions_cancel),
        ("POST", "/webhooks/", "webhooksCreate", webhooks_create),
        ("GET", "/webhooks/", "webhooksList", webhooks_list),
    ]
    for method, path, operation_id, handler in routes:
        provider.app.router.add(method, BASE + path, _guarded(provider, operation_id, handler), provider="next")


def _guarded(provider: NextProvider, operation_id: str,
             handler: Callable[[NextProvider, Request], Response]) -> Callable[[Request], Response]:
    def guarded(request: Request) -> Response:
        version = request.header(VERSION_HEADER)
        if not version:
            raise HTTPError(400, {"detail": f"Missing required header {VERSION_HEADER}."})
        if version not in provider.api_versions(operation_id):
            raise HTTPError(400, {"detail": f"Unsupported API version '{version}'."})
        token = _authenticate(provider, request)
        if provider.setting("rate_limit") and not provider.limiter.allow(token):
            return throttled_response()
        return handler(provider, request)
    return guarded


def _authenticate(provider: NextProvider, request: Request) -> str:
    """DRF token authentication messages; answers 401 with a WWW-Authenticate challenge."""
    challenge = {"WWW-Authenticate": 'Bearer realm="api"'}
    parts = (request.header("authorization") or "").split()
    if not parts or parts[0].lower() != "bearer":
        raise HTTPError(401, {"detail": "Authentication credentials were not provided."}, challenge)
    if len(parts) == 1:
        raise HTTPError(401, {"detail": "Invalid token header. No credentials provided."}, challenge)
    if len(parts) > 2:
        raise HTTPError(401, {"detail": "Invalid token header. Token string should not contain spaces."},
                        challenge)
    if parts[1] not in provider.tokens:
        raise HTTPError(401, {"detail": "Invalid token."}, challenge)
    return parts[1]


# --- orders ------------------------------------------------------------------------------
def orders_create(provider: NextProvider, request: Request) -> Response:
    """Store a pending Klarna checkout and answer with where to send the shopper (no order yet)."""
    body = request.data()
    validator = provider.validator(coerce=request.content_type == "application/x-www-form-urlencoded")
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
    orders = [o for o in provider.state.list_orders() if _matches(o, request)]
    orders.sort(key=lambda o: int(o["number"]), reverse=True)  # newest first
    return json_response(paginate(provider, request, orders, key=lambda o: int(o["number"]),
                                  render=order_list_item))


def _matches(order: dict, request: Request) -> bool:
    placed = datetime.fromisoformat(order["date_placed"]).date()
    date_from, date_to = date_arg(request, "date_placed_from"), date_arg(request, "date_placed_to")
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


# --- webhooks ----------------------------------------------------------------------------
def webhooks_create(provider: NextProvider, request: Request) -> Response:
    body = request.data()
    validator = provider.validator(coerce=request.content_type == "application/x-www-form-urlencoded")
    data, errors = validator.validate(provider.schema("Webhook"), body)
    known = provider.webhook_events()
    if not errors and known:
        bad = {str(i): [f'"{e}" is not a valid choice.'] for i, e in enumerate(data["events"]) if e not in known}
        errors = {"events": bad} if bad else None
    if errors:
        raise HTTPError(400, errors)
    now = provider.now_iso()
    webhook = {
        "id": provider.state.next_id("webhook"), "name": data.get("name"), "target": data["target"],
        "events": [e for e in data["events"] if e], "active": data.get("active", True),
        "api_version": data.get("api_version") or API_VERSION, "secret_key": data.get("secret_key"),
        "warning_count": 0, "next_check_date": None, "created_at": now, "updated_at": now,
    }
    return json_response(provider.state.add_webhook(webhook), 201)


def webhooks_list(provider: NextProvider, request: Request) -> Response:
    hooks = sorted(provider.state.list_webhooks(), key=lambda w: w["id"], reverse=True)
    return json_response(paginate(provider, request, hooks, key=lambda w: w["id"], render=lambda w: w))
