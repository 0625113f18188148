"""Klarna control routes under `/_emulator/klarna/`: inspect sessions, orders and tokens; authorize a
session without a browser; decide a fraud review now; script token charges, token statuses and
authorization updates.

Why: rule 11 says tests make the emulator misbehave instead of mocking the shop, and a sandbox cannot be
told "decline the next renewal" or "finish the review now". Control errors use the control API's
`{"detail": ...}` shape, not Klarna's: these routes are the emulator's own.
"""
from __future__ import annotations

import copy

from ..routes import register_routes
from ..scenarios import scripted, times_of
from ..server import HTTPError, Request, Response, json_response
from .authorizations import SessionUnavailable, authorize_session
from .orders import decide, render
from .provider import KlarnaProvider

CHARGES = ("approve", "decline")
UPDATES = ("accept", "reject")
TOKEN_STATUSES = ("ACTIVE", "SUSPENDED", "CANCELLED")
DECISIONS = ("ACCEPTED", "REJECTED")


def register(provider: KlarnaProvider) -> None:
    register_routes(provider, "/_emulator/klarna", [
        ("GET", "/sessions", sessions),
        ("POST", "/sessions/<session_id>/authorize", authorize),
        ("GET", "/authorizations", authorizations),
        ("GET", "/orders", orders),
        ("POST", "/orders/<order_id>/decide", decide_now),
        ("POST", "/orders/<order_id>/scenario", order_scenario),
        ("GET", "/tokens", tokens),
        ("POST", "/tokens/<token>/scenario", token_scenario),
    ], kind="control")


def sessions(provider: KlarnaProvider, request: Request) -> Response:
    now = provider.now()
    with provider.state.lock:
        listed = [{"session_id": s.id, "status": s.status, "intent": s.intent,
                   "expired": now > s.expires_at, "expires_at": provider.iso(s.expires_at),
                   "authorization_token": s.authorization_token, "client_token": s.client_token,
                   "data": copy.deepcopy(s.data)} for s in provider.state.sessions.values()]
    return json_response({"sessions": listed})


def authorize(provider: KlarnaProvider, request: Request) -> Response:
    """`{"approve": true|false, "email"?, "billing_address"?, "shipping_address"?, "payment_method_category"?}`
    -> `{"authorization_token": ...|null, "approved", "show_form"}` (the SDK's answer, plus the token)."""
    body = request.json_object()
    approve = body.get("approve", True)
    if not isinstance(approve, bool):
        raise HTTPError(400, {"detail": "'approve' must be a boolean."})
    data = {key: body[key] for key in ("billing_address", "shipping_address", "customer") if key in body}
    if body.get("email"):
        data["billing_address"] = {**(data.get("billing_address") or _billing(provider, request)),
                                   "email": str(body["email"])}
    try:
        result = authorize_session(provider, request.params["session_id"], approve=approve, data=data,
                                   category=body.get("payment_method_category"))
    except SessionUnavailable as exc:
        status, detail = (404, "Not found.") if exc.reason == "missing" else (409, "Session already completed.")
        raise HTTPError(status, {"detail": detail}) from None
    return json_response({"authorization_token": result.authorization_token, **result.sdk_answer()})


def _billing(provider: KlarnaProvider, request: Request) -> dict:
    session = provider.state.session(request.params["session_id"], provider.now())
    return copy.deepcopy((session.data.get("billing_address") if session else None) or {})


def authorizations(provider: KlarnaProvider, request: Request) -> Response:
    """Every authorization token the widget handed out, and what became of it (an order, a customer token,
    released by `DELETE /payments/v1/authorizations/{token}`, or left to expire)."""
    now = provider.now()
    with provider.state.lock:
        listed = [{"authorization_token": a.token, "session_id": a.session_id, "intent": a.intent,
                   "order_id": a.order_id, "customer_token_id": a.customer_token_id, "cancelled": a.cancelled,
                   "expired": now > a.expires_at, "expires_at": provider.iso(a.expires_at)}
                  for a in provider.state.authorizations.values()]
    return json_response({"authorizations": listed})


def orders(provider: KlarnaProvider, request: Request) -> Response:
    with provider.state.lock:
        listed = [{**render(provider, o), "source": o.source, "session_id": o.session_id, "token_id": o.token_id,
                   "fraud_decision": o.decision, "fraud_decide_at": provider.iso(o.decide_at)}
                  for o in provider.state.orders.values()]
    return json_response({"orders": listed})


def decide_now(provider: KlarnaProvider, request: Request) -> Response:
    """`{"fraud_status": "ACCEPTED"|"REJECTED"}` (default: the persona's planned decision) for a PENDING
    order: decided now, the notification is sent as the clock would have sent it."""
    body = request.json_object()
    with provider.state.lock:
        order = provider.state.order(request.params["order_id"], provider.now())
        if order is None:
            raise HTTPError(404, {"detail": "Not found."})
        status = body.get("fraud_status", order.decision or "ACCEPTED")
        if status not in DECISIONS:
            raise HTTPError(400, {"detail": f"'fraud_status' must be one of {', '.join(DECISIONS)}."})
        if order.fraud_status != "PENDING":
            raise HTTPError(409, {"detail": f"Order is not pending (fraud_status {order.fraud_status})."})
        outbounds = decide(provider, order, status)
        answer = render(provider, order)
    provider.send(outbounds)
    return json_response(answer)


def order_scenario(provider: KlarnaProvider, request: Request) -> Response:
    """`{"authorization_update": "reject"|"accept", "times": 1}`: the next raising PATCH .../authorization."""
    body = request.json_object()
    if provider.state.order(request.params["order_id"], provider.now()) is None:
        raise HTTPError(404, {"detail": "Not found."})
    outcome, times = scripted(body, "authorization_update", UPDATES)
    queued = provider.state.scenarios.add("authorization_update", request.params["order_id"], outcome, times)
    return json_response({"authorization_update": queued})


def tokens(provider: KlarnaProvider, request: Request) -> Response:
    with provider.state.lock:
        listed = [{"token_id": t.token_id, **t.as_dict(), "purchase_country": t.purchase_country,
                   "purchase_currency": t.purchase_currency, "billing_address": copy.deepcopy(t.billing_address),
                   "description": t.description, "session_id": t.session_id,
                   "created_at": provider.iso(t.created_at)} for t in provider.state.tokens.values()]
    return json_response({"tokens": listed})


def token_scenario(provider: KlarnaProvider, request: Request) -> Response:
    """`{"charge": "decline"|"approve", "times": n}` scripts the next charges; `{"status": ...}` sets the
    token's status now (SUSPENDED/CANCELLED/ACTIVE: what Klarna or the shopper may do to it)."""
    body = request.json_object()
    charge, status = body.get("charge"), body.get("status")
    if charge is None and status is None:
        raise HTTPError(400, {"detail": "Give 'charge' and/or 'status'."})
    if charge is not None and charge not in CHARGES:
        raise HTTPError(400, {"detail": f"'charge' must be one of {', '.join(CHARGES)}."})
    if status is not None and status not in TOKEN_STATUSES:
        raise HTTPError(400, {"detail": f"'status' must be one of {', '.join(TOKEN_STATUSES)}."})
    times = times_of(body)
    with provider.state.lock:
        token = provider.state.tokens.get(request.params["token"])
        if token is None:
            raise HTTPError(404, {"detail": "Not found."})
        if status is not None:
            token.status = status
        queued = provider.state.scenarios.add("charge", token.token_id, charge, times) if charge else \
            provider.state.scenarios.pending("charge", token.token_id)
        return json_response({"token_id": token.token_id, "status": token.status, "charge": queued})
