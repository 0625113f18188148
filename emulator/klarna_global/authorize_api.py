"""authorizePayment and the payment request resource (reference §2-§6).

One endpoint, three calls, told apart by their headers:
- `Klarna-Network-Session-Token` → finalization: the token must be the payment request's, unexpired (one
  hour from completion), and the body must repeat currency, amount, supplementary_purchase_data and
  payment_transaction_reference exactly; otherwise DECLINED and the payment request DECLINED [I]. The
  token is Klarna's idempotency key here: once a transaction exists, the same token replays its answer.
- `Klarna-Customer-Token` → a token charge (no step-up: APPROVED or DECLINED); an unknown or revoked token
  is 404 RESOURCE_NOT_FOUND [I]; control-API scenarios script declines.
- neither → a first call decided by persona (rules.py); STEP_UP_REQUIRED needs `step_up_config` (without
  it the call is DECLINED) and creates a payment request with the purchase-journey URL.
All state changes happen under the state lock; webhooks go out after it is released.
"""
from __future__ import annotations

import copy
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from ..routes import register_routes
from ..server import Request, Response, json_response
from . import events, rules
from .state import OPEN, PaymentRequest
from .wire import BASE, V2Error, endpoint, invalid, json_body, not_found, param

if TYPE_CHECKING:
    from .provider import KlarnaGlobalProvider

ACCOUNT = "/v2/accounts/<account>"


def register(provider: "KlarnaGlobalProvider") -> None:
    register_routes(provider, BASE, [
        ("POST", ACCOUNT + "/payment/authorize", authorize, True),
        ("GET", ACCOUNT + "/payment/requests/<request_id>", read_request, False),
        ("DELETE", ACCOUNT + "/payment/requests/<request_id>", cancel_request, False),
    ], wrap=endpoint)


def render_request(provider: "KlarnaGlobalProvider", request: PaymentRequest) -> dict:
    context: dict = {"customer_interaction": {
        "method": "HANDOVER", "payment_request_id": request.id,
        "payment_request_url": f"{provider.base_url}/pay/requests/{request.journey_id}/start"}}
    if request.state == "COMPLETED" and request.session_token:
        context["klarna_network_session_token"] = request.session_token
    answer = {"payment_request_id": request.id, "payment_request_reference": request.reference,
              "amount": request.amount, "currency": request.currency, "state": request.state,
              "previous_state": request.previous_state, "state_context": context,
              "expires_at": provider.iso(request.expires_at), "created_at": provider.iso(request.created_at),
              "updated_at": provider.iso(request.updated_at)}
    if request.state_reason:
        answer["state_reason"] = request.state_reason
    return answer


def _answer(result: str, **parts) -> Response:
    return json_response({"payment_transaction_response": {"result": result, **parts.pop("response", {})},
                          **parts})


def _transaction(provider, body: dict, customer_token: str | None = None) -> dict:
    transaction = {"payment_transaction_id": f"krn:payment:eu1:transaction:{uuid.uuid4()}",
                   "payment_transaction_reference": body["request_payment_transaction"]["payment_transaction_reference"],
                   "amount": body["request_payment_transaction"]["amount"], "currency": body["currency"],
                   "payment_funding": {"type": "GUARANTEED", "state": "FUNDED"},
                   "expires_at": provider.iso(provider.now() + timedelta(days=28))}
    with provider.state.lock:
        provider.state.transactions[transaction["payment_transaction_id"]] = {
            **transaction, "customer_token": customer_token}
    return transaction


def _approved(provider, body: dict) -> dict:
    answer = {"payment_transaction_response": {"result": "APPROVED",
                                               "payment_transaction": _transaction(provider, body)}}
    wanted = body.get("request_customer_token")
    if isinstance(wanted, dict):
        token = provider.state.issue_token(str(wanted.get("customer_token_reference") or ""),
                                           list(wanted.get("scopes") or []), provider.now())
        answer["customer_token_response"] = {"result": "APPROVED", "customer_token": {
            "customer_token_id": token.id, "customer_token_reference": token.reference}}
    return answer


def authorize(provider: "KlarnaGlobalProvider", request: Request) -> Response:
    body = json_body(request)
    rules.check(body)
    session_token = request.header("klarna-network-session-token")
    customer_token = request.header("klarna-customer-token")
    if session_token:
        return _finalize(provider, body, session_token)
    if customer_token:
        return _token_charge(provider, body, customer_token)
    outcome = rules.persona(body)
    if outcome == "DECLINED":
        return _answer("DECLINED", response={"result_reason": "CUSTOMER_DECLINED"})
    if outcome == "APPROVED":
        return json_response(_approved(provider, body))
    if body.get("step_up_config") is None:
        return _answer("DECLINED", response={"result_reason": "STEP_UP_NOT_CONFIGURED"})
    payment_request = _create_request(provider, body)
    with provider.state.lock:
        rendered = render_request(provider, payment_request)
    provider.send(events.state_change(provider, payment_request))
    return _answer("STEP_UP_REQUIRED", payment_request=rendered)


def _create_request(provider, body: dict) -> PaymentRequest:
    now = provider.now()
    step_up = body["step_up_config"]
    transaction = body["request_payment_transaction"]
    payment_request = PaymentRequest(
        id=f"krn:payment:eu1:request:{uuid.uuid4()}", journey_id=str(uuid.uuid4()),
        reference=str(step_up.get("payment_request_reference") or transaction["payment_transaction_reference"]),
        amount=transaction["amount"], currency=body["currency"],
        purchase=copy.deepcopy(body.get("supplementary_purchase_data") or {}),
        transaction_reference=transaction["payment_transaction_reference"],
        return_url=step_up["customer_interaction_config"]["return_url"],
        request_customer_token=copy.deepcopy(body.get("request_customer_token")),
        created_at=now, updated_at=now,
        expires_at=now + timedelta(seconds=provider.setting("request_lifetime_seconds")))
    with provider.state.lock:
        provider.state.requests[payment_request.id] = payment_request
    return payment_request


def _finalize(provider, body: dict, session_token: str) -> Response:
    if body.get("step_up_config") is not None:
        raise invalid(("step_up_config", "must be omitted when finalizing with a session token"))
    outbounds = []
    with provider.state.lock:
        payment_request = provider.state.by_session_token(session_token)
        if payment_request is None:
            return _answer("DECLINED", response={"result_reason": "INVALID_SESSION_TOKEN"})
        if payment_request.final_answer is not None:
            return json_response(copy.deepcopy(payment_request.final_answer))
        if payment_request.state != "COMPLETED":
            return _answer("DECLINED", response={"result_reason": "PAYMENT_REQUEST_NOT_COMPLETED"})
        asked = {"currency": body["currency"], "amount": body["request_payment_transaction"]["amount"],
                 "purchase": body.get("supplementary_purchase_data") or {},
                 "reference": body["request_payment_transaction"]["payment_transaction_reference"]}
        reason = None
        if provider.now() > payment_request.session_token_expires_at:
            reason = "SESSION_TOKEN_EXPIRED"
        elif asked != payment_request.context():
            reason = "PAYMENT_CONTEXT_CHANGED"
        if reason:
            provider.state.move(payment_request, "DECLINED", provider.now(), reason)
            outbounds = events.state_change(provider, payment_request)
            answer = {"payment_transaction_response": {"result": "DECLINED", "result_reason": reason}}
        else:
            if payment_request.request_customer_token and "request_customer_token" not in body:
                body = {**body, "request_customer_token": payment_request.request_customer_token}
            answer = _approved(provider, body)
        payment_request.final_answer = answer
    provider.send(outbounds)
    return json_response(answer)


def _token_charge(provider, body: dict, token_id: str) -> Response:
    if body.get("step_up_config") is not None:
        raise invalid(("step_up_config", "a customer-not-present charge takes no step-up"))
    with provider.state.lock:
        token = provider.state.tokens.get(token_id)
        if token is None or token.status != "ACTIVE":
            raise not_found("Customer token")
        if provider.state.next_charge(token_id) == "decline":
            return _answer("DECLINED", response={"result_reason": "INSUFFICIENT_FUNDS"})
    answer = {"payment_transaction_response": {"result": "APPROVED",
                                               "payment_transaction": _transaction(provider, body, token_id)}}
    return json_response(answer)


def _request_or_404(provider, request: Request) -> PaymentRequest:
    payment_request = provider.state.requests.get(param(request, "request_id"))
    if payment_request is None:
        raise not_found("Payment request")
    return payment_request


def read_request(provider: "KlarnaGlobalProvider", request: Request) -> Response:
    with provider.state.lock:
        return json_response(render_request(provider, _request_or_404(provider, request)))


def cancel_request(provider: "KlarnaGlobalProvider", request: Request) -> Response:
    """Allowed while SUBMITTED / IN_PROGRESS, and COMPLETED until finalized (newer AP docs); 409 otherwise."""
    with provider.state.lock:
        payment_request = _request_or_404(provider, request)
        if payment_request.state not in OPEN and not (
                payment_request.state == "COMPLETED" and payment_request.final_answer is None):
            raise V2Error(409, "RESOURCE_CONFLICT", f"Payment request is {payment_request.state}")
        provider.state.move(payment_request, "CANCELED", provider.now(), "PARTNER_CANCELED")
        outbounds = events.state_change(provider, payment_request)
    provider.send(outbounds)
    return Response(204, b"", {})


def expire_due(provider: "KlarnaGlobalProvider") -> list:
    """Clock job: open payment requests past `expires_at` become EXPIRED (with their webhook)."""
    now, done, outbounds = provider.now(), [], []
    with provider.state.lock:
        for payment_request in provider.state.requests.values():
            if payment_request.state in OPEN and now > payment_request.expires_at:
                provider.state.move(payment_request, "EXPIRED", now)
                outbounds += events.state_change(provider, payment_request)
                done.append(payment_request.id)
    provider.send(outbounds)
    return done
