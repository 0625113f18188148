"""29 Next Admin API routes under `/next/api/admin/`: orders (Klarna redirect flow) and webhooks.

Why each check sits where it does: Django REST Framework, which 29 Next's spec comes from, determines the
API version, then authenticates, then throttles, and only then parses and validates the body; the emulator
keeps that order so the shop sees the same error for the same mistake.
"""
from __future__ import annotations

import base64
import binascii
from datetime import date, datetime
from typing import Callable
from urllib.parse import urlencode

from ..faults import throttled_response
from ..server import HTTPError, Request, Response, json_response
from .orders import order_list_item
from .provider import API_VERSION, NextProvider, now_iso
from .rules import validate_create_order
from .state import checkout_url

BASE = "/next/api/admin"
PAGE_SIZE = 50
VERSION_HEADER = "X-29next-API-Version"


def register(provider: NextProvider) -> None:
    routes = [
        ("POST", "/orders/", "ordersCreate", orders_create),
        ("GET", "/orders/", "ordersList", orders_list),
        ("GET", "/orders/<number>/", "ordersRetrieve", orders_retrieve),
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
    checkout = provider.state.add_checkout(data=data, raw=body, created_at=now_iso())
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
    return json_response(_paginate(provider, request, orders, key=lambda o: int(o["number"]),
                                   render=order_list_item))


def _matches(order: dict, request: Request) -> bool:
    placed = datetime.fromisoformat(order["date_placed"]).date()
    date_from, date_to = _date_arg(request, "date_placed_from"), _date_arg(request, "date_placed_to")
    checks = [
        not request.args("tags") or any(tag in order["tags"] for tag in request.args("tags")),
        not request.args("payment_method")
        or any(t["payment_method"] in request.args("payment_method") for t in order["transactions"]),
        not request.arg("order_number") or order["number"] == request.arg("order_number"),
        not request.args("status") or order["status"] in request.args("status"),
        not request.args("payment_status") or order["payment_status"] in request.args("payment_status"),
        date_from is None or placed >= date_from,
        date_to is None or placed <= date_to,
    ]
    return all(checks)


def _date_arg(request: Request, name: str) -> date | None:
    value = request.arg(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPError(400, {name: ["Enter a valid date."]}) from None


def _paginate(provider: NextProvider, request: Request, items: list, *, key: Callable, render: Callable) -> dict:
    """DRF-like cursor pagination over items sorted by `key` descending; the cursor is opaque base64."""
    reverse, position = _decode_cursor(request.arg("cursor"))
    if position is None:
        before, page = [], items[:PAGE_SIZE]
        after = items[PAGE_SIZE:]
    elif not reverse:
        rest = [i for i in items if key(i) < position]
        before, page, after = [None], rest[:PAGE_SIZE], rest[PAGE_SIZE:]
    else:
        rest = [i for i in items if key(i) > position]
        before, page, after = rest[:-PAGE_SIZE], rest[-PAGE_SIZE:], [None]
    return {
        "next": _page_url(provider, request, 0, key(page[-1])) if after and page else None,
        "previous": _page_url(provider, request, 1, key(page[0])) if before and page else None,
        "results": [render(i) for i in page],
    }


def _decode_cursor(cursor: str | None) -> tuple[bool, int | None]:
    if not cursor:
        return False, None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        fields = dict(part.split("=", 1) for part in raw.split("&"))
        return fields["r"] == "1", int(fields["p"])
    except (binascii.Error, UnicodeDecodeError, ValueError, KeyError):
        raise HTTPError(404, {"detail": "Invalid cursor"}) from None


def _page_url(provider: NextProvider, request: Request, reverse: int, position: int) -> str:
    cursor = base64.urlsafe_b64encode(f"r={reverse}&p={position}".encode()).decode().rstrip("=")
    query = {k: v for k, v in request.query.items() if k != "cursor"}
    query["cursor"] = [cursor]
    return f"{provider.public_url}{request.path}?{urlencode(query, doseq=True)}"


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
    now = now_iso()
    webhook = {
        "id": provider.state.next_id("webhook"), "name": data.get("name"), "target": data["target"],
        "events": [e for e in data["events"] if e], "active": data.get("active", True),
        "api_version": data.get("api_version") or API_VERSION, "secret_key": data.get("secret_key"),
        "warning_count": 0, "next_check_date": None, "created_at": now, "updated_at": now,
    }
    return json_response(provider.state.add_webhook(webhook), 201)


def webhooks_list(provider: NextProvider, request: Request) -> Response:
    hooks = sorted(provider.state.list_webhooks(), key=lambda w: w["id"], reverse=True)
    return json_response(_paginate(provider, request, hooks, key=lambda w: w["id"], render=lambda w: w))
