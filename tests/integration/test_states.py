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


@pytest.mark.parametrize("to_status", [Status.AUTHORIZED, Status.FAILED])
@pytest.mark.parametrize("given", ["instance", "id"])
def test_a_move_that_touches_the_order_locks_the_order_before_the_attempt(to_status, given):
    """Probe G F5: payment_start locks the order and then supersedes its open attempts, while a success being
    recorded updated the attempt first and then the order: PostgreSQL found the cycle and answered one request
    with a 500. Every path now takes the order's row (its lock, or the UPDATE that marks it paid) before it
    locks or writes the attempt's."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    attempt = new_attempt()
    transition(attempt.pk, Status.PENDING, source="test")
    attempt.refresh_from_db()
    with CaptureQueriesContext(connection) as queries:
        transition(attempt if given == "instance" else attempt.pk, to_status, source="test")
    sqls = [q["sql"] for q in queries.captured_queries]
    first_order = next(i for i, sql in enumerate(sqls) if '"shop_order"' in sql.split("WHERE")[0])
    first_attempt = next(i for i, sql in enumerate(sqls) if sql.startswith('UPDATE "payments_paymentattempt"')
                         or ('FROM "payments_paymentattempt"' in sql.split("WHERE")[0] and "FOR UPDATE" in sql))
    assert first_order < first_attempt, sqls


def test_a_locked_move_reads_its_order_once(django_assert_max_num_queries):
    """transition() given an id (webhooks stored first, admin operations, reconcile): the order is found
    through the attempt in the statement that locks it, and not locked a second time (review of stop 28:
    ten statements, two of them the order's lock and a read to find it). Savepoint and release included."""
    attempt = new_attempt()
    transition(attempt.pk, Status.PENDING, source="test")
    with django_assert_max_num_queries(8):
        transition(attempt.pk, Status.FAILED, source="webhook")
    assert Order.objects.get(pk=attempt.order_id).status == Order.Status.PAYMENT_FAILED
