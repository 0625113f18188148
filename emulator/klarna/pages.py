"""Klarna's shopper pages: what the shopper's browser loads from "Klarna": the JS SDK stand-in, its authorize endpoint, the badge
image, and the redirect that bounces the shopper to the merchant's confirmation page.

Why a real script: the shop's checkout page must run the same calls it would run against Klarna's CDN
(`init`, `load`, `authorize`), so the end-to-end tests click through a dialog instead of skipping the
widget. Everything here is cross-origin from the shop, hence `Access-Control-Allow-Origin: *`.
"""
from __future__ import annotations

from pathlib import Path

from ..routes import register_routes
from ..server import Request, Response, json_response, parse_json
from .authorizations import SessionUnavailable, authorize_session
from .provider import BASE, KlarnaProvider
from .state import decode_client_token

SCRIPT_FILE = Path(__file__).with_name("klarna-payments.js")
CORS = {"Access-Control-Allow-Origin": "*"}
BADGE = ('<svg xmlns="http://www.w3.org/2000/svg" width="80" height="32" viewBox="0 0 80 32">'
         '<rect width="80" height="32" rx="6" fill="#FFB3C7"/><text x="40" y="21" font-family="sans-serif" '
         'font-size="14" font-weight="700" text-anchor="middle" fill="#17120f">Klarna.</text></svg>')


def register(provider: KlarnaProvider) -> None:
    script = SCRIPT_FILE.read_text(encoding="utf-8").replace("__AUTHORIZE_URL__", f"{provider.base_url}/sdk/authorize")

    def serve_script(provider: KlarnaProvider, request: Request) -> Response:
        return Response(200, script.encode(), {"Content-Type": "application/javascript; charset=utf-8",
                                               "Cache-Control": "no-cache", **CORS})

    register_routes(provider, BASE, [
        ("GET", "/js/klarna-payments.js", serve_script),
        ("POST", "/sdk/authorize", sdk_authorize),
        ("POST", "/sdk/summary", sdk_summary),
        ("GET", "/assets/badge.svg", badge),
        ("GET", "/redirect/<redirect_id>", confirmation_redirect),
    ], kind="page")


def badge(provider: KlarnaProvider, request: Request) -> Response:
    return Response(200, BADGE.encode(), {"Content-Type": "image/svg+xml", **CORS})


def _sdk_session(provider: KlarnaProvider, request: Request):
    """(the session the body's client token names, the body) or (None, None); the SDK posts text/plain JSON."""
    try:
        body = parse_json(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None, None
    claims = decode_client_token(body.get("client_token")) if isinstance(body, dict) else None
    session_id = (claims or {}).get("session_id")
    session = provider.state.session(str(session_id), provider.now()) if session_id else None
    if session is None or session.client_token != body.get("client_token"):
        return None, None
    return session, body


def sdk_summary(provider: KlarnaProvider, request: Request) -> Response:
    """What the dialog shows before the shopper decides: the amount the authorization would be for. As in
    Klarna's own dialog, that is the session's amount as it stands now (a shop that updated the session
    after its page was drawn shows the new amount here), or the `order_amount` the authorize() call passes,
    which updates the session. `{client_token, data}` -> `{order_amount, purchase_currency}`; 404 for a
    session that is gone."""
    session, body = _sdk_session(provider, request)
    if session is None:
        return json_response({"error": "no such session"}, status=404, headers=CORS)
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    amount = data.get("order_amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        amount = session.data.get("order_amount")
    return json_response({"order_amount": amount, "purchase_currency": session.data.get("purchase_currency")},
                         headers=CORS)


def sdk_authorize(provider: KlarnaProvider, request: Request) -> Response:
    """The dialog's decision: `{client_token, approve, data, payment_method_category}` (sent as text/plain)
    -> the authorize() callback's argument. Always 200: the SDK reports failures inside the answer."""
    session, body = _sdk_session(provider, request)
    if session is None:
        return json_response({"approved": False, "show_form": False, "error": {"invalid_fields": []}}, headers=CORS)
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    try:
        result = authorize_session(provider, session.id, approve=body.get("approve") is True, data=data,
                                   category=str(body.get("payment_method_category") or "klarna"))
    except SessionUnavailable:
        return json_response({"approved": False, "show_form": False, "error": {"invalid_fields": []}}, headers=CORS)
    return json_response(result.sdk_answer(), headers=CORS)


def confirmation_redirect(provider: KlarnaProvider, request: Request) -> Response:
    """Klarna's `redirect_url`: sets its cookie (none here) and sends the browser to the merchant."""
    with provider.state.lock:
        target = provider.state.redirects.get(request.params["redirect_id"])
    if target is None:
        return Response(404, b"Not found", {"Content-Type": "text/plain"})
    return Response(302, b"", {"Location": target})
