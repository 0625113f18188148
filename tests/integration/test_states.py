"""transition(): locking, idempotency, the ledger, and the order status it derives."""
import pytest

from payments.models import PaymentAttempt
from payments.states import InvalidTransition, Status, transition
from shop.models import Order
from tests.factories import make_order

pytestmark = pytest.mark.django_db


def new_attempt(order=None):
    order = order or make_order()
    return PaymentAttempt.objects.create(order=order, route="next", amount=order.total, currency="EUR")


def test_transition_records_an_event_and_moves_the_order():
    attempt = new_attempt()
    assert transition(attempt.pk, Status.PENDING, source="test").changed
    assert transition(attempt.pk, Status.CAPTURED, source="test", provider_reference="100001").changed
    attempt.refresh_from_db()
    assert attempt.status == Status.CAPTURED and attempt.provider_reference == "100001"
    assert list(attempt.events.values_list("from_status", "to_status")) == [
        ("created", "pending"), ("pending", "captured")]
    order = Order.objects.get(pk=attempt.order_id)
    assert order.status == Order.Status.PAID and order.paid_at is not None


def test_same_event_twice_is_a_no_op():
    attempt = new_attempt()
    first = transition(attempt.pk, Status.CAPTURED, source="webhook", dedupe_key="evt-1")
    second = transition(attempt.pk, Status.CAPTURED, source="webhook", dedupe_key="evt-1")
    assert first.changed and not second.changed
    assert attempt.events.count() == 1


def test_forbidden_transition_is_recorded_not_applied():
    attempt = new_attempt()
    transition(attempt.pk, Status.CAPTURED, source="test")
    result = transition(attempt.pk, Status.FAILED, source="return")
    assert not result.changed
    attempt.refresh_from_db()
    assert attempt.status == Status.CAPTURED
    assert attempt.events.filter(kind="ignored").count() == 1
    with pytest.raises(InvalidTransition):
        transition(attempt.pk, Status.PENDING, source="test", strict=True)


def test_order_is_paid_when_any_attempt_succeeded():
    order = make_order()
    first, second = new_attempt(order), new_attempt(order)
    transition(first.pk, Status.FAILED, source="test")
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING  # the second attempt is still open
    transition(second.pk, Status.CAPTURED, source="test")
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_all_failed_means_payment_failed():
    order = make_order()
    transition(new_attempt(order).pk, Status.FAILED, source="test")
    order.refresh_from_db()
    assert order.status == Order.Status.PAYMENT_FAILED
