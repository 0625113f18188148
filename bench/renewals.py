#!/usr/bin/env python
"""Renewal-check throughput: N due subscriptions processed by C concurrent Celery workers.

The emulator answers every Admin API call after a fixed latency L. The shop's beat task
`check_due_subscriptions` fans out one `refresh_subscription` task per due subscription (one
`GET /subscriptions/{id}/` each, recording whatever changed); C worker threads on Redis process them.
Prints the wall time from fan-out to the last subscription refreshed, and its ratio to the ideal
N·L/C (the time the provider's latency alone would take with perfect parallelism).

Needs PostgreSQL and Redis (uses a database `shop_bench` and Redis db 14, both emptied first).
Usage: python bench/renewals.py [--sizes 1000,10000] [--latency-ms 50] [--workers 16]
"""
import argparse
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def prepare_database(admin_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--pool", default="prefork", choices=["prefork", "threads"])
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/14"))
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]

    from tests.emulator_process import EmulatorProcess

    database_url = prepare_database(args.postgres, "shop_bench")
    import redis

    redis.Redis.from_url(args.redis).flushdb()
    emulator = EmulatorProcess()
    emulator.start(env={"EMULATOR_RATE_LIMIT": "0", "EMULATOR_CLOCK_TICK_SECONDS": "0"})
    env = dict(os.environ, DEBUG="1", DATABASE_URL=database_url, CELERY_BROKER_URL=args.redis,
               NEXT_API_BASE_URL=emulator.url + "/next/api/admin/", LOG_LEVEL="WARNING",
               DJANGO_SETTINGS_MODULE="config.settings")
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", args.pool, "-c", str(args.workers),
         "-l", "warning", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        template = seed_one(emulator)
        print(f"emulator latency L = {args.latency_ms} ms, C = {args.workers} concurrent workers "
              f"(one Celery worker, {args.pool} pool), PostgreSQL + Redis, {os.cpu_count()} CPU cores")
        for n in sizes:
            run(n, template, emulator, args)
    finally:
        worker.terminate()
        worker.wait(20)
        emulator.stop()


def seed_one(emulator) -> dict:
    """One real subscription at the emulator (order + Klarna approval), to clone from."""
    import requests

    headers = {"Authorization": "Bearer emulator-token", "X-29next-API-Version": "2024-04-01"}
    created = requests.post(emulator.url + "/next/api/admin/orders/", headers=headers, timeout=10, json={
        "lines": [{"product_id": 201, "quantity": 1, "price": "16.50",
                   "subscription": {"interval": "month", "interval_count": 1}}],
        "currency": "EUR", "payment_method": "klarna", "user": {"email": "bench@example.com"},
        "payment_details": {"payment_return_url": "http://127.0.0.1:9/return/"},
    }).json()
    done = emulator.complete_checkout(created["payment_complete_url"], "approve")
    return {"order_number": done["order_number"],
            "subscription": emulator.control("GET", "/_emulator/next/subscriptions")["subscriptions"][0]}


def run(n, template, emulator, args):
    from django.utils import timezone

    from payments.models import Subscription
    from payments.tasks import check_due_subscriptions
    from tests.factories import make_order

    emulator.control("PATCH", "/_emulator/config", json={"latency_ms": 0})
    ids = emulator.control("POST", "/_emulator/next/subscriptions/seed",
                           json={"from_subscription": template["subscription"]["id"], "count": n})["ids"]
    order = make_order()
    long_ago = timezone.now() - timedelta(days=1)
    Subscription.objects.bulk_create(
        [Subscription(route="next", provider_id=str(pid), order=order, email="bench@example.com",
                      interval="month", amount=1650, currency="EUR", next_renewal_at=long_ago,
                      provider_synced_at=long_ago) for pid in ids], batch_size=2000)
    emulator.control("PATCH", "/_emulator/config", json={"latency_ms": args.latency_ms})
    started_at = timezone.now()
    started = time.perf_counter()
    fanned_out = check_due_subscriptions.apply().get()
    pending = Subscription.objects.filter(provider_id__in=[str(i) for i in ids])
    while pending.filter(provider_synced_at__lt=started_at).exists():
        time.sleep(0.2)
    wall = time.perf_counter() - started
    ideal = n * args.latency_ms / 1000 / args.workers
    print(f"N = {n:>6}: {fanned_out} due, wall {wall:7.2f} s, ideal N·L/C {ideal:7.2f} s, "
          f"ratio {wall / ideal:5.2f}")


if __name__ == "__main__":
    main()
