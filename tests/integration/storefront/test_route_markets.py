"""Checkout offers a route only where it can take the shop's currency (issue: Klarna refuses EUR from
Sweden, Denmark and Norway), says so before the order is placed, and never sends the refused request."""
import pytest
from django.urls import reverse

from payments.exceptions import RouteNotAvailable
from payments.models import PaymentAttempt
from payments.selectors import route_choices
from payments.services.payment_start import payment_start
from shop.models import Order
from tests.factories import make_order
from tests.integration.storefront.helpers import add, checkout_data

pytestmark = pytest.mark.django_db

SWEDEN = dict(shipping_line1="Drottninggatan 5", shipping_postcode="111 51", shipping_city="Stockholm",
              shipping_country="SE", phone="+46 8 123 456 78")


@pytest.fixture(autouse=True)
def both_routes(settings):
    settings.PAYMENT_ROUTES = ["next", "klarna_payments"]
    settings.SHOP_CURRENCY = "EUR"


def test_klarna_payments_is_not_chosen_for_a_swedish_address_in_euros(client, mug):
    add(client, mug)
    response = client.post(reverse("shop:checkout"), checkout_data(route="klarna_payments", **SWEDEN))
    assert response.status_code == 200
    assert "Klarna cannot take payments in EUR from Sweden" in response.content.decode()
    assert not Order.objects.exists() and not PaymentAttempt.objects.exists()


def test_the_checkout_page_says_where_a_route_is_not_available(client, mug):
    add(client, mug)
    html = client.get(reverse("shop:checkout")).content.decode()
    assert "Not available for billing addresses in Sweden, Denmark, Norway" in html


def test_route_choices_follow_the_billing_country():
    assert [c.key for c in route_choices(country="SE")] == ["next"]
    assert [c.key for c in route_choices(country="NL")] == ["next", "klarna_payments"]


def test_payment_start_refuses_a_market_the_route_cannot_serve():
    order = make_order()
    Order.objects.filter(pk=order.pk).update(shipping_country="NO", shipping_postcode="0150", shipping_city="Oslo")
    order.refresh_from_db()
    with pytest.raises(RouteNotAvailable):
        payment_start(order=order, route="klarna_payments")
    assert not PaymentAttempt.objects.exists()
