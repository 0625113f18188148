#!/usr/bin/env python
"""Shoppers first in 29 Next's rate budget: checkouts made while a 10,000-subscription sweep runs. Prints;
asserts nothing.

The emulator enforces 29 Next's 4 calls/s per token (429 beyond) and answers after L ms. A Celery worker
sweeps N due subscriptions (background work); meanwhile this process is the web: --shoppers threads make
--checkouts checkouts through Django's request handler (cart, checkout POST → `POST /orders/`, Klarna
approval at the emulator, return POST → `GET /orders/{n}/`), all on one budget in Redis. Prints how many
checkouts met a 429 at the provider or a "try again" page (goal: 0), the shopper's wait per checkout, and
the sweep's calls and wall time.

Needs PostgreSQL and Redis: database `wt_perf_bench` (dropped and created; --database), Redis db 12
(emptied; --redis). Usage: python bench/budget.py [--subscriptions 10000] [--checkouts 50] [--shoppers 5]
"""
import argparse
import os
import statistics
import threading
import time
from urllib.parse import urlparse

from provider_run import add_arguments, mirror_due, request_mark, requests_since, start, wait_until_read

CHECKOUT_FORM = {
    "email": "bench@example.com", "phone": "+31612345678", "first_name": "Bench", "last_name": "Mark",
    "shipping_line1": "Damrak 1", "shipping_city": "Amsterdam", "shipping_postcode": "1012 LG",
    "shipping_country": "NL", "billing_same_as_shipping": "on", "route": "next",
}


def checkout(client, product, emulator) -> tuple[str, float]:
    """('ok' | 'try again at checkout' | 'try again at return', seconds the shopper waited on the shop)."""
    client.post("/cart/add/", {"product_id": product.pk, "quantity": 1})
    started = time.perf_counter()
    response = client.post("/checkout/", CHECKOUT_FORM)
    waited = time.perf_counter() - started
    if response.status_code not in (302, 303) or "/next/klarna/" not in response["Location"]:
        return "try again at checkout", waited
    done = emulator.complete_checkout(response["Location"], "approve")
    started = time.perf_counter()
    returned = client.post(urlparse(done["return_url"]).path, {"response": done["response"]})
    waited += time.perf_counter() - started
    if returned.status_code != 303 or "/thanks/" not in returned["Location"]:
        return "try again at return", waited
    return "ok", waited


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--checkouts", type=int, default=50)
    parser.add_argument("--shoppers", type=int, default=5)
    add_arguments(parser, database="wt_perf_bench")
    args = parser.parse_args()
    # Every simulated shopper comes from 127.0.0.1: the shop's per-client limit on return POSTs (meant
    # for one browser replaying its URL) would count them as one client.
    os.environ["PAYMENT_RETURN_RATE_LIMIT"] = "100000"
    stack = start(args)
    try:
        run(stack, args)
    finally:
        stack.stop()


def run(stack, args):
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from payments.tasks import check_due_subscriptions
    from tests.factories import make_product

    product = make_product(price=2450)
    first_pk = mirror_due(stack, args.subscriptions, args.latency_ms)
    mark = request_mark(stack.emulator)
    started_at = timezone.now()
    sweep_started = time.perf_counter()
    check_due_subscriptions.apply().get()
    time.sleep(3)  # the sweep is under way when the shoppers arrive
    outcomes = []
    per_shopper = [args.checkouts // args.shoppers + (i < args.checkouts % args.shoppers) for i in range(args.shoppers)]

    def shopper(count):
        client = Client()
        try:
            for _ in range(count):
                outcomes.append(checkout(client, product, stack.emulator))
        finally:
            connection.close()

    threads = [threading.Thread(target=shopper, args=(count,)) for count in per_shopper]
    shopping = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    shopping = time.perf_counter() - shopping
    wait_until_read(first_pk, started_at)
    sweep_wall = time.perf_counter() - sweep_started
    calls = requests_since(stack.emulator, mark)
    shop_calls = [c for c in calls if "/orders/" in c["path"]]
    sweep_calls = [c for c in calls if "/subscriptions/" in c["path"]]
    failed = [o for o, _ in outcomes if o != "ok"]
    waits = sorted(w for _, w in outcomes)
    print(f"rate budget: emulator enforcing {args.rate_limit}/s per token, L = {args.latency_ms} ms, one Celery "
          f"worker sweeping {args.subscriptions} subscriptions, {args.shoppers} shoppers in the web process, "
          f"budget in Redis, {os.cpu_count()} CPU cores")
    print(f"checkouts {len(outcomes)} in {shopping:.1f} s during the sweep: 'try again' pages {len(failed)} (goal 0), "
          f"checkout calls answered 429 {sum(c['status'] == 429 for c in shop_calls)} (goal 0)")
    print(f"shopper's wait per checkout (checkout + return POST): median {statistics.median(waits) * 1000:.0f} ms, "
          f"p90 {statistics.quantiles(waits, n=10)[-1] * 1000:.0f} ms, max {waits[-1] * 1000:.0f} ms")
    sweep_limited = sum(c["status"] == 429 for c in sweep_calls)
    print(f"sweep: {len(sweep_calls)} calls, 429s {sweep_limited}, wall {sweep_wall:.1f} s "
          f"with {len(shop_calls)} shopper calls on the same budget; all calls {len(calls)} / {args.rate_limit} per s "
          f"= {len(calls) / args.rate_limit:.1f} s, ratio {sweep_wall / (len(calls) / args.rate_limit):.2f}")


if __name__ == "__main__":
    main()
