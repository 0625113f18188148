"""Issue 8, item 1, in a real browser: the Klarna widget open in two tabs, declined in one and retried, then
approved in both. The order is paid by one payment; the second is cancelled at Klarna at once, and the
merchant sees both in admin."""
import re

import pytest

from payments.models import PaymentAttempt
from payments.states import Status
from shop.models import Order
from tests.e2e.conftest import fill_checkout
from tests.e2e.merchant import admin_login, payment_page
from tests.factories import make_product

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def open_dialog(tab):
    tab.wait_for_selector("#klarna-pay:not([disabled])")
    tab.click("#klarna-pay")
    tab.wait_for_selector("#klarna-approve")


def test_two_tabs_pay_once_and_the_second_klarna_order_is_cancelled(page, shop, settings, emulator):
    settings.PAYMENT_ROUTES = ["klarna_payments"]
    mug = make_product(name="Enamel mug", price=1850)
    tab_1 = page
    tab_1.goto(shop.url + mug.get_absolute_url())
    tab_1.click("#add-to-cart button[type=submit]")
    tab_1.goto(shop.url + "/checkout/")
    fill_checkout(tab_1)
    tab_1.wait_for_url(re.compile(r".*/payments/widget/klarna_payments/.*"))
    tab_2 = tab_1.context.new_page()  # the same shopper (cookies) opens the payment page again
    tab_2.goto(tab_1.url)

    # Tab 1: decline, then "Try again" gives a new payment on the same order.
    open_dialog(tab_1)
    tab_1.click("#klarna-decline")
    tab_1.wait_for_url(re.compile(r".*/payment-failed/$"))
    tab_1.click("#retry-payment")
    tab_1.wait_for_url(re.compile(r".*/payments/widget/klarna_payments/.*"))

    # Tab 2 still shows the first widget: approve it. Then approve in tab 1 too.
    open_dialog(tab_2)
    tab_2.click("#klarna-approve")
    tab_2.wait_for_url(re.compile(r".*/thanks/$"))
    open_dialog(tab_1)
    tab_1.click("#klarna-approve")
    tab_1.wait_for_url(lambda url: "/payments/widget/" not in url)  # the shop has answered the approval

    order = Order.objects.get()
    first, second = PaymentAttempt.objects.filter(order=order).order_by("created_at")
    assert order.status == Order.Status.PAID
    assert first.status == Status.AUTHORIZED and first.duplicate_of is None
    assert second.status == Status.CANCELLED and second.duplicate_of_id == first.pk
    klarna = {o["order_id"]: o for o in emulator.control("GET", "/_emulator/klarna/orders")["orders"]}
    assert klarna[first.provider_reference]["status"] == "AUTHORIZED"
    assert klarna[second.provider_reference]["status"] == "CANCELLED"

    merchant = tab_1.context.browser.new_context().new_page()
    admin_login(merchant, shop)
    first_page = payment_page(merchant, shop, first)
    assert f"A second payment ({second.reference}) arrived for this already paid order" in first_page
    second_page = payment_page(merchant, shop, second)
    assert f"The order was already paid by {first.reference}" in second_page
    assert "Authorization of" in second_page and "cancelled (duplicate)" in second_page
    merchant.goto(f"{shop.url}/admin/payments/paymentattempt/?duplicate=all")
    assert second.reference in merchant.inner_text("#result_list")
    merchant.context.close()
