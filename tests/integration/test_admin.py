"""The merchant's admin: pages render, the timeline shows payloads safely, re-apply works."""
import json

import pytest
from django.urls import reverse

from payments.models import PaymentAttempt, WebhookDelivery
from payments.states import Status, transition
from tests.factories import make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant(admin_client):
    return admin_client


def test_admin_lists_and_pages_render(merchant):
    order = make_order()
    attempt = PaymentAttempt.objects.create(order=order, route="next", amount=order.total, currency="EUR")
    transition(attempt.pk, Status.PENDING, source="test", payload={"note": "<script>alert(1)</script>"})
    for url in [
        reverse("admin:shop_product_changelist"),
        reverse("admin:shop_order_changelist") + "?q=" + order.number,
        reverse("admin:shop_order_change", args=[order.pk]),
        reverse("admin:payments_paymentattempt_changelist") + "?status=pending",
        reverse("admin:payments_paymentattempt_change", args=[attempt.pk]),
        reverse("admin:payments_webhookdelivery_changelist"),
    ]:
        response = merchant.get(url)
        assert response.status_code == 200, url
    page = merchant.get(reverse("admin:payments_paymentattempt_change", args=[attempt.pk])).content
    assert b"<script>alert(1)</script>" not in page
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_payment_attempts_cannot_be_edited_in_admin(merchant):
    order = make_order()
    attempt = PaymentAttempt.objects.create(order=order, route="next", amount=order.total, currency="EUR")
    url = reverse("admin:payments_paymentattempt_change", args=[attempt.pk])
    merchant.post(url, {"status": "captured"})
    attempt.refresh_from_db()
    assert attempt.status == Status.CREATED


def test_reapply_action_applies_a_failed_delivery(merchant, settings):
    order = make_order()
    attempt = PaymentAttempt.objects.create(order=order, route="next", amount=order.total, currency="EUR")
    transition(attempt.pk, Status.PENDING, source="test")
    line = order.lines.get()
    body = json.dumps({"event_id": "evt-9", "event_type": "order.created", "object": "order", "data": {
        "number": "100777", "payment_status": "paid", "currency": "EUR",
        "total_incl_tax": f"{order.total // 100}.{order.total % 100:02d}",
        "metadata": {"shop_reference": attempt.reference},
        "lines": [{"product_id": line.next_product_id, "quantity": line.quantity}]}})
    delivery = WebhookDelivery.objects.create(provider="next", event_id="evt-9", event_type="order.created",
                                              signature_valid=True, state="failed", body=body)
    response = merchant.post(reverse("admin:payments_webhookdelivery_changelist"),
                             {"action": "reapply", "_selected_action": [delivery.pk]}, follow=True)
    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.state == "applied"
    attempt.refresh_from_db()
    assert attempt.status == Status.CAPTURED


def test_admin_states_billing_frequency_in_words(merchant):
    """Product list, order lines and subscription list all use the shared formatter (issue 8, item 2)."""
    from payments.models import Subscription
    from tests.factories import make_product

    tea = make_product(name="Tea box", kind="subscription", interval="month", interval_count=3)
    order = make_order(items=[(tea, 1)])
    Subscription.objects.create(route="klarna_payments", provider_id="sub-1", order=order, email=order.email,
                                interval="week", interval_count=2, amount=2500, currency="EUR")
    products = merchant.get(reverse("admin:shop_product_changelist")).content.decode()
    assert "every 3 months" in products
    lines = merchant.get(reverse("admin:shop_order_change", args=[order.pk])).content.decode()
    assert "every 3 months" in lines
    subscriptions = merchant.get(reverse("admin:payments_subscription_changelist")).content.decode()
    assert "every 2 weeks" in subscriptions
