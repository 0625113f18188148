"""The shopper's order page after the merchant acted on its payment in admin (probe I I7, I8): it says what
the shop did (withdrew the order, refunded the payment), never what the shopper did not do."""
import re

import pytest

from payments.exceptions import OrderCancelledByShop
from payments.services import order_management as om
from payments.services.payment_start import payment_start
from payments.states import Status
from shop.links import order_url
from tests.factories import make_order
from tests.integration.klarna_flow import pay_with_klarna
from tests.integration.multisafepay_flow import come_back, msp_reports

pytestmark = pytest.mark.django_db(transaction=True)


def pay_klarna_payments(emulator, client):
    attempt = pay_with_klarna(emulator, client)
    assert attempt.status == Status.AUTHORIZED
    return attempt


def pay_multisafepay(emulator, client):
    attempt = payment_start(order=make_order(route="multisafepay"), route="multisafepay")
    assert "/thanks/" in come_back(client, emulator, attempt, "approve")["Location"]
    attempt.refresh_from_db()
    assert attempt.status == Status.AUTHORIZED
    return attempt


PAY = {"klarna_payments": pay_klarna_payments, "multisafepay": pay_multisafepay}


def status_of(html) -> str:
    return re.search(r'id="order-status">([^<]*)<', html).group(1)


@pytest.mark.parametrize("route", sorted(PAY))
def test_an_order_the_merchant_withdrew_says_the_shop_cancelled_it_and_offers_no_payment(emulator, client, route):
    """I7: after admin's "Cancel authorization" the page said "Cancelled by you", "You cancelled the payment
    at Klarna" and offered "Pay for this order", which led to a page saying the shop cancelled it."""
    attempt = PAY[route](emulator, client)
    om.payment_cancel(attempt_id=attempt.pk)
    order = attempt.order
    order.refresh_from_db()
    assert order.status == "cancelled"

    html = client.get(order_url(order)).content.decode()
    assert status_of(html) == "Cancelled by the shop"
    assert "We cancelled this order, so it can no longer be paid, and nothing is charged for it." in html
    assert "Cancelled by you" not in html and "You cancelled" not in html
    assert 'id="pay-order"' not in html and order_url(order, "shop:order_failed") not in html
    failed = client.get(order_url(order, "shop:order_failed")).content.decode()
    assert "We cancelled this order, so it can no longer be paid" in failed  # the same story on both pages


def test_a_payment_the_shopper_cancelled_still_says_so_and_can_be_paid(emulator, client):
    """The shopper's own cancellation keeps its words and its way to pay."""
    order = make_order(route="multisafepay")
    attempt = payment_start(order=order, route="multisafepay")
    come_back(client, emulator, attempt, "cancel")
    attempt.refresh_from_db()
    assert attempt.status == Status.CANCELLED
    html = client.get(order_url(order)).content.decode()
    assert status_of(html) == "Cancelled by you" and "You cancelled the payment" in html
    assert 'id="pay-order"' in html and "We cancelled this order" not in html


@pytest.mark.parametrize("route", sorted(PAY))
def test_a_refunded_order_says_it_was_refunded_in_full(emulator, client, route):
    """I8: a fully refunded order's page read "Paid — Your payment was received ... We will send a
    confirmation"; only the payments table said "Refunded"."""
    attempt = PAY[route](emulator, client)
    om.payment_capture(attempt_id=attempt.pk)
    om.payment_refund(attempt_id=attempt.pk, amount=attempt.amount)
    attempt.refresh_from_db()
    assert attempt.status == Status.REFUNDED

    html = client.get(order_url(attempt.order)).content.decode()
    assert status_of(html) == "Refunded"
    assert f"Your payment of €\u00a0{attempt.amount / 100:.2f} was refunded in full." in html
    assert "Your payment was received" not in html and "We will send a confirmation" not in html
    assert 'id="pay-order"' not in html
    # The thanks page, opened again from the browser's history, says so too.
    thanks = client.get(order_url(attempt.order, "shop:order_confirmation")).content.decode()
    assert f"Your payment of €\u00a0{attempt.amount / 100:.2f} was refunded in full." in thanks
    assert "A confirmation is on its way" not in thanks


@pytest.mark.parametrize("route", sorted(PAY))
def test_a_partly_refunded_order_says_how_much_was_refunded(emulator, client, route):
    attempt = PAY[route](emulator, client)
    om.payment_capture(attempt_id=attempt.pk)
    om.payment_refund(attempt_id=attempt.pk, amount=1290)
    attempt.refresh_from_db()
    assert attempt.status == Status.PARTIALLY_REFUNDED

    html = client.get(order_url(attempt.order)).content.decode()
    assert status_of(html) == "Partly refunded"
    assert "Your payment was received on" in html
    assert "€\u00a012.90 of it was refunded to you" in html
    assert "We will send a confirmation" not in html and 'id="pay-order"' not in html
    thanks = client.get(order_url(attempt.order, "shop:order_confirmation")).content.decode()
    assert "€\u00a012.90 of it was refunded to you" in thanks and "A confirmation is on its way" not in thanks


def test_an_authorization_voided_in_the_providers_dashboard_is_the_shops_withdrawal(emulator, client):
    """A paid MultiSafepay order whose authorization the merchant voided in MultiSafepay's Control panel
    (the notification reports `void`): the page said "Cancelled by you", "You cancelled the payment at
    Klarna" and offered "Pay for this order", so the shopper, who had paid, was told they had cancelled
    and could pay again for an order the merchant had withdrawn. A cancel after the authorization is the
    merchant's, wherever it was clicked, as a refund made there is booked like an admin refund."""
    attempt = pay_multisafepay(emulator, client)
    msp_reports(emulator, client, attempt, "void")
    attempt.refresh_from_db()
    assert attempt.status == Status.CANCELLED
    order = attempt.order
    order.refresh_from_db()
    assert order.status == "cancelled"

    html = client.get(order_url(order)).content.decode()
    assert status_of(html) == "Cancelled by the shop"
    assert "Cancelled by you" not in html and "You cancelled" not in html
    assert 'id="pay-order"' not in html
    with pytest.raises(OrderCancelledByShop):
        payment_start(order=order, route="multisafepay")


def test_an_authorization_that_lapsed_unshipped_is_not_called_declined(emulator, client):
    """A paid MultiSafepay order the merchant did not ship within Klarna's 28 days: MultiSafepay reports the
    authorization `expired`. The shopper, who had been approved and paid, was told "Payment declined",
    "The payment was declined. Nothing was charged." and, on the failure page, "The payment was declined or
    cancelled ... your cart is still here" (it was not: the paid order had taken it). It lapsed: say so."""
    attempt = pay_multisafepay(emulator, client)
    msp_reports(emulator, client, attempt, "expired")
    attempt.refresh_from_db()
    assert attempt.status == Status.EXPIRED
    order = attempt.order
    order.refresh_from_db()
    assert order.status == "payment_failed"

    html = client.get(order_url(order)).content.decode()
    assert status_of(html) == "Authorization lapsed"
    assert "declined" not in html.lower() and "Not completed in time" not in html
    assert "authorization ran out before the order was shipped" in html
    assert 'id="pay-order"' in html  # nothing is charged: the order can still be paid
    failed = client.get(order_url(order, "shop:order_failed")).content.decode()
    assert "authorization ran out before the order was shipped" in failed
    assert "declined" not in failed.lower().split("payment method")[0] and "cart is still here" not in failed


def test_a_checkout_never_completed_in_time_still_says_so(emulator, client):
    """The lapse words are only for a payment that had been approved: one that expired at the provider
    before the shopper finished keeps "Not completed in time"."""
    order = make_order(route="multisafepay")
    attempt = payment_start(order=order, route="multisafepay")
    msp_reports(emulator, client, attempt, "expired")
    attempt.refresh_from_db()
    assert attempt.status == Status.EXPIRED
    html = client.get(order_url(order)).content.decode()
    assert "Not completed in time" in html and "Authorization lapsed" not in html
