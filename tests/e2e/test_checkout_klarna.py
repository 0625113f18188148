"""A shopper paying with the Klarna widget on our payment page (the emulator's SDK stand-in)."""
import re

import pytest

from payments.models import PaymentAttempt
from payments.states import Status
from shop.models import Order
from tests.e2e.conftest import fill_checkout
from tests.factories import make_product

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def klarna_shop(shop, settings):
    settings.PAYMENT_ROUTES = ["klarna_payments"]  # the only route: no choice to make at checkout
    return shop


def check_out(page, shop, product, *, email="anna@example.com"):
    page.goto(shop.url + product.get_absolute_url())
    page.click("#add-to-cart button[type=submit]")
    page.goto(shop.url + "/checkout/")
    fill_checkout(page, email=email)
    page.wait_for_url(re.compile(r".*/payments/widget/klarna_payments/.*"))
    page.wait_for_selector("#klarna-pay:not([disabled])")
    page.click("#klarna-pay")
    page.wait_for_selector("#klarna-approve")


def test_buy_with_the_klarna_widget(page, klarna_shop):
    check_out(page, klarna_shop, make_product(name="Enamel mug", price=1850))
    page.click("#klarna-approve")
    page.wait_for_url(re.compile(r".*/thanks/$"))
    order = Order.objects.get()
    assert page.inner_text("#order-number").strip() == order.number
    assert order.status == Order.Status.PAID
    assert PaymentAttempt.objects.get().status == Status.AUTHORIZED


def test_declined_in_the_widget(page, klarna_shop):
    check_out(page, klarna_shop, make_product(name="Enamel mug", price=1850), email="customer+denied@example.com")
    page.click("#klarna-approve")
    page.wait_for_url(re.compile(r".*/payment-failed/$"))
    assert "Payment not completed" in page.content()
    assert PaymentAttempt.objects.get().status == Status.FAILED


def test_subscription_with_buy_and_tokenize(page, klarna_shop, emulator):
    beans = make_product(name="Coffee beans", kind="subscription", interval="month", interval_count=1, price=1650)
    check_out(page, klarna_shop, beans)
    page.click("#klarna-approve")
    page.wait_for_url(re.compile(r".*/thanks/$"))
    assert Order.objects.get().status == Order.Status.PAID
    sessions = emulator.control("GET", "/_emulator/klarna/sessions")["sessions"]
    assert [s["intent"] for s in sessions] == ["buy_and_tokenize"]
