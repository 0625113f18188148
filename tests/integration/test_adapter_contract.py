"""The contract every payment route passes (DESIGN rules 2 and 11), against the emulator: starting a
checkout, the shopper's return, provider messages and reconcile.

Each test runs for every registered route (drivers in tests/integration/contract_drivers.py) and is gated on
the route's capabilities, not its name. Money after the payment (renewals, upsells, order management,
refusals before any call) is in test_adapter_contract_money.py.
"""
from urllib.parse import urlparse

import pytest

from payments.exceptions import ProviderUnavailable
from payments.models import PaymentAttempt, PaymentEvent, WebhookDelivery
from payments.providers.registry import get_adapter, route_keys
from payments.services.payment_start import payment_start, return_url
from payments.services.reconcile import payments_reconcile
from payments.states import IN_BETWEEN, SUCCESSFUL, Status
from shop.links import order_url
from shop.models import Order
from tests.factories import make_order
from tests.integration.contract_drivers import DRIVERS, caps, pay, start, transitions

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_registered_route_has_a_driver():
    assert sorted(DRIVERS) == route_keys()


# --- start ----------------------------------------------------------------------------------------------
def test_start_sends_the_shopper_somewhere_and_waits(driver):
    attempt = start(driver)
    assert attempt.status == Status.PENDING and attempt.redirect_url.startswith("http")


def test_provider_down_at_start_loses_nothing(driver):
    driver.emulator.control("POST", "/_emulator/faults", json={"method": "POST", "path": driver.api_prefix,
                                                               "kind": "error", "status": 503, "times": 10})
    order = make_order()
    with pytest.raises(ProviderUnavailable):
        payment_start(order=order, route=driver.route)
    if get_adapter(driver.route).capabilities.start_replays:
        # The start itself may charge and is keyed: left open to be sent again, never called failed.
        assert PaymentAttempt.objects.get(order=order).status == Status.CREATED
    else:
        assert PaymentAttempt.objects.get(order=order).status == Status.FAILED
    assert order.lines.count() == 1
    driver.emulator.control("DELETE", "/_emulator/faults")
    again = payment_start(order=order, route=driver.route)  # the shopper's "try again"
    assert again.status in IN_BETWEEN | SUCCESSFUL


# --- the shopper's return -------------------------------------------------------------------------------
def test_approval_pays_the_order_once_however_often_it_is_returned(driver, client):
    attempt = start(driver)
    path, data = driver.decide(attempt, approve=True)
    for _ in range(3):
        response = client.post(path, data)
        assert response.status_code == 303 and "/thanks/" in response["Location"]
    attempt.refresh_from_db()
    assert attempt.status in SUCCESSFUL
    assert Order.objects.get(pk=attempt.order_id).status == Order.Status.PAID
    assert PaymentEvent.objects.filter(attempt=attempt, kind="transition", to_status=attempt.status).count() == 1
    # The replays were answered from the database: one stored message, applied once.
    stored = WebhookDelivery.objects.get(attempt=attempt, channel="return", signature_valid=True)
    assert stored.apply_count == 1


def test_decline_fails_the_attempt_and_offers_a_retry(driver, client):
    attempt = start(driver)
    path, data = driver.decide(attempt, approve=False)
    response = client.post(path, data)
    assert response.status_code == 303 and "/payment-failed/" in response["Location"]
    attempt.refresh_from_db()
    assert attempt.status == Status.FAILED
    assert payment_start(order=attempt.order, route=driver.route).status == Status.PENDING


def test_a_tampered_return_marks_nothing_paid(driver, client):
    attempt = start(driver)
    path, data = driver.decide(attempt, approve=True)
    response = client.post(path.rstrip("/")[:-4] + "AAAA/", data)
    assert response.status_code == 400
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING


def test_a_return_naming_a_payment_the_provider_does_not_confirm_is_refused(driver, client):
    attempt = start(driver)
    path, data = driver.forged_return(attempt)
    response = client.post(path, data)
    assert response.status_code == 400
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING
    assert attempt.events.filter(kind="rejected").exists()


def test_a_get_on_the_return_url_shows_the_order_and_changes_nothing(driver, client):
    attempt = start(driver)
    response = client.get(urlparse(return_url(attempt)).path)
    assert response.status_code == 302 and response["Location"] == order_url(attempt.order)
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING


def test_a_late_decline_never_undoes_a_payment(driver, client):
    attempt = pay(driver, client)
    before = transitions(attempt)
    path, data = driver.decline_return(attempt)
    client.post(path, data)
    attempt.refresh_from_db()
    assert attempt.status in SUCCESSFUL and transitions(attempt) == before


# --- provider messages (webhooks, notifications) --------------------------------------------------------
def test_an_authentic_message_is_applied_once(driver, client):
    attempt = pay(driver, client)
    before = transitions(attempt)
    path, body, headers = driver.message(attempt)
    first = client.post(path, body, content_type="application/json", headers=headers)
    again = client.post(path, body, content_type="application/json", headers=headers)
    assert first.status_code == 200 and first["X-Inbound-State"] == "applied"
    assert again.status_code == 200 and again["X-Inbound-State"] == "duplicate"
    ack = caps(driver).inbound_ack
    if ack is not None:  # the provider reads its own acknowledgement, not our JSON
        assert first.content.decode() == ack.body and first["Content-Type"] == ack.content_type
    attempt.refresh_from_db()
    assert attempt.status in SUCCESSFUL and transitions(attempt) == before
    assert WebhookDelivery.objects.filter(provider=driver.route, signature_valid=True).exclude(
        channel="return").count() == 1


def test_a_forged_message_changes_nothing(driver, client):
    attempt = start(driver)
    path, data = driver.decide(attempt, approve=True)
    client.post(path, data)
    attempt.refresh_from_db()
    status, before = attempt.status, transitions(attempt)
    path, body, headers = driver.message(attempt, forged=True)
    response = client.post(path, body, content_type="application/json", headers=headers)
    assert 400 <= response.status_code < 500
    attempt.refresh_from_db()
    assert attempt.status == status and transitions(attempt) == before


# --- reconcile --------------------------------------------------------------------------------------------
def test_reconcile_settles_an_attempt_whose_shopper_never_came_back(driver, settings):
    settings.PAYMENT_EXPIRE_AFTER = 0
    attempt = start(driver)
    driver.approve_only(attempt)
    payments_reconcile(older_than=0)
    attempt.refresh_from_db()
    if driver.abandoned_after_approval == "paid":
        assert attempt.status in SUCCESSFUL
    else:
        assert attempt.status == Status.EXPIRED
