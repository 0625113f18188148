"""The page a shopper sees at `payment_url`: MultiSafepay's payment page (`redirect` orders,
`/multisafepay/connect/<session>/`) or, for `direct` orders, the stand-in for Klarna's own page
(`/multisafepay/klarna/<session>/`). Approve, decline or cancel; then the browser is sent by GET (302) to
the order's `redirect_url` (paid) or `cancel_url` (anything else) with `?transactionid=<order_id>`, as
MultiSafepay does. The redirect proves nothing: the shop must read the order back.
"""
from __future__ import annotations

from decimal import Decimal
from html import escape

from ..routes import register_routes
from ..server import HTTPError, Request, Response, html_response
from . import orders
from .provider import MultiSafepayProvider

ACTIONS = ("approve", "decline", "cancel")
STYLE = """
*{box-sizing:border-box}body{margin:0;font-family:-apple-system,"Segoe UI",Roboto,Arial,sans-serif;
background:#f4f6f8;color:#1b2733}main{max-width:460px;margin:0 auto;padding:24px 16px}
.brand{font-weight:800;font-size:24px}.brand span{color:#0a7cff}.klarna{background:#FFB3C7;padding:2px 10px;
border-radius:8px}.card{background:#fff;border-radius:12px;padding:20px;margin-top:16px;
box-shadow:0 1px 3px rgba(0,0,0,.08)}h1{font-size:19px;margin:0 0 4px}.muted{color:#66707a;font-size:14px}
table{width:100%;border-collapse:collapse;margin:12px 0}td{padding:6px 0;font-size:15px}td.amount{text-align:right}
tr.total td{border-top:1px solid #e3e6e9;font-weight:700}button{display:block;width:100%;border:0;
border-radius:8px;padding:13px;font-size:16px;font-weight:600;margin-top:10px;cursor:pointer}
.primary{background:#0a7cff;color:#fff}.secondary{background:#fff;border:1px solid #1b2733}
.link{background:none;color:#66707a;text-decoration:underline}
"""


def register(provider: MultiSafepayProvider) -> None:
    """Hosted pages: logged as MultiSafepay's traffic, no faults (`kind="page"`)."""
    register_routes(provider, "/multisafepay", [
        ("GET", "/connect/<session_id>/", show),
        ("POST", "/connect/<session_id>/", submit),
        ("GET", "/klarna/<session_id>/", show),
        ("POST", "/klarna/<session_id>/", submit),
    ], kind="page")


def _page(title: str, body: str, status: int = 200) -> Response:
    return html_response(
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        status)


def _brand(order: orders.Order) -> str:
    if order.type == "direct":
        return '<div class="brand"><span class="klarna">Klarna.</span></div>'
    return '<div class="brand">Multi<span>Safepay</span> <span class="klarna">Klarna.</span></div>'


def _lines(order: orders.Order) -> str:
    currency = escape(str(order.data["currency"]).upper())
    rows = ""
    for item in order.items:
        rate = order.rates.get(str(item.get("tax_table_selector") or ""), Decimal(0))
        gross = Decimal(str(item["unit_price"])) * Decimal(str(item["quantity"])) * (1 + rate)
        rows += (f"<tr><td>{escape(str(item.get('name') or ''))} &times; {escape(str(item['quantity']))}</td>"
                 f'<td class="amount">{gross.quantize(Decimal("0.01"))} {currency}</td></tr>')
    total = Decimal(order.amount) / 100
    return rows + f'<tr class="total"><td>Total</td><td class="amount">{total:.2f} {currency}</td></tr>'


def show(provider: MultiSafepayProvider, request: Request) -> Response:
    order = provider.state.by_session(request.params["session_id"])
    if order is None:
        return _page("Not found", '<div class="card"><h1>Payment not found</h1>'
                     '<p class="muted">This payment link is unknown or has expired.</p></div>', 404)
    with provider.state.lock:
        status, lines = order.status, _lines(order)
    email = escape(str((order.data.get("customer") or {}).get("email") or ""))
    done = "" if status == "initialized" else f'<p class="muted" id="msp-status">This payment is {escape(status)}.</p>'
    body = f"""{_brand(order)}
<div class="card">
  <h1>Pay {escape(str(order.data.get('description') or order.order_id))}</h1>
  <p class="muted">Test mode &middot; <span id="msp-email">{email}</span></p>
  <table>{lines}</table>{done}
  <form method="post">
    <button type="submit" class="primary" id="msp-approve" name="action" value="approve">Pay with Klarna</button>
    <button type="submit" class="secondary" id="msp-decline" name="action" value="decline">Decline (test)</button>
    <button type="submit" class="link" id="msp-cancel" name="action" value="cancel">Cancel and return</button>
  </form>
  <p class="muted">Test personas: an email with <code>+denied</code> is declined, <code>+pending</code> stays
  uncleared until decided.</p>
</div>"""
    return _page("MultiSafepay - Klarna", body)


def submit(provider: MultiSafepayProvider, request: Request) -> Response:
    form = request.data()
    action = form.get("action") if isinstance(form, dict) else None
    if action not in ACTIONS:
        raise HTTPError(400, {"action": [f"Choose one of {', '.join(ACTIONS)}."]})
    order = provider.state.by_session(request.params["session_id"])
    if order is None:
        return show(provider, request)
    url, pending = orders.shopper_action(provider, order, action)
    orders.send(provider, pending)
    if not url:
        return _page("Payment", f'{_brand(order)}<div class="card"><h1 id="msp-status">Payment {escape(order.status)}'
                     "</h1><p class=muted>You can close this window.</p></div>")
    return Response(302, b"", {"Location": url})
