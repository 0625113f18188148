"""A shopper in a real browser pays through MultiSafepay (issue 11): checkout asks for date of birth and title
only once this route is chosen, then MultiSafepay's page (redirect) or Klarna straight away (direct), approve,
decline or cancel, and back to the shop."""
import re

import pytest

from payments.models import PaymentAttempt
from payments.states import Status
from shop.models import Order
from tests.e2e.conftest import fill_checkout
from tests.factories import make_product

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def msp_shop(shop, settings):
    settings.PAYMENT_ROUTES = ["next", "multisafepay"]
    return shop


def to_checkout(page, shop, product):
    page.goto(shop.url + product.get_absolute_url())
    page.fill("input[name=quantity]", "2")
    page.click("#add-to-cart button[type=submit]")
    page.goto(shop.url + "/checkout/")


def checkout_to_msp(page, shop, page_kind):
    to_checkout(page, shop, make_product(name="Stoneware Mug", price=2450))
    assert not page.is_visible("#id_birthday")  # nothing asked before this route is chosen
    page.check("input[name=route][value=multisafepay]")
    assert page.is_visible("#id_birthday") and page.is_visible("#id_gender")
    page.fill("#id_birthday", "1985-04-23")
    page.select_option("#id_gender", "female")
    fill_checkout(page, route="multisafepay")
    page.wait_for_url(re.compile(rf".*/multisafepay/{page_kind}/.*"))


@pytest.mark.parametrize("kind, page_kind", [("redirect", "connect"), ("direct", "klarna")])
def test_shopper_pays_through_multisafepay_and_sees_the_confirmation(page, msp_shop, settings, kind, page_kind):
    settings.MULTISAFEPAY_KLARNA_TYPE = kind
    checkout_to_msp(page, msp_shop, page_kind)
    assert "53.95" in page.inner_text("body")  # 2 × 24.50 + 4.95 shipping
    page.click("#msp-approve")
    page.wait_for_url(re.compile(r".*/thanks/$"))
    order = Order.objects.get()
    assert page.inner_text("#order-number").strip() == order.number
    assert order.status == Order.Status.PAID and str(order.birthday) == "1985-04-23" and order.gender == "female"
    assert PaymentAttempt.objects.get().status == Status.AUTHORIZED


@pytest.mark.parametrize("kind, page_kind", [("redirect", "connect"), ("direct", "klarna")])
@pytest.mark.parametrize("button, status", [("#msp-decline", Status.FAILED), ("#msp-cancel", Status.CANCELLED)])
def test_declined_or_cancelled_shopper_can_try_again(page, msp_shop, settings, kind, page_kind, button, status):
    settings.MULTISAFEPAY_KLARNA_TYPE = kind
    checkout_to_msp(page, msp_shop, page_kind)
    page.click(button)
    page.wait_for_url(re.compile(r".*/payment-failed/$"))
    assert "Payment not completed" in page.content()
    assert PaymentAttempt.objects.get().status == status
    page.check("input[name=route][value=multisafepay]")
    page.click("#retry-payment")
    page.wait_for_url(re.compile(rf".*/multisafepay/{page_kind}/.*"))
    page.click("#msp-approve")
    page.wait_for_url(re.compile(r".*/thanks/$"))
    assert Order.objects.get().status == Order.Status.PAID and PaymentAttempt.objects.count() == 2


def test_a_subscription_cart_says_why_multisafepay_is_not_offered(page, msp_shop):
    beans = make_product(name="Coffee Beans", price=1650, vat_rate_bp=900, kind="subscription",
                         interval="month", interval_count=1)
    to_checkout(page, msp_shop, beans)
    assert page.locator("input[name=route][value=multisafepay]").count() == 0
    assert "Klarna (via MultiSafepay) cannot pay for subscriptions" in page.inner_text(".routes")
