"""An order's status against races and late reports (the review of stop 28): never paid without a payment,
never paid again once withdrawn, nothing begun twice by a refund reported again, and the renewal batch
locking rows in the order every other path does. The races run on PostgreSQL, two threads pinned to the
interleaving that went wrong."""
import threading
import time

import pytest
from django.db import connections, transaction

from payments.models import PaymentAttempt, Subscription
from payments.orders import order_book
from payments.providers.types import ProviderPayment
from payments.services.payment_confirm import payment_confirm
from payments.states import SUCCESSFUL, Status, Success, transition, transitions_succeeded
from shop.models import Order
from tests.factories import make_order, make_product

pytestmark = pytest.mark.django_db(transaction=True)


def in_thread(work, results, key):
    def run():
        try:
            results[key] = work()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            results[key] = exc
        finally:
            connections.close_all()
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def new_attempt(order, route="next", **fields):
    return PaymentAttempt.objects.create(order=order, route=route, amount=order.total, currency="EUR", **fields)


def test_a_success_that_loses_the_race_to_a_cancel_leaves_the_order_unpaid(postgres):
    """The shopper's return for A (read as pending) marks the order paid before it moves A; its UPDATE waited
    for the order's lock while a cancel of A committed, and PostgreSQL does not read A again after the wait.
    The order was left paid with attempts [cancelled, failed]."""
    order = make_order()
    transition(new_attempt(order).pk, Status.FAILED, source="test")  # an earlier declined try
    a = new_attempt(order)
    transition(a.pk, Status.PENDING, source="test")
    as_read = PaymentAttempt.objects.get(pk=a.pk)
    holding, release, results = threading.Event(), threading.Event(), {}

    def cancel():
        with transaction.atomic():
            moved = transition(a.pk, Status.CANCELLED, source="webhook")
            holding.set()
            release.wait(10)
            return moved

    canceller = in_thread(cancel, results, "cancel")
    holding.wait(10)
    returner = in_thread(lambda: transition(as_read, Status.AUTHORIZED, source="return"), results, "return")
    time.sleep(0.7)  # the return now waits for the order's row
    release.set()
    canceller.join(20)
    returner.join(20)
    assert not [r for r in results.values() if isinstance(r, BaseException)], results
    statuses = set(PaymentAttempt.objects.filter(order=order).values_list("status", flat=True))
    assert statuses == {Status.CANCELLED, Status.FAILED}
    assert Order.objects.get(pk=order.pk).status != Order.Status.PAID


def test_the_renewal_batch_and_a_single_transition_wait_for_each_other(postgres):
    """The batch locked its attempts and then the orders, every other path the order and then the attempt:
    PostgreSQL aborted one of them, and an aborted batch rolls back every renewal in it."""
    orders = [make_order(), make_order()]
    attempts = [new_attempt(o, route="klarna_payments", kind=PaymentAttempt.Kind.RENEWAL, status=Status.PENDING)
                for o in orders]
    reads = [PaymentAttempt.objects.get(pk=a.pk) for a in attempts]
    holding, go, results = threading.Event(), threading.Event(), {}

    def single():  # e.g. the reconcile, holding the first order's lock
        with transaction.atomic():
            order_book().lock_status(orders[0].pk)
            holding.set()
            go.wait(10)
            return transition(attempts[0].pk, Status.AUTHORIZED, source="reconcile")

    def batch():
        with transaction.atomic():
            return transitions_succeeded([Success(r, Status.AUTHORIZED, f"K{r.pk}", {}, "paid") for r in reads],
                                         source="renewal")

    first = in_thread(single, results, "single")
    holding.wait(10)
    second = in_thread(batch, results, "batch")
    time.sleep(0.7)
    go.set()
    first.join(30)
    second.join(30)
    assert not [r for r in results.values() if isinstance(r, BaseException)], results
    assert set(PaymentAttempt.objects.values_list("status", flat=True)) == {Status.AUTHORIZED}
    assert set(Order.objects.values_list("status", flat=True)) == {Order.Status.PAID}


def test_an_order_withdrawn_while_another_try_was_open_is_not_paid_by_that_try():
    """Tab 2 waited on Klarna's step-up page while tab 1 paid; the merchant withdrew the order. The open try
    made the order "pending" instead of cancelled, and tab 2's approval then paid it."""
    order = make_order(route="klarna_authorize")
    paid, other = new_attempt(order, "klarna_authorize"), new_attempt(order, "klarna_authorize")
    transition(other.pk, Status.PENDING, source="test")
    transition(paid.pk, Status.AUTHORIZED, source="test")
    transition(paid.pk, Status.CANCELLED, source="admin")  # what payment_cancel's settle does
    assert Order.objects.get(pk=order.pk).status == Order.Status.CANCELLED
    other.refresh_from_db()
    payment_confirm(attempt=other, source="webhook", payment=ProviderPayment(
        provider_reference="K-2", status="authorized", amount=other.amount, currency="EUR", reference=other.reference))
    assert Order.objects.get(pk=order.pk).status == Order.Status.CANCELLED


def test_a_refunded_duplicate_read_back_again_begins_nothing():
    """A read-back of a duplicate already refunded (Klarna's order: captured, all of it refunded) started a
    second subscription, on the duplicate's token."""
    coffee = make_product(kind="subscription", interval="month", interval_count=1)
    order = make_order(items=[(coffee, 1)], route="klarna_payments")
    payer, duplicate = new_attempt(order, "klarna_payments"), new_attempt(order, "klarna_payments")

    def reported(attempt, status, **figures):
        return ProviderPayment(provider_reference=f"K-{attempt.pk}", status=status, amount=attempt.amount,
                               currency="EUR", reference=attempt.reference, customer_token=f"tok-{attempt.pk}",
                               **figures)

    payment_confirm(attempt_id=payer.pk, payment=reported(payer, "authorized"), source="return")
    transition(duplicate.pk, Status.CAPTURED, source="test", provider_reference=f"K-{duplicate.pk}")
    transition(duplicate.pk, Status.REFUNDED, source="test")
    payment_confirm(attempt_id=duplicate.pk, source="reconcile", payment=reported(
        duplicate, "captured", captured=duplicate.amount, refunded=duplicate.amount, remaining=0))
    assert list(Subscription.objects.filter(order=order).values_list("customer_token", flat=True)) == [
        f"tok-{payer.pk}"]
    assert PaymentAttempt.objects.get(pk=payer.pk).status in SUCCESSFUL


def test_booking_a_merchants_operation_locks_the_order_before_the_attempt(emulator, client, postgres, monkeypatch):
    """Probe I I9: booking a capture locked the attempt (its amounts' UPDATE) and only then the order (the
    transition); MultiSafepay's notification of that capture, arriving meanwhile, locks the order and then the
    attempt. PostgreSQL then killed one of them with "deadlock detected": a 500 on the provider's
    notification, or on the merchant's capture after the money moved. Pinned to that interleaving: the
    notification takes the order's lock while the booking holds the attempt's."""
    from payments.services import operation_outcomes
    from payments.services.order_management import payment_capture
    from tests.integration.klarna_flow import pay_with_klarna

    attempt = pay_with_klarna(emulator, client)
    booking_holds_the_attempt, notification_holds_the_order = threading.Event(), threading.Event()
    record = operation_outcomes.record_event

    def record_after_the_notification_took_the_order(*args, **kwargs):
        booking_holds_the_attempt.set()
        notification_holds_the_order.wait(3)  # never set when the booking holds the order first
        return record(*args, **kwargs)

    monkeypatch.setattr(operation_outcomes, "record_event", record_after_the_notification_took_the_order)

    def notification():
        booking_holds_the_attempt.wait(10)
        with transaction.atomic():  # what inbound._apply does for a notification (lock_order_then_attempt)
            order_book().lock_status_of_attempt(attempt.pk)
            notification_holds_the_order.set()
            return PaymentAttempt.objects.select_for_update().get(pk=attempt.pk).status

    results = {}
    threads = [in_thread(lambda: payment_capture(attempt_id=attempt.pk), results, "capture"),
               in_thread(notification, results, "notification")]
    for thread in threads:
        thread.join(30)
    assert not any(isinstance(value, BaseException) for value in results.values()), results
    attempt.refresh_from_db()
    assert attempt.status == Status.CAPTURED and attempt.captured_amount == attempt.amount
