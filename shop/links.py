"""Signed links to an order that work without the session cookie (status page, confirmation, retry).

The token is the order number signed with the project's SECRET_KEY; it grants read access to that one
order and the right to retry its payment, nothing else.
"""
from django.core import signing
from django.urls import reverse

SALT = "shop.order-link"


def order_token(order) -> str:
    return signing.dumps(order.number, salt=SALT, compress=False)


def order_number_from_token(token: str) -> str | None:
    """The order number a token was made for, or None when it is forged or malformed."""
    try:
        return signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None


def order_url(order, name="shop:order_status") -> str:
    return reverse(name, args=[order_token(order)])
