"""A customer token Klarna could not be reached for at checkout is asked for again (payments.services.
customer_tokens): the order is paid at once, and the subscription gets its token on a later beat run while the
checkout's authorization lives, instead of being flagged "cannot renew" for good."""
from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import Subscription
from payments.services.customer_tokens import subscriptions_issue_tokens
from payments.services.payment_start import payment_start
from payments.services.renewals import subscription_charge
from payments.services.subscription_actions import subscription_cancel
from payments.states import Status
from tests.factories import make_order, make_product
from tests.integration.klarna_flow import ROUTE, authorization, authorize, post_token

pytestmark = pytest.mark.django_db(transaction=True)


def token_answers(emulator, token, status, *, when="before", times=20):
    """Klarna answers `status` to the next `times` asks for the customer token of authorization `token`."""
    emulator.control("POST", "/_emulator/faults", json={
        "method": "POST", "path": f"/klarna/payments/v1/authorizations/{token}/customer-token", "kind": "error",
        "status": status, "when": when, "times": times})


def subscribe_with_klarna_unreachable(emulator, client, *, when="before", status=503):
    """Checkout of a subscription, Klarna answering `status` to every ask for the customer token (`when`:
    "before" it made one, or "after", the answer lost). Returns the subscription and the authorization token."""
    beans = make_product(kind="subscription", interval="month", interval_count=1, price=1650, vat_rate_bp=900)
    attempt = payment_start(order=make_order(items=[(beans, 1)], shipping_fee=0), route=ROUTE)
    token = authorize(emulator, attempt)
    token_answers(emulator, token, status, when=when)
    assert post_token(client, attempt, token).status_code == 303
    emulator.control("DELETE", "/_emulator/faults")
    attempt.refresh_from_db()
    assert attempt.status == Status.AUTHORIZED  # the order is paid whatever became of the token
    return Subscription.objects.get(), token


def klarna_tokens(emulator):
    return emulator.control("GET", "/_emulator/klarna/tokens")["tokens"]


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_token_klarna_could_not_be_reached_for_is_issued_on_the_next_run_and_renews(emulator, client, when):
    sub, token = subscribe_with_klarna_unreachable(emulator, client, when=when)
    assert sub.customer_token == "" and sub.token_grant == token and sub.token_grant_until > timezone.now()
    assert "asks again" in sub.events.get(kind="created").message
    # "after": Klarna made the token and only its answer was lost; asked again under the same key it answers
    # with that token, not "already used", and no second token exists.
    assert len(klarna_tokens(emulator)) == (1 if when == "after" else 0)

    assert subscriptions_issue_tokens() == {"issued": 1, "given_up": 0}
    sub.refresh_from_db()
    assert sub.customer_token == authorization(emulator, token)["customer_token_id"]
    assert [t["token_id"] for t in klarna_tokens(emulator)] == [sub.customer_token]
    assert sub.token_grant == "" and sub.token_grant_until is None
    assert "renews by itself" in sub.events.filter(kind="token").get().message
    assert subscriptions_issue_tokens() == {"issued": 0, "given_up": 0}  # asked once

    Subscription.objects.filter(pk=sub.pk).update(next_renewal_at=timezone.now() - timedelta(minutes=1))
    assert subscription_charge(subscription_id=sub.pk) == "paid"


def test_klarna_still_unreachable_keeps_the_grant_for_the_next_run(emulator, client):
    sub, token = subscribe_with_klarna_unreachable(emulator, client)
    token_answers(emulator, token, 503)
    assert subscriptions_issue_tokens() == {"issued": 0, "given_up": 0}
    sub.refresh_from_db()
    assert sub.customer_token == "" and sub.token_grant == token and not sub.events.filter(kind="token").exists()


def test_a_grant_past_the_authorizations_hour_is_given_up_and_the_merchant_told(emulator, client):
    sub, token = subscribe_with_klarna_unreachable(emulator, client)
    Subscription.objects.filter(pk=sub.pk).update(token_grant_until=timezone.now() - timedelta(seconds=1))
    assert subscriptions_issue_tokens() == {"issued": 0, "given_up": 1}
    sub.refresh_from_db()
    assert sub.customer_token == "" and sub.token_grant == ""
    assert "contact the subscriber" in sub.events.get(kind="token").message
    assert klarna_tokens(emulator) == []


def test_a_token_klarna_refuses_is_given_up_at_once(emulator, client):
    sub, token = subscribe_with_klarna_unreachable(emulator, client)
    token_answers(emulator, token, 403, times=1)
    assert subscriptions_issue_tokens() == {"issued": 0, "given_up": 1}
    sub.refresh_from_db()
    assert sub.token_grant == "" and "refused" in sub.events.get(kind="token").message


def test_a_subscription_cancelled_before_the_next_run_gets_no_token(emulator, client):
    sub, token = subscribe_with_klarna_unreachable(emulator, client)
    subscription_cancel(subscription_id=sub.pk, reason="cancel_recurring", source="admin")
    assert subscriptions_issue_tokens() == {"issued": 0, "given_up": 0}
    sub.refresh_from_db()
    assert sub.token_grant == "" and sub.customer_token == "" and klarna_tokens(emulator) == []


def test_a_token_issued_while_its_subscription_was_being_cancelled_is_given_back(emulator, client, monkeypatch):
    from payments.providers.klarna_payments.adapter import KlarnaPaymentsAdapter

    sub, token = subscribe_with_klarna_unreachable(emulator, client)
    issue = KlarnaPaymentsAdapter.issue_customer_token

    def issue_while_the_subscriber_cancels(self, grant, request):
        issued = issue(self, grant, request)
        subscription_cancel(subscription_id=sub.pk, reason="cancel_recurring", source="admin")
        return issued

    monkeypatch.setattr(KlarnaPaymentsAdapter, "issue_customer_token", issue_while_the_subscriber_cancels)
    assert subscriptions_issue_tokens() == {"issued": 0, "given_up": 0}
    sub.refresh_from_db()
    assert sub.status == "canceled" and sub.customer_token == ""
    assert [t["status"] for t in klarna_tokens(emulator)] == ["CANCELLED"]
