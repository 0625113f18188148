"""A shopper in a real browser: browse, fill the cart, check out, decide at Klarna, land back home."""
import re

import pytest

from payments.models import PaymentAttempt
from payments.states import Status
from shop.models import Order
from tests.e2e.conftest import fill_checkout
from tests.factories import make_product

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def checkout_to_klarna(page, shop, *, email="anna@example.com"):
    mug = make_product(name="Stoneware Mug", price=2450)
    page.goto(shop.url + "/")
    page.get_by_text("Stoneware Mug").first.click()
    page.fill("input[name=quantity]", "2")
    page.click("#add-to-cart button[type=submit]")
    page.goto(shop.url + "/cart/")
    assert "Stoneware Mug" in page.content()
    page.click("#checkout-link")
    fill_checkout(page, email=email, route="next")
    page.wait_for_url(re.compile(r".*/next/klarna/.*"))
    return mug


def test_shopper_pays_with_klarna_and_sees_the_confirmation(page, shop):
    checkout_to_klarna(page, shop)
    assert "53.95" in page.inner_text("body")  # 2 × 24.50 + 4.95 shipping
    page.click("#klarna-approve")
    page.wait_for_url(re.compile(r".*/thanks/$"))
    order = Order.objects.get()
    assert "Thank you" in page.content()
    assert page.inner_text("#order-number").strip() == order.number
    assert order.status == Order.Status.PAID
    assert PaymentAttempt.objects.get().status == Status.CAPTURED
    # The cart is empty after a paid order.
    assert page.inner_text("#cart-count").strip() in {"0", ""}
    # The signed status link works without the session cookie.
    status_url = page.get_attribute("#order-status-link", "href")
    page.context.clear_cookies()
    page.goto(shop.url + status_url if status_url.startswith("/") else status_url)
    assert order.number in page.content()


@pytest.mark.parametrize("button", ["#klarna-decline", "#klarna-cancel"])
def test_declined_or_cancelled_shopper_can_try_again(page, shop, button):
    checkout_to_klarna(page, shop)
    page.click(button)
    page.wait_for_url(re.compile(r".*/payment-failed/$"))
    assert "Payment not completed" in page.content()
    order = Order.objects.get()
    assert order.status == Order.Status.PAYMENT_FAILED
    # Try again without re-entering anything, and pay this time.
    page.check("input[name=route][value=next]")
    page.click("#retry-payment")
    page.wait_for_url(re.compile(r".*/next/klarna/.*"))
    page.click("#klarna-approve")
    page.wait_for_url(re.compile(r".*/thanks/$"))
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert Order.objects.count() == 1
    assert PaymentAttempt.objects.filter(order=order).count() == 2
