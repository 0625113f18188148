"""Issue 8, item 1, in a real browser: the Klarna widget open in two tabs, declined in one and retried, then
approved in both. The old tab's approval places no Klarna order (a newer payment stands): it is released
and the shopper told why; the newer payment pays the order, and the merchant sees both in admin."""
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


def to_the_widget(tab, shop, product):
    """Add `product` to the tab's cart and check out: the tab ends on our Klarna widget page."""
    tab.goto(shop.url + product.get_absolute_url())
    tab.click("#add-to-cart button[type=submit]")
    tab.goto(shop.url + "/checkout/")
    fill_checkout(tab)
    tab.wait_for_url(re.compile(r".*/payments/widget/klarna_payments/.*"))


def test_two_tabs_pay_once_and_the_old_widget_places_no_order(page, shop, settings, emulator):
    settings.PAYMENT_ROUTES = ["klarna_payments"]
    mug = make_product(name="Enamel mug", price=1850)
    tab_1 = page
    to_the_widget(tab_1, shop, mug)
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
    tab_2.wait_for_url(re.compile(r".*/payment-failed/$"))
    assert "You started a newer payment for this order, so this one was not taken." in tab_2.inner_text("body")
    open_dialog(tab_1)
    tab_1.click("#klarna-approve")
    tab_1.wait_for_url(re.compile(r".*/thanks/$"))

    order = Order.objects.get()
    first, second = PaymentAttempt.objects.filter(order=order).order_by("created_at")
    assert order.status == Order.Status.PAID
    assert first.status == Status.FAILED and second.status == Status.AUTHORIZED
    klarna_orders = emulator.control("GET", "/_emulator/klarna/orders")["orders"]
    assert [o["order_id"] for o in klarna_orders] == [second.provider_reference]

    merchant = tab_1.context.browser.new_context().new_page()
    admin_login(merchant, shop)
    first_page = payment_page(merchant, shop, first)
    assert "but not finished" in first_page and "Nothing was charged" in first_page
    assert "Authorized" in payment_page(merchant, shop, second)
    merchant.context.close()


def test_an_old_tab_asks_the_shopper_to_approve_the_total_the_order_has_now(page, shop, settings, emulator):
    """Probe F F6: the payment page left open in one tab shows the cart as it was; the shopper adds a second mug
    in another tab and checks out again, which updates the same Klarna session. Approving in the old tab
    charges the new total, so Klarna's dialog (here the emulator's, as Klarna's own does) says that total
    before the shopper approves, and the order is paid for exactly that."""
    settings.PAYMENT_ROUTES = ["klarna_payments"]
    mug = make_product(name="Enamel mug", price=1850)
    old_tab = page
    to_the_widget(old_tab, shop, mug)
    first_total = Order.objects.get().total

    new_tab = old_tab.context.new_page()
    to_the_widget(new_tab, shop, mug)
    order = Order.objects.get()
    assert order.total > first_total  # the same order, rewritten for two mugs

    open_dialog(old_tab)
    shown = f"€{order.total / 100:.2f}"
    old_tab.wait_for_function("(shown) => document.getElementById('klarna-amount').textContent.includes(shown)",
                              arg=shown)
    old_tab.click("#klarna-approve")
    old_tab.wait_for_url(re.compile(r".*/thanks/$"))
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    [klarna_order] = emulator.control("GET", "/_emulator/klarna/orders")["orders"]
    assert klarna_order["order_amount"] == order.total
