"""Signed links to an order that work without the session cookie (status page, confirmation, retry).

The token is the order number signed with the project's SECRET_KEY; it grants read access to that one
order and the right to retry its payment, nothing else.
"""
from django.core import signing
from django.urls import reverse

SALT = "shop.order-link"


def order_token(order) -> str:
    # No timestamp: the link never expires, and the same order always gets the same link.
    return signing.Signer(salt=SALT).sign(order.number)


def order_number_from_token(token: str) -> str | None:
    """The order number a token was made for, or None when it is forged or malformed."""
    try:
        return signing.Signer(salt=SALT).unsign(token)
    except signing.BadSignature:
        return None


def order_url(order, name="shop:order_status") -> str:
    return reverse(name, args=[order_token(order)])


SUBSCRIPTION_SALT = "shop.subscription-link"


def subscription_token(subscription) -> str:
    """The subscriber's 'manage subscription' link: grants viewing and cancelling that one subscription."""
    return signing.dumps(subscription.pk, salt=SUBSCRIPTION_SALT, compress=False)


def subscription_id_from_token(token: str):
    try:
        return signing.loads(token, salt=SUBSCRIPTION_SALT)
    except signing.BadSignature:
        return None


def subscription_url(subscription) -> str:
    return reverse("shop:subscription_manage", args=[subscription_token(subscription)])
