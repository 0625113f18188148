"""The upsell and renewal paths through a real Celery worker process on Redis (not eager mode).

Needs PostgreSQL (the worker and the test share the committed test database) and Redis: skipped on a
laptop without them, failing in CI (REQUIRE_SERVICES=1).
"""
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection

from config.celery import app as celery_app
from payments.models import PaymentAttempt, Subscription, Upsell
from shop.models import UpsellOffer
from tests.conftest import drop_connections, require_service
from tests.factories import make_product
from tests.integration.next_flow import pay, provider_requests, subscription_order
from tests.integration.upsell_flow import accept

ROOT = Path(__file__).resolve().parents[2]
# A database of its own on the machine's Redis, emptied before each worker starts.
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + "/15"
pytestmark = pytest.mark.django_db(transaction=True)


def redis_up():
    import redis

    try:
        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


class Worker:
    def __init__(self, env, log_path):
        self.env, self.log_path = env, log_path
        self.process = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", self.env["CELERY_TASK_DEFAULT_QUEUE"],
             "-c", "2", "-l", "info", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while b"ready." not in self.log_path.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("worker did not start:\n" + self.log_path.read_text()[-3000:])
            time.sleep(0.2)

    def children(self):
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                pids.append(int(stat.parent.name))
        return pids

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


@pytest.fixture
def worker(postgres, emulator, live_server, settings, tmp_path):
    require_service(redis_up(), f"needs Redis at {REDIS_URL}")
    db = connection.settings_dict
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    # The default queue: Celery caches its routing on first use, so a per-test queue name would not stick.
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    env = dict(os.environ, DEBUG="1", CELERY_BROKER_URL=REDIS_URL, CELERY_TASK_DEFAULT_QUEUE=queue,
               DATABASE_URL=f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:"
                            f"{db['PORT'] or 5432}/{db['NAME']}",
               NEXT_API_BASE_URL=settings.NEXT_API_BASE_URL, NEXT_WEBHOOK_SECRET=settings.NEXT_WEBHOOK_SECRET,
               SHOP_BASE_URL=live_server.url, PROVIDER_CONNECT_TIMEOUT="1", PROVIDER_READ_TIMEOUT="4",
               PROVIDER_MAX_BACKOFF="0.2", UPSELL_LEASE_PADDING="1", SUBSCRIPTION_DUNNING_DAYS="0,0,0",
               CELERY_VISIBILITY_TIMEOUT="5", LOG_LEVEL="INFO",
               KLARNA_API_BASE_URL=settings.KLARNA_API_BASE_URL, PAYMENT_ROUTES=",".join(settings.PAYMENT_ROUTES),
               KLARNA_AUTHORIZE_API_BASE_URL=settings.KLARNA_AUTHORIZE_API_BASE_URL)
    emulator.control("PATCH", "/_emulator/config", json={"next": {
        "webhook_target": live_server.url + "/payments/webhooks/next/", "webhooks_sync": True}})
    with app_on_broker(REDIS_URL, CELERY_TASK_DEFAULT_QUEUE=queue):
        assert not celery_app.conf.task_always_eager
        handle = Worker(env, tmp_path / "worker.log")
        handle.start()
        yield handle
        handle.stop()


@contextmanager
def app_on_broker(url, **conf):
    """The Celery app queueing to the broker at `url` instead of running tasks eagerly, for the block, with
    any other setting in `conf`; as it was afterwards. The app reads Django settings under the CELERY_
    namespace, so the names are those (CELERY_TASK_DEFAULT_QUEUE, ...)."""
    changes = {"CELERY_TASK_ALWAYS_EAGER": False, "CELERY_BROKER_URL": url, **conf}
    saved = {key: celery_app.conf.get(key) for key in changes}
    celery_app.conf.update(changes)
    _fresh_connections()
    try:
        yield
    finally:
        celery_app.conf.update(saved)
        _fresh_connections()


def _fresh_connections():
    """Drop connection pools made under another broker URL (eager-mode tests may have built one)."""
    from kombu import pools

    pools.reset()  # kombu's global producer pools are keyed by connection URL
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def wait_for(check, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def accept_offer(emulator, client, before_click=None):
    extra = make_product(name="Second mug", price=1850, next_product_id=777)
    offer = UpsellOffer.objects.create(name="Add a second mug", product=extra, price=1290)
    order, _, number = pay(emulator, client)
    if before_click:
        before_click(number)
    assert accept(client, order, offer).status_code == 303
    return order, Upsell.objects.get()


def upsell_state(upsell):
    upsell.attempt.refresh_from_db()
    return upsell.state if upsell.state != "pending" else None


def test_upsell_is_charged_by_the_worker(worker, emulator, client):
    order, upsell = accept_offer(emulator, client)
    assert wait_for(lambda: upsell_state(upsell), what="the upsell outcome") == "added"
    order.refresh_from_db()
    assert order.lines.filter(is_upsell=True).count() == 1


def test_worker_killed_mid_call_never_charges_twice(worker, emulator, client):
    def hold_answer(number):
        # add-line-items is processed, then its answer is held for 3 s: the worker is killed meanwhile.
        emulator.control("POST", "/_emulator/faults", json={
            "method": "POST", "path": f"/next/api/admin/orders/{number}/add-line-items/", "kind": "timeout",
            "seconds": 3, "when": "after", "times": 1})

    order, upsell = accept_offer(emulator, client, before_click=hold_answer)
    wait_for(lambda: PaymentAttempt.objects.filter(pk=upsell.attempt_id, status="pending").exists(),
             what="the charge to start")
    time.sleep(0.7)
    for pid in worker.children():
        os.kill(pid, signal.SIGKILL)  # the pool process running the task dies mid-call
    assert wait_for(lambda: upsell_state(upsell), timeout=60, what="the upsell outcome after the kill") == "added"
    time.sleep(3)
    assert len(provider_requests(emulator, "POST", "add-line-items", at_least=1)) == 1
    order.refresh_from_db()
    assert order.lines.filter(is_upsell=True).count() == 1


def test_subscription_link_and_dunning_run_on_the_worker(worker, emulator, client):
    from payments.tasks import run_dunning

    order, _, _ = pay(emulator, client, subscription_order())
    sub = wait_for(lambda: Subscription.objects.filter(order=order).first(), what="the subscription link")
    emulator.control("POST", f"/_emulator/next/subscriptions/{sub.provider_id}/scenario",
                     json={"renewal": "decline", "times": 1})
    emulator.control("POST", "/_emulator/clock/advance", json={"days": 32})
    sub.refresh_from_db()
    assert sub.status == "past_due"
    run_dunning.delay()
    wait_for(lambda: Subscription.objects.get(pk=sub.pk).status == "active", what="dunning to recover it")
    sub.refresh_from_db()
    assert sub.charges.get(billing_cycle=1).outcome == "paid"
    events = list(sub.events.values_list("kind", "source", "message"))
    assert len(provider_requests(emulator, "POST", "/retry/", at_least=1)) == 1, events


def test_klarna_renewal_survives_provider_faults_and_charges_once(worker, emulator, client):
    """5 answers in a row are 503 after Klarna processed the charge: the HTTP client's retries run out,
    the task retries later, and every try carries the same idempotency key, so one renewal exists."""
    from datetime import timedelta

    from django.utils import timezone

    from payments.tasks import charge_due_subscriptions
    from tests.factories import make_order
    from tests.integration.klarna_flow import pay_with_klarna

    beans = make_product(kind="subscription", interval="month", interval_count=1, price=1650, vat_rate_bp=900)
    pay_with_klarna(emulator, client, make_order(items=[(beans, 1)], shipping_fee=0))
    sub = Subscription.objects.get()
    Subscription.objects.filter(pk=sub.pk).update(next_renewal_at=timezone.now() - timedelta(minutes=1))
    emulator.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/klarna/customer-token/",
                                                        "kind": "error", "status": 503, "when": "after", "times": 5})
    charge_due_subscriptions.delay()
    wait_for(lambda: sub.charges.filter(billing_cycle=1, attempt__status="authorized").exists(), timeout=45,
             what="the renewal to be charged")
    orders = emulator.control("GET", "/_emulator/klarna/orders")["orders"]
    assert len(orders) == 2  # the first purchase and exactly one renewal


def test_klarna_v2_renewal_runs_on_the_worker_and_charges_once(worker, emulator, client, settings):
    """The route klarna_authorize renews through the same shop-run strategy: the worker's authorize on the
    customer token loses its answer to 503s after Klarna processed it, retries under the row's key, and
    Klarna holds one renewal transaction."""
    from datetime import timedelta

    from django.utils import timezone

    from payments.tasks import charge_due_subscriptions
    from tests.factories import make_order
    from tests.integration.klarna_authorize_flow import CONTROL, pay_with_step_up, use_route

    use_route(settings)
    beans = make_product(kind="subscription", interval="month", interval_count=1, price=1650, vat_rate_bp=900)
    pay_with_step_up(emulator, client, make_order(items=[(beans, 1)], shipping_fee=0))
    sub = Subscription.objects.get()
    Subscription.objects.filter(pk=sub.pk).update(next_renewal_at=timezone.now() - timedelta(minutes=1))
    emulator.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/klarna-global/v2/",
                                                        "kind": "error", "status": 503, "when": "after", "times": 5})
    charge_due_subscriptions.delay()
    wait_for(lambda: sub.charges.filter(billing_cycle=1, attempt__status="authorized").exists(), timeout=45,
             what="the v2 renewal to be charged")
    transactions = emulator.control("GET", f"{CONTROL}/transactions")["transactions"]
    assert len(transactions) == 2  # the checkout's finalization and exactly one renewal
    assert [t["customer_token"] for t in transactions].count(sub.customer_token) == 1


def test_a_worker_whose_database_connection_was_dropped_runs_its_next_task(worker, emulator, client):
    """The worker keeps its connection between tasks (CONN_MAX_AGE); when the server drops it (restart,
    failover) the next task opens a new one: the health check before reuse (CONN_HEALTH_CHECKS)."""
    from shop.tasks import send_pending_emails

    send_pending_emails.delay()
    wait_for(lambda: b"succeeded" in worker.log_path.read_bytes(), what="a first task on the worker")
    with connection.cursor() as cursor:
        assert drop_connections(cursor, connection.settings_dict["NAME"]), \
            "the worker keeps no connection between tasks"

    order, upsell = accept_offer(emulator, client)

    assert wait_for(lambda: upsell_state(upsell), what="the upsell outcome") == "added"
    assert b"OperationalError" not in worker.log_path.read_bytes()
