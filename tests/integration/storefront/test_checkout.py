"""The storefront's checkout: the form, its validation, and placing the order while the provider is down.

Payment starts go to a provider address where nothing listens, so the shop's real "provider down"
path runs end to end: the order is placed, the attempt fails as ProviderUnavailable, and the shopper
lands on a try-again page with the order and cart intact.
"""
import re

import pytest
from django.urls import reverse

from payments.exceptions import ProviderUnavailable
from payments.states import Status
from shop.links import order_url
from shop.models import Order
from tests.factories import ADDRESS, make_order
from tests.integration.storefront.helpers import add, cart_count, checkout_data, paid

pytestmark = pytest.mark.django_db


# --- Checkout form -----------------------------------------------------------------------------------

def test_checkout_with_an_empty_cart_goes_back_to_the_cart(client):
    for response in (client.get(reverse("shop:checkout")), client.post(reverse("shop:checkout"), checkout_data())):
        assert response.status_code == 302 and response["Location"] == reverse("shop:cart")
    assert "Your cart is empty" in client.get(reverse("shop:cart")).content.decode()
    assert not Order.objects.exists()


def test_checkout_page_shows_form_summary_and_the_single_route_preselected(client, mug, beans):
    add(client, mug)
    add(client, beans)
    html = client.get(reverse("shop:checkout")).content.decode()
    for field_id in ("id_email", "id_phone", "id_first_name", "id_shipping_country", "place-order"):
        assert f'id="{field_id}"' in html
    assert re.search(r'<input type="radio" name="route" value="next"[^>]*checked', html)
    assert "Klarna (via 29 Next)" in html
    assert "renews every 3 months" in html
    assert re.search(r'id="id_billing_same_as_shipping"[^>]*checked|checked[^>]*id="id_billing_same_as_shipping"', html)


@pytest.mark.parametrize("overrides, message", [
    ({"email": None}, "Enter your email address so we can send the receipt."),
    ({"email": "not-an-email"}, "Enter a valid email address"),
    ({"phone": "06 1234 5678"}, "Start your phone number with + and the country code"),
    ({"phone": "+31 6"}, "8 to 15 digits"),
    ({"shipping_country": "ZZ"}, "Select a valid choice"),
    ({"route": "klarna_payments"}, "That payment method is not available"),
])
def test_checkout_validation_messages(client, mug, overrides, message):
    add(client, mug)
    response = client.post(reverse("shop:checkout"), checkout_data(**overrides))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Order.objects.exists()


def test_billing_address_is_required_only_when_different(client, mug):
    add(client, mug)
    response = client.post(reverse("shop:checkout"), checkout_data(billing_same_as_shipping=None))
    form = response.context["form"]
    for name in ("billing_first_name", "billing_last_name", "billing_line1", "billing_city",
                 "billing_postcode", "billing_country"):
        assert form.errors[name] == ["Required when the billing address is different."]
    assert "billing_line2" not in form.errors
    assert not Order.objects.exists()


# --- Placing the order with the provider down ---------------------------------------------------------

def test_checkout_places_the_order_and_provider_down_lands_on_try_again(client, mug, beans, provider_down):
    add(client, mug, 2)
    add(client, beans)
    response = client.post(reverse("shop:checkout"), checkout_data(
        billing_same_as_shipping=None, billing_first_name="Piet", billing_last_name="Jansen",
        billing_line1="Damrak 2", billing_city="Amsterdam", billing_postcode="1012 lg", billing_country="NL",
    ))

    order = Order.objects.get()
    assert response.status_code == 303
    assert response["Location"] == order_url(order, "shop:order_failed")
    assert order.phone == "+31612345678"
    assert order.billing_postcode == "1012 LG" and not order.billing_same_as_shipping
    assert [(line.sku, line.quantity) for line in order.lines.all()] == [(mug.sku, 2), (beans.sku, 1)]
    assert order.total == 2 * 1850 + 1650 + 495
    assert order.status == Order.Status.PAYMENT_FAILED
    assert order.payment_attempts.get().status == Status.FAILED

    page = client.get(response["Location"])
    html = page.content.decode()
    assert "Payment not completed" in html
    assert ProviderUnavailable.shopper_message in html
    assert 'id="retry-payment"' in html and f'action="{order_url(order, "shop:order_retry")}"' in html
    assert f'href="{reverse("shop:checkout")}"' in html
    assert cart_count(page) == 3  # the cart is kept for another go

    assert client.session["last_order"] == order.number
    details = client.session["checkout_details"]
    assert "route" not in details and details["email"] == ADDRESS["email"]
    refill = client.get(reverse("shop:checkout")).content.decode()
    assert f'value="{ADDRESS["email"]}"' in refill and 'value="Piet"' in refill


def test_retry_starts_a_new_attempt_for_the_same_order(client, provider_down):
    order = make_order()
    response = client.post(order_url(order, "shop:order_retry"), {"route": "next"})
    assert response.status_code == 303
    assert response["Location"] == order_url(order, "shop:order_failed")
    assert order.payment_attempts.count() == 1
    client.post(order_url(order, "shop:order_retry"), {"route": "next"})
    assert order.payment_attempts.count() == 2
    assert ProviderUnavailable.shopper_message in client.get(response["Location"]).content.decode()


def test_retry_with_an_unknown_route_explains_and_starts_nothing(client):
    order = make_order()
    response = client.post(order_url(order, "shop:order_retry"), {"route": "bogus"}, follow=True)
    assert "That payment method is not available" in response.content.decode()
    assert not order.payment_attempts.exists()
    assert client.get(order_url(order, "shop:order_retry")).status_code == 405


def test_retry_of_a_paid_order_goes_to_the_confirmation(client):
    order = paid(make_order())
    response = client.post(order_url(order, "shop:order_retry"), {"route": "next"})
    assert response["Location"] == order_url(order, "shop:order_confirmation")
    assert order.payment_attempts.count() == 1


# --- Rewriting the shopper's previous order ------------------------------------------------------------

SENT = "https://provider.example/pay/1"  # the attempt's redirect URL: the shopper was sent to a provider page


@pytest.mark.parametrize(("order_status", "attempts", "revisable"), [
    ("pending", [], True),
    # Failed before any page was shown (the provider down at start): nothing can be paid.
    ("payment_failed", [("next", "failed", "", "")], True),
    # A session that is rewritten before any payment is placed: the order may change.
    ("pending", [("klarna_payments", "pending", "", SENT)], True),
    # A provider could still charge the old contents: a new order instead.
    ("pending", [("next", "pending", "", SENT)], False),
    ("pending", [("klarna_payments", "pending", "kp-order-1", SENT)], False),
    ("pending", [("klarna_payments", "created", "", ""), ("next", "created", "", "")], False),
    ("pending", [("klarna_payments", "pending", "", SENT), ("klarna_payments", "expired", "kp-old", SENT)], True),
    ("pending", [("gone_route", "pending", "", "")], False),
    ("paid", [("next", "captured", "1001", SENT)], False),
    # Probe F F1: a provider page left open after its attempt was replaced, abandoned or declined can still be
    # paid, for the old contents: the order keeps them.
    ("payment_failed", [("next", "expired", "", SENT), ("klarna_authorize", "failed", "", "")], False),
    ("payment_failed", [("multisafepay", "expired", "pa_1", SENT)], False),
    ("payment_failed", [("next", "failed", "", SENT)], False),
])
def test_previous_order_is_rewritten_only_while_no_provider_can_charge_it(order_status, attempts, revisable):
    from payments.models import PaymentAttempt
    from payments.services.payment_start import revisable_order_id

    order = make_order()
    Order.objects.filter(pk=order.pk).update(status=order_status)
    for route, status, provider_reference, redirect_url in attempts:
        PaymentAttempt.objects.create(order=order, route=route, status=status, amount=order.total,
                                      currency=order.currency, provider_reference=provider_reference,
                                      redirect_url=redirect_url)
    assert revisable_order_id(Order.objects.filter(number=order.number)) == (order.pk if revisable else None)
    assert revisable_order_id(Order.objects.filter(number="SO-NOSUCH1")) is None
