"""Klarna Payment Authorize v2 webhooks against the emulator: signed (and by which key), deduplicated,
finalizing once even when the shopper's return races them, and refused when they are not Klarna's."""
import json
from urllib.parse import urlparse

import pytest
from django.conf import settings

from payments.models import PaymentEvent, WebhookDelivery
from payments.providers.klarna_authorize.signatures import sign
from payments.providers.registry import get_adapter
from payments.states import Status
from tests.integration.klarna_authorize_flow import (
    CONTROL,
    ROUTE,
    WEBHOOK_PATH,
    authorize_calls,
    completed_delivery,
    journey,
    post_webhook,
    step_up,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_completion_webhook_delivered_twice_finalizes_once(klarna, receiver, client):
    attempt = step_up(klarna)
    journey(klarna, attempt)
    headers, body = completed_delivery(receiver)
    first = post_webhook(client, body, headers["klarna-signature"])
    again = post_webhook(client, body, headers["klarna-signature"])
    assert first.status_code == 200 and first.json()["state"] == "applied"
    assert again.status_code == 200 and again.json()["state"] == "duplicate"
    attempt.refresh_from_db()
    assert attempt.status == Status.AUTHORIZED
    assert len(authorize_calls(klarna, finalizing=True)) == 1
    assert PaymentEvent.objects.filter(attempt=attempt, kind="transition", to_status=Status.AUTHORIZED).count() == 1
    assert len(klarna.control("GET", f"{CONTROL}/transactions")["transactions"]) == 1


def test_a_return_racing_the_finalizing_webhook_still_lands_on_the_confirmation(klarna, receiver, client,
                                                                               monkeypatch):
    """Probe C finding 3: the completion webhook finalizes while the shopper's return waits for the locks.
    The return finds the payment finished already and must answer from the attempt as it now is (paid: the
    confirmation page, which empties the cart), not as it read it (pending: the order's status page)."""
    from django.test import Client

    attempt = step_up(klarna)
    done = journey(klarna, attempt)
    headers, body = completed_delivery(receiver)
    adapter = get_adapter(ROUTE)
    resolve = adapter.resolve

    def webhook_first(message, request):
        resolution = resolve(message, request)
        if message.bound is not None:  # the return, after reading the request: the webhook wins the lock
            assert post_webhook(Client(), body, headers["klarna-signature"]).json()["state"] == "applied"
        return resolution

    monkeypatch.setattr(adapter, "resolve", webhook_first)
    response = client.get(urlparse(done["return_url"]).path)
    assert response.status_code == 303 and "/thanks/" in response["Location"]
    attempt.refresh_from_db()
    assert attempt.status == Status.AUTHORIZED and len(authorize_calls(klarna, finalizing=True)) == 1


def test_a_webhook_is_checked_with_the_key_its_key_id_names_while_keys_rotate(klarna, receiver, client, settings):
    """Notes §7: several signing keys may be active (rotation); Klarna-Signing-Key-Id says which signed."""
    settings.KLARNA_AUTHORIZE_SIGNING_KEYS = {"key-old": "old-signing-key", "key-new": "new-signing-key"}
    attempt = step_up(klarna)
    journey(klarna, attempt)
    _, body = completed_delivery(receiver)

    def deliver(key, key_id):
        return client.post(WEBHOOK_PATH, body, content_type="application/json",
                           headers={"Klarna-Signature": sign(key, body), "Klarna-Signing-Key-Id": key_id})

    assert deliver("new-signing-key", "key-old").status_code == 401  # signed with another key than named
    assert deliver("new-signing-key", "key-unknown").status_code == 401  # an unknown id: the default key
    assert deliver("new-signing-key", "key-new").status_code == 200
    attempt.refresh_from_db()
    assert attempt.status == Status.AUTHORIZED


def test_a_webhook_with_a_bad_signature_is_refused_and_changes_nothing(klarna, receiver, client):
    attempt = step_up(klarna)
    journey(klarna, attempt)
    headers, body = completed_delivery(receiver)
    response = post_webhook(client, body, sign("someone-elses-key", body))
    assert response.status_code == 401
    tampered = body.replace(b"COMPLETED", b"EXPIRED")
    assert post_webhook(client, tampered, headers["klarna-signature"]).status_code == 401
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING and authorize_calls(klarna, finalizing=True) == []
    assert not WebhookDelivery.objects.filter(provider=ROUTE, signature_valid=True).exists()


def test_the_expiry_webhook_closes_the_attempt_and_news_only_events_change_nothing(klarna, receiver, client):
    attempt = step_up(klarna)
    klarna.advance_clock(seconds=3 * 3600 + 5)  # the payment request's default lifetime is 3 hours
    answers = {}
    for headers, body in receiver.deliveries:
        event_type = json.loads(body)["metadata"]["event_type"]
        answers[event_type] = post_webhook(client, body, headers["klarna-signature"]).json()["state"]
    assert answers == {"payment.request.state-change.submitted": "ignored",
                       "payment.request.state-change.expired": "applied"}
    attempt.refresh_from_db()
    assert attempt.status == Status.EXPIRED


@pytest.mark.parametrize("body", [b"[]", b"{}", b'{"metadata": {"event_id": 7}, "payload": {}}', b"\xff\xfe",
                                  b"[" * 50_000])
def test_a_signed_body_that_is_not_a_klarna_event_is_a_400(klarna, client, body):
    response = post_webhook(client, body, sign(settings.KLARNA_AUTHORIZE_SIGNING_KEY, body))
    assert response.status_code == 400
