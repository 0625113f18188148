"""Cancels of the subscriptions that renew on one Klarna customer token, racing: the last one gives the token
back. The race runs on PostgreSQL, two threads pinned to the interleaving that went wrong."""
import threading
import time

import pytest
from django.db import transaction

from payments.models import Subscription
from payments.services.subscription_actions import subscription_cancel
from tests.factories import make_order, make_product
from tests.integration.klarna_flow import pay_with_klarna
from tests.integration.test_order_status_races import in_thread

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_cancels_at_once_of_a_tokens_last_subscriptions_give_the_token_back(emulator, client, postgres):
    """A monthly coffee and a quarterly tea box renew on one token. Two cancels ran at once, each in its
    caller's transaction (as operation_settle's, which stops a withdrawn order's subscriptions): each saw the
    other still active, kept the token, and the token stayed live with no subscription on it."""
    beans = make_product(name="Coffee Beans", kind="subscription", interval="month", interval_count=1, price=1650)
    tea = make_product(name="Tea Box", kind="subscription", interval="month", interval_count=3, price=3450)
    pay_with_klarna(emulator, client, make_order(items=[(beans, 1), (tea, 1)], shipping_fee=0))
    monthly, quarterly = Subscription.objects.order_by("interval_count")
    assert monthly.customer_token == quarterly.customer_token
    holding, release, results = threading.Event(), threading.Event(), {}

    def first():
        with transaction.atomic():
            subscription_cancel(subscription_id=monthly.pk, reason="cancel_recurring", source="shopper")
            holding.set()
            release.wait(10)

    def second():
        with transaction.atomic():
            subscription_cancel(subscription_id=quarterly.pk, reason="cancel_recurring", source="admin")

    one = in_thread(first, results, "first")
    holding.wait(10)
    two = in_thread(second, results, "second")
    time.sleep(0.7)  # with the fix, the second cancel now waits for the first one's locks
    release.set()
    one.join(30)
    two.join(30)
    assert not [r for r in results.values() if isinstance(r, BaseException)], results
    assert set(Subscription.objects.values_list("status", flat=True)) == {Subscription.Status.CANCELED}
    tokens = emulator.control("GET", "/_emulator/klarna/tokens")["tokens"]
    assert [t["status"] for t in tokens if t["token_id"] == monthly.customer_token] == ["CANCELLED"]


def test_two_cancels_in_their_callers_transactions_never_deadlock(emulator, client, postgres, monkeypatch):
    """Each cancel held its own subscription's row (taken by the confirmation step, kept by its caller's
    transaction) and then waited for the sibling's, which the other cancel held the same way: PostgreSQL
    aborted one of them. Pinned: the first cancel stops between its confirmation and the cancel itself."""
    from payments.services.renewal_strategies import ShopRun

    beans = make_product(name="Coffee Beans", kind="subscription", interval="month", interval_count=1, price=1650)
    tea = make_product(name="Tea Box", kind="subscription", interval="month", interval_count=3, price=3450)
    pay_with_klarna(emulator, client, make_order(items=[(beans, 1), (tea, 1)], shipping_fee=0))
    monthly, quarterly = Subscription.objects.order_by("interval_count")
    holding, release, results = threading.Event(), threading.Event(), {}
    cancel = ShopRun.cancel

    def first_pauses(self, sub, **kwargs):
        if sub.pk == monthly.pk:
            holding.set()
            release.wait(10)
        return cancel(self, sub, **kwargs)

    monkeypatch.setattr(ShopRun, "cancel", first_pauses)

    def cancelling(sub):
        def work():
            with transaction.atomic():
                return subscription_cancel(subscription_id=sub.pk, reason="cancel_recurring", source="admin").status
        return work

    one = in_thread(cancelling(monthly), results, "first")
    holding.wait(10)
    two = in_thread(cancelling(quarterly), results, "second")
    time.sleep(0.7)  # the second cancel now waits for the first one's locks
    release.set()
    one.join(30)
    two.join(30)
    assert results == {"first": Subscription.Status.CANCELED, "second": Subscription.Status.CANCELED}, results
    tokens = emulator.control("GET", "/_emulator/klarna/tokens")["tokens"]
    assert [t["status"] for t in tokens if t["token_id"] == monthly.customer_token] == ["CANCELLED"]
