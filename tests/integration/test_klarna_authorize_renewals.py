"""Klarna v2 subscriptions: the customer token from checkout, renewals as partner-initiated authorizes
(one per cycle, the row's key), declines to dunning, a revoked token stops the subscription."""
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import Subscription
from payments.services.renewals import subscription_charge, subscriptions_charge_due
from payments.services.subscription_actions import subscription_cancel
from payments.states import Status
from tests.factories import make_order, make_product
from tests.integration.klarna_authorize_flow import CONTROL, ROUTE, authorize_calls, pay_with_step_up, use_route

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def klarna(emulator, settings):
    use_route(settings)
    return emulator


def subscribe(emulator, client):
    beans = make_product(kind="subscription", interval="month", interval_count=1, price=1650, vat_rate_bp=900)
    attempt = pay_with_step_up(emulator, client, make_order(items=[(beans, 1)], shipping_fee=0))
    assert attempt.status == Status.AUTHORIZED
    sub = Subscription.objects.get()
    Subscription.objects.filter(pk=sub.pk).update(next_renewal_at=timezone.now() - timedelta(minutes=1))
    return sub


def token_charges(emulator):
    return [c for c in authorize_calls(emulator) if c["headers"].get("klarna-customer-token")]


def test_a_due_renewal_is_one_partner_initiated_authorize_with_the_rows_key(klarna, client):
    sub = subscribe(klarna, client)
    assert sub.route == ROUTE and sub.customer_token.startswith("krn:partner:")
    assert subscriptions_charge_due() == [sub.pk]
    assert subscription_charge(subscription_id=sub.pk) == "paid"
    assert subscription_charge(subscription_id=sub.pk) == "skipped"
    charge = sub.charges.get(billing_cycle=1)
    assert charge.outcome == "paid" and charge.attempt.status == Status.AUTHORIZED
    [call] = token_charges(klarna)
    body = json.loads(call["body"])
    assert call["headers"]["klarna-customer-token"] == sub.customer_token
    assert "step_up_config" not in body and body["request_payment_transaction"]["amount"] == 1650
    assert body["request_payment_transaction"]["payment_transaction_reference"] == charge.attempt.reference


def test_a_renewal_whose_answer_was_lost_is_retried_under_the_same_key_and_charged_once(klarna, client):
    sub = subscribe(klarna, client)
    before = len(klarna.control("GET", f"{CONTROL}/transactions")["transactions"])
    klarna.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/klarna-global/v2/",
                                                      "kind": "error", "status": 503, "when": "after", "times": 1})
    assert subscription_charge(subscription_id=sub.pk) == "paid"
    assert len(klarna.control("GET", f"{CONTROL}/transactions")["transactions"]) == before + 1
    assert len({c["headers"]["klarna-idempotency-key"] for c in token_charges(klarna)}) == 1


def test_a_declined_renewal_goes_past_due_and_the_retry_recovers(klarna, client):
    sub = subscribe(klarna, client)
    klarna.control("POST", f"{CONTROL}/tokens/{sub.customer_token}/scenario", json={"charge": "decline"})
    assert subscription_charge(subscription_id=sub.pk) == "declined"
    sub.refresh_from_db()
    assert sub.status == "past_due"
    assert subscription_charge(subscription_id=sub.pk) == "paid"
    sub.refresh_from_db()
    assert sub.status == "active"


def test_a_revoked_token_stops_the_subscription(klarna, client):
    sub = subscribe(klarna, client)
    klarna.control("POST", f"{CONTROL}/tokens/{sub.customer_token}/scenario", json={"status": "REVOKED"})
    assert subscription_charge(subscription_id=sub.pk) == "token_gone"
    sub.refresh_from_db()
    assert sub.status == "canceled"


def test_the_shopper_cancelling_retires_the_token_without_a_provider_call(klarna, client):
    sub = subscribe(klarna, client)
    subscription_cancel(subscription_id=sub.pk, reason="cancel_recurring", source="shopper")
    sub.refresh_from_db()
    assert sub.status == "canceled" and subscription_charge(subscription_id=sub.pk) == "skipped"



def test_a_renewal_taken_while_the_subscriber_cancelled_is_flagged_to_the_merchant(klarna, client, monkeypatch):
    """Stop 26's open race, on a route the shop cannot undo charges on (the v2 API has no cancel or refund):
    a charge on its way when the subscriber cancelled stands. The subscriber gets its receipt, so they know,
    and the merchant is told in both timelines to refund it at the acquirer."""
    from shop.models import EmailNotification
    from tests.integration.renewal_flow import after_the_charge

    sub = subscribe(klarna, client)
    after_the_charge(monkeypatch, sub, lambda: subscription_cancel(subscription_id=sub.pk, reason="cancel_recurring",
                                                                   source="shopper"))
    assert subscription_charge(subscription_id=sub.pk) == "paid"
    charge = sub.charges.select_related("attempt").get(billing_cycle=1)
    assert charge.attempt.status == Status.AUTHORIZED
    [note] = charge.attempt.events.filter(dedupe_key="renewal:void-after-cancel:manual")
    assert "refund it at the provider" in note.message
    sub.refresh_from_db()
    assert sub.status == "canceled" and sub.events.filter(message__contains="refund it at the provider").exists()
    assert EmailNotification.objects.filter(kind="renewal_paid").count() == 1
