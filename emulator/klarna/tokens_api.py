"""Klarna Customer Token API v1 under `/klarna/customer-token/v1/tokens/`: read a token, cancel it, and
charge it (the recurring and upsell orders a merchant places without the shopper present).

Why the outcome order: the token's status decides first (404 TOKEN_NOT_FOUND, 403 TOKEN_CANCELED /
TOKEN_SUSPENDED), then the body (400), then the charge itself, where a scripted decline answers
403 PAYMENT_METHOD_FAILED (the customer's method failed). Charges run under `Klarna-Idempotency-Key`, so a
renewal task retried with the same key never charges twice (DESIGN rule 5).
"""
from __future__ import annotations

from ..routes import register_routes
from ..server import Request, Response, json_response
from .orders import order_answer, place_order
from .personas import FraudOutcome
from .provider import BASE, KlarnaProvider
from .rules import amount_errors, market_errors
from .state import CustomerToken
from .wire import KlarnaError, bad_value, empty, endpoint, json_body, validated

PREFIX = BASE + "/customer-token/v1/tokens"
STATUSES = ("ACTIVE", "SUSPENDED", "CANCELLED")
CHARGE_OUTCOMES = ("approve", "decline")


def register(provider: KlarnaProvider) -> None:
    register_routes(provider, PREFIX, [
        ("GET", "/<token>", read_token, False),
        ("PATCH", "/<token>/status", update_status, True),
        ("POST", "/<token>/order", create_order, True),
    ], wrap=endpoint)


def read_token(provider: KlarnaProvider, request: Request) -> Response:
    with provider.state.lock:
        token = provider.state.tokens.get(request.params["token"])
        if token is None:
            raise KlarnaError(404, "NOT_FOUND", "Invalid customer-token ID")
        return json_response(token.as_dict())


def update_status(provider: KlarnaProvider, request: Request) -> Response:
    """202, empty body. `{"status": "CANCELLED"}` is the only change the API allows (any case accepted:
    krokedil sends `cancelled`); cancelling a cancelled token is accepted again."""
    body = json_body(request)
    if isinstance(body.get("status"), str):
        body["status"] = body["status"].upper()
    data = validated(provider, "tokens", "customer_token_status_update_request", body)
    with provider.state.lock:
        token = provider.state.tokens.get(request.params["token"])
        if token is None:
            raise KlarnaError(404, "NOT_FOUND", "Invalid customer-token ID")
        token.status = data["status"]
    return empty(202)


def _chargeable(provider: KlarnaProvider, token_id: str) -> CustomerToken:
    token = provider.state.tokens.get(token_id)
    if token is None:
        raise KlarnaError(404, "TOKEN_NOT_FOUND", "Customer token not found")
    if token.status == "CANCELLED":
        raise KlarnaError(403, "TOKEN_CANCELED", "Customer token is cancelled")
    if token.status == "SUSPENDED":
        raise KlarnaError(403, "TOKEN_SUSPENDED", "Customer token is suspended")
    return token


def create_order(provider: KlarnaProvider, request: Request) -> Response:
    """200 `{order_id, fraud_status, authorized_payment_method, redirect_url?}`: a new OM order."""
    with provider.state.lock:
        token = _chargeable(provider, request.params["token"])
        data = validated(provider, "tokens", "customer_token_order", json_body(request))
        errors = amount_errors(data) + market_errors(data, token.purchase_country)
        if data["purchase_currency"].upper() != token.purchase_currency and "purchase_currency" not in errors:
            errors.append("purchase_currency")
        if errors:
            raise bad_value(*errors)
        if provider.state.scenarios.take("charge", token.token_id) == "decline":
            raise KlarnaError(403, "PAYMENT_METHOD_FAILED", "The payment method was rejected by the customer")
        data.update(purchase_country=token.purchase_country, purchase_currency=token.purchase_currency,
                    billing_address=dict(token.billing_address))
        if token.locale and "locale" not in data:
            data["locale"] = token.locale
        # merchant-initiated: the shopper is not present, so there is no fraud review
        order = place_order(provider, data=data, outcome=FraudOutcome("ACCEPTED"), category=token.category,
                            source="customer_token", session_id=token.session_id, token_id=token.token_id)
        return json_response(order_answer(provider, order))
