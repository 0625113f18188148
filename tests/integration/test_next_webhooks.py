"""29 Next webhooks and reconcile: orders complete even when the shopper never comes back."""
import json

import pytest

from payments.models import PaymentEvent, WebhookDelivery
from payments.providers.next.signatures import sign
from payments.services import order_management as om
from payments.services.inbound import inbound_apply
from payments.services.payment_start import payment_start
from payments.services.reconcile import payments_reconcile
from payments.states import Status
from shop.models import Order
from tests.factories import make_order
from tests.integration.concurrency import at_once

WEBHOOK_PATH = "/payments/webhooks/next/"


@pytest.fixture
def hooked(emulator, live_server):
    """The emulator delivering signed webhooks to the live shop, synchronously."""
    emulator.control("PATCH", "/_emulator/config",
                     json={"next": {"webhook_target": live_server.url + WEBHOOK_PATH, "webhooks_sync": True}})
    return emulator


def start():
    return payment_start(order=make_order(), route="next")


def deliveries(**filters):
    return WebhookDelivery.objects.filter(provider="next", **filters)


@pytest.mark.django_db(transaction=True)
def test_webhook_completes_an_order_whose_shopper_never_returned(hooked):
    attempt = start()
    done = hooked.complete_checkout(attempt.redirect_url, "approve")
    # No return POST at all: the webhooks alone settle it.
    attempt.refresh_from_db()
    assert attempt.status == Status.CAPTURED
    assert attempt.provider_reference == done["order_number"]
    assert Order.objects.get(pk=attempt.order_id).status == Order.Status.PAID
    assert deliveries(event_type="order.created", state="applied").count() == 1
    assert deliveries(event_type="transaction.created", state="applied").count() == 1
    assert PaymentEvent.objects.filter(attempt=attempt, to_status=Status.CAPTURED,
                                       kind="transition").count() == 1


@pytest.mark.django_db(transaction=True)
def test_duplicated_webhooks_apply_once(hooked):
    hooked.control("POST", "/_emulator/webhooks/mode", json={"mode": "duplicate"})
    attempt = start()
    hooked.complete_checkout(attempt.redirect_url, "approve")
    assert deliveries(signature_valid=True).count() == 2  # two distinct events, each stored once
    sent = hooked.control("GET", "/_emulator/webhooks")["deliveries"]
    assert len(sent) >= 4
    attempt.refresh_from_db()
    assert attempt.status == Status.CAPTURED


@pytest.mark.django_db(transaction=True)
def test_dropped_webhooks_and_no_return_are_settled_by_reconcile(hooked):
    hooked.control("POST", "/_emulator/webhooks/mode", json={"mode": "drop"})
    attempt = start()
    done = hooked.complete_checkout(attempt.redirect_url, "approve")
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING
    report = payments_reconcile(older_than=0)
    assert report.settled == 1
    attempt.refresh_from_db()
    assert attempt.status == Status.CAPTURED
    assert attempt.provider_reference == done["order_number"]


@pytest.mark.django_db(transaction=True)
def test_reconcile_leaves_unpaid_attempts_waiting_then_expires_them(emulator, settings):
    attempt = start()
    assert payments_reconcile(older_than=0).waiting == 1
    settings.PAYMENT_EXPIRE_AFTER = 0
    assert payments_reconcile(older_than=0).expired == 1
    attempt.refresh_from_db()
    assert attempt.status == Status.EXPIRED


@pytest.mark.django_db
def test_bad_signature_is_stored_and_rejected(emulator, client):
    attempt = start()
    body = json.dumps({"event_id": "evt-forged", "event_type": "order.created", "object": "order",
                       "data": {"number": "1", "payment_status": "paid", "total_incl_tax": "54.95",
                                "currency": "EUR", "metadata": {"shop_reference": attempt.reference}}})
    response = client.post(WEBHOOK_PATH, body, content_type="application/json",
                           headers={"X-29Next-Signature": sign("wrong-secret", body.encode())})
    assert response.status_code == 401
    stored = deliveries().get()
    assert stored.state == "rejected" and not stored.signature_valid and stored.body == body
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING
    # The admin "re-apply" refuses unverified deliveries too.
    assert inbound_apply(delivery_id=stored.pk, force=True) == "rejected"


@pytest.mark.django_db
def test_missing_signature_is_rejected(client):
    response = client.post(WEBHOOK_PATH, b'{"event_id": "x"}', content_type="application/json")
    assert response.status_code == 401


@pytest.mark.django_db
def test_signed_garbage_is_a_400(client, settings):
    body = b"not json"
    response = client.post(WEBHOOK_PATH, body, content_type="application/json",
                           headers={"X-29Next-Signature": sign(settings.NEXT_WEBHOOK_SECRET, body)})
    assert response.status_code == 400


@pytest.mark.django_db
def test_signed_webhook_for_unknown_order_is_stored_as_unmatched(client, settings):
    body = json.dumps({"event_id": "evt-1", "event_type": "order.created", "object": "order",
                       "data": {"number": "424242", "payment_status": "paid", "total_incl_tax": "1.00",
                                "currency": "EUR", "metadata": {}, "lines": []}}).encode()
    response = client.post(WEBHOOK_PATH, body, content_type="application/json",
                           headers={"X-29Next-Signature": sign(settings.NEXT_WEBHOOK_SECRET, body)})
    assert response.status_code == 200
    assert deliveries().get().state == "unmatched"


@pytest.mark.django_db
def test_signed_webhook_with_wrong_amount_is_not_applied(emulator, client, settings):
    attempt = start()
    body = json.dumps({"event_id": "evt-2", "event_type": "order.created", "object": "order",
                       "data": {"number": "424243", "payment_status": "paid", "total_incl_tax": "0.01",
                                "currency": "EUR", "metadata": {"shop_reference": attempt.reference}, "lines": []}}).encode()
    response = client.post(WEBHOOK_PATH, body, content_type="application/json",
                           headers={"X-29Next-Signature": sign(settings.NEXT_WEBHOOK_SECRET, body)})
    assert response.status_code == 200  # signed and stored: redelivering it would not help
    assert deliveries().get().state == "mismatch"
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING


@pytest.mark.django_db(transaction=True)
def test_return_racing_webhook_gives_exactly_one_paid_order(emulator, postgres, live_server):
    """The browser's return POST and the webhook arrive at the same moment, on two connections."""
    from django.test import Client

    attempt = start()
    emulator.control("POST", "/_emulator/webhooks/mode", json={"mode": "drop"})
    done = emulator.complete_checkout(attempt.redirect_url, "approve")
    order = emulator.control("GET", "/_emulator/next/orders")["orders"][0]
    envelope = {"api_version": "2024-04-01", "object": "order", "data": order, "event_id": "evt-race",
                "event_type": "order.created", "webhook": {"id": 1}}
    body = json.dumps(envelope).encode()
    from django.conf import settings

    signature = sign(settings.NEXT_WEBHOOK_SECRET, body)
    path = "/" + done["return_url"].split("/", 3)[3]

    def via_return():
        return Client().post(path, {"response": done["response"]}).status_code

    def via_webhook():
        return Client().post(WEBHOOK_PATH, body, content_type="application/json",
                             headers={"X-29Next-Signature": signature}).status_code

    results = at_once(via_return, via_webhook, via_return, via_webhook)
    assert sorted(results) == [200, 200, 303, 303]
    attempt.refresh_from_db()
    assert attempt.status == Status.CAPTURED
    assert PaymentEvent.objects.filter(attempt=attempt, kind="transition",
                                       to_status=Status.CAPTURED).count() == 1
    assert deliveries(event_id="evt-race").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("lines", [None, {"product_id": 1}, "x", [{"product_id": "abc", "quantity": "x"}]])
def test_signed_order_without_readable_lines_never_captures(emulator, client, settings, lines):
    attempt = start()
    data = {"number": "424244", "payment_status": "paid", "total_incl_tax": f"{attempt.amount / 100:.2f}",
            "currency": "EUR", "metadata": {"shop_reference": attempt.reference}}
    if lines is not None:
        data["lines"] = lines
    body = json.dumps({"event_id": f"evt-lines-{lines!s:.10}", "event_type": "order.created", "object": "order",
                       "data": data}).encode()
    response = client.post(WEBHOOK_PATH, body, content_type="application/json",
                           headers={"X-29Next-Signature": sign(settings.NEXT_WEBHOOK_SECRET, body)})
    assert response.status_code == 400 and deliveries().get().state == "rejected"
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("store,act,final", [
    ("paid", lambda a: om.payment_refund(attempt_id=a.pk, amount=500), Status.PARTIALLY_REFUNDED),
    ("authorized", lambda a: om.payment_capture(attempt_id=a.pk), Status.CAPTURED),
    ("authorized", lambda a: om.payment_cancel(attempt_id=a.pk), Status.CANCELLED),
], ids=["refund", "capture", "cancel"])
def test_webhooks_of_an_order_management_action_agree_with_it(hooked, store, act, final):
    hooked.control("PATCH", "/_emulator/config", json={"next": {"klarna_payment_status": store}})
    attempt = start()
    hooked.complete_checkout(attempt.redirect_url, "approve")
    attempt.refresh_from_db()
    before = deliveries().count()
    act(attempt)
    after = deliveries().order_by("id")[before:]
    assert [d.event_type for d in after] == ["order.updated", "transaction.created"]
    assert {d.state for d in after} <= {"applied", "ignored"}, [(d.event_type, d.state, d.error) for d in after]
    attempt.refresh_from_db()
    assert attempt.status == final
