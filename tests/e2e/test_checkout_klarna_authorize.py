"""A shopper paying through Klarna Payment Authorize v2 in a real browser: approved at once, declined at
once, and a step-up in Klarna's purchase journey finished by the webhook or, with the webhook lost, by
the shop reading the payment request when the shopper comes back."""
import re

import pytest

from payments.models import PaymentAttempt, PaymentEvent
from payments.states import Status
from shop.models import Order
from tests.e2e.conftest import fill_checkout
from tests.factories import make_product

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
JOURNEY = re.compile(r".*/klarna-global/pay/requests/[^/]+/start$")


@pytest.fixture
def v2_shop(shop, emulator, settings):
    settings.PAYMENT_ROUTES = ["klarna_authorize"]  # the only route: no choice to make at checkout
    # Webhooks go out before the emulator answers the browser, so "the webhook did it" is deterministic.
    emulator.control("PATCH", "/_emulator/config", json={"klarna_global": {
        "webhook_target": shop.url + "/payments/webhooks/klarna_authorize/", "webhooks_sync": True}})
    emulator.control("POST", "/_emulator/webhooks/mode", json={"mode": "drop"})
    return shop


def check_out(page, shop, *, email="anna@example.com"):
    lamp = make_product(name="Reading Lamp", price=4200)
    page.goto(shop.url + lamp.get_absolute_url())
    page.click("#add-to-cart button[type=submit]")
    page.goto(shop.url + "/checkout/")
    fill_checkout(page, email=email)


def paid_by(attempt):
    return PaymentEvent.objects.get(attempt=attempt, kind="transition", to_status=Status.AUTHORIZED).source


def test_approved_at_once_goes_straight_to_the_confirmation(page, v2_shop):
    visited = []
    page.on("framenavigated", lambda frame: visited.append(frame.url))
    check_out(page, v2_shop, email="anna+approved@example.com")
    page.wait_for_url(re.compile(r".*/thanks/$"))
    assert "Thank you" in page.content()
    assert not any("/klarna-global/" in url for url in visited)  # no redirect at all
    assert Order.objects.get().status == Order.Status.PAID
    assert PaymentAttempt.objects.get().status == Status.AUTHORIZED


def test_declined_at_once_shows_the_failure_page_with_try_again(page, v2_shop):
    check_out(page, v2_shop, email="anna+denied@example.com")
    page.wait_for_url(re.compile(r".*/payment-failed/$"))
    assert "Klarna did not approve this payment" in page.content()
    assert page.is_visible("#retry-payment")
    assert Order.objects.get().status == Order.Status.PAYMENT_FAILED


def test_step_up_finished_by_the_webhook(page, v2_shop, emulator):
    check_out(page, v2_shop)
    page.wait_for_url(JOURNEY)
    assert "46.95 EUR" in page.inner_text("#klarna-amount")  # 42.00 + 4.95 shipping
    emulator.control("POST", "/_emulator/webhooks/mode", json={"mode": "normal"})
    page.click("#klarna-approve")
    page.wait_for_url(re.compile(r".*/thanks/$"))
    attempt = PaymentAttempt.objects.get()
    assert attempt.status == Status.AUTHORIZED and paid_by(attempt) == "webhook"
    assert Order.objects.get().status == Order.Status.PAID


def test_step_up_finished_by_polling_when_the_webhook_is_lost(page, v2_shop, emulator):
    check_out(page, v2_shop)
    page.wait_for_url(JOURNEY)
    page.click("#klarna-approve")
    page.wait_for_url(re.compile(r".*/thanks/$"))
    attempt = PaymentAttempt.objects.get()
    assert attempt.status == Status.AUTHORIZED and paid_by(attempt) == "return"
    lost = [d for d in emulator.control("GET", "/_emulator/webhooks?provider=klarna_global")["deliveries"]
            if d["event_type"].endswith(".completed")]
    assert lost and all(d["state"] == "dropped" for d in lost)


def test_declined_in_the_journey_then_paid_on_the_second_try(page, v2_shop):
    check_out(page, v2_shop)
    page.wait_for_url(JOURNEY)
    page.click("#klarna-decline")
    page.wait_for_url(re.compile(r".*/payment-failed/$"))
    order = Order.objects.get()
    assert order.status == Order.Status.PAYMENT_FAILED
    page.click("#retry-payment")
    page.wait_for_url(JOURNEY)
    page.click("#klarna-approve")
    page.wait_for_url(re.compile(r".*/thanks/$"))
    order.refresh_from_db()
    assert order.status == Order.Status.PAID and PaymentAttempt.objects.filter(order=order).count() == 2
