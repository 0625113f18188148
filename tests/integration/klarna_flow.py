"""Helpers that walk an order through the Klarna Payments checkout against the emulator."""
from urllib.parse import urlparse

from payments.services.payment_start import payment_start, return_url
from tests.factories import make_order

ROUTE = "klarna_payments"


def authorize(emulator, attempt, approve=True):
    """The shopper approves (or not) in the widget. Their email travels with authorize(), as the widget
    page sends it, so the sandbox personas apply. Returns the authorization token (None when declined)."""
    answer = emulator.control("POST", f"/_emulator/klarna/sessions/{attempt.provider_session}/authorize",
                              json={"approve": approve, "email": attempt.order.email})
    return answer["authorization_token"]


def authorization(emulator, token) -> dict:
    """What became of an authorization at Klarna: `order_id`, `customer_token_id`, `cancelled` (released)."""
    listed = emulator.control("GET", "/_emulator/klarna/authorizations")["authorizations"]
    return next(a for a in listed if a["authorization_token"] == token)


def post_token(client, attempt, token):
    """What the widget page posts after an approval."""
    return client.post(urlparse(return_url(attempt)).path, {"authorization_token": token})


def pay_with_klarna(emulator, client, order=None):
    """Start, approve and return through the shop: the attempt, authorized (or wherever the flow ends)."""
    attempt = payment_start(order=order or make_order(), route=ROUTE)
    response = post_token(client, attempt, authorize(emulator, attempt))
    assert response.status_code == 303, response.content[:300]
    attempt.refresh_from_db()
    return attempt
