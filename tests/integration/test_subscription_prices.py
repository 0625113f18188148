"""What a renewal charges is what the pages said, on every route (issue: a 29 Next subscription carried the
first order's shipping into every renewal; a Klarna renewal charged every subscription line of the order)."""
import re

import pytest
from django.urls import reverse

from payments.models import Subscription
from payments.providers.registry import get_adapter
from payments.services.subscription_actions import subscription_renew_now
from shop.links import order_url, subscription_url
from tests.factories import make_order, make_product
from tests.integration.klarna_flow import pay_with_klarna
from tests.integration.next_flow import pay

pytestmark = pytest.mark.django_db(transaction=True)


def euros(html, label):
    """The first '€ x.yy' after `label` in a page."""
    match = re.search(re.escape(label) + r".*?€\s*([\d,]+\.\d\d)", html, re.S)
    assert match, f"{label!r} not followed by an amount"
    return int(match.group(1).replace(",", "").replace(".", ""))


def mixed_cart():
    mug = make_product(name="Mug", price=1850)
    beans = make_product(name="Beans", kind="subscription", interval="month", interval_count=1, price=1650,
                         vat_rate_bp=900)
    tea = make_product(name="Tea", kind="subscription", interval="month", interval_count=3, price=1800,
                       vat_rate_bp=900)
    return make_order(items=[(mug, 1), (beans, 1), (tea, 1)], shipping_fee=495), beans, tea


def renew_and_check(sub, advertised, client):
    manage = client.get(subscription_url(sub)).content.decode()
    assert f"{advertised // 100}.{advertised % 100:02d}" in manage
    subscription_renew_now(subscription_id=sub.pk)
    renewal = sub.charges.get(billing_cycle=1)
    assert renewal.outcome == "paid"
    assert renewal.attempt.amount == advertised == sub.amount
    # ... and what the provider actually charged for that renewal:
    charged = get_adapter(sub.route).fetch_payment(renewal.attempt.provider_reference)
    assert charged.amount == advertised


def test_klarna_payments_renews_each_subscription_at_its_own_price(emulator, client):
    order, beans, tea = mixed_cart()
    pay_with_klarna(emulator, client, order)
    product_page = client.get(reverse("shop:product", args=[beans.slug])).content.decode()
    assert "16.50" in product_page
    confirmation = client.get(order_url(order, "shop:order_confirmation")).content.decode()
    assert "16.50" in confirmation and "18.00" in confirmation
    for product, price in ((beans, 1650), (tea, 1800)):
        sub = Subscription.objects.get(order=order, interval_count=product.interval_count)
        renew_and_check(sub, price, client)


def test_29_next_subscription_renews_without_the_first_orders_shipping(emulator, client):
    beans = make_product(name="Beans", kind="subscription", interval="month", interval_count=1, price=1650,
                         vat_rate_bp=900)
    order = make_order(items=[(make_product(name="Mug", price=1850), 1), (beans, 1)], shipping_fee=495)
    pay(emulator, client, order)
    sub = Subscription.objects.get(order=order)
    provider = emulator.control("GET", "/_emulator/next/subscriptions")["subscriptions"][0]
    assert provider["total"] == "16.50" and provider["shipping_price"] == "0.00"
    assert "advertised 1650" in sub.events.get(kind="created").message
    renew_and_check(sub, 1650, client)
