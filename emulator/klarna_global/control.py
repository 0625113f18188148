"""Control routes under `/_emulator/klarna-global/`: inspect payment requests, transactions and tokens, decide a
purchase journey without a browser, script token charges or revoke a token.

Control errors use the control API's `{"detail": ...}` shape: these routes are the emulator's own.
"""
from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING
from urllib.parse import unquote

from ..server import HTTPError, Request, Response, json_response
from .authorize_api import render_request
from .journey import decide

if TYPE_CHECKING:
    from .provider import KlarnaGlobalProvider

CHARGES = ("approve", "decline")


def register(provider: "KlarnaGlobalProvider") -> None:
    def requests_list(request: Request) -> Response:
        with provider.state.lock:
            listed = [{**render_request(provider, r), "return_url": r.return_url,
                       "finalized": r.final_answer is not None} for r in provider.state.requests.values()]
        return json_response({"payment_requests": listed})

    def complete(request: Request) -> Response:
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

    def transactions(request: Request) -> Response:
        with provider.state.lock:
            return json_response({"transactions": list(provider.state.transactions.values())})

    def tokens(request: Request) -> Response:
        with provider.state.lock:
            return json_response({"tokens": [{"customer_token_id": t.id, "status": t.status,
                                              "customer_token_reference": t.reference}
                                             for t in provider.state.tokens.values()]})

    def token_scenario(request: Request) -> Response:
        """`{"charge": "decline"|"approve", "times": n}` scripts the next charges; `{"status": "REVOKED"}`."""
        body = request.json_object()
        charge, status, times = body.get("charge"), body.get("status"), body.get("times", 1)
        if charge not in (None, *CHARGES) or status not in (None, "ACTIVE", "REVOKED") or (charge, status) == (None, None):
            raise HTTPError(400, {"detail": "Give 'charge' (approve/decline) and/or 'status' (ACTIVE/REVOKED)."})
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise HTTPError(400, {"detail": "'times' must be a positive integer."})
        with provider.state.lock:
            token = provider.state.tokens.get(unquote(request.params["token"]))
            if token is None:
                raise HTTPError(404, {"detail": "Not found."})
            if status:
                token.status = status
            if charge:
                provider.state.scenarios.setdefault(token.id, deque()).extend([charge] * times)
            return json_response({"customer_token_id": token.id, "status": token.status,
                                  "charge": list(provider.state.scenarios.get(token.id, []))})

    router = provider.app.router
    prefix = "/_emulator/klarna-global"
    router.add("GET", prefix + "/payment-requests", requests_list, kind="control")
    router.add("POST", prefix + "/payment-requests/<request_id>/complete", complete, kind="control")
    router.add("GET", prefix + "/transactions", transactions, kind="control")
    router.add("GET", prefix + "/tokens", tokens, kind="control")
    router.add("POST", prefix + "/tokens/<token>/scenario", token_scenario, kind="control")
