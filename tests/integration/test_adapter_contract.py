"""The contract every payment route passes (DESIGN rule 11): the same behaviour through each adapter,
against the emulator. A route is added here by writing its driver: how a shopper approves or declines."""
from urllib.parse import urlparse

import pytest

from payments.exceptions import ProviderUnavailable
from payments.models import PaymentAttempt, PaymentEvent
from payments.providers.registry import get_adapter
from payments.services.payment_start import payment_start, return_url
from payments.states import SUCCESSFUL, Status
from shop.models import Order
from tests.factories import make_order
from tests.integration.klarna_flow import authorize

pytestmark = pytest.mark.django_db(transaction=True)


class NextDriver:
    route, api_prefix = "next", "/next/api/admin/"

    def __init__(self, emulator):
        self.emulator = emulator

    def decide(self, attempt, approve):
        done = self.emulator.complete_checkout(attempt.redirect_url, "approve" if approve else "decline")
        return urlparse(done["return_url"]).path, {"response": done["response"]}


class KlarnaDriver:
    route, api_prefix = "klarna_payments", "/klarna/"

    def __init__(self, emulator):
        self.emulator = emulator

    def decide(self, attempt, approve):
        token = authorize(self.emulator, attempt, approve)
        data = {"authorization_token": token} if approve else {"declined": "1"}
        return urlparse(return_url(attempt)).path, data


@pytest.fixture(params=[NextDriver, KlarnaDriver], ids=lambda d: d.route)
def driver(request, emulator):
    return request.param(emulator)


def start(driver):
    return payment_start(order=make_order(), route=driver.route)


def test_start_sends_the_shopper_somewhere_and_waits(driver):
    attempt = start(driver)
    assert attempt.status == Status.PENDING and attempt.redirect_url.startswith("http")
    assert get_adapter(driver.route).key == driver.route


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


def test_provider_down_at_start_loses_nothing(driver):
    driver.emulator.control("POST", "/_emulator/faults", json={"method": "POST", "path": driver.api_prefix,
                                                               "kind": "error", "status": 503, "times": 10})
    order = make_order()
    with pytest.raises(ProviderUnavailable):
        payment_start(order=order, route=driver.route)
    assert PaymentAttempt.objects.get(order=order).status == Status.FAILED
    assert order.lines.count() == 1
