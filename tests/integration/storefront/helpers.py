"""Helpers for the storefront tests: driving the cart, reading the cart badge, checkout form data, paying."""
import re

from django.urls import reverse

from payments.models import PaymentAttempt
from payments.states import Status, transition
from tests.factories import ADDRESS


def add(client, product, quantity=1):
    return client.post(reverse("shop:cart_add"), {"product_id": product.pk, "quantity": quantity})


def cart_count(response):
    match = re.search(r'id="cart-count">(\d+)<', response.content.decode())
    return int(match.group(1))


def checkout_data(**overrides):
    data = {key: value for key, value in ADDRESS.items() if key != "billing_same_as_shipping"}
    data.update(phone="+31 6 1234 5678", billing_same_as_shipping="on", route="next")
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def paid(order):
    """Pay an order the way the shop does: an attempt captured through payments.states."""
    attempt = PaymentAttempt.objects.create(order=order, route="next", amount=order.total, currency="EUR")
    transition(attempt.pk, Status.CAPTURED, source="return", message="test payment")
    order.refresh_from_db()
    assert order.is_paid
    return order

