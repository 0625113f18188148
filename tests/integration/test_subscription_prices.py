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


def membership_with_shipping(emulator, client):
    """A yearly membership (€49.00 a year on its page) bought with a mug (€4.95 shipping) on 29 Next while
    the provider refuses every change to subscriptions (503): the renewal price could not be set."""
    emulator.control("POST", "/_emulator/faults", json={"method": "PATCH", "path": "/next/api/admin/subscriptions/",
                                                        "kind": "error", "status": 503, "when": "before",
                                                        "times": 50})
    membership = make_product(name="Membership", kind="subscription", interval="year", interval_count=1,
                              price=4900, vat_rate_bp=2100)
    order = make_order(items=[(make_product(name="Mug", price=1850), 1), (membership, 1)], shipping_fee=495)
    pay(emulator, client, order)
    emulator.control("DELETE", "/_emulator/faults")
    sub = Subscription.objects.get(order=order)
    assert sub.advertised_amount == 4900 and sub.amount == 4900 + 495
    assert "the shop sets it again until it does" in sub.events.get(kind="created").message
    return sub


def provider_total(emulator, sub):
    subs = emulator.control("GET", "/_emulator/next/subscriptions")["subscriptions"]
    return next(s["total"] for s in subs if str(s["id"]) == sub.provider_id)


def test_a_renewal_price_that_failed_to_set_is_flagged_then_set_before_the_renewal(emulator, client,
                                                                                   admin_client):
    from payments.tasks import align_subscription_prices

    sub = membership_with_shipping(emulator, client)
    page = admin_client.get(reverse("admin:payments_subscription_change", args=[sub.pk])).content.decode()
    assert "renews at this, not the advertised € 49.00: not yet corrected" in page.replace("\xa0", " ")
    listed = admin_client.get(reverse("admin:payments_subscription_changelist") + "?price=mispriced").content.decode()
    assert sub.provider_id in listed
    assert align_subscription_prices() == 1  # the beat: one task per mispriced subscription, run eagerly here
    sub.refresh_from_db()
    assert sub.amount == 4900 and provider_total(emulator, sub) == "49.00"
    assert sub.events.filter(kind="price_aligned").count() == 1
    assert align_subscription_prices() == 0  # nothing left to correct, nothing asked again
    page = admin_client.get(reverse("admin:payments_subscription_change", args=[sub.pk])).content.decode()
    assert "not yet corrected" not in page
    emulator.control("POST", "/_emulator/clock/advance", json={"days": 366})
    from payments.services.subscription_actions import subscriptions_reconcile

    subscriptions_reconcile(older_than=0)
    renewal = sub.charges.get(billing_cycle=1)
    assert renewal.outcome == "paid" and renewal.amount == 4900
    assert get_adapter(sub.route).fetch_payment(renewal.attempt.provider_reference).amount == 4900


def test_the_periodic_read_back_sets_a_renewal_price_that_failed_to_set(emulator, client):
    from payments.services.subscription_actions import subscriptions_reconcile

    sub = membership_with_shipping(emulator, client)
    subscriptions_reconcile(older_than=0)
    sub.refresh_from_db()
    assert sub.amount == 4900 and provider_total(emulator, sub) == "49.00"


def test_a_renewal_price_the_provider_refuses_is_recorded_once_and_stays_flagged(emulator, client):
    from payments.services.subscription_prices import subscription_price_align, subscriptions_mispriced

    sub = membership_with_shipping(emulator, client)
    emulator.control("POST", "/_emulator/faults", json={"method": "PATCH", "path": "/next/api/admin/subscriptions/",
                                                        "kind": "error", "status": 400, "when": "before",
                                                        "times": 4})
    assert subscription_price_align(subscription_id=sub.pk) is False
    assert subscription_price_align(subscription_id=sub.pk) is False
    assert sub.events.filter(kind="price_mismatch").count() == 1
    assert list(subscriptions_mispriced()) == [sub]


def test_a_renewal_charged_above_the_advertised_price_tells_the_merchant_to_refund(emulator, client):
    from payments.services.subscription_actions import subscriptions_reconcile

    sub = membership_with_shipping(emulator, client)
    emulator.control("POST", "/_emulator/faults", json={"method": "PATCH", "path": "/next/api/admin/subscriptions/",
                                                        "kind": "error", "status": 503, "when": "before",
                                                        "times": 50})
    emulator.control("POST", "/_emulator/clock/advance", json={"days": 366})  # renews before it was corrected
    subscriptions_reconcile(older_than=0)
    renewal = sub.charges.get(billing_cycle=1)
    assert renewal.outcome == "paid" and renewal.amount == 5395
    warning = sub.events.get(kind="price_mismatch").message
    assert "charged 5395, more than the advertised 4900: refund the difference of 495" in warning
