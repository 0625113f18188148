"""The storefront's order pages (status, confirmation, try-again), the admin pages and the demo catalog.

Successful payments are the emulator suites' business; here an order becomes paid through the real state
machine (see `helpers.paid`).
"""
import re

import pytest
from django.core.management import call_command
from django.template.loader import render_to_string
from django.urls import reverse

from shop.links import order_token, order_url
from shop.models import Order, Product
from tests.factories import make_order
from tests.integration.storefront.helpers import add, cart_count, paid

pytestmark = pytest.mark.django_db


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
    assert "Paid" in html and "Klarna (via 29 Next)" in html
    assert "Paid (captured)" not in html  # shopper words, not the ledger's (issue 13)


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


def test_confirmation_while_payment_is_confirming_polls_politely(client):
    order = make_order()
    html = client.get(order_url(order, "shop:order_confirmation")).content.decode()
    assert "Thank you" in html
    assert f'id="order-number">{order.number}<' in html
    assert 'http-equiv="refresh"' not in html  # axe-core meta-refresh: no timed reload
    assert 'role="status" aria-live="polite"' in html and "js/order-wait.js" in html
    assert "still confirming" in html and f"We will email <strong>{order.email}</strong>" in html
    status_url = re.search(r'data-status-url="([^"]+)"', html).group(1)
    assert client.get(status_url).json() == {"status": "pending", "paid": False}
    assert client.get(status_url.replace("/orders/", "/orders/x")).status_code == 404
    assert "Keizersgracht 1" in html and 'id="payment-method"' in html
    assert f'id="order-status-link" href="{order_url(order)}"' in html


def placed_by(client, order):
    session = client.session
    session["last_order"] = order.number
    session.save()


def test_confirmation_of_a_paid_order_clears_only_the_placing_browsers_cart(client, mug):
    order = paid(make_order(items=[(mug, 2)]))
    add(client, mug, 2)
    elsewhere = client.get(order_url(order, "shop:order_confirmation"))
    assert cart_count(elsewhere) == 2  # not this browser's order: its cart stays

    placed_by(client, order)
    response = client.get(order_url(order, "shop:order_confirmation"))
    html = response.content.decode()
    assert "Thank you" in html and order.number in html and order.email in html
    assert "http-equiv" not in html
    assert cart_count(response) == 0


def test_a_paid_order_takes_only_what_it_bought_from_the_cart_once(client, mug, beans):
    """Probe F F8: the confirmation emptied the whole cart, including what another tab added while the
    order was being paid. Only the order's own items leave, and only once (a reload takes nothing more)."""
    order = paid(make_order(items=[(mug, 1)]))
    add(client, mug, 2)   # the one the order bought, and one more added in another tab
    add(client, beans)
    placed_by(client, order)
    assert cart_count(client.get(order_url(order, "shop:order_confirmation"))) == 2
    assert cart_count(client.get(order_url(order, "shop:order_confirmation"))) == 2
    assert cart_count(client.get(order_url(order))) == 2


def test_an_order_paid_while_its_status_page_was_open_settles_the_cart_there(client, mug):
    """Probe F F14: a payment confirmed after the return landed on the status page (a review, a late
    confirmation) left the paid items in the cart, ready to be bought again."""
    order = make_order(items=[(mug, 1)])
    add(client, mug)
    placed_by(client, order)
    assert cart_count(client.get(order_url(order))) == 1  # not paid yet: the cart stays
    paid(order)
    assert cart_count(client.get(order_url(order))) == 0


def test_an_older_order_of_this_browser_still_settles_its_cart(client, mug, beans):
    """Probe F F4/F10: a second checkout in another tab made the first order "not this browser's", so
    paying it left its items in the cart and refused its upsells."""
    from shop.browser_orders import remember_placed

    first, second = make_order(items=[(mug, 1)]), make_order(items=[(beans, 1)])
    add(client, mug)
    add(client, beans)
    session = client.session
    remember_placed(session, first.number)
    remember_placed(session, second.number)
    session.save()
    paid(first)
    assert cart_count(client.get(order_url(first, "shop:order_confirmation"))) == 1  # the beans wait


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
    assert "changepassword admin" in second and "correct-horse-battery" not in second

    from django.contrib.auth import get_user_model
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("correct-horse-battery")


def test_demo_catalog_never_overwrites_the_merchants_edits(capsys):
    call_command("load_demo_catalog")
    Product.objects.filter(sku="NS-CANDLE").update(price=2999)
    Product.objects.filter(sku="NS-BOOK").delete()
    call_command("load_demo_catalog")
    assert Product.objects.get(sku="NS-CANDLE").price == 2999
    assert not Product.objects.filter(sku="NS-BOOK").exists()
    assert "already has 8 product(s)" in capsys.readouterr().out


def test_shopper_words_for_statuses(client):
    from payments.models import PaymentAttempt
    from payments.states import Status, transition

    order = make_order()
    review = PaymentAttempt.objects.create(order=order, route="klarna_payments", amount=order.total, currency="EUR",
                                           status="pending", provider_reference="kp-order-1")
    html = client.get(order_url(order)).content.decode()
    assert 'id="order-status">Awaiting Klarna&#x27;s review<' in html
    confirmation = client.get(order_url(order, "shop:order_confirmation")).content.decode()
    assert "Klarna is reviewing your payment" in confirmation
    transition(review.pk, Status.CANCELLED, source="return", message="shopper backed out")
    html = client.get(order_url(order)).content.decode()
    assert 'id="order-status">Cancelled by you<' in html and "Failed or declined" not in html
    paid_order = paid(make_order())
    html = client.get(order_url(paid_order)).content.decode()
    assert 'id="order-status">Paid<' in html and "Paid (captured)" not in html


def test_failed_checkout_moves_focus_to_the_error_summary(client, mug):
    add(client, mug)
    html = client.post(reverse("shop:checkout"), {"route": "next"}).content.decode()
    assert re.search(r'<p class="form-error" role="alert" id="error-summary" tabindex="-1" autofocus>', html)


def test_the_pay_again_page_of_a_payment_still_in_review_does_not_say_declined(client):
    """Probe F F12: a MultiSafepay payment under Klarna's review led, through "Pay for this order", to a page
    saying the payment was declined and nothing was charged."""
    from payments.models import PaymentAttempt

    order = make_order(route="multisafepay")
    PaymentAttempt.objects.create(order=order, route="multisafepay", amount=order.total, currency="EUR",
                                  status="pending", provider_reference="pa_review")
    html = client.get(order_url(order, "shop:order_failed")).content.decode()
    assert "Payment not confirmed yet" in html and "no need to pay again" in html
    assert "declined" not in html and "Nothing was charged" not in html
    assert 'id="retry-payment"' in html  # a shopper who did not pay can still pay
