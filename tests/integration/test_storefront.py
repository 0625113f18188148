"""The storefront through Django's test client: catalog, cart, checkout, order pages, admin, demo data.

Payment starts go to a provider address where nothing listens, so the shop's real "provider down"
path runs end to end: the order is placed, the attempt fails as ProviderUnavailable, and the shopper
lands on a try-again page with the order and cart intact. Successful payments are the emulator suites'
business; here an order becomes paid through the real state machine.
"""
import re
import socket

import pytest
from django.core.management import call_command
from django.template.loader import render_to_string
from django.urls import reverse

from payments.exceptions import ProviderUnavailable
from payments.models import PaymentAttempt
from payments.providers.registry import reset_cache
from payments.states import Status, transition
from shop.cart import MAX_QUANTITY
from shop.links import order_token, order_url
from shop.models import Order, Product
from tests.factories import ADDRESS, make_order, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider_down(settings):
    """Point the 29 Next route at a port where nothing listens, with no retries to wait for."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.NEXT_API_BASE_URL = f"http://127.0.0.1:{port}/next/api/admin/"
    settings.PROVIDER_MAX_RETRIES = 0
    settings.PROVIDER_MAX_BACKOFF = 0
    settings.PAYMENT_ROUTES = ["next"]
    reset_cache()
    yield
    reset_cache()


@pytest.fixture
def mug():
    return make_product(name="Fjord Enamel Mug", slug="fjord-mug", price=1850, hue=175)


@pytest.fixture
def beans():
    return make_product(name="Coffee Beans", slug="coffee-beans", price=1650, vat_rate_bp=900,
                        kind="subscription", interval="month", interval_count=3)


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


# --- Catalog ----------------------------------------------------------------------------------

def test_catalog_lists_active_products_with_price_and_subscription_badge(client, mug, beans):
    make_product(name="Withdrawn thing", is_active=False)
    response = client.get(reverse("shop:catalog"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Fjord Enamel Mug" in html and "€\u00a018.50" in html
    assert "Subscription: every 3 months" in html
    assert "--hue: 175" in html
    assert "Withdrawn thing" not in html
    assert cart_count(response) == 0


def test_product_page_has_the_add_to_cart_form(client, beans):
    response = client.get(reverse("shop:product", args=[beans.slug]))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="add-to-cart"' in html and "Add to cart" in html
    assert f'action="{reverse("shop:cart_add")}"' in html
    assert "Subscription: every 3 months" in html
    assert "9\u00a0%" in html


def test_unknown_or_inactive_product_is_a_404_page(client):
    hidden = make_product(is_active=False)
    for slug in ("no-such-thing", hidden.slug):
        response = client.get(reverse("shop:product", args=[slug]))
        assert response.status_code == 404
        assert "Page not found" in response.content.decode()


# --- Cart -----------------------------------------------------------------------------------------

def test_add_update_remove_through_the_cart_pages(client, mug, beans):
    response = add(client, mug, 2)
    assert response.status_code == 302 and response["Location"] == reverse("shop:cart")
    add(client, beans)

    page = client.get(reverse("shop:cart"))
    html = page.content.decode()
    assert cart_count(page) == 3
    assert "Added Fjord Enamel Mug to your cart." in html
    assert "€\u00a037.00" in html            # 2 × 18.50
    assert "Subtotal" in html and "Shipping" in html and "VAT included" in html
    assert "€\u00a058.45" in html            # 37.00 + 16.50 + 4.95 shipping
    assert 'id="checkout-link"' in html

    client.post(reverse("shop:cart_update"), {"product_id": mug.pk, "quantity": 5})
    assert cart_count(client.get(reverse("shop:cart"))) == 6
    client.post(reverse("shop:cart_update"), {"product_id": mug.pk, "quantity": 0})
    client.post(reverse("shop:cart_remove"), {"product_id": beans.pk})
    page = client.get(reverse("shop:cart"))
    assert cart_count(page) == 0
    assert "Your cart is empty." in page.content.decode()


def test_subscription_only_cart_has_no_shipping(client, beans):
    add(client, beans, 2)
    html = client.get(reverse("shop:cart")).content.decode()
    assert "Not needed" in html
    assert "€\u00a033.00" in html


@pytest.mark.parametrize("url_name, data, message", [
    ("shop:cart_add", {"product_id": "999999", "quantity": "1"}, "That product is not available."),
    ("shop:cart_add", {"product_id": "abc"}, "That product is not available."),
    ("shop:cart_add", {"quantity": "1"}, "That product is not available."),
    ("shop:cart_add", {"product_id": "MUG", "quantity": "two"}, "Quantity must be a whole number."),
    ("shop:cart_add", {"product_id": "MUG", "quantity": "0"}, f"between 1 and {MAX_QUANTITY}"),
    ("shop:cart_add", {"product_id": "MUG", "quantity": str(MAX_QUANTITY + 1)}, f"between 1 and {MAX_QUANTITY}"),
    ("shop:cart_update", {"product_id": "MUG", "quantity": "-3"}, f"between 0 and {MAX_QUANTITY}"),
    ("shop:cart_update", {"product_id": "MUG", "quantity": ""}, "Quantity must be a whole number."),
])
def test_bad_cart_input_becomes_a_message_not_an_error(client, mug, url_name, data, message):
    data = {key: (mug.pk if value == "MUG" else value) for key, value in data.items()}
    response = client.post(reverse(url_name), data, follow=True)
    assert response.status_code == 200
    assert message in response.content.decode()


def test_adding_past_the_limit_is_refused(client, mug):
    add(client, mug, MAX_QUANTITY)
    response = client.post(reverse("shop:cart_add"), {"product_id": mug.pk, "quantity": 1}, follow=True)
    assert f"at most {MAX_QUANTITY}" in response.content.decode()
    assert cart_count(response) == MAX_QUANTITY


@pytest.mark.parametrize("url_name", ["shop:cart_add", "shop:cart_update", "shop:cart_remove"])
def test_cart_changes_refuse_get(client, url_name):
    assert client.get(reverse(url_name)).status_code == 405


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


# --- Order pages ------------------------------------------------------------------------------------

def test_order_status_works_without_a_session(client):
    order = make_order(email="sam@example.com")
    html = client.get(order_url(order)).content.decode()
    assert order.number in html
    assert "Awaiting payment" in html
    assert "Keizersgracht 1" in html and "1015 CJ" in html
    assert order.lines.get().name in html
    assert "No payment has been started" in html


def test_order_status_lists_attempts(client):
    order = paid(make_order())
    html = client.get(order_url(order)).content.decode()
    assert "Paid" in html and "Paid (captured)" in html and "Klarna (via 29 Next)" in html


@pytest.mark.parametrize("name", ["shop:order_status", "shop:order_confirmation", "shop:order_failed"])
def test_forged_or_unknown_tokens_are_404(client, name):
    order = make_order()
    token = order_token(order)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.get(reverse(name, args=[forged])).status_code == 404
    assert client.get(reverse(name, args=["SO-ABCDEFGH"])).status_code == 404
    order.lines.all().delete()
    Order.objects.filter(pk=order.pk).delete()
    assert client.get(reverse(name, args=[token])).status_code == 404


def test_confirmation_while_payment_is_confirming_refreshes(client):
    order = make_order()
    html = client.get(order_url(order, "shop:order_confirmation")).content.decode()
    assert "Thank you" in html
    assert f'id="order-number">{order.number}<' in html
    assert '<meta http-equiv="refresh" content="3">' in html
    assert "still confirming" in html
    assert f'id="order-status-link" href="{order_url(order)}"' in html


def test_confirmation_of_a_paid_order_clears_only_the_placing_browsers_cart(client, mug):
    order = paid(make_order())
    add(client, mug)
    elsewhere = client.get(order_url(order, "shop:order_confirmation"))
    assert cart_count(elsewhere) == 1  # not this browser's order: its cart stays

    session = client.session
    session["last_order"] = order.number
    session.save()
    response = client.get(order_url(order, "shop:order_confirmation"))
    html = response.content.decode()
    assert "Thank you" in html and order.number in html and order.email in html
    assert "http-equiv" not in html
    assert cart_count(response) == 0


def test_confirmation_of_a_failed_order_redirects_to_try_again(client, provider_down):
    order = make_order()
    client.post(order_url(order, "shop:order_retry"), {"route": "next"})
    response = client.get(order_url(order, "shop:order_confirmation"))
    assert response["Location"] == order_url(order, "shop:order_failed")


def test_failure_page_of_a_paid_order_redirects_to_the_confirmation(client):
    order = paid(make_order())
    response = client.get(order_url(order, "shop:order_failed"))
    assert response["Location"] == order_url(order, "shop:order_confirmation")


def test_failure_page_without_a_flashed_message_explains_itself(client):
    order = make_order()
    html = client.get(order_url(order, "shop:order_failed")).content.decode()
    assert "Payment not completed" in html
    assert "declined or cancelled" in html
    assert 'id="retry-payment"' in html


def test_return_error_template_renders_message_and_link(rf):
    html = render_to_string("payments/return_error.html",
                            {"message": "We could not confirm this payment.", "order_link": "/orders/x/"},
                            request=_request_with_session(rf))
    assert "We could not confirm this payment." in html and 'href="/orders/x/"' in html


def _request_with_session(rf):
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.db import SessionStore

    request = rf.get("/")
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    return request


# --- Admin and demo data ----------------------------------------------------------------------------

def test_admin_pages_render(admin_client):
    order = paid(make_order())
    for url in (reverse("admin:shop_product_changelist"), reverse("admin:shop_order_changelist"),
                reverse("admin:shop_order_change", args=[order.pk]),
                reverse("admin:shop_product_change", args=[order.lines.get().product_id])):
        response = admin_client.get(url)
        assert response.status_code == 200, url
    html = admin_client.get(reverse("admin:shop_order_change", args=[order.pk])).content.decode()
    assert order.payment_attempts.get().reference in html


def test_demo_catalog_is_idempotent(capsys, monkeypatch):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "correct-horse-battery")
    call_command("load_demo_catalog")
    first = capsys.readouterr().out
    snapshot = list(Product.objects.order_by("sku").values_list("sku", "price", "next_product_id"))

    call_command("load_demo_catalog")
    second = capsys.readouterr().out

    assert list(Product.objects.order_by("sku").values_list("sku", "price", "next_product_id")) == snapshot
    assert Product.objects.filter(kind="physical").count() == 6
    assert Product.objects.filter(kind="subscription").count() == 3
    assert Product.objects.filter(vat_rate_bp=900, kind="physical").count() == 1
    assert len({p.next_product_id for p in Product.objects.all()}) == 9
    intervals = set(Product.objects.filter(kind="subscription").values_list("interval", "interval_count"))
    assert intervals == {("month", 1), ("month", 3), ("year", 1)}
    assert "user admin  password correct-horse-battery" in first
    assert "already exists" in second and "correct-horse-battery" not in second

    from django.contrib.auth import get_user_model
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("correct-horse-battery")
