"""The emulator's front page (`/` and `/_emulator/`): what it emulates and how to drive it, for a developer
who opens http://127.0.0.1:8100/ in a browser instead of getting a 404 JSON body.

Built from the router itself: only providers with routes are listed, and every control route is.
"""
from __future__ import annotations

from html import escape

from .app import Emulator
from .server import Request, Response, html_response

PROVIDERS = [
    ("29 Next Admin API", "/next/api/admin/", "orders, Klarna page at /next/klarna/<id>/, subscriptions, upsells"),
    ("Klarna Payments, Customer Token, Order Management", "/klarna/", "sessions, JS SDK stand-in, tokens, OM"),
    ("Klarna Payment Authorize v2", "/klarna-global/", "server-side authorize, step-up"),
    ("MultiSafepay", "/multisafepay/v1/json/", "Klarna orders, payment page, signed notifications"),
]
PERSONAS = [
    ("+denied", "Klarna: authorization declined"),
    ("+pending", "Klarna: fraud review (PENDING), decided on the emulator clock; with +reject: rejected"),
    ("+pend-accept-NN / +pend-reject-NN", "Klarna: decided after NN minutes"),
    ("+renewal-declined", "29 Next: renewals of this subscriber are declined"),
    ("+upsell-declined", "29 Next: one-click upsells are declined"),
]


def register(app: Emulator) -> None:
    def index(request: Request) -> Response:
        served = [route.pattern for route in app.router.routes]
        providers = "".join(f"<tr><td>{escape(name)}</td><td><code>{escape(path)}</code></td><td>{escape(what)}</td></tr>"
                            for name, path, what in PROVIDERS if any(p.startswith(path) for p in served))
        control = "".join(f"<li><code>{escape(route.method)} {escape(route.pattern)}</code></li>"
                          for route in app.router.routes if route.pattern.startswith("/_emulator/")
                          and route.pattern != "/_emulator/")
        personas = "".join(f"<tr><td><code>{escape(tag)}</code></td><td>{escape(what)}</td></tr>" for tag, what in PERSONAS)
        return html_response(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Payment provider emulator</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d2330}}
table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #dde1e8;padding:.3rem .6rem;text-align:left}}</style></head>
<body><h1>Payment provider emulator</h1>
<p>Stands in for the payment providers: same wire formats, hosted pages and signed webhooks.
Public URL <code>{escape(app.public_url)}</code>. Documentation: <code>emulator/README.md</code>.</p>
<h2>Providers</h2><table><thead><tr><th scope="col">Provider</th><th scope="col">Base path</th><th scope="col">What</th></tr></thead>
<tbody>{providers}</tbody></table>
<h2>Test personas</h2><p>Put the tag in the local part of the shopper's email, e.g. <code>anna+denied@example.com</code>.</p>
<table><tbody>{personas}</tbody></table>
<h2>Control API</h2><p>JSON in and out, no authentication (development and CI only).</p><ul>{control}</ul>
</body></html>""")

    for path in ("/", "/_emulator/"):
        app.router.add("GET", path, index, kind="control")
