"""What bench/renewals.py and bench/budget.py share: a PostgreSQL database and Redis db of their own, an
emulator enforcing 29 Next's rate limit, a Celery worker, N provider-run subscriptions mirrored as due,
and the emulator's request log read back as figures. Not a benchmark by itself."""
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
HEADERS = {"Authorization": "Bearer emulator-token", "X-29next-API-Version": "2024-04-01"}


def add_arguments(parser, *, database: str):
    parser.add_argument("--latency-ms", type=int, default=50, help="emulator answer latency L")
    parser.add_argument("--rate-limit", type=int, default=4, help="calls/s per token (29 Next: 4)")
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES", ADMIN_URL),
                        help="an admin URL; the bench creates its own database beside it")
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE", database),
                        help="the bench's database name (dropped and created)")
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/12"),
                        help="a Redis db the bench may empty (broker and rate budget)")


def prepare_database(admin_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


@dataclass
class Stack:
    emulator: object
    worker: subprocess.Popen
    env: dict
    template: dict

    def stop(self):
        self.worker.terminate()
        self.worker.wait(20)
        self.emulator.stop()


def start(args, *, pool="threads", concurrency=4) -> Stack:
    """Emulator (rate limit on), Django set up in this process (the web), one Celery worker (background)."""
    import redis

    from tests.emulator_process import EmulatorProcess

    database_url = prepare_database(args.postgres, args.database)
    redis.Redis.from_url(args.redis).flushdb()
    emulator = EmulatorProcess()
    emulator.start(env={"EMULATOR_RATE_LIMIT": "1", "EMULATOR_CLOCK_TICK_SECONDS": "0"})
    env = dict(os.environ, DEBUG="1", DATABASE_URL=database_url, CELERY_BROKER_URL=args.redis,
               PROVIDER_BUDGET_URL=args.redis, NEXT_API_RATE_LIMIT=str(args.rate_limit),
               NEXT_API_BASE_URL=emulator.url + "/next/api/admin/", LOG_LEVEL="WARNING",
               DJANGO_SETTINGS_MODULE="config.settings", ENV_FILE="")
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", pool, "-c", str(concurrency),
         "-l", "info" if os.environ.get("BENCH_WORKER_LOG") else "warning",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=open(os.environ["BENCH_WORKER_LOG"], "w") if os.environ.get("BENCH_WORKER_LOG") else subprocess.DEVNULL)
    return Stack(emulator, worker, env, seed_one(emulator))


def seed_one(emulator) -> dict:
    """One real subscription at the emulator (order + Klarna approval), to clone from."""
    import requests

    created = requests.post(emulator.url + "/next/api/admin/orders/", headers=HEADERS, timeout=10, json={
        "lines": [{"product_id": 201, "quantity": 1, "price": "16.50",
                   "subscription": {"interval": "month", "interval_count": 1}}],
        "currency": "EUR", "payment_method": "klarna", "user": {"email": "bench@example.com"},
        "payment_details": {"payment_return_url": "http://127.0.0.1:9/return/"},
    }).json()
    done = emulator.complete_checkout(created["payment_complete_url"], "approve")
    return {"order_number": done["order_number"],
            "subscription": emulator.control("GET", "/_emulator/next/subscriptions")["subscriptions"][0]}


def mirror_due(stack: Stack, n: int, latency_ms: int) -> int:
    """N clones at the emulator, each mirrored by the shop as due (renewal date a day ago); returns the
    first mirror's pk (this batch is every mirror from it on)."""
    from django.utils import timezone

    from payments.models import Subscription
    from tests.factories import make_order

    stack.emulator.control("PATCH", "/_emulator/config", json={"latency_ms": 0})
    ids = stack.emulator.control("POST", "/_emulator/next/subscriptions/seed",
                                 json={"from_subscription": stack.template["subscription"]["id"], "count": n})["ids"]
    order = make_order()
    long_ago = timezone.now() - timedelta(days=1)
    Subscription.objects.bulk_create(
        [Subscription(route="next", provider_id=str(pid), order=order, email="bench@example.com",
                      interval="month", amount=1650, currency="EUR", next_renewal_at=long_ago,
                      provider_synced_at=long_ago) for pid in ids], batch_size=2000)
    stack.emulator.control("PATCH", "/_emulator/config", json={"latency_ms": latency_ms})
    return Subscription.objects.filter(provider_id=str(ids[0])).values_list("pk", flat=True).get()


def request_mark(emulator) -> int:
    return max((r["id"] for r in emulator.control("GET", "/_emulator/requests?provider=next")["requests"]), default=0)


def requests_since(emulator, mark: int) -> list[dict]:
    return [r for r in emulator.control("GET", "/_emulator/requests?provider=next")["requests"] if r["id"] > mark]


def wait_until_read(first_pk: int, started_at, *, timeout=1800.0) -> float:
    """Seconds until every mirror from `first_pk` on was read back since `started_at` (polled every 0.2 s)."""
    from payments.models import Subscription

    began = time.perf_counter()
    while Subscription.objects.filter(pk__gte=first_pk, provider_synced_at__lt=started_at).exists():
        if time.perf_counter() - began > timeout:
            raise SystemExit("the sweep did not finish")
        time.sleep(0.2)
    return time.perf_counter() - began
