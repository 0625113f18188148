"""Batch mail waits behind money on the Redis broker: a worker takes any other task before a queued batch
of receipts (send_emails), while a one-off email (an order confirmation) keeps its place in the queue.

The messages go through the app's real publishing path to Redis and are taken back the way a worker
takes them (a kombu consumer on the default queue, one message at a time, as CELERY_WORKER_PREFETCH_MULTIPLIER
= 1 asks), so this holds what production's broker does. Skipped without Redis, failing in CI.
"""
import pytest
from kombu import Queue

from config.celery import app as celery_app
from payments.tasks import charge_renewals, reconcile_stuck_payments
from shop.tasks import BATCH_MAIL_PRIORITY, send_email, send_emails
from tests.conftest import require_service
from tests.integration.test_workers import REDIS_URL, app_on_broker, redis_up


@pytest.fixture
def redis_broker():
    require_service(redis_up(), f"needs Redis at {REDIS_URL}")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    with app_on_broker(REDIS_URL):
        yield
    redis.Redis.from_url(REDIS_URL).flushdb()


def taken_in_order(count):
    """Task names in the order a worker of one process takes them from the default queue."""
    names = []
    queue = Queue(celery_app.conf.task_default_queue)
    with celery_app.connection_for_read() as connection:
        with connection.Consumer(queue, accept=["json"], prefetch_count=1) as consumer:
            def take(body, message):
                names.append(message.headers["task"])
                message.ack()

            consumer.register_callback(take)
            while len(names) < count:
                connection.drain_events(timeout=5)
    return names


def test_receipt_batches_queued_first_are_taken_after_every_other_task(redis_broker):
    send_emails.delay([1, 2, 3])
    charge_renewals.delay([10, 11])
    send_email.delay(4)  # an order confirmation: in its turn
    reconcile_stuck_payments.delay()
    send_emails.delay([5])
    charge_renewals.delay([12])

    assert taken_in_order(6) == [charge_renewals.name, send_email.name, reconcile_stuck_payments.name,
                                 charge_renewals.name, send_emails.name, send_emails.name]


def test_a_receipt_batch_is_taken_at_once_when_nothing_else_waits(redis_broker):
    send_emails.delay([4])
    assert taken_in_order(1) == [send_emails.name]


def test_a_retried_batch_keeps_its_low_priority():
    """A retry is sent through apply_async like the first run, which gives every message the task's priority."""
    assert send_emails.priority == BATCH_MAIL_PRIORITY
    assert send_email.priority is None and charge_renewals.priority is None
