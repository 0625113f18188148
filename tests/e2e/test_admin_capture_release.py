"""Issue 8, item 6, in a real browser: a Klarna Payments order with an accepted upsell is one Klarna order.
The merchant captures part of it from admin, typing the amount in currency and confirming it, then releases
the rest; Klarna's order (the emulator) shows exactly that, and admin shows Klarna's figures on every payment
of the order and on the order itself."""
import re

import pytest

from payments.models import PaymentAttempt
from payments.states import Status
from shop.models import Order, UpsellOffer
from tests.e2e.conftest import fill_checkout
from tests.e2e.merchant import admin_login, payment_page
from tests.factories import make_product

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
NBSP = "\u00a0"


def test_capture_typed_in_currency_then_release_the_rest(page, shop, settings, emulator):
    settings.PAYMENT_ROUTES = ["klarna_payments"]
    mug = make_product(name="Enamel mug", price=3395)
    offer = UpsellOffer.objects.create(name="Second mug", product=make_product(name="Small mug", price=1850),
                                       price=1290)
    page.goto(shop.url + mug.get_absolute_url())
    page.click("#add-to-cart button[type=submit]")
    page.goto(shop.url + "/checkout/")
    fill_checkout(page)
    page.wait_for_url(re.compile(r".*/payments/widget/klarna_payments/.*"))
    page.wait_for_selector("#klarna-pay:not([disabled])")
    page.click("#klarna-pay")
    page.click("#klarna-approve")
    page.wait_for_url(re.compile(r".*/thanks/$"))
    page.click(f"#accept-offer-{offer.pk}")
    page.wait_for_selector(".upsell-item[data-state=added]")

    order = Order.objects.get()
    checkout = PaymentAttempt.objects.get(order=order, kind="checkout")
    upsell = PaymentAttempt.objects.get(order=order, kind="upsell")
    whole = checkout.amount + upsell.amount
    assert upsell.provider_reference == checkout.provider_reference and upsell.status == Status.AUTHORIZED

    merchant = page.context.browser.new_context().new_page()
    admin_login(merchant, shop)
    before = payment_page(merchant, shop, checkout)
    assert f"€{NBSP}0.00 captured" in before and f"€{NBSP}{whole / 100:.2f} left to capture" in before
    merchant.click("a.button:has-text('Capture')")
    merchant.fill("#id_amount", "30.00")
    merchant.click("input[type=submit][value=Continue]")
    assert f"Capture €{NBSP}30.00 of provider order {checkout.provider_reference}" in \
        merchant.inner_text("#action-statement")
    merchant.click("#confirm-action")
    merchant.wait_for_selector(".messagelist")
    merchant.click("a.button:has-text('Release remaining authorization')")
    assert f"Release the €{NBSP}{(whole - 3000) / 100:.2f}" in merchant.inner_text("#action-statement")
    merchant.click("#confirm-action")
    merchant.wait_for_selector(".messagelist")

    klarna = next(o for o in emulator.control("GET", "/_emulator/klarna/orders")["orders"]
                  if o["order_id"] == checkout.provider_reference)
    assert klarna["order_amount"] == whole
    assert (klarna["status"], klarna["captured_amount"], klarna["remaining_authorized_amount"]) \
        == ("CAPTURED", 3000, 0)

    shown = payment_page(merchant, shop, checkout)
    assert f"€{NBSP}30.00 captured, €{NBSP}0.00 refunded, €{NBSP}0.00 left to capture" in shown
    assert f"Captured €{NBSP}30.00" in shown and "Released the uncaptured" in shown
    assert "Release remaining" not in merchant.inner_text(".field-operations_html")
    assert "manage it there" in payment_page(merchant, shop, upsell)
    merchant.goto(f"{shop.url}/admin/shop/order/{order.pk}/change/")
    payments = merchant.inner_text("#content")
    assert f"{checkout.reference} (klarna_payments, captured)" in payments
    assert f"{upsell.reference} (klarna_payments, captured)" in payments and "authorized" not in payments.lower()
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID
    for attempt in (checkout, upsell):
        attempt.refresh_from_db()
        assert attempt.status == Status.CAPTURED
    assert checkout.captured_amount == 3000
    merchant.context.close()
