"""The contract every payment route passes (DESIGN rules 2 and 11), against the emulator.

Each test runs for every registered route and is gated on the route's capabilities, not its name: what a
route says it can do must work, and what it says it cannot do must be refused with a typed error. A route
joins the suite by adding a driver below: how a shopper approves or declines at that provider, and what an
authentic and a forged provider message look like. Nothing else here names a route.
"""
import json
import time
from urllib.parse import parse_qsl, quote, urlparse

import pytest
from django.conf import settings

from payments.exceptions import ProviderUnavailable, RouteNotAvailable
from payments.models import PaymentAttempt, PaymentEvent, Subscription, Upsell, WebhookDelivery
from payments.providers.klarna_authorize import signatures as klarna_v2_signatures
from payments.providers.multisafepay.signatures import sign as msp_sign
from payments.providers.next.signatures import sign
from payments.providers.registry import get_adapter, route_keys
from payments.providers.types import Operation, UpsellKind
from payments.selectors import upsell_offers_for
from payments.services import order_management as om
from payments.services.payment_start import notification_url, payment_start, return_url
from payments.services.reconcile import payments_reconcile
from payments.services.subscription_actions import subscription_renew_now
from payments.states import SUCCESSFUL, Status
from shop.links import order_url
from shop.models import Order, UpsellOffer
from tests.factories import make_order, make_product
from tests.integration.klarna_flow import authorize

pytestmark = pytest.mark.django_db(transaction=True)


class NextDriver:
    route, api_prefix = "next", "/next/api/admin/"
    abandoned_after_approval = "paid"  # the order exists at 29 Next: reconcile finds it by its tag

    def __init__(self, emulator):
        self.emulator = emulator

    def decide(self, attempt, approve):
        done = self.emulator.complete_checkout(attempt.redirect_url, "approve" if approve else "decline")
        return urlparse(done["return_url"]).path, {"response": done["response"]}

    def approve_only(self, attempt):
        self.emulator.complete_checkout(attempt.redirect_url, "approve")

    def authorize_only(self):
        """The store authorizes Klarna payments and captures later (an auth-capture gateway)."""
        self.emulator.control("PATCH", "/_emulator/config", {"next": {"klarna_payment_status": "authorized"}})

    def decline_return(self, attempt):
        return urlparse(return_url(attempt)).path, {"response": "{}"}

    def forged_return(self, attempt):
        return urlparse(return_url(attempt)).path, {"response": json.dumps({"number": "999999"})}

    def message(self, attempt, *, forged=False):
        order = get_adapter(self.route).client.get_order(attempt.provider_reference)
        body = json.dumps({"event_id": f"evt-{attempt.reference}", "event_type": "order.updated",
                           "object": "order", "data": order}).encode()
        secret = "not-our-secret" if forged else settings.NEXT_WEBHOOK_SECRET
        return "/payments/webhooks/next/", body, {"X-29Next-Signature": sign(secret, body)}


class KlarnaPaymentsDriver:
    route, api_prefix = "klarna_payments", "/klarna/"
    # Only the shop places a Klarna order (from the authorization): an approval whose return and callback
    # never arrived leaves nothing to find, so reconcile gives the attempt up.
    abandoned_after_approval = "expired"

    def __init__(self, emulator):
        self.emulator = emulator

    def decide(self, attempt, approve):
        token = authorize(self.emulator, attempt, approve)
        data = {"authorization_token": token} if approve else {"declined": "1"}
        return urlparse(return_url(attempt)).path, data

    def approve_only(self, attempt):
        authorize(self.emulator, attempt, True)

    def authorize_only(self):
        """Klarna Payments orders are always authorized first (auto_capture false)."""

    def decline_return(self, attempt):
        return urlparse(return_url(attempt)).path, {"declined": "1"}

    def forged_return(self, attempt):
        return urlparse(return_url(attempt)).path, {"authorization_token": "made-up-authorization-token"}

    def message(self, attempt, *, forged=False):
        body = json.dumps({"order_id": attempt.provider_reference, "event_type": "FRAUD_RISK_ACCEPTED"}).encode()
        path = urlparse(notification_url(attempt)).path
        if forged:
            path = path.rstrip("/")[:-4] + "AAAA/"
        return path, body, {}


class MultiSafepayDriver:
    route, api_prefix = "multisafepay", "/multisafepay/v1/json/"
    # The order exists at MultiSafepay from the start (order_id = our reference): reconcile reads it back.
    abandoned_after_approval = "paid"

    def __init__(self, emulator):
        self.emulator = emulator

    def _complete(self, attempt, action):
        return self.emulator.control("POST", f"/_emulator/multisafepay/orders/{attempt.reference}/complete",
                                     json={"action": action})

    def _back(self, redirect_url):
        # MultiSafepay sends the shopper back by GET with ?transactionid=; the suite posts the same fields.
        url = urlparse(redirect_url)
        return url.path, dict(parse_qsl(url.query))

    def decide(self, attempt, approve):
        return self._back(self._complete(attempt, "approve" if approve else "decline")["redirect_url"])

    def approve_only(self, attempt):
        self._complete(attempt, "approve")

    def authorize_only(self):
        """MultiSafepay's Klarna orders complete as authorized; shipping captures them."""

    def decline_return(self, attempt):
        return urlparse(return_url(attempt)).path, {"transactionid": attempt.reference}

    def forged_return(self, attempt):
        return urlparse(return_url(attempt)).path, {"transactionid": "pa_0000000000000000beef"}

    def message(self, attempt, *, forged=False):
        order = get_adapter(self.route).client.get_order(attempt.reference)
        body = json.dumps(order, separators=(",", ":"), sort_keys=True).encode()
        stamp = int(time.time())
        key = "not-our-api-key" if forged else settings.MULTISAFEPAY_API_KEY
        path = f"{urlparse(notification_url(attempt)).path}?transactionid={attempt.reference}&timestamp={stamp}"
        return path, body, {"Auth": msp_sign(key, body, stamp)}


class KlarnaAuthorizeDriver:
    route, api_prefix = "klarna_authorize", "/klarna-global/"
    # The payment request is COMPLETED at Klarna: reconcile reads it and finalizes.
    abandoned_after_approval = "paid"

    def __init__(self, emulator):
        self.emulator = emulator

    def _journey(self, attempt, action):
        request_id = quote(attempt.provider_reference, safe="")
        return self.emulator.control("POST", f"/_emulator/klarna-global/payment-requests/{request_id}/complete",
                                     json={"action": action})

    def decide(self, attempt, approve):
        done = self._journey(attempt, "approve" if approve else "decline")
        return urlparse(done["return_url"]).path, {}

    def approve_only(self, attempt):
        self._journey(attempt, "approve")

    def authorize_only(self):
        """Approved v2 authorizations are authorized, never captured at once."""

    def decline_return(self, attempt):
        return urlparse(return_url(attempt)).path, {}

    def forged_return(self, attempt):
        return urlparse(return_url(attempt)).path, {"payment_request_id": "krn:payment:eu1:request:forged"}

    def message(self, attempt, *, forged=False):
        body = json.dumps({"metadata": {"event_id": f"evt-{attempt.reference}", "event_version": "v2",
                                        "event_type": "payment.request.state-change.completed"},
                           "payload": {"payment_request_id": attempt.provider_reference,
                                       "state": "COMPLETED"}}).encode()
        key = "not-our-key" if forged else settings.KLARNA_AUTHORIZE_SIGNING_KEY
        return "/payments/webhooks/klarna_authorize/", body, {"Klarna-Signature": klarna_v2_signatures.sign(key, body)}


DRIVERS = {driver.route: driver for driver in (NextDriver, KlarnaPaymentsDriver, KlarnaAuthorizeDriver,
                                                   MultiSafepayDriver)}


def test_every_registered_route_has_a_driver():
    assert sorted(DRIVERS) == route_keys()


@pytest.fixture(params=sorted(DRIVERS))
def driver(request, emulator, settings):
    settings.PAYMENT_ROUTES = route_keys()
    return DRIVERS[request.param](emulator)


def caps(driver):
    return get_adapter(driver.route).capabilities


def start(driver, order=None):
    return payment_start(order=order or make_order(), route=driver.route)


def pay(driver, client, order=None):
    attempt = start(driver, order)
    path, data = driver.decide(attempt, approve=True)
    response = client.post(path, data)
    assert response.status_code == 303 and "/thanks/" in response["Location"], response.content[:300]
    attempt.refresh_from_db()
    assert attempt.status in SUCCESSFUL
    return attempt


def transitions(attempt):
    return PaymentEvent.objects.filter(attempt=attempt, kind="transition").count()


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
    assert PaymentAttempt.objects.get(order=order).status == Status.FAILED
    assert order.lines.count() == 1


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


# --- recurring ----------------------------------------------------------------------------------------------
def test_a_subscription_renews_one_cycle_on_request(driver, client):
    if not caps(driver).recurring:
        pytest.skip("route takes no recurring payments")
    beans = make_product(kind="subscription", interval="month", interval_count=1, price=1650, vat_rate_bp=900)
    attempt = pay(driver, client, make_order(items=[(beans, 1)], shipping_fee=0))
    sub = Subscription.objects.get(order_id=attempt.order_id)
    assert sub.route == driver.route and sub.status == "active"
    subscription_renew_now(subscription_id=sub.pk)
    renewal = sub.charges.get(billing_cycle=1)
    assert renewal.outcome == "paid" and renewal.attempt.order.renewal_of_id == attempt.order_id
    assert renewal.attempt.amount == 1650


# --- upsells --------------------------------------------------------------------------------------------------
def test_an_upsell_is_charged_once_the_way_the_route_says(driver, client):
    offer = UpsellOffer.objects.create(name="Add a second mug", price=1290,
                                       product=make_product(name="Second mug", price=1850))
    order = make_order()
    attempt = pay(driver, client, order)
    kind = caps(driver).upsell
    if kind == UpsellKind.NONE:
        assert upsell_offers_for(order) == []
        return
    accept = order_url(order, "shop:order_confirmation").replace("thanks/", f"upsells/{offer.pk}/")
    session = client.session
    session["last_order"] = order.number
    session.save()
    client.post(accept)
    client.post(accept)
    upsell = Upsell.objects.get()
    assert upsell.state == "added"
    expected = {UpsellKind.ADD_TO_ORDER: Status.CAPTURED, UpsellKind.RAISE_AUTHORIZATION: Status.AUTHORIZED}[kind]
    assert upsell.attempt.status == expected
    order.refresh_from_db()
    assert order.total == attempt.amount + 1290


# --- order management -----------------------------------------------------------------------------------------
# `part` is what a capture takes: 1000 where the route captures part of an authorization, else None (everything).
OPERATIONS = {
    Operation.CAPTURE: lambda a, part: om.payment_capture(attempt_id=a.pk, amount=part),
    Operation.REFUND: lambda a, part: (om.payment_capture(attempt_id=a.pk, amount=part),
                                       om.payment_refund(attempt_id=a.pk, amount=400)),
    Operation.CANCEL: lambda a, part: om.payment_cancel(attempt_id=a.pk),
    Operation.RELEASE: lambda a, part: (om.payment_capture(attempt_id=a.pk, amount=part),
                                        om.payment_release_remaining(attempt_id=a.pk)),
    Operation.EXTEND: lambda a, part: om.payment_extend(attempt_id=a.pk),
}
ALONE = {  # the operation itself, on the authorized payment, for a route that does not offer it
    Operation.CAPTURE: lambda a: om.payment_capture(attempt_id=a.pk),
    Operation.REFUND: lambda a: om.payment_refund(attempt_id=a.pk, amount=400),
    Operation.CANCEL: lambda a: om.payment_cancel(attempt_id=a.pk),
    Operation.RELEASE: lambda a: om.payment_release_remaining(attempt_id=a.pk),
    Operation.EXTEND: lambda a: om.payment_extend(attempt_id=a.pk),
}
AFTER = {
    Operation.CAPTURE: lambda a, part: a.captured_amount == (part or a.amount),
    Operation.REFUND: lambda a, part: a.refunded_amount == 400 and a.status == Status.PARTIALLY_REFUNDED,
    Operation.CANCEL: lambda a, part: a.status == Status.CANCELLED,
    Operation.RELEASE: lambda a, part: a.status == Status.CAPTURED and a.captured_amount == part,
    Operation.EXTEND: lambda a, part: a.authorization_expires_at is not None,
}


@pytest.mark.parametrize("operation", list(Operation), ids=str)
def test_each_order_management_operation_works_or_is_refused(driver, client, operation):
    driver.authorize_only()
    attempt = pay(driver, client)
    assert attempt.status == Status.AUTHORIZED
    if operation not in caps(driver).operations:
        with pytest.raises(om.OperationRefused):
            ALONE[operation](attempt)
        attempt.refresh_from_db()
        assert attempt.status in SUCCESSFUL and not attempt.operations.exclude(result="refused").exists()
        return
    part = 1000 if caps(driver).partial_capture else None
    OPERATIONS[operation](attempt, part)
    attempt.refresh_from_db()
    assert AFTER[operation](attempt, part)
    assert attempt.operations.filter(kind=operation.value, result="done").exists()


def test_a_partial_capture_is_refused_where_the_route_captures_whole_orders(driver, client):
    if Operation.CAPTURE not in caps(driver).operations or caps(driver).partial_capture:
        pytest.skip("route captures parts, or does not capture from the shop")
    driver.authorize_only()
    attempt = pay(driver, client)
    with pytest.raises(om.OperationRefused, match="whole order"):
        om.payment_capture(attempt_id=attempt.pk, amount=1000)
    attempt.refresh_from_db()
    assert attempt.captured_amount == 0 and not attempt.operations.exists()


# --- what a route cannot take is refused before any attempt or call ---------------------------------------
def test_a_subscription_is_refused_before_any_call_where_nobody_renews(driver):
    if caps(driver).recurring:
        pytest.skip("route takes recurring payments")
    beans = make_product(kind="subscription", interval="month", interval_count=1, price=1650, vat_rate_bp=900)
    order = make_order(items=[(beans, 1)], shipping_fee=0)
    with pytest.raises(RouteNotAvailable) as refused:
        payment_start(order=order, route=driver.route)
    assert "subscriptions" in refused.value.shopper_message
    assert not PaymentAttempt.objects.filter(order=order).exists()


def test_details_the_route_asks_for_are_required_before_any_call(driver):
    if not caps(driver).customer_fields:
        pytest.skip("route asks for no extra shopper details")
    order = make_order(birthday=None, gender="")
    with pytest.raises(RouteNotAvailable) as refused:
        payment_start(order=order, route=driver.route)
    assert "Change details" in refused.value.shopper_message
    assert not PaymentAttempt.objects.filter(order=order).exists()
