"""Pages the shopper's browser sees: the hosted Klarna checkout and the POST back to the store.

Why an auto-submitting form: 29 Next returns the shopper to `payment_return_url` with a browser POST whose
single field `response` holds the Order JSON (or `{}`). That POST is unsigned and travels through the
browser, which is exactly why the shop must re-fetch the order before trusting it.
"""
from __future__ import annotations

from decimal import Decimal
from html import escape

from ..routes import register_routes
from ..server import HTTPError, Request, Response, html_response
from .checkout import ACTIONS, Completion, complete_checkout
from .orders import line_title, money, order_total
from .provider import NextProvider

MERCHANT = "Emulated store"

STYLE = """
*{box-sizing:border-box}body{margin:0;font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,
Helvetica,Arial,sans-serif;background:#f7f7f8;color:#17120f}main{max-width:440px;margin:0 auto;padding:24px 16px}
.brand{font-weight:800;font-size:28px;letter-spacing:-1px}.brand span{background:#FFB3C7;padding:2px 10px;
border-radius:8px}.card{background:#fff;border-radius:16px;padding:20px;margin-top:16px;
box-shadow:0 1px 3px rgba(0,0,0,.08)}h1{font-size:20px;margin:0 0 4px}.muted{color:#6b6b6b;font-size:14px}
table{width:100%;border-collapse:collapse;margin:12px 0}td{padding:6px 0;font-size:15px;vertical-align:top}
td.amount{text-align:right;white-space:nowrap}tr.total td{border-top:1px solid #e5e5e5;font-weight:700;
padding-top:10px}button{display:block;width:100%;border:0;border-radius:24px;padding:14px;font-size:16px;
font-weight:600;margin-top:10px;cursor:pointer}.primary{background:#FFB3C7;color:#17120f}
.secondary{background:#fff;color:#17120f;border:1px solid #17120f}.link{background:none;color:#6b6b6b;
text-decoration:underline}.badge{display:inline-block;font-size:12px;background:#17120f;color:#fff;
border-radius:4px;padding:2px 6px;margin-left:6px;vertical-align:middle}
"""


def register(provider: NextProvider) -> None:
    register_routes(provider, "/next", [
        ("GET", "/klarna/<checkout_id>/", checkout_page),
        ("POST", "/klarna/<checkout_id>/", checkout_submit),
        ("GET", "/orders/<number>/status/", order_status_page),
    ], kind="page")


def _page(title: str, body: str, status: int = 200) -> Response:
    return html_response(
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body><main>"
        f'<div class="brand"><span>Klarna.</span></div>{body}</main></body></html>', status)


def _not_found() -> Response:
    return _page("Not found", '<div class="card"><h1>Checkout not found</h1>'
                 '<p class="muted">This payment link is unknown or has expired.</p></div>', 404)


def checkout_page(provider: NextProvider, request: Request) -> Response:
    checkout = provider.state.checkout(request.params["checkout_id"])
    if checkout is None:
        return _not_found()
    data = checkout.data
    currency = escape(data["currency"])
    rows = "".join(
        f"<tr><td>{escape(line_title(line))} &times; {line['quantity']}</td>"
        f'<td class="amount">{money(Decimal(line["price"]) * line["quantity"])} {currency}</td></tr>'
        for line in data["lines"])
    shipping = Decimal(data.get("shipping_price") or "0")
    if shipping:
        rows += f'<tr><td>Shipping</td><td class="amount">{money(shipping)} {currency}</td></tr>'
    rows += f'<tr class="total"><td>Total</td><td class="amount">{money(order_total(data))} {currency}</td></tr>'
    email = escape((data.get("user") or {}).get("email") or "")
    done = "" if checkout.status == "pending" else \
        f'<p class="muted">This payment was already {escape(checkout.status)}.</p>'
    body = f"""
<div class="card">
  <h1>Pay {escape(MERCHANT)}</h1>
  <p class="muted">Signed in as <strong id="klarna-email">{email}</strong><span class="badge">Sandbox</span></p>
  <table>{rows}</table>{done}
  <form method="post">
    <button type="submit" class="primary" id="klarna-approve" name="action" value="approve">Pay now</button>
    <button type="submit" class="secondary" id="klarna-decline" name="action" value="decline">
      Decline (sandbox)</button>
    <button type="submit" class="link" id="klarna-cancel" name="action" value="cancel">
      Cancel and return to store</button>
  </form>
  <p class="muted">Sandbox tip: an email like <code>customer+denied@example.com</code> is always declined.</p>
</div>"""
    return _page(f"Klarna - {MERCHANT}", body)


def checkout_submit(provider: NextProvider, request: Request) -> Response:
    form = request.data()
    action = form.get("action") if isinstance(form, dict) else None
    if action not in ACTIONS:
        raise HTTPError(400, {"action": [f"Choose one of {', '.join(ACTIONS)}."]})
    completion = complete_checkout(provider, request.params["checkout_id"], action)
    if completion is None:
        return _not_found()
    return return_page(completion)


def return_page(completion: Completion) -> Response:
    """POST `response` to the store's return URL; the button is the no-JavaScript fallback."""
    body = f"""
<div class="card">
  <h1>Returning you to {escape(MERCHANT)}&hellip;</h1>
  <form method="post" action="{escape(completion.return_url)}">
    <input type="hidden" name="response" value="{escape(completion.response)}">
    <button type="submit" class="primary" id="klarna-return">Return to store</button>
  </form>
</div>
<script>document.forms[0].submit()</script>"""
    return _page("Returning to store", body)


def order_status_page(provider: NextProvider, request: Request) -> Response:
    order = provider.state.order(request.params["number"])
    if order is None:
        return _page("Not found", '<div class="card"><h1>Order not found</h1></div>', 404)
    return _page(f"Order {order['number']}", f"""
<div class="card"><h1>Order {escape(order['number'])}</h1>
<p class="muted">Payment: {escape(order['payment_status'])} &middot;
Total: {escape(order['total_incl_tax'])} {escape(order['currency'])}</p></div>""")
