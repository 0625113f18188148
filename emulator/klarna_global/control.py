"""Control routes under `/_emulator/klarna-global/`: inspect payment requests, transactions and tokens, decide a
purchase journey without a browser, script token charges or revoke a token.

Why: rule 11 says tests make the emulator misbehave instead of mocking the shop, and Klarna's playground
cannot be told "decline this token's next charge". Scripted charges go to the state's `ScenarioQueue`
(kind "charge", keyed by the customer token id). Control errors use the control API's `{"detail": ...}`
shape: these routes are the emulator's own.
"""
from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote

from ..routes import register_routes
from ..scenarios import times_of
from ..server import HTTPError, Request, Response, json_response
from .authorize_api import render_request
from .journey import decide

if TYPE_CHECKING:
    from .provider import KlarnaGlobalProvider

CHARGES = ("approve", "decline")


def register(provider: "KlarnaGlobalProvider") -> None:
    register_routes(provider, "/_emulator/klarna-global", [
        ("GET", "/payment-requests", requests_list),
        ("POST", "/payment-requests/<request_id>/complete", complete),
        ("GET", "/transactions", transactions),
        ("GET", "/tokens", tokens),
        ("POST", "/tokens/<token>/scenario", token_scenario),
    ], kind="control")


def requests_list(provider: "KlarnaGlobalProvider", request: Request) -> Response:
    with provider.state.lock:
        listed = [{**render_request(provider, r), "return_url": r.return_url,
                   "finalized": r.final_answer is not None} for r in provider.state.requests.values()]
    return json_response({"payment_requests": listed})


def complete(provider: "KlarnaGlobalProvider", request: Request) -> Response:
    """`{"action": "approve"|"decline"|"cancel"}` as the shopper in the journey; answers the request,
    its return_url and (approved) the session token."""
    payment_request = provider.state.requests.get(unquote(request.params["request_id"]))
    if payment_request is None:
        raise HTTPError(404, {"detail": "Not found."})
    try:
        decide(provider, payment_request, str(request.json_object().get("action", "approve")))
    except ValueError as exc:
        raise HTTPError(409, {"detail": str(exc)}) from None
    with provider.state.lock:
        return json_response({**render_request(provider, payment_request),
                              "return_url": payment_request.return_url,
                              "klarna_network_session_token": payment_request.session_token})


def transactions(provider: "KlarnaGlobalProvider", request: Request) -> Response:
    with provider.state.lock:
        return json_response({"transactions": list(provider.state.transactions.values())})


def tokens(provider: "KlarnaGlobalProvider", request: Request) -> Response:
    with provider.state.lock:
        return json_response({"tokens": [{"customer_token_id": t.id, "status": t.status,
                                          "customer_token_reference": t.reference}
                                         for t in provider.state.tokens.values()]})


def token_scenario(provider: "KlarnaGlobalProvider", request: Request) -> Response:
    """`{"charge": "decline"|"approve", "times": n}` scripts the next charges; `{"status": "REVOKED"}`.
    Both may be given at once, so the body is read here rather than by `scenarios.scripted`."""
    body = request.json_object()
    charge, status = body.get("charge"), body.get("status")
    if charge not in (None, *CHARGES) or status not in (None, "ACTIVE", "REVOKED") or (charge, status) == (None, None):
        raise HTTPError(400, {"detail": "Give 'charge' (approve/decline) and/or 'status' (ACTIVE/REVOKED)."})
    times = times_of(body)
    scenarios = provider.state.scenarios
    with provider.state.lock:
        token = provider.state.tokens.get(unquote(request.params["token"]))
        if token is None:
            raise HTTPError(404, {"detail": "Not found."})
        if status:
            token.status = status
        queued = scenarios.add("charge", token.id, charge, times) if charge else scenarios.pending("charge", token.id)
        return json_response({"customer_token_id": token.id, "status": token.status, "charge": queued})
