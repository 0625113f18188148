"""Shop-run renewals by the chunk (charge_renewals): what a chunk of charges costs in statements, and the
guarantees it keeps beside the one-by-one path: a decline and an outage in one chunk touch only their own
charge, a chunk run twice records nothing twice, a subscription cancelled after its cycle was opened is not
charged, and the receipts are made in one INSERT and sent by one task.
"""
# ruff: noqa: F811 - `queued` is a fixture, imported from the one-by-one tests and named by each test
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from payments import tasks
from payments.models import PaymentAttempt, PaymentEvent, Subscription, SubscriptionCharge, SubscriptionEvent
from payments.services.renewal_dates import renewal_date
from payments.services.renewals import renewal_charge, renewals_charge
from payments.states import Status, Success, transitions_succeeded
from payments.statuses import Renewed
from payments.subscription_states import subscriptions_renewed
from shop import tasks as shop_tasks
from shop.models import EmailNotification, Order
from shop.tasks import send_pending_emails
from tests import smtp_server
from tests.factories import make_order, make_product
from tests.integration.klarna_flow import pay_with_klarna
from tests.integration.test_emails import smtp  # noqa: F401
from tests.integration.test_renewal_query_counts import (  # noqa: F401
    SUBSCRIPTIONS,
    Statements,
    beat_opens_all,
    queued,
    renewal_keys,
    subscribers,
)

pytestmark = pytest.mark.django_db(transaction=True)


def paid_events(charge_ids):
    attempts = SubscriptionCharge.objects.filter(pk__in=charge_ids).values("attempt")
    return PaymentEvent.objects.filter(attempt__in=attempts, kind="transition",
                                       to_status__in=(Status.AUTHORIZED, Status.CAPTURED)).count()


def test_a_chunk_of_twenty_costs_about_one_statement_per_charge(emulator, client, queued, monkeypatch):
    subs, beat = beat_opens_all(emulator, client, queued, monkeypatch)
    assert queued["chunks"] == [queued["charges"]] and len(queued["charges"]) == SUBSCRIPTIONS
    charging = Statements(monkeypatch)
    with charging:
        batch = renewals_charge(charge_ids=queued["charges"])
    assert batch.outcomes == {pk: "paid" for pk in queued["charges"]} and not batch.unavailable
    # Two reads (the charges with subscriptions, attempts and orders; the orders' lines); one transaction
    # (BEGIN, lock the orders, lock and move the attempts, their events, the orders, the charges, lock and move the
    # subscriptions, their events, COMMIT); the email rows in one INSERT (and its transaction). And before
    # every POST but the first, the subscription's status read again (a subscriber may cancel meanwhile).
    assert charging.count <= 16 + SUBSCRIPTIONS - 1, "\n".join(s[:70] for s in charging.sql)
    # With the beat's batch: a fifth of the one-by-one path's 12 per charge.
    assert (beat + charging.count) / SUBSCRIPTIONS <= 2.5, (beat, charging.count)

    assert PaymentAttempt.objects.filter(kind="renewal", status=Status.AUTHORIZED).count() == SUBSCRIPTIONS
    assert paid_events(queued["charges"]) == SUBSCRIPTIONS
    assert Order.objects.filter(renewal_of__isnull=False, status="paid", paid_at__isnull=False).count() == SUBSCRIPTIONS
    assert SubscriptionCharge.objects.filter(billing_cycle=1).exclude(provider_order="").count() == SUBSCRIPTIONS
    assert PaymentAttempt.objects.filter(kind="renewal").exclude(provider_reference="").count() == SUBSCRIPTIONS
    notes = EmailNotification.objects.filter(kind="renewal_paid")
    # The receipts: one INSERT, one send task for the whole chunk (not one per email).
    assert len(queued["email_batches"]) == 1 and not queued["emails"]
    assert sorted(queued["email_batches"][0]) == sorted(notes.values_list("pk", flat=True))
    assert notes.count() == SUBSCRIPTIONS
    for sub in subs:
        before = sub.next_renewal_at
        sub.refresh_from_db()
        assert sub.status == "active" and before + timedelta(days=27) < sub.next_renewal_at < before + timedelta(days=32)
        assert sub.events.filter(message__startswith="Cycle 1 paid").count() == 1
    assert sorted(renewal_keys(emulator)) == sorted(
        f"{key}-0" for key in SubscriptionCharge.objects.filter(billing_cycle=1).values_list("idempotency_key",
                                                                                              flat=True))
    # The send task mails them all over one connection, and a second run of it sends nothing more.
    mail.outbox.clear()
    assert shop_tasks.send_emails.apply(args=[queued["email_batches"][0]]).result == SUBSCRIPTIONS
    assert len(mail.outbox) == SUBSCRIPTIONS and notes.filter(state="sent", tries=1).count() == SUBSCRIPTIONS
    assert shop_tasks.send_emails.apply(args=[queued["email_batches"][0]]).result == 0
    assert len(mail.outbox) == SUBSCRIPTIONS


def second_token_subscriber(emulator, client):
    """Another subscriber, with a token of their own (a second Klarna checkout), due a minute ago."""
    known = list(Subscription.objects.values_list("pk", flat=True))
    beans = make_product(kind="subscription", interval="month", interval_count=1, price=990, vat_rate_bp=900)
    pay_with_klarna(emulator, client, make_order(items=[(beans, 1)], shipping_fee=0))
    sub = Subscription.objects.exclude(pk__in=known).get()
    Subscription.objects.filter(pk=sub.pk).update(next_renewal_at=timezone.now() - timedelta(minutes=1))
    sub.refresh_from_db()
    return sub


def test_a_decline_and_an_outage_in_a_chunk_touch_only_their_own_charge(emulator, client, queued):
    declined, *others = subscribers(emulator, client, count=4)
    lost = second_token_subscriber(emulator, client)
    assert declined.customer_token != lost.customer_token
    # The first charge on the shared token is declined; every answer about the other token's charge is lost
    # (Klarna takes it, the client's tries all meet a 503), so its outcome is unknown.
    emulator.control("POST", f"/_emulator/klarna/tokens/{declined.customer_token}/scenario",
                     json={"charge": "decline", "times": 1})
    emulator.control("POST", "/_emulator/faults", json={
        "method": "POST", "path": f"/klarna/customer-token/v1/tokens/{lost.customer_token}/",
        "kind": "error", "status": 503, "when": "after", "times": 4})
    mail.outbox.clear()
    assert tasks.charge_due_subscriptions() == 5
    chunk, = queued["chunks"]
    by_sub = dict(SubscriptionCharge.objects.filter(pk__in=chunk).values_list("subscription_id", "pk"))

    outcomes = tasks.charge_renewals.apply(args=[chunk]).result
    assert outcomes[by_sub[declined.pk]] == "declined" and outcomes[by_sub[lost.pk]] == "unknown"
    assert [outcomes[by_sub[sub.pk]] for sub in others] == ["paid"] * 3
    # Eagerly nothing is re-queued (the beat does it when the cycle is overdue); a worker re-queues it.
    assert queued["retries"] == []
    declined.refresh_from_db()
    assert declined.status == "past_due"
    assert EmailNotification.objects.filter(kind="renewal_failed", to=declined.email).count() == 1
    assert EmailNotification.objects.filter(kind="renewal_paid").count() == 3
    lost_charge = SubscriptionCharge.objects.select_related("attempt").get(pk=by_sub[lost.pk])
    assert lost_charge.attempt.status == Status.CREATED
    for sub in others:
        sub.refresh_from_db()
        assert sub.status == "active" and sub.next_renewal_at > timezone.now() + timedelta(days=27)

    # The worker's path for the lost one: charge_renewal, later, under the same key, recorded once.
    assert renewal_charge(charge_id=lost_charge.pk) == "paid"
    keys = [k for k in renewal_keys(emulator) if k.startswith(lost_charge.idempotency_key)]
    assert set(keys) == {f"{lost_charge.idempotency_key}-0"}
    # Klarna took each charge once, whatever the shop's tries: two checkouts, three renewals and the lost one.
    assert len(emulator.control("GET", "/_emulator/klarna/orders")["orders"]) == 6
    assert paid_events([lost_charge.pk]) == 1
    lost.refresh_from_db()
    assert lost.status == "active" and lost.next_renewal_at > timezone.now() + timedelta(days=27)
    assert EmailNotification.objects.filter(kind="renewal_paid").count() == 4


def test_a_worker_requeues_only_the_charge_whose_outcome_is_unknown(emulator, client, queued):
    subscribers(emulator, client, count=2)
    lost = second_token_subscriber(emulator, client)
    emulator.control("POST", "/_emulator/faults", json={
        "method": "POST", "path": f"/klarna/customer-token/v1/tokens/{lost.customer_token}/",
        "kind": "error", "status": 503, "when": "before", "times": 4})
    tasks.charge_due_subscriptions()
    chunk, = queued["chunks"]
    lost_charge = SubscriptionCharge.objects.get(pk__in=chunk, subscription=lost)
    # Run as a worker would (not eagerly), so the lost charge goes back on the queue alone.
    tasks.charge_renewals.push_request(is_eager=False)
    try:
        outcomes = tasks.charge_renewals.run(chunk)
    finally:
        tasks.charge_renewals.pop_request()
    assert sorted(outcomes.values()) == ["paid", "paid", "unknown"]
    assert queued["retries"] == [(lost_charge.pk, tasks._backoff(0))]


def test_a_chunk_run_twice_records_and_mails_nothing_twice(emulator, client, queued):
    subscribers(emulator, client, count=5)
    tasks.charge_due_subscriptions()
    chunk, = queued["chunks"]
    # A copy of the task racing the first one reads the charges before the first one records them.
    stale = list(SubscriptionCharge.objects.filter(pk__in=chunk).select_related("attempt"))
    assert set(renewals_charge(charge_ids=chunk).outcomes.values()) == {"paid"}
    # The same message again (a worker killed before it acked), and the racing copy recording what it
    # read: both replay Klarna's answers and record nothing.
    assert set(renewals_charge(charge_ids=chunk).outcomes.values()) == {"paid"}
    assert {c.attempt.status for c in stale} == {Status.CREATED}
    assert transitions_succeeded([Success(c.attempt, Status.AUTHORIZED, "other", None, "late copy") for c in stale],
                                 source="renewal") == []
    assert not PaymentAttempt.objects.filter(provider_reference="other").exists()
    assert paid_events(chunk) == 5
    assert SubscriptionEvent.objects.filter(message__startswith="Cycle 1 paid").count() == 5
    assert EmailNotification.objects.filter(kind="renewal_paid").count() == 5
    assert len(queued["email_batches"]) == 1
    assert len(set(renewal_keys(emulator))) == 5 and len(renewal_keys(emulator)) == 5  # asked once each
    for sub in Subscription.objects.all():
        assert sub.next_renewal_at < timezone.now() + timedelta(days=32)  # advanced once


def test_each_row_of_a_chunk_gets_its_own_values(emulator, client, queued):
    """The chunk's UPDATEs write a value per row (common.db.PerRow): each subscriber, started and due at
    another time, moves one interval on from its own date, and each attempt keeps its own Klarna order."""
    subscribers(emulator, client, count=5)
    for minutes, sub in enumerate(Subscription.objects.order_by("pk"), start=1):
        when = timezone.now() - timedelta(minutes=minutes)
        Subscription.objects.filter(pk=sub.pk).update(next_renewal_at=when, renewal_anchor=when)
    due = {sub.pk: sub.next_renewal_at for sub in Subscription.objects.all()}
    tasks.charge_due_subscriptions()
    chunk, = queued["chunks"]
    assert set(renewals_charge(charge_ids=chunk).outcomes.values()) == {"paid"}
    for sub in Subscription.objects.all():
        assert sub.next_renewal_at == renewal_date(due[sub.pk], sub.interval, sub.interval_count, 1)
    charges = SubscriptionCharge.objects.filter(pk__in=chunk).select_related("attempt")
    assert len({c.attempt.provider_reference for c in charges}) == 5
    assert all(c.provider_order and c.provider_order == c.attempt.provider_reference for c in charges)
    assert {c.attempt.status for c in charges} == {Status.AUTHORIZED}
    # Only authorized: each keeps when Klarna lets it lapse (probe I I4), in the same UPDATE.
    soon, late = timezone.now() + timedelta(days=27), timezone.now() + timedelta(days=29)
    assert all(soon < c.attempt.authorization_expires_at < late for c in charges)


def test_a_subscription_cancelled_between_open_and_charge_is_left_alone(emulator, client, queued):
    subs = subscribers(emulator, client, count=4)
    tasks.charge_due_subscriptions()
    chunk, = queued["chunks"]
    cancelled, paused = subs[1], subs[2]
    Subscription.objects.filter(pk=cancelled.pk).update(status="canceled")
    Subscription.objects.filter(pk=paused.pk).update(status="paused")
    outcomes = renewals_charge(charge_ids=chunk).outcomes
    by_sub = dict(SubscriptionCharge.objects.filter(pk__in=chunk).values_list("subscription_id", "pk"))
    assert outcomes[by_sub[cancelled.pk]] == "skipped" and outcomes[by_sub[paused.pk]] == "skipped"
    assert outcomes[by_sub[subs[0].pk]] == "paid" and outcomes[by_sub[subs[3].pk]] == "paid"
    assert len(renewal_keys(emulator)) == 2
    for sub, status in ((cancelled, Status.CANCELLED), (paused, Status.CREATED)):
        # A cancelled subscription's cycle is closed (its order waits for nothing); a paused one's stays open.
        charge = SubscriptionCharge.objects.select_related("attempt").get(pk=by_sub[sub.pk])
        assert charge.attempt.status == status and charge.provider_order == ""
        assert not EmailNotification.objects.filter(key=f"renewal-paid:{charge.pk}").exists()


def test_a_subscription_changed_after_the_read_is_decided_under_its_lock(emulator, client, queued):
    """subscriptions_renewed moves in bulk only those still as read; one a merchant gave a new date meanwhile
    keeps that date (probe D F6: it was overwritten with the old date plus one interval), and a cancelled one
    stays cancelled."""
    read = subscribers(emulator, client, count=4)
    edited, cancelled = read[1], read[2]
    Subscription.objects.filter(pk=edited.pk).update(next_renewal_at=timezone.now() + timedelta(days=3))
    Subscription.objects.filter(pk=cancelled.pk).update(status="canceled")
    later = timezone.now() + timedelta(days=30)
    with transaction.atomic():
        found_cancelled = subscriptions_renewed([Renewed(sub, later, f"Cycle 1 paid: {sub.pk}") for sub in read],
                                                source="renewal")
    for sub in read:
        sub.refresh_from_db()
    assert [s.next_renewal_at == later for s in read] == [True, False, False, True]
    assert edited.next_renewal_at < timezone.now() + timedelta(days=4)
    assert [s.status for s in read] == ["active", "active", "canceled", "active"]
    assert [s.events.filter(message__startswith="Cycle 1 paid").count() for s in read] == [1, 1, 0, 1]
    # The cancelled one is named to the caller, which undoes its charge (renewals._void_after_cancel).
    assert found_cancelled == {cancelled.pk}


def test_a_charge_taken_while_its_subscriber_cancelled_is_undone_and_the_rest_recorded(emulator, client, queued,
                                                                                        monkeypatch):
    from payments.providers.registry import get_adapter

    subs = subscribers(emulator, client, count=3)
    tasks.charge_due_subscriptions()
    chunk, = queued["chunks"]
    adapter = get_adapter(subs[0].route)
    charge_recurring, calls = adapter.charge_recurring, []

    def second_cancelled_meanwhile(*args, **kwargs):
        taken = charge_recurring(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:  # Klarna took it, and the subscriber's cancel committed before it was recorded
            Subscription.objects.filter(pk=subs[1].pk).update(status="canceled", next_renewal_at=None)
        return taken

    monkeypatch.setattr(adapter, "charge_recurring", second_cancelled_meanwhile)
    outcomes = renewals_charge(charge_ids=chunk).outcomes
    by_sub = dict(SubscriptionCharge.objects.filter(pk__in=chunk).values_list("subscription_id", "pk"))
    assert [outcomes[by_sub[sub.pk]] for sub in subs] == ["paid", "voided", "paid"]
    statuses = dict(SubscriptionCharge.objects.filter(pk__in=chunk).values_list("subscription_id", "attempt__status"))
    assert [statuses[sub.pk] for sub in subs] == [Status.AUTHORIZED, Status.CANCELLED, Status.AUTHORIZED]
    assert not EmailNotification.objects.filter(key=f"renewal-paid:{by_sub[subs[1].pk]}").exists()
    assert EmailNotification.objects.filter(key=f"renewal-paid:{by_sub[subs[0].pk]}").exists()


def test_a_chunks_receipts_go_out_over_smtp_and_wait_when_it_is_down(emulator, client, smtp, settings):
    """Eager tasks (no broker): the chunk's receipts are sent by one send_emails through real SMTP; with
    the mail server down they stay pending with their try counted, for the task's retry or the sweep."""
    subs = subscribers(emulator, client, count=4)
    settings.EMAIL_PORT = smtp_server.free_port()  # nothing listens there
    assert tasks.charge_due_subscriptions() == 4
    notes = EmailNotification.objects.filter(kind="renewal_paid")
    assert notes.count() == 4
    assert all(n.state == "pending" and n.tries == 1 and "Connection" in n.last_error for n in notes)
    assert not [m for _, m in smtp.messages if m["Subject"].startswith("Receipt")]
    # The mail server is back: the task's retry (here run by hand) sends them all over one connection.
    settings.EMAIL_PORT = smtp.port
    assert shop_tasks.send_emails.apply(args=[list(notes.values_list("pk", flat=True))]).result == 4
    for sub in subs:
        [receipt] = [m for m in smtp.to(sub.email) if m["Subject"].startswith("Receipt for your subscription")]
        charge = sub.charges.select_related("attempt__order").get(billing_cycle=1)
        assert charge.attempt.order.number in receipt["Subject"]
    assert notes.filter(state="sent", tries=2).count() == 4
    notes.update(created_at=timezone.now() - timedelta(minutes=5))
    assert send_pending_emails() == 0  # the safety net finds nothing left to send


def test_a_batch_receipt_is_the_message_one_read_alone_would_be(emulator, client, queued, monkeypatch):
    """The chunk's receipts read their content in bulk (shop.email_content.renewals_paid): subject, text
    and HTML must be exactly what the one-by-one read (renewal_paid) makes for the same row."""
    from django.core import signing

    from shop.emails import _contents, email_message

    # The "manage your subscription" link is signed with the second it was made in: two reads that
    # straddle a second boundary would differ there and nowhere else.
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: "1xZ0My")

    subscribers(emulator, client, count=3)
    tasks.charge_due_subscriptions()
    renewals_charge(charge_ids=queued["chunks"][0])
    notes = list(EmailNotification.objects.filter(kind="renewal_paid").order_by("pk"))
    contents = _contents(notes)
    assert sorted(contents) == [note.pk for note in notes]
    for note in notes:
        batch, alone = email_message(note, contents[note.pk]), email_message(note)
        assert (batch.subject, batch.body, batch.alternatives) == (alone.subject, alone.body, alone.alternatives)
        assert "Manage your subscription" in batch.body and alone.to == batch.to == [note.to]


def test_a_batch_of_receipts_reads_its_content_in_three_queries(emulator, client, queued,
                                                                django_assert_max_num_queries):
    """The charges with their subscriptions and orders, then each side's order lines: three queries for the
    whole chunk. The subscription's product names come from the prefetched lines, not a query per receipt."""
    from shop.emails import _contents

    subscribers(emulator, client, count=3)
    tasks.charge_due_subscriptions()
    renewals_charge(charge_ids=queued["chunks"][0])
    notes = list(EmailNotification.objects.filter(kind="renewal_paid").order_by("pk"))
    assert len(notes) == 3
    with django_assert_max_num_queries(3):
        contents = _contents(notes)
    assert [context["product"] != "your subscription" for _, context in contents.values()] == [True] * 3
