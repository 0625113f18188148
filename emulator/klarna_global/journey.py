"""The shopper's side of a payment request: the purchase journey at `payment_request_url`, and the same
decision made through the control API for tests without a browser.

Opening the journey moves SUBMITTED → IN_PROGRESS. Approving moves it to COMPLETED and issues the
Klarna Network Session Token (valid one hour on the emulator clock); declining moves it to DECLINED
(`PURCHASE_FLOW_ABORTED` when the shopper cancels). Either way the browser goes back to `return_url`
(§6: "whether they complete or stop the flow"). Each change sends its webhook after the lock is released.
"""
from __future__ import annotations

import html
import logging
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from ..routes import register_routes
from ..server import HTTPError, Request, Response, html_response
from . import events
from .state import OPEN, PaymentRequest
from .wire import BASE

if TYPE_CHECKING:
    from .provider import KlarnaGlobalProvider

ACTIONS = ("approve", "decline", "cancel")

log = logging.getLogger("emulator.klarna_global")


def decide(provider: "KlarnaGlobalProvider", payment_request: PaymentRequest, action: str) -> PaymentRequest:
    """Apply the shopper's decision once; raises ValueError when the request is no longer open."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    now = provider.now()
    with provider.state.lock:
        if payment_request.state in OPEN and now > payment_request.expires_at:
            provider.state.move(payment_request, "EXPIRED", now)
            outbounds = events.state_change(provider, payment_request)
        elif payment_request.state not in OPEN:
            raise ValueError(f"payment request is {payment_request.state}")
        elif action == "approve":
            payment_request.session_token = f"krn:network:eu1:test:session-token:{secrets.token_urlsafe(24)}"
            payment_request.session_token_expires_at = now + timedelta(seconds=provider.setting("session_token_seconds"))
            provider.state.move(payment_request, "COMPLETED", now)
            outbounds = events.state_change(provider, payment_request)
        else:
            provider.state.move(payment_request, "DECLINED", now,
                                "PURCHASE_FLOW_ABORTED" if action == "cancel" else None)
            outbounds = events.state_change(provider, payment_request)
    provider.send(outbounds)
    return payment_request


def register(provider: "KlarnaGlobalProvider") -> None:
    """The journey is a hosted page (logged as the provider's traffic, no faults): one path, the shopper's
    GET opens it and the form's POST decides."""
    register_routes(provider, BASE, [
        ("GET", "/pay/requests/<journey_id>/start", page),
        ("POST", "/pay/requests/<journey_id>/start", page),
    ], kind="page")


def page(provider: "KlarnaGlobalProvider", request: Request) -> Response:
    payment_request = provider.state.by_journey(request.params["journey_id"])
    if payment_request is None:
        raise HTTPError(404, {"detail": "Not found."})
    if request.method == "POST":
        action = (parse_qs(request.body.decode("utf-8", "replace")).get("action") or [""])[0]
        try:
            decide(provider, payment_request, action)
        except ValueError as refused:
            # A second click or an expired request changes nothing; the shopper goes back all the same and
            # the shop reads the payment request's real state.
            log.info("journey %s: %s", request.params["journey_id"], refused)
        return Response(303, b"", {"Location": payment_request.return_url})
    with provider.state.lock:
        if payment_request.state == "SUBMITTED" and provider.now() <= payment_request.expires_at:
            provider.state.move(payment_request, "IN_PROGRESS", provider.now())
            outbounds = events.state_change(provider, payment_request)
        else:
            outbounds = []
        state = payment_request.state
    provider.send(outbounds)
    return html_response(_render(payment_request, state))


def _render(payment_request: PaymentRequest, state: str) -> str:
    amount = f"{payment_request.amount / 100:.2f} {html.escape(payment_request.currency)}"
    lines = "".join(f"<li>{html.escape(str(i.get('quantity')))} × {html.escape(str(i.get('name')))}</li>"
                    for i in payment_request.purchase.get("line_items") or [])
    if state != "IN_PROGRESS":
        body = f'<p id="klarna-state">This payment request is {html.escape(state)}.</p>' \
               f'<p><a id="klarna-back" href="{html.escape(payment_request.return_url)}">Back to the shop</a></p>'
    else:
        body = ('<form method="post"><button id="klarna-approve" name="action" value="approve">Pay</button> '
                '<button id="klarna-decline" name="action" value="decline">Decline</button> '
                '<button id="klarna-cancel" name="action" value="cancel">Cancel and go back</button></form>')
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Klarna</title></head><body>"
            f"<h1>Klarna (emulator)</h1><p>Confirm your payment of <strong id='klarna-amount'>{amount}</strong> "
            f"for {html.escape(payment_request.purchase.get('purchase_reference') or '')}.</p><ul>{lines}</ul>"
            f"{body}</body></html>")
