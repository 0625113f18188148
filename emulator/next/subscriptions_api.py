"""Admin API `/subscriptions/` operations: retrieve, list, PATCH, renew, retry and cancel.

Why these and not create: a Klarna subscription can only start from an order (see `subscriptions.py`), so
`POST /subscriptions/` (card tokens only) is not emulated. Errors are DRF-shaped: 404 `{"detail": "Not
found."}`, field errors from the spec's schemas, and `{"detail": ...}` for a call the status does not allow.
Every change is announced with `subscription.updated` (a PATCH always, as the platform saves the object).
"""
from __future__ import annotations

import copy
from datetime import datetime

from ..routes import register_routes
from ..server import HTTPError, Request, Response, json_response
from .events import queue_events
from .orders import ATTRIBUTION_FIELDS, address, money
from .pagination import date_arg, paginate_store
from .provider import NextProvider
from .renewals import RenewalRefused, renew_now, retry
from .rules import gateway_errors, validate
from .subscriptions import ScheduleOutOfRange, add_interval, iso, parse_datetime, refresh
from .wire import BASE, endpoint


def register(provider: NextProvider) -> None:
    register_routes(provider, BASE, [
        ("GET", "/subscriptions/", subscriptions_list, "subscriptionsList"),
        ("GET", "/subscriptions/<id>/", subscriptions_retrieve, "subscriptionsRetrieve"),
        ("PATCH", "/subscriptions/<id>/", subscriptions_partial_update, "subscriptionsPartialUpdate"),
        ("POST", "/subscriptions/<id>/renew/", subscriptions_renew, "subscriptionsRenewCreate"),
        ("POST", "/subscriptions/<id>/retry/", subscriptions_retry, "subscriptionsRetryCreate"),
        ("POST", "/subscriptions/<id>/cancel/", subscriptions_cancel, "subscriptionsCancelCreate"),
    ], wrap=endpoint)


def _id(request: Request) -> int:
    try:
        return int(request.params["id"])
    except ValueError:
        raise HTTPError(404, {"detail": "Not found."}) from None


def _existing(provider: NextProvider, request: Request) -> dict:
    subscription = provider.state.subscription(_id(request))
    if subscription is None:
        raise HTTPError(404, {"detail": "Not found."})
    return subscription


def _locked(state, request: Request) -> dict:
    """The stored subscription itself (state lock held by the caller), for changing it in place."""
    subscription = state.subscriptions.get(_id(request))
    if subscription is None:  # reset between the first look and the lock
        raise HTTPError(404, {"detail": "Not found."})
    return subscription


def _body(provider: NextProvider, request: Request, schema_name: str) -> dict:
    validator = provider.validator(coerce=request.is_form)
    data, errors = validate(validator, provider.schema(schema_name), request.data())
    if errors:
        raise HTTPError(400, errors)
    return data


def subscriptions_retrieve(provider: NextProvider, request: Request) -> Response:
    return json_response(_existing(provider, request))


def subscriptions_list(provider: NextProvider, request: Request) -> Response:
    """Newest first, one page per call: the filter reads the stored objects in place and only the page is
    copied (pagination.paginate_store), so a sweep over thousands of subscriptions costs O(page) per call."""
    date_from, date_to = date_arg(request, "next_renewal_date_from"), date_arg(request, "next_renewal_date_to")
    email = (request.arg("customer_email") or "").strip().lower()
    return json_response(paginate_store(
        provider, request, "subscriptions", render=lambda s: s,
        match=lambda s: _matches(s, request, date_from=date_from, date_to=date_to, email=email)))


def _matches(subscription: dict, request: Request, *, date_from, date_to, email: str) -> bool:
    """Reads only: `subscription` is the stored object."""
    renewal = subscription["next_renewal_date"]
    day = parse_datetime(renewal).date() if renewal else None
    is_test = request.arg("is_test")
    checks = [
        not request.args("status") or subscription["status"] in request.args("status"),
        not request.arg("order_number")
        or any(o["order_number"] == request.arg("order_number") for o in subscription["orders"]),
        not email or (subscription["user"].get("email") or "").lower() == email,
        not request.args("payment_method") or subscription["payment_method"] in request.args("payment_method"),
        is_test in (None, "") or subscription["is_test"] == (is_test.lower() in ("true", "1")),
        date_from is None or (day is not None and day >= date_from),
        date_to is None or (day is not None and day <= date_to),
    ]
    return all(checks)


def subscriptions_renew(provider: NextProvider, request: Request) -> Response:
    return _renewal(provider, request, renew_now)


def subscriptions_retry(provider: NextProvider, request: Request) -> Response:
    subscription_id = _existing(provider, request)["id"]
    data = _body(provider, request, "RetrySubscription")
    bad_gateway = gateway_errors(data.get("payment_gateway"))
    if bad_gateway:
        raise HTTPError(400, {"payment_gateway": bad_gateway})
    return _renewal(provider, request, retry, subscription_id)


def _renewal(provider: NextProvider, request: Request, action, subscription_id: int | None = None) -> Response:
    try:
        answer = action(provider, _id(request) if subscription_id is None else subscription_id)
    except RenewalRefused as exc:
        raise HTTPError(400, {"detail": str(exc)}) from None
    if answer is None:
        raise HTTPError(404, {"detail": "Not found."})
    return json_response(answer)


def subscriptions_cancel(provider: NextProvider, request: Request) -> Response:
    """Cancel now: no more renewals (`next_renewal_date` null). `send_cancel_notification` is accepted;
    the emulator sends no customer emails."""
    _existing(provider, request)
    data = _body(provider, request, "CancelSubscription")
    state = provider.state
    with state.lock:
        subscription = _locked(state, request)
        if subscription["status"] == "canceled":
            raise HTTPError(400, {"detail": "Subscription is already canceled."})
        subscription.update(status="canceled", next_renewal_date=None, cancel_reason=data["cancel_reason"],
                            cancel_reason_other_message=data.get("cancel_reason_other_message") or "")
        answer = copy.deepcopy(subscription)
    queue_events(provider, [("subscription.updated", "subscription", copy.deepcopy(answer))])
    return json_response(answer)


def subscriptions_partial_update(provider: NextProvider, request: Request) -> Response:
    """PATCH: schedule, status, shipping, addresses, attribution. A `next_renewal_date` in the past makes
    the next clock tick renew it (the platform says "within about 30 minutes")."""
    _existing(provider, request)
    data = _body(provider, request, "PatchedUpdateSubscription")
    _check_payment_details(data.get("payment_details"))
    state = provider.state
    with state.lock:
        subscription = _locked(state, request)
        interval = data.get("interval") or subscription["interval"]
        count = data.get("interval_count") if data.get("interval_count") is not None else subscription["interval_count"]
        try:
            add_interval(provider.now(), interval, count)
        except ScheduleOutOfRange as exc:
            raise HTTPError(400, {"interval_count": [str(exc)]}) from None
        _apply(provider, subscription, data)
        refresh(subscription)
        answer = copy.deepcopy(subscription)
    queue_events(provider, [("subscription.updated", "subscription", copy.deepcopy(answer))])
    return json_response(answer)


def _check_payment_details(details: dict | None) -> None:
    """The stored method is Klarna; the docs offer no way to swap it (see README), so card tokens are refused."""
    if not details:
        return
    errors = {}
    if details.get("card_token"):
        errors["card_token"] = ["The emulator supports only klarna subscriptions."]
    bad_gateway = gateway_errors(details.get("payment_gateway"))
    if bad_gateway:
        errors["payment_gateway"] = bad_gateway
    if errors:
        raise HTTPError(400, {"payment_details": errors})


def _apply(provider: NextProvider, subscription: dict, data: dict) -> None:
    for key in ("interval", "interval_count", "is_test"):
        if key in data:
            subscription[key] = data[key]
    if "next_renewal_date" in data:
        value = data["next_renewal_date"]
        subscription["next_renewal_date"] = iso(parse_datetime(value)) if value else None
    if "status" in data:
        _set_status(provider, subscription, data["status"], explicit_date="next_renewal_date" in data)
    if "shipping_code" in data:
        subscription["shipping_code"] = data["shipping_code"] or ""
    if "shipping_price" in data:
        subscription["shipping_price"] = money(data["shipping_price"] or "0")
    for key, shipping in (("shipping_address", True), ("billing_address", False)):
        if key in data:
            current = subscription[key] or {}
            new_id = current.get("id") or provider.state.next_id("address")
            subscription[key] = address(data[key], new_id, shipping=shipping)
    if isinstance(data.get("attribution"), dict):
        attribution = subscription["attribution"]
        for key in ATTRIBUTION_FIELDS:
            if key in data["attribution"]:
                attribution[key] = data["attribution"][key]
        if "metadata" in data["attribution"]:
            attribution["metadata"] = data["attribution"]["metadata"] or {}


def _set_status(provider: NextProvider, subscription: dict, status: str, *, explicit_date: bool) -> None:
    """Canceling clears the next date; reactivating without a date schedules one interval from now."""
    subscription["status"] = status
    if status == "canceled" and not explicit_date:
        subscription["next_renewal_date"] = None
    elif status == "active" and subscription["next_renewal_date"] is None:
        now: datetime = provider.now()
        subscription["next_renewal_date"] = iso(add_interval(now, subscription["interval"],
                                                             subscription["interval_count"]))
        if subscription["cancel_reason"]:
            subscription.update(cancel_reason="", cancel_reason_other_message="")
