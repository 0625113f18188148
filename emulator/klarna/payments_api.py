"""Klarna Payments API v1 under `/klarna/payments/v1/`: sessions, and what an authorization token allows
(place the order, create a customer token, release it).

Why the checks run in this order (token, then body, then comparison): a dead or used token is the cause a
client must learn first (404/403), a malformed body next (400), and only a well-formed cart can be
compared with what the shopper approved (409 `Not matching fields`).
"""
from __future__ import annotations

import copy
import uuid

from ..routes import register_routes
from ..server import Request, Response, json_response
from .orders import order_answer, place_order, redirect_url
from .personas import email_of, fraud_outcome
from .provider import BASE, KlarnaProvider
from .rules import CHARGING, TOKENIZING, amount_errors, market_errors, mismatches, session_errors
from .state import Authorization, CustomerToken, Session
from .wire import KlarnaError, bad_value, empty, endpoint, json_body, validated

PREFIX = BASE + "/payments/v1"
CATEGORY = {"identifier": "klarna", "name": "Pay with Klarna"}
SESSION_COMPLETED = ("SESSION_COMPLETED", "Session has already been completed")
CONSUMED = "Authorization token already consumed"


def register(provider: KlarnaProvider) -> None:
    routes = [
        ("POST", "/sessions", create_session, True),
        ("GET", "/sessions/<session_id>", read_session, False),
        ("POST", "/sessions/<session_id>", update_session, True),
        ("POST", "/authorizations/<token>/order", create_order, True),
        ("POST", "/authorizations/<token>/customer-token", create_customer_token, True),
        ("DELETE", "/authorizations/<token>", cancel_authorization, False),
    ]
    register_routes(provider, PREFIX, routes, wrap=endpoint)


def categories(provider: KlarnaProvider) -> list[dict]:
    badge = f"{provider.base_url}/assets/badge.svg"
    return [{**CATEGORY, "asset_urls": {"descriptive": badge, "standard": badge}}]


# --- sessions ---------------------------------------------------------------------------------
def create_session(provider: KlarnaProvider, request: Request) -> Response:
    data = validated(provider, "payments", "session_create", json_body(request))
    data.setdefault("intent", "buy")
    errors = session_errors(data)
    if errors:
        raise bad_value(*errors)
    session = provider.state.add_session(data, provider.base_url, provider.now())
    return json_response({"session_id": session.id, "client_token": session.client_token,
                          "payment_method_categories": categories(provider)})


def _session(provider: KlarnaProvider, session_id: str) -> Session:
    session = provider.state.session(session_id, provider.now())
    if session is None:
        raise KlarnaError(404, "NOT_FOUND", "Invalid session id")
    return session


def read_session(provider: KlarnaProvider, request: Request) -> Response:
    with provider.state.lock:
        session = _session(provider, request.params["session_id"])
        body = copy.deepcopy(session.data)
        if not session.authorization_token:
            body.pop("customer", None)  # customer details are only returned after authorization
        body.update({"status": session.status, "client_token": session.client_token,
                     "expires_at": provider.iso(session.expires_at),
                     "payment_method_categories": categories(provider)})
        if session.authorization_token:
            body["authorization_token"] = session.authorization_token
    return json_response(body)


def update_session(provider: KlarnaProvider, request: Request) -> Response:
    """204; the merged session is re-validated whole, like a new one."""
    with provider.state.lock:
        session = _session(provider, request.params["session_id"])
        if session.status == "complete":
            raise KlarnaError(404, *SESSION_COMPLETED)
        changes = validated(provider, "payments", "session", json_body(request))
        merged = {**session.data, **changes}
        errors = session_errors(merged)
        if errors:
            raise bad_value(*errors)
        session.data = merged
    return empty(204)


# --- authorizations -----------------------------------------------------------------------------
def _authorization(provider: KlarnaProvider, token: str) -> Authorization:
    authorization = provider.state.authorization(token, provider.now())
    if authorization is None:
        raise KlarnaError(404, "NOT_FOUND", "Invalid authorization token")
    return authorization


def create_order(provider: KlarnaProvider, request: Request) -> Response:
    with provider.state.lock:
        authorization = _authorization(provider, request.params["token"])
        if authorization.order_id is not None:
            raise KlarnaError(403, "INVALID_OPERATION", CONSUMED)
        if authorization.intent not in CHARGING:
            raise KlarnaError(403, "INVALID_OPERATION",
                              f"Not allowed to create order for intent {authorization.intent}")
        data = validated(provider, "payments", "create_order_request", json_body(request))
        errors = amount_errors(data) + market_errors(data)
        if errors:
            raise bad_value(*errors)
        different = mismatches(authorization.snapshot, data)
        if different:
            raise KlarnaError(409, "BAD_VALUE", f"Not matching fields: [{', '.join(different)}]")
        session = provider.state.sessions[authorization.session_id]
        for key in ("billing_address", "shipping_address", "customer"):
            if key not in data and key in authorization.snapshot:
                data[key] = copy.deepcopy(authorization.snapshot[key])
        urls = {**(session.data.get("merchant_urls") or {}), **(data.get("merchant_urls") or {})}
        data["merchant_urls"] = {k: v for k, v in urls.items() if k != "authorization"}
        outcome = fraud_outcome(email_of(data, authorization.snapshot), provider.setting("fraud_decision_seconds"))
        order = place_order(provider, data=data, outcome=outcome, category=authorization.category,
                            source="payments", session_id=session.id)
        authorization.order_id = order.order_id
        session.status = "complete"
        return json_response(order_answer(provider, order))


def create_customer_token(provider: KlarnaProvider, request: Request) -> Response:
    """Only for tokenizing intents; `buy_and_tokenize` uses the same token for the order and this call."""
    with provider.state.lock:
        authorization = _authorization(provider, request.params["token"])
        if authorization.intent not in TOKENIZING:
            raise KlarnaError(403, "INVALID_OPERATION",
                              f"Not allowed to create customer token for intent {authorization.intent}")
        if authorization.customer_token_id is not None:
            raise KlarnaError(403, "INVALID_OPERATION", CONSUMED)
        data = validated(provider, "payments", "customer_token_creation_request", json_body(request))
        billing = data.get("billing_address") or copy.deepcopy(authorization.snapshot.get("billing_address") or {})
        country = data["purchase_country"].upper()
        errors = market_errors(data, country)
        if billing.get("country") and billing["country"].upper() != country:
            errors.append("billing_address.country")
        if errors:
            raise bad_value(*errors)
        different = [key for key in ("purchase_country", "purchase_currency")
                     if data[key].upper() != str(authorization.snapshot.get(key, "")).upper()]
        if different:
            raise KlarnaError(409, "BAD_VALUE", f"Not matching fields: [{', '.join(different)}]")
        token = CustomerToken(
            token_id=str(uuid.uuid4()), status="ACTIVE", purchase_country=country,
            purchase_currency=data["purchase_currency"].upper(), locale=data.get("locale"), billing_address=billing,
            description=data["description"], intended_use=data["intended_use"],
            payment_method_reference=str(uuid.uuid4()), category=authorization.category,
            created_at=provider.now(), session_id=authorization.session_id)
        provider.state.add_token(token)
        authorization.customer_token_id = token.token_id
        if authorization.intent == "tokenize":
            provider.state.sessions[authorization.session_id].status = "complete"
        answer = {"token_id": token.token_id, "billing_address": billing,
                  "payment_method_reference": token.payment_method_reference}
        confirmation = (data.get("merchant_urls") or {}).get("confirmation")
        if confirmation:
            answer["redirect_url"] = redirect_url(provider, confirmation, session_id=authorization.session_id)
        return json_response(answer)


def cancel_authorization(provider: KlarnaProvider, request: Request) -> Response:
    """Release an unused authorization (204); one that placed an order cannot be deleted (403)."""
    with provider.state.lock:
        authorization = _authorization(provider, request.params["token"])
        if authorization.order_id is not None or authorization.customer_token_id is not None:
            raise KlarnaError(403, "INVALID_OPERATION", "Authorization cannot be deleted")
        authorization.cancelled = True
    return empty(204)
