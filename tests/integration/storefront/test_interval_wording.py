"""Billing frequency on the shopper's pages (issue 8, item 2): an every-3-months subscription, paid through
the Klarna Payments route against the emulator, reads "every 3 months" on the confirmation and manage
pages, never "3× per month"."""
import pytest

from payments.models import Subscription
from shop.links import order_url, subscription_url
from tests.factories import make_order, make_product
from tests.integration.klarna_flow import pay_with_klarna

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("interval, count, wording", [("month", 3, "every 3 months"), ("month", 1, "every month"),
                                                      ("week", 2, "every 2 weeks")])
def test_confirmation_and_manage_page_state_the_billing_frequency(emulator, client, interval, count, wording):
    tea = make_product(name="Tea box", kind="subscription", interval=interval, interval_count=count,
                       price=2400, vat_rate_bp=900)
    order = make_order(items=[(tea, 1)], shipping_fee=0)
    pay_with_klarna(emulator, client, order)
    sub = Subscription.objects.get(order=order)
    assert (sub.interval, sub.interval_count) == (interval, count)

    confirmation = client.get(order_url(order, "shop:order_confirmation")).content.decode()
    assert f"Renews {wording}" in confirmation
    assert f"renews {wording}" in confirmation  # the order summary's line badge says the same
    assert "×\u00a0per" not in confirmation and "× per" not in confirmation

    manage = client.get(subscription_url(sub)).content.decode()
    assert f"€\u00a024.00 {wording}." in manage
