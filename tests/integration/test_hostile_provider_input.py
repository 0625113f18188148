"""Messages no provider should send, or that only a forger sends: each answered with a 4xx and its reason,
stored for the merchant to see, never a 500 (probe A of the shopper side, defects 4-8, 10 and 11). On
PostgreSQL too (CI): a NUL fails only there."""
import json
import time

import pytest
from django.urls import reverse

from payments.models import PaymentAttempt, Subscription, SubscriptionEvent, WebhookDelivery
from payments.providers.klarna_authorize.signatures import SIGNATURE_HEADER
from payments.providers.multisafepay.signatures import sign as msp_sign
from payments.providers.next.signatures import sign as next_sign
from payments.services.payment_start import return_token
from payments.states import Status, transition
from shop.links import subscription_url
from tests.factories import make_order

pytestmark = pytest.mark.django_db


def test_a_klarna_v2_signature_header_in_any_bytes_is_only_a_bad_signature(client):
    for header in ("\xe9", "é" * 64, "\x00", "ab\udcff"):
        response = client.post("/payments/webhooks/klarna_authorize/", b"{}", content_type="application/json",
                               headers={SIGNATURE_HEADER: header})
        assert response.status_code == 401, header
        # A plain str, as every WSGI server insists (the development server refused the enum member: a 500).
        assert type(response.headers["X-Inbound-State"]) is str
    assert WebhookDelivery.objects.filter(provider="klarna_authorize", state="rejected").count() == 4


def test_a_signed_multisafepay_notification_nested_too_deep_is_refused_with_its_reason(client, settings):
    body = b"[" * 10_000 + b"]" * 10_000
    response = client.post("/payments/webhooks/multisafepay/?transactionid=SO-1&timestamp=1", body,
                           content_type="application/json",
                           headers={"Auth": msp_sign(settings.MULTISAFEPAY_API_KEY, body, int(time.time()))})
    assert 400 <= response.status_code < 500
    assert WebhookDelivery.objects.get(provider="multisafepay").state in ("rejected", "unmatched")


@pytest.mark.parametrize("subscription", [
    {"id": 7, "billing_cycle": float("inf")},
    {"id": 7, "billing_cycle": 1.5},
    {"id": 7, "billing_cycle": 10**30},
    {"id": 7, "billing_cycle": True},
    {"id": "1\x00", "billing_cycle": 1},
    {"id": {"nested": 1}, "billing_cycle": 1},
])
def test_a_signed_29_next_transaction_with_an_impossible_subscription_is_a_400(client, settings, subscription):
    body = json.dumps({"event_id": "evt-x", "event_type": "transaction.created", "object": "transaction",
                       "data": {"status": "succeeded", "subscription": subscription}}).encode()
    response = client.post("/payments/webhooks/next/", body, content_type="application/json",
                           headers={"X-29Next-Signature": next_sign(settings.NEXT_WEBHOOK_SECRET, body)})
    assert response.status_code == 400
    assert response.json()["state"] == "rejected"


def test_a_signed_29_next_subscription_event_with_a_nul_in_its_id_is_a_400(client, settings):
    body = json.dumps({"event_id": "evt-y", "event_type": "subscription.updated", "object": "subscription",
                       "data": {"id": "1\x00"}}).encode()
    response = client.post("/payments/webhooks/next/", body, content_type="application/json",
                           headers={"X-29Next-Signature": next_sign(settings.NEXT_WEBHOOK_SECRET, body)})
    assert response.status_code == 400


def test_a_provider_payload_with_nul_is_kept_without_it():
    order = make_order()
    sub = Subscription.objects.create(route="next", provider_id="77", order=order, email=order.email,
                                      interval="month", interval_count=1, amount=1650, currency="EUR")
    event = SubscriptionEvent.objects.create(subscription=sub, kind="sync", source="webhook",
                                             payload={"cancel\x00": ["a\x00b", {"c": "\x00"}], "n": 1})
    event.refresh_from_db()
    assert event.payload == {"cancel\ufffd": ["a\ufffdb", {"c": "\ufffd"}], "n": 1}


def test_a_cancel_message_with_control_characters_is_refused_before_the_provider_hears_of_it(client):
    order = make_order()
    sub = Subscription.objects.create(route="klarna_payments", provider_id="tok-1", order=order, email=order.email,
                                      interval="month", interval_count=1, amount=1650, currency="EUR")
    url = subscription_url(sub)
    page = client.post(url + "cancel/", {"reason": "other", "message": "a\x00b"}, follow=True)
    assert page.status_code == 200
    assert "characters we cannot store" in page.content.decode()
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.ACTIVE  # nothing was sent: the provider (a closed port) never asked


def test_a_second_address_line_with_control_or_bidi_characters_is_a_form_error(client):
    from tests.factories import ADDRESS, make_product

    product = make_product()
    for junk in ("a\x01b", "\x7f", "Apt \u202e3"):
        client.post(reverse("shop:cart_add"), {"product_id": product.pk, "quantity": 1})
        data = {**{k: v for k, v in ADDRESS.items() if isinstance(v, str)}, "shipping_line2": junk,
                "billing_same_as_shipping": "on", "route": "next"}
        page = client.post(reverse("shop:checkout"), data)
        assert page.status_code == 200, junk
        assert "Remove the special characters from this address line." in page.content.decode()
    assert not PaymentAttempt.objects.exists()


def test_a_return_with_too_many_fields_is_stored_and_answered_with_a_reason(client, settings):
    settings.PAYMENT_RATE_LIMITS = {"return": (10**6, 60), "provider": (10**6, 60)}
    order = make_order()
    attempt = PaymentAttempt.objects.create(order=order, route="next", amount=order.total, currency="EUR")
    transition(attempt.pk, Status.PENDING, source="test")
    url = reverse("payments:return", args=["next", return_token(attempt)])
    body = "&".join(f"f{i}=x" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    page = client.post(url, body, content_type="application/x-www-form-urlencoded")
    assert page.status_code == 400 and "payment" in page.content.decode().lower()
    assert WebhookDelivery.objects.get(attempt=attempt).state == "rejected"
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING


def test_a_webhook_whose_multipart_body_cannot_be_parsed_is_stored_and_rejected(client):
    response = client.post("/payments/webhooks/next/", b"x", content_type="multipart/form-data")
    assert response.status_code == 401  # unsigned: judged on the raw body like any other
    assert response.json()["state"] == "rejected"
    assert WebhookDelivery.objects.filter(provider="next").count() == 1
