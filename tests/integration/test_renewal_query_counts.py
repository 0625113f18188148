"""Shop-run renewals by the batch (issue 14, goal 5): the statements a charge costs, and the guarantees
the batch path keeps: one cycle opened once, one charge per cycle under the row's key, a replay after a
crash, declines and retries under the next key, cancelled subscriptions left alone.

Statements are counted the way the database sees them: every statement Django executes (savepoints
included) plus BEGIN and COMMIT (or ROLLBACK) for each transaction, which Django does not log. The
email's send is the mail worker's job (shop.tasks.send_email), so its task is captured, not run.
"""
import threading
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone

from payments import tasks
from payments.models import PaymentAttempt, PaymentEvent, Subscription, SubscriptionCharge, SubscriptionEvent
from payments.services.renewal_open import RENEWAL_REQUEUE_AFTER, renewals_open_due
from payments.services.renewals import renewal_charge, subscription_charge
from payments.services.subscription_actions import subscription_cancel
from payments.states import Status
from shop import tasks as shop_tasks
from shop.models import EmailNotification, Order
from tests.factories import make_order, make_product
from tests.integration.concurrency import at_once
from tests.integration.klarna_flow import pay_with_klarna

pytestmark = pytest.mark.django_db(transaction=True)
SUBSCRIPTIONS = 20


class Statements:
    """Counts what the default connection sends: executed statements, plus BEGIN and COMMIT/ROLLBACK of
    each transaction Django commits or rolls back (in autocommit a lone statement is its own transaction
    and sends neither)."""

    def __init__(self, monkeypatch):
        self.count = 0
        self.sql = []
        connection = connections["default"]
        for name in ("commit", "rollback"):
            original = getattr(connection, name)
            monkeypatch.setattr(connection, name, self._ending(original, name))

    def _ending(self, original, name):
        def end():
            if self.active and not connections["default"].get_autocommit():
                self.count += 2
                self.sql += ["BEGIN", name.upper()]
            return original()
        return end

    active = False

    def _execute(self, execute, sql, params, many, context):
        if not sql.startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE: counted with its COMMIT
            self.count += 1
            self.sql.append(sql)
        return execute(sql, params, many, context)

    def __enter__(self):
        self.active = True
        self._wrapper = connections["default"].execute_wrapper(self._execute)
        self._wrapper.__enter__()
        return self

    def __exit__(self, *exc):
        self.active = False
        self._wrapper.__exit__(*exc)


@pytest.fixture
def queued(monkeypatch):
    """The charge and email tasks the code under test queues, captured instead of run."""
    captured = {"charges": [], "chunks": [], "legacy": [], "emails": [], "email_batches": [], "retries": []}

    def chunk(charge_ids):
        captured["chunks"].append(list(charge_ids))
        captured["charges"].extend(charge_ids)

    monkeypatch.setattr(tasks.charge_renewals, "delay", chunk)
    monkeypatch.setattr(tasks.charge_renewal, "apply_async",
                        lambda args, countdown: captured["retries"].append((*args, countdown)))
    monkeypatch.setattr(tasks.charge_subscription, "delay", captured["legacy"].append)
    monkeypatch.setattr(shop_tasks.send_email, "delay", captured["emails"].append)
    monkeypatch.setattr(shop_tasks.send_emails, "delay", captured["email_batches"].append)
    return captured


def subscribers(emulator, client, count=SUBSCRIPTIONS):
    """One Klarna checkout with a subscription line, then `count - 1` more subscribers on the same token
    (the emulator charges a token as often as asked), all due a minute ago."""
    beans = make_product(kind="subscription", interval="month", interval_count=1, price=1650, vat_rate_bp=900)
    pay_with_klarna(emulator, client, make_order(items=[(beans, 1)], shipping_fee=0))
    first = Subscription.objects.get()
    Subscription.objects.bulk_create(
        Subscription(route=first.route, provider_id=f"{first.provider_id}-{n}", order_id=first.order_id,
                     email=f"subscriber{n}@example.com", interval=first.interval, interval_count=1,
                     amount=first.amount, currency=first.currency, customer_token=first.customer_token)
        for n in range(1, count))
    Subscription.objects.update(next_renewal_at=timezone.now() - timedelta(minutes=1))
    return list(Subscription.objects.order_by("pk"))


def token_orders(emulator):
    return [r for r in emulator.control("GET", "/_emulator/requests?provider=klarna")["requests"]
            if r["method"] == "POST" and r["path"].endswith("/order") and "/customer-token/" in r["path"]]


def renewal_keys(emulator):
    return [r["headers"].get("klarna-idempotency-key") for r in token_orders(emulator)]


def beat_opens_all(emulator, client, queued, monkeypatch):
    """SUBSCRIPTIONS subscribers due, and the beat that opens their cycles: (subscriptions, its statements)."""
    subs = subscribers(emulator, client)
    del queued["emails"][:]  # the checkout's confirmation
    counter = Statements(monkeypatch)
    with counter:
        assert tasks.charge_due_subscriptions() == SUBSCRIPTIONS
    return subs, counter.count


def test_a_charge_costs_at_most_twelve_statements_beat_included(emulator, client, queued, monkeypatch):
    subs, beat = beat_opens_all(emulator, client, queued, monkeypatch)
    assert len(queued["charges"]) == SUBSCRIPTIONS and not queued["legacy"]
    charging = Statements(monkeypatch)
    with charging:
        for charge_id in queued["charges"]:
            assert renewal_charge(charge_id=charge_id) == "paid"
    per_charge = (beat + charging.count) / SUBSCRIPTIONS
    # Two reads (charge with subscription, attempt and order; the order's lines); one transaction with
    # the attempt, its event, the order, the charge, the subscription and its event; the email row.
    assert charging.count <= 11 * SUBSCRIPTIONS, "\n".join(s[:60] for s in charging.sql[:14])
    assert per_charge <= 12, (beat, charging.count)

    # What those statements did: every cycle paid once, in the ledger, mailed once, dated a month on.
    assert PaymentAttempt.objects.filter(kind="renewal", status=Status.AUTHORIZED).count() == SUBSCRIPTIONS
    assert PaymentEvent.objects.filter(attempt__kind="renewal", kind="transition").count() == SUBSCRIPTIONS
    assert Order.objects.filter(renewal_of__isnull=False, status="paid").count() == SUBSCRIPTIONS
    assert SubscriptionCharge.objects.filter(billing_cycle=1).exclude(provider_order="").count() == SUBSCRIPTIONS
    assert EmailNotification.objects.filter(kind="renewal_paid").count() == SUBSCRIPTIONS
    assert len(queued["emails"]) == SUBSCRIPTIONS
    for sub in subs:
        before = sub.next_renewal_at
        sub.refresh_from_db()
        assert sub.status == "active" and sub.next_renewal_at > before + timedelta(days=27)
    assert sorted(renewal_keys(emulator)) == sorted(
        f"{key}-0" for key in SubscriptionCharge.objects.filter(billing_cycle=1).values_list("idempotency_key",
                                                                                              flat=True))
    # Nothing is due any more: the next beat opens nothing and queues nothing.
    assert tasks.charge_due_subscriptions() == 0 and len(queued["charges"]) == SUBSCRIPTIONS


def test_a_crash_after_the_provider_answered_replays_the_same_key_and_charges_once(emulator, client, queued):
    sub, = subscribers(emulator, client, count=1)
    tasks.charge_due_subscriptions()
    charge_id, = queued["charges"]
    # Klarna takes the charge but every answer is lost: the worker never learns the outcome.
    emulator.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/klarna/customer-token/",
                                                        "kind": "error", "status": 503, "when": "after", "times": 5})
    assert tasks.charge_renewal.apply(args=[charge_id]).result == "unknown"
    charge = SubscriptionCharge.objects.get(pk=charge_id)
    assert charge.attempt.status == Status.CREATED
    # The task's retry (or the same message delivered again after a crash) asks again under the same key.
    assert renewal_charge(charge_id=charge_id) == "paid"
    assert renewal_charge(charge_id=charge_id) == "paid"  # a duplicate delivery: nothing more happens
    assert set(renewal_keys(emulator)) == {f"{charge.idempotency_key}-0"}
    assert len(emulator.control("GET", "/_emulator/klarna/orders")["orders"]) == 2  # the checkout and exactly one renewal
    assert PaymentEvent.objects.filter(attempt=charge.attempt, kind="transition").count() == 1
    assert SubscriptionEvent.objects.filter(subscription=sub, message__startswith="Cycle 1 paid").count() == 1
    before = sub.next_renewal_at
    sub.refresh_from_db()
    assert before + timedelta(days=27) < sub.next_renewal_at < before + timedelta(days=32)  # advanced once


def test_the_old_task_and_the_new_one_on_the_same_cycle_charge_once(emulator, client, queued):
    sub, = subscribers(emulator, client, count=1)
    tasks.charge_due_subscriptions()
    charge_id, = queued["charges"]
    # A charge_subscription message queued before the batch beat existed finds the cycle already open.
    assert tasks.charge_subscription.apply(args=[sub.pk]).result == "paid"
    assert renewal_charge(charge_id=charge_id) == "paid"
    assert sub.charges.count() == 2 and len(set(renewal_keys(emulator))) == 1
    before = sub.next_renewal_at
    sub.refresh_from_db()
    assert sub.next_renewal_at < before + timedelta(days=32)


def test_a_decline_then_the_retry_asks_under_the_next_key(emulator, client, queued):
    sub, = subscribers(emulator, client, count=1)
    emulator.control("POST", f"/_emulator/klarna/tokens/{sub.customer_token}/scenario",
                     json={"charge": "decline", "times": 1})
    tasks.charge_due_subscriptions()
    charge_id, = queued["charges"]
    assert renewal_charge(charge_id=charge_id) == "declined"
    sub.refresh_from_db()
    assert sub.status == "past_due"
    assert tasks.charge_due_subscriptions() == 0  # past due is dunning's, not the beat's
    assert renewal_charge(charge_id=charge_id) == "skipped"  # a duplicate of the declined task asks nothing
    assert subscription_charge(subscription_id=sub.pk) == "paid"  # dunning's retry of the same cycle
    key = SubscriptionCharge.objects.get(pk=charge_id).idempotency_key
    assert renewal_keys(emulator) == [f"{key}-0", f"{key}-1"]
    sub.refresh_from_db()
    assert sub.status == "active" and sub.charges.count() == 2


def test_a_cancelled_subscription_is_not_charged(emulator, client, queued):
    opened, cancelled_first = subscribers(emulator, client, count=2)
    subscription_cancel(subscription_id=cancelled_first.pk, reason="cancel_recurring", source="shopper")
    tasks.charge_due_subscriptions()
    charge_id, = queued["charges"]
    assert SubscriptionCharge.objects.get(pk=charge_id).subscription_id == opened.pk
    # Cancelled after the beat opened its cycle, before the task ran.
    Subscription.objects.filter(pk=opened.pk).update(status="canceled")
    assert renewal_charge(charge_id=charge_id) == "skipped"
    assert renewal_keys(emulator) == []
    # Its cycle is closed, so its renewal order waits for nothing and reconcile has nothing to chase.
    assert list(PaymentAttempt.objects.filter(kind="renewal").values_list("status", flat=True)) == [Status.CANCELLED]


def test_an_open_cycle_is_not_opened_again_and_a_lost_task_is_queued_again(emulator, client, queued):
    subscribers(emulator, client, count=3)
    assert tasks.charge_due_subscriptions() == 3
    assert tasks.charge_due_subscriptions() == 0  # their tasks are still on their way: nothing new
    assert SubscriptionCharge.objects.filter(billing_cycle=1).count() == 3
    SubscriptionCharge.objects.filter(billing_cycle=1).update(
        updated_at=timezone.now() - RENEWAL_REQUEUE_AFTER - timedelta(minutes=1))
    assert tasks.charge_due_subscriptions() == 3  # lost tasks: the same charges, queued again
    assert sorted(queued["charges"][3:]) == sorted(queued["charges"][:3])
    assert SubscriptionCharge.objects.filter(billing_cycle=1).count() == 3


def test_two_beats_at_once_open_each_cycle_once(emulator, client, queued, postgres):
    subscribers(emulator, client)
    # One beat holds some subscriptions' row locks: another skips them instead of waiting or doubling.
    held = threading.Event()
    release = threading.Event()

    def holding_beat():
        try:
            with transaction.atomic():
                list(Subscription.objects.select_for_update().order_by("pk")[:5])
                held.set()
                release.wait(10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=holding_beat)
    holder.start()
    assert held.wait(10)
    try:
        assert len(renewals_open_due().charges) == SUBSCRIPTIONS - 5
    finally:
        release.set()
        holder.join()
    # Now two beats race over the rest; together they open the five left, each once.
    results = at_once(lambda: renewals_open_due().charges, lambda: renewals_open_due().charges)
    assert len(results) == 2 and sum(len(r) for r in results) == 5
    assert SubscriptionCharge.objects.filter(billing_cycle=1).count() == SUBSCRIPTIONS
    assert SubscriptionCharge.objects.values("subscription").distinct().count() == SUBSCRIPTIONS


def test_a_subscription_cancelled_while_its_batch_is_charging_is_not_charged(emulator, client, queued,
                                                                             monkeypatch):
    """Probe D F1: the batch read every status before its first POST; a subscriber who cancelled while
    earlier charges of the batch were at the provider was charged anyway (klarna_authorize revokes
    nothing at the provider). Each later charge asks again, and the skipped cycle is closed."""
    from payments.providers.registry import get_adapter
    from payments.services.renewals import renewals_charge

    first, second = subscribers(emulator, client, count=2)
    charge_ids = renewals_open_due().charges
    adapter = get_adapter(first.route)
    charge_recurring = adapter.charge_recurring

    def cancel_meanwhile(*args, **kwargs):
        answer = charge_recurring(*args, **kwargs)
        Subscription.objects.filter(pk=second.pk).update(status="canceled", cancel_reason="cancel_recurring")
        return answer

    monkeypatch.setattr(adapter, "charge_recurring", cancel_meanwhile)
    batch = renewals_charge(charge_ids=charge_ids)
    assert sorted(batch.outcomes.values()) == ["paid", "skipped"] and len(token_orders(emulator)) == 1
    skipped = SubscriptionCharge.objects.get(subscription=second, billing_cycle=1).attempt
    assert skipped.status == Status.CANCELLED
    assert Subscription.objects.get(pk=second.pk).cancel_reason == "cancel_recurring"
